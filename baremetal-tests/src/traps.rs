//! Wasm traps on bare metal EL1, through the C ABI of the bare-metal
//! archive (feature `c-clients`): the harness's MMU (`mmu.rs`) becomes the
//! helper's protect hook, its synchronous-exception handler (`rt::wrt_sync`)
//! calls `wrt_baremetal_sync_exception`, and "generated code" is the two
//! assembly stubs below (a plain load and store, no bounds check), run
//! under `wrt_call`.
//!
//! Why not `tests/c/trap_test.c`: its checks are written around signals
//! (it installs SIGSEGV handlers, forks, reads `/proc`, uses pthreads and an
//! alternate signal stack) and its raw system calls need an OS; the checks
//! that make sense without one are here, against the same C functions.

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use wrt_platform::conformance::{Failure, Outcome, Verdict};

use crate::mmu;
use crate::rt::{self, CORES, Frame};
use crate::runner::{Runner, check, check_eq};
use crate::sched;

/// `wrt_trap_info`.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
struct TrapInfo {
    code: i32,
    signal: i32,
    address: u64,
    pc: u64,
    memory: u64,
    offset: u64,
}

/// `wrt_baremetal_exception`.
#[repr(C)]
struct El1Exception {
    esr: u64,
    far: u64,
    sp: u64,
    elr: u64,
    spsr: u64,
    x0: u64,
}

type CallFn = unsafe extern "C" fn(ctx: *mut c_void);
type ProtectHook = unsafe extern "C" fn(start: *mut c_void, len: usize, accessible: i32) -> i32;

unsafe extern "C" {
    fn wrt_trap_init() -> i32;
    fn wrt_thread_init() -> i32;
    fn wrt_thread_fini() -> i32;
    fn wrt_call(f: Option<CallFn>, ctx: *mut c_void, info: *mut TrapInfo) -> i32;
    fn wrt_trap_raise(code: i32) -> !;
    fn wrt_baremetal_sync_exception(e: *mut El1Exception) -> i32;
    fn wrt_baremetal_set_protect_hook(hook: Option<ProtectHook>) -> i32;
    fn wrt_memory_create(initial: u64, maximum: u64, flags: u32, out: *mut u64) -> i32;
    fn wrt_memory_destroy(m: u64) -> i32;
    fn wrt_memory_base(m: u64) -> *mut u8;
    fn wrt_memory_grow(m: u64, delta: u64) -> i64;
    fn wrt_memory_reset(m: u64, keep_resident_bytes: u64) -> i32;
    /// The stubs below.
    fn wrt_test_store32(addr: usize, value: u32);
    fn wrt_test_load32(addr: usize) -> u32;
    static wrt_test_store32_insn: u8;
    static wrt_test_load32_insn: u8;
}

// "Generated code": one unchecked access each, at a known PC.
core::arch::global_asm!(
    r#"
    .text
// void wrt_test_store32(uint32_t *addr, uint32_t value)
//   in: x0 = addr, w1 = value; clobbers nothing else (leaf)
    .globl  wrt_test_store32
    .type   wrt_test_store32, %function
    .p2align 4
wrt_test_store32:
    bti     c
    .globl  wrt_test_store32_insn
wrt_test_store32_insn:
    str     w1, [x0]
    ret
    .size   wrt_test_store32, . - wrt_test_store32

// uint32_t wrt_test_load32(const uint32_t *addr)
//   in: x0 = addr; out: w0 = the word; clobbers nothing else (leaf)
    .globl  wrt_test_load32
    .type   wrt_test_load32, %function
    .p2align 4
wrt_test_load32:
    bti     c
    .globl  wrt_test_load32_insn
wrt_test_load32_insn:
    ldr     w0, [x0]
    ret
    .size   wrt_test_load32, . - wrt_test_load32
"#
);

