//! `esi:try` blocks: their tags as a node is parsed, what a failure fails, and the
//! deferred includes of an except that came into use.

use firstbyte_transform::esi::Include;

use super::{
    scope_of, split, Item, NodeId, Open, Part, Scope, Tree, TryBlock, TryId, MAX_TRY_DEPTH,
};

impl Tree {
    /// `<esi:try>`; refused past [`MAX_TRY_DEPTH`], which fails the node.
    pub fn try_start(&mut self, node: NodeId) -> Result<(), String> {
        let scope = self.position(node);
        let depth = match split(scope) {
            Some((outer, _)) => self.tries[outer].depth + 1,
            None => 1,
        };
        if depth > MAX_TRY_DEPTH {
            return Err(format!("esi:try nested more than {MAX_TRY_DEPTH} deep"));
        }
        let t = self.tries.len();
        self.tries.push(TryBlock {
            owner: node,
            scope,
            depth,
            ..TryBlock::default()
        });
        if self.live(scope) {
            if let Some((outer, part)) = split(scope) {
                self.tries[outer].tries[part as usize].push(t);
            }
            self.push(node, Item::Try(t));
        }
        self.nodes[node].open.push(Open {
            t,
            part: Part::Attempt,
            inside: false,
        });
        Ok(())
    }

    /// `<esi:attempt>` or `<esi:except>` of the innermost open try.
    pub fn part(&mut self, node: NodeId, except: bool) {
        if let Some(open) = self.nodes[node].open.last_mut() {
            open.part = if except { Part::Except } else { Part::Attempt };
            open.inside = true;
        }
    }

    /// `</esi:attempt>` or `</esi:except>`: back directly inside the try.
    pub fn part_end(&mut self, node: NodeId) {
        if let Some(open) = self.nodes[node].open.last_mut() {
            open.inside = false;
        }
    }

    pub fn try_end(&mut self, node: NodeId) {
        if let Some(open) = self.nodes[node].open.pop() {
            self.tries[open.t].closed = true;
        }
    }

    /// Whether `node` has a try, or an attempt or except of one, still open.
    pub fn left_open(&self, node: NodeId) -> bool {
        !self.nodes[node].open.is_empty()
    }

    /// `node`'s source ended: every item is known. A try left open is closed (the page
    /// fails a node that left one open before it completes it: [`Tree::left_open`]).
    pub fn complete(&mut self, node: NodeId) {
        while let Some(open) = self.nodes[node].open.pop() {
            self.tries[open.t].closed = true;
        }
        self.nodes[node].complete = true;
    }

    /// The attempt a failure of `node` fails: the innermost one around it, an except
    /// passing a failure on to the attempt around its try. `None`: the page fails.
    pub fn catcher(&self, node: NodeId) -> Option<TryId> {
        let mut scope = self.nodes[node].scope;
        loop {
            match scope {
                Scope::Top => return None,
                Scope::Attempt(t) => return Some(t),
                Scope::Except(t) => scope = self.tries[t].scope,
            }
        }
    }

    /// The node whose except holds a deferred include's ticket.
    pub fn owner_of(&self, ticket: usize) -> Option<NodeId> {
        let &(t, _, _) = self.tickets.get(ticket)?;
        Some(self.tries[t].owner)
    }

    /// Deferred includes now due (an except came into use), to be requested and placed
    /// with [`Tree::resolve`]; those abandoned since are left out.
    pub fn take_requests(&mut self) -> Vec<(usize, Include)> {
        let due = std::mem::take(&mut self.requests);
        let (live, dead): (Vec<_>, Vec<_>) = due.into_iter().partition(|(ticket, _)| {
            self.tickets.get(*ticket).is_some_and(|&(t, part, _)| {
                let scope = scope_of(t, part);
                !self.nodes[self.tries[t].owner].dropped && self.live(scope)
            })
        });
        for (ticket, _) in dead {
            if let Some(&(t, part, _)) = self.tickets.get(ticket) {
                self.tries[t].pending[part as usize] =
                    self.tries[t].pending[part as usize].saturating_sub(1);
            }
        }
        live
    }

    /// Places the node requested for a deferred include.
    pub fn resolve(&mut self, ticket: usize, node: NodeId) {
        let Some(&(t, part, at)) = self.tickets.get(ticket) else {
            return;
        };
        if let Some(item) = self.tries[t].items[part as usize].get_mut(at) {
            *item = Item::Child(node);
        }
        self.tries[t].pending[part as usize] =
            self.tries[t].pending[part as usize].saturating_sub(1);
        let owner = self.tries[t].owner;
        self.adopt(owner, node, scope_of(t, part));
    }

    /// The fragments made under a part of `t`, those of tries inside it included.
    pub(super) fn within(&self, t: TryId, part: Part) -> Vec<NodeId> {
        let p = part as usize;
        let mut nodes = self.tries[t].members[p].clone();
        for &inner in &self.tries[t].tries[p] {
            nodes.extend(self.within(inner, Part::Attempt));
            nodes.extend(self.within(inner, Part::Except));
        }
        nodes
    }

    /// Requests every deferred include of a part of `t` now in use, and those of the
    /// attempts of the tries inside it.
    pub(super) fn activate(&mut self, t: TryId, part: Part) {
        let p = part as usize;
        for at in 0..self.tries[t].items[p].len() {
            match &self.tries[t].items[p][at] {
                Item::Deferred(include) => {
                    let include = include.clone();
                    let ticket = self.tickets.len();
                    self.tickets.push((t, part, at));
                    self.tries[t].items[p][at] = Item::Requested;
                    self.tries[t].pending[p] += 1;
                    self.requests.push((ticket, include));
                }
                Item::Try(inner) => {
                    let inner = *inner;
                    self.activate(inner, Part::Attempt);
                }
                _ => {}
            }
        }
    }

    /// The try the next byte of `node` waits on, with the fragments that decide it (read
    /// ahead in full).
    pub fn blocking_try(&self, node: NodeId) -> Option<(TryId, Vec<NodeId>)> {
        match self.nodes[node].items.front() {
            Some(Item::Try(t)) => {
                let part = if self.tries[*t].failed {
                    Part::Except
                } else {
                    Part::Attempt
                };
                let nodes = self.within(*t, part);
                Some((
                    *t,
                    nodes.into_iter().filter(|&n| !self.is_gone(n)).collect(),
                ))
            }
            _ => None,
        }
    }
}
