//! Failure and fallbacks: a fragment's `alt`, then `onerror`, then its `esi:try` attempt, else
//! the page; and the deadlines whose passing fails a node.

use std::time::Instant;

use super::{NodeState, Page, Source};
use crate::esi::tree::NodeId;

impl NodeState {
    /// The nearest of this node's deadlines and what passing it means, while its clock runs.
    fn deadline(&self) -> Option<(Instant, &'static str)> {
        if self.paused_since.is_some() {
            return None;
        }
        let fragment = self.fragment.as_ref();
        let all = fragment.map(|f| {
            (
                f.deadline,
                "past its deadline (esi_fragment_timeout_ms, or its shorter timeout)",
            )
        });
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

impl Page<'_, '_> {
    /// Forgets the requests of nodes the tree dropped: what they answer is never read, and
    /// their failure reaches nothing.
    pub(super) fn forget_dropped(&mut self) {
        for id in self.tree.take_dropped() {
            if let Some(node) = self.nodes.get_mut(id) {
                node.source = None;
                node.fill = None;
                node.paused_since = None;
                node.failed_ahead = None;
            }
        }
    }

    /// A fragment failed: its alt, then onerror, then its attempt; else the page. A fragment
    /// made under something abandoned fails nothing.
    pub(super) fn fail(&mut self, id: NodeId, reason: String) -> Result<(), String> {
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

    /// The nearest deadline of a fragment still to come, of its response head, or of a
    /// quiet body, among the nodes reading.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.nodes
            .iter()
            .filter_map(NodeState::deadline)
            .map(|(at, _)| at)
            .min()
    }

    /// Fails what passed its deadline.
    pub(super) fn expire(&mut self) -> Result<(), String> {
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
