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
        timeout_ms: None,
        ttl: None,
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
fn an_attempt_goes_out_whole_once_every_fragment_in_it_succeeded() -> Result<(), String> {
    let mut t = Tree::new();
    t.text(0, text("<"));
    t.try_start(0)?;
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
    Ok(())
}

#[test]
fn a_failed_attempt_gives_way_to_its_except() -> Result<(), String> {
    let mut t = Tree::new();
    t.try_start(0)?;
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
    Ok(())
}

#[test]
fn a_try_inside_an_except_requests_and_places_its_includes() -> Result<(), String> {
    let mut t = Tree::new();
    t.text(0, text("A"));
    t.try_start(0)?;
    t.part(0, false);
    let broken = t.include(0);
    t.part(0, true);
    t.text(0, text("E"));
    t.try_start(0)?;
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
    Ok(())
}

#[test]
fn a_failure_in_a_nested_except_fails_the_enclosing_attempt() -> Result<(), String> {
    let mut t = Tree::new();
    t.text(0, text("A"));
    t.try_start(0)?;
    t.part(0, false);
    t.text(0, text("["));
    t.try_start(0)?;
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
    Ok(())
}

/// Text directly inside a try, outside its attempt and except, goes out in document
/// order with whichever part is used.
#[test]
fn text_directly_in_a_try_goes_out_with_either_part() -> Result<(), String> {
    for fails in [false, true] {
        let mut t = Tree::new();
        t.try_start(0)?;
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
    Ok(())
}

/// Tries nest up to the bound, counted across the fragments inside them.
#[test]
fn tries_nest_up_to_the_bound() -> Result<(), String> {
    let mut t = Tree::new();
    for _ in 0..MAX_TRY_DEPTH - 1 {
        t.try_start(0)?;
    }
    let f = t.include(0);
    t.try_start(f)?;
    assert!(t.try_start(f).is_err(), "one past the bound, in a fragment");
    t.try_end(f);
    t.try_start(f)?;
    Ok(())
}

/// An `alt` or `onerror` that takes over drops what the failed fragment included, and
/// an attempt that fails drops every fragment made under it.
#[test]
fn what_is_abandoned_is_dropped() -> Result<(), String> {
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
    t.try_start(0)?;
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
    Ok(())
}
