//! Stand-ins for the Zephyr symbols and trap the Zephyr backend links
//! against: `z_impl_k_futex_wait`, `z_impl_k_futex_wake`,
//! `k_heap_aligned_alloc`, `k_heap_free` (defined in C with Zephyr's
//! prototypes in `zephyr_shim.c`, which forwards here), and the `svc #3`
//! system-call entry (dispatched by `x8` against the ids of the build
//! inputs, read by this crate's `build.rs`). **This is not Zephyr**: it emulates the
//! documented behaviour of those calls (`kernel/futex.c`: compare the whole
//! `atomic_t` with the sign-extended `int`, `-EAGAIN` on a mismatch,
//! `-ETIMEDOUT` on timeout, wake one or all and return the count) well
//! enough to run the conformance suite through the backend, records every
//! call with its arguments, and can be told to return a given value next.

use core::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use core::time::Duration;

use wrt_platform::os::zephyr::{KFutex, KHeap};

use crate::rt::{self, Frame};
use crate::sched::now;

/// Numbers read from the Zephyr build inputs by `build.rs`.
pub mod inputs {
    include!(concat!(env!("OUT_DIR"), "/fixture_inputs.rs"));
}

/// What a recorded call was.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `k_futex_wait`.
    Wait,
    /// `k_futex_wake`.
    Wake,
    /// `k_heap_aligned_alloc`.
    Alloc,
    /// `k_heap_free`.
    Free,
    /// `svc #3` with an id that is not a futex call.
    BadSyscall,
}

/// One call as the fixture saw it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Which call.
    pub kind: Kind,
    /// Through `svc #3` (user mode) or a direct call (supervisor mode).
    pub via_svc: bool,
    /// `x8` for `svc`, 0 otherwise.
    pub id: u64,
    /// First argument: the futex, the heap, or (free) the heap.
    pub a0: u64,
    /// Second argument as passed: `expected` (for `svc`: the raw x1),
    /// `wake_all`, `align`, or (free) the memory.
    pub a1: u64,
    /// Third: the timeout's ticks (raw x2 for `svc`), or `bytes`.
    pub a2: u64,
    /// Fourth: the heap timeout's ticks.
    pub a3: u64,
}

const LOG: usize = 64;
const NO_CALL: Call = Call {
    kind: Kind::BadSyscall,
    via_svc: false,
    id: 0,
    a0: 0,
    a1: 0,
    a2: 0,
    a3: 0,
};

/// Fixture state guarded by [`LOCK`].
struct State {
    log: [Call; LOG],
    logged: usize,
}

struct Locked(core::cell::UnsafeCell<State>);
// SAFETY: only accessed with LOCK held (interrupts masked).
unsafe impl Sync for Locked {}

static STATE: Locked = Locked(core::cell::UnsafeCell::new(State {
    log: [NO_CALL; LOG],
    logged: 0,
}));
static LOCK: AtomicBool = AtomicBool::new(false);
/// Record calls (off during the conformance runs: they make millions).
static RECORDING: AtomicBool = AtomicBool::new(false);
/// The value the next futex call returns instead of running, or `NONE`.
static INJECT: AtomicI64 = AtomicI64::new(NONE);
const NONE: i64 = i64::MIN;

fn with_state<R>(f: impl FnOnce(&mut State) -> R) -> R {
    let daif = rt::irq_save();
    while LOCK.swap(true, Ordering::Acquire) {
        crate::rt::relax();
    }
    // SAFETY: LOCK is held.
    let r = f(unsafe { &mut *STATE.0.get() });
    LOCK.store(false, Ordering::Release);
    rt::irq_restore(daif);
    r
}

fn record(call: Call) {
    if RECORDING.load(Ordering::Acquire) {
        with_state(|s| {
            if s.logged < LOG {
                s.log[s.logged] = call;
            }
            s.logged += 1;
        });
    }
}

/// Starts recording from an empty log.
pub fn start_recording() {
    with_state(|s| s.logged = 0);
    RECORDING.store(true, Ordering::Release);
}

/// Stops recording; returns the calls made since [`start_recording`]
/// (at most 64 kept) and how many there were.
pub fn stop_recording() -> ([Call; LOG], usize) {
    RECORDING.store(false, Ordering::Release);
    with_state(|s| (s.log, s.logged))
}

/// Makes the next futex call return `v` without doing anything.
pub fn inject(v: i32) {
    INJECT.store(i64::from(v), Ordering::Release);
}

