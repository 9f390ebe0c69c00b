//! One composed page: the template and its fragments read at once, in one loop that waits
//! on everything (the template's body, every fragment's pending request and body, the
//! client's readiness for more) with the host's `select`, and writes the page in document
//! order as it becomes known.
//!
//! Memory is bounded: bytes made but not yet their turn (fragments that finished early, the
//! template read ahead) are held up to `esi_buffer_bytes` in all; past it only the nodes on
//! the way to the next byte to send read on, and the others' reads pause. Output the client
//! has not taken yet pauses every read past a bound of its own.
//!
//! Failure: a fragment that fails (an error, a non-2xx status, its deadline) before any of
//! its bytes went out tries its `alt`, then follows `onerror="continue"` (it leaves nothing),
//! then fails its `esi:try` attempt; outside any attempt the page fails as ESI 1.0 says. Once
//! the head is out, a page that fails is abandoned: it never ends cleanly when incomplete.
//! What an `alt`, `onerror` or except replaced is dropped with every request made under it
//! ([`Tree::take_dropped`]): a fragment of an abandoned part can no longer fail the page.

use std::io::Write;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use fastly::experimental::StreamingBodyExt;
use fastly::handle::{BodyHandle, PendingRequestHandle, StreamingBodyHandle};
use fastly::http::body::StreamingBody;
use fastly::http::{HeaderValue, Url};
use fastly::{Body, Request, Response};
use firstbyte_config::chain::Plan;
use firstbyte_config::{EsiSettings, Route};
use firstbyte_transform::codec::{Encoder, Encoding};
use firstbyte_transform::esi::{Event, Include, Tokenizer, Unclosed};
use firstbyte_transform::{Pipeline, Sink};
use http::HeaderMap;
use serde::Serialize;

use super::fragment::{Client, FRAGMENT_CODINGS};
use super::tree::{Emitted, NodeId, Placing, Tree};
use crate::access_log::{AccessRecord, BodyPath};
use crate::cache::fragment::{Admitted, Cached, Lookup};
use crate::cache::{self, Filling, WriteFailure};
use crate::deadline::select;
use crate::esi;
use crate::headers::HeaderAccess;
use crate::proxy;
use crate::pump::read_into;
use crate::routing::{self, Resolver};
use crate::timing::{millis, Clock};

/// The client's output the page may hold before every read pauses.
const OUTPUT_BOUND: usize = 256 * 1024;
/// Largest write to the client, and largest read of a body.
const CHUNK: usize = 64 * 1024;
/// A read that a decoder may inflate many times over.
const DECODE_CHUNK: usize = 8 * 1024;
/// How often a lookup waiting for another request's fill is asked again (it has no handle
/// a select could wait on).
const LOOKUP_POLL: Duration = Duration::from_millis(1);

/// What the access log says of a page's fragments.
#[derive(Debug, Default, Clone, Serialize)]
pub struct FragmentsLog {
    pub count: u32,
    pub failed: u32,
    pub slowest_ms: f64,
}

/// What a fragment is, beside its place in the tree.
struct Fragment {
    include: Include,
    depth: u32,
    route: Option<Rc<Route>>,
    sent_at: Instant,
    deadline: Instant,
    /// Its route's `first_byte_timeout_ms` from the request, while the head is awaited.
    head_deadline: Option<Instant>,
    tried_alt: bool,
    /// The cookies its `src` may read: those its template's route lists (`esi_cookies`).
    readable_cookies: Rc<[String]>,
}

/// Where a node's bytes come from.
enum Source {
    /// Waiting for its route's cache, where another request is to fill the object first.
    Looking(Box<Looking>),
    /// Waiting for the fragment's response head.
    Waiting(PendingRequestHandle),
    /// Reading a body (the template's, or a fragment's).
    Reading(Reader),
}

struct Looking {
    pending: Box<cache::fragment::Pending>,
    since: Instant,
    /// The fragment's request, sent uncached if the fill does not start in time.
    req: Request,
}

struct Reader {
    body: BodyHandle,
    /// Decoding and the route's stages.
    pipeline: Option<Pipeline>,
    /// The body is a template itself (a fragment whose route composes, or the page's).
    tokenizer: Option<Tokenizer>,
    declared: Option<u64>,
    received: u64,
    chunk: usize,
    /// Backend silence that fails the body (`between_bytes_timeout_ms`), and when it last
    /// spoke.
    between: Option<Duration>,
    last_read: Instant,
}

#[derive(Default)]
struct NodeState {
    source: Option<Source>,
    fragment: Option<Fragment>,
    /// Since when the page has not let this node read (its bytes wait on others' within
    /// the memory bound): time it is not charged, against its deadline or its silence.
    paused_since: Option<Instant>,
    /// The object of its route's cache that the answer is to fill.
    fill: Option<Box<cache::fragment::Fill>>,
    /// Why a fragment requested ahead of its tag failed before the tag, whose `alt`,
    /// `onerror` and `esi:try` decide what that means, was read.
    failed_ahead: Option<String>,
}

