//! Writing the cache: objects (inserted, refreshed by a 304, restored), markers, and the
//! fill's body, copied into the object at the origin's pace whoever reads it.
//!
//! A body that fails in any way is abandoned and its insertion purged: the object must never
//! exist. The purge matters on Viceroy, which keeps an abandoned object in the cache (its body
//! ends in an error for every later reader) until it expires; on Fastly it is harmless.

use std::io::{self, Write};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fastly::cache::core::{self, CacheError, Found, Transaction};
use fastly::handle::BodyHandle;
use fastly::http::body::StreamingBody;
use fastly::http::{HeaderName, HeaderValue};
use fastly::Body;
use firstbyte_config::CacheSettings;

use super::fill_request::FillRequest;
use super::key;
use super::policy::Freshness;
use super::stored::{self, split_head, Marker, Stored};
use crate::access_log::AccessRecord;
use crate::cache_status::CacheStatus;
use crate::headers::{self, HeaderAccess};
use crate::origin::Shaped;
use crate::pump::{pump, PumpOptions, Pumping};

/// How long a marker stands. One for an uncacheable response only spares a burst the queue
/// (it never stops a storable response from being stored), so it is short; one for an object
/// that outgrew the limit keeps requests from starting objects that would be cut again.
const UNCACHEABLE_MARKER_TTL: Duration = Duration::from_secs(10);
const TOO_LARGE_MARKER_TTL: Duration = Duration::from_secs(600);

/// A response judged storable, as it is to be written.
pub struct Object {
    pub stored: Stored,
    pub freshness: Freshness,
    /// How long past its freshness the object stays (the core cache's stale window).
    pub kept_stale: Duration,
    /// The body's length, when known before it.
    pub length: Option<u64>,
    surrogate_keys: Vec<String>,
}

impl Object {
    /// The object a shaped response makes: its head as clients are to get it (varying on
    /// what the key and the variant hold), the origin's validators and surrogate keys, a key
    /// naming this insertion alone.
    pub fn new(
        shaped: &Shaped,
        freshness: Freshness,
        settings: &CacheSettings,
        fill: &FillRequest,
        key: &[u8],
    ) -> Object {
        let mut resp = shaped.resp.clone_without_body();
        // The key holds the client's codings and the variant the forwarded headers: the
        // response depends on both, whatever the origin said.
        headers::vary_on_accept_encoding(&mut resp);
        for name in fill.vary_by() {
            let existing = resp.header_values("vary");
            if let Some(vary) = headers::vary_with(&existing, name.as_str()) {
                resp.set_header("vary", vary);
            }
        }
        let fields = resp
            .get_headers()
            .map(|(name, value)| (name.as_str().to_string(), value.clone()));
        let (fields, hidden) = split_head(fields);
        let nonce = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let stored = Stored {
            status: shaped.status(),
            fields,
            hidden,
            stale_while_revalidate: freshness.stale_while_revalidate.as_secs(),
            stale_if_error: freshness.stale_if_error.as_secs(),
            must_revalidate: freshness.must_revalidate,
            origin_etag: shaped.origin_etag.clone(),
            origin_last_modified: shaped.origin_last_modified.clone(),
            transformed: shaped.plan.is_some(),
            object_key: key::object_surrogate(key, nonce),
            template: shaped.compose.is_some(),
            length: None,
        };
        Object::of(stored, freshness, settings, fill, shaped.output_length())
    }

    /// An object of a stored head, as a 304 left it or as it is restored; `length` is its
    /// body's, when known.
    pub fn of(
        mut stored: Stored,
        freshness: Freshness,
        settings: &CacheSettings,
        fill: &FillRequest,
        length: Option<u64>,
    ) -> Object {
        if stored.length.is_none() {
            stored.length = length;
        }
        let kept_stale = freshness.kept_stale(stored.has_validator(), settings.keep);
        let mut surrogate_keys = vec![stored.object_key.clone()];
        // Without the URL's key no unsafe request, of this route or any other whose answer
        // names the URL, can reach the object: what `cache_invalidate = off` promises.
        if settings.invalidate {
            surrogate_keys.push(fill.url_key.clone());
        }
        surrogate_keys.extend(stored::origin_surrogate_keys(&stored));
        Object {
            stored,
            freshness,
            kept_stale,
            length,
            surrogate_keys,
        }
    }

