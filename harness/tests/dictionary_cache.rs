//! Compression dictionaries on a route with `cache_ttl` (docs/dictionaries.md, "On a cached
//! route"), end to end over HTTP on Viceroy, against the scripted origin so that every
//! origin request is counted: a release is marked and kept as it is stored; the next
//! release, asked for with its hash, is made into `dcb` once and stored under that hash, so
//! every client holding the same dictionary gets the delta as a hit; clients without it, or
//! holding another, get their own objects; a hash the edge does not hold names no object;
//! an unsafe request to the URL makes its `dcb` objects stale too; a request that passes the
//! cache gets what a route without one gives.

use std::time::Duration;

use firstbyte_harness::client::{self, Reply};
use firstbyte_harness::dcb::{self, sf_binary, sha256};
use firstbyte_harness::origin::asset::asset;
use firstbyte_harness::peers::{Script, Scripted};
use firstbyte_harness::stack::LocalStack;

const WAIT: Duration = Duration::from_secs(30);
/// What Chromium sends with a dictionary (it also sends `zstd` and `dcz`).
const BROWSER: &str = "gzip, deflate, br, zstd, dcb, dcz";
/// A release's length: large enough that a delta is far below its br.
const LEN: usize = 64 * 1024;
const PATTERN: &str = "/dc/app.*.js";

/// The scripted origin behind `dc`, a cached route with dictionaries (`cache_ttl`,
/// `compress = "dcb, dcz, br, gzip"`, `dictionary_match`), as fastly.toml's `dictcache` is
/// behind the dev origin.
struct DictCache {
    origin: Scripted,
    stack: LocalStack,
}

impl DictCache {
    fn start() -> DictCache {
        DictCache::forwarding("none")
    }

    /// With `cache_forward_headers = forward`.
    fn forwarding(forward: &str) -> DictCache {
        let origin = Scripted::start().expect("scripted origin starts");
        let overrides: Vec<(&str, Option<&str>)> = vec![
            ("route.dc.cache_forward_headers", Some(forward)),
            ("routes", Some("origin,dc")),
            ("route.dc.prefix", Some("/dc/")),
            ("route.dc.backend", Some("scripted")),
            ("route.dc.strip_prefix", Some("true")),
            ("route.dc.cache_ttl", Some("60")),
            ("route.dc.compress", Some("dcb, dcz, br, gzip")),
            ("route.dc.dictionary_match", Some(PATTERN)),
        ];
        let stack = LocalStack::start_with_backends(&[("scripted", origin.addr)], &overrides)
            .expect("origin and viceroy start");
        // Releases 1 to 3, each cacheable and with its own validator.
        for version in 1..=3u32 {
            let etag = format!("\"v{version}\"");
            origin.script(
                &format!("/app.v{version}.js"),
                Script::ok(
                    &[
                        ("content-type", "application/javascript"),
                        ("cache-control", "max-age=600"),
                        ("etag", &etag),
                    ],
                    &asset(version, LEN),
                )
                .revalidating(),
            );
        }
        DictCache { origin, stack }
    }

    /// `method /dc/app.v<version>.js` with `accept-encoding` and, when given, that
    /// `Available-Dictionary`; the body must end cleanly.
    async fn ask(
        &self,
        method: &str,
        version: u32,
        accept_encoding: &str,
        available: Option<&str>,
    ) -> Reply {
        let path = format!("/dc/app.v{version}.js");
        self.ask_with(method, &path, accept_encoding, available, &[])
            .await
    }

    /// [`DictCache::ask`] for any target, with `more` headers.
    async fn ask_with(
        &self,
        method: &str,
        path: &str,
        accept_encoding: &str,
        available: Option<&str>,
        more: &[(&str, &str)],
    ) -> Reply {
        let mut headers = vec![("accept-encoding", accept_encoding)];
        if let Some(available) = available {
            headers.push(("available-dictionary", available));
        }
        headers.extend_from_slice(more);
        let reply = client::request(self.stack.edge.addr, method, path, &headers)
            .await
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        assert_eq!(reply.body_error, None, "{method} {path} ends cleanly");
        assert_eq!(reply.status, 200, "{method} {path}: {}", reply.text());
        reply
    }

