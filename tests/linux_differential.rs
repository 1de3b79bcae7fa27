#![cfg(target_os = "linux")]
//! Differential tests of the raw Linux wrappers in `wrt_platform::os::linux`.
//!
//! Every call is made twice with the same arguments: through our wrapper and
//! through an independent oracle, and both must give the same outcome (the
//! same success value, or the same errno). The oracle is rustix, whose Linux
//! backend is its own raw-syscall implementation; where rustix's types cannot
//! express the bad argument (an invalid or misaligned futex address, an
//! unknown `madvise` advice, futex2) it is `libc::syscall` and `errno`.
//! Each test also checks that the common outcome is the one Linux documents;
//! where qemu-user (which runs the aarch64 tests) answers differently, its
//! answer is accepted too and named at the call site.
//!
//! Covered: `mmap`, `mprotect`, `munmap` and `madvise` with unaligned
//! addresses, length 0, invalid flags, protection bits and advice, an
//! unmapped range, and the successful cases (fresh mapping, length-0
//! `mprotect`, `MADV_DONTNEED` zeroing); `FUTEX_WAIT_BITSET` with a
//! mismatching value, a faulting or misaligned address, invalid and expired
//! deadlines; `FUTEX_WAKE` and futex2 `futex_wake`; `CLOCK_MONOTONIC`;
//! `getpid`; the page size.
//!
//! Every mapping this file makes (or asks for in a call meant to succeed)
//! spans at least two pages, so the kernel never places one made by a
//! concurrently running test into the one-page [`Hole`].

use std::ffi::{c_long, c_void};
use std::fmt::Debug;
use std::io;
use std::num::NonZeroU32;
use std::ptr::{self, NonNull};
use std::slice;
use std::sync::atomic::{AtomicU32, AtomicU64};

use linux_raw_sys::general::{
    __NR_futex_wake, FUTEX_BITSET_MATCH_ANY, MADV_DONTNEED, MADV_NORMAL, MAP_ANONYMOUS, MAP_FIXED,
    MAP_PRIVATE, PROT_READ, PROT_WRITE,
};
use rustix::mm::{Advice, MapFlags, MprotectFlags, ProtFlags};
use rustix::thread::futex as rfutex;
use wrt_platform::PageAllocator;
use wrt_platform::os::linux::time::Timespec;
use wrt_platform::os::linux::{LinuxPages, futex, mm, process, time};

/// A call's outcome reduced to what every side can report: the value, or
/// the positive errno.
type Outcome<T> = Result<T, i32>;

/// The outcomes of ours and of the oracle for one call.
type Pair<T> = (Outcome<T>, Outcome<T>);

/// Converts each side's result type into an [`Outcome`].
trait Reduce<T> {
    fn reduce(self) -> Outcome<T>;
}

impl<T> Reduce<T> for wrt_platform::errno::Result<T> {
    fn reduce(self) -> Outcome<T> {
        self.map_err(|e| i32::from(e.raw()))
    }
}

impl<T> Reduce<T> for rustix::io::Result<T> {
    fn reduce(self) -> Outcome<T> {
        self.map_err(|e| e.raw_os_error())
    }
}

/// Decodes `libc::syscall`'s convention (-1 and `errno`). Call it right
/// after the system call, before anything else can touch `errno`.
fn from_libc(ret: c_long) -> Outcome<c_long> {
    if ret == -1 {
        Err(io::Error::last_os_error()
            .raw_os_error()
            .expect("errno is set"))
    } else {
        Ok(ret)
    }
}

/// Asserts that ours and the oracle agree; returns the common outcome.
#[track_caller]
fn agree<T: PartialEq + Debug>(call: &str, (ours, oracle): Pair<T>) -> Outcome<T> {
    assert_eq!(
        ours, oracle,
        "{call}: ours (left) and the oracle (right) differ"
    );
    ours
}

/// Asserts that both sides fail with `errno`.
#[track_caller]
fn assert_errno<T: PartialEq + Debug>(call: &str, pair: Pair<T>, errno: i32) {
    assert_eq!(
        agree(call, pair),
        Err(errno),
        "{call}: not the documented errno"
    );
}