    fn keys(&self) -> impl Iterator<Item = &str> {
        self.surrogate_keys.iter().map(String::as_str)
    }
}

/// Sets a write's vary rule ([`FillRequest::vary_on`] of the `Vary` it answers with), when it
/// has one: Viceroy refuses an empty rule (it reads it as one header with an empty name),
/// and it would mean nothing.
macro_rules! varying {
    ($builder:expr, $fill:expr, $vary:expr) => {{
        let builder = $builder;
        let vary = $fill.vary_on($vary);
        if vary.is_empty() {
            builder
        } else {
            builder.vary_by(vary.iter())
        }
    }};
}

/// The options every write of an object sets, on any of the core cache's builders.
macro_rules! object_options {
    ($builder:expr, $object:expr, $fill:expr) => {
        varying!(
            $builder
                .stale_while_revalidate($object.kept_stale)
                .surrogate_keys($object.keys())
                .user_metadata(Bytes::from($object.stored.encode())),
            $fill,
            &$object.stored.lines("vary")
        )
    };
}

/// Inserts the object its transaction obliged this request to make; the client reads it
/// through the returned [`Found`], as every other reader does.
pub fn insert_and_stream_back(
    tx: Transaction,
    object: &Object,
    fill: &FillRequest,
) -> Result<(StreamingBody, Found), CacheError> {
    let mut builder = object_options!(tx.insert(object.freshness.lifetime), object, fill)
        .initial_age(object.freshness.age);
    if let Some(length) = object.length {
        builder = builder.known_length(length);
    }
    builder.execute_and_stream_back()
}

/// Inserts a refreshed object, which nobody reads through this request.
pub fn insert(
    tx: Transaction,
    object: &Object,
    fill: &FillRequest,
) -> Result<StreamingBody, CacheError> {
    let mut builder = object_options!(tx.insert(object.freshness.lifetime), object, fill)
        .initial_age(object.freshness.age);
    if let Some(length) = object.length {
        builder = builder.known_length(length);
    }
    builder.execute()
}

/// Inserts an object outside any transaction (where a marker stood, or to restore one), and
/// looks it up again for the client to read.
pub fn insert_beside(
    key: &Bytes,
    object: &Object,
    fill: &FillRequest,
) -> Result<(StreamingBody, Option<Found>), CacheError> {
    let mut builder = core::insert(key.clone(), object.freshness.lifetime);
    for (name, values) in fill.variant() {
        builder = builder.header_values(name, values.iter());
    }
    let mut builder = object_options!(builder, object, fill).initial_age(object.freshness.age);
    if let Some(length) = object.length {
        builder = builder.known_length(length);
    }
    let writer = builder.execute()?;
    Ok((writer, lookup(key, fill)?))
}

/// A lookup outside any transaction: it never waits and never obliges.
pub fn lookup(key: &Bytes, fill: &FillRequest) -> Result<Option<Found>, CacheError> {
    let mut builder = core::lookup(key.clone()).always_use_requested_range();
    for (name, values) in fill.variant() {
        builder = builder.header_values(name, values.iter());
    }
    builder.execute()
}

/// Refreshes a stale object's head and freshness after a 304, keeping its body (RFC 9111
/// §4.3.4): nothing is fetched or transformed again.
pub fn update(tx: Transaction, object: &Object, fill: &FillRequest) -> Result<(), CacheError> {
    object_options!(tx.update(object.freshness.lifetime), object, fill)
        .age(object.freshness.age)
        .execute()
}

