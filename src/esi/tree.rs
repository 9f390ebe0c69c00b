//! A composed page as a tree, and the order its bytes go out in: document order, the text
//! before an include as soon as it is known, a fragment's bytes as soon as it is its turn.
//!
//! Each node is the template or one fragment: the items it has made so far (text, the
//! fragments it includes, `esi:try` blocks) and whether it is complete. [`Tree::emit`] takes
//! out every byte whose turn it is and says where it stopped. An `esi:try` goes out once
//! its attempt is settled: the attempt's items when every fragment in it succeeded, the
//! except's otherwise (whose includes are only requested then). Pure: the page
//! ([`super::page`]) feeds it and writes what it emits.

use std::collections::VecDeque;

use bytes::Bytes;
use firstbyte_transform::esi::Include;

pub type NodeId = usize;
pub type TryId = usize;

#[derive(Debug)]
pub enum Item {
    Text(Bytes),
    Child(NodeId),
    Try(TryId),
    /// An include of an except block, requested only if the except is used.
    Deferred(Include),
}

#[derive(Debug, Default)]
pub struct Node {
    items: VecDeque<Item>,
    /// Every item is known: the node's source ended.
    complete: bool,
    /// It failed and leaves nothing (alt and onerror already decided by the page).
    empty: bool,
    /// Some of its bytes went out.
    started: bool,
    /// The attempt this node is part of: its failure fails that attempt, not the page.
    pub attempt: Option<TryId>,
    /// Where items of this node go while it is parsed: the node itself, or an attempt or
    /// except of one of its try blocks (innermost last).
    open: Vec<(TryId, Part)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Attempt,
    Except,
}

#[derive(Debug, Default)]
struct TryBlock {
    /// The node whose text holds the try.
    owner: NodeId,
    attempt: Vec<Item>,
    except: Vec<Item>,
    /// `</esi:try>` was read.
    closed: bool,
    /// A fragment of the attempt failed.
    failed: bool,
    /// The fragments of the attempt, to know when it is settled.
    children: Vec<NodeId>,
}

/// Where emission stopped.
#[derive(Debug, PartialEq, Eq)]
pub enum Emitted {
    /// Everything went out: the page is complete.
    Done,
    /// Waiting on the node at the end of this path (from the root).
    Blocked(Vec<NodeId>),
    /// An except block is now used: request these includes, then [`Tree::resolve`] each.
    Request(Vec<(usize, Include)>),
}

#[derive(Debug, Default)]
pub struct Tree {
    nodes: Vec<Node>,
    tries: Vec<TryBlock>,
    /// Deferred includes being requested, by ticket: the try and the position in its except.
    tickets: Vec<(TryId, usize)>,
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

    /// A new node for a fragment included by `parent` (placed where `parent` is parsing).
    pub fn include(&mut self, parent: NodeId) -> NodeId {
        let id = self.detached();
        self.place(parent, id);
        id
    }

    /// Places a detached node (one requested ahead of its tag) where `parent` is parsing.
    pub fn place(&mut self, parent: NodeId, node: NodeId) {
        let attempt = self.current_attempt(parent);
        self.nodes[node].attempt = attempt;
        if let Some(t) = attempt {
            self.tries[t].children.push(node);
        }
        self.push(parent, Item::Child(node));
    }

    /// Text made by `node`.
    pub fn text(&mut self, node: NodeId, bytes: Bytes) {
        if bytes.is_empty() {
            return;
        }
        self.buffered += bytes.len() as u64;
        self.push(node, Item::Text(bytes));
    }

    /// An include that is only requested if its except block is used.
    pub fn defer(&mut self, node: NodeId, include: Include) {
        self.push(node, Item::Deferred(include));
    }

    pub fn try_start(&mut self, node: NodeId) {
        let t = self.tries.len();
        self.tries.push(TryBlock {
            owner: node,
            ..TryBlock::default()
        });
        self.push(node, Item::Try(t));
        self.nodes[node].open.push((t, Part::Attempt));
    }

