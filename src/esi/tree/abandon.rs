//! What a failure abandons: a node emptied, an attempt failed, and every fragment made
//! under them dropped.

use std::collections::HashSet;

use super::{NodeId, Part, Scope, Tree, TryId};

impl Tree {
    /// `node` failed and leaves nothing; the attempt that catches its failure fails with it
    /// when `fails_attempt`.
    pub fn fail(&mut self, node: NodeId, fails_attempt: bool) {
        self.clear(node);
        if let (true, Some(t)) = (fails_attempt, self.catcher(node)) {
            self.fail_attempt(t);
        }
    }

    /// Fails the attempt of try `t` (a fragment in it failed, or it grew past the memory
    /// bound): what it made is dropped, and its except comes into use.
    pub fn fail_attempt(&mut self, t: TryId) {
        if self.tries[t].failed {
            return;
        }
        self.tries[t].failed = true;
        let abandoned: HashSet<NodeId> = self.within(t, Part::Attempt).into_iter().collect();
        self.drop_under(&abandoned, false);
        let attempt = std::mem::take(&mut self.tries[t].items[Part::Attempt as usize]);
        self.buffered = self.buffered.saturating_sub(self.text_of(attempt.iter()));
        if self.active(Scope::Except(t)) {
            self.activate(t, Part::Except);
        }
    }

    /// The nodes dropped since the last call: their requests are to be forgotten.
    pub fn take_dropped(&mut self) -> Vec<NodeId> {
        std::mem::take(&mut self.dropped)
    }

    /// Empties a node to be made again (its `alt`), keeping its place; what it included is
    /// dropped.
    pub fn reset(&mut self, node: NodeId) {
        self.drop_under(&HashSet::from([node]), true);
        self.buffered = self.buffered.saturating_sub(self.held_by(node));
        let n = &mut self.nodes[node];
        n.items.clear();
        n.open.clear();
        n.complete = false;
        n.empty = false;
    }

    /// Drops every node below one of `roots` (and the roots themselves unless `strict`).
    fn drop_under(&mut self, roots: &HashSet<NodeId>, strict: bool) {
        if roots.is_empty() {
            return;
        }
        for id in 0..self.nodes.len() {
            if self.nodes[id].dropped {
                continue;
            }
            let mut above = if strict {
                self.nodes[id].parent
            } else {
                Some(id)
            };
            let mut under = false;
            while let Some(a) = above {
                if roots.contains(&a) {
                    under = true;
                    break;
                }
                above = self.nodes[a].parent;
            }
            if under {
                self.buffered = self.buffered.saturating_sub(self.held_by(id));
                let n = &mut self.nodes[id];
                n.items.clear();
                n.open.clear();
                n.complete = true;
                n.empty = true;
                n.dropped = true;
                self.dropped.push(id);
            }
        }
    }

    /// Empties a node that leaves nothing, and drops what it included.
    fn clear(&mut self, node: NodeId) {
        self.drop_under(&HashSet::from([node]), true);
        self.buffered = self.buffered.saturating_sub(self.held_by(node));
        let n = &mut self.nodes[node];
        n.items.clear();
        n.open.clear();
        n.complete = true;
        n.empty = true;
    }
}
