//! The whole ESI language in composed pages, end to end over HTTP on Viceroy:
//! `esi:choose`/`esi:when`/`esi:otherwise` chosen by cookie, `Accept-Language` and query,
//! `esi:vars` with defaults, only the chosen branch's includes requested (the origin's
//! request log shows the others never were) and requested before the template is read to
//! its end, a hostile value escaped and never run, a test that does not parse leaving the
//! page whole with one warn line, a choose inside `esi:try` and inside another choose.
//!
//! A cached template's list of includes, which the next request asks for ahead of the
//! text, leaves out those of branches; an include's `timeout` shortens the route's
//! `esi_fragment_timeout_ms`, never lengthens it; an include's `ttl` keeps its fragment in
//! its route's edge cache that long, within the route's `cache_max_ttl`.
//!
//! The demo route `page` fronts the dev origin's language template (`/esi/lang-template`,
//! see `harness/src/origin/esi_lang.rs`), reading the cookies `group` and `lang`; `/se/`
//! fronts an origin each test programs (`esi_fragment_timeout_ms` 800), `/sc/` the same
//! with the edge cache, `/sf/` the same origin's fragments in an edge cache with
//! `cache_ttl = 0` and `cache_max_ttl = 2`.

use std::time::{Duration, Instant};

use firstbyte_harness::client::{self, Reply};
use firstbyte_harness::origin::esi_lang::{lang_fragment_body, lang_page, lang_requests};
use firstbyte_harness::peers::{Script, Scripted};
use firstbyte_harness::stack::LocalStack;

const LOG_WAIT: Duration = Duration::from_secs(30);

fn stack() -> (LocalStack, Scripted) {
    let origin = Scripted::start().expect("scripted origin");
    let overrides: Vec<(&str, Option<&str>)> = vec![
        ("routes", Some("origin,page,se,sc,sf")),
        ("route.page.esi_cookies", Some("group,lang")),
        ("route.se.prefix", Some("/se/")),
        ("route.se.backend", Some("scripted")),
        ("route.se.strip_prefix", Some("true")),
        ("route.se.esi", Some("surrogate")),
        ("route.se.esi_cookies", Some("group")),
        ("route.se.esi_fragment_timeout_ms", Some("800")),
        ("route.sc.prefix", Some("/sc/")),
        ("route.sc.backend", Some("scripted")),
        ("route.sc.strip_prefix", Some("true")),
        ("route.sc.esi", Some("surrogate")),
        ("route.sc.esi_cookies", Some("group")),
        ("route.sc.cache_ttl", Some("60")),
        ("route.sc.cache_cookies", Some("ignore")),
        // Fragments in an edge cache that stores only what says its freshness, none of it
        // for longer than 2 s.
        ("route.sf.prefix", Some("/sf/")),
        ("route.sf.backend", Some("scripted")),
        ("route.sf.strip_prefix", Some("true")),
        ("route.sf.cache_ttl", Some("0")),
        ("route.sf.cache_max_ttl", Some("2")),
    ];
    let stack = LocalStack::start_with_backends(&[("scripted", origin.addr)], &overrides)
        .expect("origin and viceroy start");
    (stack, origin)
}

/// `/slow`: a fragment that answers after 3 s, past every timeout the tests set.
fn slow_fragment(origin: &Scripted) {
    origin.script(
        "/slow",
        Script::html("S").delayed(Duration::from_millis(3000)),
    );
}