impl NodeState {
    /// The nearest of this node's deadlines and what passing it means, while its clock runs.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        if self.paused_since.is_some() {
            return None;
        }
        let fragment = self.fragment.as_ref();
        let all = fragment.map(|f| (f.deadline, "past esi_fragment_timeout_ms"));
        let step = match self.source.as_ref()? {
            Source::Looking(_) => None,
            Source::Waiting(_) => fragment.and_then(|f| f.head_deadline).map(|at| {
                (
                    at,
                    "no response head within the route's first_byte_timeout_ms",
                )
            }),
            Source::Reading(r) => r.between.map(|b| {
                (
                    r.last_read + b,
                    "the backend went quiet past between_bytes_timeout_ms",
                )
            }),
        };
        all.into_iter().chain(step).min_by_key(|(at, _)| *at)
    }
}

/// A cache object the page writes.
struct PageFill {
    filling: Filling,
    /// The template's object (else a fragment's).
    template: bool,
}

impl PageFill {
    /// Notes how the writing ended: the template's for the page's record, a fragment's
    /// failure in the log (its reader saw the body cut, and failed the fragment).
    fn ended_as(
        template: bool,
        result: Result<u64, WriteFailure>,
        filled: &mut Vec<Result<u64, WriteFailure>>,
    ) {
        match result {
            _ if template => filled.push(result),
            Err(failure) => log::warn!("a fragment's object not stored: {}", failure.reason),
            Ok(_) => {}
        }
    }
}

/// The page being composed.
struct Page<'a, 'r> {
    client: &'a Client,
    resolver: &'a mut Resolver<'r>,
    settings: &'a EsiSettings,
    tree: Tree,
    nodes: Vec<NodeState>,
    requests: u32,
    /// The client's body, once the head is out.
    out: Option<StreamingBodyHandle>,
    encoder: Option<Pipeline>,
    pending: std::collections::VecDeque<Bytes>,
    pending_bytes: usize,
    log: FragmentsLog,
    timings: Vec<(String, Duration)>,
    /// Cache objects this page's request is writing (its template's, its fragments'), at
    /// the origin's pace.
    fills: Vec<PageFill>,
    /// How the template's ended.
    filled: Vec<Result<u64, WriteFailure>>,
    /// Includes of the template requested ahead of its text, in order, waiting for their tags.
    ahead: std::collections::VecDeque<(String, NodeId)>,
    /// The template's own includes as its text gives them.
    includes: Vec<String>,
    /// When the first fragment request left.
    first_sent: Option<Instant>,
}

