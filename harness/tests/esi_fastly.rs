//! The dev origin's ESI language template (`/esi/lang-template`) composed by firstbyte and by
//! fastly/esi 0.7.2 (`benches/esi-fastly`, the benchmark's peer, on a Viceroy of its own,
//! started as the benchmark starts it), for the same requests, and the two texts compared.
//!
//! Where they differ, each difference is named: the piece firstbyte gives and the piece
//! fastly/esi gives in its place. The test replaces each named piece of firstbyte's page by
//! fastly/esi's and wants fastly/esi's page exactly, after checking firstbyte's page against
//! what it must be. So a change of either side's output fails it: a new difference, one that
//! went away, or a page of either that changed. docs/esi.md
//! ([Against fastly/esi](../../docs/esi.md#against-fastlyesi)) says which side follows
//! ESI 1.0 for each.
//!
//! The peer is built by `make esi-peer`. Without it the test prints `SKIP:`; with `CI=true`
//! or `FIRSTBYTE_REQUIRE_PEERS=1` it fails instead.

use firstbyte_harness::bench::esi::{self, ESI_PEER};
use firstbyte_harness::bench::start_named_edge;
use firstbyte_harness::client::{self, Reply};
use firstbyte_harness::origin::esi::{composed_page, fragment_body, TemplateSpec};
use firstbyte_harness::origin::esi_lang::{lang_fragment_body, lang_page, lang_requests};
use firstbyte_harness::stack::{wasm, Edge, LocalStack};

/// firstbyte's demo route `page` reading the template's cookies, and the peer in front of
/// the same dev origin; `None` (after a `SKIP:` line) when the peer is not built.
fn stacks() -> Option<(LocalStack, Edge)> {
    let peer = wasm("esi-fastly");
    if !peer.exists() {
        let required = ["CI", "FIRSTBYTE_REQUIRE_PEERS"]
            .iter()
            .any(|k| std::env::var(k).is_ok_and(|v| v == "true" || v == "1"));
        assert!(
            !required,
            "{} is missing: `make esi-peer` builds it (CI or FIRSTBYTE_REQUIRE_PEERS is set)",
            peer.display()
        );
        eprintln!(
            "SKIP: {} is missing (make esi-peer builds it): fastly/esi is not compared",
            peer.display()
        );
        return None;
    }
    let stack = LocalStack::start(&[("route.page.esi_cookies", Some("group,lang"))])
        .expect("origin and viceroy start");
    let peer = start_named_edge(ESI_PEER, stack.origin.addr).expect("the fastly/esi peer starts");
    Some((stack, peer))
}

/// A difference between the two pages: `firstbyte` is in firstbyte's page where `fastly`
/// is in fastly/esi's.
struct Difference {
    what: &'static str,
    firstbyte: String,
    fastly: String,
}

fn differs(what: &'static str, firstbyte: &str, fastly: &str) -> Difference {
    Difference {
        what,
        firstbyte: firstbyte.to_string(),
        fastly: fastly.to_string(),
    }
}

/// One request, made of both.
struct Case<'a> {
    name: &'a str,
    query: &'a str,
    headers: &'a [(&'a str, &'a str)],
    /// firstbyte's page, exactly.
    page: String,
    /// fastly/esi's page is firstbyte's with each of these, in order.
    differences: Vec<Difference>,
    /// The fragments each asks the origin for (by name, in any order).
    firstbyte_requests: &'a [&'a str],
    fastly_requests: &'a [&'a str],
}

