//! Timing server-sent events end to end: the dev origin stamps each event with
//! `sent_at_ms=<unix ms>`; the client notes when each complete event reached it.

/// The `sent_at_ms` stamps in `text`, in order.
pub fn sent_times(text: &str) -> Vec<u128> {
    text.split("sent_at_ms=")
        .skip(1)
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect()
}

/// When each complete (blank-line terminated) event of a stream reached the client.
#[derive(Debug, Default)]
pub struct Receipts {
    text: String,
    /// Unix ms at which event i was complete on the client.
    pub times: Vec<u128>,
}

impl Receipts {
    /// Adds decoded stream text that arrived at `unix_ms`.
    pub fn feed(&mut self, decoded: &str, unix_ms: u128) {
        self.text.push_str(decoded);
        let complete = self.text.matches("\n\n").count();
        while self.times.len() < complete {
            self.times.push(unix_ms);
        }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    /// Per event, how long after the origin sent it the client had it (ms).
    pub fn delays(&self) -> Vec<u128> {
        sent_times(&self.text)
            .iter()
            .zip(&self.times)
            .map(|(sent, got)| got.saturating_sub(*sent))
            .collect()
    }

    /// Panics unless every event was on the client before the origin sent the next one.
    pub fn assert_each_before_next(&self, events: usize, what: &str) {
        let sent = sent_times(&self.text);
        assert_eq!(sent.len(), events, "{what}: {}", self.text);
        assert_eq!(self.times.len(), events, "{what}: {}", self.text);
        for i in 0..events - 1 {
            assert!(
                self.times[i] < sent[i + 1],
                "{what}: event {i} arrived at {} but event {} was sent at {}",
                self.times[i],
                i + 1,
                sent[i + 1]
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_timed_when_complete() {
        let mut r = Receipts::default();
        r.feed("data: a sent_at_ms=100\n", 105);
        r.feed("\ndata: b sent_at_ms=200\n\n", 230);
        assert_eq!(r.times, [230, 230]);
        assert_eq!(r.delays(), [130, 30]);
        assert_eq!(sent_times(r.text()), [100, 200]);
    }

    #[test]
    #[should_panic(expected = "event 0 arrived at 300")]
    fn a_late_event_fails_the_check() {
        let mut r = Receipts::default();
        r.feed("sent_at_ms=100\n\nsent_at_ms=200\n\n", 300);
        r.assert_each_before_next(2, "stream");
    }
}
