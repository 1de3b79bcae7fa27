//! The Zephyr image: the Zephyr backend linked against the fixture of
//! `zephyr_fixture.rs`. It checks that the backend was built from the build
//! inputs, calls the right symbols (or traps with the right id) with the
//! right arguments, maps every return code, and keeps the `FutexLike` and
//! `PageAllocator` contracts (the conformance suite) on top of the fixture.
//! None of this runs Zephyr.

use core::ffi::c_int;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use wrt_platform::conformance::{FUTEX_CHECKS, Failure, Outcome, PAGE_CHECKS, Verdict};
use wrt_platform::os::zephyr::kernel::{self, FutexWait};
use wrt_platform::os::zephyr::{
    BumpPages, KFutex, KHeapPages, KTimeout, Mode, ZephyrFutex, config,
};
use wrt_platform::{Errno, FutexLike, PageAllocator, ReserveOptions, WaitOutcome};

use crate::runner::{Runner, check, check_eq};
use crate::sched::{self, QemuHarness, now, spin_for};
use crate::zephyr_fixture::{self as fx, Call, Kind, inputs};

/// Tables of `k_futex` objects (stand-ins for `struct k_futex t[N]` in C).
static TABLE_SUPERVISOR: [KFutex; 16] = [const { KFutex::new() }; 16];
static TABLE_USER: [KFutex; 16] = [const { KFutex::new() }; 16];
static TABLE_SMALL: [KFutex; 2] = [const { KFutex::new() }; 2];
static SUPERVISOR: ZephyrFutex = ZephyrFutex::new(Mode::Supervisor, &TABLE_SUPERVISOR);
static USER: ZephyrFutex = ZephyrFutex::new(Mode::User, &TABLE_USER);
/// One slot: every word shares it.
static ONE_SLOT: ZephyrFutex = ZephyrFutex::new(Mode::Supervisor, &TABLE_SMALL);

/// Runs everything; returns the exit status.
pub fn run() -> u32 {
    println!(
        "INFO zephyr-fixture: backend built from {:?} inputs; k_futex_wait id {:?}, k_futex_wake id {:?}, {} ticks/s, {}-bit k_ticks_t",
        config::SOURCE,
        config::K_SYSCALL_K_FUTEX_WAIT,
        config::K_SYSCALL_K_FUTEX_WAKE,
        config::TICKS_PER_SEC,
        if config::TIMEOUT_64BIT { 64 } else { 32 },
    );
    let mut r = Runner::new("zephyr-fixture");
    r.run("zephyr/build_inputs_reach_the_backend", build_inputs);
    r.run("zephyr/errno_numbers_are_the_builds", errno_numbers);
    r.run("zephyr/layout_of_k_futex_and_k_timeout", layout);
    r.run("zephyr/timeouts_in_ticks", timeout_ticks);
    for mode in [Mode::Supervisor, Mode::User] {
        let m = if mode == Mode::User {
            "user"
        } else {
            "supervisor"
        };
        r.run(
            Name::new("zephyr/wait_arguments_and_every_return_code/", m).as_str(),
            || wait_mapping(mode),
        );
        r.run(
            Name::new("zephyr/wake_arguments_and_every_return_code/", m).as_str(),
            || wake_mapping(mode),
        );
    }
    r.run("zephyr/auto_mode_follows_tpidrro_el0", auto_mode);
    r.run("zephyr/uptime_ticks_in_both_modes", uptime);
    r.run(
        "zephyr/uncontended_wait_makes_one_kernel_call",
        one_kernel_call,
    );
    r.run("zephyr/wake_one_word_one_at_a_time", wake_one_at_a_time);
    r.run("zephyr/mixed_slot_wakes_all_and_caps_the_count", mixed_slot);
    r.run("zephyr/kheap_calls", kheap_calls);

    let h = QemuHarness;
    let refused_read = Failure::new(format_args!("protect(READ) failed: {}", Errno::NOTSUP));
    let refused_none = Failure::new(format_args!("protect(NONE) failed: {}", Errno::NOTSUP));
    let no_mmu = "needs protect() to remove access, which this allocator refuses with NOTSUP \
                  (no MMU protection); checked by zephyr/kheap_calls";
    let (arena, len) = crate::rt::arena();
    // SAFETY: link.ld's arena is this allocator's alone in this image.
    let bump = unsafe { BumpPages::new(core::ptr::NonNull::new(arena).unwrap(), len) };
    // SAFETY: the fixture heap lives for the whole run; supervisor context.
    let kheap = unsafe { KHeapPages::new(fx::heap()) };
    let allocators: [(&str, &dyn PageAllocator); 2] = [("bump", &bump), ("kheap", &kheap)];
    for (which, a) in allocators {
        for (name, check) in PAGE_CHECKS {
            let full = Name::new3("conformance/page/", which, name);
            match *name {
                "read_only_pages_fault_on_write" => {
                    r.run_refused(full.as_str(), &refused_read, no_mmu, || check(a, &h))
                }
                "pages_protected_none_fault" => {
                    r.run_refused(full.as_str(), &refused_none, no_mmu, || check(a, &h))
                }
                _ => r.run(full.as_str(), || check(a, &h)),
            }
        }
    }
    for (which, f) in [("supervisor", &SUPERVISOR), ("user", &USER)] {
        for (name, check) in FUTEX_CHECKS {
            r.run(
                Name::new3("conformance/futex/", which, name).as_str(),
                || check(f, &h),
            );
        }
    }
    #[cfg(feature = "c-clients")]
    crate::c_clients::run(&mut r);
    #[cfg(not(feature = "c-clients"))]
    r.run("c/clients", || {
        Ok(wrt_platform::conformance::Verdict::Skipped(
            "built without the feature c-clients (scripts/baremetal-test links them)",
        ))
    });
    r.finish()
}

