//! Every XNU number the macOS backend uses, typed by hand with its source.
//!
//! Sources are apple-oss-distributions/xnu (xnu-11417.101.15 unless a
//! commit is named), as collected in the project's reference sheet
//! (`platform-abi.md` section A) and re-read where noted. A test at the end
//! of this file pins every value to the sheet, so a typo fails the build's
//! host tests instead of a Mac at run time.
//!
//! The `errno` values are in `super::errno` (pinned by the same test).

/// BSD system-call numbers (XNU `bsd/kern/syscalls.master`); loaded into x16.
pub mod sys_nr {
    /// `munmap(addr, len)`.
    pub const MUNMAP: u32 = 73;
    /// `mprotect(addr, len, prot)`.
    pub const MPROTECT: u32 = 74;
    /// `madvise(addr, len, advice)`.
    pub const MADVISE: u32 = 75;
    /// `mmap(addr, len, prot, flags, fd, pos)`.
    pub const MMAP: u32 = 197;
    /// `__sysctl(name, namelen, old, oldlenp, new, newlen)`.
    pub const SYSCTL: u32 = 202;
    /// `minherit(addr, len, inherit)` (`250 AUE_MINHERIT`).
    pub const MINHERIT: u32 = 250;
    /// `sysctlbyname(name, namelen, old, oldlenp, new, newlen)`; `namelen`
    /// excludes the NUL (`bsd/kern/kern_newsysctl.c` `sys_sysctlbyname`).
    pub const SYSCTLBYNAME: u32 = 274;
    /// `__ulock_wait(op, addr, value, timeout_us)`.
    pub const ULOCK_WAIT: u32 = 515;
    /// `__ulock_wake(op, addr, wake_value)`.
    pub const ULOCK_WAKE: u32 = 516;
    /// `__ulock_wait2(op, addr, value, timeout_ns, value2)`.
    pub const ULOCK_WAIT2: u32 = 544;
    /// `close(fd)` (`6 AUE_CLOSE`).
    pub const CLOSE: u32 = 6;
    /// `kqueue()` (`362 AUE_KQUEUE`).
    pub const KQUEUE: u32 = 362;
    /// `kevent(kq, changelist, nchanges, eventlist, nevents, timeout)`
    /// (`363 AUE_KEVENT`).
    pub const KEVENT: u32 = 363;
}

/// Mach trap numbers (XNU `osfmk/mach/syscall_sw.h`, `osfmk/kern/syscall_sw.c`,
/// `osfmk/mach/arm/traps.h`); loaded into x16 as negative numbers.
pub mod trap_nr {
    /// `MACH_ARM_TRAP_ABSTIME`: fast path returning `mach_absolute_time()`
    /// in x0 (`osfmk/arm64/sleh.c` `handle_mach_absolute_time_trap`).
    pub const MACH_ABSOLUTE_TIME: i32 = -3;
    /// `_kernelrpc_mach_vm_allocate_trap(target, *addr, size, flags)`.
    pub const MACH_VM_ALLOCATE: i32 = -10;
    /// `_kernelrpc_mach_vm_purgable_control_trap(target, addr, control, *state)`.
    pub const MACH_VM_PURGABLE_CONTROL: i32 = -11;
    /// `_kernelrpc_mach_vm_deallocate_trap(target, addr, size)`.
    pub const MACH_VM_DEALLOCATE: i32 = -12;
    /// `_kernelrpc_mach_vm_protect_trap(target, addr, size, set_max, prot)`.
    pub const MACH_VM_PROTECT: i32 = -14;
    /// `_kernelrpc_mach_vm_map_trap(target, *addr, size, mask, flags, cur_prot)`;
    /// anonymous memory only, max protection `VM_PROT_ALL`, default
    /// inheritance (`osfmk/ipc/mach_kernelrpc.c`).
    pub const MACH_VM_MAP: i32 = -15;
    /// `_kernelrpc_mach_port_deallocate_trap(task, name)`: drops one user
    /// reference of a send right (`osfmk/kern/syscall_sw.c` entry 18).
    pub const MACH_PORT_DEALLOCATE: i32 = -18;
    /// `_kernelrpc_mach_port_mod_refs_trap(task, name, right, delta)`
    /// (entry 19); with `MACH_PORT_RIGHT_RECEIVE` and -1 it destroys a
    /// receive right.
    pub const MACH_PORT_MOD_REFS: i32 = -19;
    /// `mach_reply_port()`: a new receive right, for one MIG reply (entry 26).
    pub const MACH_REPLY_PORT: i32 = -26;
    /// `thread_self_trap()`: the calling thread's port name, plus one user
    /// reference (entry 27).
    pub const THREAD_SELF: i32 = -27;
    /// `task_self_trap()`: the task's own port name (adds a user reference
    /// per call, so the backend caches it).
    pub const TASK_SELF: i32 = -28;
    /// `mach_msg2_trap(data, options64, bits|send_size, remote|local,
    /// voucher|id, desc_count|rcv_name, rcv_size|priority, timeout)`
    /// (entry 47, `munge_llllllll`). The legacy `mach_msg_trap` (-31) is
    /// refused on macOS for every message id but five, unless the binary
    /// was linked against an SDK older than 12 (`osfmk/ipc/mach_msg.c`
    /// `mach_msg_legacy_allowed`): MIG calls go through this one.
    pub const MACH_MSG2: i32 = -47;
    /// `mach_timebase_info_trap(*info)`: `{ u32 numer; u32 denom; }`.
    pub const MACH_TIMEBASE_INFO: i32 = -89;
}