    /// Waits until `count` requests for release `version` have logged and every instance
    /// has ended: a fill's object, and the dictionary it keeps, are written by then.
    fn settled(&self, version: u32, count: usize) {
        let path = format!("/dc/app.v{version}.js");
        self.stack
            .edge
            .access_records(&path, count, WAIT)
            .unwrap_or_else(|| panic!("{count} access-log records for {path}"));
        assert!(self.stack.edge.wait_until_idle(WAIT), "the instances end");
    }

    /// Requests the origin got for release `version`.
    fn fetches(&self, version: u32) -> usize {
        self.origin.count(&format!("/app.v{version}.js"))
    }

    /// Release `version` as a browser first gets it: br, marked with the route's pattern,
    /// stored (`MISS`). Returns what the client decoded, its dictionary from now on.
    async fn first(&self, version: u32, count: usize) -> Vec<u8> {
        let reply = self.ask("GET", version, BROWSER, None).await;
        assert_eq!(reply.header("content-encoding"), Some("br"));
        assert_eq!(reply.header("x-cache"), Some("MISS"));
        assert_eq!(
            reply.header("use-as-dictionary"),
            Some(format!("match=\"{PATTERN}\"").as_str()),
            "a cached route marks its release"
        );
        let decoded = dcb::unbrotli(&reply.body).expect("a br body");
        assert_eq!(decoded, asset(version, LEN));
        self.settled(version, count);
        decoded
    }
}

fn x_cache(reply: &Reply) -> &str {
    reply.header("x-cache").unwrap_or("")
}

fn assert_dictionary_vary(reply: &Reply) {
    let vary: Vec<String> = reply
        .header_list("vary")
        .split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .collect();
    for name in ["accept-encoding", "available-dictionary"] {
        assert!(
            vary.iter().any(|v| v == name),
            "Vary names {name}: {vary:?}"
        );
    }
}

/// A `dcb` reply decoded with `dictionary` (its frame must name that dictionary's hash).
fn undcb(dictionary: &[u8], reply: &Reply) -> Vec<u8> {
    assert_eq!(reply.header("content-encoding"), Some("dcb"));
    dcb::decode(dictionary, &reply.body).unwrap_or_else(|e| panic!("a dcb body: {e}"))
}

