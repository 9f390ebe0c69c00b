//! A route's own output in the edge cache (`cache_ttl`), through the Core Cache API: what
//! the client receives, after the chain, so a hit never runs the chain again.
//!
//! One transactional lookup per request decides: a fresh object is a hit (stored head, body
//! appended host-side); an object still being written is a collapsed miss (its body grows
//! as the filling request writes it); no object makes this request the one that fills it,
//! while every other request for the key waits in its own lookup for the insertion to
//! start. The filler writes each chunk to its own client and to the cache writer at once
//! (a tee), so that its client never waits on the cache, and so that an object found too
//! large on the way can be dropped while its client still gets the whole body.
//!
//! A body that fails in any way is abandoned and purged: the object must never exist. The
//! purge matters on Viceroy, which keeps an abandoned object in the cache (its body ends in
//! an error for every later reader) until it expires; on Fastly it is a no-op.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::time::Duration;

use bytes::Bytes;
use fastly::cache::core::{CacheError, Found, Transaction};
use fastly::http::body::StreamingBody;
use fastly::http::{FramingHeadersMode, Method, StatusCode};
use fastly::{Body, Request, Response};
use firstbyte_config::{CacheSettings, Route};
use firstbyte_transform::codec::accepts;

use crate::access_log::{AccessRecord, BodyPath};
use crate::headers::{self, HeaderAccess};
use crate::pump::{pump, PumpOptions};
use crate::routing::backend_path;
use crate::timing::{server_timing, Clock};

/// Fastly and Viceroy refuse longer cache keys; a longer request passes the cache.
const MAX_KEY: usize = 4096;

/// Bumped whenever the stored metadata's format changes, so old objects are never read.
const FORMAT: &str = "firstbyte-cache/1";

/// The codings whose acceptance can change what a route sends: the chain's encoders, what
/// the backend is asked for, what an untouched body may carry.
const CODINGS: [&str; 4] = ["br", "gzip", "deflate", "zstd"];

/// Request headers that would make the backend answer with less than the whole object
/// (206, 304); a filling request drops them, and its client gets the whole 200, which
/// RFC 9110 (§13.1, §14.2) lets a cache answer instead.
const PARTIAL_OR_CONDITIONAL: [&str; 4] =
    ["range", "if-range", "if-none-match", "if-modified-since"];

/// The metadata of a marker object: the last response for this key could not be stored.
/// Requests that were waiting for the insertion find it and fetch at once, together, where
/// a cancelled insertion would release them one at a time, each waiting for the previous
/// one's fetch (a hit-for-pass, as Varnish and Fastly's VCL have it).
const PASS_MARKER: &[u8] = b"firstbyte-cache/1 pass";

/// How long a marker stands, at most (never longer than the route's `cache_ttl`): long
/// enough to spare a burst the queue, short enough that a response that becomes storable is
/// stored soon.
const PASS_TTL: Duration = Duration::from_secs(10);

/// Response headers that belong to one delivery, not to the object. A `Content-Length` is
/// kept: the response being stored has one only when its body goes out untouched as the
/// backend declared it, so the object's length is known before its body, and a request that
/// reads the object while it is still being written says it as a hit (or a HEAD) does.
const NOT_STORED: [&str; 4] = ["age", "x-cache", "server-timing", "date"];

/// What the lookup left this request to do.
pub enum Start {
    /// The client has had its response from the cache.
    Served,
    /// Fetch from the backend, with the cache as this says.
    Fetch(Caching),
}

/// What a fetch does with the cache.
pub enum Caching {
    /// Nothing: the route keeps nothing, or this request bypasses the cache.
    Off,
    /// Nothing, for a key marked uncacheable; the response says so (`X-Cache: PASS`).
    MarkedPass,
    /// This request makes the object: [`Caching::admit`], then [`Admitted::fill`].
    Fill(Fill),
}

impl Caching {
    /// Whether the client already has its answer (a stale copy) and this only refreshes.
    pub fn answered(&self) -> bool {
        matches!(self, Caching::Fill(fill) if !fill.serves_client)
    }

    /// Labels the backend's response and, when it is to be stored, makes it the object to
    /// write ([`Admitted::fill`]).
    pub fn admit(
        self,
        resp: &mut Response,
        output_length: Option<u64>,
        record: &mut AccessRecord,
    ) -> Option<Admitted> {
        match self {
            Caching::Off => None,
            Caching::MarkedPass => {
                resp.set_header("x-cache", "PASS");
                None
            }
            Caching::Fill(fill) => fill.admit(resp, output_length, record),
        }
    }
}