/// A test name from parts.
struct Name {
    buf: [u8; 112],
    len: usize,
}

impl Name {
    fn new(a: &str, b: &str) -> Self {
        Self::new3(a, b, "")
    }

    fn new3(a: &str, b: &str, c: &str) -> Self {
        let mut n = Name {
            buf: [0; 112],
            len: 0,
        };
        let sep: &str = if c.is_empty() { "" } else { "/" };
        for byte in a
            .bytes()
            .chain(b.bytes())
            .chain(sep.bytes())
            .chain(c.bytes())
            .take(112)
        {
            n.buf[n.len] = byte;
            n.len += 1;
        }
        n
    }

    fn as_str(&self) -> &str {
        core::str::from_utf8(&self.buf[..self.len]).unwrap_or("?")
    }
}

/// The recorded calls as a slice.
fn calls(log: &([Call; 64], usize)) -> &[Call] {
    &log.0[..log.1.min(64)]
}

/// The library's generated constants equal what this crate's own parser
/// read from the same files, and the source is recorded (fixture unless
/// `WRT_ZEPHYR_*` named a build's files).
fn build_inputs() -> Outcome {
    let source = if inputs::FROM_ZEPHYR_BUILD {
        config::BuildSource::ZephyrBuild
    } else {
        config::BuildSource::Fixture
    };
    check_eq!(config::SOURCE, source, "build input source");
    check_eq!(
        config::K_SYSCALL_K_FUTEX_WAIT.map(|v| v as u64),
        Some(inputs::SYS_FUTEX_WAIT),
        "k_futex_wait id"
    );
    check_eq!(
        config::K_SYSCALL_K_FUTEX_WAKE.map(|v| v as u64),
        Some(inputs::SYS_FUTEX_WAKE),
        "k_futex_wake id"
    );
    check_eq!(
        config::K_SYSCALL_LIMIT as u64,
        inputs::SYS_LIMIT,
        "K_SYSCALL_LIMIT"
    );
    check_eq!(
        config::TICKS_PER_SEC,
        inputs::TICKS_PER_SEC,
        "ticks per second"
    );
    check_eq!(config::TIMEOUT_64BIT, inputs::TIMEOUT_64BIT, "64-bit ticks");
    Ok(Verdict::Passed)
}