/// `PROT_*` for mmap/mprotect (XNU `bsd/sys/mman.h`).
pub mod prot {
    /// No access.
    pub const NONE: u32 = 0;
    /// Readable.
    pub const READ: u32 = 1;
    /// Writable.
    pub const WRITE: u32 = 2;
    /// Executable.
    pub const EXEC: u32 = 4;
}

/// `MAP_*` for mmap (XNU `bsd/sys/mman.h`).
pub mod map {
    /// Shared mapping.
    pub const SHARED: u32 = 0x1;
    /// Private (copy-on-write) mapping.
    pub const PRIVATE: u32 = 0x2;
    /// Place exactly at `addr`, atomically replacing what is there
    /// (`VM_FLAGS_FIXED | VM_FLAGS_OVERWRITE` in `bsd/kern/kern_mman.c`).
    pub const FIXED: u32 = 0x10;
    /// Do not keep pages cached after use (`VM_FLAGS_NO_CACHE`).
    pub const NOCACHE: u32 = 0x400;
    /// Mapping for a JIT (hardened runtime); not used by this backend.
    pub const JIT: u32 = 0x800;
    /// Anonymous memory; `fd` carries Mach VM flags when not -1.
    pub const ANON: u32 = 0x1000;
}

/// `MADV_*` for madvise (XNU `bsd/sys/mman.h`; effects from
/// `osfmk/vm/vm_map.c` `vm_map_behavior_set`).
pub mod madv {
    /// Deactivates pages; contents are **not** discarded on XNU.
    pub const DONTNEED: u32 = 4;
    /// `msync(KILLPAGES)`: pages may be dropped later, may read old data.
    pub const FREE: u32 = 5;
    /// `vm_map_reusable_pages`: the memory stops counting against the task
    /// and may be reclaimed, but may keep its old contents until it is.
    pub const FREE_REUSABLE: u32 = 7;
    /// `vm_map_reuse_pages`: the counterpart of `FREE_REUSABLE` before reuse.
    pub const FREE_REUSE: u32 = 8;
}

/// Mach VM allocation flags (XNU `osfmk/mach/vm_statistics.h`).
pub mod vm_flags {
    /// Place exactly at the given address.
    pub const FIXED: i32 = 0x0;
    /// Place anywhere.
    pub const ANYWHERE: i32 = 0x1;
    /// Create a purgeable VM object.
    pub const PURGABLE: i32 = 0x2;
    /// Randomise the address chosen by `ANYWHERE`.
    pub const RANDOM_ADDR: i32 = 0x8;
    /// Do not cache pages after use.
    pub const NO_CACHE: i32 = 0x10;
    /// With `FIXED`: replace existing mappings atomically.
    pub const OVERWRITE: i32 = 0x4000;
    /// The tag (alias) byte.
    pub const ALIAS_MASK: i32 = 0xFF00_0000u32 as i32;
    /// `VM_MEMORY_APPLICATION_SPECIFIC_1`: first tag reserved for
    /// applications (240..=255).
    pub const APPLICATION_SPECIFIC_1: u8 = 240;

    /// `VM_MAKE_TAG(tag)` = `tag << 24`.
    pub const fn make_tag(tag: u8) -> i32 {
        ((tag as u32) << 24) as i32
    }
}

/// Mach `vm_prot_t` (XNU `osfmk/mach/vm_prot.h`).
pub mod vm_prot {
    /// No access.
    pub const NONE: i32 = 0;
    /// Read.
    pub const READ: i32 = 1;
    /// Write.
    pub const WRITE: i32 = 2;
    /// Execute.
    pub const EXECUTE: i32 = 4;
    /// `VM_PROT_DEFAULT` = read | write.
    pub const DEFAULT: i32 = 3;
    /// `VM_PROT_ALL` = read | write | execute.
    pub const ALL: i32 = 7;
}

/// `vm_inherit_t` for minherit (XNU `osfmk/mach/vm_inherit.h`).
pub mod vm_inherit {
    /// The child shares the memory.
    pub const SHARE: u32 = 0;
    /// The child gets a copy (the default).
    pub const COPY: u32 = 1;
    /// The child gets no mapping.
    pub const NONE: u32 = 2;
}

/// Purgeable-memory controls and states (XNU `osfmk/mach/vm_purgable.h`).
pub mod purgable {
    /// `VM_PURGABLE_SET_STATE`: `*state` in = new state, out = old state.
    pub const SET_STATE: i32 = 0;
    /// `VM_PURGABLE_GET_STATE`.
    pub const GET_STATE: i32 = 1;
    /// Mask of the state field.
    pub const STATE_MASK: i32 = 3;
    /// Contents are kept.
    pub const NONVOLATILE: i32 = 0;
    /// Contents may be discarded under memory pressure.
    pub const VOLATILE: i32 = 1;
    /// Contents were discarded (or discard them now when set).
    pub const EMPTY: i32 = 2;
}

