//! Dispatch and the include budget: each include requested the moment it is read, within
//! `esi_max_depth` and `esi_max_fragments`, through its route's cache when the route caches.

use std::rc::Rc;
use std::time::{Duration, Instant};

use fastly::handle::BodyHandle;
use fastly::http::Url;
use fastly::Request;
use firstbyte_config::Route;
use firstbyte_transform::esi::{Include, Ttl};

use super::{Fragment, Looking, NodeState, Page, Source};
use crate::cache;
use crate::cache::fragment::Lookup;
use crate::esi::fragment::FRAGMENT_CODINGS;
use crate::esi::tree::NodeId;
use crate::origin;
use crate::routing;

impl Page<'_, '_> {
    /// Requests the includes of excepts that came into use: each is placed, then sent (a
    /// refusal may bring another except into use).
    pub(super) fn request_due(&mut self) -> Result<(), String> {
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

    /// The cookies a `src` in `template`'s text may read: its route's `esi_cookies`.
    pub(super) fn readable_cookies(&self, template: NodeId) -> Rc<[String]> {
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

    pub(super) fn depth(&self, id: NodeId) -> u32 {
        self.nodes[id].fragment.as_ref().map_or(0, |f| f.depth)
    }

    /// Requests the fragment of `include` for node `id`.
    pub(super) fn dispatch(
        &mut self,
        id: NodeId,
        include: Include,
        depth: u32,
        readable_cookies: Rc<[String]>,
    ) -> Result<(), String> {
        self.log.count += 1;
        if let Some(Ttl::Unreadable(written)) = &include.ttl {
            // The template is the origin's: a bad ttl is its mistake, said once, and the
            // fragment is cached as if it had none. At most 120 bytes of it are quoted.
            let shown: String = written.chars().take(120).collect();
            log::warn!(
                "esi:include src '{}': ttl \"{shown}\" is no time (seconds, or with s, m, h or d): ignored",
                include.src
            );
        }
        let now = Instant::now();
        let timeout = self.timeout_of(&include);
        self.nodes[id].fragment = Some(Fragment {
            include: include.clone(),
            depth,
            route: None,
            sent_at: now,
            deadline: now + timeout,
            head_deadline: None,
            tried_alt: false,
            readable_cookies,
        });
        self.send(id, &include.src, depth)
    }

    /// How long the fragment of `include` may take. Its own `timeout` may only shorten the
    /// route's: the route's bound is the operator's promise about how long a page waits.
    fn timeout_of(&self, include: &Include) -> Duration {
        include
            .timeout_ms
            .map(Duration::from_millis)
            .map_or(self.settings.fragment_timeout, |t| {
                t.min(self.settings.fragment_timeout)
            })
    }

    /// Sends the request for `src` for node `id`; a refusal fails the node.
    pub(super) fn send(&mut self, id: NodeId, src: &str, depth: u32) -> Result<(), String> {
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
        // Through the route's cache, as a client of the fragment's URL would be; what this
        // page stores there lives as long as its include's ttl says, if it says.
        let include_ttl = match self.nodes[id]
            .fragment
            .as_ref()
            .and_then(|f| f.include.ttl.as_ref())
        {
            Some(Ttl::Seconds(ttl)) => Some(*ttl),
            Some(Ttl::Unreadable(_)) | None => None,
        };
        let lookup = match route.cache {
            Some(_) => cache::fragment::lookup(&route, &req, include_ttl),
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
                origin::backend_request(route, req, Some(FRAGMENT_CODINGS))
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
    pub(super) fn poll_lookups(&mut self) -> Result<(), String> {
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
    pub(super) fn route_of(&self, id: NodeId) -> Option<Rc<Route>> {
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
    pub(super) fn place_ahead(
        &mut self,
        parent: NodeId,
        node: NodeId,
        include: Include,
    ) -> Result<(), String> {
        self.tree.place(parent, node);
        // Requested ahead from the cached list of srcs, under the route's timeout; from
        // here on the tag's own `timeout` bounds it, counted from that request.
        let timeout = self.timeout_of(&include);
        if let Some(fragment) = &mut self.nodes[node].fragment {
            fragment.deadline = fragment.sent_at + timeout;
            fragment.include = include;
        }
        match self.nodes[node].failed_ahead.take() {
            Some(reason) => self.fail(node, reason),
            None => Ok(()),
        }
    }
}