/// Every `Errno` constant has the number of the build's errno header, and
/// those are not Linux's where the two differ.
fn errno_numbers() -> Outcome {
    let ours = [
        ("EPERM", Errno::PERM),
        ("ENOENT", Errno::NOENT),
        ("EINTR", Errno::INTR),
        ("EIO", Errno::IO),
        ("EBADF", Errno::BADF),
        ("EAGAIN", Errno::AGAIN),
        ("ENOMEM", Errno::NOMEM),
        ("EACCES", Errno::ACCES),
        ("EFAULT", Errno::FAULT),
        ("EBUSY", Errno::BUSY),
        ("EEXIST", Errno::EXIST),
        ("EINVAL", Errno::INVAL),
        ("EDOM", Errno::DOM),
        ("ERANGE", Errno::RANGE),
        ("ENOSYS", Errno::NOSYS),
        ("EOVERFLOW", Errno::OVERFLOW),
        ("ENOTSUP", Errno::NOTSUP),
        ("ETIMEDOUT", Errno::TIMEDOUT),
    ];
    check_eq!(ours.len(), inputs::ERRNO.len(), "number of errno names");
    for ((name, e), (in_name, in_value)) in ours.iter().zip(inputs::ERRNO) {
        check_eq!(name, in_name, "errno name order");
        check!(
            i32::from(e.raw()) == *in_value,
            "{name}: backend {}, build input {in_value}",
            e.raw()
        );
    }
    // The fixture has minimal-libc numbers, which differ from Linux's
    // (110, 38, 95, 75): a Linux-numbered build of the backend fails here.
    // (A real Zephyr build's libc may number them any way it likes.)
    if !inputs::FROM_ZEPHYR_BUILD {
        for (e, linux) in [
            (Errno::TIMEDOUT, 110),
            (Errno::NOSYS, 38),
            (Errno::NOTSUP, 95),
            (Errno::OVERFLOW, 75),
        ] {
            check!(e.raw() != linux, "{e:?} has the Linux number {linux}");
        }
    }
    Ok(Verdict::Passed)
}

/// `struct k_futex` is one `long` (8 bytes on arm64), `k_timeout_t` one
/// `k_ticks_t`.
fn layout() -> Outcome {
    check_eq!(size_of::<KFutex>(), 8, "size of k_futex");
    check_eq!(align_of::<KFutex>(), 8, "alignment of k_futex");
    let ticks_size = if inputs::TIMEOUT_64BIT { 8 } else { 4 };
    check_eq!(size_of::<KTimeout>(), ticks_size, "size of k_timeout_t");
    check_eq!(size_of::<ZephyrFutex>() > 0, true, "ZephyrFutex exists");
    Ok(Verdict::Passed)
}

/// Durations round up to whole ticks; what does not fit is `K_FOREVER`.
fn timeout_ticks() -> Outcome {
    let tps = inputs::TICKS_PER_SEC;
    let tick = Duration::from_nanos(1_000_000_000 / tps);
    let word = |d: Duration| KTimeout::from_duration(d).to_word() as u64;
    check_eq!(word(Duration::from_nanos(1)), 1, "1 ns");
    check_eq!(word(tick), 1, "one tick");
    check_eq!(word(tick + Duration::from_nanos(1)), 2, "one tick + 1 ns");
    check_eq!(word(Duration::from_millis(1)), tps / 1000, "1 ms");
    check_eq!(word(Duration::from_secs(3)), 3 * tps, "3 s");
    let forever = if inputs::TIMEOUT_64BIT {
        u64::MAX
    } else {
        0xffff_ffff
    };
    check_eq!(word(Duration::MAX), forever, "Duration::MAX is K_FOREVER");
    check_eq!(
        KTimeout::FOREVER.to_word() as u64,
        forever,
        "K_FOREVER word"
    );
    check_eq!(KTimeout::NO_WAIT.to_word(), 0, "K_NO_WAIT word");
    Ok(Verdict::Passed)
}

