//! The C ABI additions for generated code and embedders (issue 18, parts 3
//! and 4): the in-place memory view and the entry points that take it,
//! copies between memories and host buffers, getters, the address lookup,
//! tagged memories, the ABI version and the platform report. Runs natively
//! and under qemu-aarch64 (`-cpu max` with MTE, `-cpu cortex-a57` without).
#![cfg(target_os = "linux")]

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::Duration;

use wrt_platform::capi::*;

const PAGE: u64 = 65536;
const OK: i32 = WRT_OK as i32;

fn create(initial: u64, max: u64, flags: u32) -> wrt_memory_t {
    let mut h = 0;
    // SAFETY: `h` is a valid out-pointer.
    let code = unsafe { wrt_memory_create(initial, max, flags, &mut h) };
    assert_eq!(code, OK, "create({initial}, {max}, {flags:#x})");
    h
}

/// The view, read as compiled code reads it.
fn read_view(v: *const wrt_memory_view_t) -> (usize, u64, u64, u64, wrt_memory_t, u32) {
    assert!(!v.is_null());
    // SAFETY: a view of a live memory: valid for reads while it lives.
    let view = unsafe { &*v };
    // SAFETY: `length` is 8-aligned and the helper writes it only with
    // atomic stores; this reads it as compiled code of a shared memory does.
    let length = unsafe { AtomicU64::from_ptr((&raw const view.length).cast_mut()) };
    (
        view.base as usize,
        length.load(Ordering::Acquire),
        view.maximum_pages,
        view.reserved,
        view.memory,
        view.flags,
    )
}

#[test]
fn the_view_follows_the_memory() {
    let m = create(2, 10, 0);
    let v = wrt_memory_view(m);
    assert_eq!(v, wrt_memory_view(m), "the same pointer on every call");
    let (base, length, max, reserved, handle, flags) = read_view(v);
    assert_eq!(base, wrt_memory_base(m) as usize);
    assert_eq!(length, 2 * PAGE);
    assert_eq!(max, 10);
    assert_eq!(
        reserved,
        (8 << 30) + PAGE,
        "4 GiB + the 4 GiB + 64 KiB guard"
    );
    assert_eq!(handle, m);
    assert_eq!(flags, 0);
    assert_eq!(wrt_memory_grow(m, 3), 2);
    assert_eq!(read_view(v).1, 5 * PAGE, "grow publishes the length");
    assert_eq!(wrt_memory_reset(m, 0), OK);
    assert_eq!(read_view(v).1, 2 * PAGE, "reset publishes the length");
    assert_eq!(wrt_memory_maximum(m), 10);
    assert_eq!(wrt_memory_flags(m), 0);

    let s = create(1, 4, WRT_MEMORY_SHARED | WRT_MEMORY_EXPLICIT_BOUNDS);
    let (_, length, max, reserved, _, flags) = read_view(wrt_memory_view(s));
    assert_eq!((length, max, reserved), (PAGE, 4, 4 * PAGE));
    assert_eq!(flags, WRT_MEMORY_SHARED | WRT_MEMORY_EXPLICIT_BOUNDS);
    assert_eq!(
        wrt_memory_flags(s),
        i64::from(WRT_MEMORY_SHARED | WRT_MEMORY_EXPLICIT_BOUNDS)
    );

    assert_eq!(wrt_memory_destroy(m), OK);
    assert_eq!(wrt_memory_destroy(s), OK);
    assert!(wrt_memory_view(m).is_null());
    assert!(wrt_memory_view(0).is_null());
    assert_eq!(wrt_memory_maximum(m), WRT_E_BAD_HANDLE as i64);
    assert_eq!(wrt_memory_flags(m), WRT_E_BAD_HANDLE as i64);
}

/// A grow on another thread: a reader that sees the new length (acquire)
/// can touch the new pages.
#[test]
fn a_published_length_means_accessible_pages() {
    let m = create(1, 64, WRT_MEMORY_SHARED);
    let v = wrt_memory_view(m) as usize;
    thread::scope(|s| {
        s.spawn(|| {
            for _ in 1..64 {
                assert!(wrt_memory_grow(m, 1) > 0);
            }
        });
        let mut seen = PAGE;
        while seen < 64 * PAGE {
            let (base, length, ..) = read_view(v as *const wrt_memory_view_t);
            if length > seen {
                // SAFETY: the last byte below a published length is
                // committed read-write (the contract under test).
                unsafe { ((base + length as usize - 1) as *mut u8).write_volatile(1) };
                seen = length;
            }
        }
    });
    assert_eq!(wrt_memory_destroy(m), OK);
}

