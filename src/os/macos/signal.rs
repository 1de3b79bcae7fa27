//! XNU signal structures and the fault classification of the macOS trap
//! backend (`src/trap/macos.rs`), as plain data and pure functions so the
//! host's unit tests pin every offset and every decision.
//!
//! **Built and checked; not executed** (no Mac runs here).
//!
//! Layouts: XNU `bsd/sys/signal.h` (`__sigaction`, `sigaction`),
//! `bsd/sys/_types/_sigaltstack.h` (`stack_t`), `bsd/sys/signal.h`
//! (`siginfo_t`), `bsd/sys/_types/_ucontext.h` (`ucontext_t`),
//! `osfmk/mach/arm/_structs.h` (`__darwin_mcontext64`: exception, thread
//! and NEON state); offsets as in the project's `traps-abi.md` section 2.
//!
//! # Which signals are faults
//! On arm64 XNU's `sendsig` (`bsd/dev/arm/unix_signal.c`) *hard-codes*
//! `si_code` for SIGSEGV (`SEGV_ACCERR`) and SIGBUS (`BUS_ADRALN`) and takes
//! `si_addr` from the thread's saved `far`, whether the signal came from a
//! fault or from `kill` / `pthread_kill`: unlike Linux, `si_code` does not
//! tell a sent SIGSEGV from a raised one. The classification therefore
//! requires, besides a fault `si_code` (a sent code such as `SI_USER`
//! 0x10001 never counts):
//! * `es.esr`'s exception class to be a data abort from EL0 (0x24): the
//!   saved ESR is that of the thread's last synchronous exception, so a
//!   thread that entered the kernel by `svc` (a waiter in `__ulock_wait2`,
//!   any system call) shows EC 0x15 and a signal sent to it is not a fault;
//! * `si_addr == es.far` (both from the same saved state when raised).
//!
//! What remains unprovable without a Mac: a SIGSEGV *sent* to a thread
//! interrupted asynchronously (IRQ, no `svc` since) whose last synchronous
//! exception was a demand-paging data abort carries that stale ESR/FAR; the
//! address is then one the kernel had just made accessible, which the trap
//! decision (`src/trap/mod.rs` `take`) only accepts if the memory has since
//! shrunk under it.

use core::mem::{offset_of, size_of};

use super::consts::signal as c;

/// `struct __sigaction`, what `sigaction(2)` reads (24 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct KSigactionIn {
    /// `__sigaction_u`: the handler, `SIG_DFL` or `SIG_IGN`.
    pub handler: usize,
    /// `sa_tramp`: where `sendsig` points pc (our `wrt_trap_tramp`).
    pub tramp: usize,
    /// `sa_mask` (`sigset_t`, 32 bits).
    pub mask: u32,
    /// `sa_flags`.
    pub flags: i32,
}

/// `struct sigaction`, what `sigaction(2)` writes back (16 bytes; no
/// trampoline: the kernel does not report it).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct KSigactionOut {
    /// The handler, `SIG_DFL` or `SIG_IGN`.
    pub handler: usize,
    /// `sa_mask`.
    pub mask: u32,
    /// `sa_flags`.
    pub flags: i32,
}

/// `stack_t` (24 bytes; size before flags, unlike Linux).
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct StackT {
    /// `ss_sp`: the lowest address.
    pub sp: usize,
    /// `ss_size`.
    pub size: usize,
    /// `ss_flags` (`SS_ONSTACK`, `SS_DISABLE`).
    pub flags: i32,
}

/// `siginfo_t` (104 bytes).
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct SigInfo {
    /// `si_signo`.
    pub signo: i32,
    /// `si_errno`.
    pub errno: i32,
    /// `si_code`.
    pub code: i32,
    /// `si_pid`.
    pub pid: i32,
    /// `si_uid`.
    pub uid: u32,
    /// `si_status`.
    pub status: i32,
    /// `si_addr`: for SIGSEGV/SIGBUS the saved `far`.
    pub addr: usize,
    /// `si_value`.
    pub value: usize,
    /// `si_band`.
    pub band: isize,
    /// `__pad[7]`.
    pub pad: [usize; 7],
}

/// `ucontext_t` (`_STRUCT_UCONTEXT`, 56 bytes): the mcontext is behind a
/// pointer.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct UContext {
    /// `uc_onstack`: bit 0 = was on the alternate stack.
    pub onstack: i32,
    /// `uc_sigmask`: the interrupted code's mask, restored by `sigreturn`.
    pub sigmask: u32,
    /// `uc_stack`.
    pub stack: StackT,
    /// `uc_link`.
    pub link: usize,
    /// `uc_mcsize` (816 for arm64).
    pub mcsize: usize,
    /// `uc_mcontext`: the `MContext64` in the same signal frame.
    pub mcontext: *mut MContext64,
}