/// `__ulock_*` operations and flags (XNU `bsd/sys/ulock.h`).
pub mod ulock {
    /// Compare a 32-bit word (zero-extended to 64 bits) and wait.
    pub const UL_COMPARE_AND_WAIT: u32 = 1;
    /// `os_unfair_lock` protocol (owner thread port in the word).
    pub const UL_UNFAIR_LOCK: u32 = 2;
    /// Compare a 64-bit word (8-byte aligned) and wait.
    pub const UL_COMPARE_AND_WAIT64: u32 = 5;
    /// Wake every waiter.
    pub const ULF_WAKE_ALL: u32 = 0x100;
    /// Return `-errno` in x0 with carry clear; never used here.
    pub const ULF_NO_ERRNO: u32 = 0x0100_0000;
    /// Opcode bits 7..=0.
    pub const UL_OPCODE_MASK: u32 = 0xFF;
    /// `ulock_owner_value_to_port_name(v)` = `v | 0x3` in user space: the
    /// two low bits of a port name are free for flags (`bsd/sys/ulock.h`).
    pub const OWNER_NAME_BITS: u32 = 0x3;
    /// `OS_ULOCK_NOWAITERS_BIT` of `os_unfair_lock` (apple-oss-distributions
    /// libplatform `src/os/lock.c`): set in the word while no thread waits;
    /// a waiter clears it before it sleeps.
    pub const NOWAITERS_BIT: u32 = 0x1;
}

/// Mach IPC for MIG calls to the kernel (XNU `osfmk/mach/message.h`,
/// `osfmk/mach/port.h`, `osfmk/mach/notify.h`, `osfmk/mach/mig_errors.h`,
/// `osfmk/mach/ndr.h`).
pub mod mach_msg {
    /// `MACH_MSGH_BITS_COMPLEX`: the body starts with descriptors.
    pub const MSGH_BITS_COMPLEX: u32 = 0x8000_0000;
    /// `MACH_MSG_TYPE_MOVE_SEND`.
    pub const TYPE_MOVE_SEND: u32 = 17;
    /// `MACH_MSG_TYPE_COPY_SEND`: the destination keeps its send right.
    pub const TYPE_COPY_SEND: u32 = 19;
    /// `MACH_MSG_TYPE_MAKE_SEND_ONCE`: a send-once right for the reply.
    pub const TYPE_MAKE_SEND_ONCE: u32 = 21;
    /// `MACH_MSG_PORT_DESCRIPTOR`.
    pub const PORT_DESCRIPTOR: u8 = 0;
    /// `MACH64_SEND_MSG` = `MACH_SEND_MSG`.
    pub const SEND_MSG: u64 = 0x1;
    /// `MACH64_RCV_MSG` = `MACH_RCV_MSG`.
    pub const RCV_MSG: u64 = 0x2;
    /// `MACH64_SEND_KOBJECT_CALL`: the destination is a kernel object
    /// (mach_msg2 needs exactly one of the four CFI bits when sending).
    pub const SEND_KOBJECT_CALL: u64 = 0x2_0000_0000;
    /// `MACH64_MSG_OPTION_CFI_MASK` = KOBJECT | MQ | ANY | DK call.
    pub const CFI_MASK: u64 = 0x2_0000_0000 | 0x4_0000_0000 | 0x8_0000_0000 | 0x10_0000_0000;
    /// `MACH_MSG_SUCCESS`.
    pub const MSG_SUCCESS: i32 = 0;
    /// `MACH_SEND_INTERRUPTED`: the send did not happen; send again.
    pub const SEND_INTERRUPTED: i32 = 0x1000_0007;
    /// `MACH_SEND_INVALID_RIGHT`: a right in the body may not be sent
    /// (for instance an immovable one).
    pub const SEND_INVALID_RIGHT: i32 = 0x1000_000a;
    /// `MACH_SEND_NO_GRANT_DEST`: the destination accepts no ports in the
    /// body.
    pub const SEND_NO_GRANT_DEST: i32 = 0x1000_0016;
    /// `MACH_SEND_INVALID_OPTIONS` (a mach_msg2 CFI violation).
    pub const SEND_INVALID_OPTIONS: i32 = 0x1000_0013;
    /// `MACH_RCV_TOO_LARGE`.
    pub const RCV_TOO_LARGE: i32 = 0x1000_4004;
    /// `MACH_RCV_INTERRUPTED`: sent, not yet received; receive again.
    pub const RCV_INTERRUPTED: i32 = 0x1000_4005;
    /// `MACH_RCV_PORT_DIED`.
    pub const RCV_PORT_DIED: i32 = 0x1000_4009;
    /// `MACH_NOTIFY_SEND_ONCE` = `MACH_NOTIFY_FIRST (0100) + 7`: what the
    /// reply port receives when the server dropped the reply right.
    pub const NOTIFY_SEND_ONCE: i32 = 71;
    /// `MACH_PORT_RIGHT_RECEIVE`.
    pub const PORT_RIGHT_RECEIVE: u32 = 1;
    /// `NDR_INT_LITTLE_ENDIAN` (`NDR_record.int_rep` on arm64).
    pub const NDR_INT_LITTLE_ENDIAN: u8 = 1;
    /// `MIG_TYPE_ERROR`: the reply has the wrong size or bits.
    pub const MIG_TYPE_ERROR: i32 = -300;
    /// `MIG_REPLY_MISMATCH`: the reply id is not request id + 100.
    pub const MIG_REPLY_MISMATCH: i32 = -301;
    /// `MIG_BAD_ID`: the server does not know the routine.
    pub const MIG_BAD_ID: i32 = -303;
    /// `MIG_SERVER_DIED`: a send-once notification came back instead.
    pub const MIG_SERVER_DIED: i32 = -308;
}