/// Asserts that both sides agree on one of `allowed`: Linux's answer and
/// the answer of an emulator or older kernel (named at the call site). The
/// agreement is what tests our wrapper; the list checks that the call
/// exercises what the test means it to.
#[track_caller]
fn assert_one_of<T: PartialEq + Debug>(call: &str, pair: Pair<T>, allowed: &[Outcome<T>]) {
    let got = agree(call, pair);
    assert!(
        allowed.contains(&got),
        "{call}: {got:?}, expected one of {allowed:?}"
    );
}

/// The page size, from libc (`AT_PAGESZ`).
fn page() -> usize {
    // SAFETY: sysconf reads no caller memory.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).expect("sysconf(_SC_PAGESIZE)")
}

/// A two-page read-write anonymous private mapping, made by rustix and
/// unmapped on drop. Only the methods below touch its memory.
struct Mapping {
    addr: *mut u8,
}

impl Mapping {
    fn new() -> Self {
        let prot = ProtFlags::READ | ProtFlags::WRITE;
        // SAFETY: no MAP_FIXED: the kernel picks an unused range.
        let addr = unsafe {
            rustix::mm::mmap_anonymous(ptr::null_mut(), 2 * page(), prot, MapFlags::PRIVATE)
        };
        Self {
            addr: addr.expect("fixture mmap").cast(),
        }
    }

    fn len(&self) -> usize {
        2 * page()
    }

    /// `addr + offset`; never dereferenced here.
    fn at(&self, offset: usize) -> *mut u8 {
        self.addr.wrapping_add(offset)
    }

    fn bytes(&mut self) -> &mut [u8] {
        // SAFETY: the whole mapping is readable and writable (no test makes
        // it less accessible), and `&mut self` makes this the only reference.
        unsafe { slice::from_raw_parts_mut(self.addr, self.len()) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `bytes`' borrows have ended; nothing uses the range again.
        let result = unsafe { rustix::mm::munmap(self.addr.cast(), self.len()) };
        result.expect("fixture munmap");
    }
}

/// A page-aligned page that is not mapped: the middle page of a three-page
/// reservation, unmapped, between two `PROT_NONE` pages that stay mapped.
/// No mapping made in this file fits in it (see the module docs).
struct Hole {
    start: *mut u8,
}

impl Hole {
    fn new() -> Self {
        let len = 3 * page();
        // SAFETY: a fresh PROT_NONE mapping replaces nothing.
        let start = unsafe {
            rustix::mm::mmap_anonymous(ptr::null_mut(), len, ProtFlags::empty(), MapFlags::PRIVATE)
        };
        let start: *mut u8 = start.expect("fixture mmap").cast();
        let hole = Self { start };
        // SAFETY: the page is ours and inaccessible, so nothing refers to it.
        unsafe { rustix::mm::munmap(hole.addr().cast(), page()) }.expect("fixture munmap");
        hole
    }