/// `k_futex_wait` through `mode`: the call carries the futex, `expected`
/// (negative values: sign-extended for the C call, zero-extended in x1 for
/// the trap) and the ticks, with the build's id in x8; and every return
/// code maps: 0 woken, -EAGAIN value changed, -ETIMEDOUT timed out, other
/// negative numbers the errno, anything else EIO.
fn wait_mapping(mode: Mode) -> Outcome {
    let f = KFutex::new();
    let user = mode == Mode::User;
    let cases: [(c_int, Result<FutexWait, Errno>); 9] = [
        (0, Ok(FutexWait::Woken)),
        (-inputs::EAGAIN, Ok(FutexWait::ValueChanged)),
        (-inputs::ETIMEDOUT, Ok(FutexWait::TimedOut)),
        (-inputs::EACCES, Err(Errno::ACCES)),
        (-inputs::EINVAL, Err(Errno::INVAL)),
        (-inputs::ENOMEM, Err(Errno::NOMEM)),
        (-4000, Err(Errno::from_raw(4000).unwrap())),
        (7, Err(Errno::IO)),
        (c_int::MIN, Err(Errno::IO)),
    ];
    for (ret, want) in cases {
        fx::start_recording();
        fx::inject(ret);
        let got = kernel::futex_wait(
            mode,
            &f,
            -5,
            KTimeout::from_duration(Duration::from_millis(2)),
        );
        let log = fx::stop_recording();
        check_eq!(got, want, "mapped return");
        let c = calls(&log);
        check_eq!(c.len(), 1, "kernel calls");
        let want_a1 = if user { 0xffff_fffb } else { (-5i64) as u64 };
        let want_id = if user { inputs::SYS_FUTEX_WAIT } else { 0 };
        check_eq!(
            (c[0].kind, c[0].via_svc, c[0].id),
            (Kind::Wait, user, want_id),
            "call kind, trap, x8"
        );
        check_eq!(c[0].a0, &f as *const KFutex as u64, "futex pointer");
        check_eq!(c[0].a1, want_a1, "expected (-5) as passed");
        check_eq!(
            c[0].a2,
            2 * inputs::TICKS_PER_SEC / 1000,
            "timeout ticks (2 ms)"
        );
    }
    // Not injected: the fixture compares the whole long with (long)-5.
    f.val.store(-5, Ordering::SeqCst);
    let got = kernel::futex_wait(
        mode,
        &f,
        -5,
        KTimeout::from_duration(Duration::from_millis(1)),
    );
    check_eq!(got, Ok(FutexWait::TimedOut), "wait on a futex holding -5");
    f.val.store(0xffff_fffb, Ordering::SeqCst);
    let got = kernel::futex_wait(mode, &f, -5, KTimeout::FOREVER);
    check_eq!(
        got,
        Ok(FutexWait::ValueChanged),
        "wait(-5) on a futex holding 0xffff_fffb"
    );
    Ok(Verdict::Passed)
}

/// `k_futex_wake` through `mode`: futex and `wake_all` as passed, the
/// count returned, negative numbers as errnos.
fn wake_mapping(mode: Mode) -> Outcome {
    let f = KFutex::new();
    let user = mode == Mode::User;
    let cases: [(c_int, bool, Result<u32, Errno>); 5] = [
        (0, false, Ok(0)),
        (3, true, Ok(3)),
        (-inputs::EACCES, false, Err(Errno::ACCES)),
        (-inputs::EINVAL, true, Err(Errno::INVAL)),
        (c_int::MIN, false, Err(Errno::IO)),
    ];
    for (ret, all, want) in cases {
        fx::start_recording();
        fx::inject(ret);
        let got = kernel::futex_wake(mode, &f, all);
        let log = fx::stop_recording();
        check_eq!(got, want, "mapped return");
        let c = calls(&log);
        check_eq!(c.len(), 1, "kernel calls");
        let want_id = if user { inputs::SYS_FUTEX_WAKE } else { 0 };
        check_eq!(
            (c[0].kind, c[0].via_svc, c[0].id),
            (Kind::Wake, user, want_id),
            "call kind, trap, x8"
        );
        check_eq!(c[0].a0, &f as *const KFutex as u64, "futex pointer");
        check_eq!(c[0].a1, u64::from(all), "wake_all");
    }
    Ok(Verdict::Passed)
}

fn set_tpidrro(v: u64) {
    // SAFETY: TPIDRRO_EL0 is a scratch register nobody else uses here.
    unsafe { core::arch::asm!("msr tpidrro_el0, {}", in(reg) v, options(nomem, nostack)) };
}

