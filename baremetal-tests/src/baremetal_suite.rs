//! The bare-metal image: the shared conformance suite on [`BumpPages`] and
//! [`BareMetalFutex`], wait/wake across the four cores, the Wasm wait
//! queue on them, and the bump allocator's limits.

use core::cell::UnsafeCell;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use core::time::Duration;

use wrt_platform::conformance::{FUTEX_CHECKS, Failure, Outcome, PAGE_CHECKS, Verdict};
use wrt_platform::os::baremetal::{BareMetalFutex, BumpPages, timer};
use wrt_platform::wasm::atomics::{OsClock, WaitQueue, WaitResult};
use wrt_platform::{Errno, FutexLike, PageAllocator, Protection, Reservation, ReserveOptions};

use crate::rt::{self, CORES};
use crate::runner::{Runner, check, check_eq};
use crate::sched::{self, ANY_CORE, QemuHarness, now, spin_for};

const PAGE: usize = 4096;
/// Bound for "promptly" under emulation on a loaded host.
const SLACK: Duration = Duration::from_secs(5);

/// Runs everything; returns the exit status.
pub fn run() -> u32 {
    println!(
        "INFO baremetal: {CORES} cores, CNTFRQ_EL0 {} Hz, FEAT_WFxT {}",
        timer::frequency(),
        if timer::has_wfxt() {
            "yes (timed waits use wfet)"
        } else {
            "no (timed waits use wfe + event stream)"
        },
    );
    let mut r = Runner::new("baremetal");
    let (arena, arena_len) = rt::arena();
    let half = arena_len / 2;
    // SAFETY: the first half of link.ld's arena is the conformance
    // allocator's alone; the bump tests below use the second half.
    let pages = unsafe { BumpPages::new(NonNull::new(arena).unwrap(), half) };
    let scratch = Scratch {
        start: arena.wrapping_add(half),
        len: arena_len - half,
    };
    let futex = BareMetalFutex::new();
    let h = QemuHarness;

    // Checks that need a fault to be observed are skipped by the suite
    // itself (this harness cannot isolate faults). Two more need a page
    // made read-only or inaccessible first, which `BumpPages` refuses with
    // NOTSUP (no MMU): exactly that refusal is reported as a skip.
    let refused_read = Failure::new(format_args!("protect(READ) failed: {}", Errno::NOTSUP));
    let refused_none = Failure::new(format_args!("protect(NONE) failed: {}", Errno::NOTSUP));
    let no_mmu = "needs protect() to remove access; BumpPages refuses that with NOTSUP (no MMU); \
                  the refusal itself is checked by bump/protect_refuses_what_it_cannot_enforce";
    r.run("rt/mmu_on_ram_normal_gic_device", mmu_identity_map);
    for (name, check) in PAGE_CHECKS {
        let full = Name::new("conformance/page/", name);
        match *name {
            "read_only_pages_fault_on_write" => {
                r.run_refused(full.as_str(), &refused_read, no_mmu, || check(&pages, &h))
            }
            "pages_protected_none_fault" => {
                r.run_refused(full.as_str(), &refused_none, no_mmu, || check(&pages, &h))
            }
            _ => r.run(full.as_str(), || check(&pages, &h)),
        }
    }
    // First: core 3 has not waited with a timeout yet.
    r.run("futex/timed_wait_turns_event_stream_on", || {
        event_stream(&futex)
    });
    for (name, check) in FUTEX_CHECKS {
        r.run(Name::new("conformance/futex/", name).as_str(), || {
            check(&futex, &h)
        });
    }

    r.run("futex/core1_waiter_woken_by_core0", || {
        core1_waiter_woken_by_core0(&futex)
    });
    r.run("futex/timeouts_expire_without_waker_on_4_cores", || {
        timeouts_expire_without_waker(&futex)
    });
    r.run("futex/timed_out_waiter_is_not_counted", || {
        timed_out_waiter_is_not_counted(&futex)
    });
    r.run("futex/duration_max_waits_until_woken", || {
        duration_max_waits_until_woken(&futex)
    });
    r.run("futex/fifo_wake_order_across_cores", || {
        fifo_wake_order(&futex)
    });
    r.run("futex/wake_all_counts_exactly", || {
        wake_all_counts_exactly(&futex)
    });
    r.run("futex/shared_bucket_wakes_only_its_word", || {
        shared_bucket(&futex)
    });
    r.run("futex/mutex_4_cores_contending", || {
        mutex_contention(&futex, 4, 20_000, true)
    });
    r.run("futex/mutex_8_threads_on_4_cores", || {
        mutex_contention(&futex, 8, 20_000, false)
    });
    r.run("futex/token_ring_4_cores", || token_ring(&futex));

    r.run(
        "atomics/queue_fifo_and_exact_counts_across_cores",
        queue_fifo,
    );
    r.run("atomics/queue_ping_pong_across_cores", queue_ping_pong);
    r.run("atomics/queue_timeouts_racing_notifies_on_4_cores", || {
        queue_race()
    });

    r.run("bump/capacity_and_alignment", || {
        capacity_and_alignment(&scratch)
    });
    r.run("bump/reserve_until_full_then_nomem", || {
        reserve_until_full(&scratch)
    });
    r.run("bump/oversized_reserve_changes_nothing", || {
        oversized_reserve(&scratch)
    });
    r.run("bump/guards_are_carved_out", || {
        guards_are_carved_out(&scratch)
    });
    r.run("bump/lifo_release_reclaims_other_release_does_not", || {
        lifo_release(&scratch)
    });
    r.run("bump/reserve_zeroes_reused_and_unknown_memory", || {
        reserve_zeroes(&scratch)
    });
    r.run("bump/new_zeroed_trusts_fresh_memory_only", || {
        new_zeroed_watermark(&scratch)
    });
    r.run("bump/decommit_zeroes_only_its_range", || {
        decommit_range(&scratch)
    });
    r.run("bump/protect_refuses_what_it_cannot_enforce", || {
        protect_refuses(&scratch)
    });
    r.run("bump/protect_hook_sees_every_change", || {
        protect_hook(&scratch)
    });
    r.run("bump/page_size_16k", || page_size_16k(&scratch));
    r.run("bump/concurrent_reservations_never_overlap", || {
        concurrent_reserve(&scratch)
    });
    #[cfg(feature = "c-clients")]
    crate::c_clients::run(&mut r);
    #[cfg(not(feature = "c-clients"))]
    r.run("c/clients", || {
        Ok(wrt_platform::conformance::Verdict::Skipped(
            "built without the feature c-clients (scripts/baremetal-test links them)",
        ))
    });
    r.finish()
}

/// The Wasm wait queue of `wrt_atomic_wait32`/`notify` on this backend:
/// waiters park on [`BareMetalFutex`], deadlines on the generic timer.
static QUEUE: WaitQueue<BareMetalFutex, OsClock> = WaitQueue::new(BareMetalFutex::new(), OsClock);

fn key(word: &AtomicU32) -> usize {
    word as *const AtomicU32 as usize
}