#[test]
fn atomics_through_the_view() {
    let m = create(1, 1, WRT_MEMORY_SHARED);
    let plain = create(1, 1, 0);
    let v = wrt_memory_view(m);
    let e = |c: wrt_error| c as i32;
    // The same checks, in the same order, as through the handle.
    assert_eq!(wrt_atomic_wait32_view(v, 2, 0, 0), e(WRT_E_UNALIGNED));
    assert_eq!(wrt_atomic_wait64_view(v, 4, 0, 0), e(WRT_E_UNALIGNED));
    assert_eq!(
        wrt_atomic_wait32_view(v, PAGE, 0, 0),
        e(WRT_E_OUT_OF_BOUNDS)
    );
    assert_eq!(wrt_atomic_wait32_view(v, 0, 1, -1), WRT_WAIT_NOT_EQUAL);
    assert_eq!(wrt_atomic_wait32_view(v, 0, 0, 0), WRT_WAIT_TIMED_OUT);
    assert_eq!(wrt_atomic_wait64_view(v, 8, 0, 1000), WRT_WAIT_TIMED_OUT);
    assert_eq!(
        wrt_atomic_wait32_view(wrt_memory_view(plain), 0, 0, 0),
        e(WRT_E_NOT_SHARED)
    );
    assert_eq!(wrt_atomic_notify_view(v, 1, 1), WRT_E_UNALIGNED as i64);
    assert_eq!(
        wrt_atomic_notify_view(v, PAGE, 1),
        WRT_E_OUT_OF_BOUNDS as i64
    );
    assert_eq!(
        wrt_atomic_notify_view(v, u64::MAX - 3, 1),
        WRT_E_OUT_OF_BOUNDS as i64
    );
    assert_eq!(wrt_atomic_notify_view(v, 0, 1), 0);
    assert_eq!(wrt_atomic_notify_view(wrt_memory_view(plain), 0, 1), 0);
    // Not a view: never dereferenced.
    for bad in [
        std::ptr::null(),
        std::ptr::dangling::<wrt_memory_view_t>(),
        (v as usize + 8) as *const wrt_memory_view_t,
        (v as usize).wrapping_sub(1 << 40) as *const wrt_memory_view_t,
    ] {
        assert_eq!(wrt_atomic_notify_view(bad, 0, 1), WRT_E_BAD_HANDLE as i64);
        assert_eq!(wrt_atomic_wait32_view(bad, 0, 0, 0), e(WRT_E_BAD_HANDLE));
        assert_eq!(wrt_atomic_wait64_view(bad, 0, 0, 0), e(WRT_E_BAD_HANDLE));
    }
    // A waiter through the view, woken through the view, counted once.
    let vu = v as usize;
    let waiter = thread::spawn(move || {
        wrt_atomic_wait32_view(vu as *const wrt_memory_view_t, 16, 0, 20_000_000_000)
    });
    let mut woken = 0;
    while woken == 0 {
        woken = wrt_atomic_notify_view(v, 16, 1);
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(woken, 1);
    assert_eq!(waiter.join().unwrap(), WRT_WAIT_OK);
    assert_eq!(wrt_memory_destroy(m), OK);
    assert_eq!(wrt_memory_destroy(plain), OK);
    // The view of a destroyed memory (its slot not reused yet).
    assert_eq!(wrt_atomic_notify_view(v, 0, 1), WRT_E_BAD_HANDLE as i64);
    assert_eq!(wrt_atomic_wait32_view(v, 0, 0, 0), e(WRT_E_BAD_HANDLE));
}

/// The view's `waiters` field, read as the header's inline notify reads it.
fn waiters(v: *const wrt_memory_view_t) -> u32 {
    let field = v.wrapping_byte_add(std::mem::offset_of!(wrt_memory_view_t, waiters));
    // SAFETY: a view of a live memory; the helper writes `waiters` only
    // with atomic stores.
    let w = unsafe { std::sync::atomic::AtomicU32::from_ptr(field.cast_mut().cast()) };
    w.load(Ordering::SeqCst)
}

/// The header's `wrt_atomic_notify_inline` (Rust twin): the same results
/// and codes as `wrt_atomic_notify_view`, and `waiters` counts exactly the
/// threads inside a wait.
#[test]
fn the_inline_notify_and_the_waiter_count() {
    let m = create(1, 2, WRT_MEMORY_SHARED);
    let plain = create(1, 1, 0);
    let v = wrt_memory_view(m);
    let p = wrt_memory_view(plain);
    let inline = |v, addr, n| {
        // SAFETY: `v` and `p`, the only views passed, are views of memories
        // that live until the end of the test.
        unsafe { wrt_atomic_notify_inline(v, addr, n) }
    };
    for (view, addr, n) in [
        (v, 0, 1),
        (v, 0, 0),
        (v, 1, 1),
        (v, 2, u32::MAX),
        (v, PAGE - 4, 1),
        (v, PAGE - 2, 1),
        (v, PAGE, 1),
        (v, u64::MAX - 3, 1),
        (v, u64::MAX, 1),
        (p, 0, 1),
        (p, 3, 1),
        (p, PAGE, 1),
    ] {
        assert_eq!(
            inline(view, addr, n),
            wrt_atomic_notify_view(view, addr, n),
            "addr {addr:#x} count {n}"
        );
    }
    assert_eq!(waiters(v), 0);
    assert_eq!(wrt_atomic_wait32_view(v, 0, 0, 1000), WRT_WAIT_TIMED_OUT);
    assert_eq!(waiters(v), 0, "a wait that ended is uncounted");
    assert_eq!(wrt_atomic_wait32(m, 0, 1, -1), WRT_WAIT_NOT_EQUAL);
    assert_eq!(waiters(v), 0, "a wait that never slept is uncounted");

    // Two waiters: counted while they wait, woken through the fast path's
    // call, uncounted after.
    let vu = v as usize;
    let spawn_waiter = |addr| {
        thread::spawn(move || {
            wrt_atomic_wait32_view(vu as *const wrt_memory_view_t, addr, 0, 20_000_000_000)
        })
    };
    let a = spawn_waiter(8);
    let b = spawn_waiter(16);
    for _ in 0..20_000 {
        if waiters(v) == 2 {
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(waiters(v), 2, "both waiters counted");
    assert_eq!(waiters(p), 0);
    let mut woken = 0;
    while woken < 2 {
        woken += inline(v, 8, 1) + inline(v, 16, 1);
        thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(woken, 2);
    assert_eq!(a.join().unwrap(), WRT_WAIT_OK);
    assert_eq!(b.join().unwrap(), WRT_WAIT_OK);
    assert_eq!(waiters(v), 0);
    assert_eq!(inline(v, 8, 1), 0);

    assert_eq!(wrt_memory_destroy(m), OK);
    assert_eq!(wrt_memory_destroy(plain), OK);
    // A torn-down memory has length 0: the fast path takes the call.
    assert_eq!(inline(v, 0, 1), WRT_E_BAD_HANDLE as i64);
}

/// The protocol the inline fast path relies on, as a ping-pong: each side
/// stores its round (seq_cst) and notifies through the fast path, then
/// waits for the other's round, re-checking the word. A wake the fast path
/// skipped wrongly leaves a side asleep until its timeout, which fails.
#[test]
fn the_inline_notify_loses_no_wake() {
    let m = create(1, 1, WRT_MEMORY_SHARED);
    let v = wrt_memory_view(m) as usize;
    let base = wrt_memory_base(m) as usize;
    // SAFETY: words at offsets 0 and 4 of a live shared memory, accessed
    // only atomically by both threads.
    let word = |offset: usize| unsafe {
        std::sync::atomic::AtomicU32::from_ptr((base + offset) as *mut u32)
    };
    let rounds: u32 = if cfg!(target_arch = "x86_64") {
        2000
    } else {
        200
    };
    // Publishes `round` at `mine` and waits for `round` at `theirs`.
    let step = |mine: usize, theirs: usize, round: u32| {
        let view = v as *const wrt_memory_view_t;
        word(mine).store(round, Ordering::SeqCst);
        // SAFETY: a view of a live memory.
        assert!(unsafe { wrt_atomic_notify_inline(view, mine as u64, 1) } >= 0);
        loop {
            let seen = word(theirs).load(Ordering::SeqCst);
            if seen >= round {
                break;
            }
            let r = wrt_atomic_wait32_view(view, theirs as u64, seen, 10_000_000_000);
            assert_ne!(r, WRT_WAIT_TIMED_OUT, "round {round}: a wake was lost");
        }
    };
    thread::scope(|s| {
        s.spawn(|| (1..=rounds).for_each(|round| step(4, 0, round)));
        (1..=rounds).for_each(|round| step(0, 4, round));
    });
    assert_eq!(wrt_memory_destroy(m), OK);
}

fn bytes(m: wrt_memory_t, offset: u64, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    // SAFETY: `out` is valid for `len` bytes.
    let code = unsafe { wrt_memory_read(m, offset, out.as_mut_ptr(), len) };
    assert_eq!(code, OK);
    out
}

#[test]
fn host_buffers_and_copies_between_memories() {
    let a = create(1, 2, 0);
    let b = create(2, 2, 0);
    let data: Vec<u8> = (0..=255).collect();
    let e = |c: wrt_error| c as i32;
    let write = |m, dst, src: *const u8, len| {
        // SAFETY: every caller below passes a pointer valid for `len`
        // bytes, or NULL where that is the case under test.
        unsafe { wrt_memory_write(m, dst, src, len) }
    };
    let read = |m, src, dst: *mut u8, len| {
        // SAFETY: as above, for writes.
        unsafe { wrt_memory_read(m, src, dst, len) }
    };
    assert_eq!(write(a, 100, data.as_ptr(), 256), OK);
    assert_eq!(
        write(a, PAGE - 255, data.as_ptr(), 256),
        e(WRT_E_OUT_OF_BOUNDS)
    );
    assert_eq!(write(a, u64::MAX, data.as_ptr(), 2), e(WRT_E_OVERFLOW));
    assert_eq!(write(a, 0, std::ptr::null(), 1), e(WRT_E_NULL));
    assert_eq!(write(a, PAGE, std::ptr::null(), 0), OK);
    assert_eq!(write(0, 0, data.as_ptr(), 1), e(WRT_E_BAD_HANDLE));
    let mut out = [0u8; 4];
    assert_eq!(
        read(a, PAGE - 3, out.as_mut_ptr(), 4),
        e(WRT_E_OUT_OF_BOUNDS)
    );
    assert_eq!(read(a, 0, std::ptr::null_mut(), 4), e(WRT_E_NULL));
    assert_eq!(out, [0; 4], "a refused read writes nothing");
    assert_eq!(bytes(a, 100, 256), data);

    assert_eq!(wrt_memory_copy_between(b, 2 * PAGE - 256, a, 100, 256), OK);
    assert_eq!(bytes(b, 2 * PAGE - 256, 256), data);
    assert_eq!(
        wrt_memory_copy_between(b, 2 * PAGE - 255, a, 100, 256),
        e(WRT_E_OUT_OF_BOUNDS),
        "destination past the end"
    );
    assert_eq!(
        wrt_memory_copy_between(b, 0, a, PAGE - 255, 256),
        e(WRT_E_OUT_OF_BOUNDS),
        "source past the end"
    );
    assert_eq!(
        wrt_memory_copy_between(b, 0, a, u64::MAX, 2),
        e(WRT_E_OVERFLOW)
    );
    assert_eq!(wrt_memory_copy_between(b, 0, 0, 0, 1), e(WRT_E_BAD_HANDLE));
    assert_eq!(wrt_memory_copy_between(0, 0, a, 0, 1), e(WRT_E_BAD_HANDLE));
    assert_eq!(bytes(b, 0, 16), [0; 16], "refused copies wrote nothing");
    // One memory twice: overlapping, as memory.copy.
    assert_eq!(wrt_memory_copy_between(a, 101, a, 100, 256), OK);
    assert_eq!(bytes(a, 101, 256), data);
    assert_eq!(wrt_memory_destroy(a), OK);
    assert_eq!(wrt_memory_destroy(b), OK);
}

#[test]
fn the_memory_at_an_address() {
    let m = create(1, WRT_NO_MAXIMUM, 0);
    let base = wrt_memory_base(m) as usize;
    let at = |addr: usize| {
        let (mut h, mut off) = (0, 0);
        // SAFETY: valid out-pointers.
        let code = unsafe { wrt_memory_at(addr as *const _, &mut h, &mut off) };
        (code, h, off)
    };
    assert_eq!(at(base), (OK, m, 0));
    assert_eq!(at(base + 70_000), (OK, m, 70_000), "past the size");
    let farthest = base + (8 << 30) + PAGE as usize - 16;
    assert_eq!(
        at(farthest),
        (OK, m, farthest as u64 - base as u64),
        "in the guard"
    );
    assert_eq!(at(base - 1).0, WRT_E_NOT_FOUND as i32);
    let local = 0u8;
    assert_eq!(at(&local as *const u8 as usize).0, WRT_E_NOT_FOUND as i32);
    let null = std::ptr::null_mut();
    // SAFETY: NULL out-pointers are allowed.
    let code = unsafe { wrt_memory_at(base as *const _, null, std::ptr::null_mut()) };
    assert_eq!(code, OK);
    assert_eq!(wrt_memory_destroy(m), OK);
    assert_eq!(at(base).0, WRT_E_NOT_FOUND as i32, "destroyed");
}

#[test]
fn abi_version_limits_and_platform() {
    assert_eq!(wrt_abi_version(), WRT_ABI_VERSION);
    assert_eq!(wrt_max_memories() as usize, WRT_MAX_MEMORIES);
    let mut info = wrt_platform_info_t::default();
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { wrt_platform_info(&mut info) }, OK);
    // SAFETY: NULL is allowed.
    let code = unsafe { wrt_platform_info(std::ptr::null_mut()) };
    assert_eq!(code, WRT_E_NULL as i32);
    assert_eq!(info.os, WRT_OS_LINUX);
    let isa = if cfg!(target_arch = "x86_64") {
        WRT_ISA_X86_64
    } else {
        WRT_ISA_AARCH64
    };
    assert_eq!(info.isa, isa);
    // SAFETY: sysconf has no preconditions.
    assert_eq!(info.page_size, unsafe { libc::sysconf(libc::_SC_PAGESIZE) }
        as u64);
    assert_ne!(info.features & WRT_FEATURE_GUARD_PAGES, 0);
    assert_ne!(info.features & WRT_FEATURE_HWCAPS_KNOWN, 0);
    assert_eq!(info.features & WRT_FEATURE_MTE != 0, mte_oracle());
}

/// Whether the CPU and kernel offer MTE, from libc's auxiliary vector.
fn mte_oracle() -> bool {
    #[cfg(target_arch = "aarch64")]
    {
        // SAFETY: getauxval has no preconditions.
        (unsafe { libc::getauxval(libc::AT_HWCAP2) } & (1 << 18)) != 0
    }
    #[cfg(not(target_arch = "aarch64"))]
    false
}

/// `WRT_MEMORY_MTE`: refused where MTE is absent; where present, a memory
/// of a thread that enabled tag checks carries a non-zero tag in its base
/// and its view, and the thread switch rejects bad arguments.
#[test]
fn tagged_memories_through_the_c_abi() {
    let mut h = 0;
    assert_eq!(wrt_mte_enable_thread(3, 0xfffe), WRT_E_INVALID as i32);
    if !mte_oracle() {
        // SAFETY: valid out-pointer.
        let code = unsafe { wrt_memory_create(1, 1, WRT_MEMORY_MTE, &mut h) };
        assert_eq!(code, WRT_E_NOT_SUPPORTED as i32);
        assert_eq!(h, 0);
        assert_eq!(
            wrt_mte_enable_thread(WRT_MTE_SYNC, 0xfffe),
            WRT_E_NOT_SUPPORTED as i32
        );
        return;
    }
    thread::spawn(|| {
        assert_eq!(
            wrt_mte_enable_thread(WRT_MTE_SYNC, 0x0001),
            WRT_E_INVALID as i32
        );
        assert_eq!(wrt_mte_enable_thread(WRT_MTE_SYNC, 0xfffe), OK);
        let m = create(1, 2, WRT_MEMORY_MTE);
        let base = wrt_memory_base(m) as usize;
        assert_ne!(base >> 56 & 0xf, 0, "a tagged base carries a non-zero tag");
        let (vbase, _, _, _, _, flags) = read_view(wrt_memory_view(m));
        assert_eq!((vbase, flags), (base, WRT_MEMORY_MTE));
        assert_eq!(wrt_memory_fill(m, 0, 7, PAGE), OK);
        assert_eq!(bytes(m, PAGE - 1, 1), [7]);
        // The lookup ignores the tag.
        let mut found = 0;
        // SAFETY: valid out-pointer.
        let code = unsafe { wrt_memory_at(base as *const _, &mut found, std::ptr::null_mut()) };
        assert_eq!((code, found), (OK, m));
        assert_eq!(wrt_memory_destroy(m), OK);
    })
    .join()
    .unwrap();
}