async fn compare(stack: &LocalStack, peer: &Edge, case: &Case<'_>) {
    let name = case.name;
    let fb_tag = format!("fb-{name}");
    let peer_tag = format!("peer-{name}");
    let fb: Reply = client::request(
        stack.edge.addr,
        "GET",
        &format!("/page/esi/lang-template?tag={fb_tag}&{}", case.query),
        case.headers,
    )
    .await
    .expect("firstbyte answers");
    let fastly: Reply = client::request(
        peer.addr,
        "GET",
        &format!("/esi/lang-template?tag={peer_tag}&{}", case.query),
        case.headers,
    )
    .await
    .expect("fastly/esi answers");
    assert_eq!(fb.status, 200, "{name}: firstbyte {fb:?}");
    assert!(fb.body_error.is_none(), "{name}: firstbyte {fb:?}");
    assert_eq!(fastly.status, 200, "{name}: fastly/esi {fastly:?}");
    assert!(fastly.body_error.is_none(), "{name}: fastly/esi {fastly:?}");
    let fb_text = fb.text();
    assert_eq!(fb_text, case.page, "{name}: firstbyte's page");
    let mut expected = fb_text;
    for d in &case.differences {
        assert!(
            expected.contains(&d.firstbyte),
            "{name}: {}: firstbyte's page has no {:?}",
            d.what,
            d.firstbyte
        );
        expected = expected.replacen(&d.firstbyte, &d.fastly, 1);
    }
    assert_eq!(
        fastly.text(),
        expected,
        "{name}: fastly/esi's page must be firstbyte's with exactly these differences: {:?}",
        case.differences.iter().map(|d| d.what).collect::<Vec<_>>()
    );
    let names = |v: &[&str]| sorted(v.iter().map(|s| s.to_string()).collect());
    assert_eq!(
        sorted(lang_requests(&fb_tag)),
        names(case.firstbyte_requests),
        "{name}: the fragments firstbyte requested"
    );
    assert_eq!(
        sorted(lang_requests(&peer_tag)),
        names(case.fastly_requests),
        "{name}: the fragments fastly/esi requested"
    );
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

fn greeting(title: &str, name: &str, lang: &str) -> String {
    format!("<p class=\"greeting\" title=\"{title}\">Hello, {name} ({lang})</p>")
}

/// fastly/esi leaves a `$(…)` in an attribute of the markup inside `esi:vars` as written;
/// firstbyte substitutes it, as ESI 1.0 §3.7's example does (`<img src="…$(HTTP_COOKIE{type})…"/>`).
fn vars_in_an_attribute(firstbyte_title: &str) -> Difference {
    differs(
        "a variable in an attribute inside esi:vars: substituted by firstbyte, left as written by fastly/esi",
        &format!("title=\"{firstbyte_title}\""),
        "title=\"$(QUERY_STRING{name}|'guest')\"",
    )
}

/// fastly/esi 0.7.2 reads `HTTP_ACCEPT_LANGUAGE` from a header named `ACCEPT_LANGUAGE`
/// (what follows `HTTP_`, the underscore kept), which no request has: the variable is
/// always empty, every `{xx}` false, and the template falls to its `otherwise`.
fn accept_language(firstbyte_chose: &str) -> Difference {
    Difference {
        what: "HTTP_ACCEPT_LANGUAGE{xx}: true for the client's language in firstbyte, never true in fastly/esi",
        firstbyte: lang_fragment_body(firstbyte_chose),
        fastly: lang_fragment_body("en"),
    }
}

/// The language template (the esi_lang suite's page: a header by cookie, a fragment by
/// `Accept-Language`, a greeting in `esi:vars` with defaults, a view by query) through
/// firstbyte and through fastly/esi, request by request: the pages and the fragments each
/// asked for, with every difference named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_language_template_against_fastly_esi() {
    let Some((s, peer)) = stacks() else {
        return;
    };
    let cases = [
        // Every test true somewhere: the cookie's header, French, a name, a grid.
        Case {
            name: "chosen",
            query: "view=grid&name=Ana",
            headers: &[
                ("cookie", "group=beta; lang=fr"),
                ("accept-language", "fr-CH, fr;q=0.9, en;q=0.5"),
            ],
            page: lang_page(
                "header-beta",
                "fr",
                &greeting("Ana", "Ana", "fr"),
                Some("grid"),
            ),
            differences: vec![accept_language("fr"), vars_in_an_attribute("Ana")],
            firstbyte_requests: &["header-beta", "fr", "grid"],
            fastly_requests: &["header-beta", "en", "grid"],
        },
        // Nothing the tests look for: every otherwise, every default. The same text.
        Case {
            name: "defaults",
            query: "",
            headers: &[("cookie", "group=alpha"), ("accept-language", "pt")],
            page: lang_page("header", "en", &greeting("guest", "guest", "en"), None),
            differences: vec![vars_in_an_attribute("guest")],
            firstbyte_requests: &["header", "en"],
            fastly_requests: &["header", "en"],
        },
        // A second `when`, a language range with a region, a percent-encoded value.
        Case {
            name: "second",
            query: "view=list&name=Ana%2DMaria",
            headers: &[("accept-language", "de-AT")],
            page: lang_page(
                "header",
                "de",
                &greeting("Ana-Maria", "Ana-Maria", "en"),
                Some("list"),
            ),
            differences: vec![
                accept_language("de"),
                vars_in_an_attribute("Ana-Maria"),
                differs(
                    "QUERY_STRING{key}: percent-decoded by firstbyte, as sent by fastly/esi",
                    "Hello, Ana-Maria",
                    "Hello, Ana%2DMaria",
                ),
            ],
            firstbyte_requests: &["header", "de", "list"],
            fastly_requests: &["header", "en", "list"],
        },
        // Markup in the client's values: text in firstbyte's page, markup in fastly/esi's.
        Case {
            name: "hostile",
            query: "name=%3Cb%3E%22x%22",
            headers: &[("cookie", "lang=<i>")],
            page: lang_page(
                "header",
                "en",
                &greeting(
                    "&lt;b&gt;&quot;x&quot;",
                    "&lt;b&gt;&quot;x&quot;",
                    "&lt;i&gt;",
                ),
                None,
            ),
            differences: vec![
                vars_in_an_attribute("&lt;b&gt;&quot;x&quot;"),
                differs(
                    "QUERY_STRING{key} in esi:vars text: decoded and escaped for HTML by firstbyte, as sent by fastly/esi",
                    "Hello, &lt;b&gt;&quot;x&quot;",
                    "Hello, %3Cb%3E%22x%22",
                ),
                differs(
                    "HTTP_COOKIE{name} in esi:vars text: escaped for HTML by firstbyte, raw markup in fastly/esi",
                    "(&lt;i&gt;)",
                    "(<i>)",
                ),
            ],
            firstbyte_requests: &["header", "en"],
            fastly_requests: &["header", "en"],
        },
    ];
    for case in &cases {
        compare(&s, &peer, case).await;
    }
}