/// `__darwin_mcontext64` for arm64 (816 bytes): exception state, thread
/// state, NEON state.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct MContext64 {
    /// `es.__far`: the faulting address.
    pub far: u64,
    /// `es.__esr`: the syndrome of the thread's last synchronous exception.
    pub esr: u32,
    /// `es.__exception`.
    pub exception: u32,
    /// `ss.__x[0..29]`.
    pub x: [u64; 29],
    /// `ss.__fp` (x29).
    pub fp: u64,
    /// `ss.__lr` (x30).
    pub lr: u64,
    /// `ss.__sp`.
    pub sp: u64,
    /// `ss.__pc`.
    pub pc: u64,
    /// `ss.__cpsr`.
    pub cpsr: u32,
    /// `ss.__flags` (`NO_PTRAUTH` 1, `KERNEL_SIGNED_PC` 4, ...).
    pub flags: u32,
    /// `ns.__v[32]` (128-bit registers as two halves).
    pub v: [[u64; 2]; 32],
    /// `ns.__fpsr`.
    pub fpsr: u32,
    /// `ns.__fpcr`.
    pub fpcr: u32,
    /// Tail padding of the 16-byte aligned NEON state.
    pub pad: [u32; 2],
}

const _: () = {
    assert!(size_of::<KSigactionIn>() == 24);
    assert!(offset_of!(KSigactionIn, tramp) == 8);
    assert!(offset_of!(KSigactionIn, mask) == 16);
    assert!(offset_of!(KSigactionIn, flags) == 20);
    assert!(size_of::<KSigactionOut>() == 16);
    assert!(offset_of!(KSigactionOut, mask) == 8);
    assert!(offset_of!(KSigactionOut, flags) == 12);
    assert!(size_of::<StackT>() == 24);
    assert!(offset_of!(StackT, size) == 8);
    assert!(offset_of!(StackT, flags) == 16);
    assert!(size_of::<SigInfo>() == 104);
    assert!(offset_of!(SigInfo, code) == 8);
    assert!(offset_of!(SigInfo, addr) == 24);
    assert!(size_of::<UContext>() == 56);
    assert!(offset_of!(UContext, stack) == 8);
    assert!(offset_of!(UContext, link) == 32);
    assert!(offset_of!(UContext, mcsize) == 40);
    assert!(offset_of!(UContext, mcontext) == 48);
    assert!(size_of::<MContext64>() == c::MCONTEXT64_SIZE);
    assert!(offset_of!(MContext64, esr) == 8);
    assert!(offset_of!(MContext64, x) == 16);
    assert!(offset_of!(MContext64, fp) == 248);
    assert!(offset_of!(MContext64, lr) == 256);
    assert!(offset_of!(MContext64, sp) == 264);
    assert!(offset_of!(MContext64, pc) == 272);
    assert!(offset_of!(MContext64, cpsr) == 280);
    assert!(offset_of!(MContext64, flags) == 284);
    assert!(offset_of!(MContext64, v) == 288);
    assert!(offset_of!(MContext64, fpsr) == 800);
};

/// Whether `si_code` is one the kernel writes for a fault of `sig`
/// (SIGSEGV: `SEGV_MAPERR`/`SEGV_ACCERR`; SIGBUS: `BUS_ADRALN`/`ADRERR`/
/// `OBJERR`); sent codes (`SI_USER` ...) and other signals never are.
pub fn fault_code(sig: i32, code: i32) -> bool {
    match sig {
        c::SIGSEGV => code == c::SEGV_MAPERR || code == c::SEGV_ACCERR,
        c::SIGBUS => (c::BUS_ADRALN..=c::BUS_OBJERR).contains(&code),
        _ => false,
    }
}

/// The fault address of a SIGSEGV/SIGBUS that the CPU raised by a data
/// access, or `None` (see the module docs: fault `si_code`, ESR class
/// "data abort from EL0", `si_addr == far`).
pub fn data_abort(sig: i32, code: i32, si_addr: usize, far: u64, esr: u32) -> Option<usize> {
    let ec = esr >> c::ESR_EC_SHIFT;
    (fault_code(sig, code) && ec == c::ESR_EC_DABT_LOWER && si_addr as u64 == far)
        .then_some(si_addr)
}

/// Whether a context may be redirected by rewriting its pc: not when the
/// kernel signed the pc (arm64e), which would need re-signing with the
/// thread's diversifier (`__darwin_arm_thread_state64_set_pc_fptr`).
pub fn redirectable(flags: u32) -> bool {
    flags & c::THREAD_STATE_FLAGS_KERNEL_SIGNED_PC == 0
}

/// The thread-state edit that makes `sigreturn` resume at `pc` with `sp`
/// and `code` in w0: PC, SP, x0 and CPSR.BTYPE cleared (so a `bti` landing
/// pad passes whatever branch led to the fault).
pub fn redirect(mc: &mut MContext64, pc: usize, sp: usize, code: i32) {
    mc.pc = pc as u64;
    mc.sp = sp as u64;
    mc.x[0] = u64::from(code as u32);
    mc.cpsr &= !c::CPSR_BTYPE;
}

