//! Fragment bodies: a fragment's response head shaped (or its cached object), its body read
//! through its route's stages, and a template's events placed in the tree.

use std::rc::Rc;
use std::time::Instant;

use bytes::BytesMut;
use fastly::handle::PendingRequestHandle;
use fastly::{Body, Response};
use firstbyte_config::chain::Plan;
use firstbyte_config::Route;
use firstbyte_transform::esi::language::{Broken, Shown};
use firstbyte_transform::esi::Event;
use firstbyte_transform::Sink;

use super::{NodeState, Page, PageFill, Reader, Source, TemplateText, CHUNK, DECODE_CHUNK};
use crate::cache::fragment::{Admitted, Cached};
use crate::esi::tree::{NodeId, Placing};
use crate::headers::HeaderAccess;
use crate::origin::{self, template};
use crate::pump::read_into;
use crate::timing::millis;

impl Page<'_, '_> {
    /// Writes what the origin sent into a cache object this page reads.
    pub(super) fn fill(&mut self, i: usize) {
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

    /// A fragment's response head arrived.
    pub(super) fn answered(
        &mut self,
        id: NodeId,
        pending: PendingRequestHandle,
    ) -> Result<(), String> {
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
            None => match origin::shape(&route, resp, origin, None) {
                Ok(shaped) => shaped,
                Err(f) => return self.fail(id, f.reason),
            },
        };
        if !shaped.status().is_success() {
            return self.fail(id, format!("status {}", shaped.status().as_u16()));
        }
        // The text of the fragment, whatever coding it was shaped for.
        let plan = template::template_plan(
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
    pub(super) fn read_cached(
        &mut self,
        id: NodeId,
        route: &Route,
        cached: Box<Cached>,
    ) -> Result<(), String> {
        let Cached { mut resp, template } = *cached;
        if !resp.get_status().is_success() {
            return self.fail(id, format!("status {}", resp.get_status().as_u16()));
        }
        let plan = template::template_plan(None, resp.header("content-encoding").as_deref());
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
            // Its variables read the cookies its own route lists.
            template: template.then(|| {
                let cookies = route.esi.as_ref().map(|esi| esi.cookies.clone());
                TemplateText::new(Rc::from(cookies.unwrap_or_default()))
            }),
            declared,
            received: 0,
            chunk: if decoding { DECODE_CHUNK } else { CHUNK },
            between: route.between_bytes_timeout,
            last_read: Instant::now(),
        }));
        Ok(())
    }

    /// Reads what a body has.
    pub(super) fn read(&mut self, id: NodeId, mut reader: Reader) -> Result<(), String> {
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
            if let Some(t) = &mut reader.template {
                // A construct left open would have dropped text silently: the template is
                // broken, and fails as a failing body does.
                if let Err(open) = t.finish(self.client, &mut events) {
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
                self.timings.push((f.include.src.to_string(), took));
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
    ) -> Result<Option<Broken>, String> {
        match &mut reader.template {
            Some(template) => {
                let mut events = Vec::new();
                let client = self.client;
                let broken = made
                    .iter()
                    .try_for_each(|bytes| template.push(bytes, client, &mut events));
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

    /// What a template said. An include in a branch is not listed among the template's
    /// own: another request may choose another branch, and the list is what the next
    /// request asks for ahead of the text. Nor is one with a `ttl`: the list holds only
    /// `src`s, and a fragment requested ahead without its ttl would be stored for as long
    /// as its origin says, not as the include asks; it is requested at its tag.
    fn events(&mut self, id: NodeId, events: Vec<Shown>) -> Result<(), String> {
        for Shown { event, in_branch } in events {
            // What it read made its own part fail: the rest is abandoned with it.
            if self.tree.is_gone(id) {
                break;
            }
            match event {
                Event::Text(bytes) => self.tree.text(id, bytes),
                Event::Include(include) => {
                    let listable = include.ttl.is_none();
                    if id == 0 && listable && !in_branch && !self.tree.in_except(id) {
                        self.includes.push(include.src.to_string());
                    }
                    match self.tree.placing(id) {
                        Placing::Never => {}
                        Placing::Later => self.tree.defer(id, include),
                        Placing::Now => {
                            if id == 0 && listable {
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
}
