//! Loom models of the wait queue (`src/wasm/atomics.rs`): every
//! interleaving of 2-3 threads enqueueing, notifying and timing out.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test --release --features std --test
//! loom_atomics` (with a target directory of its own: `--cfg loom` rebuilds
//! everything). Without `--cfg loom` this file is empty.
//!
//! What the models check, on every interleaving loom explores:
//! * no lost wake-up: a waiter that enqueued before the notifier's store
//!   is woken (otherwise the model deadlocks and loom fails it);
//! * exact counts and no double wake: the sum of the notifies' results
//!   equals the number of waiters that returned `Ok`;
//! * a timeout racing a notify is resolved one way: counted by the notify
//!   and `Ok`, or not counted and `TimedOut`; both outcomes occur;
//! * waiters on another address in the same bucket (the queue has one
//!   bucket under loom) are skipped, and FIFO order holds;
//! * a notify that lands during the waiter's monitor phase ends the wait
//!   there, with no futex wake, and one that lands just after the phase
//!   gave up (before the park, or during it) still wakes it; both occur.
//!
//! Every model runs twice: with the monitor phase at its default cap and
//! with it off (`set_spin_limit(0)`). Under loom the phase is two polls of
//! the node's state (the native `wfe`/`umwait` loops cannot run).
//!
//! Two-thread models run on every interleaving; three-thread models on
//! every interleaving with at most 4 preemptions (a bound of 5 takes
//! minutes per model, no bound far longer).
//!
//! The futex is a loom `Mutex` + `Condvar` that wakes *every* sleeper on
//! any wake, so waiters also see spurious returns. A timed futex wait
//! times out at once: the earliest a timer could fire; loom interleaves
//! the notifier around it.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering as StdOrdering};
use std::time::Duration;

use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use loom::sync::{Arc, Condvar, Mutex};
use loom::thread;
use wrt_platform::errno::Result;
use wrt_platform::futex::WaitOutcome;
use wrt_platform::wasm::atomics::{
    Clock, DEFAULT_SPIN_LIMIT, LoomFutexLike, WaitQueue, WaitResult,
};

/// A futex on loom's primitives: the check and the sleep are atomic with
/// respect to `wake` (both hold the mutex, which also counts sleepers);
/// every wake wakes all sleepers.
struct LoomFutex {
    sleepers: Mutex<usize>,
    /// Calls of `wake` (read once the model's threads are joined).
    wakes: StdAtomicUsize,
    cv: Condvar,
    /// Signalled when a thread goes to sleep (for `until_asleep`).
    asleep: Condvar,
}

impl LoomFutexLike for LoomFutex {
    fn wait(
        &self,
        word: &AtomicU32,
        expected: u32,
        timeout: Option<Duration>,
    ) -> Result<WaitOutcome> {
        let mut sleepers = self.sleepers.lock().unwrap();
        if word.load(Ordering::SeqCst) != expected {
            return Ok(WaitOutcome::Mismatch);
        }
        if timeout.is_some() {
            return Ok(WaitOutcome::TimedOut);
        }
        *sleepers += 1;
        self.asleep.notify_all();
        let mut sleepers = self.cv.wait(sleepers).unwrap();
        *sleepers -= 1;
        Ok(WaitOutcome::Woken)
    }

    fn wake(&self, _word: &AtomicU32, _n: u32) -> Result<u32> {
        self.wakes.fetch_add(1, StdOrdering::Relaxed);
        let _sleepers = self.sleepers.lock().unwrap();
        self.cv.notify_all();
        Ok(0)
    }
}

impl LoomFutex {
    /// Blocks until `n` threads sleep in the futex (so they are queued).
    fn until_asleep(&self, n: usize) {
        let mut sleepers = self.sleepers.lock().unwrap();
        while *sleepers < n {
            sleepers = self.asleep.wait(sleepers).unwrap();
        }
    }
}