/// The `mach_vm` MIG subsystem (XNU `osfmk/mach/mach_vm.defs`:
/// `subsystem mach_vm 4800`; each `routine` or `skip` takes the next id,
/// and a reply's id is the request's plus 100).
pub mod mig {
    /// `mach_vm_copy`: routine 7 of the subsystem.
    pub const MACH_VM_COPY: i32 = 4807;
    /// `mach_vm_remap`: routine 13.
    pub const MACH_VM_REMAP: i32 = 4813;
    /// Reply id offset.
    pub const REPLY_DELTA: i32 = 100;
}

/// kqueue / kevent (XNU `bsd/sys/event.h`, `bsd/sys/event_private.h`).
pub mod kevent {
    /// `EVFILT_VM`: the legacy VM-pressure filter.
    pub const EVFILT_VM: i16 = -12;
    /// `EVFILT_MEMORYSTATUS` (event_private.h; no privilege needed to
    /// attach: `filt_memorystatusattach` in
    /// `bsd/kern/kern_memorystatus_notify.c` checks only the flags).
    pub const EVFILT_MEMORYSTATUS: i16 = -14;
    /// `EV_ADD`.
    pub const EV_ADD: u16 = 0x0001;
    /// `EV_ENABLE`.
    pub const EV_ENABLE: u16 = 0x0004;
    /// `EV_CLEAR` (the memorystatus filter sets it itself).
    pub const EV_CLEAR: u16 = 0x0020;
    /// `EV_RECEIPT`: report each change as an event, errors in `data`.
    pub const EV_RECEIPT: u16 = 0x0040;
    /// `EV_ERROR`: `data` holds an errno.
    pub const EV_ERROR: u16 = 0x4000;
    /// `NOTE_MEMORYSTATUS_PRESSURE_NORMAL`.
    pub const NOTE_PRESSURE_NORMAL: u32 = 0x1;
    /// `NOTE_MEMORYSTATUS_PRESSURE_WARN`.
    pub const NOTE_PRESSURE_WARN: u32 = 0x2;
    /// `NOTE_MEMORYSTATUS_PRESSURE_CRITICAL`.
    pub const NOTE_PRESSURE_CRITICAL: u32 = 0x4;
}

/// `__sysctl` names (XNU `bsd/sys/sysctl.h`; `bsd/kern/kern_mib.c`).
pub mod sysctl {
    /// `CTL_HW`.
    pub const CTL_HW: i32 = 6;
    /// `HW_PAGESIZE`: `hw.pagesize_compat`, an int holding
    /// `vm_map_page_size(current_map())` (`kern_mib.c` `sysctl_hw_generic`).
    pub const HW_PAGESIZE: i32 = 7;
    /// `MAXPATHLEN`: `sysctlbyname` rejects names this long or longer.
    pub const MAXPATHLEN: usize = 1024;
    /// Memory-pressure level, `NOTE_MEMORYSTATUS_PRESSURE_*` below
    /// (`bsd/kern/kern_memorystatus_notify.c`); OID_AUTO, so by name only.
    pub const PRESSURE_LEVEL_NAME: &[u8] = b"kern.memorystatus_vm_pressure_level";
    /// Percentage of available memory (`bsd/kern/kern_memorystatus.c`).
    pub const MEMORY_LEVEL_NAME: &[u8] = b"kern.memorystatus_level";
}

/// Memory-pressure levels as the sysctl reports them (XNU
/// `bsd/sys/event_private.h`).
pub mod memorystatus {
    /// `NOTE_MEMORYSTATUS_PRESSURE_NORMAL`.
    pub const PRESSURE_NORMAL: i32 = 0x1;
    /// `NOTE_MEMORYSTATUS_PRESSURE_WARN` (the kernel's Warning and Urgent).
    pub const PRESSURE_WARN: i32 = 0x2;
    /// `NOTE_MEMORYSTATUS_PRESSURE_CRITICAL`.
    pub const PRESSURE_CRITICAL: i32 = 0x4;
}

