//! Document order: every byte whose turn it is taken out, and where emission waits.

use bytes::Bytes;

use super::{Emitted, Item, NodeId, Part, Tree, TryId};

impl Tree {
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
}
