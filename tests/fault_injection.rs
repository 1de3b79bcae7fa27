//! Fault injection for the atomics C ABI (the memory side — ENOMEM from
//! mprotect and mmap — is tests/rlimit.rs and tests/memory.rs):
//! * EINTR: a storm of signals (handler without SA_RESTART, so the futex
//!   returns EINTR) during `wrt_atomic_wait32`: the timeout is not
//!   extended, a notify still wakes the waiter, and the next wait works;
//! * ETIMEDOUT racing a notify: thousands of waits with timeouts of tens
//!   of microseconds against a concurrent notifier; every notify count
//!   equals the waits that returned 0 (resolved one way, never both);
//! * EAGAIN racing: the word changes while waiters enqueue; every result
//!   is 0, 1 or 2, and the counts still agree.
#![cfg(target_os = "linux")]

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wrt_platform::capi::*;

fn shared_memory() -> wrt_memory_t {
    let mut h = 0;
    // SAFETY: valid out-pointer.
    let code = unsafe { wrt_memory_create(1, 1, WRT_MEMORY_SHARED, &mut h) };
    assert_eq!(code, 0);
    h
}

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

fn install_handler() {
    // SAFETY: all-zero sigaction is valid; fields set below.
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = count_signal as *const () as usize;
    sa.sa_flags = 0; // no SA_RESTART
    // SAFETY: installs a handler that only touches an atomic.
    let installed = unsafe { libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) };
    assert_eq!(installed, 0);
}

/// Runs `wait` on a thread while the caller storms it with SIGUSR1 until it
/// returns (or `storm` passes); returns the wait's result and duration.
fn under_signal_storm(wait: impl FnOnce() -> i32 + Send, during: impl FnOnce()) -> (i32, Duration) {
    install_handler();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<usize>();
        let done = &done;
        let waiter = s.spawn(move || {
            // SAFETY: pthread_self is always safe.
            tx.send(unsafe { libc::pthread_self() } as usize).unwrap();
            let t0 = Instant::now();
            let r = wait();
            done.store(true, Ordering::Release);
            (r, t0.elapsed())
        });
        let thread = rx.recv().unwrap();
        let before = SIGNALS.load(Ordering::Relaxed);
        let storm = s.spawn(move || {
            let t0 = Instant::now();
            while !done.load(Ordering::Acquire) && t0.elapsed() < Duration::from_secs(10) {
                // pthread_t is an integer on glibc and a pointer on musl.
                // SAFETY: the waiter thread is alive until `done` is set.
                unsafe { libc::pthread_kill(thread as libc::pthread_t, libc::SIGUSR1) };
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        during();
        let out = waiter.join().unwrap();
        storm.join().unwrap();
        assert!(
            SIGNALS.load(Ordering::Relaxed) > before,
            "no signal was delivered"
        );
        out
    })
}

#[test]
fn eintr_storm_neither_extends_a_timeout_nor_loses_a_notify() {
    let m = shared_memory();
    let (r, took) = under_signal_storm(|| wrt_atomic_wait32(m, 0, 0, 300_000_000), || {});
    assert_eq!(r, 2, "timed out");
    assert!(
        took >= Duration::from_millis(300),
        "returned early: {took:?}"
    );
    // A wait that restarted its timeout on EINTR would outlive the 10 s
    // storm; 5 s leaves a loaded machine room to schedule us late.
    assert!(
        took < Duration::from_secs(5),
        "EINTR extended the wait to {took:?}"
    );

    let (r, took) = under_signal_storm(
        || wrt_atomic_wait32(m, 0, 0, 10_000_000_000),
        || {
            std::thread::sleep(Duration::from_millis(100));
            // Wake it (it may not be queued yet: retry until counted).
            while wrt_atomic_notify(m, 0, 1) == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
        },
    );
    assert_eq!(r, 0, "woken by the notify despite the storm");
    assert!(took < Duration::from_secs(5), "{took:?}");
    // And the queue still works afterwards.
    assert_eq!(wrt_atomic_wait32(m, 0, 0, 0), 2);
    assert_eq!(wrt_atomic_notify(m, 0, 1), 0);
    assert_eq!(wrt_memory_destroy(m), 0);
}

/// Conservation under races: runs `waiters` threads doing `rounds` waits
/// with timeout `timeout_ns` (on a word a mutator may flip) against one
/// notifier, which pauses for four timeouts after every 16 notifies so
/// that waits also time out (a notifier that never pauses wakes every
/// waiter long before its timeout); returns (waits returning 0, sum of
/// notify counts, results).
fn race(waiters: usize, rounds: usize, timeout_ns: i64, flip: bool) -> (u64, u64, [u64; 3]) {
    let m = shared_memory();
    let base = wrt_memory_base(m);
    // SAFETY: the first 4 bytes of a live shared memory, accessed atomically.
    let word = unsafe { AtomicU32::from_ptr(base.cast()) };
    let stop = AtomicBool::new(false);
    let woken = AtomicU64::new(0);
    let counted = AtomicU64::new(0);
    let results = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..waiters)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..rounds {
                        let r = wrt_atomic_wait32(m, 0, 0, timeout_ns);
                        assert!((0..=2).contains(&r), "wait32 -> {r}");
                        results[r as usize].fetch_add(1, Ordering::Relaxed);
                        if r == 0 {
                            woken.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        s.spawn(|| {
            let mut n = 0u32;
            while !stop.load(Ordering::Relaxed) {
                if flip {
                    word.store(n & 1, Ordering::SeqCst);
                }
                let r = wrt_atomic_notify(m, 0, 1 + n % 2);
                assert!(r >= 0);
                counted.fetch_add(r as u64, Ordering::Relaxed);
                n = n.wrapping_add(1);
                if n.is_multiple_of(16) {
                    std::thread::sleep(Duration::from_nanos(4 * timeout_ns as u64));
                }
            }
        });
        for w in workers {
            w.join().unwrap();
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert_eq!(wrt_memory_destroy(m), 0);
    (
        woken.into_inner(),
        counted.into_inner(),
        results.map(AtomicU64::into_inner),
    )
}

#[test]
fn timeouts_racing_notifies_resolve_one_way() {
    let rounds = if std::env::var_os("WRT_EXPECT_CPU").is_some() {
        300
    } else {
        3000
    };
    let (woken, counted, results) = race(4, rounds, 50_000, false);
    assert_eq!(
        woken, counted,
        "a notify counted a waiter that timed out, or missed one it woke"
    );
    assert_eq!(
        results[1], 0,
        "the word never changed: no waiter may see not-equal"
    );
    assert!(
        results[0] > 0 && results[2] > 0,
        "both outcomes should occur: {results:?}"
    );
}

#[test]
fn mismatches_racing_enqueues_keep_counts_exact() {
    let rounds = if std::env::var_os("WRT_EXPECT_CPU").is_some() {
        300
    } else {
        3000
    };
    let (woken, counted, results) = race(4, rounds, 200_000, true);
    assert_eq!(woken, counted);
    assert!(
        results[1] > 0,
        "the flipping word should produce not-equal results: {results:?}"
    );
}