/// `kern_return_t` values (XNU `osfmk/mach/kern_return.h`) and one Mach IPC
/// error (`osfmk/mach/message.h`).
pub mod kern_return {
    /// Success.
    pub const KERN_SUCCESS: i32 = 0;
    /// Address not valid or not allocated.
    pub const KERN_INVALID_ADDRESS: i32 = 1;
    /// Protection does not allow the operation.
    pub const KERN_PROTECTION_FAILURE: i32 = 2;
    /// No room in the address space.
    pub const KERN_NO_SPACE: i32 = 3;
    /// Bad argument.
    pub const KERN_INVALID_ARGUMENT: i32 = 4;
    /// Generic failure.
    pub const KERN_FAILURE: i32 = 5;
    /// Out of kernel resources.
    pub const KERN_RESOURCE_SHORTAGE: i32 = 6;
    /// Access denied (also: operation not allowed on this entry).
    pub const KERN_NO_ACCESS: i32 = 8;
    /// The memory object failed.
    pub const KERN_MEMORY_FAILURE: i32 = 9;
    /// The memory object reported an error.
    pub const KERN_MEMORY_ERROR: i32 = 10;
    /// Not supported.
    pub const KERN_NOT_SUPPORTED: i32 = 46;
    /// `MACH_SEND_INVALID_DEST`: the target port name is not a task.
    pub const MACH_SEND_INVALID_DEST: i32 = 0x1000_0003;
}

/// `vm_inherit_t` default of a new mapping (`VM_INHERIT_DEFAULT` =
/// `VM_INHERIT_COPY`, `osfmk/mach/vm_inherit.h`), for `mach_vm_remap`.
pub const VM_INHERIT_DEFAULT: u32 = vm_inherit::COPY;

/// Signals and signal delivery (traps; `src/trap/macos.rs`). Sources: XNU
/// `bsd/kern/syscalls.master` (numbers), `bsd/sys/signal.h` (flags, signal
/// and `si_code` numbers), `bsd/sys/ucontext.h` / `bsd/sys/_types/_ucontext.h`
/// (`UC_*`), `bsd/dev/arm/unix_signal.c` (`sendsig`, `sigreturn`),
/// `osfmk/mach/arm/_structs.h` (thread-state flags); the project's
/// `traps-abi.md` section 2.
pub mod signal {
    /// `sigaction(sig, __sigaction *nsa, sigaction *osa)` (`46 AUE_SIGACTION`).
    pub const SYS_SIGACTION: u32 = 46;
    /// `sigaltstack(stack_t *nss, stack_t *oss)` (`53 AUE_SIGALTSTACK`).
    pub const SYS_SIGALTSTACK: u32 = 53;
    /// `sigreturn(ucontext *uctx, int infostyle, user_addr_t token)`
    /// (`184 AUE_SIGRETURN`); loaded by `asm/aarch64-macho/trap.s`.
    pub const SYS_SIGRETURN: u32 = 184;
    /// `getpid()` (`20 AUE_GETPID`).
    pub const SYS_GETPID: u32 = 20;
    /// `kill(pid, signum, posix)` (`37 AUE_KILL`).
    pub const SYS_KILL: u32 = 37;

    /// `SIGBUS`: what a fault in a `PROT_NONE` guard raises on macOS
    /// (`bsd/uxkern/ux_exception.c`: every EXC_BAD_ACCESS code but
    /// `KERN_INVALID_ADDRESS`).
    pub const SIGBUS: i32 = 10;
    /// `SIGSEGV` (`KERN_INVALID_ADDRESS`, and protection faults in the main
    /// thread's stack range).
    pub const SIGSEGV: i32 = 11;

    /// `SA_ONSTACK`: deliver on the alternate signal stack.
    pub const SA_ONSTACK: i32 = 0x1;
    /// `SA_NODEFER`: do not block the signal in its own handler.
    pub const SA_NODEFER: i32 = 0x10;
    /// `SA_SIGINFO`: three-argument handler (infostyle `UC_FLAVOR`).
    pub const SA_SIGINFO: i32 = 0x40;
    /// `SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP` (private, `bsd/sys/signal.h`):
    /// the first action installed with it turns on the kernel's sigreturn
    /// token check (libplatform always sets it; our trampoline passes the
    /// token through, so it passes).
    pub const SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP: i32 = 0x400;

    /// `SIG_DFL`.
    pub const SIG_DFL: usize = 0;
    /// `SIG_IGN`.
    pub const SIG_IGN: usize = 1;

    /// `SS_ONSTACK`: the thread is running on its alternate stack.
    pub const SS_ONSTACK: i32 = 1;
    /// `SS_DISABLE`: no alternate stack.
    pub const SS_DISABLE: i32 = 4;

    /// `UC_TRAD`: infostyle of a one-argument handler.
    pub const UC_TRAD: i32 = 1;
    /// `UC_FLAVOR`: infostyle of an `SA_SIGINFO` handler, and what Apple's
    /// `_sigtramp` (and ours) passes to `sigreturn`.
    pub const UC_FLAVOR: i32 = 30;
    /// `uc_mcsize` of an arm64 `mcontext64` (`sendsig`; `sigreturn` refuses
    /// another size): `__darwin_arm_exception_state64` 16 +
    /// `__darwin_arm_thread_state64` 272 + `__darwin_arm_neon_state64` 528.
    pub const MCONTEXT64_SIZE: usize = 816;