/// The obligation to insert an object. Dropped without inserting, it cancels, so the
/// requests waiting on it are released (one of them then fetches for itself).
pub struct Fill {
    /// Taken when the object (or a pass marker) is inserted.
    tx: Option<Transaction>,
    settings: CacheSettings,
    key: Bytes,
    surrogate: String,
    /// False when a stale copy already went to the client and this only refreshes it.
    serves_client: bool,
}

impl Drop for Fill {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.take() {
            if let Err(e) = tx.cancel_insert_or_update() {
                log::warn!("cancelling a cache insertion failed: {e}");
            }
        }
    }
}

/// Looks the request up; serves a hit (or a collapsed miss, or a stale object) itself.
pub fn lookup(
    route: &Route,
    req: &mut Request,
    accept_encoding: Option<&str>,
    record: &mut AccessRecord,
    clock: &Clock,
) -> Start {
    let Some(settings) = &route.cache else {
        return Start::Fetch(Caching::Off);
    };
    let head_only = match *req.get_method() {
        Method::GET => false,
        Method::HEAD => true,
        _ => return bypass(record, "method"),
    };
    // A shared cache must not answer an authenticated request (RFC 9111 §3.5).
    if req.contains_header("authorization") {
        return bypass(record, "authorization");
    }
    let key = key(route, req.get_path(), req.get_query_str(), accept_encoding);
    if key.len() > MAX_KEY {
        return bypass(record, "key too long");
    }
    let key = Bytes::from(key);
    let surrogate = surrogate_key(&key);
    let tx = match Transaction::lookup(key.clone()).execute() {
        Ok(tx) => tx,
        Err(e) => {
            log::warn!("cache lookup failed: {e}");
            return bypass(record, "lookup failed");
        }
    };
    let must_fill = tx.must_insert_or_update();
    let mut serves_client = true;
    // One look at the object and its metadata (each a host call): a pass marker, or a
    // stored head.
    let found = tx.found().map(|found| {
        let meta = found.user_metadata();
        (found, meta)
    });
    let marked = found
        .as_ref()
        .is_some_and(|(_, meta)| meta.as_ref() == PASS_MARKER);
    let found = found.filter(|_| !marked);
    if marked && !must_fill {
        // Fetched as without a cache, the request untouched; the response says PASS.
        record.cache = Some("pass: marked uncacheable".into());
        return Start::Fetch(Caching::MarkedPass);
    }
    if let Some((found, meta)) = found {
        // An object still being written has no length yet: this request came while another
        // fills it. Once complete, its length is known.
        let (label, state) = match (must_fill, found.known_length()) {
            (true, _) => ("STALE", "stale"),
            (false, Some(_)) => ("HIT", "hit"),
            (false, None) => ("MISS, COLLAPSED", "collapsed"),
        };
        match serve(&found, &meta, head_only, label, record, clock) {
            Ok(()) => {
                record.cache = Some(state.into());
                if !must_fill {
                    return Start::Served;
                }
                serves_client = false;
            }
            Err(e) => {
                // Unreadable (another format, a host error): fetch instead, and replace
                // the object when this request may.
                log::warn!("cached object unusable: {e}");
                record.cache = Some(format!("bypass: {e}"));
                if !must_fill {
                    return Start::Fetch(Caching::Off);
                }
            }
        }
    }
    if !must_fill {
        return Start::Fetch(Caching::Off);
    }
    // The object is made from the whole GET response, whatever this client asked for.
    req.set_method(Method::GET);
    for name in PARTIAL_OR_CONDITIONAL {
        req.remove_header(name);
    }
    Start::Fetch(Caching::Fill(Fill {
        tx: Some(tx),
        settings: settings.clone(),
        key,
        surrogate,
        serves_client,
    }))
}

fn bypass(record: &mut AccessRecord, why: &str) -> Start {
    record.cache = Some(format!("bypass: {why}"));
    Start::Fetch(Caching::Off)
}

