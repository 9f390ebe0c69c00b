//! A composed page as a tree, and the order its bytes go out in: document order, the text
//! before an include as soon as it is known, a fragment's bytes as soon as it is its turn.
//!
//! Each node is the template or one fragment: the items it has made so far (text, the
//! fragments it includes, `esi:try` blocks) and whether it is complete. [`Tree::emit`] takes
//! out every byte whose turn it is and says where it stopped. Pure: the page
//! ([`super::page`]) feeds it, requests what it asks for and writes what it emits.
//!
//! `esi:try` follows ESI 1.0, nested up to [`MAX_TRY_DEPTH`] deep (counted across the
//! fragments a try holds, so that every walk over the nesting is short). Text directly
//! inside a try, outside its attempt and except, goes out in document order with whichever
//! part is used. Every node and every try block sits in a
//! [`Scope`]: the page's top level, an attempt or an except. A failure fails the innermost
//! attempt around it; a failure inside an except fails the attempt around that try (or the
//! page). An except's includes are requested only once its attempt has failed, and then
//! every include inside it, those of a try nested in it included, is requested and placed.
//! When an attempt fails, or a fragment is replaced by its `alt` or left out by
//! `onerror="continue"`, every fragment made under what was abandoned is dropped
//! ([`Tree::take_dropped`]): its request is forgotten and its failure reaches nothing. A try
//! goes out once its attempt is decided: the attempt when nothing in it (nested tries and
//! their excepts included) can fail any more, the except as soon as the attempt failed.

use std::collections::{HashSet, VecDeque};

use bytes::Bytes;
use firstbyte_transform::esi::Include;

pub type NodeId = usize;
pub type TryId = usize;

/// How deeply `esi:try` blocks may nest, those of the fragments inside a try counted too.
/// Past it a try fails its node: the walks over the nesting stay short and a template made
/// of try tags alone can neither take quadratic time nor exhaust the stack.
pub const MAX_TRY_DEPTH: usize = 64;

#[derive(Debug)]
pub enum Item {
    Text(Bytes),
    Child(NodeId),
    Try(TryId),
    /// An include of an except block, requested only if the except is used.
    Deferred(Include),
    /// A deferred include being requested: it becomes the child the page places.
    Requested,
}

/// Where an item sits: what its failure fails, and whether it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scope {
    /// Outside any try: a failure fails the page.
    #[default]
    Top,
    Attempt(TryId),
    Except(TryId),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Attempt = 0,
    Except = 1,
}

/// Where an include that was just read is to go.
#[derive(Debug, PartialEq, Eq)]
pub enum Placing {
    /// Its part is in use: request it now ([`Tree::include`]).
    Now,
    /// Inside an except not (yet) in use: [`Tree::defer`] it.
    Later,
    /// Inside what was abandoned: nothing.
    Never,
}

#[derive(Debug, Default)]
pub struct Node {
    items: VecDeque<Item>,
    /// Every item is known: the node's source ended.
    complete: bool,
    /// It failed and leaves nothing (alt and onerror already decided by the page).
    empty: bool,
    /// Some of its bytes, or of a fragment inside it, went out.
    started: bool,
    /// Made under something abandoned: it leaves nothing and its failure reaches nothing.
    dropped: bool,
    /// The node whose text includes it.
    parent: Option<NodeId>,
    scope: Scope,
    /// Where items of this node go while it is parsed: an attempt or except of one of its
    /// try blocks (innermost last), or else its own place.
    open: Vec<Open>,
}

/// A try block of a node being parsed.
#[derive(Debug, Clone, Copy)]
struct Open {
    t: TryId,
    /// The part open last: where an include or a try goes.
    part: Part,
    /// Inside `<esi:attempt>` or `<esi:except>`; else directly inside the try, where text
    /// belongs to both parts.
    inside: bool,
}