    /// `si_code` of SIGSEGV: address not mapped.
    pub const SEGV_MAPERR: i32 = 1;
    /// `si_code` of SIGSEGV: access not permitted (what arm64 `sendsig`
    /// writes for every SIGSEGV).
    pub const SEGV_ACCERR: i32 = 2;
    /// `si_code` of SIGBUS: invalid alignment (what arm64 `sendsig` writes
    /// for every SIGBUS).
    pub const BUS_ADRALN: i32 = 1;
    /// `si_code` of SIGBUS: nonexistent physical address.
    pub const BUS_ADRERR: i32 = 2;
    /// `si_code` of SIGBUS: object-specific hardware error.
    pub const BUS_OBJERR: i32 = 3;
    /// `si_code` `SI_USER` (`kill`), the first of the "sent" codes
    /// (`SI_QUEUE` 0x10002, `SI_TIMER` 0x10003, `SI_ASYNCIO` 0x10004,
    /// `SI_MESGQ` 0x10005).
    pub const SI_USER: i32 = 0x10001;
    /// `SI_MESGQ`, the last of the "sent" codes.
    pub const SI_MESGQ: i32 = 0x10005;

    /// ESR_EL1.EC of a data abort from EL0 (Arm ARM D24.2.41): the only
    /// exception class a guard-page or stack-overflow access raises.
    pub const ESR_EC_DABT_LOWER: u32 = 0x24;
    /// Shift of ESR_EL1.EC.
    pub const ESR_EC_SHIFT: u32 = 26;
    /// `__darwin_arm_thread_state64.__flags`: pc is signed by the kernel
    /// (arm64e), `__DARWIN_ARM_THREAD_STATE64_FLAGS_KERNEL_SIGNED_PC`.
    pub const THREAD_STATE_FLAGS_KERNEL_SIGNED_PC: u32 = 0x4;
    /// `__DARWIN_ARM_THREAD_STATE64_FLAGS_KERNEL_SIGNED_LR`.
    pub const THREAD_STATE_FLAGS_KERNEL_SIGNED_LR: u32 = 0x8;
    /// CPSR.BTYPE (bits 11:10), cleared when a context is redirected.
    pub const CPSR_BTYPE: u32 = 0xC00;
}

#[cfg(test)]
mod tests {
    use super::super::errno as e;
    use super::*;

