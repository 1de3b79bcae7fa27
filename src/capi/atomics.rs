//! `memory.atomic.wait32`, `memory.atomic.wait64` and `memory.atomic.notify`
//! for the C ABI: argument checks in front of one process-wide
//! [`WaitQueue`] (host addresses are unique across memories).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use core::time::Duration;

use super::{
    Pages, Slot, View, WRT_E_DESTROYED, WRT_E_NOT_SHARED, WRT_E_OUT_OF_BOUNDS, WRT_E_UNALIGNED,
    WRT_MEMORY_SHARED, view, view_handle, with_memory, wrt_error, wrt_memory_t, wrt_memory_view_t,
};
use crate::wasm::atomics::{WaitQueue, WaitResult};
use crate::wasm::memory::LinearMemory;

// Wasm memory is little-endian: `expected` is compared with the word as the
// host loads it, which is the Wasm value only on a little-endian host.
#[cfg(target_endian = "big")]
compile_error!("wrt-platform: the Wasm atomics C ABI assumes a little-endian host");

/// The one queue of the process, on the platform's futex and clock.
static QUEUE: WaitQueue<super::platform::Futex, super::platform::Clock> =
    WaitQueue::new(super::platform::FUTEX, super::platform::CLOCK);

/// `wrt_atomic_wait*` result: woken by a notify that counted this waiter.
pub const WRT_WAIT_OK: i32 = 0;
/// `wrt_atomic_wait*` result: the word did not hold `expected`.
pub const WRT_WAIT_NOT_EQUAL: i32 = 1;
/// `wrt_atomic_wait*` result: the timeout passed.
pub const WRT_WAIT_TIMED_OUT: i32 = 2;

/// The byte offset of the naturally aligned `size`-byte word at `addr`,
/// checked in Wasm's order after the handle: alignment, then bounds
/// (`addr + size` wrapping is out of bounds) against `size_bytes`.
fn check(addr: u64, size: u64, size_bytes: u64) -> Result<usize, wrt_error> {
    if !addr.is_multiple_of(size) {
        return Err(WRT_E_UNALIGNED);
    }
    match addr.checked_add(size) {
        // addr < size in bytes <= the reservation: fits in usize.
        Some(end) if end <= size_bytes => Ok(addr as usize),
        _ => Err(WRT_E_OUT_OF_BOUNDS),
    }
}

/// Waits on the `size`-byte word at `addr` of a pinned, shared memory with
/// `wait`, which is given the word's host address and the `open`
/// condition (the memory is not destroyed).
fn wait_on(
    memory: wrt_memory_t,
    addr: u64,
    size: u64,
    wait: impl FnOnce(*mut u8, &dyn Fn() -> bool) -> WaitResult,
) -> i32 {
    let waited = with_memory(
        memory,
        |m: &LinearMemory<Pages>, slot: &'static Slot, generation| {
            let offset = check(addr, size, m.size_bytes())?;
            if !m.is_shared() {
                return Err(WRT_E_NOT_SHARED);
            }
            let word = m.base().as_ptr().wrapping_add(offset);
            // Counted before the wait compares the word (a `SeqCst` load),
            // so a notifier's fast path that reads 0 after its `SeqCst`
            // write of the word is right to skip us: in the single total
            // order either its load comes first (and our compare then sees
            // its write) or it sees this increment.
            slot.waiters().fetch_add(1, Ordering::SeqCst);
            let result = wait(word, &|| slot.is_live(generation));
            slot.waiters().fetch_sub(1, Ordering::Release);
            match result {
                WaitResult::Cancelled => Err(WRT_E_DESTROYED),
                r => Ok(r as i32),
            }
        },
    );
    match waited.and_then(|r| r) {
        Ok(r) => r,
        Err(code) => code as i32,
    }
}

/// Ends, with `WRT_E_DESTROYED`, the waits of every thread waiting on an
/// address in `range` (a memory being destroyed, already no longer LIVE).
pub(super) fn cancel_waiters(range: core::ops::Range<usize>) {
    QUEUE.cancel_range(range);
}

