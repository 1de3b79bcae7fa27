//! The test image's runtime on `qemu-system-aarch64 -M virt`: boot (the
//! assembly in `boot.s`), PSCI `CPU_ON` (the identity map is `mmu.rs`), the GICv2 and
//! the per-core 1 kHz tick, exception reports, semihosting output and exit.
//!
//! Facts about the machine (QEMU 7.2 `virt`, checked against its device
//! tree with `-M virt,dumpdtb=`): RAM at 0x4000_0000; GICv2
//! (`arm,cortex-a15-gic`) distributor at 0x0800_0000, CPU interface at
//! 0x0801_0000; PSCI 1.0 with method `hvc`, `CPU_ON` = 0xC400_0003; the
//! virtual timer is PPI 11 (INTID 27); MPIDR Aff0 = core index.

use core::arch::{asm, global_asm};
use core::fmt::{self, Write};
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

global_asm!(include_str!("boot.s"), options(raw));

/// Cores QEMU starts (`-smp 4`).
pub const CORES: usize = 4;

/// GICv2 distributor.
const GICD: usize = 0x0800_0000;
/// GICv2 CPU interface.
const GICC: usize = 0x0801_0000;
/// The virtual timer's interrupt (PPI 11).
const TIMER_INTID: u32 = 27;
/// The software-generated interrupt that asks a core to reschedule now.
pub const RESCHED_SGI: u32 = 1;
/// Scheduler ticks per second.
const TICK_HZ: u64 = 1000;
/// Bytes of each core's interrupt stack.
const IRQ_STACK: usize = 16 * 1024;

/// One core's interrupt stack.
#[repr(C, align(16))]
struct IrqStack(core::cell::UnsafeCell<[u8; IRQ_STACK]>);

// SAFETY: each stack is used only by its own core's IRQ handler.
unsafe impl Sync for IrqStack {}

static IRQ_STACKS: [IrqStack; CORES] =
    [const { IrqStack(core::cell::UnsafeCell::new([0; IRQ_STACK])) }; CORES];

unsafe extern "C" {
    /// `boot.s`: where PSCI `CPU_ON` starts a secondary core.
    fn wrt_secondary_entry();
    static __arena_start: u8;
    static __arena_end: u8;
}

/// The register frame `boot.s` saves on every exception (see its layout).
#[repr(C)]
pub struct Frame {
    /// x0..x30.
    pub x: [u64; 31],
    /// ELR_EL1: where the exception returns.
    pub elr: u64,
    /// SPSR_EL1: PSTATE to return with.
    pub spsr: u64,
    /// TPIDR_EL0: the context's key for the helper's `wrt_call` chains.
    pub tpidr_el0: u64,
    /// FPCR.
    pub fpcr: u64,
    /// FPSR.
    pub fpsr: u64,
    /// q0..q31.
    pub q: [u128; 32],
}

impl Frame {
    /// All zero.
    pub const fn zeroed() -> Self {
        Frame {
            x: [0; 31],
            elr: 0,
            spsr: 0,
            tpidr_el0: 0,
            fpcr: 0,
            fpsr: 0,
            q: [0; 32],
        }
    }

    /// The frame a new thread starts from: `elr` = `entry`, x0 = `arg`,
    /// SPSR = EL1h with D, A, I and F clear (interrupts on), TPIDR_EL0 =
    /// `tp` (a value no other live context has).
    pub fn new_thread(entry: usize, arg: u64, tp: u64) -> Self {
        let mut f = Self::zeroed();
        f.x[0] = arg;
        f.tpidr_el0 = tp;
        f.elr = entry as u64;
        f.spsr = 0b0101; // M[3:0] = EL1h
        f
    }
}

const _: () = {
    assert!(size_of::<Frame>() == 800);
    assert!(core::mem::offset_of!(Frame, elr) == 248);
    assert!(core::mem::offset_of!(Frame, spsr) == 256);
    assert!(core::mem::offset_of!(Frame, tpidr_el0) == 264);
    assert!(core::mem::offset_of!(Frame, fpcr) == 272);
    assert!(core::mem::offset_of!(Frame, q) == 288);
};