async fn get(s: &LocalStack, path: &str, headers: &[(&str, &str)]) -> Reply {
    client::request(s.edge.addr, "GET", path, headers)
        .await
        .expect("reply")
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// A header by cookie, a fragment by `Accept-Language`, a greeting by `esi:vars` with
/// defaults, a view by query; the origin is asked only for the chosen branches' includes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_chooses_by_cookie_language_and_query() {
    let (s, _) = stack();
    let page = get(
        &s,
        "/page/esi/lang-template?tag=chosen&view=grid&name=Ana",
        &[
            ("cookie", "group=beta; lang=fr"),
            ("accept-language", "fr-CH, fr;q=0.9, en;q=0.5"),
        ],
    )
    .await;
    assert_eq!(page.status, 200);
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(
        page.text(),
        lang_page(
            "header-beta",
            "fr",
            "<p class=\"greeting\" title=\"Ana\">Hello, Ana (fr)</p>",
            Some("grid")
        )
    );
    assert_eq!(
        sorted(lang_requests("chosen")),
        ["fr", "grid", "header-beta"],
        "no include of an unchosen branch was requested"
    );

    // Nothing the tests look for: every otherwise, every default.
    let page = get(
        &s,
        "/page/esi/lang-template?tag=defaults",
        &[("cookie", "group=alpha"), ("accept-language", "pt")],
    )
    .await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(
        page.text(),
        lang_page(
            "header",
            "en",
            "<p class=\"greeting\" title=\"guest\">Hello, guest (en)</p>",
            None
        )
    );
    assert_eq!(sorted(lang_requests("defaults")), ["en", "header"]);

    // The second `when` of a choose, and a list view.
    let page = get(
        &s,
        "/page/esi/lang-template?tag=second&view=list",
        &[("accept-language", "de-AT")],
    )
    .await;
    assert!(page.text().contains(&lang_fragment_body("de")), "{page:?}");
    assert!(page.text().contains(&lang_fragment_body("list")));
    assert_eq!(sorted(lang_requests("second")), ["de", "header", "list"]);
}

/// A cookie the composing route does not list in `esi_cookies` is absent in a test as in
/// `esi:vars`: the page is chosen as if it was not sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_outside_esi_cookies_is_never_read() {
    let (s, origin) = stack();
    origin.script("/beta", Script::html("B"));
    origin.script("/other", Script::html("O"));
    origin.script(
        "/page",
        Script::esi_template(concat!(
            "<esi:choose><esi:when test=\"$(HTTP_COOKIE{secret}) == 'x'\">",
            "<esi:include src=\"beta\"/></esi:when>",
            "<esi:otherwise><esi:include src=\"other\"/></esi:otherwise></esi:choose>",
            "<esi:vars>[$(HTTP_COOKIE{secret}|'none')|$(HTTP_COOKIE{group})]</esi:vars>",
        )),
    );
    let page = get(&s, "/se/page", &[("cookie", "secret=x; group=g")]).await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(page.text(), "O[none|g]");
    assert_eq!(origin.count("/beta"), 0);
}

/// The includes of the chosen branch are requested as soon as its `when` is read: the
/// template's second piece comes a second after its first, each fragment answers after a
/// second, and the page is complete well before the two seconds a request made at the
/// template's end would take.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chosen_branch_leaves_before_the_template_ends() {
    let (s, _) = stack();
    let started = Instant::now();
    let page = get(
        &s,
        "/page/esi/lang-template?tag=early&pause_ms=1000&delay_ms=1000",
        &[],
    )
    .await;
    let took = started.elapsed();
    assert!(page.body_error.is_none(), "{page:?}");
    assert!(page.text().contains(&lang_fragment_body("header")));
    assert!(
        took < Duration::from_millis(1600),
        "the page took {took:?}: its includes waited for the template's end"
    );
    assert_eq!(sorted(lang_requests("early")), ["en", "header"]);
}

/// A value made of markup and ESI is escaped in text and in an attribute: the browser shows
/// it as text, and no include in it is ever requested.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_value_is_escaped_and_never_runs() {
    let (s, _) = stack();
    // name=<esi:include src="lang-fragment?name=evil&tag=hostile"/><b>"x"
    let name = "%3Cesi%3Ainclude%20src%3D%22lang-fragment%3Fname%3Devil%26tag%3Dhostile%22%2F%3E%3Cb%3E%22x%22";
    let page = get(
        &s,
        &format!("/page/esi/lang-template?tag=hostile&name={name}"),
        &[("cookie", "lang=<script>alert(1)</script>")],
    )
    .await;
    assert!(page.body_error.is_none(), "{page:?}");
    let escaped = concat!(
        "&lt;esi:include&#32;src&#61;&quot;lang-fragment?name&#61;evil&amp;tag&#61;hostile",
        "&quot;/&gt;&lt;b&gt;&quot;x&quot;"
    );
    assert_eq!(
        page.text(),
        lang_page(
            "header",
            "en",
            &format!(
                "<p class=\"greeting\" title=\"{escaped}\">Hello, {escaped} (&lt;script&gt;alert(1)&lt;/script&gt;)</p>"
            ),
            None
        )
    );
    assert_eq!(sorted(lang_requests("hostile")), ["en", "header"]);
}

