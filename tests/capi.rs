//! The C ABI's bad-input table: every entry point against null, out of
//! bounds, `addr + len` wrapping, grow past the maximum, grow by 0, a page
//! count or byte size overflowing 64 bits, bad flags and destroyed
//! handles, each giving its documented `WRT_E_*` code and changing
//! nothing. Runs natively and under qemu-aarch64.
#![cfg(target_os = "linux")]

use std::ptr;

use wrt_platform::capi::*;

const PAGE: u64 = 65536;

struct Fixture {
    /// 1 page, maximum 2, filled with a pattern.
    m: wrt_memory_t,
    /// A destroyed handle.
    dead: wrt_memory_t,
    /// Shared, 1 page, maximum 4.
    shared: wrt_memory_t,
    /// memory64 without a maximum (explicit bounds).
    m64: wrt_memory_t,
}

fn create(initial: u64, max: u64, flags: u32) -> wrt_memory_t {
    let mut h = 0;
    // SAFETY: `h` is a valid out-pointer.
    let code = unsafe { wrt_memory_create(initial, max, flags, &mut h) };
    assert_eq!(code, WRT_OK as i32, "create({initial}, {max}, {flags:#x})");
    assert_ne!(h, 0);
    h
}

fn create_err(initial: u64, max: u64, flags: u32) -> i64 {
    let mut h = 0xdead;
    // SAFETY: `h` is a valid out-pointer.
    let code = unsafe { wrt_memory_create(initial, max, flags, &mut h) };
    assert_eq!(h, 0xdead, "a failed create wrote *out");
    i64::from(code)
}

fn contents(m: wrt_memory_t) -> (i64, u64) {
    let base = wrt_memory_base(m);
    let size = wrt_memory_size(m);
    // SAFETY: `base` points to `size` committed pages of a live memory.
    let bytes = unsafe { std::slice::from_raw_parts(base, size as usize * PAGE as usize) };
    let sum = bytes.iter().enumerate().fold(0u64, |acc, (i, b)| {
        acc.wrapping_mul(31).wrapping_add(u64::from(*b) ^ i as u64)
    });
    (size, sum)
}

fn e(code: wrt_error) -> i64 {
    code as i64
}

