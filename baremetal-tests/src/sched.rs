//! A small preemptive scheduler so that [`Harness::concurrently`] can run
//! more threads than there are cores (the conformance check
//! `wake_counts_are_exact` runs 7 at once, on 4 cores), and so that a
//! thread spinning in a `wfe` loop cannot starve the others.
//!
//! * [`MAX_THREADS`] threads with static stacks. Each thread has an
//!   affinity mask (any core, or one core for the cross-core tests).
//! * A core running a thread takes a 1 kHz virtual-timer tick
//!   (`rt::wrt_irq`); an idle core stops its timer and sleeps in `wfi`
//!   until a reschedule SGI ([`rt::kick`]) says there is work. On a tick
//!   the interrupted context's frame is already on its own stack; [`tick`]
//!   records that stack pointer, puts the thread back to `READY`, and
//!   returns the stack pointer of the next `READY` thread allowed on this
//!   core, round robin (possibly the same one), or of the core's home
//!   context (the boot flow: `main` on core 0, the idle loop elsewhere).
//! * A new thread starts from a frame built by [`spawn`] that "returns" to
//!   [`thread_start`] at EL1h with interrupts unmasked.
//! * A thread that has run its closure marks itself `FINISHED` and waits
//!   for the next tick, which frees its slot.
//!
//! The scheduler lock is only taken with interrupts masked (in the tick
//! handler by the hardware, in [`spawn`] explicitly).

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use core::time::Duration;

use wrt_platform::conformance::Harness;

use crate::rt::{self, CORES, Frame};

/// Threads that can exist at once.
pub const MAX_THREADS: usize = 16;
/// Stack bytes per thread.
const STACK: usize = 64 * 1024;
/// Every core.
pub const ANY_CORE: u32 = (1 << CORES) - 1;

const FREE: u32 = 0;
const READY: u32 = 1;
const RUNNING: u32 = 2;
const FINISHED: u32 = 3;
const NONE: usize = usize::MAX;

/// A closure run by a thread: `f(arg)`. The pointer is only dereferenced
/// while the [`run`] call that stored it waits for the thread to finish.
#[derive(Copy, Clone)]
struct Job {
    f: *const (dyn Fn(usize) + Sync),
    arg: usize,
}

struct Thread {
    state: AtomicU32,
    sp: AtomicUsize,
    affinity: AtomicU32,
    /// Written while `FREE` by [`spawn`] (before the `READY` release),
    /// read by the thread itself.
    job: UnsafeCell<Option<Job>>,
}

// SAFETY: `job` is written only while the slot is FREE (by `spawn`, the
// one creator) and read only by the thread after the READY publication.
unsafe impl Sync for Thread {}

#[repr(C, align(16))]
struct Stack(UnsafeCell<[u8; STACK]>);

// SAFETY: each stack is used only by the thread in its slot.
unsafe impl Sync for Stack {}

struct Core {
    /// The running thread, or NONE for the home context.
    current: AtomicUsize,
    /// Saved stack pointer of the home context while a thread runs.
    home_sp: AtomicUsize,
    /// Where the round robin continues.
    last: AtomicUsize,
}

static THREADS: [Thread; MAX_THREADS] = [const {
    Thread {
        state: AtomicU32::new(FREE),
        sp: AtomicUsize::new(0),
        affinity: AtomicU32::new(0),
        job: UnsafeCell::new(None),
    }
}; MAX_THREADS];
static STACKS: [Stack; MAX_THREADS] = [const { Stack(UnsafeCell::new([0; STACK])) }; MAX_THREADS];
static CORES_STATE: [Core; CORES] = [const {
    Core {
        current: AtomicUsize::new(NONE),
        home_sp: AtomicUsize::new(0),
        last: AtomicUsize::new(0),
    }
}; CORES];
static LOCK: AtomicBool = AtomicBool::new(false);

fn lock() {
    while LOCK.swap(true, Ordering::Acquire) {
        crate::rt::relax();
    }
}

fn unlock() {
    LOCK.store(false, Ordering::Release);
}

/// Cores running their home context (no thread) whose bit is in
/// `affinity`, other than `me`. Called with the lock held.
fn idle_cores(affinity: u32, me: usize) -> u32 {
    let mut mask = 0;
    for (c, core) in CORES_STATE.iter().enumerate() {
        if c != me && core.current.load(Ordering::Relaxed) == NONE && affinity & (1 << c) != 0 {
            mask |= 1 << c;
        }
    }
    mask
}