/// A test that does not parse makes its `when` false, the page goes on whole, and one warn
/// line names the test.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unparsable_test_leaves_the_page_whole_with_one_warn_line() {
    let (s, origin) = stack();
    origin.script("/x", Script::html("X"));
    origin.script("/o", Script::html("O"));
    origin.script(
        "/page",
        Script::esi_template(concat!(
            "a<esi:choose><esi:when test=\"(1 == unparsable-test\"><esi:include src=\"x\"/>",
            "</esi:when><esi:otherwise><esi:include src=\"o\"/></esi:otherwise></esi:choose>z",
        )),
    );
    let page = get(&s, "/se/page", &[]).await;
    assert_eq!(page.status, 200);
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(page.text(), "aOz");
    assert_eq!(origin.count("/x"), 0);
    let record = s.edge.access_record("/se/page", LOG_WAIT).expect("record");
    assert_eq!(record["fragments"]["failed"], 0);
    let warned: Vec<String> = s.edge.lines_containing("unparsable-test");
    assert_eq!(warned.len(), 1, "{warned:#?}");
    assert!(warned[0].contains("does not parse"), "{warned:#?}");
}

/// A choose inside an attempt whose include fails: the except, with a choose of its own,
/// goes out. A choose inside a chosen branch chooses in turn; one inside an unchosen branch
/// costs nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn choose_inside_try_and_nested_choose() {
    let (s, origin) = stack();
    origin.script("/broken", Script::status(500, &[], b"down"));
    for name in ["/a", "/b", "/c", "/d", "/e", "/f"] {
        origin.script(name, Script::html(&name[1..].to_uppercase()));
    }
    origin.script(
        "/page",
        Script::esi_template(concat!(
            "<esi:try><esi:attempt>",
            "<esi:choose><esi:when test=\"$(HTTP_COOKIE{group}) == 'g'\">",
            "<esi:include src=\"broken\"/></esi:when>",
            "<esi:otherwise><esi:include src=\"a\"/></esi:otherwise></esi:choose>",
            "</esi:attempt><esi:except>",
            "<esi:choose><esi:when test=\"$(QUERY_STRING{q}) == '1'\">",
            "<esi:include src=\"b\"/></esi:when></esi:choose>",
            "</esi:except></esi:try>|",
            "<esi:choose><esi:when test=\"$(QUERY_STRING{q}) == '1'\">",
            "<esi:choose><esi:when test=\"$(HTTP_COOKIE{group}) == 'h'\"><esi:include src=\"c\"/></esi:when>",
            "<esi:otherwise><esi:include src=\"d\"/></esi:otherwise></esi:choose>",
            "</esi:when><esi:otherwise>",
            "<esi:choose><esi:when test=\"1 == 1\"><esi:include src=\"e\"/></esi:when></esi:choose>",
            "</esi:otherwise></esi:choose>",
            "<esi:choose><esi:when test=\"$(QUERY_STRING{q}) == '2'\"><esi:include src=\"f\"/></esi:when></esi:choose>",
        )),
    );
    let page = get(&s, "/se/page?q=1", &[("cookie", "group=g")]).await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(page.text(), "B|D");
    assert_eq!(origin.count("/broken"), 1);
    assert_eq!(origin.count("/a"), 0);
    assert_eq!(origin.count("/c"), 0);
    assert_eq!(
        origin.count("/e"),
        0,
        "inside an unchosen branch, never requested"
    );
    assert_eq!(origin.count("/f"), 0);

    let page = get(&s, "/se/page", &[]).await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(page.text(), "A|E");
}

/// Variables in an include's `src` beside the new ones: `REQUEST_METHOD`, `REQUEST_PATH`,
/// `HTTP_REFERER` and `HTTP_USER_AGENT{browser}`, escaped for the URL, defaults included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_variables_reach_src_and_vars() {
    let (s, origin) = stack();
    origin.script("/echo", Script::html("[{target}]").reflecting());
    origin.script(
        "/page",
        Script::esi_template(concat!(
            "<esi:include src=\"echo?m=$(REQUEST_METHOD)&p=$(REQUEST_PATH)&r=$(HTTP_REFERER|'none')\"/>",
            "<esi:vars>$(HTTP_USER_AGENT{browser})|$(HTTP_REFERER|'none')|$(REQUEST_PATH)</esi:vars>",
        )),
    );
    let page = get(
        &s,
        "/se/page",
        &[
            (
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
            ),
            ("referer", "https://example.com/a b"),
        ],
    )
    .await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(
        page.text(),
        "[/echo?m=GET&p=%2Fse%2Fpage&r=https%3A%2F%2Fexample.com%2Fa%20b]MOZILLA|https://example.com/a&#32;b|/se/page"
    );
}