/// Composes the page whose template is `body`, the head `resp` (already the composed page's)
/// going out at once. `plan` makes the template's text; `output` is the page's coding.
#[allow(clippy::too_many_arguments)]
pub fn compose(
    client: &Client,
    resolver: &mut Resolver,
    route: &Route,
    resp: Response,
    body: Body,
    plan: Option<Plan>,
    declared: Option<u64>,
    output: Encoding,
    record: &mut AccessRecord,
    clock: &Clock,
    filling: Option<Filling>,
    ahead: Vec<String>,
) -> Composed {
    let Some(settings) = &route.esi else {
        return Composed::default();
    };
    let template = match plan.map(|p| p.pipeline(route.chain.as_ref())).transpose() {
        Ok(template) => template,
        Err(e) => {
            record.aborted(format!("template stages: {e}"));
            return Composed::default();
        }
    };
    let encoder = match output {
        Encoding::Identity => None,
        coding => match Encoder::new(coding, None) {
            Ok(e) => Some(Pipeline::new(vec![Box::new(e)])),
            Err(e) => {
                record.aborted(format!("page encoder: {e}"));
                return Composed::default();
            }
        },
    };
    let decoding = plan.is_some_and(|p| p.decode.is_some());
    let mut names: Vec<&str> = template.as_ref().map(Pipeline::names).unwrap_or_default();
    names.push("esi");
    names.extend(encoder.as_ref().map(Pipeline::names).unwrap_or_default());
    record.transforms = Some(names.join(">"));
    let mut page = Page {
        client,
        resolver,
        settings,
        tree: Tree::new(),
        nodes: vec![NodeState {
            source: Some(Source::Reading(Reader {
                body: body.into_handle(),
                pipeline: template,
                tokenizer: Some(Tokenizer::new()),
                declared,
                received: 0,
                chunk: if decoding { DECODE_CHUNK } else { CHUNK },
                between: route.between_bytes_timeout,
                last_read: Instant::now(),
            })),
            fragment: None,
            paused_since: None,
            fill: None,
            failed_ahead: None,
        }],
        requests: 1,
        out: None,
        encoder,
        pending: Default::default(),
        pending_bytes: 0,
        log: FragmentsLog::default(),
        timings: Vec::new(),
        fills: filling
            .into_iter()
            .map(|filling| PageFill {
                filling,
                template: true,
            })
            .collect(),
        filled: Vec::new(),
        ahead: Default::default(),
        includes: Vec::new(),
        first_sent: None,
    };
    // A template whose includes are known ahead (a cached one's): each is requested before
    // the first byte of it is read, and before the head goes out.
    for src in ahead {
        let node = page.tree.detached();
        page.nodes.push(NodeState::default());
        let include = Include {
            src: src.clone(),
            alt: None,
            continue_on_error: false,
        };
        let readable = page.readable_cookies(0);
        if page.dispatch(node, include, 1, readable).is_ok() {
            page.ahead.push_back((src, node));
        }
    }
    let mut resp = resp;
    if let Some(sent) = page.first_sent {
        resp.append_header(
            "server-timing",
            format!(
                "fragment;desc=\"first request sent\";dur={}",
                millis(sent.saturating_duration_since(clock.started()))
            ),
        );
    }
    let status = resp.get_status().as_u16();
    let (resp_handle, head_body) = resp.into_handles();
    page.out = Some(resp_handle.stream_to_client(head_body));
    record.headers_sent(status, clock);
    record.body = BodyPath::Pump;
    let result = page.run();
    let Page {
        out,
        log,
        timings,
        fills,
        mut filled,
        includes,
        ..
    } = page;
    let Some(out) = out else {
        return Composed::default();
    };
    record.fragments = Some(log);
    let complete_page = result.is_ok();
    // The objects being written go on at the origin's pace once the page is out, or gone.
    let finish_fills = |fills: Vec<PageFill>, filled: &mut Vec<Result<u64, WriteFailure>>| {
        for PageFill { filling, template } in fills {
            PageFill::ended_as(template, filling.run(), filled);
        }
    };
    match result {
        Ok(sent) => {
            record.bytes_out = Some(sent);
            let mut trailers = HeaderMap::new();
            let timing: Vec<String> = timings
                .iter()
                .map(|(src, d)| format!("fragment;desc=\"{}\";dur={}", quoted(src), millis(*d)))
                .collect();
            if let Ok(value) = HeaderValue::from_str(&timing.join(", ")) {
                if !timing.is_empty() {
                    trailers.insert("server-timing", value);
                }
            }
            if let Err(e) = StreamingBody::from(out).finish_with_trailers(&trailers) {
                record.aborted(format!("finishing the page failed: {e}"));
            }
        }
        Err(reason) => {
            log::warn!(
                "{} {}: page abandoned: {reason}",
                record.method,
                record.path
            );
            record.aborted(reason);
            StreamingBody::from(out).abandon().ok();
        }
    }
    finish_fills(fills, &mut filled);
    let stored = !filled.is_empty() && filled.iter().all(Result::is_ok);
    for result in filled {
        let _ = crate::cache::written(result, record);
    }
    Composed {
        includes,
        stored,
        complete: complete_page,
    }
}

/// What a composed page leaves to the cache.
#[derive(Debug, Default)]
pub struct Composed {
    /// The template's own includes (outside except blocks), in order, as written.
    pub includes: Vec<String>,
    /// The template's object this page's request wrote is complete.
    pub stored: bool,
    /// The page went out whole.
    pub complete: bool,
}

impl Page<'_, '_> {
    /// Runs the page to its end; the bytes written, or why it was abandoned.
    fn run(&mut self) -> Result<u64, String> {
        let mut sent = 0u64;
        loop {
            let done = self.emit()?;
            if done {
                let mut tail: Sink = Vec::new();
                if let Some(encoder) = &mut self.encoder {
                    encoder
                        .finish(&mut tail)
                        .map_err(|e| format!("page encoder: {e}"))?;
                }
                let out = self.out.as_mut().ok_or("the head never went out")?;
                for bytes in self.pending.drain(..).chain(tail) {
                    sent += bytes.len() as u64;
                    out.write_all(&bytes)
                        .map_err(|e| format!("client write failed: {e}"))?;
                }
                return Ok(sent);
            }
            // Everything that may be waited on now, with what each is.
            let mut handles: Vec<u32> = Vec::new();
            let mut what: Vec<Ready> = Vec::new();
            if let (false, Some(out)) = (self.pending.is_empty(), &self.out) {
                // SAFETY: the number is used for this one select only.
                handles.push(unsafe { out.as_u32() });
                what.push(Ready::Client);
            }
            for (i, fill) in self.fills.iter().enumerate() {
                // SAFETY: the number is used for this one select only.
                handles.push(unsafe { fill.filling.body().as_u32() });
                what.push(Ready::Fill(i));
            }
            let readers = self.readers();
            self.pause_all_but(&readers);
            for id in readers {
                match &self.nodes[id].source {
                    Some(Source::Waiting(pending)) => handles.push(pending.as_u32()),
                    // SAFETY: as above.
                    Some(Source::Reading(r)) => handles.push(unsafe { r.body.as_u32() }),
                    // A lookup has no handle to wait on: it is polled.
                    Some(Source::Looking(_)) | None => continue,
                }
                what.push(Ready::Node(id));
            }
            let now = Instant::now();
            let looking = self
                .nodes
                .iter()
                .any(|n| matches!(n.source, Some(Source::Looking(_))));
            let poll = looking.then(|| now + LOOKUP_POLL);
            let deadline = self.next_deadline().into_iter().chain(poll).min();
            if let ([_], [Ready::Node(id)], None) = (&handles[..], &what[..], deadline) {
                // One body and nothing else to wait for: a plain read, which waits itself.
                // Viceroy loses a body's error when a select waits on it, and the body then
                // seems to end cleanly; a read keeps it.
                self.step(*id)?;
                continue;
            }
            if handles.is_empty() {
                match deadline {
                    Some(at) => std::thread::sleep(at.saturating_duration_since(now)),
                    None => return Err("the page waits on nothing and is not complete".into()),
                }
            } else {
                let timeout = deadline.map(|at| at.saturating_duration_since(now));
                if let Some(i) = select(&handles, timeout)? {
                    match what.get(i) {
                        Some(Ready::Client) => sent += self.write_one()?,
                        Some(Ready::Node(id)) => self.step(*id)?,
                        Some(Ready::Fill(i)) => self.fill(*i),
                        None => {}
                    }
                }
            }
            self.expire()?;
            if looking {
                self.poll_lookups()?;
            }
        }
    }

