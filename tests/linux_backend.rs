//! Linux-specific behaviour beyond the shared conformance suite: the
//! no-return trap wrapper, EINTR handling in timed waits, the hardening
//! protections, and the probe's answers for the emulated CPU.
#![cfg(target_os = "linux")]

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wrt_platform::os::linux::{Capabilities, LinuxFutex, LinuxPages, process};
use wrt_platform::{Errno, FutexLike, PageAllocator, Protection, ReserveOptions, WaitOutcome};

/// `exit_group` ends the process with the given status (checked in a child).
#[test]
fn exit_group_sets_the_exit_status() {
    // SAFETY: the child only makes one raw system call.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0);
    if pid == 0 {
        process::exit_group(42);
    }
    let mut status = 0;
    // SAFETY: `pid` is our child.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status),
        "child did not exit normally: {status:#x}"
    );
    assert_eq!(libc::WEXITSTATUS(status), 42);
}

#[test]
fn getpid_matches_libc() {
    // SAFETY: getpid is always safe.
    assert_eq!(process::getpid() as i32, unsafe { libc::getpid() });
}

static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_signal(_sig: libc::c_int) {
    SIGNALS.fetch_add(1, Ordering::Relaxed);
}

/// A storm of signals (handler installed without SA_RESTART, so the futex
/// call returns EINTR) must not extend a timed wait: the deadline is
/// absolute and re-used after each EINTR.
#[test]
fn eintr_never_extends_a_timeout() {
    // SAFETY: an all-zero sigaction is a valid value (no handler, no flags).
    let mut sa: libc::sigaction = unsafe { std::mem::zeroed() };
    sa.sa_sigaction = count_signal as *const () as usize;
    sa.sa_flags = 0; // no SA_RESTART: the futex call returns EINTR
    // SAFETY: `sa.sa_mask` is a valid sigset_t to initialise.
    unsafe { libc::sigemptyset(&mut sa.sa_mask) };
    // SAFETY: installs a handler that only touches an atomic.
    let installed = unsafe { libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()) };
    assert_eq!(installed, 0);
    let timeout = Duration::from_millis(300);
    let done = AtomicU32::new(0);
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel::<usize>();
        let done = &done;
        let waiter = s.spawn(move || {
            // SAFETY: pthread_self is always safe.
            tx.send(unsafe { libc::pthread_self() } as usize).unwrap();
            let word = AtomicU32::new(0);
            let t0 = Instant::now();
            let r = LinuxFutex.wait(&word, 0, Some(timeout));
            done.store(1, Ordering::Release);
            (r, t0.elapsed())
        });
        // pthread_t is an integer on glibc and a pointer on musl.
        let thread = rx.recv().unwrap() as libc::pthread_t;
        let storm_start = Instant::now();
        while done.load(Ordering::Acquire) == 0 && storm_start.elapsed() < Duration::from_secs(3) {
            // SAFETY: the thread is alive until `done` is set (scope joins).
            unsafe { libc::pthread_kill(thread, libc::SIGUSR1) };
            std::thread::sleep(Duration::from_millis(2));
        }
        let (r, took) = waiter.join().unwrap();
        assert_eq!(r, Ok(WaitOutcome::TimedOut));
        assert!(took >= timeout, "returned early after {took:?}");
        // A wait that restarted its timeout on EINTR would outlive the
        // 3 s storm; 2 s leaves a loaded machine room to schedule us late.
        assert!(
            took < Duration::from_secs(2),
            "EINTR extended the wait to {took:?}"
        );
    });
    assert!(
        SIGNALS.load(Ordering::Relaxed) > 0,
        "no signal was delivered"
    );
}

/// What the test expects of the CPU: `WRT_EXPECT_CPU` is set by
/// scripts/test to the qemu `-cpu` it runs under (`max` or `cortex-a57`);
/// natively on x86_64 nothing of the hardening exists.
fn expected_hardening() -> Option<bool> {
    if cfg!(target_arch = "x86_64") {
        return Some(false);
    }
    match std::env::var("WRT_EXPECT_CPU").as_deref() {
        Ok("max") => Some(true),
        Ok("cortex-a57") => Some(false),
        _ => None,
    }
}

