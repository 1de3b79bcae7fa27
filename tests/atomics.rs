//! The wait queue (`wasm::atomics`) on the Linux futex, and the
//! `wrt_atomic_*` C ABI: the semantic cases of the Wasm threads proposal's
//! wait/notify, the bad-input table, FIFO order, 32/64-bit waiters sharing
//! a queue, bucket neighbours, spurious futex returns, timeouts racing
//! notifies, a conservation stress test, and "no system call" for a
//! notify without waiters and a mismatching wait (seccomp, in a forked
//! child). Runs natively and under qemu-aarch64 (set `WRT_EXPECT_CPU`;
//! qemu-user has no seccomp, so that one check runs natively only).
#![cfg(target_os = "linux")]

use std::hint::black_box;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use wrt_platform::capi::*;
use wrt_platform::errno::Result as OsResult;
use wrt_platform::futex::{FutexLike, WaitOutcome};
use wrt_platform::os::linux::LinuxFutex;
use wrt_platform::wasm::atomics::{
    BUCKETS, Clock, DEFAULT_SPIN_LIMIT, MAX_SPIN_LIMIT, OsClock, WaitQueue, WaitResult,
    bucket_index,
};

type Queue = WaitQueue<LinuxFutex, OsClock>;

const PAGE: u64 = 65536;

/// Under qemu-user (scripts/test sets `WRT_EXPECT_CPU`) or on aarch64.
fn emulated() -> bool {
    std::env::var_os("WRT_EXPECT_CPU").is_some() || cfg!(target_arch = "aarch64")
}

/// A queue of the test's own, so tests do not see each other's waiters.
fn queue() -> &'static Queue {
    Box::leak(Box::new(WaitQueue::new(LinuxFutex, OsClock)))
}

fn key<T>(word: &T) -> usize {
    word as *const T as usize
}

/// Waits until `n` threads wait on `addr` in `q` (at most 20 s).
fn until_waiting<F: FutexLike, C: Clock>(q: &WaitQueue<F, C>, addr: usize, n: usize) {
    let start = Instant::now();
    while q.waiting(addr) != n {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} waiters, want {n}",
            q.waiting(addr)
        );
        thread::sleep(Duration::from_micros(100));
    }
}

fn create(initial: u64, max: u64, flags: u32) -> wrt_memory_t {
    let mut h = 0;
    // SAFETY: `h` is a valid out-pointer.
    let code = unsafe { wrt_memory_create(initial, max, flags, &mut h) };
    assert_eq!(code, WRT_OK as i32);
    h
}

/// The 32-bit word at `addr` of a live memory.
fn word32(m: wrt_memory_t, addr: u64) -> &'static AtomicU32 {
    assert!(addr.is_multiple_of(4) && addr + 4 <= wrt_memory_size(m) as u64 * PAGE);
    let p = wrt_memory_base(m).wrapping_add(addr as usize).cast::<u32>();
    // SAFETY: aligned, inside the committed part of a memory the test
    // never destroys while the reference is used; accessed atomically.
    unsafe { AtomicU32::from_ptr(p) }
}

#[test]
fn notify_without_waiters_returns_0() {
    let q = queue();
    let w = AtomicU32::new(0);
    assert_eq!(q.notify(key(&w), 1), 0);
    assert_eq!(q.notify(key(&w), u32::MAX), 0);
    assert_eq!(q.notify(key(&w), 0), 0);
    let shared = create(1, 1, WRT_MEMORY_SHARED);
    let plain = create(1, 1, 0);
    assert_eq!(wrt_atomic_notify(shared, 0, 1), 0);
    assert_eq!(wrt_atomic_notify(shared, PAGE - 4, u32::MAX), 0);
    assert_eq!(
        wrt_atomic_notify(plain, 0, 1),
        0,
        "non-shared: validated, 0"
    );
    for m in [shared, plain] {
        assert_eq!(wrt_memory_destroy(m), WRT_OK as i32);
    }
}

