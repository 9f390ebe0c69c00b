//! A composed page as a tree, and the order its bytes go out in: document order, the text
//! before an include as soon as it is known, a fragment's bytes as soon as it is its turn.
//!
//! Each node is the template or one fragment: the items it has made so far (text, the
//! fragments it includes, `esi:try` blocks) and whether it is complete. [`Tree::emit`] takes
//! out every byte whose turn it is and says where it stopped. Pure: the page
//! (`page.rs`) feeds it, requests what it asks for and writes what it emits.
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

use std::collections::VecDeque;

use bytes::Bytes;
use firstbyte_transform::esi::Include;

mod abandon;
mod order;
mod tries;

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
mod tests;