/// A cached template's includes are asked for ahead of its text on the next request, but
/// only those outside any branch: the next request may choose another one. (The fragments
/// go through `/se/`, which does not cache, so the origin sees every request.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_template_never_requests_a_branch_ahead() {
    let (s, origin) = stack();
    for name in ["/a", "/b", "/u"] {
        origin.script(name, Script::html(&name[1..].to_uppercase()));
    }
    origin.script(
        "/page",
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("surrogate-control", "content=\"ESI/1.0\""),
                ("cache-control", "max-age=60"),
            ],
            concat!(
                "<esi:choose><esi:when test=\"$(HTTP_USER_AGENT{os}) == 'WIN'\">",
                "<esi:include src=\"/se/a\"/></esi:when>",
                "<esi:otherwise><esi:include src=\"/se/b\"/></esi:otherwise></esi:choose>",
                "<esi:include src=\"/se/u\"/>",
            )
            .as_bytes(),
        ),
    );
    let windows = [("user-agent", "Mozilla/5.0 (Windows NT 10.0)")];
    let linux = [("user-agent", "Mozilla/5.0 (X11; Linux)")];
    // A miss, then a hit that lists the includes, then hits that read the list, each
    // after the one before has written all it writes.
    for (round, (ua, text)) in [
        (windows, "AU"),
        (windows, "AU"),
        (linux, "BU"),
        (linux, "BU"),
    ]
    .into_iter()
    .enumerate()
    {
        let page = get(&s, "/sc/page", &ua).await;
        assert!(page.body_error.is_none(), "{page:?}");
        assert_eq!(page.text(), text, "round {round}");
        s.edge
            .access_records("/sc/page", round + 1, LOG_WAIT)
            .expect("the record");
        assert!(s.edge.wait_until_idle(LOG_WAIT));
    }
    let records = s
        .edge
        .access_records("/sc/page", 4, LOG_WAIT)
        .expect("records");
    assert_eq!(records[3]["cache"], "hit");
    assert_eq!(origin.count("/page"), 1, "the template came from the cache");
    assert_eq!(origin.count("/u"), 4);
    assert_eq!(
        origin.count("/a"),
        2,
        "a branch's include was requested ahead"
    );
}

/// An include's `timeout` (ms) fails it sooner than the route's 800 ms; one longer than the
/// route's is held to the route's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_include_timeout_is_bounded_by_the_route() {
    let (s, origin) = stack();
    slow_fragment(&origin);
    origin.script(
        "/short",
        Script::esi_template("a<esi:include src=\"slow\" timeout=\"200\" onerror=\"continue\"/>b"),
    );
    origin.script(
        "/long",
        Script::esi_template(
            "a<esi:include src=\"slow\" timeout=\"10000\" onerror=\"continue\"/>b",
        ),
    );
    let started = Instant::now();
    let page = get(&s, "/se/short", &[]).await;
    let took = started.elapsed();
    assert_eq!(page.text(), "ab", "{page:?}");
    assert!(took < Duration::from_millis(700), "took {took:?}");
    let started = Instant::now();
    let page = get(&s, "/se/long", &[]).await;
    let took = started.elapsed();
    assert_eq!(page.text(), "ab", "{page:?}");
    assert!(
        took >= Duration::from_millis(750) && took < Duration::from_millis(2000),
        "took {took:?}: the route's 800 ms bound the include's 10 s"
    );
}