/// `Mode::Auto` traps when Zephyr's "in EL0" bit of `TPIDRRO_EL0` is set
/// and calls `z_impl_*` when it is clear.
fn auto_mode() -> Outcome {
    let f = KFutex::new();
    let mut via = [false; 2];
    for (k, bit) in [0u64, 1].into_iter().enumerate() {
        set_tpidrro(bit);
        fx::start_recording();
        fx::inject(0);
        let _ = kernel::futex_wake(Mode::Auto, &f, false);
        let log = fx::stop_recording();
        via[k] = calls(&log).first().is_some_and(|c| c.via_svc);
    }
    set_tpidrro(0);
    check_eq!(via, [false, true], "trapped with the bit clear / set");
    Ok(Verdict::Passed)
}

/// `k_uptime_ticks` (the C ABI's clock): a supervisor call to
/// `z_impl_k_uptime_ticks`, and `svc #3` with the build's id in user mode;
/// both read the same, forward-moving clock.
fn uptime() -> Outcome {
    let (calls0, svcs0) = fx::uptime_calls();
    let a = kernel::uptime_ticks(Mode::Supervisor);
    spin_for(Duration::from_millis(2));
    let b = kernel::uptime_ticks(Mode::User);
    let (calls1, svcs1) = fx::uptime_calls();
    check_eq!(
        (calls1 - calls0, svcs1 - svcs0),
        (1, 1),
        "z_impl_k_uptime_ticks calls, svc #3 calls"
    );
    let (a, b) = match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        e => return Err(Failure::new(format_args!("uptime_ticks failed: {e:?}"))),
    };
    // 2 ms at the inputs' tick rate, less one tick of rounding.
    let min = (2 * inputs::TICKS_PER_SEC / 1000).saturating_sub(1) as i64;
    check!(
        a >= 0 && b - a >= min,
        "ticks {a} then {b}: not {min} apart"
    );
    Ok(Verdict::Passed)
}

/// An uncontended timed wait with no waker: exactly one kernel call,
/// `k_futex_wait` on the slot's sequence futex with its current value and
/// the timeout in ticks (1.5 ms, rounded up); a wake with nobody
/// registered makes no call.
fn one_kernel_call() -> Outcome {
    let word = AtomicU32::new(5);
    let i = SUPERVISOR.slot_index(&word);
    let (lock, seq) = SUPERVISOR.slot_futexes(i);
    let snapshot = seq.val.load(Ordering::SeqCst);
    fx::start_recording();
    let got = SUPERVISOR.wait(&word, 5, Some(Duration::from_micros(1500)));
    let woke = SUPERVISOR.wake(&word, 1);
    let log = fx::stop_recording();
    check_eq!(got, Ok(WaitOutcome::TimedOut), "outcome");
    check_eq!(woke, Ok(0), "wake with nobody waiting");
    let c = calls(&log);
    check_eq!(c.len(), 1, "kernel calls");
    check_eq!(c[0].kind, Kind::Wait, "call");
    check_eq!(
        c[0].a0,
        seq as *const KFutex as u64,
        "the slot's sequence futex"
    );
    check!(
        c[0].a0 != lock as *const KFutex as u64,
        "waited on the lock futex"
    );
    check_eq!(
        c[0].a1,
        snapshot as i64 as u64,
        "expected = the sequence value"
    );
    check_eq!(
        c[0].a2,
        (1500 * inputs::TICKS_PER_SEC).div_ceil(1_000_000),
        "ticks for 1.5 ms"
    );
    check_eq!(lock.val.load(Ordering::SeqCst), 0, "slot lock released");
    Ok(Verdict::Passed)
}

