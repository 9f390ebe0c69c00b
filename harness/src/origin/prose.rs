//! The deterministic English-like text behind `/text/{n}`, and the body that streams it,
//! plain or compressed on the fly.
//!
//! The text is made of 4096-byte blocks, each a run of lines of 40–80 bytes ending in '\n'.
//! Block `b` depends only on `b` (its words come from hashing `(b, i)`), so any slice of a
//! multi-gigabyte body can be computed without generating what comes before it, and lines
//! never straddle two blocks. About one word in fifty is `origin.example`, so rewriting
//! transforms in front of the origin always have something to match.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Frame, SizeHint};

use super::compress::{Encoding, StreamEncoder};
use super::pattern::{mix, pause_after_first_frame};
use super::BoxError;

/// Bytes per independently generated block of text.
const BLOCK: usize = 4096;

/// Plain bytes in the first frame; see `poll_frame`.
const FIRST_FRAME: usize = 4096;

/// A compressed stream is sync-flushed after this many plain bytes (and after the first
/// frame), so a client always has recent text to decode without paying for a flush per
/// frame.
const FLUSH_EVERY: u64 = 1 << 20;

/// Mixed into every block's seed so the text does not share hashes with `/bytes`.
const SEED: u64 = 0x7465_7874_626c_6f63; // "textbloc"

/// The token rewriting transforms look for; about one word in fifty is it (see `PICK`).
const MARKER: &str = "origin.example";

/// The words the text is drawn from, besides `MARKER`. Common English plus a little web
/// vocabulary; ASCII only, at most 13 bytes each.
#[rustfmt::skip]
const WORDS: [&str; 162] = [
    "a", "of", "to", "in", "is", "it", "on", "be", "as", "at", "by", "we", "or", "an", "do",
    "if", "up", "so", "no", "the", "and", "for", "are", "but", "not", "you", "all", "any",
    "can", "had", "was", "one", "our", "out", "day", "get", "has", "how", "new", "now",
    "old", "see", "two", "way", "who", "its", "let", "say", "use", "that", "with", "have",
    "this", "will", "your", "from", "they", "know", "been", "good", "much", "some", "time",
    "very", "when", "come", "here", "just", "like", "long", "make", "many", "more", "only",
    "over", "such", "take", "than", "them", "well", "were", "what", "each", "word", "page",
    "data", "edge", "link", "about", "there", "their", "would", "other", "which", "could",
    "these", "first", "water", "after", "where", "right", "think", "three", "place", "sound",
    "great", "again", "still", "every", "small", "found", "cache", "proxy", "bytes",
    "people", "before", "number", "little", "should", "around", "always", "answer",
    "server", "stream", "header", "between", "another", "because", "through", "example",
    "without", "request", "network", "content", "together", "response", "however",
    "question", "sentence", "possible", "document", "something", "different", "important",
    "following", "sometimes", "available", "everything", "understand", "connection",
    "especially", "information", "development", "performance", "compression",
    "relationship", "particularly", "distribution", "international", "understanding",
    "communication", "configuration",
];

/// Words that end a line, by length, so every line can be filled exactly: `TAIL[k]` holds
/// words of `k` bytes.
#[rustfmt::skip]
const TAIL: [&[&str]; 14] = [
    &[],
    &["a"],
    &["of", "to", "in", "is", "it", "on", "be", "as", "at", "by"],
    &["the", "and", "for", "are", "but", "not", "you", "all"],
    &["that", "with", "have", "this", "will", "from", "they", "time"],
    &["about", "there", "their", "would", "other", "which", "could", "these"],
    &["people", "before", "number", "little", "should", "server", "stream"],
    &["between", "another", "because", "through", "example", "request", "content"],
    &["together", "response", "question", "sentence", "document", "possible"],
    &["something", "different", "important", "following", "available"],
    &["everything", "understand", "connection", "especially"],
    &["information", "development", "performance", "compression"],
    &["relationship", "particularly", "distribution"],
    &["international", "understanding", "communication", "configuration"],
];

/// Longest word a line is ever finished with.
const TAIL_MAX: usize = TAIL.len() - 1;

/// Words are copied as fixed 16-byte moves of the word padded with spaces: one move per
/// word instead of a variable-length copy, and the space after it comes for free.
const PAD: usize = 16;

/// `WORDS` padded, with `MARKER` last.
static PADDED: [[u8; PAD]; WORDS.len() + 1] = pad_words();
/// Byte length of each entry of `PADDED`.
static LENS: [u8; WORDS.len() + 1] = word_lens();
const MARKER_INDEX: usize = WORDS.len();
/// The short word used when a drawn one would not leave room to end the line.
const FILLER_INDEX: usize = 19; // "the"

/// Each word is chosen by one byte of hash, through this table: `MARKER` takes
/// `MARKER_SLOTS` of the 256 values (one word in about 51) and the rest are spread evenly
/// over `WORDS`, one or two values each.
static PICK: [u8; 256] = pick_table();
const MARKER_SLOTS: usize = 5;