    /// `<esi:attempt>` or `<esi:except>` of the innermost open try.
    pub fn part(&mut self, node: NodeId, except: bool) {
        if let Some(open) = self.nodes[node].open.last_mut() {
            open.1 = if except { Part::Except } else { Part::Attempt };
        }
    }

    pub fn try_end(&mut self, node: NodeId) {
        if let Some((t, _)) = self.nodes[node].open.pop() {
            self.tries[t].closed = true;
        }
    }

    /// Whether `node` is parsing inside an except block (whose includes are deferred).
    pub fn in_except(&self, node: NodeId) -> bool {
        self.nodes[node]
            .open
            .iter()
            .any(|(_, part)| *part == Part::Except)
    }

    /// `node`'s source ended: every item is known. A try left open is closed.
    pub fn complete(&mut self, node: NodeId) {
        while let Some((t, _)) = self.nodes[node].open.pop() {
            self.tries[t].closed = true;
        }
        self.nodes[node].complete = true;
    }

    /// `node` failed and leaves nothing; its attempt (if any) fails with it when `fails_attempt`.
    pub fn fail(&mut self, node: NodeId, fails_attempt: bool) {
        self.clear(node);
        if let (true, Some(t)) = (fails_attempt, self.nodes[node].attempt) {
            self.tries[t].failed = true;
        }
    }

    /// Fails the attempt of try `t` (it grew past the memory bound, say).
    pub fn fail_attempt(&mut self, t: TryId) {
        self.tries[t].failed = true;
    }

    /// The attempt `node` belongs to.
    pub fn attempt_of(&self, node: NodeId) -> Option<TryId> {
        self.nodes[node].attempt
    }

    /// The node whose except block holds a deferred include's ticket.
    pub fn owner_of(&self, ticket: usize) -> Option<NodeId> {
        let &(t, _) = self.tickets.get(ticket)?;
        Some(self.tries[t].owner)
    }

    /// Places the node requested for a deferred include.
    pub fn resolve(&mut self, ticket: usize, node: NodeId) {
        if let Some(&(t, at)) = self.tickets.get(ticket) {
            if let Some(item) = self.tries[t].except.get_mut(at) {
                *item = Item::Child(node);
            }
        }
    }

    /// Bytes a node has made that are not yet emitted.
    pub fn held_by(&self, node: NodeId) -> u64 {
        self.text_of(self.nodes[node].items.iter())
    }

