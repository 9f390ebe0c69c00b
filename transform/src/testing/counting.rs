//! A counting global allocator for the memory tests: a test binary declares it its
//! `#[global_allocator]` (one binary per measure, so that nothing else allocates meanwhile)
//! and reads the bytes held at peak, or the allocations made, while a closure runs.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The allocator: the system's, with counters.
pub struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static CALLS: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    CALLS.fetch_add(1, Relaxed);
    let now = CURRENT.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call forwards to the system allocator unchanged; only the counters are ours.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc_zeroed(layout);
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        CURRENT.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let new = System.realloc(ptr, layout, new_size);
        if !new.is_null() {
            CURRENT.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        new
    }
}

/// Peak bytes allocated while `f` runs, above what was allocated before it; fails the test
/// when `f` left more than 1 KiB allocated (a leak).
pub fn peak_during(f: impl FnOnce()) -> usize {
    let base = CURRENT.load(Relaxed);
    PEAK.store(base, Relaxed);
    f();
    let peak = PEAK.load(Relaxed) - base;
    assert!(CURRENT.load(Relaxed) <= base + 1024, "the stage leaked");
    peak
}

/// Allocations (and reallocations) made while `f` runs.
pub fn allocations_during(f: impl FnOnce()) -> usize {
    let before = CALLS.load(Relaxed);
    f();
    CALLS.load(Relaxed) - before
}