#[derive(Debug, Default)]
struct TryBlock {
    /// The node whose text holds the try.
    owner: NodeId,
    scope: Scope,
    /// How many tries it is nested in, itself included.
    depth: usize,
    /// Items of the attempt (0) and of the except (1).
    items: [Vec<Item>; 2],
    /// `</esi:try>` was read.
    closed: bool,
    /// Something in the attempt failed.
    failed: bool,
    /// Per part: the fragments placed in it (and below them, outside their own tries), the
    /// tries begun in it, and its deferred includes requested but not yet placed. A part is
    /// settled when all of them are.
    members: [Vec<NodeId>; 2],
    tries: [Vec<TryId>; 2],
    pending: [usize; 2],
}

/// Where emission stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Emitted {
    /// Everything went out: the page is complete.
    Done,
    /// Waiting on the node at the end of this path (from the root).
    Blocked(Vec<NodeId>),
}

#[derive(Debug, Default)]
pub struct Tree {
    nodes: Vec<Node>,
    tries: Vec<TryBlock>,
    /// Deferred includes requested, by ticket: the try, its part and the item's position.
    tickets: Vec<(TryId, Part, usize)>,
    /// Deferred includes now due, for the page to request and [`Tree::resolve`].
    requests: Vec<(usize, Include)>,
    /// Nodes dropped since the page last asked.
    dropped: Vec<NodeId>,
    /// Bytes of text made but not yet emitted, in all.
    pub buffered: u64,
}

impl Tree {
    /// A tree with its root (the template) as node 0.
    pub fn new() -> Tree {
        let mut tree = Tree::default();
        tree.nodes.push(Node::default());
        tree
    }

    /// What becomes of an include `parent` just read.
    pub fn placing(&self, parent: NodeId) -> Placing {
        let scope = self.position(parent);
        if self.nodes[parent].dropped || !self.live(scope) {
            Placing::Never
        } else if self.active(scope) {
            Placing::Now
        } else {
            Placing::Later
        }
    }

    /// Whether `node` is parsing inside an except block.
    pub fn in_except(&self, node: NodeId) -> bool {
        self.nodes[node]
            .open
            .iter()
            .any(|open| open.part == Part::Except)
    }

    /// A new node for a fragment included by `parent` (placed where `parent` is parsing).
    pub fn include(&mut self, parent: NodeId) -> NodeId {
        let id = self.detached();
        self.place(parent, id);
        id
    }

    /// Places a detached node (one requested ahead of its tag) where `parent` is parsing.
    pub fn place(&mut self, parent: NodeId, node: NodeId) {
        let scope = self.position(parent);
        self.adopt(parent, node, scope);
        self.push(parent, Item::Child(node));
    }

    /// `node` is a child of `parent` in `scope`.
    fn adopt(&mut self, parent: NodeId, node: NodeId, scope: Scope) {
        self.nodes[node].parent = Some(parent);
        self.nodes[node].scope = scope;
        if let Some((t, part)) = split(scope) {
            self.tries[t].members[part as usize].push(node);
        }
    }

    /// Text made by `node`.
    pub fn text(&mut self, node: NodeId, bytes: Bytes) {
        if bytes.is_empty() || self.is_gone(node) {
            return;
        }
        match self.nodes[node].open.last().copied() {
            // Directly inside a try: it goes out whichever part is used, so it is placed in
            // both, the attempt only while that may still be used.
            Some(Open {
                t, inside: false, ..
            }) => {
                if !self.live(self.tries[t].scope) {
                    return;
                }
                let len = bytes.len() as u64;
                if !self.tries[t].failed {
                    self.buffered += len;
                    self.tries[t].items[Part::Attempt as usize].push(Item::Text(bytes.clone()));
                }
                self.buffered += len;
                self.tries[t].items[Part::Except as usize].push(Item::Text(bytes));
            }
            _ => {
                if !self.live(self.position(node)) {
                    return;
                }
                self.buffered += bytes.len() as u64;
                self.push(node, Item::Text(bytes));
            }
        }
    }

    /// An include that is only requested if its except block is used.
    pub fn defer(&mut self, node: NodeId, include: Include) {
        self.push(node, Item::Deferred(include));
    }

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