    /// Text bytes in `items`, those of their try blocks' attempts and excepts included.
    fn text_of<'a>(&self, items: impl Iterator<Item = &'a Item>) -> u64 {
        items
            .map(|i| match i {
                Item::Text(b) => b.len() as u64,
                Item::Try(t) => {
                    self.text_of(self.tries[*t].attempt.iter())
                        + self.text_of(self.tries[*t].except.iter())
                }
                _ => 0,
            })
            .sum()
    }

    /// Whether some of the node's bytes went out.
    pub fn started(&self, node: NodeId) -> bool {
        self.nodes[node].started
    }

    /// Empties a node to be made again (its `alt`), keeping its place.
    pub fn reset(&mut self, node: NodeId) {
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
                    self.nodes[node].started = true;
                    out.push(bytes);
                }
                Item::Child(child) => {
                    self.nodes[node].items.push_front(Item::Child(child));
                    path.push(child);
                }
                Item::Try(t) => {
                    let block = &self.tries[t];
                    let settled = block.closed
                        && (block.failed || block.children.iter().all(|&c| self.nodes[c].complete));
                    if !settled {
                        self.nodes[node].items.push_front(Item::Try(t));
                        return Emitted::Blocked(path);
                    }
                    let used = if self.tries[t].failed {
                        self.drop_attempt(t);
                        let deferred: Vec<(usize, Include)> = self.tries[t]
                            .except
                            .iter()
                            .enumerate()
                            .filter_map(|(at, i)| match i {
                                Item::Deferred(inc) => Some((at, inc.clone())),
                                _ => None,
                            })
                            .collect();
                        if !deferred.is_empty() {
                            // Requested once: the next emit finds them placed.
                            self.nodes[node].items.push_front(Item::Try(t));
                            let mut requests = Vec::new();
                            for (at, include) in deferred {
                                let ticket = self.tickets.len();
                                self.tickets.push((t, at));
                                self.tries[t].except[at] = Item::Text(Bytes::new());
                                requests.push((ticket, include));
                            }
                            return Emitted::Request(requests);
                        }
                        std::mem::take(&mut self.tries[t].except)
                    } else {
                        let except = std::mem::take(&mut self.tries[t].except);
                        self.buffered = self.buffered.saturating_sub(self.text_of(except.iter()));
                        std::mem::take(&mut self.tries[t].attempt)
                    };
                    for item in used.into_iter().rev() {
                        self.nodes[node].items.push_front(item);
                    }
                }
                Item::Deferred(_) => {}
            }
        }
    }

    /// Drops a failed attempt and its fragments, once.
    fn drop_attempt(&mut self, t: TryId) {
        for c in std::mem::take(&mut self.tries[t].children) {
            self.clear(c);
        }
        let attempt = std::mem::take(&mut self.tries[t].attempt);
        self.buffered = self.buffered.saturating_sub(self.text_of(attempt.iter()));
    }

    /// Empties a node that leaves nothing.
    fn clear(&mut self, node: NodeId) {
        self.buffered = self.buffered.saturating_sub(self.held_by(node));
        let n = &mut self.nodes[node];
        n.items.clear();
        n.open.clear();
        n.complete = true;
        n.empty = true;
    }

    /// The fragments of the try a node is blocked on (they are read ahead in full).
    pub fn blocking_attempt(&self, node: NodeId) -> Vec<NodeId> {
        match self.nodes[node].items.front() {
            Some(Item::Try(t)) => self.tries[*t].children.clone(),
            _ => Vec::new(),
        }
    }

    /// A node placed nowhere yet: one requested for a deferred include ([`Tree::resolve`]).
    pub fn detached(&mut self) -> NodeId {
        self.nodes.push(Node::default());
        self.nodes.len() - 1
    }

    fn current_attempt(&self, node: NodeId) -> Option<TryId> {
        match self.nodes[node].open.last() {
            Some((t, Part::Attempt)) => Some(*t),
            Some((_, Part::Except)) => None,
            None => self.nodes[node].attempt,
        }
    }

    fn push(&mut self, node: NodeId, item: Item) {
        match self.nodes[node].open.last() {
            Some((t, Part::Attempt)) => self.tries[*t].attempt.push(item),
            Some((t, Part::Except)) => self.tries[*t].except.push(item),
            None => self.nodes[node].items.push_back(item),
        }
    }

    /// Whether a node failed (it leaves nothing).
    pub fn is_empty_node(&self, node: NodeId) -> bool {
        self.nodes[node].empty
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
        t.try_start(0);
        t.part(0, false);
        t.text(0, text("a"));
        let f = t.include(0);
        assert_eq!(t.attempt_of(f), Some(0));
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
        t.try_start(0);
        let f = t.include(0);
        t.text(0, text("attempt"));
        t.part(0, true);
        t.text(0, text("[except:"));
        t.defer(0, include("/e"));
        t.text(0, text("]"));
        t.try_end(0);
        t.complete(0);
        t.text(f, text("half"));
        t.fail(f, true);
        let (out, state) = emitted(&mut t);
        assert_eq!(out, "");
        let Emitted::Request(requests) = state else {
            panic!("{state:?}");
        };
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].1.src, "/e");
        let e = t.detached();
        t.resolve(requests[0].0, e);
        t.text(e, text("E"));
        t.complete(e);
        assert_eq!(emitted(&mut t), ("[except:E]".into(), Emitted::Done));
        assert_eq!(t.buffered, 0);
    }
}