    /// Writes what the origin sent into a cache object this page reads.
    fn fill(&mut self, i: usize) {
        let Some(fill) = self.fills.get_mut(i) else {
            return;
        };
        let result = match fill.filling.step() {
            Ok(None) => return,
            Ok(Some(written)) => {
                let PageFill { filling, template } = self.fills.remove(i);
                (template, filling.finish(written))
            }
            Err(failure) => {
                let PageFill { filling, template } = self.fills.remove(i);
                filling.abandon(&failure);
                (template, Err(failure))
            }
        };
        PageFill::ended_as(result.0, result.1, &mut self.filled);
    }

    /// Emits what is the client's turn into the encoder and the output queue; whether the
    /// page is complete. Requests except blocks' includes that came into use first.
    fn emit(&mut self) -> Result<bool, String> {
        self.request_due()?;
        let mut chunks = Vec::new();
        let state = self.tree.emit(&mut chunks);
        let mut sink: Sink = Vec::new();
        for chunk in chunks {
            match &mut self.encoder {
                Some(encoder) => encoder
                    .push(chunk, &mut sink)
                    .and_then(|()| encoder.flush(&mut sink))
                    .map_err(|e| format!("page encoder: {e}"))?,
                None => sink.push(chunk),
            }
        }
        for bytes in sink.into_iter().filter(|b| !b.is_empty()) {
            self.pending_bytes += bytes.len();
            self.pending.push_back(bytes);
        }
        Ok(state == Emitted::Done)
    }

    /// Requests the includes of excepts that came into use: each is placed, then sent (a
    /// refusal may bring another except into use).
    fn request_due(&mut self) -> Result<(), String> {
        loop {
            let due = self.tree.take_requests();
            if due.is_empty() {
                return Ok(());
            }
            for (ticket, include) in due {
                // One level below the node whose except holds it, with its route's cookies.
                let owner = self.tree.owner_of(ticket).unwrap_or(0);
                let depth = self.depth(owner) + 1;
                let readable = self.readable_cookies(owner);
                let node = self.tree.detached();
                self.nodes.push(NodeState::default());
                self.tree.resolve(ticket, node);
                self.dispatch(node, include, depth, readable)?;
            }
        }
    }

    /// Forgets the requests of nodes the tree dropped: what they answer is never read, and
    /// their failure reaches nothing.
    fn forget_dropped(&mut self) {
        for id in self.tree.take_dropped() {
            if let Some(node) = self.nodes.get_mut(id) {
                node.source = None;
                node.fill = None;
                node.paused_since = None;
                node.failed_ahead = None;
            }
        }
    }

    /// The cookies a `src` in `template`'s text may read: its route's `esi_cookies`.
    fn readable_cookies(&self, template: NodeId) -> Rc<[String]> {
        let cookies = match template {
            0 => Some(&self.settings.cookies),
            _ => self.nodes[template]
                .fragment
                .as_ref()
                .and_then(|f| f.route.as_ref())
                .and_then(|r| r.esi.as_ref())
                .map(|esi| &esi.cookies),
        };
        cookies.map_or_else(|| Rc::from(Vec::new()), |c| Rc::from(c.clone()))
    }