#[test]
fn probe_reports_the_emulated_cpu() {
    let caps = Capabilities::detect().unwrap();
    assert!(caps.auxv.page_size.is_power_of_two() && caps.auxv.page_size >= 4096);
    let Some(present) = expected_hardening() else {
        panic!("set WRT_EXPECT_CPU=max|cortex-a57 when running aarch64 tests (scripts/test does)");
    };
    assert_eq!(
        (caps.mte, caps.bti, caps.pac),
        (present, present, present),
        "{caps:?}"
    );
}

/// BTI and MTE protections work where the CPU has them and are NOTSUP
/// where it does not; nothing changes on refusal.
#[test]
fn hardening_protections_follow_the_cpu() {
    let caps = Capabilities::detect().unwrap();
    let a = LinuxPages::new().unwrap();
    let pg = a.page_size();
    let r = a.reserve(&ReserveOptions::new(2 * pg)).unwrap();
    // SAFETY: `r` is ours and unreferenced.
    unsafe { a.commit(&r, 0, 2 * pg) }.unwrap();
    // SAFETY: as above.
    let bti = unsafe { a.protect(&r, 0, pg, Protection::READ_EXEC.with_bti()) };
    // SAFETY: as above.
    let mte = unsafe { a.protect(&r, pg, pg, Protection::READ_WRITE.with_mte()) };
    assert_eq!(bti, if caps.bti { Ok(()) } else { Err(Errno::NOTSUP) });
    assert_eq!(mte, if caps.mte { Ok(()) } else { Err(Errno::NOTSUP) });
    // The MTE page (or the untouched read-write page) is still writable.
    // SAFETY: offset pg is committed read-write (with or without tagging;
    // tag checks are off unless enabled with prctl).
    unsafe { r.base().as_ptr().wrapping_add(pg).write_volatile(9) };
    // SAFETY: nothing refers into `r`.
    unsafe { a.release(r) }.unwrap();
}

/// The raw `mm::mmap` and `mm::mprotect` refuse write+execute with EACCES
/// (as Linux's own memory-deny-write-execute does), so W^X holds for every
/// caller of the public API, not only through `PageAllocator` and
/// `CodeRegion`; a refused `mprotect` changes nothing.
#[test]
fn raw_mm_calls_refuse_write_and_execute() {
    use linux_raw_sys::general::{MAP_ANONYMOUS, MAP_PRIVATE, PROT_EXEC, PROT_READ, PROT_WRITE};
    use wrt_platform::os::linux::mm;

    let pg = LinuxPages::new().unwrap().page_size();
    let flags = MAP_PRIVATE | MAP_ANONYMOUS;
    for wx in [PROT_WRITE | PROT_EXEC, PROT_READ | PROT_WRITE | PROT_EXEC] {
        // SAFETY: no MAP_FIXED; a mapping, if made, is never used.
        let made = unsafe { mm::mmap(std::ptr::null_mut(), pg, wx, flags, -1, 0) };
        assert_eq!(made.map(drop), Err(Errno::ACCES), "mmap prot {wx:#x}");
    }
    // SAFETY: as above.
    let rw = unsafe {
        mm::mmap(
            std::ptr::null_mut(),
            pg,
            PROT_READ | PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    let p = rw.unwrap().as_ptr();
    // SAFETY: `p` is a fresh read-write page that only this test uses.
    unsafe { p.write_volatile(7) };
    // SAFETY: nothing refers into the page (only raw pointers).
    let wx = unsafe { mm::mprotect(p, pg, PROT_READ | PROT_WRITE | PROT_EXEC) };
    assert_eq!(wx, Err(Errno::ACCES));
    // Still read-write: the refusal changed nothing.
    // SAFETY: as above.
    unsafe { p.write_volatile(8) };
    // SAFETY: as above.
    assert_eq!(unsafe { p.read_volatile() }, 8);
    // Read+execute alone is still allowed.
    // SAFETY: as above; nothing executes from the page.
    unsafe { mm::mprotect(p, pg, PROT_READ | PROT_EXEC) }.unwrap();
    // SAFETY: the page is ours and unused from here on.
    unsafe { mm::munmap(p, pg) }.unwrap();
}