/// Time stands still: deadlines never pass by the clock, only through the
/// futex's timeouts.
struct StillClock;

impl Clock for StillClock {
    fn now(&self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

type Queue = WaitQueue<LoomFutex, StillClock>;

/// A queue whose monitor phase is capped at `spin` (zero: off).
fn queue(spin: Duration) -> Arc<Queue> {
    let q = Arc::new(WaitQueue::new(
        LoomFutex {
            sleepers: Mutex::new(0),
            wakes: StdAtomicUsize::new(0),
            cv: Condvar::new(),
            asleep: Condvar::new(),
        },
        StillClock,
    ));
    q.set_spin_limit(spin);
    q
}

fn addr<T>(word: &T) -> usize {
    word as *const T as usize
}

/// Checks `f` on every interleaving (`preemptions: None`), or on every
/// interleaving with at most that many preemptions (3-thread models: the
/// unbounded space takes hours; `LOOM_MAX_PREEMPTIONS` overrides), once
/// with the monitor phase on and once with it off: `f` gets the cap to
/// build its queue with.
fn model(preemptions: Option<usize>, f: impl Fn(Duration) + Sync + Send + 'static) {
    let f = std::sync::Arc::new(f);
    for spin in [DEFAULT_SPIN_LIMIT, Duration::ZERO] {
        let f = f.clone();
        model_with(preemptions, spin, move || f(spin));
    }
}

/// Checks `f` as [`model`] does, with one setting of the phase (`spin`,
/// for the report).
fn model_with(preemptions: Option<usize>, spin: Duration, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    builder.max_branches = 10_000;
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        builder.preemption_bound = preemptions;
    }
    let started = std::time::Instant::now();
    let runs = std::sync::Arc::new(StdAtomicUsize::new(0));
    let counter = runs.clone();
    builder.check(move || {
        counter.fetch_add(1, StdOrdering::Relaxed);
        f();
    });
    eprintln!(
        "{} interleavings (preemption bound {:?}, spin limit {spin:?}) in {:.2?}",
        runs.load(StdOrdering::Relaxed),
        builder.preemption_bound,
        started.elapsed()
    );
}

/// One waiter, one notifier (store, then notify 1): the waiter is woken or
/// saw the new value, and the count says which.
#[test]
fn no_lost_wakeup_one_waiter() {
    model(None, |spin| {
        let q = queue(spin);
        let word = Arc::new(AtomicU32::new(0));
        let t = {
            let (q, word) = (q.clone(), word.clone());
            thread::spawn(move || q.wait32(&word, 0, None))
        };
        word.store(1, Ordering::SeqCst);
        let n = q.notify(addr(&*word), 1);
        let r = t.join().unwrap();
        match r {
            WaitResult::Ok => assert_eq!(n, 1),
            WaitResult::NotEqual => assert_eq!(n, 0),
            WaitResult::TimedOut => panic!("an untimed wait timed out"),
            WaitResult::Cancelled => panic!("nothing cancels here"),
        }
        assert_eq!(q.waiting(addr(&*word)), 0);
    });
}

/// Two waiters, one `notify(2)`: the count equals the waiters woken, none
/// twice, none lost. (64-bit words here; that 32- and 64-bit waiters on
/// one address share a queue is tested natively in tests/atomics.rs, as
/// loom's atomics cannot alias.)
#[test]
fn exact_count_two_waiters() {
    model(Some(4), |spin| {
        let q = queue(spin);
        let word = Arc::new(AtomicU64::new(0));
        let key = addr(&*word);
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (q, word) = (q.clone(), word.clone());
                thread::spawn(move || q.wait64(&word, 0, None))
            })
            .collect();
        word.store(1, Ordering::SeqCst);
        let n = q.notify(key, 2);
        let woken: usize = waiters
            .into_iter()
            .map(|t| {
                let r = t.join().unwrap();
                assert_ne!(r, WaitResult::TimedOut);
                usize::from(r == WaitResult::Ok)
            })
            .sum();
        assert_eq!(n as usize, woken);
        assert_eq!(q.waiting(key), 0);
    });
}