/// The heads two replies must share (HEAD against GET, a hit against its miss).
const SAME_HEAD: [&str; 5] = [
    "content-encoding",
    "vary",
    "etag",
    "content-type",
    "use-as-dictionary",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_fill_makes_the_delta_every_holder_of_the_dictionary_gets_as_a_hit() {
    let c = DictCache::start();
    let v1 = c.first(1, 1).await;
    let again = c.ask("GET", 1, BROWSER, None).await;
    assert_eq!(x_cache(&again), "HIT");
    assert!(
        again.header("use-as-dictionary").is_some(),
        "the mark is stored with the object"
    );
    c.settled(1, 2);

    let held = sf_binary(&sha256(&v1));
    let first = c.ask("GET", 2, BROWSER, Some(&held)).await;
    assert_eq!(x_cache(&first), "MISS");
    assert_eq!(undcb(&v1, &first), asset(2, LEN), "the delta decodes to v2");
    assert_dictionary_vary(&first);
    c.settled(2, 1);

    let second = c.ask("GET", 2, BROWSER, Some(&held)).await;
    assert_eq!(
        x_cache(&second),
        "HIT",
        "the second holder of v1 gets a hit"
    );
    assert_eq!(second.body, first.body, "the stored delta, byte for byte");
    for name in SAME_HEAD {
        assert_eq!(second.header_list(name), first.header_list(name), "{name}");
    }
    let head = c.ask("HEAD", 2, BROWSER, Some(&held)).await;
    assert!(head.body.is_empty());
    assert_eq!(x_cache(&head), "HIT");
    for name in SAME_HEAD {
        assert_eq!(
            head.header_list(name),
            first.header_list(name),
            "HEAD: {name}"
        );
    }
    c.settled(2, 3);
    assert_eq!(c.fetches(2), 1, "one origin fetch for every holder of v1");

    // A client without the dictionary gets br, from an object of its own.
    let plain = c.ask("GET", 2, "gzip, br", None).await;
    assert_eq!(plain.header("content-encoding"), Some("br"));
    assert_eq!(x_cache(&plain), "MISS");
    assert_dictionary_vary(&plain);
    assert_eq!(dcb::unbrotli(&plain.body).expect("br"), asset(2, LEN));
    assert!(
        first.body.len() * 10 < plain.body.len(),
        "the delta ({}) is under a tenth of br ({})",
        first.body.len(),
        plain.body.len()
    );
    c.settled(2, 4);
    assert_eq!(c.fetches(2), 2);
    assert_eq!(
        x_cache(&c.ask("GET", 1, BROWSER, Some(&held)).await),
        "MISS",
        "v1 itself, asked for with v1's hash, is a dcb object of its own"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delta_reaches_only_clients_holding_its_dictionary() {
    let c = DictCache::start();
    let v1 = c.first(1, 1).await;
    let v3 = c.first(3, 1).await;
    let (h1, h3) = (sf_binary(&sha256(&v1)), sf_binary(&sha256(&v3)));
    let against_v1 = c.ask("GET", 2, BROWSER, Some(&h1)).await;
    assert_eq!(undcb(&v1, &against_v1), asset(2, LEN));
    c.settled(2, 1);
    // Another held dictionary: its own delta, never the one made against v1.
    let against_v3 = c.ask("GET", 2, BROWSER, Some(&h3)).await;
    assert_eq!(x_cache(&against_v3), "MISS", "a variant of its own");
    assert_eq!(undcb(&v3, &against_v3), asset(2, LEN));
    c.settled(2, 2);
    for (hash, dictionary) in [(&h1, &v1), (&h3, &v3)] {
        let hit = c.ask("GET", 2, BROWSER, Some(hash)).await;
        assert_eq!(x_cache(&hit), "HIT");
        assert_eq!(undcb(dictionary, &hit), asset(2, LEN));
    }
    c.settled(2, 4);
    assert_eq!(c.fetches(2), 2, "one fill per dictionary");
}

/// A hostile client naming hashes the edge does not hold (random ones, malformed ones) gets
/// br, from the one object of its codings: no hash of its makes an object of its own, so it
/// can neither fill the cache with variants nor make the origin fetch for each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashes_the_edge_does_not_hold_name_no_object() {
    hostile_hashes(DictCache::start()).await;
}

/// The same where the route forwards every header it may (`cache_forward_headers = all`):
/// `Available-Dictionary` is never one of them, so the `Vary` that names it cannot split
/// objects per value either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_all_still_names_no_object_per_hash() {
    hostile_hashes(DictCache::forwarding("all")).await;
}

async fn hostile_hashes(c: DictCache) {
    let v1 = c.first(1, 1).await;
    let held = sf_binary(&sha256(&v1));
    let delta = c.ask("GET", 2, BROWSER, Some(&held)).await;
    assert_eq!(undcb(&v1, &delta), asset(2, LEN));
    c.settled(2, 1);

    let unknown = sf_binary(&sha256(b"a dictionary nobody kept"));
    let first = c.ask("GET", 2, BROWSER, Some(&unknown)).await;
    assert_eq!(first.header("content-encoding"), Some("br"));
    assert_eq!(x_cache(&first), "MISS", "the br object of these codings");
    assert_dictionary_vary(&first);
    c.settled(2, 2);
    let mut asked = 2;
    let malformed = [
        ":AAAA:".to_string(),
        held.trim_matches(':').to_string(),
        format!("{held}, {held}"),
        format!("{held};id=1"),
    ];
    let random: Vec<String> = (0..40u32)
        .map(|i| sf_binary(&sha256(format!("random hash {i}").as_bytes())))
        .collect();
    for available in malformed.iter().chain(random.iter()) {
        let reply = c.ask("GET", 2, BROWSER, Some(available)).await;
        assert_eq!(reply.header("content-encoding"), Some("br"), "{available}");
        assert_eq!(x_cache(&reply), "HIT", "no object of its own: {available}");
        assert_eq!(reply.body, first.body);
        asked += 1;
    }
    c.settled(2, asked);
    assert_eq!(
        c.fetches(2),
        2,
        "the delta's fill and the br fill, nothing more"
    );
    let still = c.ask("GET", 2, BROWSER, Some(&held)).await;
    assert_eq!(x_cache(&still), "HIT");
    assert_eq!(still.body, delta.body);
}

/// An unsafe request to the URL (RFC 9111 §4.4) reaches its `dcb` objects: every object of
/// the URL carries its surrogate key, whatever its coding or dictionary, so the next holder
/// of the dictionary revalidates before it is served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidating_the_url_reaches_its_deltas() {
    let c = DictCache::start();
    let v1 = c.first(1, 1).await;
    let held = sf_binary(&sha256(&v1));
    assert_eq!(
        x_cache(&c.ask("GET", 2, BROWSER, Some(&held)).await),
        "MISS"
    );
    assert_eq!(x_cache(&c.ask("GET", 2, "gzip, br", None).await), "MISS");
    c.settled(2, 2);
    assert_eq!(x_cache(&c.ask("GET", 2, BROWSER, Some(&held)).await), "HIT");
    c.settled(2, 3);

    let posted = client::request(c.stack.edge.addr, "POST", "/dc/app.v2.js", &[])
        .await
        .expect("POST");
    assert_eq!(posted.header("x-cache"), Some("PASS"));
    c.settled(2, 4);

    let delta = c.ask("GET", 2, BROWSER, Some(&held)).await;
    assert_eq!(
        x_cache(&delta),
        "REVALIDATED",
        "the dcb object was made stale"
    );
    assert_eq!(undcb(&v1, &delta), asset(2, LEN));
    let plain = c.ask("GET", 2, "gzip, br", None).await;
    assert_eq!(x_cache(&plain), "REVALIDATED");
    c.settled(2, 6);
    let seen = c.origin.seen("/app.v2.js");
    assert_eq!(seen.len(), 5, "two fills, the POST, two revalidations");
    assert!(
        seen[3].not_modified && seen[4].not_modified,
        "304s, not refetches"
    );
    assert_eq!(x_cache(&c.ask("GET", 2, BROWSER, Some(&held)).await), "HIT");
}

