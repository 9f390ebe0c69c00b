//! Compression dictionaries (RFC 9842, docs/dictionaries.md), end to end over HTTP on
//! Viceroy: a release of a script goes through a route with `dictionary_match`, is marked
//! and kept under its SHA-256; the next release, asked for with that hash, comes as `dcb`
//! (decoded here with the `brotli` crate and the dictionary, never with firstbyte's own
//! decoder) or `dcz` (decoded with the C zstd library); every other case falls back to br
//! with the same `Vary`.
//!
//! The demo route `dict` (fastly.toml) fronts the dev origin's releases
//! (`/asset/app.v<N>.js`, harness/src/origin/asset.rs). Each test asks for releases of its
//! own length (`bytes=`), so no two tests share a dictionary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use firstbyte_harness::client::{self, Reply};
use firstbyte_harness::dcb::{self, sf_binary, sha256};
use firstbyte_harness::origin::asset::asset;
use firstbyte_harness::stack::LocalStack;

const ALL: &str = "gzip, deflate, br, zstd, dcb, dcz";

/// The demo config plus a route without `dcb` in `compress` (`plain`), one whose `match`
/// covers only the first release (`narrow`), one that keeps nothing over 1000 bytes
/// (`small`), one that prefers `dcz` to `dcb` (`dczfirst`) and one without `dcz`
/// (`dcbonly`).
fn stack() -> LocalStack {
    let mut overrides: Vec<(&str, Option<&str>)> = vec![(
        "routes",
        Some("origin,dict,plain,narrow,small,dczfirst,dcbonly"),
    )];
    for (route, prefix, compress, pattern) in [
        ("plain", "/plain/", "br, gzip", "/plain/asset/app.*.js"),
        (
            "narrow",
            "/narrow/",
            "dcb, br, gzip",
            "/narrow/asset/app.v1.*",
        ),
        ("small", "/small/", "dcb, br, gzip", "/small/asset/app.*.js"),
        (
            "dczfirst",
            "/dczfirst/",
            "dcz, dcb, br, gzip",
            "/dczfirst/asset/app.*.js",
        ),
        (
            "dcbonly",
            "/dcbonly/",
            "dcb, br, gzip",
            "/dcbonly/asset/app.*.js",
        ),
    ] {
        let key = |field: &str| -> &'static str {
            Box::leak(format!("route.{route}.{field}").into_boxed_str())
        };
        overrides.push((key("prefix"), Some(prefix)));
        overrides.push((key("backend"), Some("origin")));
        overrides.push((key("strip_prefix"), Some("true")));
        overrides.push((key("compress"), Some(compress)));
        overrides.push((key("dictionary_match"), Some(pattern)));
    }
    overrides.push(("route.small.dictionary_max_bytes", Some("1000")));
    LocalStack::start(&overrides).expect("origin and viceroy start")
}

async fn ask(s: &LocalStack, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let reply = client::request(s.edge.addr, method, path, headers)
        .await
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    assert_eq!(reply.body_error, None, "{method} {path} ends cleanly");
    reply
}

/// The head of a HEAD request sent with `host` as its only `Host` (the client helper names
/// the edge's address), lowercased.
fn raw_head(s: &LocalStack, host: &str, path: &str, available: &str) -> String {
    let request = format!(
        "HEAD {path} HTTP/1.1\r\nHost: {host}\r\nAccept-Encoding: {ALL}\r\n\
         Available-Dictionary: {available}\r\nConnection: close\r\n\r\n"
    );
    let mut stream = TcpStream::connect(s.edge.addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).to_ascii_lowercase()
}

fn unbrotli(body: &[u8]) -> Vec<u8> {
    dcb::unbrotli(body).expect("a br body")
}

/// The body of a dcb response decoded by the `brotli` crate with `dictionary` attached,
/// after checking the frame's magic and hash.
fn undcb(dictionary: &[u8], body: &[u8]) -> Vec<u8> {
    dcb::decode(dictionary, body).unwrap_or_else(|e| panic!("a dcb body of v2: {e}"))
}