/// Forgets the waiters of other threads and frees the bucket locks, in
/// the child of a fork.
///
/// # Safety
/// As [`WaitQueue::reset_after_fork`].
pub(super) unsafe fn reset_after_fork() {
    // SAFETY: forwarded (caller).
    unsafe { QUEUE.reset_after_fork() };
}

/// A Wasm timeout in nanoseconds: negative waits forever.
fn timeout(ns: i64) -> Option<Duration> {
    u64::try_from(ns).ok().map(Duration::from_nanos)
}

/// `memory.atomic.wait32`: if the 32-bit word at byte offset `addr` of
/// `memory` holds `expected` (checked atomically with joining the wait
/// queue, so a notify between the check and the sleep is never lost),
/// sleeps until a `wrt_atomic_notify` of `addr` wakes this thread or
/// `timeout_ns` nanoseconds pass (negative: forever; 0: no sleep).
///
/// Returns `WRT_WAIT_OK` (0, woken by a notify that counted this waiter:
/// never spuriously), `WRT_WAIT_NOT_EQUAL` (1, no system call) or
/// `WRT_WAIT_TIMED_OUT` (2). Traps, returned as a negative code and
/// checked in this order: `WRT_E_BAD_HANDLE`, `WRT_E_UNALIGNED` (`addr`
/// not a multiple of 4), `WRT_E_OUT_OF_BOUNDS` (`addr + 4` past the
/// current size, or wrapping), `WRT_E_NOT_SHARED` (the memory was not
/// created with `WRT_MEMORY_SHARED`).
///
/// Thread-safe; waiters on one address are woken in the order they
/// started waiting, 32- and 64-bit waiters alike. The timeout is a
/// deadline on the monotonic clock fixed at the call; signals never
/// extend it. The word is read with a sequentially consistent load; the
/// writer that pairs with a waiter must write it with a Wasm atomic
/// (sequentially consistent) store or read-modify-write before its notify:
/// a plain store right before a notify is a data race and is not fenced.
/// If the memory is destroyed during the call, the call returns
/// `WRT_E_DESTROYED` (see `wrt_memory_destroy`).
///
/// The waiter's queue entry lives on its stack: the call must not be left
/// by a non-local jump (a `siglongjmp` out of a signal handler that
/// interrupted it, asynchronous thread cancellation); the helper's own
/// trap handling never does that. Not async-signal-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wrt_atomic_wait32(
    memory: wrt_memory_t,
    addr: u64,
    expected: u32,
    timeout_ns: i64,
) -> i32 {
    wait_on(memory, addr, 4, |p, open| {
        // SAFETY: `p` is 4-byte aligned (checked; the base is page-aligned)
        // and inside the committed part of a shared memory, which never
        // shrinks and is pinned for the call (destroy cannot tear it
        // down). Other threads access the word as Wasm does: atomically
        // when they pair with this wait.
        let word = unsafe { AtomicU32::from_ptr(p.cast()) };
        QUEUE.wait32_unless_closed(word, expected, timeout(timeout_ns), open)
    })
}

/// `memory.atomic.wait64`: as `wrt_atomic_wait32` for the 64-bit word at
/// `addr`, which must be a multiple of 8 (`WRT_E_UNALIGNED` otherwise) with
/// `addr + 8` inside the memory (`WRT_E_OUT_OF_BOUNDS`). 64-bit waiters
/// share one FIFO queue with 32-bit waiters on the same address, and one
/// notify wakes both. Thread-safe.
#[unsafe(no_mangle)]
pub extern "C" fn wrt_atomic_wait64(
    memory: wrt_memory_t,
    addr: u64,
    expected: u64,
    timeout_ns: i64,
) -> i32 {
    wait_on(memory, addr, 8, |p, open| {
        // SAFETY: as in `wrt_atomic_wait32`, with 8-byte alignment (checked).
        let word = unsafe { AtomicU64::from_ptr(p.cast()) };
        QUEUE.wait64_unless_closed(word, expected, timeout(timeout_ns), open)
    })
}