/// Waiters on cores 1, 2, 3 join the queue in that order (each starts
/// once the one before is queued); three `notify(1)` from core 0 each
/// return 1 and wake them in the same order, every one with `Ok`.
fn queue_fifo() -> Outcome {
    let word = AtomicU32::new(0);
    let order = AtomicUsize::new(0);
    let rank = [const { AtomicUsize::new(usize::MAX) }; 3];
    let results = [const { AtomicU32::new(u32::MAX) }; 3];
    let counts = [const { AtomicU32::new(u32::MAX) }; 3];
    sched::run(4, &|i| on((i + 1) % CORES), &|i| {
        if i < 3 {
            if !wait_until(|| QUEUE.waiting(key(&word)) == i) {
                return;
            }
            let r = QUEUE.wait32(&word, 0, Some(SLACK));
            results[i].store(r as u32, Ordering::SeqCst);
            rank[i].store(order.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
        } else {
            if !wait_until(|| QUEUE.waiting(key(&word)) == 3) {
                return;
            }
            for (k, c) in counts.iter().enumerate() {
                c.store(QUEUE.notify(key(&word), 1), Ordering::SeqCst);
                let _ = wait_until(|| order.load(Ordering::SeqCst) == k + 1);
            }
        }
    });
    for k in 0..3 {
        check_eq!(counts[k].load(Ordering::SeqCst), 1, "notify(1) count");
        check_eq!(
            results[k].load(Ordering::SeqCst),
            0,
            "wait32 result (0 = ok)"
        );
        check_eq!(
            rank[k].load(Ordering::SeqCst),
            k,
            "wake order of the k-th waiter"
        );
    }
    check_eq!(QUEUE.waiting(key(&word)), 0, "waiters left");
    Ok(Verdict::Passed)
}

/// Cores 0 and 1 hand a turn back and forth 2,000 times through the
/// queue (store the other's value, notify, wait for the turn back): no
/// hand-over is lost (the run ends), and the notifies' counts add up to
/// the waits that returned `Ok`.
fn queue_ping_pong() -> Outcome {
    const ROUNDS: u32 = 2_000;
    let word = AtomicU32::new(0);
    let ok = [const { AtomicU32::new(0) }; 2];
    let counted = [const { AtomicU32::new(0) }; 2];
    let done = [const { AtomicBool::new(false) }; 2];
    sched::run(2, &on, &|i| {
        let (mine, theirs) = (i as u32, 1 - i as u32);
        for _ in 0..ROUNDS {
            while word.load(Ordering::SeqCst) != mine {
                if QUEUE.wait32(&word, theirs, Some(SLACK)) == WaitResult::Ok {
                    ok[i].fetch_add(1, Ordering::Relaxed);
                }
            }
            word.store(theirs, Ordering::SeqCst);
            counted[i].fetch_add(QUEUE.notify(key(&word), 1), Ordering::Relaxed);
        }
        done[i].store(true, Ordering::SeqCst);
    });
    check!(
        done.iter().all(|d| d.load(Ordering::SeqCst)),
        "both sides finished their rounds"
    );
    let ok: u32 = ok.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    let counted: u32 = counted.iter().map(|c| c.load(Ordering::Relaxed)).sum();
    check_eq!(
        counted,
        ok,
        "sum of notify counts vs waits that returned Ok"
    );
    check!(ok > 0, "no wait returned Ok: the queue was never exercised");
    Ok(Verdict::Passed)
}

/// Three waiters on cores 1-3 wait 300 times each with a 200 µs timeout
/// while core 0 notifies (1 or 2 at a time, pausing now and then): both
/// outcomes occur, and the notifies' counts equal the `Ok` results
/// exactly (a waiter that timed out is never counted, none is lost).
fn queue_race() -> Outcome {
    const ROUNDS: u32 = 300;
    let word = AtomicU32::new(0);
    let results = [const { AtomicU32::new(0) }; 3];
    let counted = AtomicU32::new(0);
    let finished = AtomicU32::new(0);
    sched::run(4, &|i| on((i + 1) % CORES), &|i| {
        if i < 3 {
            for _ in 0..ROUNDS {
                let r = QUEUE.wait32(&word, 0, Some(Duration::from_micros(200)));
                results[r as usize].fetch_add(1, Ordering::Relaxed);
            }
            finished.fetch_add(1, Ordering::SeqCst);
        } else {
            let mut n = 0u32;
            while finished.load(Ordering::SeqCst) < 3 {
                counted.fetch_add(QUEUE.notify(key(&word), 1 + n % 2), Ordering::Relaxed);
                n = n.wrapping_add(1);
                if n.is_multiple_of(16) {
                    spin_for(Duration::from_micros(800));
                }
            }
        }
    });
    let [ok, not_equal, timed_out] = results.map(|r| r.load(Ordering::Relaxed));
    check_eq!(
        ok + not_equal + timed_out,
        3 * ROUNDS,
        "waits that returned"
    );
    check_eq!(not_equal, 0, "not-equal results (the word never changes)");
    check_eq!(
        counted.load(Ordering::Relaxed),
        ok,
        "notify counts vs Ok results"
    );
    check!(
        ok > 0 && timed_out > 0,
        "both outcomes occur (ok {ok}, timed out {timed_out})"
    );
    check_eq!(QUEUE.waiting(key(&word)), 0, "waiters left");
    Ok(Verdict::Passed)
}

/// A test name built from a prefix and a check name.
struct Name {
    buf: [u8; 96],
    len: usize,
}

impl Name {
    fn new(prefix: &str, name: &str) -> Self {
        let mut n = Name {
            buf: [0; 96],
            len: 0,
        };
        for b in prefix.bytes().chain(name.bytes()).take(96) {
            n.buf[n.len] = b;
            n.len += 1;
        }
        n
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

/// Only core `c`.
fn on(c: usize) -> u32 {
    1 << c
}

/// Spins until `cond` holds, up to [`SLACK`]; returns whether it did.
fn wait_until(cond: impl Fn() -> bool) -> bool {
    let t0 = now();
    while !cond() {
        if now() - t0 > SLACK {
            return false;
        }
        crate::rt::relax();
    }
    true
}

/// `WaitOutcome`s as numbers for atomics: 0 woken, 1 mismatch, 2 timed
/// out, 3 error, `u32::MAX` not yet.
fn code(r: wrt_platform::errno::Result<wrt_platform::WaitOutcome>) -> u32 {
    use wrt_platform::WaitOutcome::*;
    match r {
        Ok(Woken) => 0,
        Ok(Mismatch) => 1,
        Ok(TimedOut) => 2,
        Err(_) => 3,
    }
}

const PENDING: u32 = u32::MAX;

/// A waiter pinned to core 1 sleeps (it is queued and stays unreturned
/// while core 0 watches), and `wake(1)` from core 0 wakes exactly it; the
/// waiter really ran on core 1 and the waker on core 0.
fn core1_waiter_woken_by_core0(f: &BareMetalFutex) -> Outcome {
    let word = AtomicU32::new(0);
    let outcome = AtomicU32::new(PENDING);
    let cores = [AtomicUsize::new(usize::MAX), AtomicUsize::new(usize::MAX)];
    let still_asleep = AtomicBool::new(false);
    let woke = AtomicU32::new(u32::MAX);
    sched::run(2, &|i| on(1 - i), &|i| {
        cores[i].store(rt::core_id(), Ordering::SeqCst);
        if i == 0 {
            // Core 1: wait with no timeout on a word nobody changes.
            outcome.store(code(f.wait(&word, 0, None)), Ordering::SeqCst);
        } else {
            // Core 0: wait until the waiter is queued, check that it stays
            // asleep for 20 ms, then wake it.
            if !wait_until(|| f.waiters(&word) == 1) {
                return;
            }
            spin_for(Duration::from_millis(20));
            still_asleep.store(outcome.load(Ordering::SeqCst) == PENDING, Ordering::SeqCst);
            woke.store(f.wake(&word, 1).unwrap_or(u32::MAX - 1), Ordering::SeqCst);
            if !wait_until(|| outcome.load(Ordering::SeqCst) != PENDING) {
                // Unblock the waiter so the run can go on; the test fails.
                let _ = f.wake(&word, u32::MAX);
            }
        }
    });
    check_eq!(cores[0].load(Ordering::SeqCst), 1, "core the waiter ran on");
    check_eq!(cores[1].load(Ordering::SeqCst), 0, "core the waker ran on");
    check!(
        still_asleep.load(Ordering::SeqCst),
        "the waiter returned before it was woken"
    );
    check_eq!(woke.load(Ordering::SeqCst), 1, "wake(1) count");
    check_eq!(
        outcome.load(Ordering::SeqCst),
        0,
        "waiter outcome (0 = Woken)"
    );
    check_eq!(f.waiters(&word), 0, "waiters left queued");
    Ok(Verdict::Passed)
}

/// One thread per core waits with its own timeout (20, 40, 60, 80 ms; the
/// two middle ones on the same word) and nobody wakes: each returns
/// `TimedOut`, not before its timeout, and within [`SLACK`] after it.
fn timeouts_expire_without_waker(f: &BareMetalFutex) -> Outcome {
    let words = [AtomicU32::new(7), AtomicU32::new(7), AtomicU32::new(7)];
    let word_of = [0usize, 1, 1, 2];
    let outcome = [const { AtomicU32::new(PENDING) }; CORES];
    let took_ms = [const { AtomicUsize::new(0) }; CORES];
    sched::run(CORES, &on, &|i| {
        let timeout = Duration::from_millis(20 * (i as u64 + 1));
        let t0 = now();
        let r = f.wait(&words[word_of[i]], 7, Some(timeout));
        took_ms[i].store((now() - t0).as_micros() as usize, Ordering::SeqCst);
        outcome[i].store(code(r), Ordering::SeqCst);
    });
    for i in 0..CORES {
        let want = 20_000 * (i + 1);
        let took = took_ms[i].load(Ordering::SeqCst);
        check_eq!(
            outcome[i].load(Ordering::SeqCst),
            2,
            "outcome on core (2 = TimedOut)"
        );
        check!(
            took >= want,
            "core {i}: returned after {took} us, before its {want} us timeout"
        );
        check!(
            took < want + SLACK.as_micros() as usize,
            "core {i}: returned after {took} us for a {want} us timeout"
        );
    }
    for w in &words {
        check_eq!(f.waiters(w), 0, "waiters left queued after timeouts");
    }
    Ok(Verdict::Passed)
}

/// A waiter that timed out is no longer queued: a later wake counts 0.
fn timed_out_waiter_is_not_counted(f: &BareMetalFutex) -> Outcome {
    let word = AtomicU32::new(0);
    let outcome = AtomicU32::new(PENDING);
    sched::run(1, &|_| on(2), &|_| {
        outcome.store(
            code(f.wait(&word, 0, Some(Duration::from_millis(10)))),
            Ordering::SeqCst,
        );
    });
    check_eq!(outcome.load(Ordering::SeqCst), 2, "outcome (2 = TimedOut)");
    check_eq!(
        f.wake(&word, u32::MAX).map_err(|_| ()),
        Ok(0),
        "wake after the timeout"
    );
    Ok(Verdict::Passed)
}

/// `Some(Duration::MAX)` does not fit the counter: the wait is untimed
/// (trait contract) and ends only with a wake.
fn duration_max_waits_until_woken(f: &BareMetalFutex) -> Outcome {
    let word = AtomicU32::new(0);
    let outcome = AtomicU32::new(PENDING);
    let early = AtomicBool::new(false);
    sched::run(2, &|i| on(i + 1), &|i| {
        if i == 0 {
            outcome.store(
                code(f.wait(&word, 0, Some(Duration::MAX))),
                Ordering::SeqCst,
            );
        } else {
            let _ = wait_until(|| f.waiters(&word) == 1);
            spin_for(Duration::from_millis(20));
            early.store(outcome.load(Ordering::SeqCst) != PENDING, Ordering::SeqCst);
            let _ = f.wake(&word, 1);
        }
    });
    check!(
        !early.load(Ordering::SeqCst),
        "a Duration::MAX wait returned by itself"
    );
    check_eq!(outcome.load(Ordering::SeqCst), 0, "outcome (0 = Woken)");
    Ok(Verdict::Passed)
}

/// Waiters on cores 1, 2, 3 queue in that order (each starts once the one
/// before is queued); three `wake(1)` from core 0 wake them in the same
/// order.
fn fifo_wake_order(f: &BareMetalFutex) -> Outcome {
    let word = AtomicU32::new(0);
    let order = AtomicUsize::new(0);
    let rank = [const { AtomicUsize::new(usize::MAX) }; 3];
    let counts = [const { AtomicU32::new(u32::MAX) }; 3];
    sched::run(4, &|i| on((i + 1) % CORES), &|i| {
        if i < 3 {
            // Wait for my turn to queue: i waiters already queued.
            if !wait_until(|| f.waiters(&word) == i) {
                return;
            }
            let _ = f.wait(&word, 0, Some(SLACK));
            rank[i].store(order.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
        } else {
            if !wait_until(|| f.waiters(&word) == 3) {
                return;
            }
            for (k, c) in counts.iter().enumerate() {
                c.store(f.wake(&word, 1).unwrap_or(u32::MAX), Ordering::SeqCst);
                // Let the woken waiter record its rank before the next wake.
                let _ = wait_until(|| order.load(Ordering::SeqCst) == k + 1);
            }
        }
    });
    for k in 0..3 {
        check_eq!(counts[k].load(Ordering::SeqCst), 1, "wake(1) count");
        check_eq!(
            rank[k].load(Ordering::SeqCst),
            k,
            "wake order of the waiter queued k-th"
        );
    }
    Ok(Verdict::Passed)
}

/// Three sleeping waiters on three cores; `wake(u32::MAX)` returns 3 and
/// all three return `Woken`.
fn wake_all_counts_exactly(f: &BareMetalFutex) -> Outcome {
    let word = AtomicU32::new(0);
    let woken = AtomicU32::new(0);
    let count = AtomicU32::new(u32::MAX);
    sched::run(4, &|i| on((i + 1) % CORES), &|i| {
        if i < 3 {
            if f.wait(&word, 0, Some(SLACK)) == Ok(wrt_platform::WaitOutcome::Woken) {
                woken.fetch_add(1, Ordering::SeqCst);
            }
        } else {
            let _ = wait_until(|| f.waiters(&word) == 3);
            count.store(
                f.wake(&word, u32::MAX).unwrap_or(u32::MAX),
                Ordering::SeqCst,
            );
        }
    });
    check_eq!(count.load(Ordering::SeqCst), 3, "wake(all) count");
    check_eq!(
        woken.load(Ordering::SeqCst),
        3,
        "waiters that returned Woken"
    );
    Ok(Verdict::Passed)
}

/// Two words in the same bucket, a waiter on each: waking one word wakes
/// (and counts) only its own waiter; the other stays queued until its own
/// wake.
fn shared_bucket(f: &BareMetalFutex) -> Outcome {
    static WORDS: [AtomicU32; 65] = [const { AtomicU32::new(0) }; 65];
    // 65 words, 64 buckets: two of them share one.
    let mut pair = None;
    'outer: for (a, wa) in WORDS.iter().enumerate() {
        for (b, wb) in WORDS.iter().enumerate().skip(a + 1) {
            if BareMetalFutex::bucket_index(wa) == BareMetalFutex::bucket_index(wb) {
                pair = Some((a, b));
                break 'outer;
            }
        }
    }
    let Some((a, b)) = pair else {
        return Err(Failure::new(format_args!(
            "no two of 65 words share a bucket"
        )));
    };
    let (wa, wb) = (&WORDS[a], &WORDS[b]);
    let out = [AtomicU32::new(PENDING), AtomicU32::new(PENDING)];
    let counts = [AtomicU32::new(u32::MAX), AtomicU32::new(u32::MAX)];
    let b_still_queued = AtomicBool::new(false);
    sched::run(3, &|i| on(i + 1), &|i| match i {
        0 => out[0].store(code(f.wait(wa, 0, Some(SLACK))), Ordering::SeqCst),
        1 => out[1].store(code(f.wait(wb, 0, Some(SLACK))), Ordering::SeqCst),
        _ => {
            let _ = wait_until(|| f.waiters(wa) == 1 && f.waiters(wb) == 1);
            counts[0].store(f.wake(wa, u32::MAX).unwrap_or(u32::MAX), Ordering::SeqCst);
            let _ = wait_until(|| out[0].load(Ordering::SeqCst) != PENDING);
            b_still_queued.store(
                f.waiters(wb) == 1 && out[1].load(Ordering::SeqCst) == PENDING,
                Ordering::SeqCst,
            );
            counts[1].store(f.wake(wb, u32::MAX).unwrap_or(u32::MAX), Ordering::SeqCst);
        }
    });
    check_eq!(counts[0].load(Ordering::SeqCst), 1, "wake(word a) count");
    check!(
        b_still_queued.load(Ordering::SeqCst),
        "waking word a disturbed word b's waiter"
    );
    check_eq!(counts[1].load(Ordering::SeqCst), 1, "wake(word b) count");
    check_eq!(
        out[0].load(Ordering::SeqCst),
        0,
        "word a waiter (0 = Woken)"
    );
    check_eq!(
        out[1].load(Ordering::SeqCst),
        0,
        "word b waiter (0 = Woken)"
    );
    Ok(Verdict::Passed)
}

/// A futex-based mutex (0 free, 1 locked, 2 locked with waiters; Drepper,
/// "Futexes Are Tricky", mutex 2).
struct Mutex<'a> {
    state: AtomicU32,
    f: &'a BareMetalFutex,
    /// Waits that slept and were woken (the contended path).
    sleeps: AtomicUsize,
}

impl Mutex<'_> {
    fn lock(&self) -> Result<(), Failure> {
        if self
            .state
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
        {
            return Ok(());
        }
        while self.state.swap(2, Ordering::Acquire) != 0 {
            match self.f.wait(&self.state, 2, Some(Duration::from_secs(10))) {
                Ok(wrt_platform::WaitOutcome::TimedOut)
                    if self.state.load(Ordering::Acquire) == 2 =>
                {
                    return Err(Failure::new(format_args!(
                        "a lock waiter slept 10 s: lost wake-up"
                    )));
                }
                Ok(wrt_platform::WaitOutcome::Woken) => {
                    self.sleeps.fetch_add(1, Ordering::Relaxed);
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn unlock(&self) {
        if self.state.swap(0, Ordering::Release) == 2 {
            let _ = self.f.wake(&self.state, 1);
        }
    }
}

/// `threads` threads (pinned one per core, or free to move) each take the
/// mutex `rounds` times and increment a plain counter inside: the total is
/// exact and no waiter is lost.
fn mutex_contention(f: &BareMetalFutex, threads: usize, rounds: usize, pinned: bool) -> Outcome {
    struct Counter(UnsafeCell<usize>);
    // SAFETY: only touched with the mutex held.
    unsafe impl Sync for Counter {}
    impl Counter {
        /// # Safety
        /// The mutex is held.
        unsafe fn add(&self) {
            // SAFETY: the caller holds the mutex: no other access.
            unsafe { *self.0.get() += 1 };
        }
    }
    let m = Mutex {
        state: AtomicU32::new(0),
        f,
        sleeps: AtomicUsize::new(0),
    };
    let counter = Counter(UnsafeCell::new(0));
    let failed = AtomicBool::new(false);
    let affinity = |i: usize| if pinned { on(i % CORES) } else { ANY_CORE };
    sched::run(threads, &affinity, &|_| {
        for _ in 0..rounds {
            if m.lock().is_err() {
                failed.store(true, Ordering::SeqCst);
                m.state.store(0, Ordering::SeqCst);
                let _ = f.wake(&m.state, u32::MAX);
                return;
            }
            // SAFETY: the mutex is held.
            unsafe { counter.add() };
            m.unlock();
        }
    });
    check!(
        !failed.load(Ordering::SeqCst),
        "a lock waiter was never woken"
    );
    // SAFETY: every thread has finished.
    let total = unsafe { *counter.0.get() };
    check_eq!(total, threads * rounds, "increments under the mutex");
    check_eq!(f.waiters(&m.state), 0, "waiters left on the mutex");
    println!(
        "INFO {threads} threads x {rounds}: {} lock waits slept and were woken",
        m.sleeps.load(Ordering::Relaxed)
    );
    Ok(Verdict::Passed)
}

/// A token goes round the four cores 100 times: core i waits until the
/// token is i, passes it to i + 1 and wakes everybody on the word.
fn token_ring(f: &BareMetalFutex) -> Outcome {
    const ROUNDS: u32 = 100;
    let token = AtomicU32::new(0);
    let lost = AtomicBool::new(false);
    let passes = AtomicU32::new(0);
    sched::run(CORES, &on, &|i| {
        let me = i as u32;
        for _ in 0..ROUNDS {
            loop {
                let t = token.load(Ordering::Acquire);
                if t == me || lost.load(Ordering::Relaxed) {
                    break;
                }
                if f.wait(&token, t, Some(Duration::from_secs(10)))
                    == Ok(wrt_platform::WaitOutcome::TimedOut)
                    && token.load(Ordering::Acquire) == t
                {
                    lost.store(true, Ordering::Relaxed);
                    let _ = f.wake(&token, u32::MAX);
                }
            }
            if lost.load(Ordering::Relaxed) {
                return;
            }
            token.store((me + 1) % CORES as u32, Ordering::Release);
            passes.fetch_add(1, Ordering::Relaxed);
            let _ = f.wake(&token, u32::MAX);
        }
    });
    check!(
        !lost.load(Ordering::Relaxed),
        "a wake-up was lost (a waiter slept 10 s)"
    );
    check_eq!(
        passes.load(Ordering::Relaxed),
        ROUNDS * CORES as u32,
        "token passes"
    );
    Ok(Verdict::Passed)
}

/// Without FEAT_WFxT a timed wait must turn the event stream on for its
/// core (EVNTEN, with EVNTI for a period of at most 100 µs); an untimed
/// wait leaves it alone. With FEAT_WFxT the stream is not needed.
fn event_stream(f: &BareMetalFutex) -> Outcome {
    if timer::has_wfxt() {
        return Ok(Verdict::Skipped(
            "the CPU has FEAT_WFxT: timed waits use wfet",
        ));
    }
    let before = AtomicBool::new(true);
    let after_untimed = AtomicBool::new(true);
    let after_timed = AtomicBool::new(false);
    let ctl = AtomicUsize::new(0);
    let word = AtomicU32::new(0);
    sched::run(2, &|i| on(3 - i * 3), &|i| {
        if i == 1 {
            // Core 0: wake the untimed waiter once it is queued.
            let _ = wait_until(|| f.waiters(&word) == 1);
            let _ = f.wake(&word, 1);
            return;
        }
        // Core 3, which has not waited with a timeout yet in this run.
        before.store(timer::event_stream_enabled(), Ordering::SeqCst);
        let _ = f.wait(&word, 0, None);
        after_untimed.store(timer::event_stream_enabled(), Ordering::SeqCst);
        let _ = f.wait(&word, 0, Some(Duration::from_millis(2)));
        after_timed.store(timer::event_stream_enabled(), Ordering::SeqCst);
        let v: u64;
        // SAFETY: reads CNTKCTL_EL1 at EL1.
        unsafe { core::arch::asm!("mrs {}, cntkctl_el1", out(reg) v, options(nomem, nostack)) };
        ctl.store(v as usize, Ordering::SeqCst);
    });
    check!(
        !before.load(Ordering::SeqCst),
        "core 3's event stream was on before any timed wait"
    );
    check!(
        !after_untimed.load(Ordering::SeqCst),
        "an untimed wait turned the event stream on"
    );
    check!(
        after_timed.load(Ordering::SeqCst),
        "a timed wait left the event stream off"
    );
    let evnti = (ctl.load(Ordering::SeqCst) as u64 >> 4) & 0xf;
    let period_ticks = 2u64 << evnti;
    let period = timer::ticks_to_duration(period_ticks, timer::frequency());
    check!(
        period <= timer::EVENT_STREAM_PERIOD && period * 2 > timer::EVENT_STREAM_PERIOD / 2,
        "event stream period {period:?} (EVNTI {evnti}) not in (25 us, 100 us]"
    );
    Ok(Verdict::Passed)
}

/// Stage-1 translation of `va` for an EL1 read (`AT S1E1R`): `PAR_EL1`.
fn translate(va: usize) -> u64 {
    let par: u64;
    // SAFETY: address translation only; no memory access.
    unsafe {
        core::arch::asm!(
            "at s1e1r, {va}",
            "isb",
            "mrs {par}, par_el1",
            va = in(reg) va,
            par = out(reg) par,
            options(nostack, preserves_flags)
        );
    }
    par
}

/// What the futex's exclusives rely on: the MMU and data cache are on
/// (SCTLR_EL1.M, .C) and RAM (a stack variable, the arena) translates to
/// itself as Normal write-back memory (PAR_EL1.ATTR = 0xff, MAIR attr1),
/// while the GIC is Device-nGnRnE (0x00).
fn mmu_identity_map() -> Outcome {
    let sctlr: u64;
    // SAFETY: reads a system register.
    unsafe { core::arch::asm!("mrs {}, sctlr_el1", out(reg) sctlr, options(nomem, nostack)) };
    check!(sctlr & 1 != 0, "SCTLR_EL1.M is off");
    check!(sctlr & 4 != 0, "SCTLR_EL1.C is off");
    let local = AtomicU32::new(0);
    for (what, va, attr) in [
        ("stack", local.as_ptr() as usize, 0xff),
        ("arena", rt::arena().0 as usize, 0xff),
        ("GIC distributor", 0x0800_0000, 0x00),
    ] {
        let par = translate(va);
        check!(
            par & 1 == 0,
            "{what} {va:#x}: translation fault, PAR_EL1 {par:#x}"
        );
        check_eq!(par >> 56, attr, what);
        check_eq!(
            (par & 0x0000_ffff_ffff_f000) as usize,
            va & !0xfff,
            "physical address = virtual"
        );
    }
    Ok(Verdict::Passed)
}

/// The second half of the arena, for allocators made by the bump tests.
struct Scratch {
    start: *mut u8,
    len: usize,
}

// SAFETY: tests use the scratch memory one at a time (from main), except
// `concurrent_reserve`, which only hands it to one allocator.
unsafe impl Sync for Scratch {}

impl Scratch {
    /// `len` bytes at `offset`, filled with `fill`.
    fn region(&self, offset: usize, len: usize, fill: u8) -> NonNull<u8> {
        assert!(offset + len <= self.len);
        let p = self.start.wrapping_add(offset);
        // SAFETY: inside the scratch half of the arena, which no live
        // allocator uses between tests.
        unsafe { core::ptr::write_bytes(p, fill, len) };
        NonNull::new(p).unwrap()
    }

    /// An allocator over `pages` pages filled with `fill` (contents unknown
    /// to the allocator).
    fn bump(&self, pages: usize, fill: u8) -> BumpPages {
        let p = self.region(0, pages * PAGE, fill);
        // SAFETY: the region is ours until the next test.
        unsafe { BumpPages::new(p, pages * PAGE) }
    }
}

fn peek(p: NonNull<u8>, offset: usize) -> u8 {
    // SAFETY: tests pass offsets inside a live reservation.
    unsafe { p.as_ptr().wrapping_add(offset).read_volatile() }
}

fn poke(p: NonNull<u8>, offset: usize, v: u8) {
    // SAFETY: tests pass offsets inside a live reservation.
    unsafe { p.as_ptr().wrapping_add(offset).write_volatile(v) }
}

fn release(a: &BumpPages, r: Reservation) -> Result<(), Failure> {
    // SAFETY: `r` came from `a`; the tests keep no references into it.
    unsafe { a.release(r) }.map_err(|e| Failure::new(format_args!("release: {e}")))
}

fn reserve(a: &BumpPages, bytes: usize) -> Result<Reservation, Failure> {
    a.reserve(&ReserveOptions::new(bytes))
        .map_err(|e| Failure::new(format_args!("reserve({bytes}): {e}")))
}

/// A region starting 123 bytes past a page boundary and ending 5 bytes
/// short of one: capacity counts whole pages from the first boundary, and
/// reservations start on it.
fn capacity_and_alignment(s: &Scratch) -> Outcome {
    let p = s.region(PAGE + 123, 4 * PAGE, 0x5a);
    // SAFETY: the region is ours for this test.
    let a = unsafe { BumpPages::new(p, 4 * PAGE - 123 - 5) };
    check_eq!(a.capacity(), 2 * PAGE, "capacity");
    check_eq!(a.remaining(), 2 * PAGE, "remaining");
    let r = reserve(&a, 1)?;
    let base = r.base().as_ptr() as usize;
    check_eq!(base % PAGE, 0, "base alignment");
    check_eq!(base, (p.as_ptr() as usize).next_multiple_of(PAGE), "base");
    check_eq!(r.len(), PAGE, "usable length of a 1-byte reservation");
    release(&a, r)?;
    // SAFETY: a region smaller than a page holds no page at all.
    let tiny = unsafe { BumpPages::new(p, PAGE - 200) };
    check_eq!(tiny.capacity(), 0, "capacity of a sub-page region");
    check_eq!(
        tiny.reserve(&ReserveOptions::new(1)).err(),
        Some(Errno::NOMEM),
        "reserve from a sub-page region"
    );
    Ok(Verdict::Passed)
}

/// 16 one-page reservations fill a 16-page region exactly; the 17th is
/// NOMEM and changes nothing.
fn reserve_until_full(s: &Scratch) -> Outcome {
    let a = s.bump(16, 0xa5);
    let mut bases = [0usize; 16];
    for (i, b) in bases.iter_mut().enumerate() {
        let r = reserve(&a, PAGE)?;
        *b = r.base().as_ptr() as usize;
        check_eq!(
            a.remaining(),
            (15 - i) * PAGE,
            "remaining after a reservation"
        );
    }
    for w in bases.windows(2) {
        check_eq!(
            w[1] - w[0],
            PAGE,
            "distance between consecutive reservations"
        );
    }
    check_eq!(
        a.reserve(&ReserveOptions::new(1)).err(),
        Some(Errno::NOMEM),
        "reserve when full"
    );
    check_eq!(a.remaining(), 0, "remaining after a refused reservation");
    Ok(Verdict::Passed)
}

/// A reservation bigger than what is left is NOMEM and takes nothing; the
/// rest is still available afterwards.
fn oversized_reserve(s: &Scratch) -> Outcome {
    let a = s.bump(8, 0);
    let r = reserve(&a, 3 * PAGE)?;
    check_eq!(
        a.reserve(&ReserveOptions::new(5 * PAGE + 1)).err(),
        Some(Errno::NOMEM),
        "5 pages + 1 byte of 5 left"
    );
    check_eq!(
        a.reserve(
            &ReserveOptions::new(PAGE)
                .guard_before(2 * PAGE)
                .guard_after(2 * PAGE + 1)
        )
        .err(),
        Some(Errno::NOMEM),
        "guards that do not fit"
    );
    check_eq!(
        a.remaining(),
        5 * PAGE,
        "remaining after refused reservations"
    );
    let r2 = reserve(&a, 5 * PAGE)?;
    check_eq!(a.remaining(), 0, "remaining after using the rest");
    release(&a, r2)?;
    release(&a, r)?;
    check_eq!(
        a.remaining(),
        8 * PAGE,
        "remaining after releasing both (LIFO)"
    );
    Ok(Verdict::Passed)
}

/// Guards are carved out of the region with the reservation: one usable
/// page with a 1-page and a 2-page guard takes 4 pages, and the base sits
/// after the leading guard.
fn guards_are_carved_out(s: &Scratch) -> Outcome {
    let a = s.bump(8, 0);
    let r = a
        .reserve(&ReserveOptions::new(1).guard_before(1).guard_after(PAGE + 1))
        .map_err(|e| Failure::new(format_args!("reserve: {e}")))?;
    check_eq!(a.remaining(), 4 * PAGE, "remaining (8 pages - 4)");
    check_eq!(r.mapping_len(), 4 * PAGE, "mapping length");
    check_eq!(
        r.base().as_ptr() as usize - r.mapping_start().as_ptr() as usize,
        PAGE,
        "base offset (leading guard)"
    );
    let next = reserve(&a, PAGE)?;
    check_eq!(
        next.mapping_start().as_ptr() as usize,
        r.mapping_start().as_ptr() as usize + 4 * PAGE,
        "next reservation starts after the trailing guard"
    );
    Ok(Verdict::Passed)
}

/// Releasing the most recent reservation gives its pages back; releasing
/// an older one returns Ok but gives nothing back; `reset` gives all back.
fn lifo_release(s: &Scratch) -> Outcome {
    let a = s.bump(8, 0);
    let r1 = reserve(&a, 2 * PAGE)?;
    let r2 = reserve(&a, 2 * PAGE)?;
    check_eq!(a.remaining(), 4 * PAGE, "remaining with two reservations");
    release(&a, r1)?;
    check_eq!(
        a.remaining(),
        4 * PAGE,
        "remaining after releasing the older one (not reclaimed)"
    );
    release(&a, r2)?;
    check_eq!(
        a.remaining(),
        6 * PAGE,
        "remaining after releasing the newest (reclaimed; the older stays used)"
    );
    let r3 = reserve(&a, 6 * PAGE)?;
    check_eq!(a.remaining(), 0, "remaining after reserving the rest");
    release(&a, r3)?;
    // SAFETY: no reservation of `a` is used any more.
    unsafe { a.reset() };
    check_eq!(a.remaining(), 8 * PAGE, "remaining after reset");
    // A reservation from another allocator is refused.
    let b = s.bump(2, 0);
    let foreign = reserve(&b, PAGE)?;
    let other = BumpPages::from_static(static_region());
    // SAFETY: deliberately the wrong allocator: it must refuse, not touch.
    let got = unsafe { other.release(foreign) };
    check_eq!(
        got,
        Err(Errno::INVAL),
        "release of another allocator's reservation"
    );
    Ok(Verdict::Passed)
}

/// A small static buffer for `BumpPages::from_static` (the safe
/// constructor).
fn static_region() -> &'static mut [u8] {
    static TAKEN: AtomicBool = AtomicBool::new(false);
    struct Buf(UnsafeCell<[u8; 3 * PAGE]>);
    // SAFETY: handed out once (TAKEN).
    unsafe impl Sync for Buf {}
    static BUF: Buf = Buf(UnsafeCell::new([0; 3 * PAGE]));
    assert!(
        !TAKEN.swap(true, Ordering::SeqCst),
        "static_region taken twice"
    );
    // SAFETY: the only reference ever made to BUF (TAKEN).
    unsafe { &mut *BUF.0.get() }
}

/// A region full of 0xAA (contents unknown to `new`): a fresh reservation
/// reads zero; after writing, releasing and reserving again, it reads zero
/// again (the usable part only: guards are left as they are).
fn reserve_zeroes(s: &Scratch) -> Outcome {
    let a = s.bump(8, 0xaa);
    let r = a
        .reserve(&ReserveOptions::new(2 * PAGE).guard_before(PAGE))
        .map_err(|e| Failure::new(format_args!("reserve: {e}")))?;
    for off in (0..2 * PAGE).step_by(509) {
        check_eq!(peek(r.base(), off), 0, "fresh byte");
        poke(r.base(), off, 0x77);
    }
    check_eq!(peek(r.mapping_start(), 0), 0xaa, "the guard is not zeroed");
    release(&a, r)?;
    let r = reserve(&a, 3 * PAGE)?;
    for off in (0..3 * PAGE).step_by(509) {
        check_eq!(peek(r.base(), off), 0, "reused byte");
    }
    Ok(Verdict::Passed)
}

/// `new_zeroed` trusts the region to be zero: it does not zero fresh
/// memory (shown by breaking the promise on purpose after construction),
/// but it does zero memory it handed out before (below its high-water
/// mark).
fn new_zeroed_watermark(s: &Scratch) -> Outcome {
    let p = s.region(0, 4 * PAGE, 0);
    // SAFETY: the region is ours and zero now.
    let a = unsafe { BumpPages::new_zeroed(p, 4 * PAGE) };
    // Break the promise for the 2nd page only.
    s.region(PAGE, PAGE, 0x3c);
    let r1 = reserve(&a, PAGE)?;
    check_eq!(peek(r1.base(), 0), 0, "first page");
    poke(r1.base(), 0, 0x11);
    let r2 = reserve(&a, PAGE)?;
    check_eq!(
        peek(r2.base(), 0),
        0x3c,
        "second page (fresh, so not zeroed: trusted)"
    );
    release(&a, r2)?;
    let r2 = reserve(&a, PAGE)?;
    check_eq!(peek(r2.base(), 0), 0, "second page again (reused: zeroed)");
    release(&a, r2)?;
    release(&a, r1)?;
    let r = reserve(&a, 2 * PAGE)?;
    check_eq!(peek(r.base(), 0), 0, "first page again (reused: zeroed)");
    Ok(Verdict::Passed)
}

/// `decommit` zeroes exactly its range; the pages around it keep their
/// bytes and the range is writable again.
fn decommit_range(s: &Scratch) -> Outcome {
    let a = s.bump(8, 0);
    let r = reserve(&a, 4 * PAGE)?;
    for off in (0..4 * PAGE).step_by(PAGE / 2) {
        poke(r.base(), off, 0x42);
        poke(r.base(), off + PAGE / 2 - 1, 0x43);
    }
    // SAFETY: no references into the reservation.
    unsafe { a.decommit(&r, PAGE, 2 * PAGE) }
        .map_err(|e| Failure::new(format_args!("decommit: {e}")))?;
    check_eq!(peek(r.base(), PAGE - 1), 0x43, "last byte before the range");
    check_eq!(peek(r.base(), PAGE), 0, "first byte of the range");
    check_eq!(peek(r.base(), 3 * PAGE - 1), 0, "last byte of the range");
    check_eq!(peek(r.base(), 3 * PAGE), 0x42, "first byte after the range");
    poke(r.base(), PAGE, 9);
    check_eq!(peek(r.base(), PAGE), 9, "write after decommit");
    // SAFETY: as above.
    let bad = unsafe { a.decommit(&r, 3 * PAGE, 2 * PAGE) };
    check_eq!(bad, Err(Errno::RANGE), "decommit past the end");
    check_eq!(
        peek(r.base(), 3 * PAGE),
        0x42,
        "bytes after a refused decommit"
    );
    Ok(Verdict::Passed)
}

/// Without an MMU only read-write (no BTI, no MTE) can be "set": it is
/// what every page is. Everything else is NOTSUP and changes nothing;
/// range errors come first; a zero length is accepted.
fn protect_refuses(s: &Scratch) -> Outcome {
    let a = s.bump(4, 0);
    let r = reserve(&a, 2 * PAGE)?;
    poke(r.base(), 0, 0x61);
    let prot = |off: usize, len: usize, p: Protection| {
        // SAFETY: no references into the reservation.
        unsafe { a.protect(&r, off, len, p) }
    };
    for p in [
        Protection::NONE,
        Protection::READ,
        Protection::READ_EXEC,
        Protection::READ_EXEC.with_bti(),
        Protection::READ_WRITE.with_mte(),
        Protection::READ_WRITE.with_bti(),
    ] {
        check_eq!(prot(0, PAGE, p), Err(Errno::NOTSUP), "protect");
    }
    check_eq!(
        prot(0, 2 * PAGE, Protection::READ_WRITE),
        Ok(()),
        "protect(READ_WRITE)"
    );
    check_eq!(
        prot(PAGE, 0, Protection::NONE),
        Ok(()),
        "zero-length protect(NONE)"
    );
    check_eq!(
        prot(1, PAGE, Protection::NONE),
        Err(Errno::INVAL),
        "misaligned protect(NONE)"
    );
    check_eq!(
        prot(PAGE, 2 * PAGE, Protection::NONE),
        Err(Errno::RANGE),
        "protect(NONE) past the end"
    );
    check_eq!(peek(r.base(), 0), 0x61, "contents after refused protects");
    poke(r.base(), 0, 0x62);
    check_eq!(peek(r.base(), 0), 0x62, "still writable");
    // SAFETY: as above.
    check_eq!(unsafe { a.commit(&r, 0, 2 * PAGE) }, Ok(()), "commit");
    Ok(Verdict::Passed)
}

/// With 16 KiB pages: sizes round to 16 KiB and bases are 16 KiB aligned
/// even in a region that starts 4 KiB past a 16 KiB boundary.
fn page_size_16k(s: &Scratch) -> Outcome {
    const P16: usize = 16 * 1024;
    let start = s
        .start
        .wrapping_add(P16 - (s.start as usize % P16))
        .wrapping_add(PAGE);
    let offset = start as usize - s.start as usize;
    let p = s.region(offset, 8 * P16, 0x99);
    // SAFETY: the region is ours for this test.
    let a = unsafe { BumpPages::new(p, 8 * P16) }.with_page_size(P16);
    check_eq!(a.page_size(), P16, "page size");
    check_eq!(
        a.capacity(),
        7 * P16,
        "capacity (first 16 KiB boundary is 12 KiB in)"
    );
    let r = reserve(&a, 1)?;
    check_eq!(r.base().as_ptr() as usize % P16, 0, "base alignment");
    check_eq!(r.len(), P16, "usable length");
    check_eq!(peek(r.base(), P16 - 1), 0, "last byte zeroed");
    // SAFETY: no references into the reservation.
    let misaligned = unsafe { a.commit(&r, PAGE, PAGE) };
    check_eq!(misaligned, Err(Errno::INVAL), "commit of a 4 KiB range");
    Ok(Verdict::Passed)
}

/// Four cores reserve, fill with their own byte, verify and release, 64
/// times each, all from one allocator: no reservation ever sees another's
/// byte, and LIFO releases keep some memory reclaimed.
fn concurrent_reserve(s: &Scratch) -> Outcome {
    let a = s.bump(1024, 0xee);
    let bad = AtomicUsize::new(0);
    let nomem = AtomicUsize::new(0);
    sched::run(CORES, &on, &|i| {
        let mine = 0x10 + i as u8;
        for k in 0..64 {
            let pages = 1 + (k + i) % 3;
            let Ok(r) = a.reserve(&ReserveOptions::new(pages * PAGE)) else {
                nomem.fetch_add(1, Ordering::SeqCst);
                continue;
            };
            for off in (0..pages * PAGE).step_by(256) {
                if peek(r.base(), off) != 0 {
                    bad.fetch_add(1, Ordering::SeqCst);
                }
                poke(r.base(), off, mine);
            }
            spin_for(Duration::from_micros(50));
            for off in (0..pages * PAGE).step_by(256) {
                if peek(r.base(), off) != mine {
                    bad.fetch_add(1, Ordering::SeqCst);
                }
            }
            // SAFETY: `r` came from `a`; no references into it.
            let _ = unsafe { a.release(r) };
        }
    });
    check_eq!(
        bad.load(Ordering::SeqCst),
        0,
        "bytes that were not zero on reserve or were overwritten by another core"
    );
    check_eq!(
        nomem.load(Ordering::SeqCst),
        0,
        "reservations refused (1024 pages is enough for all 256)"
    );
    Ok(Verdict::Passed)
}

/// The calls [`recording_hook`] saw: start, length, accessible.
static HOOK_CALLS: [[AtomicUsize; 3]; 8] = [const { [const { AtomicUsize::new(0) }; 3] }; 8];
static HOOK_COUNT: AtomicUsize = AtomicUsize::new(0);
/// While set, [`recording_hook`] fails (records nothing).
static HOOK_FAILS: AtomicBool = AtomicBool::new(false);

/// A protect hook that only records (the pages stay accessible).
unsafe extern "C" fn recording_hook(start: *mut core::ffi::c_void, len: usize, acc: i32) -> i32 {
    if HOOK_FAILS.load(Ordering::Relaxed) {
        return -1;
    }
    let i = HOOK_COUNT.fetch_add(1, Ordering::Relaxed);
    if let Some(c) = HOOK_CALLS.get(i) {
        c[0].store(start as usize, Ordering::Relaxed);
        c[1].store(len, Ordering::Relaxed);
        c[2].store(acc as usize, Ordering::Relaxed);
    }
    0
}

/// The hook calls since the last `hook_calls()`, as (start, len,
/// accessible) with unused entries (0, 0, 0), and how many there were.
fn hook_calls() -> ([(usize, usize, usize); 2], usize) {
    let n = HOOK_COUNT.swap(0, Ordering::Relaxed);
    let mut out = [(0, 0, 0); 2];
    for (o, c) in out.iter_mut().zip(&HOOK_CALLS).take(n) {
        *o = (
            c[0].load(Ordering::Relaxed),
            c[1].load(Ordering::Relaxed),
            c[2].load(Ordering::Relaxed),
        );
    }
    (out, n)
}

/// With a protect hook, `BumpPages` reports every change of access to it
/// (the whole reservation invalid after `reserve`, committed or protected
/// ranges, the whole reservation valid again on `release`), refuses what
/// the hook cannot express (`protect(READ)`, `decommit`) without calling
/// it, and turns a failing hook into `NOMEM` (a failed `reserve` gives its
/// claim back).
fn protect_hook(s: &Scratch) -> Outcome {
    let a = s.bump(8, 0xaa);
    HOOK_COUNT.store(0, Ordering::Relaxed);
    check!(!a.has_protect_hook(), "a hook before set_protect_hook");
    // SAFETY: the hook only records.
    check_eq!(unsafe { a.set_protect_hook(recording_hook) }, Ok(()), "set");
    // SAFETY: as above; a second one is refused.
    let again = unsafe { a.set_protect_hook(recording_hook) };
    check_eq!(again, Err(Errno::INVAL), "set again");
    let r = a
        .reserve(
            &ReserveOptions::new(2 * PAGE)
                .guard_before(PAGE)
                .guard_after(PAGE),
        )
        .map_err(|e| Failure::new(format_args!("reserve: {e}")))?;
    let (start, base) = (
        r.mapping_start().as_ptr() as usize,
        r.base().as_ptr() as usize,
    );
    check_eq!(
        hook_calls(),
        ([(start, 4 * PAGE, 0), (0, 0, 0)], 1),
        "reserve"
    );
    check_eq!(peek(r.base(), PAGE), 0, "the usable part was zeroed first");
    // SAFETY: no references into the reservation (so for every call on `r`
    // below).
    let commit = unsafe { a.commit(&r, 0, PAGE) };
    check_eq!(commit, Ok(()), "commit");
    check_eq!(hook_calls(), ([(base, PAGE, 1), (0, 0, 0)], 1), "commit");
    // SAFETY: as above.
    let none = unsafe { a.protect(&r, PAGE, PAGE, Protection::NONE) };
    check_eq!(none, Ok(()), "protect(NONE)");
    check_eq!(
        hook_calls(),
        ([(base + PAGE, PAGE, 0), (0, 0, 0)], 1),
        "protect(NONE)"
    );
    // SAFETY: as above.
    let rw = unsafe { a.protect(&r, 0, 2 * PAGE, Protection::READ_WRITE) };
    check_eq!(rw, Ok(()), "protect(READ_WRITE)");
    check_eq!(
        hook_calls(),
        ([(base, 2 * PAGE, 1), (0, 0, 0)], 1),
        "protect(READ_WRITE)"
    );
    // SAFETY: as above.
    let read = unsafe { a.protect(&r, 0, PAGE, Protection::READ) };
    check_eq!(read, Err(Errno::NOTSUP), "protect(READ)");
    // SAFETY: as above.
    let empty = unsafe { a.protect(&r, PAGE, 0, Protection::NONE) };
    check_eq!(empty, Ok(()), "zero-length protect(NONE)");
    // SAFETY: as above.
    let decommit = unsafe { a.decommit(&r, 0, PAGE) };
    check_eq!(decommit, Err(Errno::NOTSUP), "decommit");
    check_eq!(
        hook_calls().1,
        0,
        "hook calls for what was refused or empty"
    );
    HOOK_FAILS.store(true, Ordering::Relaxed);
    // SAFETY: as above.
    let failed_commit = unsafe { a.commit(&r, 0, PAGE) };
    let left = a.remaining();
    let failed_reserve = a.reserve(&ReserveOptions::new(PAGE)).map(|_| ());
    let left_after = a.remaining();
    HOOK_FAILS.store(false, Ordering::Relaxed);
    check_eq!(failed_commit, Err(Errno::NOMEM), "commit, hook failing");
    check_eq!(failed_reserve, Err(Errno::NOMEM), "reserve, hook failing");
    check_eq!(left_after, left, "remaining after the failed reserve");
    // SAFETY: nothing uses the reservation any more.
    check_eq!(unsafe { a.release(r) }, Ok(()), "release");
    check_eq!(
        hook_calls(),
        ([(start, 4 * PAGE, 1), (0, 0, 0)], 1),
        "release"
    );
    check_eq!(a.remaining(), a.capacity(), "release reclaimed it");
    Ok(Verdict::Passed)
}