/// Cores that finished bring-up.
static ONLINE: AtomicUsize = AtomicUsize::new(0);

/// This core's index (MPIDR_EL1.Aff0).
pub fn core_id() -> usize {
    let mpidr: u64;
    // SAFETY: reads a system register.
    unsafe { asm!("mrs {}, mpidr_el1", out(reg) mpidr, options(nomem, nostack, preserves_flags)) };
    (mpidr & 0xff) as usize
}

/// The allocator arena of `link.ld` (address and length).
pub fn arena() -> (*mut u8, usize) {
    let start = (&raw const __arena_start).cast_mut();
    let end = &raw const __arena_end;
    (start, end as usize - start as usize)
}

fn mmio_write(addr: usize, v: u32) {
    // SAFETY: `addr` is a GIC register in the Device-mapped first GiB.
    unsafe { core::ptr::with_exposed_provenance_mut::<u32>(addr).write_volatile(v) };
}

fn mmio_read(addr: usize) -> u32 {
    // SAFETY: as for `mmio_write`.
    unsafe { core::ptr::with_exposed_provenance::<u32>(addr).read_volatile() }
}

fn mmio_write8(addr: usize, v: u8) {
    // SAFETY: a byte-accessible GIC register (GICD_IPRIORITYRn).
    unsafe { core::ptr::with_exposed_provenance_mut::<u8>(addr).write_volatile(v) };
}

/// Per-core interrupt set-up: the timer PPI enabled at priority 0x80 in
/// the (banked) distributor registers, the CPU interface on, the virtual
/// timer armed for one tick.
fn gic_and_timer_init() {
    mmio_write8(GICD + 0x400 + TIMER_INTID as usize, 0x80); // GICD_IPRIORITYR
    mmio_write8(GICD + 0x400 + RESCHED_SGI as usize, 0x80);
    mmio_write(GICD + 0x100, (1 << TIMER_INTID) | (1 << RESCHED_SGI)); // GICD_ISENABLER0
    mmio_write(GICC + 0x004, 0xf0); // GICC_PMR: let priority 0x80 through
    mmio_write(GICC, 1); // GICC_CTLR: group 0 on, signalled as IRQ
    arm_tick();
    // SAFETY: enables the virtual timer; no memory access.
    unsafe { asm!("msr cntv_ctl_el0, {}", in(reg) 1u64, options(nomem, nostack, preserves_flags)) };
}

/// `CNTVCT_EL0` (after an `isb`).
pub fn counter() -> u64 {
    let v: u64;
    // SAFETY: reads a system register.
    unsafe {
        asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack, preserves_flags))
    };
    v
}

