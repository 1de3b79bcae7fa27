//! Traps from Rust (issue 16): the contract of issue 15's defect 7 (a
//! signal sent to a thread inside `wrt_call` -> `wrt_atomic_wait32` is
//! never a trap that unwinds out of the wait), nested `wrt_call`, and a
//! trap in one thread leaving another thread's `wrt_call` alone. The C
//! client `tests/c/trap_test.c` covers the rest.
//!
//! Signal handlers are process-wide: every test goes through [`setup`],
//! which installs the test's own SIGSEGV handler first and then calls
//! `wrt_trap_init` (so the helper forwards to it), once.

#![cfg(target_os = "linux")]

use std::ffi::c_void;
use std::ptr;
use std::sync::atomic::{AtomicI32, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Barrier, Once};
use std::thread;

use wrt_platform::capi::{
    WRT_E_NULL, WRT_MEMORY_SHARED, WRT_TRAP_OUT_OF_BOUNDS, WRT_TRAP_USER, WRT_WAIT_OK,
    wrt_atomic_notify, wrt_atomic_wait32, wrt_call, wrt_memory_base, wrt_memory_create,
    wrt_memory_t, wrt_thread_init, wrt_trap_info, wrt_trap_init, wrt_trap_raise,
};

/// SIGSEGVs the test's own handler saw: count, last si_code, last
/// receiving thread.
static SEEN: AtomicU32 = AtomicU32::new(0);
static SEEN_CODE: AtomicI32 = AtomicI32::new(0);
static SEEN_TID: AtomicI32 = AtomicI32::new(0);

/// The handler installed before `wrt_trap_init`: records the signal and
/// returns (only sent signals reach it in these tests).
extern "C" fn recorder(_sig: i32, info: *mut libc::siginfo_t, _uc: *mut c_void) {
    // SAFETY: the kernel's siginfo (SA_SIGINFO).
    SEEN_CODE.store(unsafe { (*info).si_code }, SeqCst);
    SEEN_TID.store(gettid(), SeqCst);
    SEEN.fetch_add(1, SeqCst);
}

/// `si_code` of a signal sent with `tgkill` / `sigqueue`.
const SI_TKILL: i32 = -6;
const SI_QUEUE: i32 = -1;

/// The calling thread's id (async-signal-safe).
fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::syscall(libc::SYS_gettid) as i32 }
}

fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: an all-zero sigaction is valid.
        let mut act: libc::sigaction = unsafe { std::mem::zeroed() };
        act.sa_sigaction = recorder as *const () as usize;
        act.sa_flags = libc::SA_SIGINFO;
        // SAFETY: a valid sigset.
        unsafe { libc::sigemptyset(&mut act.sa_mask) };
        // SAFETY: a valid struct naming a valid SA_SIGINFO handler.
        let r = unsafe { libc::sigaction(libc::SIGSEGV, &act, ptr::null_mut()) };
        assert_eq!(r, 0);
        assert_eq!(wrt_trap_init(), 0);
    });
    assert_eq!(wrt_thread_init(), 0);
}

fn memory(initial: u64, maximum: u64, flags: u32) -> (wrt_memory_t, usize) {
    let mut m: wrt_memory_t = 0;
    // SAFETY: valid out pointer.
    let r = unsafe { wrt_memory_create(initial, maximum, flags, &mut m) };
    assert_eq!(r, 0);
    (m, wrt_memory_base(m) as usize)
}

/// `wrt_call(f, ctx, &info)`.
fn call(f: unsafe extern "C" fn(*mut c_void), ctx: *mut c_void) -> (i32, wrt_trap_info) {
    let mut info = wrt_trap_info {
        code: -1,
        signal: -1,
        address: 0,
        pc: 0,
        memory: 0,
        offset: 0,
    };
    // SAFETY: a valid function, a valid info pointer.
    let r = unsafe { wrt_call(Some(f), ctx, &mut info) };
    (r, info)
}

/// Stores a byte at `ctx`.
unsafe extern "C" fn store(ctx: *mut c_void) {
    // SAFETY: the address is either valid or one the test expects to trap.
    unsafe { ptr::write_volatile(ctx.cast::<u8>(), 1) };
}