#[test]
fn mismatching_value_returns_not_equal() {
    let q = queue();
    let w32 = AtomicU32::new(7);
    let w64 = AtomicU64::new(1 << 40);
    assert_eq!(q.wait32(&w32, 8, None), WaitResult::NotEqual);
    assert_eq!(q.wait64(&w64, 1, None), WaitResult::NotEqual);
    assert_eq!(
        q.wait64(&w64, 0, Some(Duration::ZERO)),
        WaitResult::NotEqual
    );
    let m = create(1, 1, WRT_MEMORY_SHARED);
    word32(m, 8).store(5, SeqCst);
    assert_eq!(wrt_atomic_wait32(m, 8, 6, -1), WRT_WAIT_NOT_EQUAL);
    // The Wasm memory is little-endian: a 64-bit wait at 8 sees 5 too.
    assert_eq!(wrt_atomic_wait64(m, 8, 5 << 32, -1), WRT_WAIT_NOT_EQUAL);
    assert_eq!(wrt_atomic_wait64(m, 8, 5, 0), WRT_WAIT_TIMED_OUT);
    assert_eq!(wrt_memory_destroy(m), WRT_OK as i32);
}

#[test]
fn zero_timeout_returns_timed_out_at_once() {
    let q = queue();
    let w = AtomicU32::new(0);
    assert_eq!(q.wait32(&w, 0, Some(Duration::ZERO)), WaitResult::TimedOut);
    assert_eq!(q.waiting(key(&w)), 0);
    let m = create(1, 1, WRT_MEMORY_SHARED);
    assert_eq!(wrt_atomic_wait32(m, 0, 0, 0), WRT_WAIT_TIMED_OUT);
    assert_eq!(wrt_atomic_wait64(m, 0, 0, 0), WRT_WAIT_TIMED_OUT);
    assert_eq!(wrt_memory_destroy(m), WRT_OK as i32);
}

#[test]
fn timeout_passes_after_the_deadline() {
    let q = queue();
    let w = AtomicU32::new(0);
    let t = Duration::from_millis(30);
    let start = Instant::now();
    assert_eq!(q.wait32(&w, 0, Some(t)), WaitResult::TimedOut);
    let took = start.elapsed();
    assert!(took >= t && took < Duration::from_secs(10), "{took:?}");
    assert_eq!(q.waiting(key(&w)), 0, "a timed-out waiter left the queue");

    let m = create(1, 1, WRT_MEMORY_SHARED);
    let start = Instant::now();
    assert_eq!(wrt_atomic_wait64(m, 16, 0, 20_000_000), WRT_WAIT_TIMED_OUT);
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(wrt_atomic_notify(m, 16, 1), 0, "nobody is left queued");
    assert_eq!(wrt_memory_destroy(m), WRT_OK as i32);
}

fn e(code: wrt_error) -> i64 {
    code as i64
}

