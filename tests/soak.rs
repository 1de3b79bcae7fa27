//! Load: 8 threads for a bounded time (WRT_SOAK_SECS, default 60 natively,
//! 10 under qemu) mixing grow / fill / copy / reset on private memories —
//! each checked against its own shadow copy after every step — with wait
//! (short timeouts) / notify on one shared memory, where every notify's
//! count must equal the waiters that returned 0 (conservation), and no
//! call may return an undocumented result.
#![cfg(target_os = "linux")]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use wrt_platform::capi::*;

const PAGE: u64 = 65536;

fn create(initial: u64, max: u64, flags: u32) -> wrt_memory_t {
    let mut h = 0;
    // SAFETY: valid out-pointer.
    assert_eq!(unsafe { wrt_memory_create(initial, max, flags, &mut h) }, 0);
    h
}

/// A private memory and its shadow copy, driven by a small generator.
fn private_worker(seed: u64, stop: &AtomicBool) -> u64 {
    let m = create(1, 8, WRT_MEMORY_EXPLICIT_BOUNDS);
    let mut shadow = vec![0u8; PAGE as usize];
    let mut x = seed | 1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut steps = 0;
    while !stop.load(Ordering::Relaxed) {
        let size = shadow.len() as u64;
        match rnd() % 10 {
            0 => {
                let delta = rnd() % 3;
                let r = wrt_memory_grow(m, delta);
                if size / PAGE + delta <= 8 {
                    assert_eq!(r, (size / PAGE) as i64);
                    shadow.resize(((size / PAGE + delta) * PAGE) as usize, 0);
                } else {
                    assert_eq!(r, WRT_E_OVER_MAXIMUM as i64);
                }
            }
            1 => {
                assert_eq!(wrt_memory_reset(m, rnd() % (2 * PAGE)), 0);
                shadow = vec![0u8; PAGE as usize];
            }
            2..=5 => {
                let (dst, len, v) = (rnd() % (size + 1), rnd() % 9000, rnd() as u8);
                let r = wrt_memory_fill(m, dst, v, len);
                if dst + len <= size {
                    assert_eq!(r, 0);
                    shadow[dst as usize..(dst + len) as usize].fill(v);
                } else {
                    assert_eq!(r, WRT_E_OUT_OF_BOUNDS as i32);
                }
            }
            _ => {
                let (dst, src, len) = (rnd() % (size + 1), rnd() % (size + 1), rnd() % 9000);
                let r = wrt_memory_copy(m, dst, src, len);
                if dst + len <= size && src + len <= size {
                    assert_eq!(r, 0);
                    shadow.copy_within(src as usize..(src + len) as usize, dst as usize);
                } else {
                    assert_eq!(r, WRT_E_OUT_OF_BOUNDS as i32);
                }
            }
        }
        let base = wrt_memory_base(m);
        assert_eq!(wrt_memory_size(m) as u64 * PAGE, shadow.len() as u64);
        // SAFETY: `shadow.len()` bytes from the base are committed.
        let real = unsafe { std::slice::from_raw_parts(base, shadow.len()) };
        assert!(
            real == &shadow[..],
            "private memory diverged from its shadow after {steps} steps"
        );
        steps += 1;
    }
    assert_eq!(wrt_memory_destroy(m), 0);
    steps
}

#[test]
fn soak() {
    let secs = std::env::var("WRT_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(if std::env::var_os("WRT_EXPECT_CPU").is_some() {
            10
        } else {
            60
        });
    let shared = create(1, 1, WRT_MEMORY_SHARED);
    let stop = AtomicBool::new(false);
    let woken = AtomicU64::new(0); // waits that returned 0
    let notified = AtomicU64::new(0); // sum of notify results
    let waits = AtomicU64::new(0);
    let started = Instant::now();
    let steps: u64 = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for t in 0..4u64 {
            let stop = &stop;
            handles.push(s.spawn(move || private_worker(0x9e37_79b9 * (t + 1), stop)));
        }
        for t in 0..3u64 {
            let (stop, woken, waits) = (&stop, &woken, &waits);
            handles.push(s.spawn(move || {
                let addr = 8 * (t % 2); // two addresses, shared by waiters
                while !stop.load(Ordering::Relaxed) {
                    let r = wrt_atomic_wait32(shared, addr, 0, 2_000_000);
                    assert!((0..=2).contains(&r), "wait32 -> {r}");
                    if r == 0 {
                        woken.fetch_add(1, Ordering::Relaxed);
                    }
                    waits.fetch_add(1, Ordering::Relaxed);
                }
                0
            }));
        }
        let (stop_ref, notified) = (&stop, &notified);
        handles.push(s.spawn(move || {
            let mut n = 0u64;
            while !stop_ref.load(Ordering::Relaxed) {
                let r = wrt_atomic_notify(shared, 8 * (n % 2), (n % 3) as u32);
                assert!(r >= 0, "notify -> {r}");
                notified.fetch_add(r as u64, Ordering::Relaxed);
                n += 1;
                if n.is_multiple_of(64) {
                    std::thread::yield_now();
                }
            }
            0
        }));
        std::thread::sleep(Duration::from_secs(secs));
        stop.store(true, Ordering::Relaxed);
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    // Every waiter has returned (joined): the counts must now agree.
    assert_eq!(
        woken.load(Ordering::Relaxed),
        notified.load(Ordering::Relaxed),
        "conservation"
    );
    assert!(steps > 0 && waits.load(Ordering::Relaxed) > 0);
    assert_eq!(wrt_memory_destroy(shared), 0);
    println!(
        "soak: {:?}, {} private steps, {} waits ({} woken by notify)",
        started.elapsed(),
        steps,
        waits.load(Ordering::Relaxed),
        woken.load(Ordering::Relaxed)
    );
}