fn vary(reply: &Reply) -> Vec<String> {
    reply
        .header_list("vary")
        .split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

fn assert_dictionary_vary(reply: &Reply) {
    let vary = vary(reply);
    for name in ["accept-encoding", "available-dictionary"] {
        assert!(
            vary.iter().any(|v| v == name),
            "Vary names {name}: {vary:?}"
        );
    }
}

/// Fetches release 1 of length `len` through `prefix` as a browser would, checks it is
/// marked, and returns what the client decoded (the dictionary).
async fn first_release(s: &LocalStack, prefix: &str, pattern: &str, len: usize) -> Vec<u8> {
    let path = format!("{prefix}asset/app.v1.js?bytes={len}");
    let v1 = ask(s, "GET", &path, &[("accept-encoding", ALL)]).await;
    assert_eq!(v1.status, 200);
    assert_eq!(v1.header("content-encoding"), Some("br"));
    let decoded = unbrotli(&v1.body);
    assert_eq!(decoded, asset(1, len), "v1 as the origin made it");
    assert_eq!(
        v1.header("use-as-dictionary"),
        Some(format!("match=\"{pattern}\"").as_str()),
        "v1 is marked with the route's pattern"
    );
    decoded
}

#[tokio::test(flavor = "multi_thread")]
async fn the_next_release_comes_as_a_delta_against_the_one_the_client_holds() {
    let s = stack();
    let len = 96 * 1024;
    let v1 = first_release(&s, "/dict/", "/dict/asset/app.*.js", len).await;
    let available = sf_binary(&sha256(&v1));
    let path = format!("/dict/asset/app.v2.js?bytes={len}");
    let headers = [
        ("accept-encoding", ALL),
        ("available-dictionary", &available),
    ];
    let v2 = ask(&s, "GET", &path, &headers).await;
    assert_eq!(v2.status, 200);
    assert_eq!(v2.header("content-encoding"), Some("dcb"));
    assert_eq!(
        v2.header("content-length"),
        None,
        "the length is the chunked end's"
    );
    assert_dictionary_vary(&v2);
    assert_eq!(undcb(&v1, &v2.body), asset(2, len), "v2, decoded with v1");
    // The same release as br, for comparison: the delta is a small part of it.
    let br = ask(&s, "GET", &path, &[("accept-encoding", "br")]).await;
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert_dictionary_vary(&br);
    assert!(
        v2.body.len() * 10 < br.body.len(),
        "dcb {} bytes against br {}",
        v2.body.len(),
        br.body.len()
    );
    // HEAD gets exactly the headers GET gets, and no body.
    let head = ask(&s, "HEAD", &path, &headers).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    for name in [
        "content-encoding",
        "use-as-dictionary",
        "content-length",
        "content-type",
    ] {
        assert_eq!(head.header(name), v2.header(name), "HEAD {name}");
    }
    assert_eq!(vary(&head), vary(&v2), "HEAD Vary");
    assert!(s.edge.panics().is_empty(), "{:?}", s.edge.panics());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_other_request_falls_back_to_br_with_the_same_vary() {
    let s = stack();
    let len = 40 * 1024;
    let v1 = first_release(&s, "/dict/", "/dict/asset/app.*.js", len).await;
    let held = sf_binary(&sha256(&v1));
    let unknown = sf_binary(&sha256(b"a dictionary nobody kept"));
    let path = format!("/dict/asset/app.v2.js?bytes={len}");
    let cases: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "unknown dictionary",
            vec![("accept-encoding", ALL), ("available-dictionary", &unknown)],
        ),
        (
            "dcb not accepted",
            vec![
                ("accept-encoding", "gzip, br"),
                ("available-dictionary", &held),
            ],
        ),
        (
            "a Dictionary-ID the dictionary does not have",
            vec![
                ("accept-encoding", ALL),
                ("available-dictionary", &held),
                ("dictionary-id", "\"other\""),
            ],
        ),
        (
            "a malformed hash",
            vec![("accept-encoding", ALL), ("available-dictionary", ":AAAA:")],
        ),
        (
            // Two lines make a list (RFC 9110 §5.3), which is not one hash.
            "the held hash and another on two lines",
            vec![
                ("accept-encoding", ALL),
                ("available-dictionary", &held),
                ("available-dictionary", &unknown),
            ],
        ),
    ];
    for (case, headers) in cases {
        for method in ["GET", "HEAD"] {
            let reply = ask(&s, method, &path, &headers).await;
            assert_eq!(reply.status, 200, "{case}");
            assert_eq!(
                reply.header("content-encoding"),
                Some("br"),
                "{case} {method}"
            );
            assert_dictionary_vary(&reply);
            if method == "GET" {
                assert_eq!(unbrotli(&reply.body), asset(2, len), "{case}");
            }
        }
    }
    // Another origin (Host) on the same route: the dictionary is not found for it.
    let own_host = s.edge.addr.to_string();
    for (host, coding) in [("other.example", "br"), (own_host.as_str(), "dcb")] {
        let head = raw_head(&s, host, &path, &held);
        assert!(
            head.contains(&format!("\r\ncontent-encoding: {coding}\r\n")),
            "Host {host}: {head}"
        );
    }
    // The dictionary itself still serves the request it was checked for.
    let served = ask(
        &s,
        "GET",
        &path,
        &[("accept-encoding", ALL), ("available-dictionary", &held)],
    )
    .await;
    assert_eq!(served.header("content-encoding"), Some("dcb"));
    assert_eq!(undcb(&v1, &served.body), asset(2, len));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dictionary_is_used_only_where_the_route_and_its_match_allow() {
    let s = stack();
    let len = 24 * 1024;
    // `compress` without dcb: marked, but never served as dcb, and Vary as before.
    let v1 = first_release(&s, "/plain/", "/plain/asset/app.*.js", len).await;
    let held = sf_binary(&sha256(&v1));
    let headers = [
        ("accept-encoding", ALL),
        ("available-dictionary", held.as_str()),
    ];
    let plain = ask(
        &s,
        "GET",
        &format!("/plain/asset/app.v2.js?bytes={len}"),
        &headers,
    )
    .await;
    assert_eq!(plain.header("content-encoding"), Some("br"));
    assert!(!vary(&plain).contains(&"available-dictionary".to_string()));
    // A match that covers only the first release: the second is not made against it.
    let v1 = first_release(&s, "/narrow/", "/narrow/asset/app.v1.*", len + 1).await;
    let held = sf_binary(&sha256(&v1));
    let headers = [
        ("accept-encoding", ALL),
        ("available-dictionary", held.as_str()),
    ];
    let path = format!("/narrow/asset/app.v2.js?bytes={}", len + 1);
    let narrow = ask(&s, "GET", &path, &headers).await;
    assert_eq!(narrow.header("content-encoding"), Some("br"));
    assert_dictionary_vary(&narrow);
    // ... while the release it covers is (the dictionary was kept).
    let path = format!("/narrow/asset/app.v1.js?bytes={}", len + 1);
    let same = ask(&s, "GET", &path, &headers).await;
    assert_eq!(same.header("content-encoding"), Some("dcb"));
    assert_eq!(undcb(&v1, &same.body), v1);
    // Over dictionary_max_bytes: marked, not kept, so never used.
    let v1 = first_release(&s, "/small/", "/small/asset/app.*.js", len + 2).await;
    let held = sf_binary(&sha256(&v1));
    let headers = [
        ("accept-encoding", ALL),
        ("available-dictionary", held.as_str()),
    ];
    let path = format!("/small/asset/app.v2.js?bytes={}", len + 2);
    let small = ask(&s, "GET", &path, &headers).await;
    assert_eq!(small.header("content-encoding"), Some("br"));
    assert_dictionary_vary(&small);
}

#[tokio::test(flavor = "multi_thread")]
async fn responses_the_edge_may_not_cache_are_never_marked() {
    let s = stack();
    let base = "/dict/asset/app.v1.js?bytes=3000";
    let ae = ("accept-encoding", ALL);
    for (case, query, headers) in [
        ("private", "&cache-control=private", vec![ae]),
        ("no-store", "&cache-control=no-store", vec![ae]),
        // Fields addressed to caches like this one count as much (a hostile review kept
        // these, and a client could then confirm a guess at a private body by its hash).
        ("CDN private", "&cdn-cache-control=private", vec![ae]),
        (
            "Surrogate no-store",
            "&surrogate-control=no-store",
            vec![ae],
        ),
        ("Vary *", "&vary=*", vec![ae]),
        ("Set-Cookie", "&set-cookie=session%3D1", vec![ae]),
        (
            "Authorization",
            "",
            vec![ae, ("authorization", "Basic dTpw")],
        ),
        ("Cookie", "", vec![ae, ("cookie", "session=1")]),
    ] {
        let reply = ask(&s, "GET", &format!("{base}{query}"), &headers).await;
        assert_eq!(reply.status, 200, "{case}");
        assert_eq!(reply.header("use-as-dictionary"), None, "{case}");
        // Not kept either: its hash does not get dcb.
        let held = sf_binary(&sha256(&unbrotli(&reply.body)));
        let v2 = ask(
            &s,
            "GET",
            "/dict/asset/app.v2.js?bytes=3000",
            &[ae, ("available-dictionary", &held)],
        )
        .await;
        assert_eq!(v2.header("content-encoding"), Some("br"), "{case}");
    }
    // A 404 is not marked.
    let missing = ask(&s, "GET", "/dict/nothing.js", &[ae]).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("use-as-dictionary"), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_origins_own_mark_passes_unchanged_and_is_honoured() {
    let s = stack();
    let own = "match=\"/dict/asset/*\", id=\"bundle-1\"";
    let query: String = form_urlencoded::Serializer::new(String::new())
        .append_pair("bytes", "5000")
        .append_pair("use-as-dictionary", own)
        .finish();
    let ae = ("accept-encoding", ALL);
    let v1 = ask(&s, "GET", &format!("/dict/asset/app.v1.js?{query}"), &[ae]).await;
    assert_eq!(v1.header("use-as-dictionary"), Some(own));
    let v1 = unbrotli(&v1.body);
    let held = sf_binary(&sha256(&v1));
    let path = "/dict/asset/app.v2.js?bytes=5000";
    // Its id must be echoed.
    let without = ask(&s, "GET", path, &[ae, ("available-dictionary", &held)]).await;
    assert_eq!(without.header("content-encoding"), Some("br"));
    let with = [
        ae,
        ("available-dictionary", held.as_str()),
        ("dictionary-id", "\"bundle-1\""),
    ];
    let echoed = ask(&s, "GET", path, &with).await;
    assert_eq!(echoed.header("content-encoding"), Some("dcb"));
    assert_eq!(undcb(&v1, &echoed.body), asset(2, 5000));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_origins_dcb_reaches_only_a_client_holding_its_dictionary() {
    let s = stack();
    let path = format!(
        "/dict/asset/app.v1.js?bytes=2000&content-encoding=dcb&dcb-frame={}",
        "07".repeat(32)
    );
    let path = path.as_str();
    let hash = sf_binary(&[7u8; 32]);
    let mut framed = vec![0xff, 0x44, 0x43, 0x42];
    framed.extend([7u8; 32]);
    framed.extend(asset(1, 2000));
    let passed = ask(
        &s,
        "GET",
        path,
        &[("accept-encoding", ALL), ("available-dictionary", &hash)],
    )
    .await;
    assert_eq!(passed.status, 200);
    assert_eq!(passed.header("content-encoding"), Some("dcb"));
    assert_eq!(passed.body, framed, "untouched, its frame header put back");
    assert_eq!(
        passed.header("use-as-dictionary"),
        None,
        "a coded body is not marked"
    );
    // Another client's dictionary would not decode it: a shared cache must know.
    assert_dictionary_vary(&passed);
    // On a route without dictionaries nothing checks the client holds it: refused, however
    // the coding is spelled, even to the client that does.
    for coding in ["dcb", "DCB", "identity%2C%20dcb"] {
        let path = path.replace("/dict/", "/origin/").replace(
            "content-encoding=dcb",
            &format!("content-encoding={coding}"),
        );
        for method in ["GET", "HEAD"] {
            let headers = [("accept-encoding", ALL), ("available-dictionary", &hash)];
            let refused = ask(&s, method, &path, &headers).await;
            assert_eq!(
                refused.status, 502,
                "{method} {coding} on a route without dictionaries"
            );
        }
    }
    // A client holding another dictionary could not decode it.
    let other = sf_binary(&[8u8; 32]);
    for headers in [
        vec![("accept-encoding", ALL)],
        vec![
            ("accept-encoding", "gzip, br"),
            ("available-dictionary", &hash),
        ],
        vec![("accept-encoding", ALL), ("available-dictionary", &other)],
    ] {
        for method in ["GET", "HEAD"] {
            let refused = ask(&s, method, path, &headers).await;
            assert_eq!(refused.status, 502, "{method} {headers:?}");
        }
    }
    // Stacked on another coding, either way round, no dictionary alone undoes it.
    for stacked in ["dcb%2C%20br", "br%2C%20dcb"] {
        let path = path.replace(
            "content-encoding=dcb",
            &format!("content-encoding={stacked}"),
        );
        let headers = [("accept-encoding", ALL), ("available-dictionary", &hash)];
        let refused = ask(&s, "GET", &path, &headers).await;
        assert_eq!(refused.status, 502, "{stacked}");
    }
}

/// A release the origin gzipped is decoded before it becomes a dictionary or a delta: the
/// client holding v1 gets v2 as dcb that decodes to v2 itself, never to gzip bytes (a
/// hostile review once got `dcb` of the gzip stream, a page wrong yet complete).
#[tokio::test(flavor = "multi_thread")]
async fn an_origins_gzip_is_decoded_before_the_delta() {
    let s = stack();
    let v1 = first_release(&s, "/dict/", "/dict/asset/app.*.js", 4000).await;
    let held = sf_binary(&sha256(&v1));
    for ae in ["br, dcb", "gzip, br, dcb", "dcb"] {
        let reply = ask(
            &s,
            "GET",
            "/dict/asset/app.v2.js?bytes=4000&gzip=1",
            &[("accept-encoding", ae), ("available-dictionary", &held)],
        )
        .await;
        assert_eq!(reply.status, 200, "{ae}");
        match reply.header("content-encoding") {
            Some("dcb") => assert_eq!(undcb(&v1, &reply.body), asset(2, 4000), "{ae}"),
            Some("br") => assert_eq!(unbrotli(&reply.body), asset(2, 4000), "{ae}"),
            // Decoded for a client that does not take gzip, and sent as it is.
            None => assert_eq!(reply.body, asset(2, 4000), "{ae}"),
            other => assert!(
                ae.contains("gzip") && other == Some("gzip"),
                "{ae}: {other:?}"
            ),
        }
    }
}

/// The body of a dcz response decoded by the C zstd library with `dictionary` as raw
/// content, after checking the skippable-frame header and the hash.
fn undcz(dictionary: &[u8], body: &[u8]) -> Vec<u8> {
    dcb::decode_dcz(dictionary, body).unwrap_or_else(|e| panic!("a dcz body of v2: {e}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_accepts_dcz_gets_the_delta_as_dcz() {
    let s = stack();
    let len = 64 * 1024;
    let v1 = first_release(&s, "/dict/", "/dict/asset/app.*.js", len).await;
    let available = sf_binary(&sha256(&v1));
    let path = format!("/dict/asset/app.v2.js?bytes={len}");
    let headers = [
        ("accept-encoding", "gzip, br, dcz"),
        ("available-dictionary", &available),
    ];
    let v2 = ask(&s, "GET", &path, &headers).await;
    assert_eq!(v2.status, 200);
    assert_eq!(v2.header("content-encoding"), Some("dcz"));
    assert_eq!(v2.header("content-length"), None);
    assert_eq!(
        v2.body[..8],
        dcb::DCZ_MAGIC,
        "a skippable frame of length 32"
    );
    assert_eq!(v2.body[8..40], sha256(&v1), "naming the dictionary");
    assert_eq!(undcz(&v1, &v2.body), asset(2, len));
    assert_dictionary_vary(&v2);
    let br = ask(&s, "GET", &path, &[("accept-encoding", "gzip, br")]).await;
    assert_eq!(br.header("content-encoding"), Some("br"));
    assert!(
        v2.body.len() * 10 < br.body.len(),
        "dcz {} bytes against br {}",
        v2.body.len(),
        br.body.len()
    );
    let head = ask(&s, "HEAD", &path, &headers).await;
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-encoding"), Some("dcz"), "HEAD coding");
    assert_eq!(vary(&head), vary(&v2), "HEAD Vary");
    // A client that accepts both gets the route's first: dcb on `dict`, listed first there.
    let both = [
        ("accept-encoding", ALL),
        ("available-dictionary", &available),
    ];
    let dcb_reply = ask(&s, "GET", &path, &both).await;
    assert_eq!(dcb_reply.header("content-encoding"), Some("dcb"));
    // Falls back to br with the same Vary: a dictionary the edge does not hold.
    let unknown = sf_binary(&sha256(b"a dictionary nobody kept"));
    for method in ["GET", "HEAD"] {
        let reply = ask(
            &s,
            method,
            &path,
            &[
                ("accept-encoding", "gzip, br, dcz"),
                ("available-dictionary", &unknown),
            ],
        )
        .await;
        assert_eq!(reply.header("content-encoding"), Some("br"), "{method}");
        assert_dictionary_vary(&reply);
    }
    assert!(s.edge.panics().is_empty(), "{:?}", s.edge.panics());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_routes_compress_order_chooses_between_dcb_and_dcz() {
    let s = stack();
    let len = 30 * 1024;
    let first = first_release(&s, "/dczfirst/", "/dczfirst/asset/app.*.js", len).await;
    let available = sf_binary(&sha256(&first));
    let path = format!("/dczfirst/asset/app.v2.js?bytes={len}");
    let both = [
        ("accept-encoding", ALL),
        ("available-dictionary", &available),
    ];
    let reply = ask(&s, "GET", &path, &both).await;
    assert_eq!(reply.header("content-encoding"), Some("dcz"));
    assert_eq!(undcz(&first, &reply.body), asset(2, len));
    let dcb_only = [
        ("accept-encoding", "br, dcb"),
        ("available-dictionary", &available),
    ];
    let reply = ask(&s, "GET", &path, &dcb_only).await;
    assert_eq!(reply.header("content-encoding"), Some("dcb"));
    assert_eq!(undcb(&first, &reply.body), asset(2, len));
    // A route without dcz: a client that accepts only dcz gets br, with the same Vary.
    let v1 = first_release(&s, "/dcbonly/", "/dcbonly/asset/app.*.js", len).await;
    let available = sf_binary(&sha256(&v1));
    let path = format!("/dcbonly/asset/app.v2.js?bytes={len}");
    for method in ["GET", "HEAD"] {
        let reply = ask(
            &s,
            method,
            &path,
            &[
                ("accept-encoding", "gzip, br, dcz"),
                ("available-dictionary", &available),
            ],
        )
        .await;
        assert_eq!(reply.header("content-encoding"), Some("br"), "{method}");
        assert_dictionary_vary(&reply);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_origins_dcz_reaches_only_a_client_holding_its_dictionary_and_accepting_dcz() {
    let s = stack();
    let path = format!(
        "/dict/asset/app.v1.js?bytes=2000&content-encoding=dcz&dcz-frame={}",
        "07".repeat(32)
    );
    let hash = sf_binary(&[7u8; 32]);
    let mut framed = dcb::DCZ_MAGIC.to_vec();
    framed.extend([7u8; 32]);
    framed.extend(asset(1, 2000));
    let passed = ask(
        &s,
        "GET",
        &path,
        &[("accept-encoding", ALL), ("available-dictionary", &hash)],
    )
    .await;
    assert_eq!(passed.status, 200);
    assert_eq!(passed.header("content-encoding"), Some("dcz"));
    assert_eq!(passed.body, framed, "untouched, its header put back");
    let other = sf_binary(&[8u8; 32]);
    for headers in [
        vec![("accept-encoding", ALL)],
        // It holds the dictionary but does not accept dcz.
        vec![
            ("accept-encoding", "gzip, br, dcb"),
            ("available-dictionary", &hash),
        ],
        vec![("accept-encoding", ALL), ("available-dictionary", &other)],
    ] {
        for method in ["GET", "HEAD"] {
            let refused = ask(&s, method, &path, &headers).await;
            assert_eq!(refused.status, 502, "{method} {headers:?}");
        }
    }
}

/// A release the origin already compressed with br, to a client that takes br (the body
/// would pass untouched), is still marked and kept: the next release comes as `dcb` to the
/// holder of the first. The first time it is re-made (decoded, kept, br again: no
/// `Content-Length`, a weak ETag); once the edge holds it, the same response (the origin's
/// strong ETag unchanged) passes untouched again, and HEAD gets what GET gets.
#[tokio::test(flavor = "multi_thread")]
async fn a_release_the_origin_compressed_is_kept_and_made_a_delta() {
    let s = stack();
    let len = 20_000;
    let v1_path = format!("/dict/asset/app.v1.js?bytes={len}&br=1&etag=%22v1-{len}%22");
    let br = [("accept-encoding", "br")];
    let v1 = ask(&s, "GET", &v1_path, &br).await;
    assert_eq!(v1.status, 200);
    assert_eq!(v1.header("content-encoding"), Some("br"));
    assert_eq!(
        v1.header("use-as-dictionary"),
        Some("match=\"/dict/asset/app.*.js\""),
        "the origin's br is marked"
    );
    assert_eq!(v1.header("content-length"), None, "re-made to be kept");
    assert_dictionary_vary(&v1);
    let dictionary = unbrotli(&v1.body);
    assert_eq!(dictionary, asset(1, len));
    let available = sf_binary(&sha256(&dictionary));
    let v2_path = format!("/dict/asset/app.v2.js?bytes={len}&br=1");
    let headers = [
        ("accept-encoding", "br, dcb"),
        ("available-dictionary", available.as_str()),
    ];
    let v2 = ask(&s, "GET", &v2_path, &headers).await;
    assert_eq!(v2.header("content-encoding"), Some("dcb"), "v2 against v1");
    assert_eq!(undcb(&dictionary, &v2.body), asset(2, len));
    // Held now: the same response passes as the origin sent it, to GET and HEAD alike.
    let again = ask(&s, "GET", &v1_path, &br).await;
    assert_eq!(again.header("content-encoding"), Some("br"));
    assert_eq!(unbrotli(&again.body), asset(1, len));
    assert_eq!(again.header("etag"), Some(format!("\"v1-{len}\"").as_str()));
    assert!(again.header("content-length").is_some(), "untouched");
    let head = ask(&s, "HEAD", &v1_path, &br).await;
    for name in [
        "content-encoding",
        "use-as-dictionary",
        "content-length",
        "etag",
    ] {
        assert_eq!(head.header(name), again.header(name), "HEAD {name}");
    }
    assert_eq!(vary(&head), vary(&again), "HEAD Vary");
    assert!(s.edge.panics().is_empty(), "{:?}", s.edge.panics());
}

/// A client that takes none of the route's codings gets the release as it is, and it is
/// kept all the same: a later client holding it gets the next release as `dcb`.
#[tokio::test(flavor = "multi_thread")]
async fn a_release_sent_to_a_client_taking_no_coding_is_kept() {
    let s = stack();
    let len = 21_000;
    let v1_path = format!("/dict/asset/app.v1.js?bytes={len}");
    let identity = [("accept-encoding", "identity")];
    let v1 = ask(&s, "GET", &v1_path, &identity).await;
    assert_eq!(v1.header("content-encoding"), None);
    assert_eq!(
        v1.header("use-as-dictionary"),
        Some("match=\"/dict/asset/app.*.js\"")
    );
    assert_eq!(v1.body, asset(1, len));
    let head = ask(&s, "HEAD", &v1_path, &identity).await;
    for name in ["content-encoding", "use-as-dictionary", "content-length"] {
        assert_eq!(head.header(name), v1.header(name), "HEAD {name}");
    }
    assert_eq!(vary(&head), vary(&v1), "HEAD Vary");
    let available = sf_binary(&sha256(&v1.body));
    let headers = [
        ("accept-encoding", ALL),
        ("available-dictionary", available.as_str()),
    ];
    let v2_path = format!("/dict/asset/app.v2.js?bytes={len}");
    let v2 = ask(&s, "GET", &v2_path, &headers).await;
    assert_eq!(v2.header("content-encoding"), Some("dcb"), "v2 against v1");
    assert_eq!(undcb(&v1.body, &v2.body), asset(2, len));
}

/// The same bytes marked under another route's `match` keep the first route's too: any
/// client asking for them elsewhere took the dictionary from that route's holders (who got
/// br until its next fill) when one object per host and bytes held one `match` (a hostile
/// review of 2026-12-08).
#[tokio::test(flavor = "multi_thread")]
async fn the_same_bytes_asked_for_elsewhere_leave_a_routes_dictionary_alone() {
    let s = stack();
    let len = 12_345;
    let v1 = first_release(&s, "/dict/", "/dict/asset/app.*.js", len).await;
    let held = sf_binary(&sha256(&v1));
    let headers = [
        ("accept-encoding", ALL),
        ("available-dictionary", held.as_str()),
    ];
    let v2_path = format!("/dict/asset/app.v2.js?bytes={len}");
    let before = ask(&s, "GET", &v2_path, &headers).await;
    assert_eq!(before.header("content-encoding"), Some("dcb"));
    // Anyone: the same release through another route, marked with its own pattern.
    let elsewhere = first_release(&s, "/plain/", "/plain/asset/app.*.js", len).await;
    assert_eq!(elsewhere, v1, "the same bytes");
    let after = ask(&s, "GET", &v2_path, &headers).await;
    assert_eq!(
        after.header("content-encoding"),
        Some("dcb"),
        "the route's holders still get the delta"
    );
    assert_eq!(undcb(&v1, &after.body), asset(2, len));
}
