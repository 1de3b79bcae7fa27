//! Lifetime of C-ABI memories under concurrency (issue 15, defects 1 and 8):
//! `wrt_memory_destroy` racing calls on the same memory, waiters of a
//! destroyed memory, and the child of a `fork()`. Runs natively and under
//! qemu-aarch64.
#![cfg(target_os = "linux")]

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::thread;
use std::time::Duration;

use wrt_platform::capi::*;

const PAGE: u64 = 65536;

fn create(initial: u64, max: u64, flags: u32) -> wrt_memory_t {
    let mut h = 0;
    // SAFETY: `h` is a valid out-pointer.
    let code = unsafe { wrt_memory_create(initial, max, flags, &mut h) };
    assert_eq!(code, WRT_OK as i32, "create({initial}, {max}, {flags:#x})");
    h
}

fn bytes(m: wrt_memory_t) -> &'static [u8] {
    let size = wrt_memory_size(m);
    assert!(size >= 0);
    // SAFETY: the base points to `size` committed pages of a live memory,
    // which the caller keeps alive while it looks.
    unsafe { std::slice::from_raw_parts(wrt_memory_base(m), size as usize * PAGE as usize) }
}

/// How many trials the racing tests run: fewer under qemu-aarch64, where
/// one trial (an 8 GiB reservation, emulated 64 KiB fills, qemu's own
/// /proc/self/maps) takes about a second; natively the old code failed
/// at the first trial.
fn trials() -> usize {
    if cfg!(target_arch = "x86_64") {
        300
    } else {
        12
    }
}

/// A fill through a handle that is being destroyed either completes on
/// the old memory or returns `WRT_E_BAD_HANDLE`; it never crashes and
/// never writes into the memory created right after the destroy.
/// Before the fix (the handle was checked at entry only) this crashed with
/// SIGSEGV or found the new memory dirty.
#[test]
fn stale_fill_racing_destroy_never_reaches_a_new_memory() {
    for trial in 0..trials() {
        let a = create(1, WRT_NO_MAXIMUM, 0);
        let started = AtomicBool::new(false);
        thread::scope(|s| {
            let filler = s.spawn(|| {
                let mut fills = 0u32;
                loop {
                    let r = wrt_memory_fill(a, 0, 0xab, PAGE);
                    started.store(true, Ordering::Release);
                    if r == WRT_E_BAD_HANDLE as i32 {
                        return fills;
                    }
                    assert_eq!(r, WRT_OK as i32);
                    fills += 1;
                }
            });
            while !started.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            assert_eq!(wrt_memory_destroy(a), WRT_OK as i32);
            let b = create(1, WRT_NO_MAXIMUM, 0);
            assert_ne!(a, b);
            let fills = filler.join().unwrap();
            assert!(fills >= 1);
            let dirty = bytes(b).iter().filter(|&&x| x != 0).count();
            assert_eq!(dirty, 0, "trial {trial}: the new memory was written");
            assert_eq!(wrt_memory_destroy(b), WRT_OK as i32);
        });
    }
}

/// The protection of the page holding `addr`, from /proc/self/maps
/// ("rw-p", "---p", ...), or "---" when nothing maps it (qemu-user lists
/// only part of the inaccessible reservations): either way an access
/// faults.
fn protection_at(addr: usize) -> String {
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    for line in maps.lines() {
        let mut fields = line.split_whitespace();
        let range = fields.next().unwrap();
        let (lo, hi) = range.split_once('-').unwrap();
        let (lo, hi) = (
            usize::from_str_radix(lo, 16).unwrap(),
            usize::from_str_radix(hi, 16).unwrap(),
        );
        if (lo..hi).contains(&addr) {
            return fields.next().unwrap().to_owned();
        }
    }
    "--- (not mapped)".to_owned()
}

/// A grow through a handle that is being destroyed never makes pages of
/// the next memory accessible past its size: its guard stays a guard.
#[test]
fn stale_grow_racing_destroy_never_opens_a_new_memorys_guard() {
    for trial in 0..trials() {
        let a = create(1, WRT_NO_MAXIMUM, 0);
        let started = AtomicBool::new(false);
        thread::scope(|s| {
            let grower = s.spawn(|| {
                loop {
                    let r = wrt_memory_grow(a, 1);
                    started.store(true, Ordering::Release);
                    if r == WRT_E_BAD_HANDLE as i64 {
                        return;
                    }
                    if r == WRT_E_OVER_MAXIMUM as i64 {
                        continue;
                    }
                    assert!(r >= 1, "grow returned {r}");
                }
            });
            while !started.load(Ordering::Acquire) {
                std::hint::spin_loop();
            }
            assert_eq!(wrt_memory_destroy(a), WRT_OK as i32);
            let b = create(1, WRT_NO_MAXIMUM, 0);
            grower.join().unwrap();
            assert_eq!(wrt_memory_size(b), 1);
            let past = wrt_memory_base(b) as usize + PAGE as usize;
            let prot = protection_at(past);
            assert!(
                prot.starts_with("---"),
                "trial {trial}: {prot} past the size"
            );
            assert_eq!(wrt_memory_destroy(b), WRT_OK as i32);
        });
    }
}