const WRT_OK: i32 = 0;
const WRT_E_NULL: i32 = -1;
const WRT_E_INVALID: i32 = -4;
const WRT_TRAP_OUT_OF_BOUNDS: i32 = 1;
const WRT_TRAP_UNREACHABLE: i32 = 3;
const WRT_MEMORY_EXPLICIT_BOUNDS: u32 = 1 << 3;
const WASM_PAGE: usize = 65536;

/// Traps `wrt_baremetal_sync_exception` handled, per core.
static HANDLED: [AtomicU32; CORES] = [const { AtomicU32::new(0) }; CORES];

/// The harness's synchronous-exception path (`rt::wrt_sync`): asks the
/// helper, and on a trap writes back the three words it rewrote.
pub fn sync_exception(frame: &mut Frame, esr: u64, far: u64) -> bool {
    let mut e = El1Exception {
        esr,
        far,
        // EL1h: the interrupted SP is just above the frame boot.s pushed.
        sp: frame as *mut Frame as u64 + size_of::<Frame>() as u64,
        elr: frame.elr,
        spsr: frame.spsr,
        x0: frame.x[0],
    };
    // SAFETY: `e` describes the exception being handled on this core.
    if unsafe { wrt_baremetal_sync_exception(&mut e) } != 1 {
        return false;
    }
    frame.elr = e.elr;
    frame.spsr = e.spsr;
    frame.x[0] = e.x0;
    HANDLED[rt::core_id()].fetch_add(1, Ordering::Relaxed);
    true
}

/// The helper's protect hook: [`mmu::protect`], only inside the region
/// the helper was given.
unsafe extern "C" fn protect_hook(start: *mut c_void, len: usize, accessible: i32) -> i32 {
    let (region, region_len) = crate::c_clients::region();
    let s = start as usize;
    if s < region || s.checked_add(len).is_none_or(|e| e > region + region_len) {
        return -1;
    }
    if mmu::protect(s, len, accessible != 0) {
        0
    } else {
        -1
    }
}

/// One access for [`access`] (the `ctx` of `wrt_call`).
#[repr(C)]
struct Access {
    addr: usize,
    value: u32,
    store: bool,
    loaded: u32,
}

/// `fn` of `wrt_call`: the access `ctx` describes.
unsafe extern "C" fn access(ctx: *mut c_void) {
    // SAFETY: every caller passes an `Access`.
    let a = unsafe { &mut *ctx.cast::<Access>() };
    if a.store {
        // SAFETY: "generated code": any address; a fault is the test.
        unsafe { wrt_test_store32(a.addr, a.value) };
    } else {
        // SAFETY: as above.
        a.loaded = unsafe { wrt_test_load32(a.addr) };
    }
}

/// `wrt_call(access, {addr, value})`: the result and the info.
fn call_access(addr: usize, store: bool) -> (i32, TrapInfo, u32) {
    let mut a = Access {
        addr,
        value: 0x5741_534d,
        store,
        loaded: 0,
    };
    let mut info = TrapInfo::default();
    // SAFETY: `access` takes an `Access`; `info` is writable.
    let r = unsafe { wrt_call(Some(access), (&raw mut a).cast(), &mut info) };
    (r, info, a.loaded)
}

fn store_pc() -> u64 {
    (&raw const wrt_test_store32_insn) as u64
}

fn load_pc() -> u64 {
    (&raw const wrt_test_load32_insn) as u64
}

/// The info an out-of-bounds access at `offset` of memory `m` must give.
fn oob(m: u64, base: usize, offset: usize, pc: u64) -> TrapInfo {
    TrapInfo {
        code: WRT_TRAP_OUT_OF_BOUNDS,
        signal: 0,
        address: (base + offset) as u64,
        pc,
        memory: m,
        offset: offset as u64,
    }
}