/// Everything the stored bytes depend on: the route and a digest of all its settings (a
/// changed rule makes new keys, so old output is never served), its host, the path and query
/// as forwarded, and which codings the client accepts (br, gzip and identity clients each
/// get their own object, since negotiation picks from these).
fn key(route: &Route, path: &str, query: Option<&str>, accept_encoding: Option<&str>) -> String {
    let accepted: Vec<&str> = CODINGS
        .into_iter()
        .filter(|c| accepts(accept_encoding, c))
        .collect();
    let coding = if accepted.is_empty() {
        "identity".to_string()
    } else {
        accepted.join("+")
    };
    let mut path = backend_path(route, path);
    if let Some(query) = query {
        path.push('?');
        path.push_str(query);
    }
    format!(
        "{FORMAT}\n{}\n{}\n{}\n{coding}\n{path}",
        route.name,
        settings_digest(route),
        route.host.as_deref().unwrap_or("*"),
    )
}

/// 128 bits over the route's whole parsed form: two SipHash runs apart by a prefix. Not a
/// defence against anyone (the settings are the operator's), only a name for a version.
fn settings_digest(route: &Route) -> String {
    let text = format!("{route:?}");
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        text.hash(&mut h);
        h.finish()
    };
    format!("{:016x}{:016x}", half(1), half(2))
}

/// A surrogate key naming exactly this object, to purge it when its body fails.
fn surrogate_key(key: &[u8]) -> String {
    let half = |salt: u8| {
        let mut h = DefaultHasher::new();
        salt.hash(&mut h);
        key.hash(&mut h);
        h.finish()
    };
    format!("fb-{:016x}{:016x}", half(1), half(2))
}

/// Sends a stored object: its head from `meta` (the object's metadata), its body appended
/// host-side.
fn serve(
    found: &Found,
    meta: &[u8],
    head_only: bool,
    label: &str,
    record: &mut AccessRecord,
    clock: &Clock,
) -> Result<(), String> {
    let (status, fields) = decode_head(meta)?;
    let mut resp = Response::from_status(status);
    for (name, value) in fields {
        resp.append_header(name, value);
    }
    if let Some(length) = found.known_length() {
        // A complete object's length is known: the client gets it (for progress, and so a
        // HEAD says what a GET sends), where the host would otherwise send a hit chunked.
        resp.set_header("content-length", length.to_string());
    }
    if resp.contains_header("content-length") {
        // Complete, or declared before its body: the length goes out as it is. A body that
        // then falls short is cut, never complete.
        resp.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
    }
    resp.set_header("age", found.age().as_secs().to_string());
    resp.set_header("x-cache", label);
    let desc = label.rsplit(' ').next().unwrap_or(label);
    resp.append_header(
        "server-timing",
        format!(
            "{}, cache;desc={desc}",
            server_timing(Duration::ZERO, clock.elapsed())
        ),
    );
    if !head_only {
        let body = found
            .to_stream()
            .map_err(|e| format!("cache body unavailable: {e}"))?;
        resp.set_body(body);
        record.body = BodyPath::Append;
        record.bytes_out = found.known_length();
    } else {
        record.bytes_out = Some(0);
    }
    record.headers_sent(status.as_u16(), clock);
    resp.send_to_client();
    Ok(())
}

/// Why a response may not become an object, if it may not.
fn uncacheable(resp: &Response, output_length: Option<u64>, max_bytes: u64) -> Option<String> {
    if resp.get_status() != StatusCode::OK {
        return Some(format!("status {}", resp.get_status().as_u16()));
    }
    let directives = resp.header_values("cache-control");
    for d in directives.iter().flat_map(|v| v.split(',')) {
        let name = d.split('=').next().unwrap_or("").trim();
        // no-cache asks for revalidation before every use, which this cache never does.
        let refused = name.eq_ignore_ascii_case("no-store")
            || name.eq_ignore_ascii_case("private")
            || name.eq_ignore_ascii_case("no-cache");
        if refused {
            return Some(format!("cache-control {}", name.to_ascii_lowercase()));
        }
    }
    if resp.contains_header("set-cookie") {
        return Some("set-cookie".into());
    }
    let vary = resp.header_values("vary");
    if let Some(other) = vary
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .find(|t| !t.is_empty() && !t.eq_ignore_ascii_case("accept-encoding"))
    {
        return Some(format!("vary {other}"));
    }
    if output_length.is_some_and(|n| n > max_bytes) {
        return Some("larger than cache_max_bytes".into());
    }
    None
}

