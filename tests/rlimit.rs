//! Fault tolerance through the C ABI when the OS really refuses memory.
//!
//! In a forked child: a memory is created and filled, then RLIMIT_DATA is
//! set just above the process's current data size, so the kernel refuses
//! the `mprotect` that makes new pages writable ("check space limits when
//! area turns into data", mm/mprotect.c). `wrt_memory_grow` must report
//! `WRT_E_OUT_OF_MEMORY` with size and contents unchanged, and the memory
//! must keep working (a grow that fits, reads, writes). Then RLIMIT_AS is
//! set just above the current address-space size, so a new 8 GiB
//! reservation fails with `WRT_E_OUT_OF_MEMORY` and the old memory is
//! unaffected.
//!
//! qemu-user does not apply RLIMIT_AS or RLIMIT_DATA to the guest (it
//! would limit the emulator itself), so under qemu the child finds the
//! limits unenforced and the test says so instead of pretending; the
//! rollback itself is covered on every target by `tests/memory.rs`
//! (`a_grow_refused_half_way_changes_nothing`).
#![cfg(target_os = "linux")]

use wrt_platform::capi::*;

const PAGE: u64 = 65536;
const OK: i32 = WRT_OK as i32;

/// `Vm<field>` of /proc/self/status, in bytes (read without allocating:
/// the child of a fork must not call malloc).
fn vm_bytes(field: &[u8]) -> u64 {
    use std::io::Read;
    let mut buf = [0u8; 4096];
    let mut f = std::fs::File::open("/proc/self/status").unwrap();
    let n = f.read(&mut buf).unwrap();
    let text = &buf[..n];
    let at = text
        .windows(field.len())
        .position(|w| w == field)
        .expect("field in status");
    let digits: u64 = text[at + field.len()..]
        .iter()
        .skip_while(|b| !b.is_ascii_digit())
        .take_while(|b| b.is_ascii_digit())
        .fold(0, |acc, b| acc * 10 + u64::from(b - b'0'));
    digits * 1024
}

/// Sets a soft limit (a macro: the resource's type differs between glibc
/// and musl).
macro_rules! set_limit {
    ($resource:expr, $bytes:expr) => {{
        let lim = libc::rlimit {
            rlim_cur: $bytes,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: plain system call with a valid pointer.
        assert_eq!(unsafe { libc::setrlimit($resource, &lim) }, 0);
    }};
}

fn checksum(m: wrt_memory_t) -> u64 {
    let base = wrt_memory_base(m);
    let len = wrt_memory_size(m) as usize * PAGE as usize;
    // SAFETY: `len` bytes from `base` are committed.
    let bytes = unsafe { std::slice::from_raw_parts(base, len) };
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// The child's checks; returns the exit status (0 = passed, 2 = limits not
/// enforced by this environment, other = the failing step).
fn child() -> i32 {
    let mut m = 0;
    // SAFETY: valid out-pointer.
    if unsafe { wrt_memory_create(2, 1024, WRT_MEMORY_EXPLICIT_BOUNDS, &mut m) } != OK {
        return 10;
    }
    for i in (0..2 * PAGE).step_by(97) {
        wrt_memory_fill(m, i, (i % 253) as u8, 1);
    }
    let before = checksum(m);

    set_limit!(libc::RLIMIT_DATA, vm_bytes(b"VmData:") + (1 << 20));
    let grown = wrt_memory_grow(m, 64); // 4 MiB: over the 1 MiB headroom
    if grown >= 0 {
        return 2; // the limit was not applied (qemu-user)
    }
    if grown != WRT_E_OUT_OF_MEMORY as i64 {
        return 11;
    }
    if wrt_memory_size(m) != 2 || checksum(m) != before {
        return 12;
    }
    if wrt_memory_grow(m, 1) != 2 || wrt_memory_fill(m, 2 * PAGE, 0x5A, PAGE) != OK {
        return 13; // a grow within the limit still works, and so do writes
    }
    if wrt_memory_copy(m, 2 * PAGE, 0, PAGE) != OK || checksum(m) == before {
        return 14;
    }

    set_limit!(libc::RLIMIT_AS, vm_bytes(b"VmSize:") + (16 << 20));
    let mut big = 0;
    // SAFETY: valid out-pointer.
    let code = unsafe { wrt_memory_create(1, WRT_NO_MAXIMUM, 0, &mut big) };
    if code != WRT_E_OUT_OF_MEMORY as i32 || big != 0 {
        return 15;
    }
    if wrt_memory_fill(m, 0, 1, 3 * PAGE) != OK || wrt_memory_destroy(m) != OK {
        return 16;
    }
    0
}

#[test]
fn os_refusal_is_reported_and_changes_nothing() {
    // SAFETY: this test binary runs one test, so the child has no other
    // thread's locks to inherit; it leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        let status = child();
        // SAFETY: leaves the child without running the parent's handlers.
        unsafe { libc::_exit(status) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(libc::WIFEXITED(status), "child crashed: {status:#x}");
    match libc::WEXITSTATUS(status) {
        0 => {}
        2 => {
            let emulated = std::env::var_os("WRT_EXPECT_CPU").is_some();
            assert!(emulated, "RLIMIT_DATA was not enforced natively");
            println!("rlimit: not enforced under qemu-user; covered by tests/memory.rs rollback");
        }
        step => panic!("child failed at step {step}"),
    }
}