fn injected() -> Option<i32> {
    match INJECT.swap(NONE, Ordering::AcqRel) {
        NONE => None,
        v => Some(v as i32),
    }
}

/// A waiter of the emulated kernel: FREE, WAITING (on `futex`), WOKEN.
struct Waiter {
    state: AtomicU32,
    futex: AtomicUsize,
    ticket: AtomicU64,
}

const FREE: u32 = 0;
const WAITING: u32 = 1;
const WOKEN: u32 = 2;
static WAITERS: [Waiter; 32] = [const {
    Waiter {
        state: AtomicU32::new(FREE),
        futex: AtomicUsize::new(0),
        ticket: AtomicU64::new(0),
    }
}; 32];
static TICKETS: AtomicU64 = AtomicU64::new(0);

/// `true` if `ticks` is `K_FOREVER` for the input's `k_ticks_t` width.
fn forever(ticks: u64) -> bool {
    if inputs::TIMEOUT_64BIT {
        ticks == u64::MAX
    } else {
        ticks & 0xffff_ffff == 0xffff_ffff
    }
}

/// The emulated `k_futex_wait`; `ticks` as a zero-extended word.
fn futex_wait(futex: *mut KFutex, expected: i32, ticks: u64) -> i32 {
    if let Some(v) = injected() {
        return v;
    }
    // SAFETY: the backend passes a live `KFutex` (the tests check which).
    let f = unsafe { &*futex };
    let slot = with_state(|_| {
        // The kernel's comparison: the whole atomic_t against (long)expected.
        if f.val.load(Ordering::SeqCst) as i64 != i64::from(expected) {
            return Err(-inputs::EAGAIN);
        }
        if ticks == 0 {
            return Err(-inputs::ETIMEDOUT);
        }
        let i = WAITERS
            .iter()
            .position(|w| w.state.load(Ordering::Relaxed) == FREE);
        let Some(i) = i else {
            return Err(-inputs::ENOMEM);
        };
        let w = &WAITERS[i];
        w.futex.store(futex as usize, Ordering::Relaxed);
        w.ticket
            .store(TICKETS.fetch_add(1, Ordering::Relaxed), Ordering::Relaxed);
        w.state.store(WAITING, Ordering::Release);
        Ok(i)
    });
    let i = match slot {
        Ok(i) => i,
        Err(r) => return r,
    };
    let w = &WAITERS[i];
    let deadline = (!forever(ticks)).then(|| {
        now() + Duration::from_nanos(ticks.saturating_mul(1_000_000_000 / inputs::TICKS_PER_SEC))
    });
    loop {
        if w.state.load(Ordering::Acquire) == WOKEN {
            w.state.store(FREE, Ordering::Release);
            return 0;
        }
        if deadline.is_some_and(|d| now() >= d) {
            return with_state(|_| {
                let r = if w.state.load(Ordering::Relaxed) == WOKEN {
                    0
                } else {
                    -inputs::ETIMEDOUT
                };
                w.state.store(FREE, Ordering::Release);
                r
            });
        }
        crate::rt::relax();
    }
}

/// The emulated `k_futex_wake`: the oldest waiter (or all) on `futex`.
fn futex_wake(futex: *mut KFutex, wake_all: bool) -> i32 {
    if let Some(v) = injected() {
        return v;
    }
    with_state(|_| {
        let mut woken = 0;
        loop {
            let next = WAITERS
                .iter()
                .filter(|w| {
                    w.state.load(Ordering::Relaxed) == WAITING
                        && w.futex.load(Ordering::Relaxed) == futex as usize
                })
                .min_by_key(|w| w.ticket.load(Ordering::Relaxed));
            let Some(w) = next else { break };
            w.state.store(WOKEN, Ordering::Release);
            woken += 1;
            if !wake_all {
                break;
            }
        }
        woken
    })
}

/// Called by `z_impl_k_futex_wait` in `zephyr_shim.c` (C, with Zephyr's
/// prototype) with the timeout's ticks as a zero-extended word.
#[unsafe(no_mangle)]
extern "C" fn wrt_fixture_futex_wait(futex: *mut KFutex, expected: i32, ticks: u64) -> i32 {
    record(Call {
        kind: Kind::Wait,
        via_svc: false,
        id: 0,
        a0: futex as u64,
        a1: expected as i64 as u64,
        a2: ticks,
        a3: 0,
    });
    futex_wait(futex, expected, ticks)
}