/// On a cached template, whose includes the next request asks for ahead of its text, an
/// include's `timeout` still bounds its fragment: placed at its tag, the fragment requested
/// ahead under the route's bound takes the tag's 200 ms (a 3 s fragment would otherwise hold
/// the page for the route's default).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_include_timeout_bounds_a_fragment_requested_ahead() {
    let (s, origin) = stack();
    slow_fragment(&origin);
    origin.script(
        "/page",
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("surrogate-control", "content=\"ESI/1.0\""),
                ("cache-control", "max-age=60"),
            ],
            b"a<esi:include src=\"/se/slow\" timeout=\"200\" onerror=\"continue\"/>b",
        ),
    );
    // A miss, a hit that lists the include, then hits that ask for it ahead.
    for round in 0..4 {
        let started = Instant::now();
        let page = get(&s, "/sc/page", &[]).await;
        let took = started.elapsed();
        assert_eq!(page.text(), "ab", "round {round}: {page:?}");
        assert!(
            took < Duration::from_millis(1500),
            "round {round} took {took:?}: the tag's 200 ms did not bound it"
        );
        s.edge
            .access_records("/sc/page", round + 1, LOG_WAIT)
            .expect("the record");
        assert!(s.edge.wait_until_idle(LOG_WAIT));
    }
    assert_eq!(origin.count("/page"), 1, "the template came from the cache");
    assert_eq!(origin.count("/slow"), 4);
}

/// A marker (the fragment's last answer could not be stored) does not keep a page's ttl
/// from storing: the page fetches at once and stores beside it, as a client's request
/// would, so a client that renews the marker cannot keep the fragment out of the cache.
/// The direct requests ask with the codings a page's fragment request asks with, so both
/// reach the same object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_include_ttl_stores_beside_a_marker() {
    let (s, origin) = stack();
    origin.script(
        "/frag-m",
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("cache-control", "max-age=0"),
            ],
            b"M",
        ),
    );
    origin.script(
        "/ttl-page",
        Script::esi_template("<esi:include src=\"/sf/frag-m\" ttl=\"1h\"/>"),
    );
    let codings = [("accept-encoding", "gzip, deflate, br")];
    for _ in 0..2 {
        let direct = get(&s, "/sf/frag-m", &codings).await;
        assert_eq!(direct.text(), "M");
    }
    assert_eq!(origin.count("/frag-m"), 2, "max-age=0: passed, and marked");
    let started = Instant::now();
    for round in 1..=3 {
        let page = get(&s, "/se/ttl-page", &[]).await;
        assert_eq!(page.text(), "M", "{page:?}");
        assert_eq!(
            origin.count("/frag-m"),
            3,
            "round {round}: stored beside the marker once, then hits"
        );
    }
    let direct = get(&s, "/sf/frag-m", &codings).await;
    assert_eq!(direct.text(), "M");
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "the rounds took {:?}: too slow to show hits within 2 s",
        started.elapsed()
    );
    assert_eq!(
        origin.count("/frag-m"),
        3,
        "the client gets the stored object"
    );
}

/// An include's `ttl` stores a fragment its origin says nothing of (or `max-age=0`) in its
/// route's cache: the next page's fragment is a hit, as the origin's request log shows, until
/// the route's `cache_max_ttl` (2 s) ends an `ttl` of an hour. Without the ttl, the same
/// fragment is fetched for every page. On a cached template, an include with a ttl is
/// requested at its tag, never ahead without its ttl.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_include_ttl_caches_its_fragment_within_cache_max_ttl() {
    let (s, origin) = stack();
    origin.script("/frag", Script::html("F"));
    origin.script(
        "/frag-zero",
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("cache-control", "max-age=0"),
            ],
            b"Z",
        ),
    );
    origin.script(
        "/page",
        Script::esi_template(
            "a<esi:include src=\"/sf/frag\" ttl=\"1h\"/>b<esi:include src=\"/sf/frag-zero\" ttl=\"5m\"/>c",
        ),
    );
    origin.script(
        "/frag-plain",
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("cache-control", "max-age=0"),
            ],
            b"Z",
        ),
    );
    origin.script(
        "/plain",
        Script::esi_template("<esi:include src=\"/sf/frag-plain\"/>"),
    );
    let started = Instant::now();
    for round in 1..=3 {
        let page = get(&s, "/se/page", &[]).await;
        assert_eq!(page.text(), "aFbZc", "{page:?}");
        assert_eq!(
            origin.count("/frag"),
            1,
            "round {round}: a hit within the ttl"
        );
        assert_eq!(origin.count("/frag-zero"), 1, "round {round}");
    }
    assert!(
        started.elapsed() < Duration::from_millis(1800),
        "the rounds took {:?}: too slow to show hits within 2 s",
        started.elapsed()
    );
    for _ in 0..2 {
        assert_eq!(get(&s, "/se/plain", &[]).await.text(), "Z");
    }
    assert_eq!(
        origin.count("/frag-plain"),
        2,
        "without a ttl, max-age=0 is not stored"
    );
    // Past the route's cache_max_ttl, an hour's ttl notwithstanding: fetched again, then a
    // hit again.
    tokio::time::sleep(Duration::from_millis(2600).saturating_sub(started.elapsed())).await;
    for _ in 0..2 {
        assert_eq!(get(&s, "/se/page", &[]).await.text(), "aFbZc");
    }
    assert_eq!(origin.count("/frag"), 2, "bounded by cache_max_ttl = 2");
    assert_eq!(origin.count("/frag-zero"), 2);

    // A cached template (`/sc/`, 60 s): its second page is made from the stored template,
    // whose includes with a ttl are not asked for ahead. Had they been, the fragment would
    // have been fetched without its ttl and not stored, and the fourth page fetched it again.
    origin.script(
        "/cached",
        Script::esi_template("<esi:include src=\"/sf/frag-c\" ttl=\"60\"/>."),
    );
    origin.script("/frag-c", Script::html("C"));
    assert_eq!(get(&s, "/sc/cached", &[]).await.text(), "C.");
    tokio::time::sleep(Duration::from_millis(2600)).await;
    for _ in 0..2 {
        assert_eq!(get(&s, "/sc/cached", &[]).await.text(), "C.");
    }
    assert_eq!(
        origin.count("/cached"),
        1,
        "the template came from the cache"
    );
    assert_eq!(
        origin.count("/frag-c"),
        2,
        "once, then once after the bound: the third page stored it with its ttl"
    );
}

