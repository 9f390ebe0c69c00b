//! ESI syntax end to end, on Viceroy: tags written with the white space XML allows are the
//! tags they would be without it (a page keeps its text after `</esi:remove >`), and a
//! construct still open when a template ends fails what it was part of, visibly, rather
//! than silently dropping the rest of the page. The tokenizer's own tests are in
//! `transform/src/esi.rs`.

use std::time::Duration;

use firstbyte_harness::client::{self, Reply};
use firstbyte_harness::peers::{Script, Scripted};
use firstbyte_harness::stack::LocalStack;

const LOG_WAIT: Duration = Duration::from_secs(30);

/// The scripted origin behind `/se/`, composing what asks for it.
fn stack() -> (LocalStack, Scripted) {
    let origin = Scripted::start().expect("scripted origin");
    let overrides: Vec<(&str, Option<&str>)> = vec![
        ("routes", Some("origin,se")),
        ("route.se.prefix", Some("/se/")),
        ("route.se.backend", Some("scripted")),
        ("route.se.strip_prefix", Some("true")),
        ("route.se.esi", Some("surrogate")),
    ];
    let stack = LocalStack::start_with_backends(&[("scripted", origin.addr)], &overrides)
        .expect("origin and viceroy start");
    (stack, origin)
}

async fn get(s: &LocalStack, path: &str) -> Reply {
    client::request(s.edge.addr, "GET", path, &[])
        .await
        .expect("reply")
}

/// `</esi:remove >`, `<esi:remove / >`, `<esi:include src=… / >` and tabs and newlines inside
/// tags: the page keeps every byte of text after them, and ends cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_with_white_space_keep_the_rest_of_the_page() {
    let (s, origin) = stack();
    origin.script(
        "/frag",
        Script::ok(&[("content-type", "text/html")], b"[frag]"),
    );
    origin.script(
        "/page",
        Script::esi_template(concat!(
            "a<esi:remove>gone</esi:remove >",
            "b<esi:remove / >",
            "c<esi:include src=\"frag\" / >",
            "d<esi:remove>gone</esi:remove\r\n\t>",
            "e<esi:include\tsrc=\"frag\"\n/>",
            "f<esi:remove/ >",
            "g",
        )),
    );
    let page = get(&s, "/se/page").await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(page.text(), "abc[frag]de[frag]fg");
}

/// A template that ends inside `<esi:remove>` has lost its text: the page is abandoned (a
/// cut connection, the access log's reason naming the construct), never ended cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_construct_open_at_the_end_fails_the_page() {
    let (s, origin) = stack();
    // Paced, so that the head is out well before the end is read: the failure is then a
    // cut body, not a cut head (both are visible; one is asserted).
    origin.script(
        "/page",
        Script::esi_template("kept<esi:remove>the rest of the page")
            .paced(8, Duration::from_millis(100)),
    );
    let page = get(&s, "/se/page").await;
    assert!(
        page.body_error.is_some(),
        "a page that lost its text ended cleanly: {page:?}"
    );
    assert!(!page.text().contains("the rest"), "{page:?}");
    let record = s.edge.access_record("/se/page", LOG_WAIT).expect("record");
    assert_eq!(record["outcome"], "aborted", "{record}");
    assert!(
        record["reason"]
            .as_str()
            .is_some_and(|r| r.contains("ended inside <esi:remove>")),
        "{record}"
    );
}

/// A fragment that is a template itself and ends inside a construct fails as any failing
/// fragment does: here, before any of its bytes went out, so its `alt` takes its place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_open_at_the_end_fails_like_any_fragment() {
    let (s, origin) = stack();
    origin.script("/broken", Script::esi_template("<esi:remove>lost"));
    origin.script(
        "/good",
        Script::ok(&[("content-type", "text/html")], b"[good]"),
    );
    origin.script(
        "/page",
        Script::esi_template("a<esi:include src=\"/se/broken\" alt=\"/se/good\"/>b"),
    );
    let page = get(&s, "/se/page").await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(page.text(), "a[good]b");
}

/// `<esi:NAME` + `pad` + enough padding that the tag runs past the tokenizer's 16 KiB + `/>`.
fn overlong(tag: &str) -> String {
    format!("{tag}{}\"/>", "p".repeat(17_000))
}

/// A well-formed tag too long to be held (17 KB) never reaches the client raw: the page fails
/// visibly (a failed status or a cut body, the access log naming why), whatever tag it is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_too_long_fails_the_page_rather_than_reach_the_client() {
    let (s, origin) = stack();
    for (path, tag) in [
        ("/include", "<esi:include src=\"/f/x?pad="),
        ("/comment", "<esi:comment text=\""),
    ] {
        origin.script(
            path,
            Script::esi_template(&format!("kept{}after", overlong(tag)))
                .paced(4096, Duration::from_millis(50)),
        );
        let page = get(&s, &format!("/se{path}")).await;
        let body = String::from_utf8_lossy(&page.body);
        assert!(
            !body.contains("<esi:"),
            "an ESI tag reached the client: {path}"
        );
        assert!(!body.contains("after"), "{path}: {page:?}");
        assert!(
            page.status != 200 || page.body_error.is_some(),
            "{path}: a page with a tag too long ended cleanly"
        );
        let record = s
            .edge
            .access_record(&format!("/se{path}"), LOG_WAIT)
            .expect("record");
        assert_ne!(record["outcome"], "ok", "{record}");
        assert!(
            record["reason"]
                .as_str()
                .is_some_and(|r| r.contains("esi: tag ran past 16384 bytes")),
            "{record}"
        );
    }
}

/// A fragment that is a template holding a tag too long fails as any failing fragment does:
/// its `alt` takes its place, and no ESI tag reaches the client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragment_with_a_tag_too_long_fails_like_any_fragment() {
    let (s, origin) = stack();
    origin.script(
        "/long",
        Script::esi_template(&format!("{}y", overlong("<esi:comment text=\""))),
    );
    origin.script(
        "/good",
        Script::ok(&[("content-type", "text/html")], b"[good]"),
    );
    origin.script(
        "/page",
        Script::esi_template("a<esi:include src=\"/se/long\" alt=\"/se/good\"/>b"),
    );
    let page = get(&s, "/se/page").await;
    assert!(page.body_error.is_none(), "{page:?}");
    assert_eq!(page.text(), "a[good]b");
}