/// A timed waiter against a notifier: either the notify counts it and it
/// returns `Ok`, or it times out (or saw the new value) and the notify
/// returns 0. Both outcomes of the race must be explored.
#[test]
fn timeout_racing_notify_is_resolved_one_way() {
    static OK: StdAtomicUsize = StdAtomicUsize::new(0);
    static TIMED_OUT: StdAtomicUsize = StdAtomicUsize::new(0);
    model(None, |spin| {
        let q = queue(spin);
        let word = Arc::new(AtomicU32::new(0));
        let t = {
            let (q, word) = (q.clone(), word.clone());
            thread::spawn(move || q.wait32(&word, 0, Some(Duration::from_millis(1))))
        };
        word.store(1, Ordering::SeqCst);
        let n = q.notify(addr(&*word), 1);
        match t.join().unwrap() {
            WaitResult::Ok => {
                assert_eq!(n, 1);
                OK.fetch_add(1, StdOrdering::Relaxed);
            }
            WaitResult::TimedOut => {
                assert_eq!(n, 0);
                TIMED_OUT.fetch_add(1, StdOrdering::Relaxed);
            }
            WaitResult::Cancelled => panic!("nothing cancels here"),
            WaitResult::NotEqual => assert_eq!(n, 0),
        }
        assert_eq!(q.waiting(addr(&*word)), 0);
    });
    assert!(
        OK.load(StdOrdering::Relaxed) > 0,
        "notify never won the race"
    );
    assert!(
        TIMED_OUT.load(StdOrdering::Relaxed) > 0,
        "the timeout never won the race"
    );
}

/// Two waiters on two addresses that share the bucket: each notify wakes
/// only its own address's waiter, and the spurious wake-ups the futex
/// hands the other one change nothing.
#[test]
fn other_addresses_in_the_bucket_are_skipped() {
    model(Some(4), |spin| {
        let q = queue(spin);
        let a = Arc::new(AtomicU32::new(0));
        let b = Arc::new(AtomicU32::new(0));
        let ta = {
            let (q, a) = (q.clone(), a.clone());
            thread::spawn(move || q.wait32(&a, 0, None))
        };
        let tb = {
            let (q, b) = (q.clone(), b.clone());
            thread::spawn(move || q.wait32(&b, 0, None))
        };
        b.store(1, Ordering::SeqCst);
        let nb = q.notify(addr(&*b), 2);
        a.store(1, Ordering::SeqCst);
        let na = q.notify(addr(&*a), 2);
        let (ra, rb) = (ta.join().unwrap(), tb.join().unwrap());
        assert_eq!(na, u32::from(ra == WaitResult::Ok));
        assert_eq!(nb, u32::from(rb == WaitResult::Ok));
    });
}

/// FIFO with a timed waiter in the race: the untimed waiter enqueues
/// first; `notify(1)` must take it, never the younger timed waiter, and a
/// second `notify(1)` takes the timed one unless it gave up. Counts stay
/// exact throughout.
#[test]
fn fifo_with_a_timed_waiter() {
    model(Some(4), |spin| {
        let q = queue(spin);
        let word = Arc::new(AtomicU32::new(0));
        let key = addr(&*word);
        let first = {
            let (q, word) = (q.clone(), word.clone());
            thread::spawn(move || q.wait32(&word, 0, None))
        };
        // Start the second waiter only once the first is queued.
        q.futex().until_asleep(1);
        assert_eq!(q.waiting(key), 1);
        let second = {
            let (q, word) = (q.clone(), word.clone());
            thread::spawn(move || q.wait32(&word, 0, Some(Duration::from_millis(1))))
        };
        word.store(1, Ordering::SeqCst);
        let n1 = q.notify(key, 1);
        assert_eq!(n1, 1, "the first waiter was queued");
        let r1 = first.join().unwrap();
        assert_eq!(r1, WaitResult::Ok, "FIFO: the oldest waiter goes first");
        let n2 = q.notify(key, 1);
        let r2 = second.join().unwrap();
        assert_eq!(n2, u32::from(r2 == WaitResult::Ok));
        assert_eq!(q.waiting(key), 0);
    });
}