/// The benchmark's template in the language (its smoke run's: each include the chosen
/// `when` of a choose, an `esi:vars` greeting after it) is the same page through firstbyte
/// and through fastly/esi, the page the benchmark checks every sample against.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmarks_language_template_is_one_page_in_both() {
    let Some((s, peer)) = stacks() else {
        return;
    };
    let workloads = esi::workloads(true);
    let w = workloads
        .iter()
        .find(|w| w.spec.language)
        .expect("the bench has a workload in the language");
    for (who, addr, prefix) in [
        ("firstbyte", s.edge.addr, "/page"),
        ("fastly/esi", peer.addr, ""),
    ] {
        let tag = format!("bench-{}", prefix.len());
        let page = client::request(
            addr,
            "GET",
            &format!("{prefix}/esi/template?{}", w.query(&tag)),
            &[],
        )
        .await
        .expect("a page");
        assert_eq!(page.status, 200, "{who}: {page:?}");
        assert!(page.body_error.is_none(), "{who}: {page:?}");
        assert_eq!(
            page.text(),
            String::from_utf8_lossy(&composed_page(&w.tagged(&tag))),
            "{who}"
        );
        assert!(page
            .text()
            .contains("Hello, guest, fragment 7, language on"));
    }
}

/// Not the language: the dev origin's plain template with 3 includes in 600 bytes, where the
/// text before the third include ends in `<p` (an HTML tag cut by the filler). firstbyte
/// finds the ESI tag wherever it is, as ESI processors do, and places fragment 2; fastly/esi
/// 0.7.2's streaming parser fails on `<p<esi:include …/>`, and writes the bytes it could not
/// parse to the client as they are: the include reaches the client raw, and its fragment is
/// not in the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_esi_tag_right_after_an_unfinished_html_tag() {
    let Some((s, peer)) = stacks() else {
        return;
    };
    let w = esi::EsiWorkload {
        name: "three includes in 600 bytes".into(),
        spec: TemplateSpec {
            includes: 3,
            bytes: 600,
            fragment_bytes: 100,
            delay_ms: 0,
            slow: None,
            encoding: None,
            continue_on_error: false,
            tag: None,
            base: None,
            language: false,
        },
    };
    let fb = client::request(
        s.edge.addr,
        "GET",
        &format!("/page/esi/template?{}", w.query("cut-fb")),
        &[],
    )
    .await
    .expect("firstbyte answers");
    let fastly = client::request(
        peer.addr,
        "GET",
        &format!("/esi/template?{}", w.query("cut-peer")),
        &[],
    )
    .await
    .expect("fastly/esi answers");
    let fb_page = String::from_utf8_lossy(&composed_page(&w.tagged("cut-fb"))).to_string();
    let fragment_2 = String::from_utf8_lossy(&fragment_body(2, 100)).to_string();
    assert_eq!(fb.text(), fb_page, "firstbyte composes every include");
    assert!(fb_page.contains(&format!("<p{fragment_2}")));
    let raw =
        "<p<esi:include src=\"/esi/fragment?i=2&amp;bytes=100&amp;delay_ms=0&amp;tag=cut-peer\"/>";
    assert!(
        fastly.text().contains(raw),
        "fastly/esi passes the include after <p raw: {fastly:?}"
    );
    assert!(!fastly.text().contains(&fragment_2), "{fastly:?}");
}
