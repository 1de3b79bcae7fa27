//! Peer benchmarks for the raw trap wrappers (issue: foundation).
//!
//! One run measures ours against libc, rustix and sc for:
//! * a trivial system call (`getpid`: no arguments, no memory, not cached by
//!   glibc since 2.25);
//! * `FUTEX_WAKE` with no waiters (the futex word is private to the bench).
//!
//! Run: `cargo bench --bench syscall`. Ratios go into README.md.

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
use std::hint::black_box;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
use std::sync::atomic::AtomicU32;

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
use criterion::{Criterion, criterion_group, criterion_main};

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn trivial_syscall(c: &mut Criterion) {
    use wrt_platform::os::linux::process;

    let mut g = c.benchmark_group("getpid");
    g.bench_function("wrt", |b| b.iter(|| black_box(process::getpid())));
    // SAFETY: getpid is always safe.
    g.bench_function("libc", |b| b.iter(|| black_box(unsafe { libc::getpid() })));
    g.bench_function("rustix", |b| {
        b.iter(|| black_box(rustix::process::getpid()))
    });
    g.bench_function("sc", |b| {
        b.iter(|| {
            // SAFETY: getpid takes no arguments.
            black_box(unsafe { sc::syscall!(GETPID) })
        })
    });
    g.finish();
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn futex_wake_no_waiters(c: &mut Criterion) {
    use rustix::thread::futex;
    use wrt_platform::FutexLike;
    use wrt_platform::os::linux::LinuxFutex;

    let word = AtomicU32::new(0);
    let mut g = c.benchmark_group("futex_wake_no_waiters");
    g.bench_function("wrt", |b| {
        b.iter(|| black_box(LinuxFutex.wake(black_box(&word), 1)))
    });
    g.bench_function("libc", |b| {
        b.iter(|| {
            // SAFETY: FUTEX_WAKE on a live word with no waiters.
            black_box(unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    black_box(&word).as_ptr(),
                    libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                    1,
                )
            })
        })
    });
    g.bench_function("rustix", |b| {
        b.iter(|| black_box(futex::wake(black_box(&word), futex::Flags::PRIVATE, 1)))
    });
    g.bench_function("sc", |b| {
        b.iter(|| {
            // SAFETY: FUTEX_WAKE on a live word with no waiters.
            black_box(unsafe {
                sc::syscall!(
                    FUTEX,
                    black_box(&word).as_ptr() as usize,
                    (libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG) as usize,
                    1usize
                )
            })
        })
    });
    g.finish();
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
criterion_group!(benches, trivial_syscall, futex_wake_no_waiters);
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
criterion_main!(benches);

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
fn main() {}