/// Every trap, in Wasm's order (handle, alignment, bounds, shared), and the
/// edges that are fine.
#[test]
fn bad_input_table() {
    let shared = create(1, 2, WRT_MEMORY_SHARED);
    let plain = create(1, 2, 0);
    let m64 = create(1, 2, WRT_MEMORY_SHARED | WRT_MEMORY_64);
    let dead = create(1, 1, WRT_MEMORY_SHARED);
    assert_eq!(wrt_memory_destroy(dead), WRT_OK as i32);
    let end = PAGE;
    let w32 = |m, a, x| i64::from(wrt_atomic_wait32(m, a, x, 0));
    let w64 = |m, a, x| i64::from(wrt_atomic_wait64(m, a, x, 0));
    let n = wrt_atomic_notify;
    #[rustfmt::skip]
    let table: Vec<(&str, i64, i64)> = vec![
        ("wait32: handle 0", w32(0, 0, 0), e(WRT_E_BAD_HANDLE)),
        ("wait32: destroyed", w32(dead, 0, 0), e(WRT_E_BAD_HANDLE)),
        ("wait32: unaligned", w32(shared, 2, 0), e(WRT_E_UNALIGNED)),
        ("wait32: unaligned and out of bounds", w32(shared, end + 1, 0), e(WRT_E_UNALIGNED)),
        ("wait32: last word", w32(shared, end - 4, 0), 2),
        ("wait32: at the end", w32(shared, end, 0), e(WRT_E_OUT_OF_BOUNDS)),
        ("wait32: addr + 4 wraps", w32(shared, u64::MAX - 3, 0), e(WRT_E_OUT_OF_BOUNDS)),
        ("wait32: non-shared", w32(plain, 0, 0), e(WRT_E_NOT_SHARED)),
        ("wait32: non-shared, unaligned", w32(plain, 1, 0), e(WRT_E_UNALIGNED)),
        ("wait32: non-shared, out of bounds", w32(plain, end, 0), e(WRT_E_OUT_OF_BOUNDS)),
        ("wait32: memory64", w32(m64, end - 4, 0), 2),
        ("wait64: handle 0", w64(0, 0, 0), e(WRT_E_BAD_HANDLE)),
        ("wait64: destroyed", w64(dead, 0, 0), e(WRT_E_BAD_HANDLE)),
        ("wait64: 4-aligned only", w64(shared, 4, 0), e(WRT_E_UNALIGNED)),
        ("wait64: last word", w64(shared, end - 8, 0), 2),
        ("wait64: at the end", w64(shared, end, 0), e(WRT_E_OUT_OF_BOUNDS)),
        ("wait64: addr + 8 wraps", w64(shared, u64::MAX - 7, 0), e(WRT_E_OUT_OF_BOUNDS)),
        ("wait64: non-shared", w64(plain, 8, 0), e(WRT_E_NOT_SHARED)),
        ("wait64: mismatch", w64(shared, 8, 1), 1),
        ("notify: handle 0", n(0, 0, 1), e(WRT_E_BAD_HANDLE)),
        ("notify: destroyed", n(dead, 0, 1), e(WRT_E_BAD_HANDLE)),
        ("notify: unaligned", n(shared, 2, 1), e(WRT_E_UNALIGNED)),
        ("notify: 4-aligned is enough", n(shared, 4, 1), 0),
        ("notify: last word", n(shared, end - 4, 1), 0),
        ("notify: at the end", n(shared, end, 1), e(WRT_E_OUT_OF_BOUNDS)),
        ("notify: addr + 4 wraps", n(shared, u64::MAX - 3, 1), e(WRT_E_OUT_OF_BOUNDS)),
        ("notify: non-shared", n(plain, 0, 1), 0),
        ("notify: non-shared, unaligned", n(plain, 2, 1), e(WRT_E_UNALIGNED)),
        ("notify: non-shared, out of bounds", n(plain, end, 1), e(WRT_E_OUT_OF_BOUNDS)),
        ("notify: count 0", n(shared, 0, 0), 0),
    ];
    let wrong: Vec<String> = table
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(what, got, want)| format!("{what}: got {got}, want {want}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");

    // Bounds follow the current size: after a grow the next page is fine.
    assert_eq!(wrt_memory_grow(shared, 1), 1);
    assert_eq!(w32(shared, end, 0), 2);
    assert_eq!(n(shared, 2 * end - 4, 1), 0);
    for m in [shared, plain, m64] {
        assert_eq!(wrt_memory_destroy(m), WRT_OK as i32);
    }
}

#[test]
fn new_codes_have_descriptions() {
    let unknown = wrt_strerror(12345);
    for code in [WRT_E_UNALIGNED, WRT_E_NOT_SHARED] {
        let text = wrt_strerror(code as i32);
        assert!(!text.is_null());
        assert_ne!(text, unknown, "{code:?} has no description");
    }
    assert_eq!(WRT_E_UNALIGNED as i32, -11);
    assert_eq!(WRT_E_NOT_SHARED as i32, -12);
}