/// The thread pointer key of the calling thread from a `TPIDRRO_EL0`
/// value: the TSD base, whose low 3 bits older XNU used for the CPU number
/// (libsyscall `os/tsd.h` masks them too).
pub fn tsd_base(tpidrro: usize) -> usize {
    tpidrro & !7
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mc() -> MContext64 {
        MContext64 {
            far: 0,
            esr: 0,
            exception: 0,
            x: [7; 29],
            fp: 0,
            lr: 0,
            sp: 0,
            pc: 0,
            cpsr: 0,
            flags: 0,
            v: [[0; 2]; 32],
            fpsr: 0,
            fpcr: 0,
            pad: [0; 2],
        }
    }

    #[test]
    fn layouts_macos() {
        assert_eq!(size_of::<KSigactionIn>(), 24);
        assert_eq!(
            [
                offset_of!(KSigactionIn, tramp),
                offset_of!(KSigactionIn, mask),
                offset_of!(KSigactionIn, flags)
            ],
            [8, 16, 20]
        );
        assert_eq!(
            (size_of::<KSigactionOut>(), offset_of!(KSigactionOut, flags)),
            (16, 12)
        );
        assert_eq!(
            (
                size_of::<StackT>(),
                offset_of!(StackT, size),
                offset_of!(StackT, flags)
            ),
            (24, 8, 16)
        );
        assert_eq!((size_of::<SigInfo>(), offset_of!(SigInfo, addr)), (104, 24));
        assert_eq!(
            (size_of::<UContext>(), offset_of!(UContext, mcontext)),
            (56, 48)
        );
        assert_eq!(size_of::<MContext64>(), 816);
        assert_eq!(
            [
                offset_of!(MContext64, sp),
                offset_of!(MContext64, pc),
                offset_of!(MContext64, flags)
            ],
            [264, 272, 284]
        );
        // x[n] at 16 + 8n.
        let m = mc();
        let base = &raw const m as usize;
        assert_eq!(&raw const m.x[28] as usize - base, 16 + 8 * 28);
    }

    #[test]
    fn fault_codes_macos() {
        assert!(fault_code(c::SIGSEGV, c::SEGV_ACCERR));
        assert!(fault_code(c::SIGSEGV, c::SEGV_MAPERR));
        assert!(fault_code(c::SIGBUS, c::BUS_ADRALN));
        assert!(fault_code(c::SIGBUS, c::BUS_OBJERR));
        for sent in c::SI_USER..=c::SI_MESGQ {
            assert!(!fault_code(c::SIGSEGV, sent));
            assert!(!fault_code(c::SIGBUS, sent));
        }
        assert!(!fault_code(c::SIGSEGV, 0));
        assert!(!fault_code(c::SIGBUS, 4));
        assert!(!fault_code(4, 2)); // SIGILL
    }

    #[test]
    fn data_abort_macos() {
        let dabt = c::ESR_EC_DABT_LOWER << c::ESR_EC_SHIFT | 0x4f;
        let svc = 0x15 << c::ESR_EC_SHIFT;
        let a = 0x1_0000_4000usize;
        assert_eq!(
            data_abort(c::SIGBUS, c::BUS_ADRALN, a, a as u64, dabt),
            Some(a)
        );
        assert_eq!(
            data_abort(c::SIGSEGV, c::SEGV_ACCERR, a, a as u64, dabt),
            Some(a)
        );
        // Sent to a thread in a system call: ESR says svc.
        assert_eq!(
            data_abort(c::SIGSEGV, c::SEGV_ACCERR, a, a as u64, svc),
            None
        );
        // Instruction abort (EC 0x20), address mismatch, sent code.
        assert_eq!(
            data_abort(c::SIGBUS, c::BUS_ADRALN, a, a as u64, 0x20 << 26),
            None
        );
        assert_eq!(
            data_abort(c::SIGBUS, c::BUS_ADRALN, a, a as u64 + 8, dabt),
            None
        );
        assert_eq!(data_abort(c::SIGSEGV, c::SI_USER, a, a as u64, dabt), None);
    }

    #[test]
    fn redirect_macos() {
        let mut m = mc();
        m.cpsr = 0x6000_0C00;
        m.x[0] = u64::MAX;
        redirect(&mut m, 0x1000, 0x2000, 1);
        assert_eq!(
            (m.pc, m.sp, m.x[0], m.cpsr),
            (0x1000, 0x2000, 1, 0x6000_0000)
        );
        assert_eq!(m.x[1], 7);
        assert!(redirectable(0x1)); // NO_PTRAUTH
        assert!(!redirectable(0x4 | 0x8));
        assert_eq!(tsd_base(0x1_2345_6787), 0x1_2345_6780);
    }
}