/// Three waiters on one word: `wake(1)` is one `k_futex_wake(seq, false)`
/// that wakes exactly one (count 1); `wake(u32::MAX)` is one
/// `k_futex_wake(seq, true)` (count 2).
fn wake_one_at_a_time() -> Outcome {
    let word = AtomicU32::new(0);
    let woken = AtomicU32::new(0);
    let first = AtomicU32::new(u32::MAX);
    let second = AtomicU32::new(u32::MAX);
    let after_first = AtomicU32::new(u32::MAX);
    let log = core::cell::Cell::new(None);
    let log_cell = SyncCell(&log);
    sched::run(4, &|i| 1 << (i % 4), &|i| {
        if i < 3 {
            if SUPERVISOR.wait(&word, 0, Some(Duration::from_secs(5))) == Ok(WaitOutcome::Woken) {
                woken.fetch_add(1, Ordering::SeqCst);
            }
            return;
        }
        // Wait until all three sleep in the fixture's kernel.
        let seq = SUPERVISOR.slot_futexes(SUPERVISOR.slot_index(&word)).1;
        let t0 = now();
        while sleepers_on(seq) < 3 && now() - t0 < Duration::from_secs(3) {
            spin_for(Duration::from_millis(1));
        }
        fx::start_recording();
        first.store(
            SUPERVISOR.wake(&word, 1).unwrap_or(u32::MAX - 1),
            Ordering::SeqCst,
        );
        let t0 = now();
        while woken.load(Ordering::SeqCst) < 1 && now() - t0 < Duration::from_secs(3) {
            spin_for(Duration::from_millis(1));
        }
        spin_for(Duration::from_millis(20));
        after_first.store(woken.load(Ordering::SeqCst), Ordering::SeqCst);
        second.store(
            SUPERVISOR.wake(&word, u32::MAX).unwrap_or(u32::MAX - 1),
            Ordering::SeqCst,
        );
        log_cell.put(fx::stop_recording());
    });
    check_eq!(first.load(Ordering::SeqCst), 1, "wake(1) count");
    check_eq!(
        after_first.load(Ordering::SeqCst),
        1,
        "waiters woken by wake(1)"
    );
    check_eq!(second.load(Ordering::SeqCst), 2, "wake(all) count");
    check_eq!(woken.load(Ordering::SeqCst), 3, "waiters woken in all");
    let log = log
        .get()
        .ok_or_else(|| Failure::new(format_args!("no log")))?;
    // The slot lock may add wakes of the lock futex; only sequence-futex
    // wakes are the ones under test.
    let seq = SUPERVISOR.slot_futexes(SUPERVISOR.slot_index(&word)).1 as *const KFutex as u64;
    let seq_wakes: [Option<u64>; 3] = {
        let mut w = [None; 3];
        for (k, c) in calls(&log)
            .iter()
            .filter(|c| c.kind == Kind::Wake && c.a0 == seq)
            .take(3)
            .enumerate()
        {
            w[k] = Some(c.a1);
        }
        w
    };
    check_eq!(
        seq_wakes,
        [Some(0), Some(1), None],
        "k_futex_wake(seq, wake_all) calls"
    );
    Ok(Verdict::Passed)
}

/// A `Cell` shared with the threads of one `sched::run` (only one thread
/// writes it, and the caller reads it after all have finished).
struct SyncCell<'a, T>(&'a core::cell::Cell<Option<T>>);
// SAFETY: written by one thread, read after `sched::run` joined it.
unsafe impl<T> Sync for SyncCell<'_, T> {}
impl<T> SyncCell<'_, T> {
    fn put(&self, v: T) {
        self.0.set(Some(v));
    }
}

/// Waiters the fixture's kernel has asleep on `futex`.
fn sleepers_on(futex: &KFutex) -> usize {
    fx::sleepers(futex)
}