/// A real wait and notify through the C ABI: the waiter returns 0 and the
/// notify that woke it returns 1, exactly once.
#[test]
fn woken_waiter_returns_ok() {
    let m = create(1, 1, WRT_MEMORY_SHARED);
    for (addr, wide) in [(8u64, false), (16, true)] {
        let waiter = thread::spawn(move || {
            if wide {
                wrt_atomic_wait64(m, addr, 0, -1)
            } else {
                wrt_atomic_wait32(m, addr, 0, -1)
            }
        });
        let start = Instant::now();
        let mut woken = 0;
        while woken == 0 {
            assert!(start.elapsed() < Duration::from_secs(20), "never queued");
            thread::sleep(Duration::from_micros(200));
            woken = wrt_atomic_notify(m, addr, 1);
        }
        assert_eq!(woken, 1);
        assert_eq!(waiter.join().unwrap(), WRT_WAIT_OK);
        assert_eq!(wrt_atomic_notify(m, addr, 1), 0);
    }
    assert_eq!(wrt_memory_destroy(m), WRT_OK as i32);
}

/// Waiters enqueued in a known order are woken by `notify(1)` in that order.
#[test]
fn fifo_order() {
    let q = queue();
    let w: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
    let n = 6;
    let order = Arc::new(Mutex::new(Vec::new()));
    let mut threads = Vec::new();
    for i in 0..n {
        let order = order.clone();
        threads.push(thread::spawn(move || {
            let r = q.wait32(w, 0, None);
            order.lock().unwrap().push(i);
            r
        }));
        until_waiting(q, key(w), i + 1);
    }
    for k in 1..=n {
        assert_eq!(q.notify(key(w), 1), 1);
        let start = Instant::now();
        while order.lock().unwrap().len() < k {
            assert!(start.elapsed() < Duration::from_secs(20));
            thread::sleep(Duration::from_micros(100));
        }
        assert_eq!(q.waiting(key(w)), n - k);
    }
    assert_eq!(*order.lock().unwrap(), (0..n).collect::<Vec<_>>());
    for t in threads {
        assert_eq!(t.join().unwrap(), WaitResult::Ok);
    }
}

/// 32- and 64-bit waiters on one address share one FIFO queue; a notify
/// of the upper half's address wakes neither.
#[test]
fn wait32_and_wait64_share_a_queue() {
    let q = queue();
    let wide: &'static AtomicU64 = Box::leak(Box::new(AtomicU64::new(0)));
    // SAFETY: the low half of `wide`, same address and alignment. The two
    // views are only loaded while both are in use (no racing write of
    // another size).
    let narrow: &'static AtomicU32 = unsafe { AtomicU32::from_ptr(wide.as_ptr().cast()) };
    let addr = key(wide);
    assert_eq!(addr, key(narrow));
    let t64 = thread::spawn(move || q.wait64(wide, 0, None));
    until_waiting(q, addr, 1);
    let t32 = thread::spawn(move || q.wait32(narrow, 0, None));
    until_waiting(q, addr, 2);
    assert_eq!(q.notify(addr + 4, u32::MAX), 0, "another address");
    assert_eq!(q.notify(addr, 1), 1);
    assert_eq!(
        t64.join().unwrap(),
        WaitResult::Ok,
        "the older waiter first"
    );
    assert_eq!(q.waiting(addr), 1);
    assert_eq!(q.notify(addr, 1), 1);
    assert_eq!(t32.join().unwrap(), WaitResult::Ok);
    assert_eq!(q.notify(addr, 1), 0);
}

/// Two addresses in one bucket: a notify of the second address skips the
/// older waiter of the first.
#[test]
fn bucket_neighbours_are_not_woken() {
    let q = queue();
    let words: &'static [AtomicU32] =
        Box::leak((0..4 * BUCKETS).map(|_| AtomicU32::new(0)).collect());
    let a = &words[0];
    let b = words[1..]
        .iter()
        .find(|w| bucket_index(key(*w)) == bucket_index(key(a)))
        .expect("pigeonhole: 4 * BUCKETS words share buckets");
    let ta = thread::spawn(move || q.wait32(a, 0, None));
    until_waiting(q, key(a), 1);
    let tb = thread::spawn(move || q.wait32(b, 0, None));
    until_waiting(q, key(b), 1);
    assert_eq!(q.notify(key(b), u32::MAX), 1);
    assert_eq!(tb.join().unwrap(), WaitResult::Ok);
    assert_eq!(q.waiting(key(a)), 1, "the neighbour still waits");
    assert_eq!(q.notify(key(a), u32::MAX), 1);
    assert_eq!(ta.join().unwrap(), WaitResult::Ok);
}