    /// The nodes dropped since the last call: their requests are to be forgotten.
    pub fn take_dropped(&mut self) -> Vec<NodeId> {
        std::mem::take(&mut self.dropped)
    }

    /// Whether a node was dropped, or failed and leaves nothing: it reads no more.
    pub fn is_gone(&self, node: NodeId) -> bool {
        self.nodes[node].dropped || self.nodes[node].empty
    }

    pub fn is_dropped(&self, node: NodeId) -> bool {
        self.nodes[node].dropped
    }

    /// Bytes a node has made that are not yet emitted.
    pub fn held_by(&self, node: NodeId) -> u64 {
        self.text_of(self.nodes[node].items.iter())
    }

    /// Text bytes in `items`, those of their try blocks included.
    fn text_of<'a>(&self, items: impl Iterator<Item = &'a Item>) -> u64 {
        items
            .map(|i| match i {
                Item::Text(b) => b.len() as u64,
                Item::Try(t) => self.tries[*t]
                    .items
                    .iter()
                    .map(|part| self.text_of(part.iter()))
                    .sum(),
                _ => 0,
            })
            .sum()
    }

    /// Whether some of the node's bytes (or a fragment's inside it) went out.
    pub fn started(&self, node: NodeId) -> bool {
        self.nodes[node].started
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

    /// The nodes the next byte to send waits on, from the root, as emission left them.
    pub fn waiting_path(&self) -> Vec<NodeId> {
        let mut path = vec![0];
        while let Some(Item::Child(c)) = path.last().and_then(|&n| self.nodes[n].items.front()) {
            path.push(*c);
        }
        path
    }

    /// Writes out every byte whose turn it is, in document order.
    pub fn emit(&mut self, out: &mut Vec<Bytes>) -> Emitted {
        let mut path = vec![0];
        loop {
            let node = *path.last().unwrap_or(&0);
            let Some(front) = self.nodes[node].items.pop_front() else {
                if !self.nodes[node].complete {
                    return Emitted::Blocked(path);
                }
                path.pop();
                if path.is_empty() {
                    return Emitted::Done;
                }
                // The child at the front of its parent is done: take it off.
                let parent = *path.last().unwrap_or(&0);
                self.nodes[parent].items.pop_front();
                continue;
            };
            match front {
                Item::Text(bytes) => {
                    self.buffered = self.buffered.saturating_sub(bytes.len() as u64);
                    for &n in &path {
                        self.nodes[n].started = true;
                    }
                    out.push(bytes);
                }
                Item::Child(child) => {
                    self.nodes[node].items.push_front(Item::Child(child));
                    path.push(child);
                }
                Item::Try(t) => {
                    if !self.decided(t) {
                        self.nodes[node].items.push_front(Item::Try(t));
                        return Emitted::Blocked(path);
                    }
                    let (used, unused) = if self.tries[t].failed {
                        (Part::Except, Part::Attempt)
                    } else {
                        (Part::Attempt, Part::Except)
                    };
                    let unused = std::mem::take(&mut self.tries[t].items[unused as usize]);
                    self.buffered = self.buffered.saturating_sub(self.text_of(unused.iter()));
                    let used = std::mem::take(&mut self.tries[t].items[used as usize]);
                    for item in used.into_iter().rev() {
                        self.nodes[node].items.push_front(item);
                    }
                }
                Item::Deferred(_) | Item::Requested => {}
            }
        }
    }

    /// Whether try `t` can go out: closed, and its attempt failed (the except goes out, as
    /// it comes, once every include of it is placed) or nothing in it can fail any more.
    fn decided(&self, t: TryId) -> bool {
        let block = &self.tries[t];
        block.closed
            && if block.failed {
                block.pending[Part::Except as usize] == 0
            } else {
                self.settled(t, Part::Attempt)
            }
    }

    /// Whether nothing in the part of `t` in use can fail any more: its fragments complete,
    /// its tries settled, its deferred includes placed.
    fn settled(&self, t: TryId, part: Part) -> bool {
        let block = &self.tries[t];
        let p = part as usize;
        block.pending[p] == 0
            && block.members[p].iter().all(|&n| self.nodes[n].complete)
            && block.tries[p].iter().all(|&inner| {
                let b = &self.tries[inner];
                b.closed
                    && self.settled(
                        inner,
                        if b.failed {
                            Part::Except
                        } else {
                            Part::Attempt
                        },
                    )
            })
    }

    /// The fragments made under a part of `t`, those of tries inside it included.
    fn within(&self, t: TryId, part: Part) -> Vec<NodeId> {
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
    fn activate(&mut self, t: TryId, part: Part) {
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

    /// A node placed nowhere yet: one requested ahead of its tag, or for a deferred include
    /// ([`Tree::resolve`]).
    pub fn detached(&mut self) -> NodeId {
        self.nodes.push(Node::default());
        self.nodes.len() - 1
    }

    /// Where `node`'s next item goes.
    fn position(&self, node: NodeId) -> Scope {
        match self.nodes[node].open.last() {
            Some(open) => scope_of(open.t, open.part),
            None => self.nodes[node].scope,
        }
    }

    /// Whether what is made in `scope` may still be used.
    fn live(&self, scope: Scope) -> bool {
        match scope {
            Scope::Top => true,
            Scope::Attempt(t) => !self.tries[t].failed && self.live(self.tries[t].scope),
            Scope::Except(t) => self.live(self.tries[t].scope),
        }
    }

    /// Whether what is made in `scope` is in use now: its includes are requested at once.
    fn active(&self, scope: Scope) -> bool {
        match scope {
            Scope::Top => true,
            Scope::Attempt(t) => self.active(self.tries[t].scope),
            Scope::Except(t) => self.tries[t].failed && self.active(self.tries[t].scope),
        }
    }

    fn push(&mut self, node: NodeId, item: Item) {
        if self.is_gone(node) {
            return;
        }
        match self.nodes[node].open.last() {
            Some(open) => self.tries[open.t].items[open.part as usize].push(item),
            None => self.nodes[node].items.push_back(item),
        }
    }
}

fn scope_of(t: TryId, part: Part) -> Scope {
    match part {
        Part::Attempt => Scope::Attempt(t),
        Part::Except => Scope::Except(t),
    }
}

fn split(scope: Scope) -> Option<(TryId, Part)> {
    match scope {
        Scope::Top => None,
        Scope::Attempt(t) => Some((t, Part::Attempt)),
        Scope::Except(t) => Some((t, Part::Except)),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn emitted(tree: &mut Tree) -> (String, Emitted) {
        let mut out = Vec::new();
        let state = tree.emit(&mut out);
        let s: Vec<u8> = out.concat();
        (String::from_utf8_lossy(&s).into_owned(), state)
    }

    fn include(src: &str) -> Include {
        Include {
            src: src.into(),
            alt: None,
            continue_on_error: false,
        }
    }

    #[test]
    fn text_before_an_include_goes_out_before_the_fragment_arrives() {
        let mut t = Tree::new();
        t.text(0, text("<p>before</p>"));
        let f1 = t.include(0);
        t.text(0, text("<p>between</p>"));
        let f2 = t.include(0);
        t.text(0, text("<p>after</p>"));
        t.complete(0);
        // The second fragment is done first: it waits for the first.
        t.text(f2, text("[two]"));
        t.complete(f2);
        assert_eq!(
            emitted(&mut t),
            ("<p>before</p>".into(), Emitted::Blocked(vec![0, f1]))
        );
        assert_eq!(t.buffered, "<p>between</p>[two]<p>after</p>".len() as u64);
        t.text(f1, text("[one"));
        assert_eq!(
            emitted(&mut t),
            ("[one".into(), Emitted::Blocked(vec![0, f1]))
        );
        t.text(f1, text("]"));
        t.complete(f1);
        assert_eq!(
            emitted(&mut t),
            ("]<p>between</p>[two]<p>after</p>".into(), Emitted::Done)
        );
        assert_eq!(t.buffered, 0);
    }

    #[test]
    fn nested_fragments_go_out_in_document_order() {
        let mut t = Tree::new();
        let f = t.include(0);
        t.text(0, text("!"));
        t.complete(0);
        t.text(f, text("a"));
        let g = t.include(f);
        t.text(f, text("c"));
        t.complete(f);
        t.text(g, text("b"));
        assert_eq!(
            emitted(&mut t),
            ("ab".into(), Emitted::Blocked(vec![0, f, g]))
        );
        t.complete(g);
        assert_eq!(emitted(&mut t), ("c!".into(), Emitted::Done));
    }

    #[test]
    fn a_failed_fragment_leaves_nothing() {
        let mut t = Tree::new();
        let f = t.include(0);
        t.text(0, text("x"));
        t.complete(0);
        t.text(f, text("partial"));
        t.fail(f, true);
        assert_eq!(emitted(&mut t), ("x".into(), Emitted::Done));
        assert_eq!(t.buffered, 0);
    }

    #[test]
    fn an_attempt_goes_out_whole_once_every_fragment_in_it_succeeded() {
        let mut t = Tree::new();
        t.text(0, text("<"));
        t.try_start(0).unwrap();
        t.part(0, false);
        t.text(0, text("a"));
        let f = t.include(0);
        assert_eq!(t.catcher(f), Some(0));
        t.part(0, true);
        assert!(t.in_except(0));
        t.text(0, text("except"));
        t.try_end(0);
        t.text(0, text(">"));
        t.complete(0);
        assert_eq!(emitted(&mut t), ("<".into(), Emitted::Blocked(vec![0])));
        t.text(f, text("F"));
        t.complete(f);
        assert_eq!(emitted(&mut t), ("aF>".into(), Emitted::Done));
    }

    #[test]
    fn a_failed_attempt_gives_way_to_its_except() {
        let mut t = Tree::new();
        t.try_start(0).unwrap();
        t.part(0, false);
        let f = t.include(0);
        t.text(0, text("attempt"));
        t.part(0, true);
        t.text(0, text("[except:"));
        assert_eq!(t.placing(0), Placing::Later);
        t.defer(0, include("/e"));
        t.text(0, text("]"));
        t.try_end(0);
        t.complete(0);
        assert!(t.take_requests().is_empty(), "not requested while unused");
        t.text(f, text("half"));
        t.fail(f, true);
        let requests = t.take_requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].1.src, "/e");
        let e = t.detached();
        t.resolve(requests[0].0, e);
        t.text(e, text("E"));
        assert_eq!(
            emitted(&mut t),
            ("[except:E".into(), Emitted::Blocked(vec![0, e]))
        );
        t.complete(e);
        assert_eq!(emitted(&mut t), ("]".into(), Emitted::Done));
        assert_eq!(t.buffered, 0);
    }

    #[test]
    fn a_try_inside_an_except_requests_and_places_its_includes() {
        let mut t = Tree::new();
        t.text(0, text("A"));
        t.try_start(0).unwrap();
        t.part(0, false);
        let broken = t.include(0);
        t.part(0, true);
        t.text(0, text("E"));
        t.try_start(0).unwrap();
        t.part(0, false);
        t.text(0, text("["));
        assert_eq!(t.placing(0), Placing::Later, "in an unused except");
        t.defer(0, include("/x"));
        t.text(0, text("]"));
        t.part(0, true);
        t.text(0, text("y"));
        t.try_end(0);
        t.try_end(0);
        t.text(0, text("Z"));
        t.complete(0);
        t.fail(broken, true);
        let requests = t.take_requests();
        assert_eq!(requests.len(), 1, "the inner attempt's include");
        let x = t.detached();
        t.resolve(requests[0].0, x);
        assert_eq!(emitted(&mut t), ("AE".into(), Emitted::Blocked(vec![0])));
        t.text(x, text("X"));
        t.complete(x);
        assert_eq!(emitted(&mut t), ("[X]Z".into(), Emitted::Done));
        assert_eq!(t.buffered, 0);
    }

    #[test]
    fn a_failure_in_a_nested_except_fails_the_enclosing_attempt() {
        let mut t = Tree::new();
        t.text(0, text("A"));
        t.try_start(0).unwrap();
        t.part(0, false);
        t.text(0, text("["));
        t.try_start(0).unwrap();
        t.part(0, false);
        let b = t.include(0);
        t.part(0, true);
        t.text(0, text("x"));
        t.defer(0, include("/broken2"));
        t.try_end(0);
        t.text(0, text("]"));
        t.part(0, true);
        t.text(0, text("OUTER-EXCEPT"));
        t.try_end(0);
        t.text(0, text("Z"));
        t.complete(0);
        assert_eq!(emitted(&mut t), ("A".into(), Emitted::Blocked(vec![0])));
        t.fail(b, true);
        let requests = t.take_requests();
        let c = t.detached();
        t.resolve(requests[0].0, c);
        assert_eq!(
            emitted(&mut t),
            ("".into(), Emitted::Blocked(vec![0])),
            "the outer attempt waits on the inner except"
        );
        assert_eq!(t.catcher(c), Some(0), "the outer try catches it");
        t.fail(c, true);
        assert_eq!(emitted(&mut t), ("OUTER-EXCEPTZ".into(), Emitted::Done));
        assert_eq!(t.buffered, 0);
    }

    /// Text directly inside a try, outside its attempt and except, goes out in document
    /// order with whichever part is used.
    #[test]
    fn text_directly_in_a_try_goes_out_with_either_part() {
        for fails in [false, true] {
            let mut t = Tree::new();
            t.try_start(0).unwrap();
            t.text(0, text("B"));
            t.part(0, false);
            t.text(0, text("a"));
            let f = t.include(0);
            t.part_end(0);
            t.text(0, text("M"));
            t.part(0, true);
            t.text(0, text("e"));
            t.part_end(0);
            t.text(0, text("Z"));
            assert!(t.left_open(0));
            t.try_end(0);
            assert!(!t.left_open(0));
            t.complete(0);
            if fails {
                t.fail(f, true);
                assert_eq!(emitted(&mut t), ("BMeZ".into(), Emitted::Done));
            } else {
                t.text(f, text("F"));
                t.complete(f);
                assert_eq!(emitted(&mut t), ("BaFMZ".into(), Emitted::Done));
            }
            assert_eq!(t.buffered, 0);
        }
    }

    /// Tries nest up to the bound, counted across the fragments inside them.
    #[test]
    fn tries_nest_up_to_the_bound() {
        let mut t = Tree::new();
        for _ in 0..MAX_TRY_DEPTH - 1 {
            t.try_start(0).unwrap();
        }
        let f = t.include(0);
        t.try_start(f).unwrap();
        assert!(t.try_start(f).is_err(), "one past the bound, in a fragment");
        t.try_end(f);
        t.try_start(f).unwrap();
    }

    /// An `alt` or `onerror` that takes over drops what the failed fragment included, and
    /// an attempt that fails drops every fragment made under it.
    #[test]
    fn what_is_abandoned_is_dropped() {
        let mut t = Tree::new();
        let f = t.include(0);
        t.complete(0);
        let g = t.include(f);
        let h = t.include(g);
        t.reset(f);
        let mut dropped = t.take_dropped();
        dropped.sort_unstable();
        assert_eq!(dropped, vec![g, h]);
        assert!(t.is_dropped(g) && !t.is_dropped(f));
        assert_eq!(t.catcher(h), None);

        let mut t = Tree::new();
        t.try_start(0).unwrap();
        let a = t.include(0);
        let b = t.include(0);
        let c = t.include(b);
        t.try_end(0);
        t.complete(0);
        t.fail(a, true);
        let mut dropped = t.take_dropped();
        dropped.sort_unstable();
        assert_eq!(dropped, vec![a, b, c]);
        assert_eq!(t.placing(b), Placing::Never);
    }
}
