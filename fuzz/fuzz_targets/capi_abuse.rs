//! Arbitrary handles, addresses, lengths, counts, timeouts and flags into
//! every `wrt_*` entry point: each must return a documented result (a
//! value or a `WRT_E_*` code), never crash, never hang (waits use timeout
//! 0), and leave no memory behind.
#![no_main]

use wrt_platform::capi::*;

/// Codes the header documents, by entry point.
const CREATE: &[i32] = &[0, -1, -3, -4, -7, -8, -9, -10, -14];
const RANGE: &[i32] = &[0, -2, -5, -6];
const ATOMIC: &[i32] = &[-2, -5, -11, -12];

fn words(data: &[u8]) -> impl Iterator<Item = u64> + '_ {
    data.chunks(8).map(|c| {
        let mut w = [0u8; 8];
        w[..c.len()].copy_from_slice(c);
        u64::from_le_bytes(w)
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let mut w = words(data).chain(core::iter::repeat(0));
    let mut next = || w.next().unwrap_or(0);
    // A few memories with arbitrary (but bounded, to keep runs fast)
    // initial sizes and arbitrary maxima and flags.
    let mut live = Vec::new();
    for _ in 0..3 {
        let (initial, maximum, flags) = (next() % 64, next(), next() as u32);
        let mut h = 0;
        // SAFETY: `h` is a valid out-pointer.
        let code = unsafe { wrt_memory_create(initial, maximum, flags, &mut h) };
        assert!(CREATE.contains(&code), "create -> {code}");
        if code == 0 {
            live.push(h);
        }
    }
    // Handles: the live ones, stale or garbage ones from the input.
    let stale = {
        let mut h = 0;
        // SAFETY: valid out-pointer.
        if unsafe { wrt_memory_create(0, 1, WRT_MEMORY_EXPLICIT_BOUNDS, &mut h) } == 0 {
            assert_eq!(wrt_memory_destroy(h), 0);
        }
        h
    };
    for _ in 0..32 {
        let handle = match next() % 4 {
            0 | 1 if !live.is_empty() => live[next() as usize % live.len()],
            2 => stale,
            _ => next(),
        };
        let (a, b, c) = (next(), next(), next());
        // Lengths past 16 MiB mostly fail fast; keep valid ones small.
        let len = if c & 1 == 0 { c >> 40 } else { c };
        match next() % 15 {
            0 => {
                let r = wrt_memory_grow(handle, a % 1024);
                assert!(
                    r >= 0 || [-2, -7, -8, -10].contains(&(r as i32)),
                    "grow -> {r}"
                );
            }
            1 => assert!(RANGE.contains(&wrt_memory_fill(handle, a, b as u8, len))),
            2 => assert!(RANGE.contains(&wrt_memory_copy(handle, a, b, len))),
            3 => {
                let r = wrt_memory_size(handle);
                assert!(r >= 0 || r == -2);
                assert_eq!(r == -2, wrt_memory_base(handle).is_null());
            }
            4 => assert!([0, -2, -4, -10].contains(&wrt_memory_reset(handle, a))),
            5 => {
                let r = wrt_atomic_wait32(handle, a, b as u32, 0);
                assert!(r == 1 || r == 2 || ATOMIC.contains(&r), "wait32 -> {r}");
            }
            6 => {
                let r = wrt_atomic_wait64(handle, a, b, 0);
                assert!(r == 1 || r == 2 || ATOMIC.contains(&r), "wait64 -> {r}");
            }
            7 => {
                let r = wrt_atomic_notify(handle, a, b as u32);
                assert!(
                    r == 0 || [-2, -5, -11].contains(&(r as i32)),
                    "notify -> {r}"
                );
            }
            8 => {
                // The view, and the atomics through it (or through a
                // garbage pointer, never dereferenced).
                let view = match b % 3 {
                    0 => wrt_memory_view(handle),
                    1 => c as usize as *const wrt_memory_view_t,
                    _ => wrt_memory_view(handle).wrapping_byte_add(c as usize % 256),
                };
                let r = wrt_atomic_notify_view(view, a, b as u32);
                assert!(
                    r >= 0 || [-2, -5, -11].contains(&(r as i32)),
                    "notify_view -> {r}"
                );
                let r = wrt_atomic_wait32_view(view, a, b as u32, 0);
                assert!(
                    r == 1 || r == 2 || ATOMIC.contains(&r),
                    "wait32_view -> {r}"
                );
                let r = wrt_atomic_wait64_view(view, a, b, 0);
                assert!(
                    r == 1 || r == 2 || ATOMIC.contains(&r),
                    "wait64_view -> {r}"
                );
            }
            9 => {
                let other = live
                    .get(c as usize % live.len().max(1))
                    .copied()
                    .unwrap_or(c);
                let r = wrt_memory_copy_between(handle, a, other, b, len);
                assert!(RANGE.contains(&r), "copy_between -> {r}");
            }
            10 | 11 => {
                // Host buffers of at most 4 KiB; a length past them is only
                // passed with a NULL pointer (which must be refused).
                let mut buf = vec![0u8; (c % 4096) as usize];
                let (ptr, n) = if b & 1 == 0 {
                    (buf.as_mut_ptr(), buf.len())
                } else {
                    (core::ptr::null_mut(), len as usize)
                };
                let r = if next() % 11 == 10 {
                    // SAFETY: `ptr` is NULL or valid for `n` bytes.
                    unsafe { wrt_memory_read(handle, a, ptr, n) }
                } else {
                    // SAFETY: as above, for reads.
                    unsafe { wrt_memory_write(handle, a, ptr, n) }
                };
                assert!(
                    r == 0 && (n == 0 || !ptr.is_null()) || [-1, -2, -5, -6].contains(&r),
                    "host copy -> {r}"
                );
            }
            12 => {
                let (mut m, mut off) = (0, 0);
                // SAFETY: valid out-pointers; the address is never dereferenced.
                let r = unsafe { wrt_memory_at(a as usize as *const _, &mut m, &mut off) };
                assert!(r == 0 || r == -15, "memory_at -> {r}");
                if r == 0 {
                    assert!(wrt_memory_size(m) >= 0, "memory_at found a live memory");
                }
            }
            13 => {
                let (max, flags) = (wrt_memory_maximum(handle), wrt_memory_flags(handle));
                assert_eq!(max == -2, flags == -2);
                assert!(max >= 0 || max == -2);
            }
            _ => assert!(!wrt_strerror(a as i32).is_null()),
        }
    }
    for h in live {
        assert_eq!(wrt_memory_destroy(h), 0);
    }
});