/// Called by `z_impl_k_futex_wake` in `zephyr_shim.c`.
#[unsafe(no_mangle)]
extern "C" fn wrt_fixture_futex_wake(futex: *mut KFutex, wake_all: i32) -> i32 {
    record(Call {
        kind: Kind::Wake,
        via_svc: false,
        id: 0,
        a0: futex as u64,
        a1: wake_all as u64,
        a2: 0,
        a3: 0,
    });
    futex_wake(futex, wake_all != 0)
}

/// The emulated `k_uptime_ticks`: the generic timer in kernel ticks
/// (`CONFIG_SYS_CLOCK_TICKS_PER_SEC` of the inputs).
fn uptime_ticks() -> i64 {
    let ticks = u128::from(rt::counter()) * u128::from(inputs::TICKS_PER_SEC)
        / u128::from(rt::frequency().max(1));
    ticks as i64
}

/// Called by `z_impl_k_uptime_ticks` in `zephyr_shim.c`.
#[unsafe(no_mangle)]
extern "C" fn wrt_fixture_uptime_ticks() -> i64 {
    UPTIME_CALLS.fetch_add(1, Ordering::Relaxed);
    uptime_ticks()
}

/// `k_uptime_ticks` calls so far: (supervisor, `svc #3`).
pub fn uptime_calls() -> (usize, usize) {
    (
        UPTIME_CALLS.load(Ordering::Relaxed),
        UPTIME_SVCS.load(Ordering::Relaxed),
    )
}
static UPTIME_CALLS: AtomicUsize = AtomicUsize::new(0);
static UPTIME_SVCS: AtomicUsize = AtomicUsize::new(0);

/// The `svc #3` entry (`rt::wrt_sync`): dispatch on `x8` like
/// `z_arm64_do_syscall`, with interrupts back on while the call runs (as
/// Zephyr does) if the caller had them on; the result goes to x0, and the
/// registers the backend declares clobbered (x1, x2, x8) are overwritten.
pub fn svc(frame: &mut Frame) {
    let id = frame.x[8];
    let (a0, a1, a2) = (frame.x[0], frame.x[1], frame.x[2]);
    let irqs_were_on = frame.spsr & (1 << 7) == 0;
    if irqs_were_on {
        rt::irq_enable();
    }
    let r = if id == inputs::SYS_UPTIME_TICKS {
        UPTIME_SVCS.fetch_add(1, Ordering::Relaxed);
        uptime_ticks()
    } else if id == inputs::SYS_FUTEX_WAIT {
        record(Call {
            kind: Kind::Wait,
            via_svc: true,
            id,
            a0,
            a1,
            a2,
            a3: 0,
        });
        // The marshaller's union: the int is the low 32 bits of x1.
        i64::from(futex_wait(a0 as *mut KFutex, a1 as u32 as i32, a2))
    } else if id == inputs::SYS_FUTEX_WAKE {
        record(Call {
            kind: Kind::Wake,
            via_svc: true,
            id,
            a0,
            a1,
            a2: 0,
            a3: 0,
        });
        i64::from(futex_wake(a0 as *mut KFutex, a1 & 0xff != 0))
    } else {
        record(Call {
            kind: Kind::BadSyscall,
            via_svc: true,
            id,
            a0,
            a1,
            a2,
            a3: 0,
        });
        println!("FIXTURE: svc #3 with unknown id {id}");
        i64::from(-inputs::ENOSYS)
    };
    let _ = rt::irq_save(); // masked again until the eret
    // The marshaller returns (uintptr_t) of the int: sign-extended (the
    // int64_t of k_uptime_ticks whole).
    frame.x[0] = r as u64;
    frame.x[1] = 0xdead_0001;
    frame.x[2] = 0xdead_0002;
    frame.x[8] = 0xdead_0008;
}

/// Waiters the emulated kernel has asleep on `futex`.
pub fn sleepers(futex: &KFutex) -> usize {
    let addr = futex as *const KFutex as usize;
    WAITERS
        .iter()
        .filter(|w| {
            w.state.load(Ordering::Acquire) == WAITING && w.futex.load(Ordering::Relaxed) == addr
        })
        .count()
}

/// Blocks of the fixture heap.
const BLOCK: usize = 64 * 1024;
const BLOCKS: usize = 16;