/// A futex whose every other wait (the first, the third, ...) returns
/// `Woken` at once: spurious returns, which `FutexLike` allows. Records the
/// timeout of every wait.
struct Spurious {
    timeouts: Mutex<Vec<Option<Duration>>>,
}

impl FutexLike for Spurious {
    fn wait(&self, word: &AtomicU32, expected: u32, t: Option<Duration>) -> OsResult<WaitOutcome> {
        let calls = {
            let mut timeouts = self.timeouts.lock().unwrap();
            timeouts.push(t);
            timeouts.len()
        };
        if calls % 2 == 1 {
            return Ok(WaitOutcome::Woken);
        }
        LinuxFutex.wait(word, expected, t)
    }

    fn wake(&self, word: &AtomicU32, n: u32) -> OsResult<u32> {
        LinuxFutex.wake(word, n)
    }

    fn wake_count_is_exact(&self) -> bool {
        true
    }
}

impl Spurious {
    /// The timeouts of the waits so far, oldest first.
    fn timeouts(&self) -> Vec<Option<Duration>> {
        self.timeouts.lock().unwrap().clone()
    }
}

/// A clock that moves `step` forward every time it is read, whatever the
/// real time: the deadline arithmetic of a timed wait becomes exact, even
/// when the test thread is descheduled at any point.
struct StepClock {
    step: Duration,
    reads: AtomicU32,
}

impl Clock for StepClock {
    fn now(&self) -> Option<Duration> {
        Some(self.step * self.reads.fetch_add(1, SeqCst))
    }
}

/// A queue on [`Spurious`] and [`StepClock`], with the monitor phase off
/// (its time would come off the first sleep's timeout; see
/// `monitor_phase_counts_against_the_timeout`).
fn spurious_queue(step: Duration) -> &'static WaitQueue<Spurious, StepClock> {
    let q = spurious_queue_with_phase(step);
    q.set_spin_limit(Duration::ZERO);
    q
}

/// A queue on [`Spurious`] and [`StepClock`], monitor phase at its default.
fn spurious_queue_with_phase(step: Duration) -> &'static WaitQueue<Spurious, StepClock> {
    Box::leak(Box::new(WaitQueue::new(
        Spurious {
            timeouts: Mutex::new(Vec::new()),
        },
        StepClock {
            step,
            reads: AtomicU32::new(0),
        },
    )))
}

/// Spurious futex returns neither end a wait as `Ok` nor extend its
/// deadline: after one, the waiter sleeps for exactly what is left, or
/// returns `TimedOut` when nothing is left.
#[test]
fn spurious_returns_are_absorbed() {
    let t = Duration::from_millis(40);

    // The clock reads 0 ms when the deadline (40 ms) is fixed and 10 ms
    // after the spurious return: the second sleep is for the 30 ms left,
    // on the real futex, and times out.
    let q = spurious_queue(Duration::from_millis(10));
    let w = AtomicU32::new(0);
    assert_eq!(q.wait32(&w, 0, Some(t)), WaitResult::TimedOut);
    assert_eq!(
        q.futex().timeouts(),
        [Some(t), Some(Duration::from_millis(30))]
    );
    assert_eq!(q.waiting(key(&w)), 0, "a timed-out waiter left the queue");

    // The clock reads 50 ms after the spurious return: the deadline has
    // passed, so the wait ends `TimedOut` without sleeping again.
    let q = spurious_queue(Duration::from_millis(50));
    assert_eq!(q.wait32(&w, 0, Some(t)), WaitResult::TimedOut);
    assert_eq!(q.futex().timeouts(), [Some(t)]);
    assert_eq!(q.waiting(key(&w)), 0, "a timed-out waiter left the queue");

    // An untimed wait sleeps again after each spurious return and ends
    // only with the notify.
    let q = spurious_queue(Duration::from_millis(10));
    let w: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
    let waiter = thread::spawn(move || q.wait32(w, 0, None));
    until_waiting(q, key(w), 1);
    let start = Instant::now();
    while q.futex().timeouts().len() < 2 {
        assert!(start.elapsed() < Duration::from_secs(20), "never slept");
        thread::sleep(Duration::from_micros(100));
    }
    assert!(!waiter.is_finished(), "a spurious return ended the wait");
    assert_eq!(q.notify(key(w), 1), 1);
    assert_eq!(waiter.join().unwrap(), WaitResult::Ok);
    assert!(q.futex().timeouts().iter().all(Option::is_none));
}