/// A memory being destroyed: its owner closes the `open` condition
/// (`SeqCst`) and then cancels the range, racing a waiter that is joining
/// the queue. Whatever the interleaving the waiter returns `Cancelled` (the
/// word never changes and nobody notifies, so that is the only way out):
/// it either sees the condition closed or is found by `cancel_range`;
/// never left asleep (loom reports a deadlock).
#[test]
fn cancel_range_never_leaves_a_waiter_behind() {
    model(None, |spin| {
        let q = queue(spin);
        let word = Arc::new(AtomicU32::new(0));
        let open = Arc::new(AtomicBool::new(true));
        let t = {
            let (q, word, open) = (q.clone(), word.clone(), open.clone());
            thread::spawn(move || {
                q.wait32_unless_closed(&word, 0, None, || open.load(Ordering::SeqCst))
            })
        };
        open.store(false, Ordering::SeqCst);
        let key = addr(&*word);
        let cancelled = q.cancel_range(key..key + 4);
        assert_eq!(t.join().unwrap(), WaitResult::Cancelled);
        assert!(cancelled <= 1);
        assert_eq!(q.waiting(key), 0);
    });
}

/// One waiter (phase on), one notifier (store, then notify 1). Whatever the
/// interleaving, the count is exact and the waiter never sleeps through
/// its notify. The notify lands either during the monitor phase (the
/// waiter returns `Ok` from it: its bucket's budget grew, here it stays at
/// the cap, and the notifier made no futex wake) or just after the phase
/// gave up (the budget halved): between the last poll and the park, or
/// while the waiter sleeps. Both must occur.
#[test]
fn notify_during_and_just_after_the_monitor_phase() {
    static DURING: StdAtomicUsize = StdAtomicUsize::new(0);
    static AFTER: StdAtomicUsize = StdAtomicUsize::new(0);
    model_with(None, DEFAULT_SPIN_LIMIT, || {
        let q = queue(DEFAULT_SPIN_LIMIT);
        let word = Arc::new(AtomicU32::new(0));
        let key = addr(&*word);
        let t = {
            let (q, word) = (q.clone(), word.clone());
            thread::spawn(move || q.wait32(&word, 0, None))
        };
        word.store(1, Ordering::SeqCst);
        let n = q.notify(key, 1);
        let r = t.join().unwrap();
        let wakes = q.futex().wakes.load(StdOrdering::Relaxed);
        match r {
            WaitResult::Ok if q.spin_budget(key) == DEFAULT_SPIN_LIMIT => {
                assert_eq!(n, 1);
                assert_eq!(wakes, 0, "woken in the phase: no futex wake");
                DURING.fetch_add(1, StdOrdering::Relaxed);
            }
            WaitResult::Ok => {
                assert_eq!(n, 1);
                assert_eq!(q.spin_budget(key), DEFAULT_SPIN_LIMIT / 2);
                AFTER.fetch_add(1, StdOrdering::Relaxed);
            }
            WaitResult::NotEqual => {
                assert_eq!(n, 0);
                assert_eq!(q.spin_budget(key), DEFAULT_SPIN_LIMIT, "no phase ran");
            }
            r => panic!("an untimed, uncancelled wait returned {r:?}"),
        }
        assert_eq!(q.waiting(key), 0);
    });
    assert!(
        DURING.load(StdOrdering::Relaxed) > 0,
        "never caught in the phase"
    );
    assert!(
        AFTER.load(StdOrdering::Relaxed) > 0,
        "never landed after the phase"
    );
}