/// Two words in one slot, a waiter on each: `wake(a, 1)` cannot wake one
/// waiter of `a` selectively, so it wakes the slot (`wake_all`), returns 1
/// (capped at `n`), and `b`'s waiter sees a spurious `Woken`.
fn mixed_slot() -> Outcome {
    let a = AtomicU32::new(0);
    let b = AtomicU32::new(0);
    let out = [AtomicU32::new(u32::MAX), AtomicU32::new(u32::MAX)];
    let count = AtomicU32::new(u32::MAX);
    let all = AtomicU32::new(u32::MAX);
    sched::run(3, &|i| 1 << (i + 1), &|i| match i {
        0 | 1 => {
            let w = if i == 0 { &a } else { &b };
            let r = ONE_SLOT.wait(w, 0, Some(Duration::from_secs(5)));
            out[i].store(
                if r == Ok(WaitOutcome::Woken) { 0 } else { 1 },
                Ordering::SeqCst,
            );
        }
        _ => {
            let seq = ONE_SLOT.slot_futexes(0).1;
            let t0 = now();
            while sleepers_on(seq) < 2 && now() - t0 < Duration::from_secs(3) {
                spin_for(Duration::from_millis(1));
            }
            fx::start_recording();
            count.store(
                ONE_SLOT.wake(&a, 1).unwrap_or(u32::MAX - 1),
                Ordering::SeqCst,
            );
            let log = fx::stop_recording();
            let seq_ptr = seq as *const KFutex as u64;
            all.store(
                calls(&log)
                    .iter()
                    .filter(|c| c.kind == Kind::Wake && c.a0 == seq_ptr)
                    .map(|c| c.a1 as u32)
                    .next()
                    .unwrap_or(u32::MAX),
                Ordering::SeqCst,
            );
        }
    });
    check_eq!(
        all.load(Ordering::SeqCst),
        1,
        "wake_all of the sequence futex"
    );
    check_eq!(
        count.load(Ordering::SeqCst),
        1,
        "wake(a, 1) count (kernel woke 2, capped at n)"
    );
    check_eq!(out[0].load(Ordering::SeqCst), 0, "a's waiter woken");
    check_eq!(
        out[1].load(Ordering::SeqCst),
        0,
        "b's waiter woken (spurious, allowed)"
    );
    Ok(Verdict::Passed)
}

/// `KHeapPages`: reserve is `k_heap_aligned_alloc(heap, 4096, total,
/// K_NO_WAIT)` and zeroes the usable part only; release is
/// `k_heap_free(heap, start)`; a refused allocation is NOMEM; protect
/// refuses what it cannot enforce.
fn kheap_calls() -> Outcome {
    // SAFETY: the fixture heap lives for the whole run; supervisor context.
    let a = unsafe { KHeapPages::new(fx::heap()) };
    let used = fx::heap_blocks_used();
    fx::start_recording();
    let r = a
        .reserve(
            &ReserveOptions::new(4096)
                .guard_before(4096)
                .guard_after(4096),
        )
        .map_err(|e| Failure::new(format_args!("reserve: {e}")))?;
    let too_big = a.reserve(&ReserveOptions::new(fx::HEAP_MAX + 1));
    let start = r.mapping_start().as_ptr() as u64;
    // SAFETY: reads inside the live reservation (the guard is ordinary
    // memory here: nothing protects it).
    let guard = unsafe { r.mapping_start().as_ptr().read_volatile() };
    // SAFETY: the last usable byte of the live reservation.
    let usable = unsafe { r.base().as_ptr().wrapping_add(4095).read_volatile() };
    // SAFETY: no references into the reservation.
    let prot = unsafe { a.protect(&r, 0, 4096, wrt_platform::Protection::READ) };
    // SAFETY: as above; the reservation is not used afterwards.
    unsafe { a.release(r) }.map_err(|e| Failure::new(format_args!("release: {e}")))?;
    let log = fx::stop_recording();
    let c = calls(&log);
    check_eq!(c.len(), 3, "heap calls");
    let heap = fx::heap().as_ptr() as u64;
    check_eq!(
        (c[0].kind, c[0].a0, c[0].a1, c[0].a2, c[0].a3),
        (Kind::Alloc, heap, 4096, 3 * 4096, 0),
        "alloc(heap, align, bytes, K_NO_WAIT)"
    );
    check_eq!(
        (c[1].kind, c[1].a2),
        (Kind::Alloc, (fx::HEAP_MAX + 4096) as u64),
        "the oversized alloc"
    );
    check_eq!(
        (c[2].kind, c[2].a0, c[2].a1),
        (Kind::Free, heap, start),
        "free(heap, start)"
    );
    check_eq!(too_big.err(), Some(Errno::NOMEM), "oversized reserve");
    check_eq!(guard, 0xcd, "guard left as the heap gave it");
    check_eq!(usable, 0, "usable part zeroed");
    check_eq!(prot, Err(Errno::NOTSUP), "protect(READ)");
    check_eq!(fx::heap_blocks_used(), used, "heap blocks after release");
    Ok(Verdict::Passed)
}
