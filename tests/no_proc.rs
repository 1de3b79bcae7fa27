#![cfg(target_os = "linux")]
//! Creating memory does not depend on `/proc/self/auxv` (issue 15, defect 6).
//!
//! Each test forks a child, makes `/proc/self/auxv` unreadable in it the
//! way a sandbox or a hardened program does, and then creates memory
//! through both the Rust API (`LinuxPages`) and the C ABI
//! (`wrt_memory_create`), checks the page size against libc's (read in
//! the parent before the fork) and writes and reads the memory:
//!
//! * a tmpfs mounted over `/proc` in a private mount namespace (a
//!   container or chroot without `/proc`);
//! * a non-dumpable process (`PR_SET_DUMPABLE 0`) running as uid 65534
//!   (what a setgid or file-capability program is);
//! * a seccomp filter that fails `openat` with EACCES and
//!   `prctl(PR_GET_AUXV)` with EINVAL (a sandbox on a kernel before 6.4):
//!   neither source of the auxiliary vector answers, so the page size must
//!   come from the mapping probe and the hardening features read as absent.
//!
//! The library caches the auxiliary vector per process, and a forked child
//! inherits the cache. So this file never calls the library in the parent
//! process: every test does its work in a child, and the children's caches
//! start empty.
//!
//! Under qemu-user the emulator answers `/proc/self/auxv` itself (it
//! synthesises the file for the guest whatever is mounted on `/proc` and
//! whoever the process is), and qemu 7.2 refuses to install seccomp
//! filters, so there these tests check that nothing breaks but cannot
//! reproduce the defect; each source alone, the mapping probe included, is
//! checked there by the unit test `each_source_agrees_with_libc` in
//! `src/os/linux/probe.rs`.

use std::ffi::CStr;
use std::ptr;

use wrt_platform::PageAllocator;
use wrt_platform::capi::{wrt_memory_base, wrt_memory_create, wrt_memory_destroy};
use wrt_platform::os::linux::{AuxvSource, Capabilities, LinuxPages};

/// The child's verdicts (its exit status).
const OK: i32 = 0;
/// The sandbox could not be set up (reported, and failed natively).
const SETUP_UNAVAILABLE: i32 = 10;
/// `/proc/self/auxv` was still readable after the setup.
const AUXV_STILL_READABLE: i32 = 11;
const PAGES_NEW_FAILED: i32 = 20;
const PAGE_SIZE_WRONG: i32 = 21;
const CREATE_FAILED: i32 = 30;
const MEMORY_UNUSABLE: i32 = 31;
const DESTROY_FAILED: i32 = 32;
const DETECT_FAILED: i32 = 40;
const HARDENING_NOT_ABSENT: i32 = 41;
const WRONG_SOURCE: i32 = 42;

fn verdict(code: i32) -> &'static str {
    match code {
        OK => "ok",
        SETUP_UNAVAILABLE => "the sandbox could not be set up",
        AUXV_STILL_READABLE => "/proc/self/auxv was still readable in the sandbox",
        PAGES_NEW_FAILED => "LinuxPages::new failed",
        PAGE_SIZE_WRONG => "LinuxPages reports a page size other than libc's",
        CREATE_FAILED => "wrt_memory_create failed",
        MEMORY_UNUSABLE => "the new memory could not be written and read back",
        DESTROY_FAILED => "wrt_memory_destroy failed",
        DETECT_FAILED => "Capabilities::detect failed",
        HARDENING_NOT_ABSENT => "MTE/BTI/PAC reported present with no auxiliary vector",
        WRONG_SOURCE => "the auxiliary vector's source is not the one expected",
        _ => "unexpected exit status",
    }
}

/// Set when the tests run under qemu-user (scripts/test sets it there).
fn emulated() -> bool {
    std::env::var_os("WRT_EXPECT_CPU").is_some()
}

/// Whether `/proc/self/auxv` can be opened (through libc: under qemu-user
/// the emulator's answer).
fn auxv_readable() -> bool {
    let path: &CStr = c"/proc/self/auxv";
    // SAFETY: a NUL-terminated path; the descriptor is closed below.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return false;
    }
    // SAFETY: `fd` was opened above.
    unsafe { libc::close(fd) };
    true
}

/// Runs `setup` and then the checks in a forked child; returns its exit
/// status. The child allocates nothing and leaves with `_exit`.
fn in_child(setup: fn() -> bool, expect_source: Option<AuxvSource>) -> i32 {
    // SAFETY: sysconf reads no caller memory.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    // SAFETY: the child makes only system calls and lock-free library calls
    // (no allocation) and leaves with `_exit`.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = if !setup() {
            SETUP_UNAVAILABLE
        } else if auxv_readable() && !emulated() {
            AUXV_STILL_READABLE
        } else {
            checks(page, expect_source)
        };
        // SAFETY: leaves the child without running the parent's handlers.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: `pid` is our child; `status` is a valid out-pointer.
    let waited = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(waited, pid, "waitpid failed");
    assert!(
        libc::WIFEXITED(status),
        "child died of signal {}",
        libc::WTERMSIG(status)
    );
    libc::WEXITSTATUS(status)
}