const fn pick_table() -> [u8; 256] {
    let mut out = [0; 256];
    let for_words = out.len() - MARKER_SLOTS;
    let mut slot = 0;
    while slot < out.len() {
        out[slot] = if slot < for_words {
            (slot * WORDS.len() / for_words) as u8
        } else {
            MARKER_INDEX as u8
        };
        slot += 1;
    }
    out
}

const fn entry(i: usize) -> &'static str {
    if i < WORDS.len() {
        WORDS[i]
    } else {
        MARKER
    }
}

const fn pad_words() -> [[u8; PAD]; WORDS.len() + 1] {
    let mut out = [[b' '; PAD]; WORDS.len() + 1];
    let mut i = 0;
    while i < out.len() {
        let word = entry(i).as_bytes();
        let mut j = 0;
        while j < word.len() {
            out[i][j] = word[j];
            j += 1;
        }
        i += 1;
    }
    out
}

const fn word_lens() -> [u8; WORDS.len() + 1] {
    let mut out = [0; WORDS.len() + 1];
    let mut i = 0;
    while i < out.len() {
        out[i] = entry(i).len() as u8;
        i += 1;
    }
    out
}

/// Fills `buf` with the text bytes at positions `offset .. offset + buf.len()`.
///
/// Byte `i` depends only on `i` (it is byte `i % 4096` of block `i / 4096`), so any slice of
/// a `/text` body can be checked on its own, just like `pattern_bytes` for `/bytes`.
pub fn text_bytes(offset: u64, buf: &mut [u8]) {
    BlockCache::new().read(offset, buf);
}

/// The last block generated, so that reading the text sequentially in pieces smaller than
/// a block generates each block once.
struct BlockCache {
    block: Option<u64>,
    /// The block in `[..BLOCK]`; the rest is room for the last padded word.
    bytes: [u8; BLOCK + PAD],
}

impl BlockCache {
    fn new() -> Self {
        BlockCache {
            block: None,
            bytes: [0; BLOCK + PAD],
        }
    }

    /// Same contract as `text_bytes`.
    fn read(&mut self, offset: u64, buf: &mut [u8]) {
        let mut pos = offset;
        let mut out = buf;
        while !out.is_empty() {
            let block = pos / BLOCK as u64;
            let start = (pos % BLOCK as u64) as usize;
            let n = (BLOCK - start).min(out.len());
            if self.block != Some(block) {
                fill_block(block, &mut self.bytes);
                self.block = Some(block);
            }
            out[..n].copy_from_slice(&self.bytes[start..start + n]);
            out = &mut out[n..];
            pos = pos.wrapping_add(n as u64);
        }
    }
}

/// Writes block `block` into `out[..BLOCK]` (the rest is room for the last padded word):
/// lines of 60–80 bytes (the last one or two of the block 40–80, so that they add up to
/// exactly 4096), each filled exactly with words separated by single spaces.
fn fill_block(block: u64, out: &mut [u8; BLOCK + PAD]) {
    let mut draws = Draws::new(block);
    let mut pos = 0;
    while pos < BLOCK {
        let left = BLOCK - pos;
        let mut line = 60 + usize::from(draws.byte() % 21);
        if left - line.min(left) < 60 {
            // Too little would be left for another full line: split what remains instead.
            line = if left <= 80 { left } else { left / 2 };
        }
        // Where the '\n' goes; words fill `pos..newline` exactly.
        let newline = pos + line - 1;
        loop {
            let room = newline - pos;
            let byte = draws.byte();
            if room <= TAIL_MAX {
                let words = TAIL[room];
                let word = words[usize::from(byte) % words.len()];
                out[pos..newline].copy_from_slice(word.as_bytes());
                break;
            }
            let mut i = usize::from(PICK[usize::from(byte)]);
            // The word and its space must leave at least one byte for the line's last word.
            if usize::from(LENS[i]) + 2 > room {
                i = FILLER_INDEX;
            }
            out[pos..pos + PAD].copy_from_slice(&PADDED[i]);
            pos += usize::from(LENS[i]) + 1;
        }
        out[newline] = b'\n';
        pos = newline + 1;
    }
}

/// The random bytes of one block: splitmix64 outputs for `(block, 1)`, `(block, 2)`, ...
/// taken a byte at a time, since one byte is all a word needs.
struct Draws {
    seed: u64,
    count: u64,
    bits: u64,
    left: u32,
}

impl Draws {
    fn new(block: u64) -> Self {
        Draws {
            seed: mix(block ^ SEED),
            count: 0,
            bits: 0,
            left: 0,
        }
    }

    fn byte(&mut self) -> u8 {
        if self.left == 0 {
            self.count += 1;
            self.bits = mix(self.seed.wrapping_add(self.count));
            self.left = 8;
        }
        let byte = self.bits as u8;
        self.bits >>= 8;
        self.left -= 1;
        byte
    }
}

/// Streams `len` text bytes in frames of `frame` plain bytes, generating (and compressing)
/// each only when hyper asks for it, so memory stays constant however long the body is.
pub(crate) struct TextBody {
    pos: u64,
    end: u64,
    frame: usize,
    /// `None` for identity; taken once the compressed stream has been finished.
    encoder: Option<StreamEncoder>,
    compressed: bool,
    cache: Box<BlockCache>,
    /// The plain bytes of the frame being compressed, kept to save an allocation a frame.
    plain: Vec<u8>,
    since_flush: u64,
    sent_first: bool,
    /// Whether the pause after the first frame has happened; see `poll_frame`.
    head_flushed: bool,
}

