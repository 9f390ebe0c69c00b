//! Document order and the output bound: what is the client's turn goes out through the
//! page's encoder, and which nodes may read while bytes wait (the memory bounds).

use std::io::Write;
use std::time::Instant;

use bytes::BytesMut;
use firstbyte_transform::Sink;

use super::{Page, Source, CHUNK};
use crate::esi::tree::{Emitted, NodeId};

/// The client's output the page may hold before every read pauses.
const OUTPUT_BOUND: usize = 256 * 1024;

impl Page<'_, '_> {
    /// Emits what is the client's turn into the encoder and the output queue; whether the
    /// page is complete. Requests except blocks' includes that came into use first.
    pub(super) fn emit(&mut self) -> Result<bool, String> {
        self.request_due()?;
        let mut chunks = Vec::new();
        let state = self.tree.emit(&mut chunks);
        let mut sink: Sink = Vec::new();
        for chunk in chunks {
            match &mut self.encoder {
                Some(encoder) => encoder
                    .push(chunk, &mut sink)
                    .and_then(|()| encoder.flush(&mut sink))
                    .map_err(|e| format!("page encoder: {e}"))?,
                None => sink.push(chunk),
            }
        }
        for bytes in sink.into_iter().filter(|b| !b.is_empty()) {
            self.pending_bytes += bytes.len();
            self.pending.push_back(bytes);
        }
        Ok(state == Emitted::Done)
    }

    /// The nodes that may read now: all, within the memory bound; past it only the one the
    /// next byte to send waits on (and the fragments of an attempt it waits on).
    pub(super) fn readers(&mut self) -> Vec<NodeId> {
        if self.pending_bytes > OUTPUT_BOUND {
            return self.awaiting_heads();
        }
        // A fragment requested ahead of its tag reads its body once its tag places it: bytes
        // of a listed include the template no longer has would hold the budget to the end.
        let unplaced = |i: usize| self.ahead.iter().any(|(_, node)| *node == i);
        if self.tree.buffered <= self.settings.buffer_bytes {
            return (0..self.nodes.len())
                .filter(|&i| match self.nodes[i].source {
                    Some(Source::Waiting(_) | Source::Looking(_)) => true,
                    Some(Source::Reading(_)) => !unplaced(i),
                    None => false,
                })
                .collect();
        }
        // Only the node the next byte waits on: its ancestors' text after it is read-ahead.
        let path = self.tree.waiting_path();
        let mut frontier: Vec<NodeId> = path.last().copied().into_iter().collect();
        if let Some((t, deciding)) = path.last().and_then(|&last| self.tree.blocking_try(last)) {
            let held: u64 = deciding.iter().map(|&c| self.tree.held_by(c)).sum();
            if held > self.settings.buffer_bytes {
                // An attempt goes out whole or not at all: one that outgrows the bound fails.
                self.tree.fail_attempt(t);
                self.forget_dropped();
            } else {
                frontier.extend(deciding);
            }
        }
        frontier.retain(|&i| matches!(self.nodes[i].source, Some(Source::Reading(_))));
        frontier.extend(self.awaiting_heads());
        frontier
    }

    /// The nodes awaiting a response head or a lookup. A head costs no body memory: every
    /// fragment's is taken when it comes, so a fragment's wait for its origin is never one
    /// the page imposed.
    fn awaiting_heads(&self) -> Vec<NodeId> {
        (0..self.nodes.len())
            .filter(|&i| {
                matches!(
                    self.nodes[i].source,
                    Some(Source::Waiting(_) | Source::Looking(_))
                )
            })
            .collect()
    }

    /// Writes one queued chunk (the client is ready for it).
    pub(super) fn write_one(&mut self) -> Result<u64, String> {
        let Some(mut bytes) = self.pending.pop_front() else {
            return Ok(0);
        };
        // Small pieces go out together.
        while bytes.len() < CHUNK {
            let Some(next) = self.pending.front() else {
                break;
            };
            if bytes.len() + next.len() > CHUNK {
                break;
            }
            let mut joined = BytesMut::from(&bytes[..]);
            joined.extend_from_slice(next);
            bytes = joined.freeze();
            self.pending.pop_front();
        }
        self.pending_bytes -= bytes.len();
        self.out
            .as_mut()
            .ok_or("the head never went out")?
            .write_all(&bytes)
            .map_err(|e| format!("client write failed: {e}"))?;
        Ok(bytes.len() as u64)
    }

    /// Pauses the clocks of the nodes the page does not let read now and restarts those of
    /// `readers`, moving their deadlines on by the time they were held.
    pub(super) fn pause_all_but(&mut self, readers: &[NodeId]) {
        let now = Instant::now();
        for (id, node) in self.nodes.iter_mut().enumerate() {
            if node.source.is_none() {
                node.paused_since = None;
            } else if !readers.contains(&id) {
                node.paused_since.get_or_insert(now);
            } else if let Some(since) = node.paused_since.take() {
                let held = now.saturating_duration_since(since);
                if let Some(f) = &mut node.fragment {
                    f.deadline += held;
                }
                if let Some(Source::Reading(r)) = &mut node.source {
                    r.last_read += held;
                }
            }
        }
    }
}