    /// The nodes that may read now: all, within the memory bound; past it only the one the
    /// next byte to send waits on (and the fragments of an attempt it waits on).
    fn readers(&mut self) -> Vec<NodeId> {
        if self.pending_bytes > OUTPUT_BOUND {
            return self.awaiting_heads();
        }
        // A fragment requested ahead of its tag reads its body once its tag places it: bytes
        // of a listed include the template no longer has would hold the budget to the end.
        let unplaced = |i: usize| self.ahead.iter().any(|(_, node)| *node == i);
        if self.tree.buffered <= self.settings.buffer_bytes {
            return (0..self.nodes.len())
                .filter(|&i| match self.nodes[i].source {
                    Some(Source::Waiting(_) | Source::Looking(_)) => true,
                    Some(Source::Reading(_)) => !unplaced(i),
                    None => false,
                })
                .collect();
        }
        // Only the node the next byte waits on: its ancestors' text after it is read-ahead.
        let path = self.tree.waiting_path();
        let mut frontier: Vec<NodeId> = path.last().copied().into_iter().collect();
        if let Some((t, deciding)) = path.last().and_then(|&last| self.tree.blocking_try(last)) {
            let held: u64 = deciding.iter().map(|&c| self.tree.held_by(c)).sum();
            if held > self.settings.buffer_bytes {
                // An attempt goes out whole or not at all: one that outgrows the bound fails.
                self.tree.fail_attempt(t);
                self.forget_dropped();
            } else {
                frontier.extend(deciding);
            }
        }
        frontier.retain(|&i| matches!(self.nodes[i].source, Some(Source::Reading(_))));
        frontier.extend(self.awaiting_heads());
        frontier
    }