/// Puts a stale object back after a refresh that replaced it failed on the way, with what
/// is left of its life: serving stale promised the clients a copy until its window ends.
pub fn restore(key: &Bytes, found: &Found, object: &Object, fill: &FillRequest) {
    let restored = (|| -> Result<(), String> {
        let body = found.to_stream().map_err(|e| e.to_string())?;
        let mut builder = core::insert(key.clone(), found.max_age());
        for (name, values) in fill.variant() {
            builder = builder.header_values(name, values.iter());
        }
        let mut builder = object_options!(builder, object, fill).initial_age(found.age());
        if let Some(length) = found.known_length() {
            builder = builder.known_length(length);
        }
        let mut writer = builder.execute().map_err(|e| e.to_string())?;
        // Copied through the app, not appended: an append that fails panics in the fastly
        // crate.
        let opts = PumpOptions {
            read_size: 64 * 1024,
            between_bytes: None,
            declared_length: found.known_length(),
            pipeline: None,
        };
        match pump(body, &mut writer, opts) {
            Ok(_) => writer.finish().map_err(|e| e.to_string()),
            Err((_, why)) => {
                writer.abandon().ok();
                Err(why)
            }
        }
    })();
    if let Err(e) = restored {
        log::warn!("restoring a stale object failed: {e}");
    }
}

/// The key of the object that lists a template's includes beside it.
fn includes_key(key: &Bytes) -> Bytes {
    let mut k = key.to_vec();
    k.extend_from_slice(b"\nincludes");
    Bytes::from(k)
}

/// The includes a page made of the template at `key` found, in order, when one was listed:
/// a hint, so a mismatch costs only requests.
pub fn includes(key: &Bytes) -> Vec<String> {
    match core::lookup(includes_key(key)).execute() {
        Ok(Some(found)) => String::from_utf8_lossy(&found.user_metadata())
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Lists a template's includes beside it (the core cache fixes an object's metadata when its
/// insertion starts, before the template's text, and so its includes, are known), for as
/// long as the template is fresh, and purged with it.
pub fn list_includes(key: &Bytes, includes: &[String], lifetime: Duration, object_key: &str) {
    let metadata = Bytes::from(includes.join("\n"));
    let inserted = core::insert(includes_key(key), lifetime)
        .surrogate_keys([object_key])
        .user_metadata(metadata)
        .execute();
    match inserted.map(StreamingBody::finish) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::warn!("finishing an include list failed: {e}"),
        Err(e) => log::warn!("listing a template's includes failed: {e}"),
    }
}

/// Leaves a marker where the obligation was (see [`Marker`]), for the variant of the request
/// that made it: without the fill's vary rule, a marker matches every variant's lookup and
/// hides the objects of all the others. `vary` is the answer's own `Vary`, so a marker for
/// one value of a forwarded header it names leaves the other values' objects alone.
pub fn mark(tx: Transaction, marker: Marker, fill: &FillRequest, vary: &[String]) {
    let builder = varying!(tx.insert(marker_ttl(marker)), fill, vary)
        .user_metadata(Bytes::from(marker.metadata()));
    finish_marker(builder.execute());
}

/// Leaves a marker outside any transaction for the variant `variant`.
fn mark_variant(key: &Bytes, marker: Marker, variant: &[(HeaderName, Vec<HeaderValue>)]) {
    let mut builder = core::insert(key.clone(), marker_ttl(marker));
    for (name, values) in variant {
        builder = builder.header_values(name, values.iter());
    }
    let builder = if variant.is_empty() {
        builder
    } else {
        builder.vary_by(variant.iter().map(|(n, _)| n))
    };
    finish_marker(
        builder
            .user_metadata(Bytes::from(marker.metadata()))
            .execute(),
    );
}

fn marker_ttl(marker: Marker) -> Duration {
    match marker {
        Marker::Uncacheable => UNCACHEABLE_MARKER_TTL,
        Marker::TooLarge => TOO_LARGE_MARKER_TTL,
    }
}

fn finish_marker(inserted: Result<StreamingBody, CacheError>) {
    match inserted.map(StreamingBody::finish) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => log::warn!("finishing a cache marker failed: {e}"),
        Err(e) => log::warn!("inserting a cache marker failed: {e}"),
    }
}

/// Removes one insertion (see the module comment for why it is needed).
pub fn purge(surrogate: &str) {
    if let Err(e) = fastly::http::purge::purge_surrogate_key(surrogate) {
        log::warn!("purging a cache object failed: {e}");
    }
}

/// Why writing an object's body failed.
pub struct WriteFailure {
    pub reason: String,
    /// The object outgrew `cache_max_bytes`, rather than its body failing.
    pub too_large: bool,
}