    fn addr(&self) -> *mut u8 {
        self.start.wrapping_add(page())
    }
}

impl Drop for Hole {
    fn drop(&mut self) {
        // SAFETY: the flanking pages are inaccessible and never referenced.
        let result = unsafe { rustix::mm::munmap(self.start.cast(), 3 * page()) };
        result.expect("fixture munmap");
    }
}

// ---------------------------------------------------------------- mm calls

/// Anonymous `mmap(addr, len, PROT_READ | PROT_WRITE, flags, -1, 0)` through
/// ours (`ours_flags`, MAP_ANONYMOUS included) and through rustix's
/// `mmap_anonymous` (`oracle_flags`; rustix adds MAP_ANONYMOUS).
///
/// # Safety
/// As for [`mm::mmap`], for both calls.
unsafe fn mmap_anon(
    addr: *mut u8,
    len: usize,
    ours_flags: u32,
    oracle_flags: MapFlags,
) -> Pair<*mut u8> {
    let prot = ProtFlags::READ | ProtFlags::WRITE;
    // SAFETY: forwarded to the caller.
    let ours = unsafe { mm::mmap(addr, len, PROT_READ | PROT_WRITE, ours_flags, -1, 0) };
    // SAFETY: forwarded to the caller.
    let oracle = unsafe { rustix::mm::mmap_anonymous(addr.cast(), len, prot, oracle_flags) };
    (
        ours.reduce().map(NonNull::as_ptr),
        oracle.reduce().map(<*mut c_void>::cast),
    )
}

/// `mprotect(addr, len, prot)` through ours and through rustix.
///
/// # Safety
/// As for [`mm::mprotect`].
unsafe fn mprotect_both(addr: *mut u8, len: usize, prot: u32) -> Pair<()> {
    // SAFETY: forwarded to the caller.
    let ours = unsafe { mm::mprotect(addr, len, prot) };
    let flags = MprotectFlags::from_bits_retain(prot);
    // SAFETY: forwarded to the caller.
    let oracle = unsafe { rustix::mm::mprotect(addr.cast(), len, flags) };
    (ours.reduce(), oracle.reduce())
}

/// `munmap(addr, len)` through ours and through rustix.
///
/// # Safety
/// As for [`mm::munmap`].
unsafe fn munmap_both(addr: *mut u8, len: usize) -> Pair<()> {
    // SAFETY: forwarded to the caller.
    let ours = unsafe { mm::munmap(addr, len) };
    // SAFETY: forwarded to the caller.
    let oracle = unsafe { rustix::mm::munmap(addr.cast(), len) };
    (ours.reduce(), oracle.reduce())
}

/// `madvise(addr, len, advice)` through ours (`ours_advice`) and through
/// rustix (`oracle_advice`, the same advice by rustix's name).
///
/// # Safety
/// As for [`mm::madvise`].
unsafe fn madvise_both(
    addr: *mut u8,
    len: usize,
    ours_advice: u32,
    oracle_advice: Advice,
) -> Pair<()> {
    // SAFETY: forwarded to the caller.
    let ours = unsafe { mm::madvise(addr, len, ours_advice) };
    // SAFETY: forwarded to the caller.
    let oracle = unsafe { rustix::mm::madvise(addr.cast(), len, oracle_advice) };
    (ours.reduce(), oracle.reduce())
}

/// The `1` argument of the raw futex calls, typed for `libc::syscall`.
const ONE: c_long = 1;

const ANON_PRIVATE: u32 = MAP_PRIVATE | MAP_ANONYMOUS;

#[test]
fn mmap_length_zero_is_einval() {
    // SAFETY: no MAP_FIXED.
    let pair = unsafe { mmap_anon(ptr::null_mut(), 0, ANON_PRIVATE, MapFlags::PRIVATE) };
    assert_errno("mmap(len 0)", pair, libc::EINVAL);
}

#[test]
fn mmap_fixed_unaligned_is_einval() {
    let target = Mapping::new();
    // SAFETY: MAP_FIXED inside `target`, which nothing refers to: even if
    // accepted, the call would replace only memory of ours that is unused.
    let pair = unsafe {
        mmap_anon(
            target.at(1),
            page(),
            ANON_PRIVATE | MAP_FIXED,
            MapFlags::PRIVATE | MapFlags::FIXED,
        )
    };
    assert_errno("mmap(MAP_FIXED, addr + 1)", pair, libc::EINVAL);
}

#[test]
fn mmap_without_private_or_shared_is_einval() {
    // SAFETY: no MAP_FIXED.
    let pair = unsafe { mmap_anon(ptr::null_mut(), page(), MAP_ANONYMOUS, MapFlags::empty()) };
    assert_errno("mmap(MAP_ANONYMOUS only)", pair, libc::EINVAL);
}

#[test]
fn mmap_anonymous_private_succeeds_page_aligned() {
    let len = 2 * page();
    // SAFETY: no MAP_FIXED.
    let (ours, oracle) =
        unsafe { mmap_anon(ptr::null_mut(), len, ANON_PRIVATE, MapFlags::PRIVATE) };
    let (ours, oracle) = (ours.expect("ours"), oracle.expect("rustix"));
    assert_ne!(ours, oracle, "two live mappings at one address");
    for addr in [ours, oracle] {
        assert_eq!(addr.addr() % page(), 0, "{addr:p} is not page-aligned");
        // SAFETY: a fresh read-write mapping of `len` bytes; this is the
        // only reference, dropped before the munmap below.
        let bytes = unsafe { slice::from_raw_parts_mut(addr, len) };
        assert!(
            bytes.iter().all(|&b| b == 0),
            "fresh anonymous memory is not zero"
        );
        bytes.fill(0x5a);
    }
    // Each side unmaps the other's mapping.
    // SAFETY: the mapping is unused from here on.
    let by_ours = unsafe { mm::munmap(oracle, len) };
    // SAFETY: as above.
    let by_oracle = unsafe { rustix::mm::munmap(ours.cast(), len) };
    let pair = (by_ours.reduce(), by_oracle.reduce());
    assert_eq!(agree("munmap(fresh mapping)", pair), Ok(()));
}

#[test]
fn mprotect_unaligned_is_einval() {
    let m = Mapping::new();
    // SAFETY: the range lies in `m`, which nothing refers to now.
    let pair = unsafe { mprotect_both(m.at(1), page(), PROT_READ) };
    assert_errno("mprotect(addr + 1)", pair, libc::EINVAL);
}

#[test]
fn mprotect_invalid_prot_bits_is_einval() {
    let m = Mapping::new();
    // SAFETY: as above; a refused call changes nothing.
    let pair = unsafe { mprotect_both(m.at(0), page(), 0x1000_0000) };
    assert_errno("mprotect(prot 0x1000_0000)", pair, libc::EINVAL);
}

#[test]
fn mprotect_length_zero_succeeds() {
    let mut m = Mapping::new();
    // SAFETY: a length-0 range changes no protection.
    let pair = unsafe { mprotect_both(m.at(0), 0, PROT_READ) };
    // Linux returns 0 before looking at the range; qemu-user 7.2 says
    // ENOMEM (its range check rejects length 0; later qemu returns 0).
    assert_one_of("mprotect(len 0)", pair, &[Ok(()), Err(libc::ENOMEM)]);
    // The mapping is still writable.
    m.bytes()[0] = 1;
}

#[test]
fn mprotect_unmapped_range_is_enomem() {
    let hole = Hole::new();
    // SAFETY: nothing is mapped at the hole.
    let pair = unsafe { mprotect_both(hole.addr(), page(), PROT_READ) };
    assert_errno("mprotect(unmapped)", pair, libc::ENOMEM);
}

#[test]
fn munmap_length_zero_is_einval() {
    let m = Mapping::new();
    // SAFETY: even if accepted, a length-0 munmap removes nothing.
    let pair = unsafe { munmap_both(m.at(0), 0) };
    assert_errno("munmap(len 0)", pair, libc::EINVAL);
}

#[test]
fn munmap_unaligned_is_einval() {
    let m = Mapping::new();
    // SAFETY: the range lies in `m`, which nothing refers to; `m`'s drop
    // would tolerate an already unmapped page.
    let pair = unsafe { munmap_both(m.at(1), page()) };
    assert_errno("munmap(addr + 1)", pair, libc::EINVAL);
}

#[test]
fn madvise_unaligned_is_einval() {
    let m = Mapping::new();
    // SAFETY: MADV_NORMAL is not destructive.
    let pair = unsafe { madvise_both(m.at(1), page(), MADV_NORMAL, Advice::Normal) };
    assert_errno("madvise(addr + 1)", pair, libc::EINVAL);
}

#[test]
fn madvise_unknown_advice_is_einval() {
    const ADVICE: u32 = 9999;
    let m = Mapping::new();
    // SAFETY: an unknown advice is refused (and nothing refers to `m`).
    let ours = unsafe { mm::madvise(m.at(0), page(), ADVICE) };
    // SAFETY: as above.
    let oracle = from_libc(unsafe {
        libc::syscall(libc::SYS_madvise, m.at(0), page(), c_long::from(ADVICE))
    });
    // Linux: EINVAL. qemu-user returns 0 for every advice it does not
    // emulate, taking it as a hint (linux-user/mmap.c, target_madvise).
    let pair = (ours.reduce(), oracle.map(drop));
    assert_one_of("madvise(9999)", pair, &[Err(libc::EINVAL), Ok(())]);
}

#[test]
fn madvise_dontneed_zeroes_in_both() {
    let (mut a, mut b) = (Mapping::new(), Mapping::new());
    a.bytes().fill(0xa5);
    b.bytes().fill(0xa5);
    // SAFETY: `a` is our private anonymous mapping and the borrow from
    // `bytes` has ended.
    let ours = unsafe { mm::madvise(a.at(0), a.len(), MADV_DONTNEED) };
    // SAFETY: as above, for `b`.
    let oracle = unsafe { rustix::mm::madvise(b.at(0).cast(), b.len(), Advice::LinuxDontNeed) };
    let (ours, oracle) = (ours.reduce(), oracle.reduce());
    assert_eq!(agree("madvise(MADV_DONTNEED)", (ours, oracle)), Ok(()));
    assert!(
        a.bytes().iter().all(|&x| x == 0),
        "ours: MADV_DONTNEED did not zero"
    );
    assert!(
        b.bytes().iter().all(|&x| x == 0),
        "rustix: MADV_DONTNEED did not zero"
    );
}

// ------------------------------------------------------------- futex calls

/// `FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG` on `word` with an optional
/// absolute `(tv_sec, tv_nsec)` deadline, through ours and through rustix.
fn wait_vs_rustix(word: &AtomicU32, expected: u32, deadline: Option<(i64, i64)>) -> Pair<()> {
    let ours_ts = deadline.map(|(tv_sec, tv_nsec)| Timespec { tv_sec, tv_nsec });
    let oracle_ts = deadline.map(|(tv_sec, tv_nsec)| rfutex::Timespec { tv_sec, tv_nsec });
    // SAFETY: `word` is a live AtomicU32, so every access to it is atomic.
    let ours = unsafe { futex::futex_wait_bitset(word.as_ptr(), expected, ours_ts.as_ref()) };
    let match_any = NonZeroU32::new(FUTEX_BITSET_MATCH_ANY).expect("nonzero bitset");
    let oracle = rfutex::wait_bitset(
        word,
        rfutex::Flags::PRIVATE,
        expected,
        oracle_ts.as_ref(),
        match_any,
    );
    (ours.reduce(), oracle.reduce())
}

/// As [`wait_vs_rustix`] for an arbitrary address, with
/// `libc::syscall(SYS_futex, ...)` (and libc's constants) as the oracle.
///
/// # Safety
/// As for [`futex::futex_wait_bitset`].
unsafe fn wait_vs_libc(uaddr: *const u32, expected: u32, deadline: Option<(i64, i64)>) -> Pair<()> {
    let ours_ts = deadline.map(|(tv_sec, tv_nsec)| Timespec { tv_sec, tv_nsec });
    let oracle_ts = deadline.map(|(tv_sec, tv_nsec)| libc::timespec { tv_sec, tv_nsec });
    let oracle_ts_ptr = oracle_ts.as_ref().map_or(ptr::null(), ptr::from_ref);
    // SAFETY: forwarded to the caller.
    let ours = unsafe { futex::futex_wait_bitset(uaddr, expected, ours_ts.as_ref()) };
    // SAFETY: forwarded to the caller; `oracle_ts` outlives the call.
    let oracle = from_libc(unsafe {
        libc::syscall(
            libc::SYS_futex,
            uaddr,
            c_long::from(libc::FUTEX_WAIT_BITSET | libc::FUTEX_PRIVATE_FLAG),
            c_long::from(expected),
            oracle_ts_ptr,
            ptr::null::<u32>(),
            c_long::from(libc::FUTEX_BITSET_MATCH_ANY),
        )
    });
    (ours.reduce(), oracle.map(drop))
}

/// The current monotonic time as `(tv_sec, tv_nsec)`, already in the past
/// when used as a deadline.
fn now() -> (i64, i64) {
    let ts = time::monotonic_timespec().expect("clock_gettime");
    (ts.tv_sec, ts.tv_nsec)
}

#[test]
fn futex_wait_mismatch_is_eagain() {
    let word = AtomicU32::new(1);
    assert_errno(
        "futex_wait(value 1, expected 0)",
        wait_vs_rustix(&word, 0, None),
        libc::EAGAIN,
    );
}

#[test]
fn futex_wait_past_deadline_is_etimedout() {
    let word = AtomicU32::new(7);
    let pair = wait_vs_rustix(&word, 7, Some(now()));
    assert_errno("futex_wait(deadline = now)", pair, libc::ETIMEDOUT);
}

#[test]
fn futex_wait_invalid_deadline_is_einval() {
    let word = AtomicU32::new(7);
    // tv_sec 0 keeps a wrongly accepted deadline from blocking the test.
    for deadline in [(0, 1_000_000_000), (0, i64::MAX), (0, -1), (-1, 0)] {
        let pair = wait_vs_rustix(&word, 7, Some(deadline));
        assert_errno(
            &format!("futex_wait(deadline {deadline:?})"),
            pair,
            libc::EINVAL,
        );
    }
}

#[test]
fn futex_wait_unmapped_address_is_efault() {
    let hole = Hole::new();
    let inaccessible = hole.start; // a PROT_NONE page of the fixture
    for (what, uaddr) in [("unmapped", hole.addr()), ("PROT_NONE", inaccessible)] {
        // SAFETY: the kernel cannot read either page, and nothing else
        // accesses them. A past deadline bounds the wait should it be
        // accepted.
        let pair = unsafe { wait_vs_libc(uaddr.cast(), 0, Some(now())) };
        assert_errno(&format!("futex_wait({what} page)"), pair, libc::EFAULT);
    }
}

#[test]
fn futex_misaligned_address_is_einval() {
    let words = AtomicU64::new(0);
    let uaddr: *const u32 = words.as_ptr().cast::<u8>().wrapping_add(1).cast();
    // SAFETY: `uaddr` points into `words`, which is only accessed
    // atomically; a past deadline bounds the wait should it be accepted.
    let pair = unsafe { wait_vs_libc(uaddr, 0, Some(now())) };
    assert_errno("futex_wait(addr + 1)", pair, libc::EINVAL);

    // SAFETY: FUTEX_WAKE reads no memory.
    let ours = unsafe { futex::futex_wake(uaddr, 1) };
    // SAFETY: as above.
    let oracle = from_libc(unsafe {
        libc::syscall(
            libc::SYS_futex,
            uaddr,
            c_long::from(libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG),
            ONE,
        )
    });
    assert_errno(
        "futex_wake(addr + 1)",
        (ours.reduce().map(drop), oracle.map(drop)),
        libc::EINVAL,
    );
}

#[test]
fn futex_wake_without_waiters_wakes_none() {
    let word = AtomicU32::new(0);
    for n in [0, 1, i32::MAX as u32] {
        // SAFETY: `word` is a live AtomicU32.
        let ours = unsafe { futex::futex_wake(word.as_ptr(), n) }
            .reduce()
            .map(|w| w as usize);
        let oracle = rfutex::wake(&word, rfutex::Flags::PRIVATE, n).reduce();
        assert_eq!(agree(&format!("futex_wake(n {n})"), (ours, oracle)), Ok(0));
    }
}

#[test]
fn futex2_wake_matches_raw_syscall() {
    let word = AtomicU32::new(0);
    let flags = c_long::from(libc::FUTEX2_SIZE_U32 | libc::FUTEX2_PRIVATE);
    // (mask, the outcome on a kernel with futex2); ENOSYS without futex2
    // (Linux < 6.7, qemu-user), in which case both sides must say so.
    for (mask, with_futex2) in [(FUTEX_BITSET_MATCH_ANY, Ok(0)), (0, Err(libc::EINVAL))] {
        // SAFETY: `word` is a live AtomicU32; futex_wake reads no memory.
        let ours = unsafe { futex::futex2_wake(word.as_ptr(), mask, 1) };
        // SAFETY: as above.
        let oracle = from_libc(unsafe {
            libc::syscall(
                c_long::from(__NR_futex_wake),
                word.as_ptr(),
                c_long::from(mask),
                ONE,
                flags,
            )
        });
        let ours = ours.reduce().map(c_long::from);
        let call = format!("futex_wake(mask {mask:#x})");
        assert_one_of(&call, (ours, oracle), &[with_futex2, Err(libc::ENOSYS)]);
    }
}

// ------------------------------------------------------- other system calls

#[test]
fn getpid_matches() {
    let ours = process::getpid();
    // SAFETY: getpid has no preconditions.
    let libc_pid = unsafe { libc::getpid() };
    let rustix_pid = rustix::process::getpid().as_raw_nonzero().get();
    assert_eq!(i64::from(ours), i64::from(libc_pid), "ours vs libc");
    assert_eq!(i64::from(ours), i64::from(rustix_pid), "ours vs rustix");
}

#[test]
fn monotonic_clock_matches() {
    let before = now();
    let oracle = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    let oracle = (oracle.tv_sec, oracle.tv_nsec);
    let after = now();
    for ts in [before, oracle, after] {
        assert!(
            (0..1_000_000_000).contains(&ts.1),
            "tv_nsec out of range: {ts:?}"
        );
    }
    assert!(
        before <= oracle && oracle <= after,
        "not monotonic: {before:?} {oracle:?} {after:?}"
    );
}

#[test]
fn page_size_matches() {
    let ours = LinuxPages::new().expect("LinuxPages::new").page_size();
    assert_eq!(ours, page());
}