/// The next READY thread allowed on `core`, round robin after `start`.
/// Called with the lock held.
fn next_ready(core: usize, start: usize) -> Option<usize> {
    (1..=MAX_THREADS)
        .map(|k| (start + k) % MAX_THREADS)
        .find(|&i| {
            let t = &THREADS[i];
            t.state.load(Ordering::Acquire) == READY
                && t.affinity.load(Ordering::Relaxed) & (1 << core) != 0
        })
}

/// The tick or a reschedule request (interrupts masked, on this core's
/// interrupt stack): save the interrupted context's `sp`, choose what
/// runs next on this core, return its `sp`.
///
/// A running thread keeps its core while some other core sits idle: the
/// READY thread that could have replaced it is sent to the idle core
/// instead (with [`rt::RESCHED_SGI`]). Only when no idle core can take it
/// does the running thread go back to READY (round robin).
pub fn tick(sp: usize) -> usize {
    let me = rt::core_id();
    let c = &CORES_STATE[me];
    lock();
    let cur = c.current.load(Ordering::Relaxed);
    let mut keep = false;
    let mut freed = false;
    let start = if cur == NONE {
        c.home_sp.store(sp, Ordering::Relaxed);
        c.last.load(Ordering::Relaxed)
    } else {
        let t = &THREADS[cur];
        t.sp.store(sp, Ordering::Relaxed);
        match t.state.load(Ordering::Acquire) {
            RUNNING => keep = true,
            // Its closure has returned: the slot (and stack) are free now
            // that nothing runs on them. `run` on core 0 waits for that.
            FINISHED => {
                t.state.store(FREE, Ordering::Release);
                freed = true;
            }
            _ => {}
        }
        cur
    };
    let mut kick = 0;
    let next = match next_ready(me, start) {
        Some(other) if keep => {
            let idle = idle_cores(THREADS[other].affinity.load(Ordering::Relaxed), me);
            if idle != 0 {
                kick = idle & idle.wrapping_neg(); // one idle core takes it
                Some(cur)
            } else {
                THREADS[cur].state.store(READY, Ordering::Relaxed);
                THREADS[other].state.store(RUNNING, Ordering::Relaxed);
                Some(other)
            }
        }
        Some(other) => {
            THREADS[other].state.store(RUNNING, Ordering::Relaxed);
            Some(other)
        }
        None if keep => Some(cur),
        None => None,
    };
    let sp = match next {
        Some(i) => {
            c.current.store(i, Ordering::Relaxed);
            c.last.store(i, Ordering::Relaxed);
            THREADS[i].sp.load(Ordering::Relaxed)
        }
        None => {
            c.current.store(NONE, Ordering::Relaxed);
            c.home_sp.load(Ordering::Relaxed)
        }
    };
    unlock();
    if next.is_some() {
        rt::ensure_tick();
    } else {
        rt::stop_tick();
    }
    if freed && me != 0 {
        kick |= 1; // wake `run` on core 0 to see the FREE slot
    }
    rt::kick(kick);
    sp
}

/// Where a new thread's first frame returns to (EL1h, interrupts on).
extern "C" fn thread_start(index: usize) -> ! {
    let t = &THREADS[index];
    // SAFETY: written by `spawn` before the READY release that the
    // scheduler acquired before running us.
    let job = unsafe { *t.job.get() }.expect("thread started without a job");
    // SAFETY: `run` keeps the closure alive until this thread is FREE.
    let f = unsafe { &*job.f };
    f(job.arg);
    t.state.store(FINISHED, Ordering::Release);
    rt::kick(1 << rt::core_id()); // leave the core now, not at the next tick
    loop {
        // SAFETY: waits for the tick that frees this slot.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack, preserves_flags)) };
    }
}