/// What every sandbox must still allow. `page` is libc's page size.
fn checks(page: usize, expect_source: Option<AuxvSource>) -> i32 {
    let Ok(pages) = LinuxPages::new() else {
        return PAGES_NEW_FAILED;
    };
    if pages.page_size() != page {
        return PAGE_SIZE_WRONG;
    }
    let mut handle = 0;
    // SAFETY: `handle` is a valid out-pointer.
    if unsafe { wrt_memory_create(1, 2, 0, &mut handle) } != 0 {
        return CREATE_FAILED;
    }
    let base = wrt_memory_base(handle);
    if base.is_null() {
        return MEMORY_UNUSABLE;
    }
    let last = base.wrapping_add(65535);
    // SAFETY: one Wasm page (64 KiB) is committed read-write at
    // `base`, and nothing else refers to it.
    let zero = unsafe { ptr::read_volatile(last) };
    // SAFETY: as above.
    unsafe { ptr::write_volatile(base, 0x5a) };
    // SAFETY: as above.
    unsafe { ptr::write_volatile(last, 0xa5) };
    // SAFETY: as above.
    let first = unsafe { ptr::read_volatile(base) };
    // SAFETY: as above.
    if (zero, first, unsafe { ptr::read_volatile(last) }) != (0, 0x5a, 0xa5) {
        return MEMORY_UNUSABLE;
    }
    if wrt_memory_destroy(handle) != 0 {
        return DESTROY_FAILED;
    }
    let Ok(caps) = Capabilities::detect() else {
        return DETECT_FAILED;
    };
    if caps.auxv.page_size != page {
        return PAGE_SIZE_WRONG;
    }
    if let Some(source) = expect_source {
        if caps.auxv.source != source {
            return WRONG_SOURCE;
        }
        if source == AuxvSource::Probed && (caps.mte || caps.bti || caps.pac) {
            return HARDENING_NOT_ABSENT;
        }
    }
    OK
}

fn assert_child(what: &str, code: i32) {
    if code == SETUP_UNAVAILABLE && emulated() {
        eprintln!("{what}: skipped under qemu-user: {}", verdict(code));
        return;
    }
    assert_eq!(code, OK, "{what}: child: {}", verdict(code));
}

/// A private mount namespace (in a new user namespace when not root) with
/// a tmpfs over `/proc`.
fn hide_proc() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let flags = if root {
        libc::CLONE_NEWNS
    } else {
        libc::CLONE_NEWNS | libc::CLONE_NEWUSER
    };
    // SAFETY: a plain system call in a single-threaded child.
    if unsafe { libc::unshare(flags) } != 0 {
        return false;
    }
    // Never let the tmpfs propagate to the parent namespace.
    let private = libc::MS_REC | libc::MS_PRIVATE;
    // SAFETY: NUL-terminated strings or NULL, as mount(2) takes them.
    let made_private = unsafe {
        libc::mount(
            ptr::null(),
            c"/".as_ptr(),
            ptr::null(),
            private,
            ptr::null(),
        )
    };
    if made_private != 0 {
        return false;
    }
    let (none, proc, tmpfs) = (c"none", c"/proc", c"tmpfs");
    // SAFETY: as above.
    let mounted =
        unsafe { libc::mount(none.as_ptr(), proc.as_ptr(), tmpfs.as_ptr(), 0, ptr::null()) };
    mounted == 0
}

/// Not dumpable, and not root: `/proc/self/auxv` belongs to root then.
fn not_dumpable() -> bool {
    // SAFETY: a plain system call in a single-threaded child.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return false;
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return true;
    }
    // SAFETY: a plain system call in a single-threaded child.
    let gid = unsafe { libc::setgid(65534) };
    // SAFETY: as above.
    gid == 0 && unsafe { libc::setuid(65534) } == 0
}

// Classic BPF, as seccomp runs it (linux/filter.h, linux/seccomp.h).
/// `BPF_LD | BPF_W | BPF_ABS` (0x00 | 0x00 | 0x20).
const BPF_LD_W_ABS: u16 = 0x20;
/// `BPF_JMP | BPF_JEQ | BPF_K` (0x05 | 0x10 | 0x00).
const BPF_JEQ_K: u16 = 0x15;
/// `BPF_RET | BPF_K` (0x06 | 0x00).
const BPF_RET_K: u16 = 0x06;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const PR_GET_AUXV: u32 = 0x4155_5856;

const fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

const fn jeq(k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: BPF_JEQ_K,
        jt,
        jf,
        k,
    }
}

/// `openat` fails with EACCES, `prctl(PR_GET_AUXV, ..)` with EINVAL (as
/// on a kernel before 6.4); everything else is allowed. Offsets are
/// `struct seccomp_data`'s: `nr` at 0, the low half of `args[0]` at 16
/// (little-endian: both targets here are).
fn deny_auxv_sources() -> bool {
    let filter = [
        stmt(BPF_LD_W_ABS, 0),
        jeq(libc::SYS_openat as u32, 0, 1),
        stmt(BPF_RET_K, SECCOMP_RET_ERRNO | libc::EACCES as u32),
        jeq(libc::SYS_prctl as u32, 0, 3),
        stmt(BPF_LD_W_ABS, 16),
        jeq(PR_GET_AUXV, 0, 1),
        stmt(BPF_RET_K, SECCOMP_RET_ERRNO | libc::EINVAL as u32),
        stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr().cast_mut(),
    };
    // SAFETY: a plain system call in a single-threaded child.
    if unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } != 0 {
        return false;
    }
    let prog = &prog as *const libc::sock_fprog;
    // SAFETY: `prog` and `filter` outlive the call (the kernel copies the
    // program).
    unsafe { libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, prog) == 0 }
}

#[test]
fn memory_without_proc_mounted() {
    assert_child("tmpfs over /proc", in_child(hide_proc, None));
}

#[test]
fn memory_when_not_dumpable() {
    assert_child("not dumpable, uid 65534", in_child(not_dumpable, None));
}

#[test]
fn memory_when_seccomp_denies_both_auxv_sources() {
    let expect = if emulated() {
        None
    } else {
        Some(AuxvSource::Probed)
    };
    assert_child("seccomp", in_child(deny_auxv_sources, expect));
}
