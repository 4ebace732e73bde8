//! The binary's global allocator: the system allocator, counted only while
//! `canon bench` measures.
//!
//! `canon bench` reports allocations per operation and the peak live heap
//! from [`ALLOC`], thin atomic counters (`stats_alloc` under
//! `peakmem_alloc`) around the system allocator. Every thread updates the
//! same counters, so two threads allocating at once contend for their cache
//! lines: with the counters always on, the threaded runner spent 43 % of its
//! samples in them and ran no faster than the cooperative runner on two
//! cores. So allocations go through the counters only once
//! [`count_allocations`] is called, and every other command allocates
//! through the system allocator directly. Both paths end in the system
//! allocator, so a block allocated on one path may be freed on the other.

#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, Ordering};

/// The counters `canon bench` reads.
pub(crate) static ALLOC: peakmem_alloc::PeakMemAlloc<&stats_alloc::StatsAlloc<System>> =
    peakmem_alloc::PeakMemAlloc::new(&stats_alloc::INSTRUMENTED_SYSTEM);

/// Whether allocations go through [`ALLOC`].
static COUNTING: AtomicBool = AtomicBool::new(false);

/// From now on, allocations are counted in [`ALLOC`] (`canon bench`).
pub(crate) fn count_allocations() {
    COUNTING.store(true, Ordering::SeqCst);
}

/// Whether allocations are being counted.
pub(crate) fn counting() -> bool {
    COUNTING.load(Ordering::Relaxed)
}

/// The system allocator, through [`ALLOC`] while [`counting`].
struct Switchable;

#[global_allocator]
static GLOBAL: Switchable = Switchable;

// SAFETY: every method forwards its arguments unchanged to `System`, either
// directly or through `ALLOC`, whose counters forward them to `System` too;
// so every block is allocated, reallocated and freed by `System`, whichever
// path each call takes.
unsafe impl GlobalAlloc for Switchable {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        unsafe { if counting() { ALLOC.alloc(layout) } else { System.alloc(layout) } }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded.
        unsafe { if counting() { ALLOC.alloc_zeroed(layout) } else { System.alloc_zeroed(layout) } }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, forwarded; `ptr` came from `System`.
        unsafe { if counting() { ALLOC.dealloc(ptr, layout) } else { System.dealloc(ptr, layout) } }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract, forwarded; `ptr` came from `System`.
        unsafe { if counting() { ALLOC.realloc(ptr, layout, new_size) } else { System.realloc(ptr, layout, new_size) } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Allocations of this thread between two looks at the counters.
    fn counted(f: impl FnOnce()) -> u64 {
        let before = stats_alloc::INSTRUMENTED_SYSTEM.stats().allocations;
        f();
        (stats_alloc::INSTRUMENTED_SYSTEM.stats().allocations - before) as u64
    }

    /// The only test of this binary that turns counting on (other tests
    /// allocate meanwhile, so "off" is checked as "no count at all").
    #[test]
    fn allocations_are_counted_only_once_counting_is_on() {
        assert!(!counting(), "nothing turned counting on yet");
        let off = counted(|| drop(std::hint::black_box(Vec::<u64>::with_capacity(1000))));
        assert_eq!(off, 0, "uncounted while off");
        count_allocations();
        let on = counted(|| drop(std::hint::black_box(Vec::<u64>::with_capacity(1000))));
        assert!(on >= 1, "counted once on");
    }
}
