//! What reading ESI tags allocates, counted with a counting global allocator (its own test
//! binary, so that nothing else allocates meanwhile): nothing for a tag whose kept values are
//! short, whatever they hold, and nothing for a value no token keeps unless it must be made
//! text (a reference or a byte that is not UTF-8) and is long.

use firstbyte_transform::esi::{Event, Tokenizer};
use firstbyte_transform::testing::{allocations_during, Counting};

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations made reading `tag` (the events' `Vec` has room beforehand).
fn allocations(tag: &[u8]) -> usize {
    let mut tokenizer = Tokenizer::new();
    let mut events: Vec<Event> = Vec::with_capacity(16);
    allocations_during(|| {
        let _ = tokenizer.push(tag, &mut events);
        let _ = tokenizer.finish(&mut events);
        events.clear();
    })
}

#[test]
fn a_tag_allocates_only_for_a_long_value() {
    let long = "a".repeat(23);
    let spaces = " ".repeat(23);
    let none: Vec<Vec<u8>> = vec![
        b"<esi:include src=/x/>".to_vec(),
        b"<esi:include src=\"/a&amp;b\"/>".to_vec(),
        b"<esi:include src=/a&b/>".to_vec(),
        b"<esi:include src=\"\xff\"/>".to_vec(),
        b"<esi:include src=/\xc3\xa9\xc2\xa0alt=/y/>".to_vec(),
        b"<esi:include src=/x alt=/y onerror=continue timeout=50 ttl=5m/>".to_vec(),
        b"<esi:include src=/x ttl=x/>".to_vec(),
        b"<esi:x/>".to_vec(),
        b"<esi:\xff/>".to_vec(),
        b"</esi:unknown>".to_vec(),
        b"<esi:try><esi:attempt></esi:attempt><esi:except></esi:except></esi:try>".to_vec(),
        // Long values no token keeps, plain: read where they are.
        format!("<esi:include src=/x onerror={long} timeout=0000000000000000000000001/>")
            .into_bytes(),
        format!("<esi:include src=/x ttl=000000000000000000000005 alt=\"{spaces}\"/>").into_bytes(),
        format!("<esi:include src=\"{spaces}\"/>").into_bytes(),
    ];
    for tag in &none {
        assert_eq!(allocations(tag), 0, "{}", String::from_utf8_lossy(tag));
    }
    // A kept value over the 22 bytes kept in place: one allocation, its own.
    let kept = format!("<esi:include src=/{long}/>");
    assert_eq!(allocations(kept.as_bytes()), 1);
    let kept = b"<esi:include src=\"\xff\xff\xff\xff\xff\xff\xff\xff\"/>";
    assert_eq!(allocations(kept), 1, "24 bytes once made text");
}