/// A fill's body being written into its object, through its pipeline, at the origin's pace:
/// no client is written to, so none can slow or cut it. Run to its end ([`Filling::run`]), or
/// stepped by a loop that waits on many bodies at once ([`Filling::step`]).
pub struct Filling {
    pumping: Pumping,
    object: Capped,
    /// What a failure purges, and where a too-large marker goes.
    object_key: String,
    key: Bytes,
    variant: Vec<(HeaderName, Vec<HeaderValue>)>,
}

impl Filling {
    pub fn new(
        writer: StreamingBody,
        body: Body,
        opts: PumpOptions,
        max_bytes: u64,
        object: &Object,
        key: &Bytes,
        fill: &FillRequest,
    ) -> Filling {
        Filling {
            pumping: Pumping::new(body, opts),
            object: Capped {
                writer,
                written: 0,
                max_bytes,
                too_large: false,
            },
            object_key: object.stored.object_key.clone(),
            key: key.clone(),
            variant: fill.variant().to_vec(),
        }
    }

    /// The origin body, to wait on.
    pub fn body(&self) -> &BodyHandle {
        self.pumping.body()
    }

    /// Reads and writes once; `Some` with the bytes written once the object is complete.
    pub fn step(&mut self) -> Result<Option<u64>, WriteFailure> {
        match self.pumping.step(&mut self.object) {
            Ok(None) => Ok(None),
            Ok(Some(written)) => Ok(Some(written)),
            Err((_, reason)) => Err(self.failure(reason)),
        }
    }

    /// Writes the whole body, waiting on the origin.
    pub fn run(mut self) -> Result<u64, WriteFailure> {
        loop {
            match self.step() {
                Ok(Some(written)) => return self.finish(written),
                Ok(None) => {}
                Err(failure) => {
                    self.abandon(&failure);
                    return Err(failure);
                }
            }
        }
    }

    /// Seals a complete object.
    pub fn finish(self, written: u64) -> Result<u64, WriteFailure> {
        match self.object.writer.finish() {
            Ok(()) => Ok(written),
            Err(e) => {
                let failure = WriteFailure {
                    reason: format!("finishing the object failed: {e}"),
                    too_large: false,
                };
                purge(&self.object_key);
                Err(failure)
            }
        }
    }

    /// Drops a failed object: abandoned, purged, and when it outgrew the limit a marker keeps
    /// the next requests from collapsing onto another that would be cut again.
    pub fn abandon(self, failure: &WriteFailure) {
        self.object.writer.abandon().ok();
        purge(&self.object_key);
        if failure.too_large {
            mark_variant(&self.key, Marker::TooLarge, &self.variant);
        }
    }

    fn failure(&self, reason: String) -> WriteFailure {
        let too_large = self.object.too_large;
        WriteFailure {
            reason: if too_large {
                "larger than cache_max_bytes".into()
            } else {
                reason
            },
            too_large,
        }
    }
}

/// The object's writer, refusing to grow past `max_bytes`.
struct Capped {
    writer: StreamingBody,
    written: u64,
    max_bytes: u64,
    too_large: bool,
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written + buf.len() as u64 > self.max_bytes {
            self.too_large = true;
            return Err(io::Error::other("larger than cache_max_bytes"));
        }
        let n = self.writer.write(buf)?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.writer.flush()
    }
}

/// Records how writing an object ended (its failure already purged it).
pub fn written(result: Result<u64, WriteFailure>, record: &mut AccessRecord) -> Result<(), String> {
    match result {
        Ok(written) => {
            // A client that reads the whole object gets this many bytes (host-side).
            if record.bytes_out.is_none() {
                record.bytes_out = Some(written);
            }
            Ok(())
        }
        Err(failure) => {
            log::warn!(
                "{} {}: object not stored: {}",
                record.method,
                record.path,
                failure.reason
            );
            record.cache_reason = Some(format!("not stored: {}", failure.reason));
            if matches!(
                record.cache,
                Some(CacheStatus::Miss | CacheStatus::Collapsed)
            ) {
                // This client read the object: its body was cut with it.
                record.aborted(failure.reason.clone());
            }
            Err(failure.reason)
        }
    }
}
