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

use bytes::Bytes;
use fastly::experimental::StreamingBodyExt;
use fastly::handle::{BodyHandle, PendingRequestHandle, StreamingBodyHandle};
use fastly::http::body::StreamingBody;
use fastly::http::HeaderValue;
use fastly::Request;
use firstbyte_config::{EsiSettings, Route};
use firstbyte_transform::codec::{Encoder, Encoding};
use firstbyte_transform::esi::Include;
use firstbyte_transform::{Pipeline, Sink};
use http::HeaderMap;

use super::fragment::Client;
use super::tree::{NodeId, Tree};
use crate::access_log::{AccessRecord, BodyPath};
use crate::cache;
use crate::cache::write::{written, Filling, WriteFailure};
use crate::composer::{Composed, Template};
use crate::deadline::select;
use crate::fragments_log::FragmentsLog;
use crate::routing::Resolver;
use crate::timing::{millis, Clock};
use language::TemplateText;

mod body;
mod dispatch;
mod failure;
mod language;
mod output;

/// Largest write to the client, and largest read of a body.
const CHUNK: usize = 64 * 1024;
/// A read that a decoder may inflate many times over.
const DECODE_CHUNK: usize = 8 * 1024;
/// How often a lookup waiting for another request's fill is asked again (it has no handle
/// a select could wait on).
const LOOKUP_POLL: Duration = Duration::from_millis(1);

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
    template: Option<TemplateText>,
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

/// Composes the page whose template is `template.body`, its head (already the composed
/// page's) going out at once. `template.plan` makes the template's text; `template.output`
/// is the page's coding.
pub fn compose(
    client: &Client,
    resolver: &mut Resolver,
    route: &Route,
    template: Template,
    record: &mut AccessRecord,
    clock: &Clock,
) -> Composed {
    let Template {
        resp,
        body,
        plan,
        declared,
        output,
        filling,
        ahead,
    } = template;
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
                template: Some(TemplateText::new(Rc::from(settings.cookies.clone()))),
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
            src: src.as_str().into(),
            alt: None,
            continue_on_error: false,
            timeout_ms: None,
            ttl: None,
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
        let _ = written(result, record);
    }
    Composed {
        includes,
        stored,
        complete: complete_page,
    }
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