/// A memory of 1 Wasm page, maximum 4, explicit bounds.
fn create() -> Result<(u64, usize), Failure> {
    let mut m = 0u64;
    // SAFETY: `m` is writable.
    let r = unsafe { wrt_memory_create(1, 4, WRT_MEMORY_EXPLICIT_BOUNDS, &mut m) };
    check_eq!(r, WRT_OK, "wrt_memory_create(1, 4, EXPLICIT_BOUNDS)");
    // SAFETY: a live handle.
    Ok((m, unsafe { wrt_memory_base(m) } as usize))
}

/// Runs the trap tests (after the C clients, which ran without the hook).
pub fn run(r: &mut Runner) {
    r.run("traps/init_and_protect_hook", || {
        // SAFETY: plain calls.
        check_eq!(unsafe { wrt_trap_init() }, WRT_OK, "wrt_trap_init");
        // SAFETY: as above.
        check_eq!(unsafe { wrt_trap_init() }, WRT_OK, "wrt_trap_init again");
        // SAFETY: NULL must be refused.
        let null = unsafe { wrt_baremetal_set_protect_hook(None) };
        check_eq!(null, WRT_E_NULL, "hook NULL");
        // SAFETY: the hook keeps its contract (mmu::protect).
        let first = unsafe { wrt_baremetal_set_protect_hook(Some(protect_hook)) };
        check_eq!(first, WRT_OK, "hook");
        // SAFETY: as above; a second one must be refused.
        let second = unsafe { wrt_baremetal_set_protect_hook(Some(protect_hook)) };
        check_eq!(second, WRT_E_INVALID, "hook again");
        // SAFETY: NULL must be refused.
        let e = unsafe { wrt_baremetal_sync_exception(core::ptr::null_mut()) };
        check_eq!(e, WRT_E_NULL, "wrt_baremetal_sync_exception(NULL)");
        Ok(Verdict::Passed)
    });
    r.run("traps/oob_store_and_load_just_past_the_size", past_the_size);
    r.run(
        "traps/grow_makes_it_accessible_reset_faults_again",
        grow_and_reset,
    );
    r.run("traps/trap_raise_from_deep_recursion", raise_deep);
    r.run("traps/nested_calls_trap_one_level", nested);
    r.run("traps/faults_that_are_not_traps_reach_the_harness", foreign);
    r.run("traps/thread_init_and_fini", thread_init_fini);
    r.run("traps/interrupt_mask_survives_a_trap", interrupt_mask);
    r.run("traps/4_cores_trap_concurrently_each_own_chain", || {
        concurrent(4, 2_000)
    });
    r.run("traps/2_contexts_per_core_trap_out_of_order", interleaved);
}

/// A store and a load just past the size trap with the full info; the
/// last word of the reservation (base + maximum - 4) traps too; a store in
/// the last word inside the size does not; the hook really made the pages
/// past the size invalid.
fn past_the_size() -> Outcome {
    let (m, base) = create()?;
    check!(mmu::is_valid(base), "page 0 of the memory is valid");
    check!(
        !mmu::is_valid(base + WASM_PAGE) && !mmu::is_valid(base + 4 * WASM_PAGE - 4),
        "the pages past the size are invalid in the tables"
    );
    let (r, info, _) = call_access(base + WASM_PAGE, true);
    check_eq!(r, WRT_TRAP_OUT_OF_BOUNDS, "store at the size");
    check_eq!(info, oob(m, base, WASM_PAGE, store_pc()), "its info");
    let (r, info, _) = call_access(base + WASM_PAGE + 100, false);
    check_eq!(r, WRT_TRAP_OUT_OF_BOUNDS, "load past the size");
    check_eq!(info, oob(m, base, WASM_PAGE + 100, load_pc()), "its info");
    let far = 4 * WASM_PAGE - 4;
    let (r, info, _) = call_access(base + far, true);
    check_eq!(r, WRT_TRAP_OUT_OF_BOUNDS, "store at base + maximum - 4");
    check_eq!(info, oob(m, base, far, store_pc()), "its info");
    let (r, _, _) = call_access(base + WASM_PAGE - 4, true);
    check_eq!(r, WRT_OK, "store in the last word of the size");
    let (r, _, loaded) = call_access(base + WASM_PAGE - 4, false);
    check_eq!((r, loaded), (WRT_OK, 0x5741_534d), "load it back");
    // SAFETY: a live handle, no access running.
    check_eq!(unsafe { wrt_memory_destroy(m) }, WRT_OK, "destroy");
    Ok(Verdict::Passed)
}

