//! Concurrent grows of one shared memory (issue 18, part 5): 16 threads on
//! this 2-CPU machine each grow one shared memory page by page through the
//! C ABI, and the same work is done by two peers in the same run: a spin
//! lock around `mprotect` (the helper's grow lock before it slept) and
//! `std::sync::Mutex` around `mprotect`. Two measurements of the same
//! runs: wall time, and CPU time of the whole process (all threads, from
//! `getrusage`), where a lock that spins while its holder is preempted
//! shows up.
//!
//! Run: `cargo bench --bench grow_contention --features capi`.

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod linux {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use criterion::measurement::{Measurement, ValueFormatter};
    use criterion::{Criterion, Throughput};
    use wrt_platform::capi::*;

    const THREADS: usize = 16;
    /// Grows per thread per round.
    const GROWS: usize = 16;
    const PAGE: usize = 65536;

    /// Process CPU time (user + system, every thread) from `getrusage`.
    pub struct CpuTime;

    fn cpu_now() -> Duration {
        // SAFETY: `getrusage` fills the struct; zeroed is a valid start.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: a valid out-pointer.
        assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        tv(usage.ru_utime) + tv(usage.ru_stime)
    }

    impl Measurement for CpuTime {
        type Intermediate = Duration;
        type Value = Duration;

        fn start(&self) -> Duration {
            cpu_now()
        }
        fn end(&self, start: Duration) -> Duration {
            cpu_now().saturating_sub(start)
        }
        fn add(&self, a: &Duration, b: &Duration) -> Duration {
            *a + *b
        }
        fn zero(&self) -> Duration {
            Duration::ZERO
        }
        fn to_f64(&self, v: &Duration) -> f64 {
            v.as_nanos() as f64
        }
        fn formatter(&self) -> &dyn ValueFormatter {
            &CpuFormatter
        }
    }

    struct CpuFormatter;

    impl ValueFormatter for CpuFormatter {
        fn scale_values(&self, _typical: f64, _values: &mut [f64]) -> &'static str {
            "ns (cpu)"
        }
        fn scale_throughputs(&self, _t: f64, _th: &Throughput, _v: &mut [f64]) -> &'static str {
            "ns (cpu)"
        }
        fn scale_for_machines(&self, _values: &mut [f64]) -> &'static str {
            "ns (cpu)"
        }
    }

    /// One round: `THREADS` threads each call `grow` `GROWS` times.
    fn round(grow: &(dyn Fn() + Sync)) {
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    for _ in 0..GROWS {
                        grow();
                    }
                });
            }
        });
    }

    /// A PROT_NONE reservation that the peers make read-write page by page.
    struct Region {
        base: *mut u8,
        next: std::sync::atomic::AtomicUsize,
    }

    // SAFETY: the peers only hand the address to `mprotect`.
    unsafe impl Sync for Region {}

    const ROUND_BYTES: usize = THREADS * GROWS * PAGE;

    impl Region {
        fn new() -> Self {
            // SAFETY: an anonymous private PROT_NONE mapping.
            let base = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    ROUND_BYTES,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            assert_ne!(base, libc::MAP_FAILED);
            Region {
                base: base.cast(),
                next: 0.into(),
            }
        }

        /// The grow's work under the caller's lock: one page read-write.
        fn commit_next(&self) {
            let at = self.next.fetch_add(PAGE, Ordering::Relaxed) % ROUND_BYTES;
            let page = self.base.wrapping_add(at).cast();
            // SAFETY: inside the reservation; nothing refers to it.
            let r = unsafe { libc::mprotect(page, PAGE, libc::PROT_READ | libc::PROT_WRITE) };
            assert_eq!(r, 0);
        }

        fn reset(&self) {
            // SAFETY: as above.
            let r = unsafe { libc::mprotect(self.base.cast(), ROUND_BYTES, libc::PROT_NONE) };
            assert_eq!(r, 0);
            self.next.store(0, Ordering::Relaxed);
        }
    }

    fn group<M: Measurement<Value = Duration> + 'static>(c: &mut Criterion<M>, name: &str) {
        let mut g = c.benchmark_group(name);
        g.sample_size(20);
        g.measurement_time(Duration::from_secs(4));
        g.bench_function("wrt_memory_grow", |b| {
            b.iter_batched(
                || {
                    let mut m = 0;
                    let max = (THREADS * GROWS) as u64 + 1;
                    // SAFETY: a valid out-pointer.
                    let code = unsafe { wrt_memory_create(1, max, WRT_MEMORY_SHARED, &mut m) };
                    assert_eq!(code, 0);
                    m
                },
                |m| {
                    round(&|| assert!(wrt_memory_grow(m, 1) > 0));
                    assert_eq!(wrt_memory_destroy(m), 0);
                },
                criterion::BatchSize::PerIteration,
            )
        });
        let region = Region::new();
        let spin = AtomicBool::new(false);
        g.bench_function("spin_lock_mprotect", |b| {
            b.iter_batched(
                || region.reset(),
                |()| {
                    round(&|| {
                        while spin
                            .compare_exchange_weak(
                                false,
                                true,
                                Ordering::Acquire,
                                Ordering::Relaxed,
                            )
                            .is_err()
                        {
                            std::hint::spin_loop();
                        }
                        region.commit_next();
                        spin.store(false, Ordering::Release);
                    })
                },
                criterion::BatchSize::PerIteration,
            )
        });
        let mutex = Mutex::new(());
        g.bench_function("std_mutex_mprotect", |b| {
            b.iter_batched(
                || region.reset(),
                |()| {
                    round(&|| {
                        let _held = mutex.lock().unwrap();
                        region.commit_next();
                    })
                },
                criterion::BatchSize::PerIteration,
            )
        });
        g.finish();
    }

    pub fn wall(c: &mut Criterion) {
        group(c, "grow_16_threads_wall");
    }

    pub fn cpu(c: &mut Criterion<CpuTime>) {
        group(c, "grow_16_threads_cpu");
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
criterion::criterion_group!(wall, linux::wall);
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
criterion::criterion_group! {
    name = cpu;
    config = criterion::Criterion::default().with_measurement(linux::CpuTime);
    targets = linux::cpu
}
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
criterion::criterion_main!(wall, cpu);

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {}