impl TextBody {
    pub(crate) fn new(len: u64, frame: usize, encoding: Option<Encoding>) -> Self {
        TextBody {
            pos: 0,
            end: len,
            frame: frame.max(1),
            encoder: encoding.map(StreamEncoder::new),
            compressed: encoding.is_some(),
            cache: Box::new(BlockCache::new()),
            plain: Vec::new(),
            since_flush: 0,
            sent_first: false,
            head_flushed: false,
        }
    }

    /// Plain bytes in the next frame: the first one is small so that producing it does not
    /// delay the headers.
    fn next_len(&self) -> usize {
        let frame = if self.sent_first {
            self.frame
        } else {
            self.frame.min(FIRST_FRAME)
        };
        (self.end - self.pos).min(frame as u64) as usize
    }

    fn plain_frame(&mut self) -> Option<Bytes> {
        if self.pos >= self.end {
            return None;
        }
        let mut buf = BytesMut::zeroed(self.next_len());
        self.cache.read(self.pos, &mut buf);
        self.pos += buf.len() as u64;
        Some(buf.freeze())
    }

    /// Feeds plain frames to the compressor until it has output to send (compressors hold
    /// back what they have not finished a block of), then the end of the stream.
    fn compressed_frame(&mut self) -> Result<Option<Bytes>, BoxError> {
        loop {
            let n = self.next_len();
            let Some(encoder) = self.encoder.as_mut() else {
                return Ok(None);
            };
            let out = if n > 0 {
                self.plain.resize(n, 0);
                self.cache.read(self.pos, &mut self.plain);
                encoder.write(&self.plain)?;
                self.pos += n as u64;
                self.since_flush += n as u64;
                if !self.sent_first || self.since_flush >= FLUSH_EVERY {
                    encoder.flush()?;
                    self.since_flush = 0;
                }
                encoder.take_output()
            } else {
                let encoder = self.encoder.take().expect("checked above");
                self.plain = Vec::new();
                encoder.finish()?
            };
            if !out.is_empty() {
                return Ok(Some(Bytes::from(out)));
            }
        }
    }
}

impl Body for TextBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if pause_after_first_frame(this.sent_first, &mut this.head_flushed, cx) {
            return Poll::Pending;
        }
        let frame = if this.compressed {
            this.compressed_frame()
        } else {
            Ok(this.plain_frame())
        };
        this.sent_first = true;
        Poll::Ready(match frame {
            Ok(Some(data)) => Some(Ok(Frame::data(data))),
            Ok(None) => None,
            Err(e) => Some(Err(e)),
        })
    }

    fn is_end_stream(&self) -> bool {
        self.pos >= self.end && self.encoder.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.compressed {
            SizeHint::default()
        } else {
            // An exact hint is what makes hyper pick Content-Length over chunked.
            SizeHint::with_exact(self.end - self.pos)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_words_have_the_length_they_are_filed_under() {
        for (len, words) in TAIL.iter().enumerate().skip(1) {
            assert!(!words.is_empty(), "no tail word of {len} bytes");
            for word in *words {
                assert_eq!(word.len(), len, "{word}");
            }
        }
        for word in WORDS.iter().chain([&MARKER]) {
            assert!(word.len() <= TAIL_MAX + 1, "{word}");
            assert!(word.bytes().all(|b| b.is_ascii_graphic()), "{word}");
        }
        assert_eq!(WORDS[FILLER_INDEX], "the");
        assert!(WORDS.len() < 256 - MARKER_SLOTS);
        for (i, word) in WORDS.iter().enumerate() {
            let slots = PICK.iter().filter(|&&p| usize::from(p) == i).count();
            assert!((1..=2).contains(&slots), "{word} has {slots} slots");
        }
        assert_eq!(&PADDED[MARKER_INDEX][..15], b"origin.example ");
    }

    #[test]
    fn blocks_are_lines_of_words() {
        let mut text = vec![0u8; 64 * BLOCK];
        text_bytes(0, &mut text);
        let text = std::str::from_utf8(&text).unwrap();
        let mut words = 0;
        let mut markers = 0;
        for line in text.split_terminator('\n') {
            assert!((39..=79).contains(&line.len()), "{line:?}");
            for word in line.split(' ') {
                assert!(
                    WORDS.contains(&word) || word == MARKER,
                    "{word:?} in {line:?}"
                );
                words += 1;
                markers += usize::from(word == MARKER);
            }
        }
        assert!(text.ends_with('\n'));
        // One in fifty, give or take.
        assert!(
            (words / 80..=words / 30).contains(&markers),
            "{markers} of {words}"
        );
    }

    #[test]
    fn far_offsets_do_not_overflow() {
        let mut buf = [0u8; 5000];
        text_bytes(u64::MAX - 100, &mut buf);
        text_bytes(16 << 30, &mut buf);
    }
}