/// Whether the thread `tid` of this process is asleep (state `S`).
fn asleep(tid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    // The state follows the parenthesised command name.
    stat.rsplit_once(')')
        .is_some_and(|(_, rest)| rest.trim_start().starts_with('S'))
}

/// Runs `wait` on a new thread and returns once that thread sleeps (inside
/// the wait: it stores its id right before calling it).
fn sleeping_waiter<'s>(
    s: &'s thread::Scope<'s, '_>,
    wait: impl FnOnce() -> i32 + Send + 's,
) -> thread::ScopedJoinHandle<'s, i32> {
    let tid = std::sync::Arc::new(AtomicI32::new(0));
    let theirs = tid.clone();
    let waiter = s.spawn(move || {
        // SAFETY: gettid has no preconditions.
        theirs.store(unsafe { libc::gettid() }, Ordering::Release);
        wait()
    });
    loop {
        let t = tid.load(Ordering::Acquire);
        if t != 0 && asleep(t) {
            break;
        }
        thread::sleep(Duration::from_millis(1));
    }
    // Asleep right after storing its id could still be a page fault or a
    // preemption on the way in: give it time to reach the futex.
    thread::sleep(Duration::from_millis(50));
    waiter
}

/// Destroying a shared memory wakes its waiters with `WRT_E_DESTROYED`,
/// 32- and 64-bit alike; a notify of the next memory finds nobody. Before
/// the fix the waiters slept on (here: until their 20 s timeout) and a
/// notify of a new memory at the same address could wake them.
#[test]
fn destroy_wakes_waiters_with_destroyed() {
    let a = create(1, 1, WRT_MEMORY_SHARED);
    thread::scope(|s| {
        let w32 = sleeping_waiter(s, || wrt_atomic_wait32(a, 0, 0, 20_000_000_000));
        let w64 = sleeping_waiter(s, || wrt_atomic_wait64(a, 8, 0, 20_000_000_000));
        assert_eq!(wrt_memory_destroy(a), WRT_OK as i32);
        let b = create(1, 1, WRT_MEMORY_SHARED);
        assert_eq!(wrt_atomic_notify(b, 0, u32::MAX), 0);
        assert_eq!(wrt_atomic_notify(b, 8, u32::MAX), 0);
        assert_eq!(w32.join().unwrap(), WRT_E_DESTROYED as i32);
        assert_eq!(w64.join().unwrap(), WRT_E_DESTROYED as i32);
        assert_eq!(wrt_memory_destroy(b), WRT_OK as i32);
    });
    // The destroyed handle stays bad for every call.
    assert_eq!(wrt_atomic_wait32(a, 0, 0, 0), WRT_E_BAD_HANDLE as i32);
    assert_eq!(wrt_atomic_notify(a, 0, 1), WRT_E_BAD_HANDLE as i64);
}

/// A torn-down memory's addresses are not handed to the next memory at
/// once: a stale raw pointer finds an inaccessible page.
#[test]
fn destroyed_addresses_are_not_reused_at_once() {
    let a = create(1, WRT_NO_MAXIMUM, 0);
    let old = wrt_memory_base(a) as usize;
    assert_eq!(wrt_memory_destroy(a), WRT_OK as i32);
    let b = create(1, WRT_NO_MAXIMUM, 0);
    let new = wrt_memory_base(b) as usize;
    let span = (8u64 << 30) as usize + PAGE as usize;
    assert!(
        new + span <= old || old + span <= new,
        "new memory at {new:#x} overlaps the destroyed one at {old:#x}"
    );
    assert!(protection_at(old).starts_with("---"));
    assert_eq!(wrt_memory_destroy(b), WRT_OK as i32);
}

/// In the child of a fork, `wrt_atfork_child` forgets the waiters of the
/// parent's other threads: a notify counts only the child's own. Before
/// the fix (no such call) the child's notify returned 1 for a waiter that
/// does not exist in it.
#[test]
fn fork_child_forgets_the_parents_waiters() {
    let a = create(1, 1, WRT_MEMORY_SHARED);
    thread::scope(|s| {
        let waiter = sleeping_waiter(s, || wrt_atomic_wait32(a, 0, 0, 20_000_000_000));
        // SAFETY: the child only makes raw wrt_* calls and `_exit`s.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            // SAFETY: the child of a fork, one thread, no wrt_* call yet.
            unsafe { wrt_atfork_child() };
            let ok = wrt_atomic_notify(a, 0, u32::MAX) == 0
                && wrt_memory_grow(a, 0) == 1
                && wrt_memory_fill(a, 0, 7, 16) == WRT_OK as i32
                && wrt_memory_destroy(a) == WRT_OK as i32;
            // SAFETY: ends the child without running the parent's destructors.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status), "child status {status:#x}");
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "child saw the parent's waiter"
        );
        // In the parent the waiter is still there.
        assert_eq!(wrt_atomic_notify(a, 0, u32::MAX), 1);
        assert_eq!(waiter.join().unwrap(), WRT_WAIT_OK);
    });
    assert_eq!(wrt_memory_destroy(a), WRT_OK as i32);
}