    /// Every value, pinned to `platform-abi.md` section A (or, where the
    /// sheet is silent, the XNU file named on the constant).
    #[test]
    fn every_constant_matches_the_reference_sheet() {
        // A.2 BSD system calls.
        assert_eq!(
            [
                sys_nr::MUNMAP,
                sys_nr::MPROTECT,
                sys_nr::MADVISE,
                sys_nr::MMAP,
                sys_nr::SYSCTL,
                sys_nr::SYSCTLBYNAME,
                sys_nr::ULOCK_WAIT,
                sys_nr::ULOCK_WAKE,
                sys_nr::ULOCK_WAIT2,
            ],
            [73, 74, 75, 197, 202, 274, 515, 516, 544]
        );
        // syscalls.master line `250 AUE_MINHERIT ALL { int minherit(...) }`.
        assert_eq!(sys_nr::MINHERIT, 250);
        // A.1 / A.4 Mach traps.
        assert_eq!(
            [
                trap_nr::MACH_ABSOLUTE_TIME,
                trap_nr::MACH_VM_ALLOCATE,
                trap_nr::MACH_VM_PURGABLE_CONTROL,
                trap_nr::MACH_VM_DEALLOCATE,
                trap_nr::MACH_VM_PROTECT,
                trap_nr::MACH_VM_MAP,
                trap_nr::TASK_SELF,
                trap_nr::MACH_TIMEBASE_INFO,
            ],
            [-3, -10, -11, -12, -14, -15, -28, -89]
        );
        // A.5 mmap / mprotect / madvise.
        assert_eq!(
            [prot::NONE, prot::READ, prot::WRITE, prot::EXEC],
            [0, 1, 2, 4]
        );
        assert_eq!(
            [
                map::SHARED,
                map::PRIVATE,
                map::FIXED,
                map::NOCACHE,
                map::JIT,
                map::ANON
            ],
            [0x1, 0x2, 0x10, 0x400, 0x800, 0x1000]
        );
        assert_eq!(
            [
                madv::DONTNEED,
                madv::FREE,
                madv::FREE_REUSABLE,
                madv::FREE_REUSE
            ],
            [4, 5, 7, 8]
        );
        // A.5 VM flags, protections, inheritance, purgeable.
        assert_eq!(
            [
                vm_flags::FIXED,
                vm_flags::ANYWHERE,
                vm_flags::PURGABLE,
                vm_flags::RANDOM_ADDR,
                vm_flags::NO_CACHE,
                vm_flags::OVERWRITE,
            ],
            [0, 1, 2, 8, 0x10, 0x4000]
        );
        assert_eq!(vm_flags::ALIAS_MASK as u32, 0xFF00_0000);
        assert_eq!(vm_flags::APPLICATION_SPECIFIC_1, 240);
        assert_eq!(vm_flags::make_tag(240) as u32, 240 << 24);
        assert_eq!(vm_flags::make_tag(255) as u32, 0xFF00_0000);
        assert_eq!(
            [
                vm_prot::NONE,
                vm_prot::READ,
                vm_prot::WRITE,
                vm_prot::EXECUTE,
                vm_prot::DEFAULT,
                vm_prot::ALL,
            ],
            [0, 1, 2, 4, 3, 7]
        );
        assert_eq!(
            [vm_inherit::SHARE, vm_inherit::COPY, vm_inherit::NONE],
            [0, 1, 2]
        );
        assert_eq!(
            [
                purgable::SET_STATE,
                purgable::GET_STATE,
                purgable::STATE_MASK,
                purgable::NONVOLATILE,
                purgable::VOLATILE,
                purgable::EMPTY,
            ],
            [0, 1, 3, 0, 1, 2]
        );
        // A.3 ulock.
        assert_eq!(
            [
                ulock::UL_COMPARE_AND_WAIT,
                ulock::UL_UNFAIR_LOCK,
                ulock::UL_COMPARE_AND_WAIT64,
                ulock::ULF_WAKE_ALL,
                ulock::ULF_NO_ERRNO,
                ulock::UL_OPCODE_MASK,
            ],
            [1, 2, 5, 0x100, 0x0100_0000, 0xFF]
        );
        // A.5 sysctl and memory pressure.
        assert_eq!([sysctl::CTL_HW, sysctl::HW_PAGESIZE], [6, 7]);
        assert_eq!(sysctl::MAXPATHLEN, 1024);
        assert_eq!(
            sysctl::PRESSURE_LEVEL_NAME,
            b"kern.memorystatus_vm_pressure_level"
        );
        assert_eq!(sysctl::MEMORY_LEVEL_NAME, b"kern.memorystatus_level");
        assert_eq!(
            [
                memorystatus::PRESSURE_NORMAL,
                memorystatus::PRESSURE_WARN,
                memorystatus::PRESSURE_CRITICAL,
            ],
            [1, 2, 4]
        );
        // kern_return.h / message.h.
        assert_eq!(
            [
                kern_return::KERN_SUCCESS,
                kern_return::KERN_INVALID_ADDRESS,
                kern_return::KERN_PROTECTION_FAILURE,
                kern_return::KERN_NO_SPACE,
                kern_return::KERN_INVALID_ARGUMENT,
                kern_return::KERN_FAILURE,
                kern_return::KERN_RESOURCE_SHORTAGE,
                kern_return::KERN_NO_ACCESS,
                kern_return::KERN_MEMORY_FAILURE,
                kern_return::KERN_MEMORY_ERROR,
                kern_return::KERN_NOT_SUPPORTED,
            ],
            [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 46]
        );
        assert_eq!(kern_return::MACH_SEND_INVALID_DEST, 0x1000_0003);
        // A.3 errno numbers (XNU bsd/sys/errno.h) used by the backend.
        assert_eq!(
            [
                e::EPERM,
                e::ENOENT,
                e::EINTR,
                e::EIO,
                e::EBADF,
                e::ENOMEM,
                e::EACCES,
                e::EFAULT,
                e::EBUSY,
                e::EEXIST,
                e::EINVAL,
                e::EDOM,
                e::ERANGE,
                e::EAGAIN,
                e::ENOTSUP,
                e::ETIMEDOUT,
                e::ENOSYS,
                e::EOVERFLOW,
            ],
            [
                1, 2, 4, 5, 9, 12, 13, 14, 16, 17, 22, 33, 34, 35, 45, 60, 78, 84
            ]
        );
    }