#[repr(C, align(65536))]
struct HeapMemory(core::cell::UnsafeCell<[u8; BLOCK * BLOCKS]>);
// SAFETY: blocks are handed out under LOCK, each to one reservation.
unsafe impl Sync for HeapMemory {}
static HEAP_MEMORY: HeapMemory = HeapMemory(core::cell::UnsafeCell::new([0; BLOCK * BLOCKS]));
/// Blocks in use: for the first block of an allocation, its length in
/// blocks; 0 for free blocks and the rest of an allocation (`usize::MAX`).
static HEAP_USED: [AtomicUsize; BLOCKS] = [const { AtomicUsize::new(0) }; BLOCKS];

/// The object the tests pass as `struct k_heap *`.
pub struct HeapObject(core::cell::UnsafeCell<[u8; 64]>);
// SAFETY: never read or written; only its address is used.
unsafe impl Sync for HeapObject {}
/// The fixture's `struct k_heap`.
pub static HEAP: HeapObject = HeapObject(core::cell::UnsafeCell::new([0; 64]));

/// `&HEAP` as a `struct k_heap *`.
pub fn heap() -> core::ptr::NonNull<KHeap> {
    core::ptr::NonNull::new(HEAP.0.get().cast::<KHeap>()).unwrap()
}

/// Bytes the fixture heap can give in one allocation.
pub const HEAP_MAX: usize = BLOCK * BLOCKS;

/// Called by `k_heap_aligned_alloc` in `zephyr_shim.c`: first fit in
/// 64 KiB blocks (so any alignment up to 64 KiB holds), filled with 0xcd,
/// NULL when it does not fit.
#[unsafe(no_mangle)]
extern "C" fn wrt_fixture_heap_alloc(
    h: *mut KHeap,
    align: usize,
    bytes: usize,
    ticks: u64,
) -> *mut u8 {
    record(Call {
        kind: Kind::Alloc,
        via_svc: false,
        id: 0,
        a0: h as u64,
        a1: align as u64,
        a2: bytes as u64,
        a3: ticks,
    });
    if h != heap().as_ptr() || !align.is_power_of_two() || align > BLOCK || bytes == 0 {
        return core::ptr::null_mut();
    }
    let n = bytes.div_ceil(BLOCK);
    if n > BLOCKS {
        return core::ptr::null_mut();
    }
    with_state(|_| {
        let start = (0..=BLOCKS - n)
            .find(|&s| (s..s + n).all(|b| HEAP_USED[b].load(Ordering::Relaxed) == 0));
        let Some(s) = start else {
            return core::ptr::null_mut();
        };
        HEAP_USED[s].store(n, Ordering::Relaxed);
        for b in &HEAP_USED[s + 1..s + n] {
            b.store(usize::MAX, Ordering::Relaxed);
        }
        let p = HEAP_MEMORY.0.get().cast::<u8>().wrapping_add(s * BLOCK);
        // SAFETY: blocks s..s+n are now this allocation's alone.
        unsafe { core::ptr::write_bytes(p, 0xcd, n * BLOCK) };
        p
    })
}

/// Called by `k_heap_free` in `zephyr_shim.c`.
#[unsafe(no_mangle)]
extern "C" fn wrt_fixture_heap_free(h: *mut KHeap, mem: *mut u8) {
    record(Call {
        kind: Kind::Free,
        via_svc: false,
        id: 0,
        a0: h as u64,
        a1: mem as u64,
        a2: 0,
        a3: 0,
    });
    let base = HEAP_MEMORY.0.get() as usize;
    let off = (mem as usize).wrapping_sub(base);
    if h != heap().as_ptr() || off >= BLOCK * BLOCKS || !off.is_multiple_of(BLOCK) {
        println!("FIXTURE: k_heap_free of {mem:p}, not an allocation of the fixture heap");
        return;
    }
    with_state(|_| {
        let s = off / BLOCK;
        let n = HEAP_USED[s].load(Ordering::Relaxed);
        if n == 0 || n == usize::MAX {
            println!("FIXTURE: k_heap_free of {mem:p}: not the start of a live allocation");
            return;
        }
        for b in &HEAP_USED[s..s + n] {
            b.store(0, Ordering::Relaxed);
        }
    });
}

/// Blocks of the fixture heap in use.
pub fn heap_blocks_used() -> usize {
    HEAP_USED
        .iter()
        .filter(|b| b.load(Ordering::Relaxed) != 0)
        .count()
}
