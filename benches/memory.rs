//! Linear-memory benchmarks (issue: linear memory and the C ABI).
//!
//! One run, peers measured alongside:
//! * grow by one Wasm page vs a bare `mprotect` of the same 64 KiB;
//! * grow by one page vs "mmap a new region + copy + munmap the old"
//!   (how WRT's QNX backend grows), at 1 MiB and 16 MiB of contents;
//! * reset of a dirty 64 MiB memory vs `memset` of the same 64 MiB;
//! * reset of a dirty memory plus re-touching it (one byte written per OS
//!   page, the faults a decommitted page costs when used again) vs `memset`
//!   of the same bytes (which leaves them resident: nothing to re-touch), at
//!   256 KiB, 4 MiB and 64 MiB;
//! * first touch of 256 MiB with and without transparent huge pages.
//!
//! Run: `cargo bench --bench memory --features capi`. Ratios go in README.md.

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod linux {
    use std::hint::black_box;
    use std::time::{Duration, Instant};

    use criterion::{BatchSize, Criterion};
    use wrt_platform::os::linux::LinuxPages;
    use wrt_platform::wasm::memory::{Bounds, LinearMemory, MemoryConfig};

    const PAGE: usize = 65536;
    /// Pages per memory in the grow benchmarks (4 GiB of address space).
    const CAPACITY: u64 = 65536;

    fn explicit(initial: u64, max: u64, huge: bool) -> LinearMemory<LinuxPages> {
        let mut cfg = MemoryConfig::new(initial);
        cfg.bounds = Bounds::Explicit;
        cfg.maximum_pages = Some(max);
        cfg.huge_pages = huge;
        LinearMemory::new(LinuxPages::new().unwrap(), &cfg).unwrap()
    }

    /// A 4 GiB PROT_NONE reservation for the bare-mprotect peer.
    struct Reserved(*mut u8);
    impl Reserved {
        fn new() -> Self {
            // SAFETY: anonymous private PROT_NONE mapping.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    CAPACITY as usize * PAGE,
                    libc::PROT_NONE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                    -1,
                    0,
                )
            };
            assert_ne!(p, libc::MAP_FAILED);
            Reserved(p.cast())
        }
    }
    impl Drop for Reserved {
        fn drop(&mut self) {
            // SAFETY: the mapping made in `new`.
            unsafe { libc::munmap(self.0.cast(), CAPACITY as usize * PAGE) };
        }
    }

    pub fn grow(c: &mut Criterion) {
        let mut g = c.benchmark_group("grow_1_page");
        g.bench_function("wrt_memory_grow", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(CAPACITY);
                    let m = explicit(0, CAPACITY, false);
                    let t0 = Instant::now();
                    for _ in 0..n {
                        black_box(m.grow(1).unwrap());
                    }
                    total += t0.elapsed();
                    left -= n;
                }
                total
            })
        });
        g.bench_function("bare_mprotect", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(CAPACITY);
                    let r = Reserved::new();
                    let t0 = Instant::now();
                    for i in 0..n as usize {
                        let at = r.0.wrapping_add(i * PAGE);
                        // SAFETY: inside the reservation; nothing refers to it.
                        let rc = unsafe {
                            libc::mprotect(at.cast(), PAGE, libc::PROT_READ | libc::PROT_WRITE)
                        };
                        black_box(rc);
                    }
                    total += t0.elapsed();
                    left -= n;
                }
                total
            })
        });
        g.finish();
    }

    /// WRT's QNX grow: map a new, larger region, copy, unmap the old one.
    fn mmap_copy_grow(old: *mut u8, old_len: usize) -> *mut u8 {
        let new_len = old_len + PAGE;
        // SAFETY: fresh anonymous mapping.
        let new = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                new_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(new, libc::MAP_FAILED);
        // SAFETY: both regions are mapped and at least `old_len` long.
        unsafe { std::ptr::copy_nonoverlapping(old, new.cast::<u8>(), old_len) };
        // SAFETY: the old region is no longer used.
        unsafe { libc::munmap(old.cast(), old_len) };
        new.cast()
    }

    pub fn grow_vs_copy(c: &mut Criterion) {
        let mut g = c.benchmark_group("grow_vs_mmap_copy");
        for mib in [1usize, 16] {
            let pages = (mib << 20) / PAGE;
            g.bench_function(format!("wrt_grow_{mib}MiB"), |b| {
                b.iter_batched(
                    || {
                        let m = explicit(pages as u64, pages as u64 + 1, false);
                        m.fill(0, 1, m.size_bytes()).unwrap();
                        m
                    },
                    |m| {
                        black_box(m.grow(1).unwrap());
                        m
                    },
                    BatchSize::PerIteration,
                )
            });
            g.bench_function(format!("mmap_copy_{mib}MiB"), |b| {
                b.iter_batched(
                    || {
                        // SAFETY: fresh anonymous mapping, then dirtied.
                        let old = unsafe {
                            libc::mmap(
                                std::ptr::null_mut(),
                                mib << 20,
                                libc::PROT_READ | libc::PROT_WRITE,
                                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                                -1,
                                0,
                            )
                        };
                        // SAFETY: `old` is a fresh mapping of that size.
                        unsafe { std::ptr::write_bytes(old.cast::<u8>(), 1, mib << 20) };
                        old.cast::<u8>()
                    },
                    |old| {
                        let new = mmap_copy_grow(old, mib << 20);
                        // SAFETY: the grown region from mmap_copy_grow.
                        unsafe { libc::munmap(new.cast(), (mib << 20) + PAGE) };
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        g.finish();
    }

    pub fn reset(c: &mut Criterion) {
        const MIB64: u64 = 64 << 20;
        let pages = MIB64 / PAGE as u64;
        let mut g = c.benchmark_group("reset_dirty_64MiB");
        g.sample_size(20);
        let m = explicit(pages, pages, false);
        g.bench_function("wrt_memory_reset", |b| {
            b.iter_batched(
                || m.fill(0, 0xA5, MIB64).unwrap(),
                // SAFETY: nothing else uses the memory.
                |()| unsafe { m.reset(0) }.unwrap(),
                BatchSize::PerIteration,
            )
        });
        g.bench_function("memset", |b| {
            b.iter_batched(
                || m.fill(0, 0xA5, MIB64).unwrap(),
                // SAFETY: `size_bytes` bytes from the base are committed.
                |()| unsafe { libc::memset(m.base().as_ptr().cast(), 0, MIB64 as usize) },
                BatchSize::PerIteration,
            )
        });
        g.finish();
    }

    /// Reset + re-touch vs `memset`, per size. The memory is dirtied in
    /// the (untimed) setup; the timed part is what a pool pays between two
    /// instances that both use the whole initial memory.
    pub fn reset_retouch(c: &mut Criterion) {
        let mut g = c.benchmark_group("reset_retouch");
        g.sample_size(20);
        g.warm_up_time(Duration::from_millis(500));
        g.measurement_time(Duration::from_secs(2));
        for (name, bytes) in [
            ("256KiB", 256u64 << 10),
            ("4MiB", 4 << 20),
            ("64MiB", 64 << 20),
        ] {
            let pages = bytes / PAGE as u64;
            // The default policy, and decommit-all (`reset_zero_in_place`
            // 0: what reset did before the threshold existed).
            for (policy, threshold) in [("", None), ("decommit_all_", Some(0))] {
                let mut cfg = MemoryConfig::new(pages);
                cfg.bounds = Bounds::Explicit;
                cfg.maximum_pages = Some(pages);
                if let Some(t) = threshold {
                    cfg.reset_zero_in_place = t;
                }
                let m = LinearMemory::new(LinuxPages::new().unwrap(), &cfg).unwrap();
                let base = m.base().as_ptr();
                g.bench_function(format!("wrt_reset_retouch_{policy}{name}"), |b| {
                    b.iter_batched(
                        || m.fill(0, 0xA5, bytes).unwrap(),
                        |()| {
                            // SAFETY: nothing else uses the memory.
                            unsafe { m.reset(0) }.unwrap();
                            for off in (0..bytes as usize).step_by(4096) {
                                // SAFETY: inside the initial (committed) size.
                                unsafe { base.wrapping_add(off).write_volatile(1) };
                            }
                        },
                        BatchSize::PerIteration,
                    )
                });
            }
            let m = explicit(pages, pages, false);
            let base = m.base().as_ptr();
            // Reset alone (default policy): how much of the gap to memset
            // is the re-touch loop, which the memset peer does not run.
            g.bench_function(format!("wrt_reset_only_{name}"), |b| {
                b.iter_batched(
                    || m.fill(0, 0xA5, bytes).unwrap(),
                    // SAFETY: nothing else uses the memory.
                    |()| unsafe { m.reset(0) }.unwrap(),
                    BatchSize::PerIteration,
                )
            });
            g.bench_function(format!("memset_{name}"), |b| {
                b.iter_batched(
                    || m.fill(0, 0xA5, bytes).unwrap(),
                    // SAFETY: `bytes` bytes from the base are committed.
                    |()| unsafe { libc::memset(base.cast(), 0, bytes as usize) },
                    BatchSize::PerIteration,
                )
            });
            // The same work an embedder does without reset: memset, then
            // the instance touches its pages again.
            g.bench_function(format!("memset_retouch_{name}"), |b| {
                b.iter_batched(
                    || m.fill(0, 0xA5, bytes).unwrap(),
                    |()| {
                        // SAFETY: `bytes` bytes from the base are committed.
                        unsafe { libc::memset(base.cast(), 0, bytes as usize) };
                        for off in (0..bytes as usize).step_by(4096) {
                            // SAFETY: as above.
                            unsafe { base.wrapping_add(off).write_volatile(1) };
                        }
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        g.finish();
    }

    pub fn first_touch(c: &mut Criterion) {
        const BYTES: usize = 256 << 20;
        let pages = (BYTES / PAGE) as u64;
        let mut g = c.benchmark_group("first_touch_256MiB");
        g.sample_size(10);
        for huge in [false, true] {
            let name = if huge { "huge_pages" } else { "4KiB_pages" };
            g.bench_function(name, |b| {
                b.iter_batched(
                    || explicit(pages, pages, huge),
                    |m| {
                        let base = m.base().as_ptr();
                        for off in (0..BYTES).step_by(4096) {
                            // SAFETY: inside the committed memory.
                            unsafe { base.wrapping_add(off).write_volatile(1) };
                        }
                        m
                    },
                    BatchSize::PerIteration,
                )
            });
        }
        g.finish();
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
criterion::criterion_group!(
    benches,
    linux::grow,
    linux::grow_vs_copy,
    linux::reset,
    linux::reset_retouch,
    linux::first_touch
);
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
criterion::criterion_main!(benches);

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {}