/// The ttl says how long, never whether: a fragment answered `private`, `no-store`, with
/// `Set-Cookie` or `Vary: *` stays unstored; `ttl="0"` keeps a fragment its origin would have
/// let live an hour out of the cache; an unreadable ttl is ignored (the origin's
/// `max-age=60` decides) with one warn line naming it, and the page is whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_include_ttl_never_stores_what_the_cache_refuses() {
    let (s, origin) = stack();
    let refused: [(&str, (&str, &str)); 4] = [
        ("/private", ("cache-control", "private")),
        ("/no-store", ("cache-control", "no-store")),
        ("/cookie", ("set-cookie", "a=b")),
        ("/vary", ("vary", "*")),
    ];
    for (path, header) in refused {
        origin.script(
            path,
            Script::ok(&[("content-type", "text/html"), header], b"R"),
        );
    }
    origin.script(
        "/hour",
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("cache-control", "max-age=3600"),
            ],
            b"H",
        ),
    );
    origin.script(
        "/minute",
        Script::ok(
            &[
                ("content-type", "text/html"),
                ("cache-control", "max-age=60"),
            ],
            b"M",
        ),
    );
    origin.script(
        "/page",
        Script::esi_template(concat!(
            "<esi:include src=\"/sf/private\" ttl=\"1h\"/>",
            "<esi:include src=\"/sf/no-store\" ttl=\"1h\"/>",
            "<esi:include src=\"/sf/cookie\" ttl=\"1h\"/>",
            "<esi:include src=\"/sf/vary\" ttl=\"1h\"/>",
            "<esi:include src=\"/sf/hour\" ttl=\"0\"/>",
            "<esi:include src=\"/sf/minute\" ttl=\"ttl-unreadable\"/>",
        )),
    );
    for _ in 0..2 {
        let page = get(&s, "/se/page", &[]).await;
        assert!(page.body_error.is_none(), "{page:?}");
        assert_eq!(page.text(), "RRRRHM", "{page:?}");
    }
    for (path, _) in refused {
        assert_eq!(origin.count(path), 2, "{path}: never stored");
    }
    assert_eq!(origin.count("/hour"), 2, "ttl=0 stores nothing");
    assert_eq!(
        origin.count("/minute"),
        1,
        "the origin's max-age=60 decided"
    );
    let record = s.edge.access_record("/se/page", LOG_WAIT).expect("record");
    assert_eq!(record["fragments"]["failed"], 0);
    let warned: Vec<String> = s.edge.lines_containing("ttl-unreadable");
    assert_eq!(warned.len(), 2, "one line a page: {warned:#?}");
    assert!(
        warned
            .iter()
            .all(|l| l.contains("is no time") && l.contains("ignored")),
        "{warned:#?}"
    );
}