impl Fill {
    /// Whether this response (head final, before Server-Timing) may become the object.
    /// `output_length` is the body's length when it is known before the body (untouched and
    /// declared). Refused, the insertion is cancelled and the log says why.
    fn admit(
        mut self,
        resp: &mut Response,
        output_length: Option<u64>,
        record: &mut AccessRecord,
    ) -> Option<Admitted> {
        if let Some(why) = uncacheable(resp, output_length, self.settings.max_bytes) {
            if self.serves_client {
                record.cache = Some(format!("uncacheable: {why}"));
                resp.set_header("x-cache", "PASS");
            }
            if let Some(tx) = self.tx.take() {
                mark_pass(
                    tx.insert(pass_ttl(&self.settings))
                        .surrogate_keys([self.surrogate.as_str()])
                        .user_metadata(Bytes::from_static(PASS_MARKER))
                        .execute(),
                );
            }
            return None;
        }
        // The key holds the client's codings, so the response depends on them.
        headers::vary_on_accept_encoding(resp);
        let head = encode_head(resp);
        let tx = self.tx.take()?;
        if self.serves_client {
            record.cache = Some("miss".into());
            resp.set_header("x-cache", "MISS");
        }
        Some(Admitted {
            tx,
            settings: self.settings.clone(),
            key: self.key.clone(),
            surrogate: std::mem::take(&mut self.surrogate),
            serves_client: self.serves_client,
            head,
        })
    }
}

/// A response that will become the object.
pub struct Admitted {
    tx: Transaction,
    settings: CacheSettings,
    key: Bytes,
    surrogate: String,
    serves_client: bool,
    head: Bytes,
}

impl Admitted {
    /// Starts the insertion, sends the head to the client (unless a stale copy already
    /// answered it), and copies the body to both through `opts`' pipeline.
    pub fn fill(
        self,
        resp: Response,
        body: Body,
        client_body: bool,
        opts: PumpOptions,
        record: &mut AccessRecord,
        clock: &Clock,
    ) {
        let inserted = self
            .tx
            .insert(Duration::from_secs(u64::from(self.settings.ttl)))
            .stale_while_revalidate(Duration::from_secs(u64::from(
                self.settings.stale_while_revalidate,
            )))
            .surrogate_keys([self.surrogate.as_str()])
            .user_metadata(self.head)
            .execute();
        let cache = match inserted {
            Ok(writer) => Some(writer),
            Err(e) => {
                // The client still gets its response; nothing is stored.
                log::warn!("cache insertion failed: {e}");
                record.cache = Some(format!("uncacheable: insertion failed: {e}"));
                None
            }
        };
        let client = if !self.serves_client {
            None
        } else if client_body {
            let out = resp.stream_to_client();
            record.headers_sent(200, clock);
            Some(out)
        } else {
            record.headers_sent(200, clock);
            record.bytes_out = Some(0);
            resp.send_to_client();
            None
        };
        record.body = BodyPath::Pump;
        let mut tee = Tee {
            client,
            cache,
            stored: 0,
            max_bytes: self.settings.max_bytes,
            dropped: None,
        };
        let result = pump(body, &mut tee, opts);
        let Tee {
            client,
            cache,
            dropped,
            ..
        } = tee;
        let dropped_for_size = dropped.is_some();
        match result {
            Ok(sent) => {
                if client_body && self.serves_client {
                    record.bytes_out = Some(sent);
                }
                let mut failed = dropped;
                if let Some(cache) = cache {
                    if let Err(e) = cache.finish() {
                        failed = Some(format!("finishing the object failed: {e}"));
                    }
                }
                if let Some(why) = failed {
                    record.cache = Some(format!("uncacheable: {why}"));
                    purge(&self.surrogate);
                    if dropped_for_size {
                        // The next requests fetch at once instead of collapsing onto an
                        // object that would be dropped again.
                        mark_pass(
                            fastly::cache::core::insert(self.key, pass_ttl(&self.settings))
                                .surrogate_keys([self.surrogate.as_str()])
                                .user_metadata(Bytes::from_static(PASS_MARKER))
                                .execute(),
                        );
                    }
                }
                if let Some(out) = client {
                    if let Err(e) = out.finish() {
                        record.aborted(format!("finishing the response failed: {e}"));
                    }
                }
            }
            Err((sent, reason)) => {
                log::warn!("{} {}: aborted: {reason}", record.method, record.path);
                if let Some(cache) = cache {
                    cache.abandon().ok();
                }
                purge(&self.surrogate);
                if let Some(out) = client {
                    record.bytes_out = Some(sent);
                    out.abandon().ok();
                }
                record.aborted(reason);
            }
        }
    }
}