    /// The nodes awaiting a response head or a lookup. A head costs no body memory: every
    /// fragment's is taken when it comes, so a fragment's wait for its origin is never one
    /// the page imposed.
    fn awaiting_heads(&self) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&i| {
                matches!(
                    self.nodes[i].source,
                    Some(Source::Waiting(_) | Source::Looking(_))
                )
            })
            .collect()
    }

    /// Writes one queued chunk (the client is ready for it).
    fn write_one(&mut self) -> Result<u64, String> {
        let Some(mut bytes) = self.pending.pop_front() else {
            return Ok(0);
        };
        // Small pieces go out together.
        while bytes.len() < CHUNK {
            let Some(next) = self.pending.front() else {
                break;
            };
            if bytes.len() + next.len() > CHUNK {
                break;
            }
            let mut joined = BytesMut::from(&bytes[..]);
            joined.extend_from_slice(next);
            bytes = joined.freeze();
            self.pending.pop_front();
        }
        self.pending_bytes -= bytes.len();
        self.out
            .as_mut()
            .ok_or("the head never went out")?
            .write_all(&bytes)
            .map_err(|e| format!("client write failed: {e}"))?;
        Ok(bytes.len() as u64)
    }

    /// Handles a node whose source is ready.
    fn step(&mut self, id: NodeId) -> Result<(), String> {
        match self.nodes[id].source.take() {
            Some(Source::Waiting(pending)) => self.answered(id, pending),
            Some(Source::Reading(reader)) => self.read(id, reader),
            Some(looking @ Source::Looking(_)) => {
                self.nodes[id].source = Some(looking);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// A fragment's response head arrived.
    fn answered(&mut self, id: NodeId, pending: PendingRequestHandle) -> Result<(), String> {
        let Some(route) = self.route_of(id) else {
            return self.fail(id, "no route".into());
        };
        let sent_at = self.nodes[id]
            .fragment
            .as_ref()
            .map_or_else(Instant::now, |f| f.sent_at);
        let resp = match pending.wait() {
            Ok((resp, body)) => Response::from_handles(resp, body),
            Err(cause) => return self.fail(id, format!("backend failed: {cause}")),
        };
        let origin = sent_at.elapsed();
        let shaped = match self.nodes[id].fill.take() {
            Some(fill) => match fill.admit(resp, origin) {
                Ok(Admitted::Stored { filling, cached }) => {
                    self.fills.push(PageFill {
                        filling: *filling,
                        template: false,
                    });
                    return self.read_cached(id, &route, cached);
                }
                Ok(Admitted::Found(cached)) => return self.read_cached(id, &route, cached),
                Ok(Admitted::Uncached(shaped)) => *shaped,
                Err(why) => return self.fail(id, why),
            },
            None => match proxy::shape(&route, resp, origin, None) {
                Ok(shaped) => shaped,
                Err(f) => return self.fail(id, f.reason),
            },
        };
        if !shaped.status().is_success() {
            return self.fail(id, format!("status {}", shaped.status().as_u16()));
        }
        // The text of the fragment, whatever coding it was shaped for.
        let plan = esi::template_plan(
            shaped.plan,
            shaped.resp.header("content-encoding").as_deref(),
        );
        let template = shaped.compose.is_some();
        self.reading(
            id,
            &route,
            shaped.body,
            plan,
            template,
            shaped.declared_length,
        )
    }

    /// A fragment as its route's cache has it: the route's output, stored, so only its
    /// coding is undone.
    fn read_cached(
        &mut self,
        id: NodeId,
        route: &Route,
        cached: Box<Cached>,
    ) -> Result<(), String> {
        let Cached { mut resp, template } = *cached;
        if !resp.get_status().is_success() {
            return self.fail(id, format!("status {}", resp.get_status().as_u16()));
        }
        let plan = esi::template_plan(None, resp.header("content-encoding").as_deref());
        let body = resp.take_body();
        self.reading(id, route, body, plan, template, None)
    }

    /// The node reads `body`, through `plan`, as a template when it is one.
    fn reading(
        &mut self,
        id: NodeId,
        route: &Route,
        body: Body,
        plan: Option<Plan>,
        template: bool,
        declared: Option<u64>,
    ) -> Result<(), String> {
        let pipeline = match plan.map(|p| p.pipeline(route.chain.as_ref())).transpose() {
            Ok(p) => p,
            Err(e) => return self.fail(id, format!("stages: {e}")),
        };
        let decoding = plan.is_some_and(|p| p.decode.is_some());
        self.nodes[id].source = Some(Source::Reading(Reader {
            body: body.into_handle(),
            pipeline,
            tokenizer: template.then(Tokenizer::new),
            declared,
            received: 0,
            chunk: if decoding { DECODE_CHUNK } else { CHUNK },
            between: route.between_bytes_timeout,
            last_read: Instant::now(),
        }));
        Ok(())
    }

    /// Reads what a body has.
    fn read(&mut self, id: NodeId, mut reader: Reader) -> Result<(), String> {
        let mut buf = BytesMut::new();
        let n = match read_into(&reader.body, &mut buf, reader.chunk) {
            Ok(n) => n,
            Err(e) => return self.fail(id, e),
        };
        reader.last_read = Instant::now();
        let mut made: Sink = Vec::new();
        if n == 0 {
            if reader.declared.is_some_and(|d| reader.received < d) {
                return self.fail(id, "body broke off before its Content-Length".into());
            }
            if let Some(p) = &mut reader.pipeline {
                if let Err(e) = p.finish(&mut made) {
                    return self.fail(id, e.to_string());
                }
            }
            if let Some(broken) = self.made(id, &mut reader, made)? {
                return self.fail(id, broken.to_string());
            }
            let mut events = Vec::new();
            if let Some(t) = &mut reader.tokenizer {
                // A construct left open would have dropped text silently: the template is
                // broken, and fails as a failing body does.
                if let Err(open) = t.finish(&mut events) {
                    return self.fail(id, open.to_string());
                }
            }
            self.events(id, events)?;
            // An open try would otherwise end the page with the text it was holding.
            if self.tree.left_open(id) && !self.tree.is_gone(id) {
                return self.fail(id, "esi:try, esi:attempt or esi:except left open".into());
            }
            self.tree.complete(id);
            if let Some(f) = &self.nodes[id].fragment {
                let took = f.sent_at.elapsed();
                self.log.slowest_ms = self.log.slowest_ms.max(millis(took));
                self.timings.push((f.include.src.clone(), took));
            }
            return Ok(());
        }
        reader.received += n as u64;
        if reader.declared.is_some_and(|d| reader.received > d) {
            return self.fail(id, "body ran past its Content-Length".into());
        }
        let chunk = buf.freeze();
        match &mut reader.pipeline {
            Some(p) => {
                if let Err(e) = p.push(chunk, &mut made).and_then(|()| p.flush(&mut made)) {
                    return self.fail(id, e.to_string());
                }
            }
            None => made.push(chunk),
        }
        if let Some(broken) = self.made(id, &mut reader, made)? {
            return self.fail(id, broken.to_string());
        }
        // A node failed by what it read (an attempt dropped it, or it is made again from its
        // `alt`) reads no more of this body.
        if !self.tree.is_gone(id) && self.nodes[id].source.is_none() {
            self.nodes[id].source = Some(Source::Reading(reader));
        }
        Ok(())
    }

    /// Bytes a node's pipeline made: text, or a template's events. A template broken by a
    /// tag too long (it would reach the client raw) is returned, to fail as a body that
    /// breaks off does.
    fn made(
        &mut self,
        id: NodeId,
        reader: &mut Reader,
        made: Sink,
    ) -> Result<Option<Unclosed>, String> {
        match &mut reader.tokenizer {
            Some(tokenizer) => {
                let mut events = Vec::new();
                let broken = made
                    .iter()
                    .try_for_each(|bytes| tokenizer.push(bytes, &mut events));
                self.events(id, events)?;
                Ok(broken.err())
            }
            None => {
                for bytes in made {
                    self.tree.text(id, bytes);
                }
                Ok(None)
            }
        }
    }

    /// What a template said.
    fn events(&mut self, id: NodeId, events: Vec<Event>) -> Result<(), String> {
        for event in events {
            // What it read made its own part fail: the rest is abandoned with it.
            if self.tree.is_gone(id) {
                break;
            }
            match event {
                Event::Text(bytes) => self.tree.text(id, bytes),
                Event::Include(include) => {
                    if id == 0 && !self.tree.in_except(id) {
                        self.includes.push(include.src.clone());
                    }
                    match self.tree.placing(id) {
                        Placing::Never => {}
                        Placing::Later => self.tree.defer(id, include),
                        Placing::Now => {
                            if id == 0 {
                                let listed =
                                    self.ahead.iter().position(|(src, _)| *src == include.src);
                                if let Some((_, node)) = listed.and_then(|at| self.ahead.remove(at))
                                {
                                    self.place_ahead(id, node, include)?;
                                    continue;
                                }
                            }
                            let child = self.tree.include(id);
                            self.nodes.push(NodeState::default());
                            let depth = self.depth(id) + 1;
                            let readable = self.readable_cookies(id);
                            self.dispatch(child, include, depth, readable)?;
                        }
                    }
                }
                Event::TryStart => {
                    if let Err(why) = self.tree.try_start(id) {
                        return self.fail(id, why);
                    }
                }
                Event::AttemptStart => self.tree.part(id, false),
                Event::ExceptStart => self.tree.part(id, true),
                Event::TryEnd => self.tree.try_end(id),
                Event::AttemptEnd | Event::ExceptEnd => self.tree.part_end(id),
                Event::Unsupported(name) => log::debug!("esi:{name} is not supported: removed"),
                Event::Invalid(why) => log::warn!("{why}: removed"),
            }
        }
        Ok(())
    }

    fn depth(&self, id: NodeId) -> u32 {
        self.nodes[id].fragment.as_ref().map_or(0, |f| f.depth)
    }

    /// Requests the fragment of `include` for node `id`.
    fn dispatch(
        &mut self,
        id: NodeId,
        include: Include,
        depth: u32,
        readable_cookies: Rc<[String]>,
    ) -> Result<(), String> {
        self.log.count += 1;
        let now = Instant::now();
        self.nodes[id].fragment = Some(Fragment {
            include: include.clone(),
            depth,
            route: None,
            sent_at: now,
            deadline: now + self.settings.fragment_timeout,
            head_deadline: None,
            tried_alt: false,
            readable_cookies,
        });
        self.send(id, &include.src, depth)
    }

    /// Sends the request for `src` for node `id`; a refusal fails the node.
    fn send(&mut self, id: NodeId, src: &str, depth: u32) -> Result<(), String> {
        if depth > self.settings.max_depth {
            return self.fail(
                id,
                format!("nested past esi_max_depth ({})", self.settings.max_depth),
            );
        }
        if self.requests >= self.settings.max_requests {
            return self.fail(
                id,
                format!(
                    "past esi_max_fragments ({} requests)",
                    self.settings.max_requests
                ),
            );
        }
        let readable = self.nodes[id]
            .fragment
            .as_ref()
            .map(|f| Rc::clone(&f.readable_cookies))
            .unwrap_or_else(|| Rc::from(Vec::new()));
        let url = match self.client.resolve(src, &readable, self.resolver) {
            Ok(url) => url,
            Err(why) => return self.fail(id, why),
        };
        let route = match self.route_for(&url) {
            Ok(route) => route,
            Err(why) => return self.fail(id, why),
        };
        self.requests += 1;
        let req = self.client.request(&url, route.esi_credentials);
        let requested_at = Instant::now();
        self.first_sent.get_or_insert(requested_at);
        if let Some(f) = &mut self.nodes[id].fragment {
            f.route = Some(Rc::clone(&route));
            f.sent_at = requested_at;
        }
        // Through the route's cache, as a client of the fragment's URL would be.
        let lookup = match route.cache {
            Some(_) => cache::fragment::lookup(&route, &req),
            None => Lookup::Uncached("no cache"),
        };
        self.looked_up(id, &route, lookup, req, src)
    }

    /// Goes on as the fragment's route's cache says.
    fn looked_up(
        &mut self,
        id: NodeId,
        route: &Rc<Route>,
        lookup: Lookup,
        req: Request,
        src: &str,
    ) -> Result<(), String> {
        let bereq = match lookup {
            Lookup::Found(cached) => return self.read_cached(id, route, cached),
            Lookup::Pending(pending) => {
                self.nodes[id].source = Some(Source::Looking(Box::new(Looking {
                    pending,
                    since: Instant::now(),
                    req,
                })));
                return Ok(());
            }
            Lookup::Fill(fill) => {
                let bereq = fill.request();
                self.nodes[id].fill = Some(fill);
                bereq
            }
            Lookup::Uncached(why) => {
                log::debug!("fragment {src}: not through the cache: {why}");
                proxy::backend_request(route, req, Some(FRAGMENT_CODINGS))
            }
        };
        let (handle, body) = bereq.into_handles();
        let body = body.unwrap_or_else(BodyHandle::new);
        let pending = match handle.send_async(body, &route.backend) {
            Ok(pending) => pending,
            Err(cause) => {
                return self.fail(id, format!("backend '{}' failed: {cause}", route.backend))
            }
        };
        if let Some(f) = &mut self.nodes[id].fragment {
            f.head_deadline = route.first_byte_timeout.map(|limit| Instant::now() + limit);
        }
        self.nodes[id].source = Some(Source::Waiting(pending));
        Ok(())
    }

    /// Lookups that may go on: answered, or waited on past the route's `cache_wait_ms`
    /// (the fragment is then fetched without the cache).
    fn poll_lookups(&mut self) -> Result<(), String> {
        for id in 0..self.nodes.len() {
            let due = match &self.nodes[id].source {
                Some(Source::Looking(l)) => {
                    l.pending.ready() || l.since.elapsed() >= l.pending.patience()
                }
                _ => false,
            };
            let Some(Source::Looking(looking)) = self.nodes[id].source.take_if(|_| due) else {
                continue;
            };
            let Some(route) = self.route_of(id) else {
                return self.fail(id, "no route".into());
            };
            let lookup = if looking.pending.ready() {
                looking.pending.finish()
            } else {
                Lookup::Uncached(cache::WAIT_EXPIRED)
            };
            let src = self.nodes[id]
                .fragment
                .as_ref()
                .map(|f| f.include.src.clone())
                .unwrap_or_default();
            self.looked_up(id, &route, lookup, looking.req, &src)?;
        }
        Ok(())
    }

    /// The route a fragment's request went to.
    fn route_of(&self, id: NodeId) -> Option<Rc<Route>> {
        self.nodes[id].fragment.as_ref()?.route.clone()
    }

    fn route_for(&mut self, url: &Url) -> Result<Rc<Route>, String> {
        let host = url.host_str().map(routing::normalize_host);
        let route = self.resolver.route(host, url.path())?;
        if !route.raw_paths {
            if let Some(why) = routing::ambiguous_path(url.path()) {
                return Err(why.to_string());
            }
        }
        Ok(route)
    }

    /// Places a fragment requested ahead where its tag is, under the tag's own attributes,
    /// and lets them decide a failure it met before.
    fn place_ahead(
        &mut self,
        parent: NodeId,
        node: NodeId,
        include: Include,
    ) -> Result<(), String> {
        self.tree.place(parent, node);
        if let Some(fragment) = &mut self.nodes[node].fragment {
            fragment.include = include;
        }
        match self.nodes[node].failed_ahead.take() {
            Some(reason) => self.fail(node, reason),
            None => Ok(()),
        }
    }

    /// A fragment failed: its alt, then onerror, then its attempt; else the page. A fragment
    /// made under something abandoned fails nothing.
    fn fail(&mut self, id: NodeId, reason: String) -> Result<(), String> {
        self.nodes[id].source = None;
        if self.tree.is_dropped(id) {
            return Ok(());
        }
        // A stale object the fragment was revalidating, kept by its stale-if-error.
        if let Some(cached) = self.nodes[id]
            .fill
            .take()
            .and_then(|fill| fill.stale_on_error(&reason))
        {
            if let Some(route) = self.route_of(id) {
                return self.read_cached(id, &route, cached);
            }
        }
        if self.ahead.iter().any(|(_, node)| *node == id) {
            self.nodes[id].failed_ahead = Some(reason);
            return Ok(());
        }
        let Some(fragment) = self.nodes[id].fragment.as_mut() else {
            return Err(format!("template: {reason}"));
        };
        log::warn!("esi fragment {}: {reason}", fragment.include.src);
        if self.tree.started(id) {
            self.log.failed += 1;
            return Err(format!(
                "fragment {} broke off after its first bytes went out: {reason}",
                fragment.include.src
            ));
        }
        if let (Some(alt), false) = (fragment.include.alt.clone(), fragment.tried_alt) {
            fragment.tried_alt = true;
            self.log.count += 1;
            let depth = fragment.depth;
            self.tree.reset(id);
            self.forget_dropped();
            return self.send(id, &alt, depth);
        }
        self.log.failed += 1;
        let continues = fragment.include.continue_on_error;
        let src = fragment.include.src.clone();
        if !continues && self.tree.catcher(id).is_none() {
            return Err(format!("fragment {src} failed: {reason}"));
        }
        self.tree.fail(id, !continues);
        self.forget_dropped();
        Ok(())
    }

    /// Pauses the clocks of the nodes the page does not let read now and restarts those of
    /// `readers`, moving their deadlines on by the time they were held.
    fn pause_all_but(&mut self, readers: &[NodeId]) {
        let now = Instant::now();
        for (id, node) in self.nodes.iter_mut().enumerate() {
            if node.source.is_none() {
                node.paused_since = None;
            } else if !readers.contains(&id) {
                node.paused_since.get_or_insert(now);
            } else if let Some(since) = node.paused_since.take() {
                let held = now.saturating_duration_since(since);
                if let Some(f) = &mut node.fragment {
                    f.deadline += held;
                }
                if let Some(Source::Reading(r)) = &mut node.source {
                    r.last_read += held;
                }
            }
        }
    }

    /// The nearest deadline of a fragment still to come, of its response head, or of a
    /// quiet body, among the nodes reading.
    fn next_deadline(&self) -> Option<Instant> {
        self.nodes
            .iter()
            .filter_map(NodeState::deadline)
            .map(|(at, _)| at)
            .min()
    }

    /// Fails what passed its deadline.
    fn expire(&mut self) -> Result<(), String> {
        let now = Instant::now();
        for id in 0..self.nodes.len() {
            if let Some((at, why)) = self.nodes[id].deadline() {
                if now >= at {
                    self.fail(id, why.into())?;
                }
            }
        }
        Ok(())
    }
}

enum Ready {
    Client,
    Node(NodeId),
    Fill(usize),
}

/// A Server-Timing `desc` value's quoted-string content.
fn quoted(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c => vec![c],
        })
        .collect()
}