/// The state of thread `tid` from `/proc/self/task/<tid>/stat` (`S`:
/// sleeping in a system call).
fn thread_state(tid: i32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    after.chars().next().unwrap()
}

/// Waits (yielding, no time limit) until thread `tid` sleeps.
fn until_sleeping(tid: i32) {
    while thread_state(tid) != 'S' {
        thread::yield_now();
    }
}

/// What the waiting thread runs inside `wrt_call`.
struct WaitCtx {
    memory: wrt_memory_t,
    tid: AtomicI32,
    result: AtomicI32,
}

unsafe extern "C" fn wait_in_call(ctx: *mut c_void) {
    // SAFETY: the test's WaitCtx, alive until the thread is joined.
    let w = unsafe { &*ctx.cast::<WaitCtx>() };
    w.tid.store(gettid(), SeqCst);
    // Word 0 holds 0: sleeps until notified (or one minute: a failure).
    let r = wrt_atomic_wait32(w.memory, 0, 0, 60_000_000_000);
    w.result.store(r, SeqCst);
}

/// Sends SIGSEGV to thread `tid` of this process: with `tgkill`
/// (`si_code` SI_TKILL) or with `rt_tgsigqueueinfo` (`si_code` SI_QUEUE)
/// carrying `addr` where a fault's address would be.
fn send_segv(tid: i32, queue_addr: Option<usize>) {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let r = match queue_addr {
        // SAFETY: tgkill of a live thread of this process.
        None => unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGSEGV) },
        Some(addr) => {
            // siginfo: signo @0, errno @4, code @8, then the union (si_addr
            // @16): 128 bytes.
            let mut si = [0u64; 16];
            si[0] = libc::SIGSEGV as u64;
            si[1] = SI_QUEUE as u32 as u64;
            si[2] = addr as u64;
            // SAFETY: a valid 128-byte siginfo; a negative si_code may be
            // sent to another thread of the process.
            unsafe {
                libc::syscall(
                    libc::SYS_rt_tgsigqueueinfo,
                    pid,
                    tid,
                    libc::SIGSEGV,
                    si.as_ptr(),
                )
            }
        }
    };
    assert_eq!(r, 0, "sending SIGSEGV");
}

/// Issue 15, defect 7: a SIGSEGV sent (not raised by a fault) to a thread
/// waiting inside `wrt_call` is not a trap: the handler installed before
/// `wrt_trap_init` sees it and returns, the wait goes on, a notify wakes
/// it with a count of 1, and the queue holds nobody afterwards. Once with
/// `tgkill`, once with `rt_tgsigqueueinfo` whose address field names the
/// memory's inaccessible part (what a fault there would report).
#[test]
fn sent_segv_does_not_unwind_a_wait() {
    setup();
    let (m, base) = memory(1, 1, WRT_MEMORY_SHARED);
    for forged in [None, Some(base + 65536)] {
        let ctx = WaitCtx {
            memory: m,
            tid: AtomicI32::new(0),
            result: AtomicI32::new(-100),
        };
        let ctx_addr = &ctx as *const WaitCtx as usize;
        let seen_before = SEEN.load(SeqCst);
        let waiter = thread::spawn(move || {
            assert_eq!(wrt_thread_init(), 0);
            call(wait_in_call, ctx_addr as *mut c_void).0
        });
        let tid = loop {
            match ctx.tid.load(SeqCst) {
                0 => thread::yield_now(),
                t => break t,
            }
        };
        until_sleeping(tid);
        send_segv(tid, forged);
        // Until the handler ran, or (a failure) the wait ended.
        while SEEN.load(SeqCst) == seen_before && !waiter.is_finished() {
            thread::yield_now();
        }
        let want = if forged.is_some() { SI_QUEUE } else { SI_TKILL };
        assert_eq!(
            SEEN_CODE.load(SeqCst),
            want,
            "the test's handler got the sent signal"
        );
        assert_eq!(SEEN_TID.load(SeqCst), tid, "on the waiting thread");
        assert_eq!(ctx.result.load(SeqCst), -100, "the wait did not return");
        assert!(!waiter.is_finished(), "the waiter is still inside wrt_call");
        // Back in its futex wait after the handler returned.
        until_sleeping(tid);
        assert_eq!(wrt_atomic_notify(m, 0, 1), 1, "the waiter is still queued");
        let r = waiter.join().unwrap();
        assert_eq!(r, 0, "wrt_call returned WRT_OK, not a trap");
        assert_eq!(ctx.result.load(SeqCst), WRT_WAIT_OK);
        assert_eq!(wrt_atomic_notify(m, 0, 1), 0, "nobody left in the queue");
        assert_eq!(SEEN.load(SeqCst), seen_before + 1);
    }
}