/// After grow the formerly faulting address works; after reset it faults
/// again, and a second grow brings the page back zeroed.
fn grow_and_reset() -> Outcome {
    let (m, base) = create()?;
    let (r, _, _) = call_access(base + WASM_PAGE, true);
    check_eq!(r, WRT_TRAP_OUT_OF_BOUNDS, "store at the size before grow");
    // SAFETY: a live handle.
    check_eq!(unsafe { wrt_memory_grow(m, 1) }, 1, "grow by 1");
    let (r, _, _) = call_access(base + WASM_PAGE, true);
    check_eq!(r, WRT_OK, "the same store after grow");
    let (r, _, loaded) = call_access(base + WASM_PAGE, false);
    check_eq!((r, loaded), (WRT_OK, 0x5741_534d), "load it back");
    let (r, info, _) = call_access(base + 2 * WASM_PAGE, true);
    check_eq!(
        (r, info),
        (
            WRT_TRAP_OUT_OF_BOUNDS,
            oob(m, base, 2 * WASM_PAGE, store_pc())
        ),
        "the new size's first byte"
    );
    // SAFETY: nothing runs on the memory.
    check_eq!(unsafe { wrt_memory_reset(m, 0) }, WRT_OK, "reset");
    let (r, info, _) = call_access(base + WASM_PAGE, true);
    check_eq!(
        (r, info),
        (WRT_TRAP_OUT_OF_BOUNDS, oob(m, base, WASM_PAGE, store_pc())),
        "the grown page faults again after reset"
    );
    check!(
        !mmu::is_valid(base + WASM_PAGE),
        "the reset page is invalid in the tables"
    );
    let (r, _, loaded) = call_access(base + WASM_PAGE - 4, false);
    check_eq!(
        (r, loaded),
        (WRT_OK, 0),
        "the initial page reads zero after reset"
    );
    // SAFETY: a live handle.
    check_eq!(unsafe { wrt_memory_grow(m, 1) }, 1, "grow again");
    let (r, _, loaded) = call_access(base + WASM_PAGE, false);
    check_eq!((r, loaded), (WRT_OK, 0), "the regrown page reads zero");
    // SAFETY: a live handle, no access running.
    check_eq!(unsafe { wrt_memory_destroy(m) }, WRT_OK, "destroy");
    Ok(Verdict::Passed)
}

/// Recurses `depth` frames, then raises `code`.
#[inline(never)]
fn deep(depth: u32, code: i32) -> u32 {
    if depth == 0 {
        // SAFETY: inside wrt_call (the callers').
        unsafe { wrt_trap_raise(code) }
    }
    // Keep every frame (no tail call): use the result.
    core::hint::black_box(deep(depth - 1, code)) + 1
}

unsafe extern "C" fn raise_unreachable(ctx: *mut c_void) {
    // SAFETY: the ctx is an AtomicBool (the callers').
    let reached = unsafe { &*ctx.cast::<AtomicBool>() };
    deep(200, WRT_TRAP_UNREACHABLE);
    reached.store(true, Ordering::Relaxed);
}