fn pass_ttl(settings: &CacheSettings) -> Duration {
    PASS_TTL.min(Duration::from_secs(u64::from(settings.ttl)))
}

/// Finishes a [`PASS_MARKER`] object, which has no body.
fn mark_pass(inserted: Result<StreamingBody, CacheError>) {
    match inserted.map(StreamingBody::finish) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::warn!("finishing a pass marker failed: {e}"),
        Err(e) => log::warn!("inserting a pass marker failed: {e}"),
    }
}

/// Removes an object whose body failed (see the module comment for why it is needed).
fn purge(surrogate: &str) {
    if let Err(e) = fastly::http::purge::purge_surrogate_key(surrogate) {
        log::warn!("purging a failed cache object failed: {e}");
    }
}

/// Each output chunk to the client (when there is one) and to the cache writer. The client
/// decides: its write failing fails the copy (and so abandons the object, which must not
/// outlive a body nobody saw complete); the cache failing, or the object outgrowing
/// `max_bytes`, only drops the object.
struct Tee {
    client: Option<StreamingBody>,
    cache: Option<StreamingBody>,
    stored: u64,
    max_bytes: u64,
    /// Why the object was dropped on the way, if it was.
    dropped: Option<String>,
}

impl Tee {
    fn drop_object(&mut self, why: String) {
        if let Some(cache) = self.cache.take() {
            cache.abandon().ok();
        }
        self.dropped = Some(why);
    }
}

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = match &mut self.client {
            Some(client) => client.write(buf)?,
            None => buf.len(),
        };
        let piece = buf.get(..n).unwrap_or(buf);
        if self.cache.is_some() {
            self.stored += piece.len() as u64;
            if self.stored > self.max_bytes {
                self.drop_object("larger than cache_max_bytes".into());
            } else if let Some(Err(e)) = self.cache.as_mut().map(|c| c.write_all(piece)) {
                self.drop_object(format!("cache write failed: {e}"));
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(Err(e)) = self.cache.as_mut().map(Write::flush) {
            self.drop_object(format!("cache write failed: {e}"));
        }
        match &mut self.client {
            Some(client) => client.flush(),
            None => Ok(()),
        }
    }
}