/// What passes the cache (a method other than GET and HEAD, credentials, a key too long) is
/// answered as on a route without a cache: `dcb` for a client holding a kept dictionary, the
/// mark where the response may be a dictionary (and the dictionary kept), and the `Vary`
/// of both outcomes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_pass_the_cache_get_what_an_uncached_route_gives() {
    let c = DictCache::start();
    let v1 = c.first(1, 1).await;
    let held = sf_binary(&sha256(&v1));

    let posted = c
        .ask_with("POST", "/dc/app.v2.js", BROWSER, Some(&held), &[])
        .await;
    assert_eq!(x_cache(&posted), "PASS");
    assert_eq!(undcb(&v1, &posted), asset(2, LEN), "a POST's answer as dcb");
    assert_dictionary_vary(&posted);
    c.settled(2, 1);

    // Credentials pass the cache: dcb still, and never marked (RFC 9842 §8).
    let basic = [("authorization", "Basic dXNlcjpwYXNz")];
    let get = c
        .ask_with("GET", "/dc/app.v2.js", BROWSER, Some(&held), &basic)
        .await;
    assert_eq!(x_cache(&get), "PASS");
    assert_eq!(undcb(&v1, &get), asset(2, LEN));
    assert_dictionary_vary(&get);
    assert_eq!(get.header("use-as-dictionary"), None);
    let head = c
        .ask_with("HEAD", "/dc/app.v2.js", BROWSER, Some(&held), &basic)
        .await;
    assert!(head.body.is_empty());
    for name in SAME_HEAD {
        assert_eq!(
            head.header_list(name),
            get.header_list(name),
            "HEAD: {name}"
        );
    }
    c.settled(2, 3);

    // A key too long passes too: a response anyone may cache is marked there and kept.
    let long = format!("/dc/app.v3.js?pad={}", "x".repeat(4200));
    let bypassed = c.ask_with("GET", &long, BROWSER, None, &[]).await;
    assert_eq!(x_cache(&bypassed), "BYPASS");
    assert_eq!(bypassed.header("content-encoding"), Some("br"));
    assert_dictionary_vary(&bypassed);
    assert_eq!(
        bypassed.header("use-as-dictionary"),
        Some(format!("match=\"{PATTERN}\"").as_str())
    );
    let v3 = dcb::unbrotli(&bypassed.body).expect("a br body");
    c.settled(3, 1);
    let against_v3 = c
        .ask("GET", 2, BROWSER, Some(&sf_binary(&sha256(&v3))))
        .await;
    assert_eq!(
        undcb(&v3, &against_v3),
        asset(2, LEN),
        "the dictionary the pass kept makes the delta"
    );
}