/// `wrt_trap_raise` 200 frames deep ends the call with its code, no address
/// and no memory; nothing after the raise runs.
fn raise_deep() -> Outcome {
    let reached = AtomicBool::new(false);
    let mut info = TrapInfo::default();
    // SAFETY: `raise_unreachable` takes an AtomicBool.
    let r = unsafe {
        wrt_call(
            Some(raise_unreachable),
            (&raw const reached).cast_mut().cast(),
            &mut info,
        )
    };
    check_eq!(r, WRT_TRAP_UNREACHABLE, "wrt_call");
    check_eq!(
        (
            info.code,
            info.signal,
            info.address,
            info.memory,
            info.offset
        ),
        (WRT_TRAP_UNREACHABLE, 0, 0, 0, 0),
        "info"
    );
    check!(info.pc != 0, "info.pc is the return address of the raise");
    check!(!reached.load(Ordering::Relaxed), "code after the raise ran");
    Ok(Verdict::Passed)
}

/// What the outer call of [`nested`] saw.
struct Nest {
    base: usize,
    inner: AtomicU32,
    inner_info: core::cell::Cell<TrapInfo>,
    raised: AtomicU32,
    after_inner: AtomicBool,
}

unsafe extern "C" fn outer(ctx: *mut c_void) {
    // SAFETY: `nested` passes a Nest.
    let n = unsafe { &*ctx.cast::<Nest>() };
    let (r, info, _) = call_access(n.base + WASM_PAGE + 8, true);
    n.inner.store(r as u32, Ordering::Relaxed);
    n.inner_info.set(info);
    let mut reached = AtomicBool::new(false);
    // SAFETY: as in `raise_deep`.
    let r = unsafe {
        wrt_call(
            Some(raise_unreachable),
            (&raw mut reached).cast(),
            core::ptr::null_mut(),
        )
    };
    n.raised.store(r as u32, Ordering::Relaxed);
    n.after_inner.store(true, Ordering::Relaxed);
    // SAFETY: "generated code" of the outer level, past the size.
    unsafe { wrt_test_store32(n.base + 2 * WASM_PAGE, 1) };
    n.after_inner.store(false, Ordering::Relaxed); // never reached
}

/// host -> Wasm -> host -> Wasm: an inner trap and an inner raise end only
/// the inner calls; the outer call goes on and its own trap ends it.
fn nested() -> Outcome {
    let (m, base) = create()?;
    let n = Nest {
        base,
        inner: AtomicU32::new(u32::MAX),
        inner_info: core::cell::Cell::new(TrapInfo::default()),
        raised: AtomicU32::new(u32::MAX),
        after_inner: AtomicBool::new(false),
    };
    let mut info = TrapInfo::default();
    // SAFETY: `outer` takes a Nest.
    let r = unsafe { wrt_call(Some(outer), (&raw const n).cast_mut().cast(), &mut info) };
    check_eq!(
        n.inner.load(Ordering::Relaxed) as i32,
        WRT_TRAP_OUT_OF_BOUNDS,
        "inner call"
    );
    check_eq!(
        n.inner_info.get(),
        oob(m, base, WASM_PAGE + 8, store_pc()),
        "inner info"
    );
    check_eq!(
        n.raised.load(Ordering::Relaxed) as i32,
        WRT_TRAP_UNREACHABLE,
        "inner raise"
    );
    check!(
        n.after_inner.load(Ordering::Relaxed),
        "the outer call went on after its inner calls"
    );
    check_eq!(r, WRT_TRAP_OUT_OF_BOUNDS, "outer call");
    check_eq!(info, oob(m, base, 2 * WASM_PAGE, store_pc()), "outer info");
    // SAFETY: a live handle, no access running.
    check_eq!(unsafe { wrt_memory_destroy(m) }, WRT_OK, "destroy");
    Ok(Verdict::Passed)
}

/// An address no memory owns and no table maps (level-1 entry 3).
const UNMAPPED: usize = 0xC000_0000;

unsafe extern "C" fn store_unmapped(_ctx: *mut c_void) {
    // SAFETY: a fault the harness expects (rt::expect_fault).
    unsafe { wrt_test_store32(UNMAPPED, 1) };
}