/// The monitor phase (on by default) comes off the timeout: a timed wait
/// that nobody notifies watches for the bucket's budget, then sleeps for
/// the rest of its timeout, and the budget halves (the phase gave up). A
/// timeout shorter than the budget ends the wait in the phase, with no
/// sleep at all.
#[test]
fn monitor_phase_counts_against_the_timeout() {
    let q = spurious_queue_with_phase(Duration::from_millis(50));
    let w = AtomicU32::new(0);
    assert_eq!(q.spin_limit(), DEFAULT_SPIN_LIMIT);
    assert_eq!(q.spin_budget(key(&w)), DEFAULT_SPIN_LIMIT);
    let t = Duration::from_millis(40);
    assert_eq!(q.wait32(&w, 0, Some(t)), WaitResult::TimedOut);
    // The first futex wait (a spurious return) had the timeout minus the
    // phase; the clock then read 50 ms: past the deadline, no second one.
    let timeouts = q.futex().timeouts();
    assert_eq!(timeouts.len(), 1, "{timeouts:?}");
    let first = timeouts[0].unwrap();
    assert!(first <= t - DEFAULT_SPIN_LIMIT, "{first:?}");
    assert_eq!(q.spin_budget(key(&w)), DEFAULT_SPIN_LIMIT / 2);

    // 5 µs < the budget (10 µs now): the phase ends at the timeout.
    assert_eq!(
        q.wait32(&w, 0, Some(Duration::from_micros(5))),
        WaitResult::TimedOut
    );
    assert_eq!(q.futex().timeouts().len(), 1, "slept after the phase");
    assert_eq!(q.spin_budget(key(&w)), DEFAULT_SPIN_LIMIT / 4);
    assert_eq!(q.waiting(key(&w)), 0);

    // The cap: clamped to MAX_SPIN_LIMIT, 0 turns the phase off (the
    // budget is then left alone).
    assert_eq!(q.set_spin_limit(Duration::from_secs(1)), DEFAULT_SPIN_LIMIT);
    assert_eq!(q.set_spin_limit(Duration::ZERO), MAX_SPIN_LIMIT);
    assert_eq!(
        q.wait32(&w, 0, Some(Duration::from_micros(5))),
        WaitResult::TimedOut
    );
    assert_eq!(q.futex().timeouts().len(), 2, "no phase: a futex wait");
    assert_eq!(q.spin_budget(key(&w)), DEFAULT_SPIN_LIMIT / 4);
}

/// Timed waiters against notifies that land before they queue, around
/// their deadline and after it: each notify's count is exactly whether its
/// waiter returned `Ok`, and both outcomes happen. Every other round runs
/// with the monitor phase off.
#[test]
fn timeout_racing_notify_counts_exactly() {
    let q = queue();
    let w: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
    let rounds = if emulated() { 100 } else { 400 };
    let timeout = Duration::from_millis(1);
    let (mut ok, mut timed_out) = (0, 0);
    for i in 0..rounds {
        q.set_spin_limit(if i % 2 == 0 {
            DEFAULT_SPIN_LIMIT
        } else {
            Duration::ZERO
        });
        let waiter = thread::spawn(move || q.wait32(w, 0, Some(timeout)));
        // 0 to 3 ms after the spawn: the deadline falls in the range.
        let delay = Duration::from_micros((i * 997 % 3000) as u64);
        let start = Instant::now();
        while start.elapsed() < delay {
            std::hint::spin_loop();
        }
        let n = q.notify(key(w), 1);
        let r = waiter.join().unwrap();
        assert_eq!(n, u32::from(r == WaitResult::Ok), "round {i}: {r:?}");
        assert_ne!(r, WaitResult::NotEqual);
        ok += usize::from(r == WaitResult::Ok);
        timed_out += usize::from(r == WaitResult::TimedOut);
        assert_eq!(q.waiting(key(w)), 0);
    }
    eprintln!("timeout race: {ok} woken, {timed_out} timed out");
    assert!(ok > 0 && timed_out > 0, "ok {ok}, timed out {timed_out}");
}