    /// The numbers added for copy-on-write cloning, the unfair lock and
    /// kqueue pressure events, each against the XNU file named on it.
    #[test]
    fn ipc_lock_and_kqueue_constants() {
        // bsd/kern/syscalls.master.
        assert_eq!(
            [sys_nr::CLOSE, sys_nr::KQUEUE, sys_nr::KEVENT],
            [6, 362, 363]
        );
        // osfmk/kern/syscall_sw.c mach_trap_table entries 18, 19, 26, 27, 47.
        assert_eq!(
            [
                trap_nr::MACH_PORT_DEALLOCATE,
                trap_nr::MACH_PORT_MOD_REFS,
                trap_nr::MACH_REPLY_PORT,
                trap_nr::THREAD_SELF,
                trap_nr::MACH_MSG2,
            ],
            [-18, -19, -26, -27, -47]
        );
        // bsd/sys/ulock.h, libplatform src/os/lock.c.
        assert_eq!([ulock::OWNER_NAME_BITS, ulock::NOWAITERS_BIT], [3, 1]);
        // osfmk/mach/message.h.
        assert_eq!(mach_msg::MSGH_BITS_COMPLEX, 0x8000_0000);
        assert_eq!(
            [
                mach_msg::TYPE_MOVE_SEND,
                mach_msg::TYPE_COPY_SEND,
                mach_msg::TYPE_MAKE_SEND_ONCE
            ],
            [17, 19, 21]
        );
        assert_eq!(mach_msg::PORT_DESCRIPTOR, 0);
        assert_eq!(
            [
                mach_msg::SEND_MSG,
                mach_msg::RCV_MSG,
                mach_msg::SEND_KOBJECT_CALL,
                mach_msg::CFI_MASK
            ],
            [1, 2, 1 << 33, 0xF << 33]
        );
        assert_eq!(
            [
                mach_msg::MSG_SUCCESS,
                mach_msg::SEND_INTERRUPTED,
                mach_msg::SEND_INVALID_OPTIONS,
                mach_msg::RCV_TOO_LARGE,
                mach_msg::RCV_INTERRUPTED,
                mach_msg::RCV_PORT_DIED,
            ],
            [
                0,
                0x1000_0007,
                0x1000_0013,
                0x1000_4004,
                0x1000_4005,
                0x1000_4009
            ]
        );
        // osfmk/mach/notify.h (MACH_NOTIFY_FIRST is octal 0100), port.h, ndr.h.
        assert_eq!(mach_msg::NOTIFY_SEND_ONCE, 0o100 + 7);
        assert_eq!(mach_msg::PORT_RIGHT_RECEIVE, 1);
        assert_eq!(mach_msg::NDR_INT_LITTLE_ENDIAN, 1);
        // osfmk/mach/mig_errors.h.
        assert_eq!(
            [
                mach_msg::MIG_TYPE_ERROR,
                mach_msg::MIG_REPLY_MISMATCH,
                mach_msg::MIG_BAD_ID,
                mach_msg::MIG_SERVER_DIED
            ],
            [-300, -301, -303, -308]
        );
        // osfmk/mach/mach_vm.defs: 4800 + routine index.
        assert_eq!(
            [mig::MACH_VM_COPY, mig::MACH_VM_REMAP],
            [4800 + 7, 4800 + 13]
        );
        assert_eq!(mig::REPLY_DELTA, 100);
        assert_eq!(VM_INHERIT_DEFAULT, 1);
        // bsd/sys/event.h, event_private.h.
        assert_eq!([kevent::EVFILT_VM, kevent::EVFILT_MEMORYSTATUS], [-12, -14]);
        assert_eq!(
            [
                kevent::EV_ADD,
                kevent::EV_ENABLE,
                kevent::EV_CLEAR,
                kevent::EV_RECEIPT,
                kevent::EV_ERROR
            ],
            [1, 4, 0x20, 0x40, 0x4000]
        );
        assert_eq!(
            [
                kevent::NOTE_PRESSURE_NORMAL,
                kevent::NOTE_PRESSURE_WARN,
                kevent::NOTE_PRESSURE_CRITICAL
            ],
            [1, 2, 4]
        );
        // The same numbers as the sysctl's levels.
        assert_eq!(
            [
                kevent::NOTE_PRESSURE_NORMAL as i32,
                kevent::NOTE_PRESSURE_WARN as i32,
                kevent::NOTE_PRESSURE_CRITICAL as i32
            ],
            [
                memorystatus::PRESSURE_NORMAL,
                memorystatus::PRESSURE_WARN,
                memorystatus::PRESSURE_CRITICAL
            ]
        );
        assert_eq!([e::ESRCH, e::EOWNERDEAD], [3, 105]);
    }

    #[test]
    fn signal_numbers_macos() {
        use super::signal as s;
        // bsd/kern/syscalls.master.
        assert_eq!(
            [s::SYS_SIGACTION, s::SYS_SIGALTSTACK, s::SYS_SIGRETURN],
            [46, 53, 184]
        );
        assert_eq!([s::SYS_GETPID, s::SYS_KILL], [20, 37]);
        // bsd/sys/signal.h.
        assert_eq!([s::SIGBUS, s::SIGSEGV], [10, 11]);
        assert_eq!(
            [
                s::SA_ONSTACK,
                s::SA_NODEFER,
                s::SA_SIGINFO,
                s::SA_VALIDATE_SIGRETURN_FROM_SIGTRAMP
            ],
            [0x1, 0x10, 0x40, 0x400]
        );
        assert_eq!([s::SIG_DFL, s::SIG_IGN], [0, 1]);
        assert_eq!([s::SS_ONSTACK, s::SS_DISABLE], [1, 4]);
        assert_eq!([s::SEGV_MAPERR, s::SEGV_ACCERR], [1, 2]);
        assert_eq!([s::BUS_ADRALN, s::BUS_ADRERR, s::BUS_OBJERR], [1, 2, 3]);
        assert_eq!([s::SI_USER, s::SI_MESGQ], [0x10001, 0x10005]);
        // bsd/sys/ucontext.h; unix_signal.c.
        assert_eq!([s::UC_TRAD, s::UC_FLAVOR], [1, 30]);
        assert_eq!(s::MCONTEXT64_SIZE, 16 + 272 + 528);
        // Arm ARM; osfmk/mach/arm/_structs.h.
        assert_eq!((s::ESR_EC_DABT_LOWER, s::ESR_EC_SHIFT), (0x24, 26));
        assert_eq!(
            [
                s::THREAD_STATE_FLAGS_KERNEL_SIGNED_PC,
                s::THREAD_STATE_FLAGS_KERNEL_SIGNED_LR,
                s::CPSR_BTYPE
            ],
            [0x4, 0x8, 0xC00]
        );
    }
}