/// Not swallowed: a store past a memory's size outside every `wrt_call`,
/// and a store to an address no memory owns inside one, each reach the
/// harness's own handler (which records and skips it; the helper said
/// "not a trap"), and the `wrt_call` returns normally.
fn foreign() -> Outcome {
    let (m, base) = create()?;
    let handled = HANDLED[rt::core_id()].load(Ordering::Relaxed);
    rt::expect_fault();
    // SAFETY: a fault the harness expects.
    unsafe { wrt_test_store32(base + WASM_PAGE, 1) };
    check_eq!(
        rt::caught_fault(),
        Some((base + WASM_PAGE) as u64),
        "outside wrt_call: the harness's handler saw the fault"
    );
    rt::expect_fault();
    let mut info = TrapInfo::default();
    // SAFETY: `store_unmapped` ignores its ctx.
    let r = unsafe { wrt_call(Some(store_unmapped), core::ptr::null_mut(), &mut info) };
    check_eq!(
        rt::caught_fault(),
        Some(UNMAPPED as u64),
        "inside wrt_call, outside every memory: the harness's handler saw it"
    );
    check_eq!(r, WRT_OK, "that wrt_call returned normally");
    check_eq!(info, TrapInfo::default(), "and wrote no info");
    check_eq!(
        HANDLED[rt::core_id()].load(Ordering::Relaxed),
        handled,
        "the helper handled neither"
    );
    // SAFETY: a live handle.
    check_eq!(unsafe { wrt_memory_destroy(m) }, WRT_OK, "destroy");
    Ok(Verdict::Passed)
}

/// DAIF now.
fn daif() -> u64 {
    let v: u64;
    // SAFETY: reads a system register.
    unsafe { core::arch::asm!("mrs {}, daif", out(reg) v, options(nomem, nostack)) };
    v
}

/// DAIF.I, and DAIF.I with DAIF.F.
const IRQ: u64 = 0x80;
const IRQ_FIQ: u64 = 0xc0;

/// The interrupt mask after a trap is the one the trapping code ran with
/// (the saved SPSR's DAIF, as the signal mask on Linux): masked stays
/// masked, unmasked stays unmasked.
fn interrupt_mask() -> Outcome {
    let (m, base) = create()?;
    let saved = rt::irq_save();
    let (r, _, _) = call_access(base + WASM_PAGE, true);
    let masked = daif();
    rt::irq_restore(saved);
    check_eq!(r, WRT_TRAP_OUT_OF_BOUNDS, "trap with IRQs masked");
    check_eq!(
        masked & IRQ_FIQ,
        IRQ_FIQ,
        "IRQ and FIQ still masked after it"
    );
    let before = daif();
    check_eq!(before & IRQ, 0, "IRQs on in the home context");
    let (r, _, _) = call_access(base + WASM_PAGE, true);
    let after = daif();
    check_eq!(r, WRT_TRAP_OUT_OF_BOUNDS, "trap with IRQs on");
    check_eq!(after, before, "DAIF after it");
    // SAFETY: a live handle, no access running.
    check_eq!(unsafe { wrt_memory_destroy(m) }, WRT_OK, "destroy");
    Ok(Verdict::Passed)
}

unsafe extern "C" fn fini_inside(ctx: *mut c_void) {
    // SAFETY: `thread_init_fini` passes an AtomicU32.
    let out = unsafe { &*ctx.cast::<AtomicU32>() };
    // SAFETY: a plain call.
    out.store(unsafe { wrt_thread_fini() } as u32, Ordering::Relaxed);
}

