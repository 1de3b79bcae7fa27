//! The C clients of `libwrt_helper.a` (`tests/c/memory_test.c`,
//! `tests/c/atomics_test.c`), compiled by `build.rs` with
//! `aarch64-linux-gnu-gcc -ffreestanding -DWRT_BAREMETAL` and linked into
//! this image together with the archive of this image's platform (feature
//! `c-clients`; `scripts/baremetal-test` builds the archive and passes it
//! in `WRT_HELPER_LIB`). The archive is a separate copy of the library,
//! built with `capi` and LTO, whose only global symbols are `wrt_*`: the
//! C tests reach the helper only through the C ABI, as an integrator's C
//! code would.
//!
//! This module gives `tests/c/runtime.h` its hooks: output, threads and
//! the clock. Each test runs on core 0 (the home context, which no tick
//! preempts); the threads it starts run on cores 1-3 only, so every wait
//! in a thread is woken by a notify from another core.

use core::ffi::{CStr, c_char, c_void};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use wrt_platform::conformance::{Failure, Outcome, Verdict};

use crate::runner::Runner;
use crate::sched;

unsafe extern "C" {
    /// `int wrt_c_memory_test(void)`: `tests/c/memory_test.c`'s `run`;
    /// 0 when every check passed.
    fn wrt_c_memory_test() -> i32;
    /// `int wrt_c_atomics_test(void)`: `tests/c/atomics_test.c`'s `run`.
    fn wrt_c_atomics_test() -> i32;
    /// The bare-metal archive's region hook (`include/wrt_helper.h`).
    #[cfg(feature = "baremetal")]
    fn wrt_baremetal_set_region(start: *mut c_void, len: usize) -> i32;
    /// The Zephyr archive's region hook.
    #[cfg(feature = "zephyr")]
    fn wrt_zephyr_set_region(start: *mut c_void, len: usize) -> i32;
    /// The Zephyr archive's `k_heap` hook.
    #[cfg(feature = "zephyr")]
    fn wrt_zephyr_set_heap(heap: *mut c_void) -> i32;
}

/// Bytes handed to the helper with the bare-metal region hook.
const REGION: usize = 8 << 20;

#[repr(C, align(4096))]
struct Region(core::cell::UnsafeCell<[u8; REGION]>);

// SAFETY: handed over once to the helper, which owns it from then on.
unsafe impl Sync for Region {}

static C_REGION: Region = Region(core::cell::UnsafeCell::new([0; REGION]));

/// Installs the helper's memory once, and checks that a second install
/// and a NULL one are refused: `(first, second, null)`, expected
/// `(WRT_OK, WRT_E_INVALID, WRT_E_NULL)`. Bare metal: [`C_REGION`] with
/// `wrt_baremetal_set_region`. Zephyr: the fixture's `k_heap` with
/// `wrt_zephyr_set_heap` (so the C tests run on `KHeapPages`; the
/// bare-metal image covers the region allocator), then
/// `wrt_zephyr_set_region`, refused.
#[cfg(feature = "baremetal")]
fn install() -> (i32, i32, i32) {
    let region = C_REGION.0.get().cast::<c_void>();
    // SAFETY: the region is static and used by nothing else.
    let first = unsafe { wrt_baremetal_set_region(region, REGION) };
    // SAFETY: as above; a second install must be refused.
    let second = unsafe { wrt_baremetal_set_region(region, REGION) };
    // SAFETY: NULL must be refused before anything is touched.
    let null = unsafe { wrt_baremetal_set_region(core::ptr::null_mut(), REGION) };
    (first, second, null)
}

/// See the bare-metal `install`.
#[cfg(feature = "zephyr")]
fn install() -> (i32, i32, i32) {
    let heap = crate::zephyr_fixture::heap().as_ptr().cast::<c_void>();
    // SAFETY: the fixture's heap is static and initialised, and only the
    // helper allocates from it from here on (in supervisor threads: this
    // image runs everything at EL1).
    let first = unsafe { wrt_zephyr_set_heap(heap) };
    let region = C_REGION.0.get().cast::<c_void>();
    // SAFETY: must be refused (memory is installed): the region stays
    // unused.
    let second = unsafe { wrt_zephyr_set_region(region, REGION) };
    // SAFETY: NULL must be refused before anything is touched.
    let null = unsafe { wrt_zephyr_set_heap(core::ptr::null_mut()) };
    (first, second, null)
}

/// Address and length of the region handed to the helper.
#[cfg(feature = "baremetal")]
pub fn region() -> (usize, usize) {
    (C_REGION.0.get() as usize, REGION)
}

