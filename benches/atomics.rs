//! Wasm atomics benchmarks (issue: wait32/wait64/notify).
//!
//! One run, peers measured alongside:
//! * notify with no waiters: ours (the queue, and the C ABI with its
//!   handle and bounds checks) vs `parking_lot_core::unpark_all` on an
//!   address nobody parks on vs a raw `FUTEX_WAKE` system call;
//! * wait/notify ping-pong between two threads (one round trip per
//!   iteration): ours vs a raw futex ping-pong vs `std::sync::Mutex` +
//!   `Condvar` vs `parking_lot_core` park/unpark. The two threads are
//!   pinned, once to two CPUs (a wake crosses cores) and once to one CPU
//!   (every hand-over is a context switch): left to the scheduler, the
//!   placement changes from sample to sample and the spread swamps the
//!   differences between the peers;
//! * 8 waiters on 8 distinct addresses, one notifier that publishes a new
//!   value to each address and notifies it, round after round: ours vs raw
//!   futex vs `parking_lot_core` (time per notify);
//! * a waiter whose 1 ms wait times out: the CPU time it burns per wait
//!   (`getrusage(RUSAGE_THREAD)`, user + system), ours vs a raw
//!   `FUTEX_WAIT` with the same timeout (the futex-only wait).
//!
//! "wrt_queue" is the queue as shipped (monitor phase on, adaptive);
//! "wrt_queue_no_monitor" is the same queue with the phase off
//! (`set_spin_limit(0)`), to show what the phase changes.
//!
//! Run: `cargo bench --bench atomics --features capi` (the ping-pong pins
//! its threads itself: `sched_setaffinity`, CPUs 0 and 1, or 0 alone).
//! Ratios go in README.md.

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod linux {
    use std::hint::black_box;
    use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
    use std::sync::{Arc, Barrier, Condvar, Mutex};
    use std::thread;
    use std::time::{Duration, Instant};

    use criterion::Criterion;
    use parking_lot_core::{DEFAULT_PARK_TOKEN, DEFAULT_UNPARK_TOKEN};
    use wrt_platform::capi::{
        WRT_MEMORY_SHARED, wrt_atomic_notify, wrt_atomic_notify_inline, wrt_atomic_notify_view,
        wrt_memory_create, wrt_memory_view,
    };
    use wrt_platform::os::linux::LinuxFutex;
    use wrt_platform::wasm::atomics::{OsClock, WaitQueue};

    static QUEUE: WaitQueue<LinuxFutex, OsClock> = WaitQueue::new(LinuxFutex, OsClock);
    /// The same queue with the monitor phase off (set in `main`).
    static QUEUE_NO_MONITOR: WaitQueue<LinuxFutex, OsClock> = WaitQueue::new(LinuxFutex, OsClock);

    fn key(w: &AtomicU32) -> usize {
        w as *const AtomicU32 as usize
    }

    /// Sleep while `*w == expected` / wake one sleeper of `w`: the three
    /// word-based implementations share the benchmark drivers.
    trait Park: Sync + 'static {
        fn wait(&self, w: &AtomicU32, expected: u32);
        fn wake(&self, w: &AtomicU32);
    }

    /// A wait queue (what `wrt_atomic_wait32` / `wrt_atomic_notify` run):
    /// [`OURS`] on [`QUEUE`], [`OURS_NO_MONITOR`] on [`QUEUE_NO_MONITOR`].
    struct Ours(&'static WaitQueue<LinuxFutex, OsClock>);

    static OURS: Ours = Ours(&QUEUE);
    static OURS_NO_MONITOR: Ours = Ours(&QUEUE_NO_MONITOR);

    impl Park for Ours {
        fn wait(&self, w: &AtomicU32, expected: u32) {
            black_box(self.0.wait32(w, expected, None));
        }
        fn wake(&self, w: &AtomicU32) {
            black_box(self.0.notify(key(w), 1));
        }
    }

    /// `FUTEX_WAIT` / `FUTEX_WAKE` (private) on the word itself, through
    /// libc's `syscall`: the floor any futex-based design pays.
    struct RawFutex;

    impl Park for RawFutex {
        fn wait(&self, w: &AtomicU32, expected: u32) {
            // SAFETY: a live word; the kernel only reads it.
            black_box(unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    w.as_ptr(),
                    libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                    expected,
                    std::ptr::null::<libc::timespec>(),
                )
            });
        }
        fn wake(&self, w: &AtomicU32) {
            // SAFETY: FUTEX_WAKE only hashes the address.
            black_box(unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    w.as_ptr(),
                    libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                    1,
                )
            });
        }
    }

    /// `parking_lot_core::park` / `unpark_one` keyed by the word's address.
    struct Plc;

    impl Park for Plc {
        fn wait(&self, w: &AtomicU32, expected: u32) {
            // SAFETY: the callbacks neither panic nor call into
            // parking_lot; the key is the word's address.
            black_box(unsafe {
                parking_lot_core::park(
                    key(w),
                    || w.load(SeqCst) == expected,
                    || {},
                    |_, _| {},
                    DEFAULT_PARK_TOKEN,
                    None,
                )
            });
        }
        fn wake(&self, w: &AtomicU32) {
            // SAFETY: as above.
            black_box(unsafe { parking_lot_core::unpark_one(key(w), |_| DEFAULT_UNPARK_TOKEN) });
        }
    }

    pub fn notify_no_waiters(c: &mut Criterion) {
        let word = AtomicU32::new(0);
        let mut m = 0;
        // SAFETY: `m` is a valid out-pointer.
        let code = unsafe { wrt_memory_create(1, 1, WRT_MEMORY_SHARED, &mut m) };
        assert_eq!(code, 0);
        let mut g = c.benchmark_group("notify_no_waiters");
        g.bench_function("wrt_queue", |b| {
            b.iter(|| QUEUE.notify(key(black_box(&word)), 1))
        });
        g.bench_function("wrt_atomic_notify", |b| {
            b.iter(|| wrt_atomic_notify(black_box(m), black_box(8), 1))
        });
        let view = wrt_memory_view(m);
        g.bench_function("wrt_atomic_notify_view", |b| {
            b.iter(|| wrt_atomic_notify_view(black_box(view), black_box(8), 1))
        });
        g.bench_function("wrt_atomic_notify_inline", |b| {
            // SAFETY: a view of a live memory.
            b.iter(|| unsafe { wrt_atomic_notify_inline(black_box(view), black_box(8), 1) })
        });
        g.bench_function("parking_lot_core_unpark_all", |b| {
            b.iter(|| {
                // SAFETY: nobody parks on this key.
                unsafe { parking_lot_core::unpark_all(key(black_box(&word)), DEFAULT_UNPARK_TOKEN) }
            })
        });
        g.bench_function("raw_futex_wake", |b| {
            b.iter(|| RawFutex.wake(black_box(&word)))
        });
        g.finish();

        // As compiled code calls them: the view (or key base) in a
        // register, the address varying over 64 words, no `black_box` on
        // the inputs (only the result is kept), so the cost is the fast
        // path itself rather than criterion's per-call stack round trips.
        let mut g = c.benchmark_group("notify_no_waiters_in_a_loop");
        let words: Vec<AtomicU32> = (0..64).map(|_| AtomicU32::new(0)).collect();
        fn per_call(b: &mut criterion::Bencher, f: impl Fn(u64) -> i64) {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for i in 0..iters {
                    black_box(f((i & 63) * 4));
                }
                start.elapsed()
            })
        }
        g.bench_function("wrt_atomic_notify_inline", |b| {
            // SAFETY: a view of a live memory.
            per_call(b, |addr| unsafe { wrt_atomic_notify_inline(view, addr, 1) })
        });
        g.bench_function("wrt_atomic_notify_view", |b| {
            per_call(b, |addr| wrt_atomic_notify_view(view, addr, 1))
        });
        g.bench_function("parking_lot_core_unpark_all", |b| {
            per_call(b, |addr| {
                let k = key(&words[addr as usize / 4]);
                // SAFETY: nobody parks on these keys.
                unsafe { parking_lot_core::unpark_all(k, DEFAULT_UNPARK_TOKEN) as i64 }
            })
        });
        g.finish();
    }

    /// Where the two threads of a ping-pong run.
    #[derive(Copy, Clone)]
    enum Placement {
        /// This thread on CPU 0, the partner on CPU 1.
        TwoCpus,
        /// Both on CPU 0.
        OneCpu,
    }

    impl Placement {
        fn name(self) -> &'static str {
            match self {
                Placement::TwoCpus => "two_cpus",
                Placement::OneCpu => "one_cpu",
            }
        }

        fn partner_cpu(self) -> usize {
            match self {
                Placement::TwoCpus => 1,
                Placement::OneCpu => 0,
            }
        }
    }

    /// Pins the calling thread to `cpu` (`None`: to every CPU the process
    /// had at start).
    fn pin(cpu: Option<usize>) {
        static ALL: std::sync::OnceLock<libc::cpu_set_t> = std::sync::OnceLock::new();
        let all = ALL.get_or_init(|| {
            // SAFETY: cpu_set_t is plain bits; all-zero is the empty set.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            // SAFETY: `set` is a live cpu_set_t of the size passed.
            let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
            assert_eq!(
                r,
                0,
                "sched_getaffinity: {}",
                std::io::Error::last_os_error()
            );
            set
        });
        let set = match cpu {
            Some(cpu) => {
                // SAFETY: as above.
                let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
                assert!(cpu < libc::CPU_SETSIZE as usize);
                // SAFETY: `cpu` is inside the set (checked).
                unsafe { libc::CPU_SET(cpu, &mut set) };
                set
            }
            None => *all,
        };
        // SAFETY: `set` is a live cpu_set_t of the size passed.
        let r = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
        assert_eq!(
            r,
            0,
            "sched_setaffinity: {}",
            std::io::Error::last_os_error()
        );
    }

    /// `iters` round trips: this thread hands the turn over (word = 1) and
    /// waits for it back; the partner waits for the turn and hands it back.
    fn ping_pong<P: Park>(p: &'static P, at: Placement, iters: u64) -> Duration {
        let w: &'static AtomicU32 = Box::leak(Box::new(AtomicU32::new(0)));
        let ready = Arc::new(Barrier::new(2));
        pin(Some(0));
        let partner = {
            let ready = ready.clone();
            thread::spawn(move || {
                pin(Some(at.partner_cpu()));
                ready.wait();
                for _ in 0..iters {
                    while w.load(SeqCst) == 0 {
                        p.wait(w, 0);
                    }
                    w.store(0, SeqCst);
                    p.wake(w);
                }
            })
        };
        ready.wait();
        let t0 = Instant::now();
        for _ in 0..iters {
            w.store(1, SeqCst);
            p.wake(w);
            while w.load(SeqCst) == 1 {
                p.wait(w, 1);
            }
        }
        let took = t0.elapsed();
        partner.join().unwrap();
        pin(None);
        took
    }

    /// The same hand-over with `std::sync::Mutex` + `Condvar`.
    fn ping_pong_condvar(at: Placement, iters: u64) -> Duration {
        let pair = Arc::new((Mutex::new(0u32), Condvar::new()));
        let ready = Arc::new(Barrier::new(2));
        pin(Some(0));
        let partner = {
            let (pair, ready) = (pair.clone(), ready.clone());
            thread::spawn(move || {
                pin(Some(at.partner_cpu()));
                ready.wait();
                let (m, cv) = &*pair;
                for _ in 0..iters {
                    let mut turn = m.lock().unwrap();
                    while *turn == 0 {
                        turn = cv.wait(turn).unwrap();
                    }
                    *turn = 0;
                    cv.notify_one();
                }
            })
        };
        ready.wait();
        let (m, cv) = &*pair;
        let t0 = Instant::now();
        for _ in 0..iters {
            let mut turn = m.lock().unwrap();
            *turn = 1;
            cv.notify_one();
            while *turn == 1 {
                turn = cv.wait(turn).unwrap();
            }
        }
        let took = t0.elapsed();
        partner.join().unwrap();
        pin(None);
        took
    }

    pub fn ping_pong_group(c: &mut Criterion) {
        let cpus = thread::available_parallelism().map_or(1, |n| n.get());
        for at in [Placement::TwoCpus, Placement::OneCpu] {
            if cpus < 2 && matches!(at, Placement::TwoCpus) {
                eprintln!("ping_pong_round_trip/two_cpus: skipped, one CPU");
                continue;
            }
            let mut g = c.benchmark_group(format!("ping_pong_round_trip/{}", at.name()));
            g.bench_function("wrt_queue", |b| b.iter_custom(|n| ping_pong(&OURS, at, n)));
            g.bench_function("wrt_queue_no_monitor", |b| {
                b.iter_custom(|n| ping_pong(&OURS_NO_MONITOR, at, n))
            });
            g.bench_function("raw_futex", |b| {
                b.iter_custom(|n| ping_pong(&RawFutex, at, n))
            });
            g.bench_function("std_mutex_condvar", |b| {
                b.iter_custom(|n| ping_pong_condvar(at, n))
            });
            g.bench_function("parking_lot_core", |b| {
                b.iter_custom(|n| ping_pong(&Plc, at, n))
            });
            g.finish();
        }
    }

    const FANOUT: usize = 8;

    /// `iters` rounds of: publish round number `r` to each of 8 words and
    /// notify it; 8 waiters, one per word, wait for every change. Returns
    /// the time until every waiter has seen the last round (per notify:
    /// divide by 8).
    fn fanout<P: Park>(p: &'static P, iters: u64) -> Duration {
        let words: &'static [AtomicU32; FANOUT] =
            Box::leak(Box::new([const { AtomicU32::new(0) }; FANOUT]));
        let last = u32::try_from(iters).expect("fewer than 2^32 rounds");
        let ready = Arc::new(Barrier::new(FANOUT + 1));
        let waiters: Vec<_> = words
            .iter()
            .map(|w| {
                let ready = ready.clone();
                thread::spawn(move || {
                    ready.wait();
                    let mut seen = 0;
                    while seen < last {
                        let v = w.load(SeqCst);
                        if v == seen {
                            p.wait(w, seen);
                        } else {
                            seen = v;
                        }
                    }
                })
            })
            .collect();
        ready.wait();
        let t0 = Instant::now();
        for r in 1..=last {
            for w in words {
                w.store(r, SeqCst);
                p.wake(w);
            }
        }
        for t in waiters {
            t.join().unwrap();
        }
        t0.elapsed()
    }

    pub fn fanout_group(c: &mut Criterion) {
        let mut g = c.benchmark_group("fanout_8_waiters_one_notifier_per_round");
        g.bench_function("wrt_queue", |b| b.iter_custom(|n| fanout(&OURS, n)));
        g.bench_function("wrt_queue_no_monitor", |b| {
            b.iter_custom(|n| fanout(&OURS_NO_MONITOR, n))
        });
        g.bench_function("raw_futex", |b| b.iter_custom(|n| fanout(&RawFutex, n)));
        g.bench_function("parking_lot_core", |b| b.iter_custom(|n| fanout(&Plc, n)));
        g.finish();
    }

    /// User + system CPU time of the calling thread.
    fn thread_cpu_time() -> Duration {
        // SAFETY: all-zero is a valid `rusage`.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a live `rusage`.
        let r = unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
        assert_eq!(r, 0, "getrusage: {}", std::io::Error::last_os_error());
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }

    const TIMED_OUT_WAIT: Duration = Duration::from_millis(1);

    /// `iters` waits of [`TIMED_OUT_WAIT`] that nobody notifies, on a
    /// thread of its own (pinned to CPU 0): the CPU time they took.
    fn timed_out_waits(iters: u64, wait: fn(&AtomicU32)) -> Duration {
        thread::spawn(move || {
            pin(Some(0));
            let w = AtomicU32::new(0);
            let t0 = thread_cpu_time();
            for _ in 0..iters {
                wait(&w);
            }
            thread_cpu_time() - t0
        })
        .join()
        .unwrap()
    }

    pub fn timed_out_wait_group(c: &mut Criterion) {
        let mut g = c.benchmark_group("timed_out_wait_1ms_cpu_time");
        g.bench_function("wrt_queue", |b| {
            b.iter_custom(|n| {
                timed_out_waits(n, |w| {
                    let r = QUEUE.wait32(w, 0, Some(TIMED_OUT_WAIT));
                    assert_eq!(r, wrt_platform::wasm::atomics::WaitResult::TimedOut);
                })
            })
        });
        g.bench_function("wrt_queue_no_monitor", |b| {
            b.iter_custom(|n| {
                timed_out_waits(n, |w| {
                    let r = QUEUE_NO_MONITOR.wait32(w, 0, Some(TIMED_OUT_WAIT));
                    assert_eq!(r, wrt_platform::wasm::atomics::WaitResult::TimedOut);
                })
            })
        });
        g.bench_function("raw_futex", |b| {
            b.iter_custom(|n| {
                timed_out_waits(n, |w| {
                    let ts = libc::timespec {
                        tv_sec: 0,
                        tv_nsec: TIMED_OUT_WAIT.as_nanos() as i64,
                    };
                    // SAFETY: a live word and timespec; the kernel only
                    // reads them.
                    let r = unsafe {
                        libc::syscall(
                            libc::SYS_futex,
                            w.as_ptr(),
                            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                            0,
                            &ts,
                        )
                    };
                    assert_eq!(r, -1);
                })
            })
        });
        g.finish();
    }

    /// Turns the monitor phase of [`QUEUE_NO_MONITOR`] off.
    pub fn setup() {
        QUEUE_NO_MONITOR.set_spin_limit(Duration::ZERO);
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
criterion::criterion_group! {
    name = benches;
    config = criterion::Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_secs(1))
        .measurement_time(std::time::Duration::from_secs(4));
    targets = linux::notify_no_waiters, linux::ping_pong_group, linux::fanout_group,
        linux::timed_out_wait_group
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn main() {
    linux::setup();
    benches();
    criterion::Criterion::default()
        .configure_from_args()
        .final_summary();
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {}