/// The stored head: `FORMAT`, the status, then one `name: value` line per field. Values
/// cannot hold line breaks (RFC 9110 §5.5), so lines need no escaping.
fn encode_head(resp: &Response) -> Bytes {
    let mut out = Vec::new();
    out.extend_from_slice(FORMAT.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(resp.get_status().as_str().as_bytes());
    out.push(b'\n');
    for (name, value) in resp.get_headers() {
        if NOT_STORED.contains(&name.as_str()) {
            continue;
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.push(b'\n');
    }
    Bytes::from(out)
}

type Head = (StatusCode, Vec<(String, fastly::http::HeaderValue)>);

fn decode_head(meta: &[u8]) -> Result<Head, String> {
    let mut lines = meta.split(|b| *b == b'\n');
    if lines.next() != Some(FORMAT.as_bytes()) {
        return Err("metadata of another format".into());
    }
    let status = lines
        .next()
        .and_then(|s| StatusCode::from_bytes(s).ok())
        .ok_or("metadata without a status")?;
    let mut fields = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let at = line
            .windows(2)
            .position(|w| w == b": ")
            .ok_or("metadata line without a field")?;
        let name = std::str::from_utf8(&line[..at]).map_err(|_| "metadata field name")?;
        let value = fastly::http::HeaderValue::from_bytes(&line[at + 2..])
            .map_err(|_| "metadata field value")?;
        fields.push((name.to_string(), value));
    }
    Ok((status, fields))
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    fn route(rules: &'static str) -> Result<Route, Box<dyn std::error::Error>> {
        let source = firstbyte_config::MapSource::new(
            [
                ("route.c.prefix", "/c/"),
                ("route.c.backend", "origin"),
                ("route.c.strip_prefix", "true"),
                ("route.c.transforms", "replace"),
                ("route.c.replace", rules),
                ("route.c.cache_ttl", "60"),
            ],
            ["origin"],
        );
        Route::parse("c", &source).map_err(|e| format!("{e:?}").into())
    }

    #[test]
    fn a_rule_change_changes_every_key() -> TestResult {
        let before = route(r#"{"rules": [["a", "b"]]}"#)?;
        let after = route(r#"{"rules": [["a", "c"]]}"#)?;
        let k = |r: &Route, path, query, ae| key(r, path, query, ae);
        assert_eq!(
            k(&before, "/c/x", Some("q=1"), Some("br")),
            k(
                &route(r#"{"rules": [["a", "b"]]}"#)?,
                "/c/x",
                Some("q=1"),
                Some("br")
            ),
            "the same settings make the same key"
        );
        assert_ne!(
            k(&before, "/c/x", None, Some("br")),
            k(&after, "/c/x", None, Some("br"))
        );
        Ok(())
    }

    #[test]
    fn the_key_holds_path_query_and_accepted_codings() -> TestResult {
        let r = route(r#"{"rules": [["a", "b"]]}"#)?;
        let br = key(&r, "/c/x", None, Some("br"));
        assert!(br.ends_with("\nbr\n/x"), "{br}");
        assert_ne!(br, key(&r, "/c/x", None, Some("gzip")));
        assert_ne!(br, key(&r, "/c/x", None, None));
        assert_ne!(
            key(&r, "/c/x", None, None),
            key(&r, "/c/x", Some("a=1"), None)
        );
        assert!(key(&r, "/c/x", None, None).contains("\nidentity\n"));
        assert_ne!(
            surrogate_key(br.as_bytes()),
            surrogate_key(key(&r, "/c/y", None, Some("br")).as_bytes())
        );
        Ok(())
    }

    #[test]
    fn a_head_survives_its_round_trip() -> TestResult {
        let mut resp = Response::from_status(StatusCode::OK);
        resp.set_header("content-type", "text/html; charset=utf-8");
        resp.append_header("link", "</a>; rel=preload");
        resp.append_header("link", "</b>; rel=preload");
        resp.set_header("content-length", "12");
        resp.set_header("age", "3");
        let (status, fields) = decode_head(&encode_head(&resp))?;
        assert_eq!(status, StatusCode::OK);
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            ["content-type", "link", "link", "content-length"],
            "age is per delivery; a declared length is the object's"
        );
        assert_eq!(fields[2].1, "</b>; rel=preload");
        Ok(())
    }

    #[test]
    fn unreadable_metadata_is_an_error_not_a_panic() {
        assert!(decode_head(b"").is_err());
        assert!(decode_head(b"other/1\n200\n").is_err());
        assert!(decode_head(b"firstbyte-cache/1\nxyz\n").is_err());
        assert!(decode_head(b"firstbyte-cache/1\n200\nno separator\n").is_err());
    }

    #[test]
    fn a_pass_marker_never_outlives_the_route_ttl() {
        let settings = |ttl| CacheSettings {
            ttl,
            stale_while_revalidate: 0,
            max_bytes: 1,
        };
        assert_eq!(pass_ttl(&settings(3)), Duration::from_secs(3));
        assert_eq!(pass_ttl(&settings(3600)), PASS_TTL);
        // Not a head a stored object could have: a marker is never served as one.
        assert!(decode_head(PASS_MARKER).is_err());
    }

    #[test]
    fn what_may_not_be_stored_says_why() {
        let with = |name: &str, value: &str| {
            let mut r = Response::from_status(StatusCode::OK);
            r.set_header(name, value);
            uncacheable(&r, None, 100)
        };
        assert_eq!(with("x", "y"), None);
        assert_eq!(with("vary", "Accept-Encoding"), None);
        assert!(with("cache-control", "max-age=60, no-store").is_some());
        assert!(with("cache-control", "private=\"x\"").is_some());
        assert!(with("cache-control", "No-Cache").is_some());
        assert_eq!(with("cache-control", "public, max-age=0"), None);
        assert!(with("set-cookie", "a=b").is_some());
        assert!(with("vary", "accept-encoding, cookie").is_some());
        assert!(with("vary", "*").is_some());
        let r = Response::from_status(StatusCode::NOT_FOUND);
        assert!(uncacheable(&r, None, 100).is_some());
        let r = Response::from_status(StatusCode::OK);
        assert!(uncacheable(&r, Some(101), 100).is_some());
        assert_eq!(uncacheable(&r, Some(100), 100), None);
    }
}