/// Makes a thread running `f(arg)` on a core in `affinity`, READY;
/// returns its slot. Called with the lock held and interrupts masked.
///
/// # Safety
/// `f` stays alive until the slot is FREE again (see [`run`]).
unsafe fn spawn_locked(f: &(dyn Fn(usize) + Sync), arg: usize, affinity: u32) -> usize {
    let Some(i) = (0..MAX_THREADS).find(|&i| THREADS[i].state.load(Ordering::Acquire) == FREE)
    else {
        unlock();
        panic!("more than {MAX_THREADS} threads at once");
    };
    let t = &THREADS[i];
    // SAFETY: a 'static-erased pointer; the caller keeps `f` alive (see
    // `# Safety`), and only this slot's thread dereferences it.
    let f: *const (dyn Fn(usize) + Sync) = unsafe { core::mem::transmute(f) };
    // SAFETY: the slot is FREE and we hold the lock: nobody reads `job`.
    unsafe { *t.job.get() = Some(Job { f, arg }) };
    let top = STACKS[i].0.get() as usize + STACK;
    let frame_addr = top - size_of::<Frame>();
    // TPIDR_EL0 = the stack top: unique among live contexts.
    let frame = Frame::new_thread(thread_start as *const () as usize, i as u64, top as u64);
    // SAFETY: the frame fits at the top of this free slot's stack, which
    // nothing else uses, and is 16-aligned (STACK and Frame are).
    unsafe { core::ptr::write(frame_addr as *mut Frame, frame) };
    t.sp.store(frame_addr, Ordering::Relaxed);
    t.affinity.store(affinity, Ordering::Relaxed);
    t.state.store(READY, Ordering::Release);
    i
}

/// Runs `f(0..n)` on `n` threads, thread `i` restricted to the cores in
/// `affinity(i)`, and returns when all have finished. Called from the home
/// context of core 0 (`main`), which only runs while core 0 has no thread:
/// all `n` threads are made in one step, then every idle core allowed to
/// run one (core 0 included) is asked to reschedule.
pub fn run(n: usize, affinity: &dyn Fn(usize) -> u32, f: &(dyn Fn(usize) + Sync)) {
    let mut slots = [NONE; MAX_THREADS];
    let daif = rt::irq_save();
    lock();
    let mut wanted = 0;
    for (i, slot) in slots.iter_mut().enumerate().take(n) {
        let a = affinity(i);
        wanted |= a;
        // SAFETY: we wait below until every slot we made is FREE again.
        *slot = unsafe { spawn_locked(f, i, a) };
    }
    let idle = idle_cores(wanted, usize::MAX);
    unlock();
    rt::kick(idle);
    rt::irq_restore(daif);
    for &s in slots.iter().take(n) {
        loop {
            // Check and sleep with interrupts masked: `wfi` still wakes on a
            // pending interrupt, so the SGI that reports a freed slot cannot
            // slip in between the check and the sleep (core 0 has no tick).
            let daif = rt::irq_save();
            if THREADS[s].state.load(Ordering::Acquire) == FREE {
                rt::irq_restore(daif);
                break;
            }
            // SAFETY: sleeps until an interrupt is pending.
            unsafe { core::arch::asm!("wfi", options(nomem, nostack, preserves_flags)) };
            rt::irq_restore(daif);
        }
    }
}

/// Starts a thread running `f(arg)` on a core in `affinity` and returns
/// at once (the C clients' `pthread_create`, `c_clients.rs`); the caller
/// learns of its end through `f` itself. Called from core 0's home
/// context, like [`run`].
#[cfg(feature = "c-clients")]
pub fn start(f: &'static (dyn Fn(usize) + Sync), arg: usize, affinity: u32) {
    let daif = rt::irq_save();
    lock();
    // SAFETY: `f` is 'static.
    unsafe { spawn_locked(f, arg, affinity) };
    let idle = idle_cores(affinity, usize::MAX);
    unlock();
    rt::kick(idle);
    rt::irq_restore(daif);
}

/// The home context of cores 1..3: wait for ticks forever.
pub fn idle() -> ! {
    loop {
        // SAFETY: sleeps until the next interrupt.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack, preserves_flags)) };
    }
}

/// The monotonic clock (the generic timer's virtual count), read by the
/// harness itself rather than through the backend under test.
pub fn now() -> Duration {
    let ns = u128::from(rt::counter()) * 1_000_000_000 / u128::from(rt::frequency().max(1));
    Duration::new((ns / 1_000_000_000) as u64, (ns % 1_000_000_000) as u32)
}

/// Spins on the generic timer for at least `d`.
pub fn spin_for(d: Duration) {
    let t0 = now();
    while now() - t0 < d {
        crate::rt::relax();
    }
}

/// The [`Harness`] of the conformance suite on this machine.
pub struct QemuHarness;

impl Harness for QemuHarness {
    fn concurrently(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        run(n, &|_| ANY_CORE, f);
    }

    /// Faults cannot be isolated here (no processes; a fault ends the
    /// run), so the suite skips the fault checks and says so.
    fn faults(&self, _f: &dyn Fn()) -> Option<bool> {
        None
    }

    fn now(&self) -> Duration {
        now()
    }

    fn sleep(&self, d: Duration) {
        spin_for(d);
    }
}