/// `memory.atomic.notify`: wakes up to `count` threads waiting (with
/// `wrt_atomic_wait32` or `wrt_atomic_wait64`) on byte offset `addr` of
/// `memory`, oldest first, and returns exactly how many it woke (>= 0);
/// each of them returns `WRT_WAIT_OK`. Waiters on other addresses are
/// never woken. On a memory that is not shared, nobody can wait: the
/// address is checked and 0 returned.
///
/// Traps, returned as a negative code: `WRT_E_BAD_HANDLE`,
/// `WRT_E_UNALIGNED` (`addr` not a multiple of 4), `WRT_E_OUT_OF_BOUNDS`
/// (`addr + 4` past the current size, or wrapping).
///
/// Thread-safe. When no thread waits on the address (more exactly, on
/// its hash bucket), the call is the handle and bounds checks plus one
/// atomic load: no lock and no system call.
/// That relies on the write to the waited word before the notify being a
/// Wasm atomic (sequentially consistent) store or read-modify-write, as
/// in every Wasm program that pairs a write with a notify; after a plain
/// store a waiter that is just checking the word may miss the notify.
#[unsafe(no_mangle)]
pub extern "C" fn wrt_atomic_notify(memory: wrt_memory_t, addr: u64, count: u32) -> i64 {
    let (v, word): (View, usize) = match view(memory)
        .and_then(|(_, _, v)| check(addr, 4, v.size).map(|offset| (v, v.base + offset)))
    {
        Ok(found) => found,
        Err(code) => return code as i64,
    };
    if !v.shared || count == 0 || !QUEUE.may_have_waiters(word) {
        return 0;
    }
    notify_queued(memory, word, count)
}

/// `wrt_atomic_wait32` for the memory whose view (from `wrt_memory_view`)
/// is `view`: the same checks, results and codes (`WRT_E_BAD_HANDLE` for
/// a pointer that is not a view or the view of a destroyed memory).
///
/// A view names its slot of the handle table: after its memory is
/// destroyed and the slot reused by a later memory, calls through the old
/// view act on that later memory (they never crash or write memory). Use
/// a view only while its memory lives.
#[unsafe(no_mangle)]
pub extern "C" fn wrt_atomic_wait32_view(
    view: *const wrt_memory_view_t,
    addr: u64,
    expected: u32,
    timeout_ns: i64,
) -> i32 {
    match view_handle(view) {
        Ok((_, memory)) => wrt_atomic_wait32(memory, addr, expected, timeout_ns),
        Err(code) => code as i32,
    }
}

/// `wrt_atomic_wait64` for the memory whose view is `view` (see
/// `wrt_atomic_wait32_view`).
#[unsafe(no_mangle)]
pub extern "C" fn wrt_atomic_wait64_view(
    view: *const wrt_memory_view_t,
    addr: u64,
    expected: u64,
    timeout_ns: i64,
) -> i32 {
    match view_handle(view) {
        Ok((_, memory)) => wrt_atomic_wait64(memory, addr, expected, timeout_ns),
        Err(code) => code as i32,
    }
}

/// `wrt_atomic_notify` for the memory whose view is `view` (see
/// `wrt_atomic_wait32_view` for what a view names): the same checks,
/// results and codes. With no waiter on the address this is the view's
/// fields, the alignment and bounds checks and one load of the queue: no
/// handle decoding, no lock, no system call.
#[unsafe(no_mangle)]
pub extern "C" fn wrt_atomic_notify_view(
    view: *const wrt_memory_view_t,
    addr: u64,
    count: u32,
) -> i64 {
    let (slot, memory) = match view_handle(view) {
        Ok(found) => found,
        Err(code) => return code as i64,
    };
    let length = slot.length().load(Ordering::Acquire);
    let word = match check(addr, 4, length) {
        Ok(offset) => slot.base().load(Ordering::Relaxed) as usize + offset,
        Err(code) => return code as i64,
    };
    let shared = slot.flags().load(Ordering::Relaxed) & WRT_MEMORY_SHARED != 0;
    if !shared || count == 0 || !QUEUE.may_have_waiters(word) {
        return 0;
    }
    notify_queued(memory, word, count)
}