/// A tiny xorshift generator: no dependency, reproducible per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// N waiters x M rounds against notifiers, through the C ABI on one
/// shared memory: waits of both widths with stale and current expected
/// values and short timeouts; notifies of random counts, some after an
/// atomic write of the word. Conservation: the notifies' results add up
/// to exactly the number of waits that returned 0, and nobody is left
/// queued. The notifiers also move the monitor phase's cap between off,
/// the default and the maximum (`wrt_atomic_set_spin_limit_ns`), so waits
/// run with the phase on and off and see it change.
#[test]
fn stress_conservation() {
    let (waiters, notifiers, addrs) = (4usize, 2usize, 3u64);
    let (rounds, budget) = if emulated() {
        (300, Duration::from_secs(2))
    } else {
        (3000, Duration::from_secs(3))
    };
    let m = create(1, 1, WRT_MEMORY_SHARED);
    let done = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicU64::new(0));
    let outcomes = Arc::new([const { AtomicU64::new(0) }; 3]);
    let start = Instant::now();
    let waiter_threads: Vec<_> = (0..waiters)
        .map(|t| {
            let (done, ok, outcomes) = (done.clone(), ok.clone(), outcomes.clone());
            thread::spawn(move || {
                let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
                let mut i = 0;
                while i < rounds && start.elapsed() < budget {
                    let addr = 8 * rng.below(addrs);
                    let current = word32(m, addr).load(SeqCst);
                    let expected = if rng.below(8) == 0 {
                        current.wrapping_add(1)
                    } else {
                        current
                    };
                    let timeout = match rng.below(4) {
                        0 => 0,
                        _ => 50_000 + rng.below(2_000_000) as i64,
                    };
                    let r = if rng.below(2) == 0 {
                        wrt_atomic_wait32(m, addr, expected, timeout)
                    } else {
                        // Upper half 0: the words stay below 2^32.
                        wrt_atomic_wait64(m, addr, u64::from(expected), timeout)
                    };
                    assert!((0..=2).contains(&r), "wait returned {r}");
                    outcomes[r as usize].fetch_add(1, SeqCst);
                    ok.fetch_add(u64::from(r == WRT_WAIT_OK), SeqCst);
                    i += 1;
                }
                done.fetch_add(1, SeqCst);
                i
            })
        })
        .collect();
    let notifier_threads: Vec<_> = (0..notifiers)
        .map(|t| {
            let done = done.clone();
            thread::spawn(move || {
                let mut rng = Rng(0xD1B5_4A32_D192_ED03 ^ (t as u64 + 1));
                let mut sum = 0u64;
                while done.load(SeqCst) < waiters {
                    let addr = 8 * rng.below(addrs);
                    if rng.below(4) == 0 {
                        word32(m, addr).fetch_add(1, SeqCst);
                    }
                    let count = [1, 1, 2, 3, u32::MAX][rng.below(5) as usize];
                    let n = wrt_atomic_notify(m, addr, count);
                    assert!(n >= 0 && n <= i64::from(count), "notify returned {n}");
                    sum += n as u64;
                    if rng.below(16) == 0 {
                        thread::yield_now();
                    }
                    if rng.below(64) == 0 {
                        let limit = [0, 20_000, 1_000_000][rng.below(3) as usize];
                        wrt_atomic_set_spin_limit_ns(limit);
                    }
                }
                sum
            })
        })
        .collect();
    let waits: usize = waiter_threads.into_iter().map(|t| t.join().unwrap()).sum();
    let notified: u64 = notifier_threads
        .into_iter()
        .map(|t| t.join().unwrap())
        .sum();
    wrt_atomic_set_spin_limit_ns(DEFAULT_SPIN_LIMIT.as_nanos() as u64);
    let [woken, not_equal, timed_out] = [0, 1, 2].map(|i| outcomes[i].load(SeqCst));
    eprintln!(
        "stress: {waits} waits in {:.2?}: {woken} woken, {not_equal} not-equal, {timed_out} timed out; notifies woke {notified}",
        start.elapsed()
    );
    assert_eq!(notified, ok.load(SeqCst), "conservation");
    assert!(woken > 0 && timed_out > 0 && not_equal > 0);
    assert!(waits >= waiters * 50, "only {waits} waits ran");
    for a in 0..addrs {
        assert_eq!(
            wrt_atomic_notify(m, 8 * a, u32::MAX),
            0,
            "a waiter was left queued"
        );
    }
    assert_eq!(wrt_memory_destroy(m), WRT_OK as i32);
}