/// A client that accepts `dcz` and not `dcb` gets its delta as `dcz`, made once and stored
/// as an object of its own (its codings are the key's), a hit for the next such client; a
/// browser holding the same dictionary gets the `dcb` object, never the `dcz` one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dcz_delta_is_an_object_of_its_own_and_a_hit_for_the_next_dcz_client() {
    const DCZ_ONLY: &str = "gzip, br, dcz";
    let c = DictCache::start();
    let v1 = c.first(1, 1).await;
    let held = sf_binary(&sha256(&v1));
    let first = c.ask("GET", 2, DCZ_ONLY, Some(&held)).await;
    assert_eq!(x_cache(&first), "MISS");
    assert_eq!(first.header("content-encoding"), Some("dcz"));
    let decoded = dcb::decode_dcz(&v1, &first.body).unwrap_or_else(|e| panic!("dcz: {e}"));
    assert_eq!(decoded, asset(2, LEN), "the delta decodes to v2");
    assert_dictionary_vary(&first);
    c.settled(2, 1);
    let second = c.ask("GET", 2, DCZ_ONLY, Some(&held)).await;
    assert_eq!(x_cache(&second), "HIT");
    assert_eq!(second.body, first.body, "the stored delta, byte for byte");
    let head = c.ask("HEAD", 2, DCZ_ONLY, Some(&held)).await;
    assert!(head.body.is_empty());
    assert_eq!(x_cache(&head), "HIT");
    for name in SAME_HEAD {
        assert_eq!(
            head.header_list(name),
            first.header_list(name),
            "HEAD: {name}"
        );
    }
    c.settled(2, 3);
    assert_eq!(c.fetches(2), 1);
    let browser = c.ask("GET", 2, BROWSER, Some(&held)).await;
    assert_eq!(x_cache(&browser), "MISS", "the dcb delta is another object");
    assert_eq!(undcb(&v1, &browser), asset(2, LEN));
    c.settled(2, 4);
    assert_eq!(c.fetches(2), 2);
}

/// Release `version` as an origin that compresses its assets sends it: br, whatever the
/// client asked for.
fn brotli(version: u32) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut writer = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        std::io::Write::write_all(&mut writer, &asset(version, LEN)).expect("compress");
    }
    out
}

/// A release the origin already compressed is kept as the fill stores it, as on a route
/// without a cache: the next release, itself br from the origin, is stored as the delta.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_the_origin_compressed_is_kept_by_its_fill() {
    let c = DictCache::start();
    for version in [4u32, 5] {
        c.origin.script(
            &format!("/app.v{version}.js"),
            Script::ok(
                &[
                    ("content-type", "application/javascript"),
                    ("content-encoding", "br"),
                    ("cache-control", "max-age=600"),
                ],
                &brotli(version),
            ),
        );
    }
    let v4 = c.first(4, 1).await;
    let held = sf_binary(&sha256(&v4));
    let v5 = c.ask("GET", 5, BROWSER, Some(&held)).await;
    assert_eq!(x_cache(&v5), "MISS");
    assert_eq!(undcb(&v4, &v5), asset(5, LEN), "the delta decodes to v5");
    c.settled(5, 1);
    let hit = c.ask("GET", 5, BROWSER, Some(&held)).await;
    assert_eq!(x_cache(&hit), "HIT");
    assert_eq!(hit.body, v5.body);
}