/// `wrt_atomic_notify_inline` of the header, for Rust callers: the
/// notify fast path compiled code inlines. When `addr` is aligned and in
/// bounds and nobody waits on the memory (its view's `waiters` is 0) it
/// returns 0 after two loads and no call; otherwise it calls
/// [`wrt_atomic_notify_view`], so results and codes are the same.
///
/// Like the header's version it reads `length` with a relaxed load: a
/// stale, smaller length only sends the notify down the call, and a
/// memory's length only grows while it lives (`reset` needs it idle; a
/// torn-down memory's length is 0).
///
/// # Safety
/// `view` is a pointer returned by `wrt_memory_view` (not NULL). As for
/// every use of a view, a notify through the view of a destroyed memory
/// may act on the slot's later memory.
#[inline(always)]
pub unsafe fn wrt_atomic_notify_inline(
    view: *const wrt_memory_view_t,
    addr: u64,
    count: u32,
) -> i64 {
    let field = |offset: usize| view.wrapping_byte_add(offset).cast_mut();
    let length = field(core::mem::offset_of!(wrt_memory_view_t, length));
    let waiters = field(core::mem::offset_of!(wrt_memory_view_t, waiters));
    // SAFETY: `view` points to a view in the static handle table (caller),
    // whose fields the helper only ever writes with atomic stores.
    let length = unsafe { AtomicU64::from_ptr(length.cast()) };
    // SAFETY: as above.
    let waiters = unsafe { AtomicU32::from_ptr(waiters.cast()) };
    let length = length.load(Ordering::Relaxed);
    // Aligned and `addr + 4 <= length`: for an aligned `addr`, `addr | 3`
    // is `addr + 3`, and it never wraps.
    let in_bounds = addr & 3 == 0 && (addr | 3) < length;
    if in_bounds && waiters.load(Ordering::SeqCst) == 0 {
        return 0;
    }
    wrt_atomic_notify_view(view, addr, count)
}

/// The rest of a notify that may have waiters: pins the memory, so that
/// the queue's keys are still this memory's addresses while the notify
/// takes its waiters. Out of line, so the no-waiter path of the callers
/// keeps its values in registers.
#[cold]
#[inline(never)]
fn notify_queued(memory: wrt_memory_t, word: usize, count: u32) -> i64 {
    match with_memory(memory, |_, _, _| QUEUE.notify(word, count)) {
        Ok(n) => i64::from(n),
        Err(code) => code as i64,
    }
}

/// Caps the busy phase of `wrt_atomic_wait32` / `wrt_atomic_wait64` at
/// `limit_ns` nanoseconds (at most 1 ms; larger values are clamped) for
/// every later wait of the process, and returns the previous cap. 0 turns
/// the phase off: every wait that does not return at once then sleeps in
/// the kernel.
///
/// The phase: after a waiter has joined the queue, and before it sleeps,
/// it watches its own queue entry for a notify without a system call
/// (aarch64: `wfe`/`wfet` on the entry; x86_64: `umwait` with WAITPKG, a
/// `pause` loop otherwise), and a notify that finds it there makes no
/// system call either. How long it watches adapts to whether recent
/// phases on the same hash bucket ended in a notify, up to this cap: when
/// notifies come from another core within the cap it stays, and when they
/// cannot (waiter and notifier share one CPU, or notifies come late) it
/// falls to about zero within a few waits. The default is 20000 (20 µs) on
/// Linux and bare metal (x86_64, aarch64); on other platforms there is no
/// phase and the cap stays 0. Results, the FIFO order, the counts and the
/// timeouts do not depend on it (the phase counts against a wait's
/// timeout).
///
/// Thread-safe; takes effect for waits that start after it returns.
#[unsafe(no_mangle)]
pub extern "C" fn wrt_atomic_set_spin_limit_ns(limit_ns: u64) -> u64 {
    let old = QUEUE.set_spin_limit(Duration::from_nanos(limit_ns));
    old.as_nanos() as u64
}