/// The inner call's context: an address to store at, and what the inner
/// `wrt_call` returned.
struct Nested {
    addr: usize,
    inner: AtomicI32,
    inner_offset: AtomicUsize,
    after: AtomicU32,
}

unsafe extern "C" fn outer(ctx: *mut c_void) {
    // SAFETY: the test's Nested.
    let n = unsafe { &*ctx.cast::<Nested>() };
    let (r, info) = call(store, n.addr as *mut c_void);
    n.inner.store(r, SeqCst);
    n.inner_offset.store(info.offset as usize, SeqCst);
    n.after.store(1, SeqCst);
    // SAFETY: inside wrt_call (the outer one): ends it.
    unsafe { wrt_trap_raise(WRT_TRAP_USER + 7) };
}

/// Nested calls from Rust: a fault in the inner call ends only the inner
/// one; the outer goes on, then ends with a raised code; outside every
/// call the NULL function is refused.
#[test]
fn nested_calls_unwind_one_level() {
    setup();
    let (_m, base) = memory(1, 2, 0);
    let n = Nested {
        addr: base + 65536 + 8,
        inner: AtomicI32::new(-100),
        inner_offset: AtomicUsize::new(0),
        after: AtomicU32::new(0),
    };
    let (r, info) = call(outer, &n as *const Nested as *mut c_void);
    assert_eq!(n.inner.load(SeqCst), WRT_TRAP_OUT_OF_BOUNDS);
    assert_eq!(n.inner_offset.load(SeqCst), 65536 + 8);
    assert_eq!(
        n.after.load(SeqCst),
        1,
        "the outer call went on after the inner trap"
    );
    assert_eq!(r, WRT_TRAP_USER + 7);
    assert_eq!(info.code, WRT_TRAP_USER + 7);
    assert_eq!(info.signal, 0);
    assert_eq!(info.memory, 0, "a raised trap names no memory");
    // SAFETY: a NULL fn is refused without running anything.
    let r = unsafe { wrt_call(None, ptr::null_mut(), ptr::null_mut()) };
    assert_eq!(r, WRT_E_NULL as i32);
    // The chain is empty again: a valid store now runs to completion.
    let (r, _) = call(store, base as *mut c_void);
    assert_eq!(r, 0);
}

/// Parks inside `wrt_call` on two barriers.
unsafe extern "C" fn park(ctx: *mut c_void) {
    // SAFETY: the test's barriers.
    let b = unsafe { &*ctx.cast::<[Barrier; 2]>() };
    b[0].wait();
    b[1].wait();
}

/// 1000 traps on one thread while another thread sits inside its own
/// `wrt_call`: that call still returns `WRT_OK`.
#[test]
fn trap_in_one_thread_leaves_another_call_alone() {
    setup();
    let (_m, base) = memory(1, 1, 0);
    let barriers = [Barrier::new(2), Barrier::new(2)];
    let addr = &barriers as *const [Barrier; 2] as usize;
    thread::scope(|s| {
        let other = s.spawn(move || {
            assert_eq!(wrt_thread_init(), 0);
            call(park, addr as *mut c_void).0
        });
        barriers[0].wait();
        for i in 0..1000 {
            let (r, info) = call(store, (base + 65536 + i) as *mut c_void);
            assert_eq!(r, WRT_TRAP_OUT_OF_BOUNDS);
            assert_eq!(info.offset, 65536 + i as u64);
        }
        barriers[1].wait();
        assert_eq!(other.join().unwrap(), 0);
    });
}