/// `wrt_thread_init` / `wrt_thread_fini` on bare metal: slot only; fini
/// inside a `wrt_call` is refused.
fn thread_init_fini() -> Outcome {
    // SAFETY: plain calls.
    check_eq!(unsafe { wrt_thread_init() }, WRT_OK, "thread_init");
    // SAFETY: as above.
    check_eq!(unsafe { wrt_thread_init() }, WRT_OK, "thread_init again");
    let out = AtomicU32::new(u32::MAX);
    // SAFETY: `fini_inside` takes an AtomicU32.
    let r = unsafe {
        wrt_call(
            Some(fini_inside),
            (&raw const out).cast_mut().cast(),
            core::ptr::null_mut(),
        )
    };
    check_eq!(r, WRT_OK, "wrt_call");
    check_eq!(
        out.load(Ordering::Relaxed) as i32,
        WRT_E_INVALID,
        "thread_fini inside wrt_call"
    );
    // SAFETY: a plain call.
    check_eq!(unsafe { wrt_thread_fini() }, WRT_OK, "thread_fini");
    Ok(Verdict::Passed)
}

/// `threads` threads, thread i pinned to core i, each trap `rounds` times
/// at its own offset past the size of one shared memory, every 16th time
/// through a nested call: every call returns its own trap with its own
/// address (no chain mixed up), and every core handled traps.
fn concurrent(threads: usize, rounds: u32) -> Outcome {
    let (m, base) = create()?;
    let before: [u32; CORES] = core::array::from_fn(|c| HANDLED[c].load(Ordering::Relaxed));
    let bad = AtomicU64::new(0);
    let done = AtomicU32::new(0);
    sched::run(threads, &|i| 1 << (i % CORES), &|i| {
        for k in 0..rounds {
            let offset = WASM_PAGE + (i * 4096 + (k as usize % 16) * 4) % (3 * WASM_PAGE);
            let (r, info) = if k % 16 == 0 {
                let n = Nest {
                    base: base + offset - WASM_PAGE - 8,
                    inner: AtomicU32::new(u32::MAX),
                    inner_info: core::cell::Cell::new(TrapInfo::default()),
                    raised: AtomicU32::new(u32::MAX),
                    after_inner: AtomicBool::new(false),
                };
                let mut info = TrapInfo::default();
                // SAFETY: `outer` takes a Nest.
                let r =
                    unsafe { wrt_call(Some(outer), (&raw const n).cast_mut().cast(), &mut info) };
                let inner_ok = n.inner.load(Ordering::Relaxed) as i32 == WRT_TRAP_OUT_OF_BOUNDS
                    && n.inner_info.get().address == (base + offset) as u64
                    && n.raised.load(Ordering::Relaxed) as i32 == WRT_TRAP_UNREACHABLE;
                if !inner_ok {
                    bad.fetch_add(1, Ordering::Relaxed);
                }
                (r, Some(info.address == (n.base + 2 * WASM_PAGE) as u64))
            } else {
                let (r, info, _) = call_access(base + offset, k % 2 == 0);
                let pc = if k % 2 == 0 { store_pc() } else { load_pc() };
                (r, Some(info == oob(m, base, offset, pc)))
            };
            if r != WRT_TRAP_OUT_OF_BOUNDS || info != Some(true) {
                bad.fetch_add(1, Ordering::Relaxed);
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    });
    check_eq!(done.load(Ordering::Relaxed), threads as u32, "threads done");
    check_eq!(
        bad.load(Ordering::Relaxed),
        0,
        "calls with the wrong code or info"
    );
    for (c, b) in before.iter().enumerate() {
        let n = HANDLED[c].load(Ordering::Relaxed) - b;
        check!(
            n >= rounds,
            "core {c} handled {n} traps, fewer than {rounds}"
        );
    }
    // SAFETY: a live handle, every thread done.
    check_eq!(unsafe { wrt_memory_destroy(m) }, WRT_OK, "destroy");
    Ok(Verdict::Passed)
}

/// Per core, for [`interleaved`]: arrivals inside `wrt_call`, and first
/// arrivers that finished their call.
static ARRIVED: [AtomicU32; CORES] = [const { AtomicU32::new(0) }; CORES];
static FIRST_DONE: [AtomicU32; CORES] = [const { AtomicU32::new(0) }; CORES];

/// What one call of [`interleaved`] does.
struct Turn {
    core: usize,
    addr: usize,
    /// Set when a wait gave up (the other context never came).
    stuck: AtomicBool,
    /// Set by the context that entered first in its round.
    first: AtomicBool,
}

/// Spins (the tick hands the core to the other context) until `cond`.
fn wait_for(cond: impl Fn() -> bool) -> bool {
    let t0 = sched::now();
    while !cond() {
        if sched::now() - t0 > core::time::Duration::from_secs(5) {
            return false;
        }
        rt::relax();
    }
    true
}

unsafe extern "C" fn take_turn(ctx: *mut c_void) {
    // SAFETY: `interleaved` passes a Turn.
    let t = unsafe { &*ctx.cast::<Turn>() };
    let n = ARRIVED[t.core].fetch_add(1, Ordering::SeqCst);
    t.first.store(n.is_multiple_of(2), Ordering::Relaxed);
    let ok = if n.is_multiple_of(2) {
        // First inside: wait until the other context is inside its own
        // wrt_call too, then trap while its frame is the newer one.
        wait_for(|| ARRIVED[t.core].load(Ordering::SeqCst) >= n + 2)
    } else {
        // Second: stay inside until the first has trapped and returned.
        wait_for(|| FIRST_DONE[t.core].load(Ordering::SeqCst) > n / 2)
    };
    if !ok {
        t.stuck.store(true, Ordering::Relaxed);
    }
    // SAFETY: "generated code", past the size.
    unsafe { wrt_test_store32(t.addr, 1) };
}

/// Two threads per core (8 on 4 cores), in rounds: both are inside a
/// `wrt_call` at once (the tick switches between them), and the one that
/// entered first traps first, while the other's newer frame is still
/// linked. Each gets its own trap: the chains are per context (per
/// TPIDR_EL0, which the harness's context switch saves and restores), not
/// per core. (With one key per core, the first trap would find the other
/// context's frame: checked by hand, with the context switch not
/// restoring TPIDR_EL0, as a crash.)
fn interleaved() -> Outcome {
    const ROUNDS: u32 = 16;
    let (m, base) = create()?;
    for c in 0..CORES {
        ARRIVED[c].store(0, Ordering::SeqCst);
        FIRST_DONE[c].store(0, Ordering::SeqCst);
    }
    let bad = AtomicU32::new(0);
    let stuck = AtomicU32::new(0);
    sched::run(2 * CORES, &|i| 1 << (i % CORES), &|i| {
        let core = i % CORES;
        let offset = WASM_PAGE + i * 4096;
        for _ in 0..ROUNDS {
            let t = Turn {
                core,
                addr: base + offset,
                stuck: AtomicBool::new(false),
                first: AtomicBool::new(false),
            };
            let mut info = TrapInfo::default();
            // SAFETY: `take_turn` takes a Turn.
            let r =
                unsafe { wrt_call(Some(take_turn), (&raw const t).cast_mut().cast(), &mut info) };
            if t.first.load(Ordering::Relaxed) {
                FIRST_DONE[core].fetch_add(1, Ordering::SeqCst);
            }
            if r != WRT_TRAP_OUT_OF_BOUNDS || info != oob(m, base, offset, store_pc()) {
                bad.fetch_add(1, Ordering::Relaxed);
            }
            if t.stuck.load(Ordering::Relaxed) {
                stuck.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    check_eq!(
        bad.load(Ordering::Relaxed),
        0,
        "calls with the wrong code or info"
    );
    check_eq!(stuck.load(Ordering::Relaxed), 0, "waits that gave up");
    // SAFETY: a live handle, every thread done.
    check_eq!(unsafe { wrt_memory_destroy(m) }, WRT_OK, "destroy");
    Ok(Verdict::Passed)
}