/// Installs a seccomp filter that kills the process on `futex` and
/// `clock_gettime`. Returns the errno on failure (qemu-user refuses).
fn forbid_futex_and_clock() -> std::result::Result<(), i32> {
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let mut filter = [
        // seccomp_data.nr is at offset 0.
        stmt(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0),
        jeq(libc::SYS_futex as u32, 2, 0),
        jeq(libc::SYS_clock_gettime as u32, 1, 0),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW),
        stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_KILL_PROCESS),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: plain prctl; no pointers.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    // SAFETY: `prog` and `filter` are live for the call; the kernel copies them.
    let r = unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &prog) };
    if r != 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
    }
    Ok(())
}

/// How a forked child ended: exit status, or the signal that killed it.
#[derive(Debug, PartialEq)]
enum Ended {
    Exit(i32),
    Signal(i32),
}

/// Runs `f` in a forked child under the seccomp filter; the child exits
/// with `f`'s status (it must not allocate: other test threads may hold
/// the allocator's lock at the fork).
fn in_filtered_child(f: impl Fn() -> i32) -> Ended {
    // SAFETY: the child only installs the filter, runs `f` (no allocation,
    // no locks) and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let status = match forbid_futex_and_clock() {
            Ok(()) => f(),
            Err(errno) => 100 + errno.min(27),
        };
        // SAFETY: leaves the child without running the parent's handlers.
        unsafe { libc::_exit(status) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out-pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    if libc::WIFSIGNALED(status) {
        Ended::Signal(libc::WTERMSIG(status))
    } else {
        Ended::Exit(libc::WEXITSTATUS(status))
    }
}

/// A notify with no waiters, a mismatching wait and a zero-timeout wait
/// make no system call: a million of each run in a child that seccomp
/// kills on `futex` or `clock_gettime`. The control child, which makes one
/// futex wake, must be killed (SIGSYS), so the filter really works.
#[test]
fn fast_paths_make_no_system_call() {
    let q = queue();
    let w: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(3)));
    let m = create(1, 1, WRT_MEMORY_SHARED);
    let control = in_filtered_child(|| {
        let _ = black_box(LinuxFutex.wake(w, 1));
        0
    });
    if control == Ended::Exit(100 + libc::EINVAL) && emulated() {
        // qemu-user refuses seccomp filters (they would filter qemu).
        eprintln!("skipped under qemu-user: no seccomp");
        assert_eq!(wrt_memory_destroy(m), WRT_OK as i32);
        return;
    }
    assert_eq!(
        control,
        Ended::Signal(libc::SIGSYS),
        "the filter must kill a futex call"
    );

    let fast = in_filtered_child(|| {
        for _ in 0..1_000_000 {
            if black_box(q.notify(key(w), 1)) != 0
                || wrt_atomic_notify(m, black_box(8), 1) != 0
                || q.wait32(w, 4, None) != WaitResult::NotEqual
                || q.wait32(w, 3, Some(Duration::ZERO)) != WaitResult::TimedOut
                || wrt_atomic_wait32(m, 8, 1, -1) != WRT_WAIT_NOT_EQUAL
                || wrt_atomic_wait64(m, 8, 0, 0) != WRT_WAIT_TIMED_OUT
            {
                return 1;
            }
        }
        0
    });
    assert_eq!(fast, Ended::Exit(0));
    assert_eq!(wrt_memory_destroy(m), WRT_OK as i32);
}