/// `CNTFRQ_EL0`.
pub fn frequency() -> u64 {
    let v: u64;
    // SAFETY: reads a system register.
    unsafe { asm!("mrs {}, cntfrq_el0", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Stops this core's tick (an idle core sleeps until an SGI wakes it).
pub fn stop_tick() {
    // SAFETY: disables the virtual timer; no memory access.
    unsafe { asm!("msr cntv_ctl_el0, {}", in(reg) 0u64, options(nomem, nostack, preserves_flags)) };
}

/// Makes sure this core ticks: arms the timer if it is off.
pub fn ensure_tick() {
    let ctl: u64;
    // SAFETY: reads the virtual timer's control register.
    unsafe { asm!("mrs {}, cntv_ctl_el0", out(reg) ctl, options(nomem, nostack, preserves_flags)) };
    if ctl & 1 == 0 {
        arm_tick();
        // SAFETY: enables the virtual timer; no memory access.
        unsafe {
            asm!("msr cntv_ctl_el0, {}", in(reg) 1u64, options(nomem, nostack, preserves_flags))
        };
    }
}

/// Arms the virtual timer for one tick from now.
fn arm_tick() {
    let ticks = frequency() / TICK_HZ;
    // SAFETY: sets the virtual timer's countdown; no memory access.
    unsafe {
        asm!("msr cntv_tval_el0, {}", "isb", in(reg) ticks, options(nomem, nostack, preserves_flags))
    };
}

/// Sends [`RESCHED_SGI`] to the cores in `mask` (GICD_SGIR, target list).
pub fn kick(mask: u32) {
    if mask != 0 {
        mmio_write(GICD + 0xf00, ((mask & 0xff) << 16) | RESCHED_SGI);
    }
}

/// A busy-wait hint: `yield`. Under single-threaded TCG it hands the host
/// thread to the next vCPU (QEMU's `yield` helper); elsewhere a NOP.
pub fn relax() {
    // SAFETY: a hint instruction.
    unsafe { asm!("yield", options(nomem, nostack, preserves_flags)) };
}

/// Unmasks IRQs on this core.
pub fn irq_enable() {
    // SAFETY: clears PSTATE.I; the vector table and stacks are set up.
    unsafe { asm!("msr daifclr, #2", options(nomem, nostack, preserves_flags)) };
}

/// Masks IRQs and FIQs on this core; returns the previous DAIF.
pub fn irq_save() -> u64 {
    let daif: u64;
    // SAFETY: reads DAIF and masks two interrupt kinds; compiler barrier.
    unsafe {
        asm!("mrs {}, daif", "msr daifset, #3", out(reg) daif, options(nostack, preserves_flags))
    };
    daif
}

/// Restores a DAIF value from [`irq_save`].
pub fn irq_restore(daif: u64) {
    // SAFETY: restores the mask bits saved on this core; compiler barrier.
    unsafe { asm!("msr daif, {}", in(reg) daif, options(nostack, preserves_flags)) };
}

/// `PSCI CPU_ON(target, entry, context)` through `hvc #0` (SMC Calling
/// Convention: function id and arguments in x0..x3, result in x0; the rest
/// of the caller-saved registers may be clobbered).
fn psci_cpu_on(target: u64, entry: usize, context: u64) -> i64 {
    let r: i64;
    // SAFETY: QEMU's PSCI emulation starts `target` at `entry` (boot.s,
    // which sets its own stack); no memory of ours is touched.
    unsafe {
        asm!(
            "hvc #0",
            inlateout("x0") 0xC400_0003u64 as i64 => r,
            inlateout("x1") target => _,
            inlateout("x2") entry => _,
            inlateout("x3") context => _,
            clobber_abi("C"),
            options(nostack)
        );
    }
    r
}

/// `boot.s` calls this on every core with the MMU on and a stack.
#[unsafe(no_mangle)]
extern "C" fn wrt_rust_entry(core: usize) -> ! {
    let irq_top = IRQ_STACKS[core].0.get() as usize + IRQ_STACK;
    // SAFETY: TPIDR_EL1 is ours (no OS); boot.s switches to this stack.
    unsafe { asm!("msr tpidr_el1, {}", in(reg) irq_top, options(nomem, nostack, preserves_flags)) };
    // The home context's key for wrt_call (threads get theirs from
    // `Frame::new_thread`): the top of this core's IRQ stack, which no
    // thread stack shares.
    // SAFETY: TPIDR_EL0 is ours (no OS, no TLS in this image).
    unsafe { asm!("msr tpidr_el0, {}", in(reg) irq_top, options(nomem, nostack, preserves_flags)) };
    if core == 0 {
        mmio_write(GICD, 1); // GICD_CTLR: distributor on (once)
    }
    gic_and_timer_init();
    ONLINE.fetch_add(1, Ordering::AcqRel);
    irq_enable();
    if core != 0 {
        crate::sched::idle();
    }
    for target in 1..CORES {
        let r = psci_cpu_on(
            target as u64,
            wrt_secondary_entry as *const () as usize,
            target as u64,
        );
        if r != 0 {
            println!("FATAL: PSCI CPU_ON core {target} returned {r}");
            exit(2);
        }
    }
    let t0 = crate::sched::now();
    while ONLINE.load(Ordering::Acquire) < CORES {
        if crate::sched::now() - t0 > core::time::Duration::from_secs(10) {
            println!(
                "FATAL: only {} of {CORES} cores came up",
                ONLINE.load(Ordering::Acquire)
            );
            exit(2);
        }
        crate::rt::relax();
    }
    let status = crate::main();
    exit(status)
}

/// IRQ entry (`boot.s`, on this core's interrupt stack): acknowledges the
/// interrupt; on a tick (re-arming the timer) or a reschedule request,
/// lets the scheduler pick what runs next. Returns the stack pointer whose
/// frame to restore.
#[unsafe(no_mangle)]
extern "C" fn wrt_irq(sp: usize) -> usize {
    let iar = mmio_read(GICC + 0x00c); // GICC_IAR
    let id = iar & 0x3ff;
    if id == 1023 {
        return sp; // spurious
    }
    if id == TIMER_INTID {
        arm_tick();
    }
    mmio_write(GICC + 0x010, iar); // GICC_EOIR
    if id == TIMER_INTID || id == RESCHED_SGI {
        crate::sched::tick(sp)
    } else {
        sp
    }
}

fn sysreg_esr() -> u64 {
    let v: u64;
    // SAFETY: reads a system register.
    unsafe { asm!("mrs {}, esr_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

fn sysreg_far() -> u64 {
    let v: u64;
    // SAFETY: reads a system register.
    unsafe { asm!("mrs {}, far_el1", out(reg) v, options(nomem, nostack, preserves_flags)) };
    v
}

/// Synchronous exception from EL1 (`boot.s`): `svc #3` goes to the Zephyr
/// fixture (in the `zephyr` image); in the bare-metal image with the C
/// clients, the helper's `wrt_baremetal_sync_exception` decides whether it
/// is a Wasm trap, and otherwise it is the harness's: a data abort a test
/// announced with `expect_fault` is recorded and skipped. Anything else is
/// a crash: report it and exit with status 3.
#[unsafe(no_mangle)]
extern "C" fn wrt_sync(frame: &mut Frame) {
    let esr = sysreg_esr();
    let far = sysreg_far();
    let ec = esr >> 26;
    #[cfg(feature = "zephyr")]
    if ec == 0x15 && esr & 0xffff == 3 {
        crate::zephyr_fixture::svc(frame);
        return;
    }
    #[cfg(all(feature = "baremetal", feature = "c-clients"))]
    {
        if crate::traps::sync_exception(frame, esr, far) {
            return;
        }
        let core = core_id();
        if ec == 0x25 && EXPECTING[core].swap(false, Ordering::Relaxed) {
            CAUGHT[core].store(far, Ordering::Relaxed);
            frame.elr += 4; // past the faulting load or store
            return;
        }
    }
    report_crash("synchronous exception", esr, frame.elr, far, ec);
}

/// Per core: a test announced one data abort ([`expect_fault`]).
#[cfg(all(feature = "baremetal", feature = "c-clients"))]
static EXPECTING: [AtomicBool; CORES] = [const { AtomicBool::new(false) }; CORES];
/// Per core: FAR_EL1 of the last announced data abort, or 0.
#[cfg(all(feature = "baremetal", feature = "c-clients"))]
static CAUGHT: [core::sync::atomic::AtomicU64; CORES] =
    [const { core::sync::atomic::AtomicU64::new(0) }; CORES];

/// Announces that the calling code, on this core with no preemption (core
/// 0's home context), is about to take one data abort: [`wrt_sync`] then
/// records it and resumes after the faulting instruction, instead of
/// reporting a crash. [`caught_fault`] tells whether it happened.
#[cfg(all(feature = "baremetal", feature = "c-clients"))]
pub fn expect_fault() {
    let core = core_id();
    CAUGHT[core].store(0, Ordering::Relaxed);
    EXPECTING[core].store(true, Ordering::Relaxed);
}

/// FAR_EL1 of the data abort announced by [`expect_fault`], if the harness
/// handled one since; clears the announcement either way.
#[cfg(all(feature = "baremetal", feature = "c-clients"))]
pub fn caught_fault() -> Option<u64> {
    let core = core_id();
    EXPECTING[core].store(false, Ordering::Relaxed);
    match CAUGHT[core].swap(0, Ordering::Relaxed) {
        0 => None,
        far => Some(far),
    }
}

/// A vector entry that should never run (`boot.s`).
#[unsafe(no_mangle)]
extern "C" fn wrt_unexpected(index: u64) -> ! {
    let elr: u64;
    // SAFETY: reads a system register.
    unsafe { asm!("mrs {}, elr_el1", out(reg) elr, options(nomem, nostack, preserves_flags)) };
    let esr = sysreg_esr();
    println!("CRASH: unexpected vector entry {index}");
    report_crash("unexpected exception", esr, elr, sysreg_far(), esr >> 26);
}

fn report_crash(what: &str, esr: u64, elr: u64, far: u64, ec: u64) -> ! {
    println!(
        "CRASH: {what} on core {}: ESR_EL1 {esr:#x} (EC {ec:#x}) ELR_EL1 {elr:#x} FAR_EL1 {far:#x}",
        core_id()
    );
    exit(3)
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    println!("PANIC on core {}: {info}", core_id());
    exit(101)
}

/// Semihosting (`hlt #0xf000`): operation in w0, parameter in x1, result
/// in x0 (Arm "Semihosting for AArch32 and AArch64", version 2).
fn semihost(op: u64, param: usize) -> u64 {
    let r: u64;
    // SAFETY: QEMU (`-semihosting`) reads the parameter the operation
    // names; callers pass valid pointers.
    unsafe {
        asm!("hlt #0xf000", inlateout("x0") op => r, in("x1") param, options(nostack));
    }
    r
}

/// `SYS_EXIT` with `ADP_Stopped_ApplicationExit` and `status`: QEMU exits
/// with `status`. On AArch64 the parameter is a pointer to two words.
pub fn exit(status: u32) -> ! {
    let block: [u64; 2] = [0x20026, u64::from(status)];
    semihost(0x18, block.as_ptr() as usize);
    loop {
        // SAFETY: waits for an interrupt; only reached if QEMU ignored us.
        unsafe { asm!("wfi", options(nomem, nostack, preserves_flags)) };
    }
}

/// Serialises output lines from all cores (taken with interrupts masked).
static PRINT_LOCK: AtomicBool = AtomicBool::new(false);

/// A line being formatted; written with one `SYS_WRITE0` per flush.
struct Line {
    buf: [u8; 256],
    len: usize,
}

impl Line {
    fn flush(&mut self) {
        if self.len == 0 {
            return;
        }
        self.buf[self.len] = 0;
        semihost(0x04, self.buf.as_ptr() as usize); // SYS_WRITE0
        self.len = 0;
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() - 1 {
                self.flush();
            }
            self.buf[self.len] = b;
            self.len += 1;
            if b == b'\n' {
                self.flush();
            }
        }
        Ok(())
    }
}

/// Prints through semihosting, one line at a time across cores.
pub fn print(args: fmt::Arguments<'_>) {
    let daif = irq_save();
    // A crashing core may hold the lock: give up waiting after a while.
    let mut spins = 0u32;
    while PRINT_LOCK.swap(true, Ordering::Acquire) && spins < 10_000_000 {
        spins += 1;
        crate::rt::relax();
    }
    let mut line = Line {
        buf: [0; 256],
        len: 0,
    };
    let _ = line.write_fmt(args);
    line.flush();
    PRINT_LOCK.store(false, Ordering::Release);
    irq_restore(daif);
}