#[test]
fn bad_input_table() {
    let f = Fixture {
        m: create(1, 2, 0),
        dead: create(1, 1, 0),
        shared: create(1, 4, WRT_MEMORY_SHARED),
        // A maximum of 2^48 pages (2^64 bytes) is valid; the reservation is capped.
        m64: create(0, 1 << 48, WRT_MEMORY_64),
    };
    assert_eq!(wrt_memory_destroy(f.dead), WRT_OK as i32);
    for i in 0..PAGE {
        assert_eq!(
            wrt_memory_fill(f.m, i, (i * 13 % 251) as u8, 1),
            WRT_OK as i32
        );
    }
    let before = contents(f.m);
    let m = f.m;
    let end = PAGE; // current size in bytes of `m`
    let garbage = 0xffff_ffff_ffff_ffff; // index 0xffff > WRT_MAX_MEMORIES

    #[rustfmt::skip]
    let table: Vec<(&str, i64, i64)> = vec![
        // create
        // SAFETY: a null out-pointer is checked and refused.
        ("create: NULL out", i64::from(unsafe { wrt_memory_create(1, 1, 0, ptr::null_mut()) }), e(WRT_E_NULL)),
        ("create: unknown flag", create_err(1, 1, 1 << 31), e(WRT_E_BAD_FLAGS)),
        ("create: initial > maximum", create_err(3, 2, 0), e(WRT_E_INVALID)),
        ("create: 32-bit maximum > 65536", create_err(1, 65537, 0), e(WRT_E_INVALID)),
        ("create: 32-bit initial > 65536", create_err(65537, WRT_NO_MAXIMUM, 0), e(WRT_E_INVALID)),
        ("create: memory64 maximum > 2^48", create_err(0, (1 << 48) + 1, WRT_MEMORY_64), e(WRT_E_INVALID)),
        ("create: shared without maximum", create_err(1, WRT_NO_MAXIMUM, WRT_MEMORY_SHARED), e(WRT_E_INVALID)),
        // Found by tests/model_diff.rs: 2^48 pages is 2^64 bytes.
        ("create: memory64 initial of 2^48 pages", create_err(1 << 48, WRT_NO_MAXIMUM, WRT_MEMORY_64), e(WRT_E_OVER_MAXIMUM)),
        // size
        ("size: handle 0", wrt_memory_size(0), e(WRT_E_BAD_HANDLE)),
        ("size: destroyed", wrt_memory_size(f.dead), e(WRT_E_BAD_HANDLE)),
        ("size: garbage", wrt_memory_size(garbage), e(WRT_E_BAD_HANDLE)),
        ("size: live", wrt_memory_size(m), 1),
        // grow
        ("grow: handle 0", wrt_memory_grow(0, 1), e(WRT_E_BAD_HANDLE)),
        ("grow: destroyed", wrt_memory_grow(f.dead, 1), e(WRT_E_BAD_HANDLE)),
        ("grow: by 0", wrt_memory_grow(m, 0), 1),
        ("grow: past maximum", wrt_memory_grow(m, 2), e(WRT_E_OVER_MAXIMUM)),
        ("grow: page count overflows u64", wrt_memory_grow(m, u64::MAX), e(WRT_E_OVER_MAXIMUM)),
        ("grow: memory64 byte size overflows u64", wrt_memory_grow(f.m64, 1 << 48), e(WRT_E_OVER_MAXIMUM)),
        ("grow: memory64 past its reservation", wrt_memory_grow(f.m64, (4 << 30) / PAGE + 1), e(WRT_E_OVER_MAXIMUM)),
        // fill
        ("fill: handle 0", i64::from(wrt_memory_fill(0, 0, 1, 1)), e(WRT_E_BAD_HANDLE)),
        ("fill: destroyed", i64::from(wrt_memory_fill(f.dead, 0, 1, 1)), e(WRT_E_BAD_HANDLE)),
        ("fill: one byte past the end", i64::from(wrt_memory_fill(m, end - 1, 1, 2)), e(WRT_E_OUT_OF_BOUNDS)),
        ("fill: dst past the end, len 0", i64::from(wrt_memory_fill(m, end + 1, 1, 0)), e(WRT_E_OUT_OF_BOUNDS)),
        ("fill: dst + len wraps", i64::from(wrt_memory_fill(m, u64::MAX, 1, 2)), e(WRT_E_OVERFLOW)),
        ("fill: len wraps", i64::from(wrt_memory_fill(m, 1, 1, u64::MAX)), e(WRT_E_OVERFLOW)),
        ("fill: len 0 at the end", i64::from(wrt_memory_fill(m, end, 1, 0)), e(WRT_OK)),
        // copy
        ("copy: handle 0", i64::from(wrt_memory_copy(0, 0, 0, 1)), e(WRT_E_BAD_HANDLE)),
        ("copy: destroyed", i64::from(wrt_memory_copy(f.dead, 0, 0, 1)), e(WRT_E_BAD_HANDLE)),
        ("copy: dst past the end", i64::from(wrt_memory_copy(m, end - 4, 0, 5)), e(WRT_E_OUT_OF_BOUNDS)),
        ("copy: src past the end", i64::from(wrt_memory_copy(m, 0, end - 4, 5)), e(WRT_E_OUT_OF_BOUNDS)),
        ("copy: dst + len wraps", i64::from(wrt_memory_copy(m, u64::MAX - 1, 0, 3)), e(WRT_E_OVERFLOW)),
        ("copy: src + len wraps", i64::from(wrt_memory_copy(m, 0, u64::MAX - 1, 3)), e(WRT_E_OVERFLOW)),
        ("copy: len 0 at the end", i64::from(wrt_memory_copy(m, end, end, 0)), e(WRT_OK)),
        // reset
        ("reset: handle 0", i64::from(wrt_memory_reset(0, 0)), e(WRT_E_BAD_HANDLE)),
        ("reset: destroyed", i64::from(wrt_memory_reset(f.dead, 0)), e(WRT_E_BAD_HANDLE)),
        ("reset: shared", i64::from(wrt_memory_reset(f.shared, 0)), e(WRT_E_INVALID)),
        // destroy
        ("destroy: handle 0", i64::from(wrt_memory_destroy(0)), e(WRT_E_BAD_HANDLE)),
        ("destroy: destroyed", i64::from(wrt_memory_destroy(f.dead)), e(WRT_E_BAD_HANDLE)),
        ("destroy: garbage", i64::from(wrt_memory_destroy(garbage)), e(WRT_E_BAD_HANDLE)),
    ];
    let wrong: Vec<String> = table
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(what, got, want)| format!("{what}: got {got}, want {want}"))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");

    assert!(wrt_memory_base(0).is_null());
    assert!(wrt_memory_base(f.dead).is_null());
    assert!(wrt_memory_base(garbage).is_null());
    assert_eq!(contents(m), before, "a refused call changed the memory");
    for h in [f.m, f.shared, f.m64] {
        assert_eq!(wrt_memory_destroy(h), WRT_OK as i32);
    }
}

#[test]
fn every_code_has_a_description() {
    let unknown = wrt_strerror(12345);
    for code in -10..=0 {
        let text = wrt_strerror(code);
        assert!(!text.is_null());
        assert_ne!(text, unknown, "code {code} has no description");
    }
}

/// A destroyed handle stays invalid after its slot is reused.
#[test]
fn stale_handle_stays_invalid_after_slot_reuse() {
    let first = create(1, 1, WRT_MEMORY_EXPLICIT_BOUNDS);
    assert_eq!(wrt_memory_destroy(first), WRT_OK as i32);
    let mut later = Vec::new();
    for _ in 0..WRT_MAX_MEMORIES / 8 {
        later.push(create(0, 1, WRT_MEMORY_EXPLICIT_BOUNDS));
    }
    assert_eq!(wrt_memory_size(first), e(WRT_E_BAD_HANDLE));
    for h in later {
        assert_eq!(wrt_memory_destroy(h), WRT_OK as i32);
    }
}

/// Concurrent grows of one shared memory: every grow returns a distinct old
/// size, the final size is the sum, and the base never moves.
#[test]
fn concurrent_grows_of_a_shared_memory_serialise() {
    let m = create(0, 64, WRT_MEMORY_SHARED);
    let base = wrt_memory_base(m) as usize;
    let mut olds: Vec<i64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(move || (0..16).map(|_| wrt_memory_grow(m, 1)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    olds.sort_unstable();
    assert_eq!(olds, (0..64).collect::<Vec<i64>>());
    assert_eq!(wrt_memory_size(m), 64);
    assert_eq!(wrt_memory_grow(m, 1), e(WRT_E_OVER_MAXIMUM));
    assert_eq!(wrt_memory_base(m) as usize, base);
    assert_eq!(wrt_memory_destroy(m), WRT_OK as i32);
}