/// Runs both C tests through `r`, after [`install`] (bare metal: without
/// the protect hook, which the trap tests install afterwards).
pub fn run(r: &mut Runner) {
    #[cfg(feature = "zephyr")]
    let blocks_before = crate::zephyr_fixture::heap_blocks_used();
    r.run("c/install_memory_once", || {
        crate::runner::check_eq!(install(), (0, -4, -1), "install, again, NULL");
        Ok(Verdict::Passed)
    });
    r.run(
        "c/memory_test.c (aarch64-linux-gnu-gcc, freestanding)",
        || {
            // SAFETY: the C test's entry point takes nothing and uses only the
            // hooks below and the wrt_* functions.
            status("memory_test.c", unsafe { wrt_c_memory_test() })
        },
    );
    r.run(
        "c/atomics_test.c (waiters on cores 1-3, notifier on core 0)",
        || {
            // SAFETY: as above.
            status("atomics_test.c", unsafe { wrt_c_atomics_test() })
        },
    );
    #[cfg(feature = "baremetal")]
    crate::traps::run(r);
    #[cfg(feature = "zephyr")]
    r.run("c/destroyed_memories_went_back_to_the_k_heap", || {
        crate::runner::check_eq!(
            crate::zephyr_fixture::heap_blocks_used(),
            blocks_before,
            "k_heap blocks in use after the C tests destroyed every memory (before them)"
        );
        Ok(Verdict::Passed)
    });
}

fn status(what: &str, failed: i32) -> Outcome {
    if failed == 0 {
        Ok(Verdict::Passed)
    } else {
        Err(Failure::new(format_args!(
            "{what}: checks failed (see FAIL lines above)"
        )))
    }
}

/// `void wrt_test_out(const char *s)`: prints a NUL-terminated string.
#[unsafe(no_mangle)]
extern "C" fn wrt_test_out(s: *const c_char) {
    // SAFETY: runtime.h passes string literals and NUL-terminated buffers.
    let s = unsafe { CStr::from_ptr(s) };
    crate::rt::print(format_args!("{}", s.to_str().unwrap_or("<not UTF-8>")));
}

/// One C thread: its function, argument and result.
struct Job {
    f: AtomicUsize,
    arg: AtomicUsize,
    ret: AtomicUsize,
    /// Taken by a `wrt_test_thread_start` until its join.
    used: AtomicBool,
    /// The function has returned (`ret` is set).
    done: AtomicBool,
}

const JOBS: usize = sched::MAX_THREADS;
static C_JOBS: [Job; JOBS] = [const {
    Job {
        f: AtomicUsize::new(0),
        arg: AtomicUsize::new(0),
        ret: AtomicUsize::new(0),
        used: AtomicBool::new(false),
        done: AtomicBool::new(false),
    }
}; JOBS];

/// Cores 1-3: never core 0, where the test itself runs.
const OTHER_CORES: u32 = sched::ANY_CORE & !1;

/// What a C thread runs: job `i`.
fn trampoline(i: usize) {
    let job = &C_JOBS[i];
    let f = job.f.load(Ordering::Acquire);
    // SAFETY: stored by `wrt_test_thread_start` from a C function pointer
    // of this type.
    let f: extern "C" fn(*mut c_void) -> *mut c_void = unsafe { core::mem::transmute(f) };
    let ret = f(core::ptr::with_exposed_provenance_mut(
        job.arg.load(Ordering::Relaxed),
    ));
    job.ret.store(ret.expose_provenance(), Ordering::Relaxed);
    job.done.store(true, Ordering::Release);
}

/// `unsigned long wrt_test_thread_start(void *(*fn)(void *), void *arg)`:
/// runs `fn(arg)` on a thread on cores 1-3; returns the id for join.
#[unsafe(no_mangle)]
extern "C" fn wrt_test_thread_start(
    f: extern "C" fn(*mut c_void) -> *mut c_void,
    arg: *mut c_void,
) -> usize {
    let i = (0..JOBS)
        .find(|&i| {
            C_JOBS[i]
                .used
                .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        })
        .expect("more C threads than the scheduler has");
    let job = &C_JOBS[i];
    job.done.store(false, Ordering::Relaxed);
    job.arg.store(arg.expose_provenance(), Ordering::Relaxed);
    job.f.store(f as usize, Ordering::Release);
    sched::start(&trampoline, i, OTHER_CORES);
    i
}

/// `void *wrt_test_thread_join(unsigned long thread)`: waits for the
/// thread's function to return; its result.
#[unsafe(no_mangle)]
extern "C" fn wrt_test_thread_join(i: usize) -> *mut c_void {
    let job = &C_JOBS[i];
    while !job.done.load(Ordering::Acquire) {
        crate::rt::relax();
    }
    let ret = job.ret.load(Ordering::Relaxed);
    job.used.store(false, Ordering::Release);
    core::ptr::with_exposed_provenance_mut(ret)
}

/// `uint64_t wrt_test_now_ns(void)`: the generic timer, in nanoseconds.
#[unsafe(no_mangle)]
extern "C" fn wrt_test_now_ns() -> u64 {
    sched::now().as_nanos() as u64
}

/// `void wrt_test_sleep_ns(uint64_t ns)`: spins on the timer.
#[unsafe(no_mangle)]
extern "C" fn wrt_test_sleep_ns(ns: u64) {
    sched::spin_for(core::time::Duration::from_nanos(ns));
}
