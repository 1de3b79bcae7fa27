//! macOS arm64 backend (XNU, no libSystem): raw BSD system calls and Mach
//! traps, `svc #0x80`.
//!
//! **Builds and is checked; not executed.** No Mac runs here. The library
//! builds for `aarch64-apple-darwin`, `scripts/check-macos` checks the trap
//! sequences in its disassembly and that it references no libSystem symbol,
//! and everything that is not a trap (encoders, decoders, layouts, timeout
//! arithmetic, builder validation, every constant) runs in the host's unit
//! tests. Apple does not promise a stable system-call ABI (QA1118); this
//! backend follows xnu-11417 (macOS 15).
//!
//! | file | what |
//! |---|---|
//! | [`consts`] | every XNU number used, with its source; pinned by a test |
//! | [`abi`] | `(x0, carry)` decoding, `kern_return_t` decoding and errno mapping |
//! | [`sys`] | one `#[inline(never)]` function per call (the ones the disassembly check inspects) |
//! | [`time`] | `mach_absolute_time` deadlines (trap -3, timebase trap -89) |
//! | [`mm`] | [`MacOsPages`] (`PageAllocator`): mmap / mprotect / `MAP_FIXED` decommit / munmap |
//! | [`builder`] | [`MacOsAllocatorBuilder`]: limits, guards, VM flags, tag, max protection, inheritance |
//! | [`mig`] | `mach_vm_copy` / `mach_vm_remap` MIG messages, `mach_msg2` arguments, reply decoding |
//! | [`lock`] | [`MacOsUnfairLock`](lock): `os_unfair_lock` protocol on `__ulock_wait2` / `__ulock_wake` |
//! | [`futex`] | [`MacOsFutex`] (`FutexLike`): `__ulock_wait2` / `__ulock_wait` / `__ulock_wake` |
//! | [`purgeable`] | purgeable memory (`VM_FLAGS_PURGABLE`, `mach_vm_purgable_control`) |
//! | [`pressure`] | memory-pressure level and available memory (`sysctlbyname`), polling helper, kqueue `EVFILT_MEMORYSTATUS` events |
//! | [`signal`] | signal structures (`__sigaction`, `ucontext`, arm64 `mcontext64`) and the fault classification of the trap backend |
//! | [`code`] | instruction-cache maintenance for code pages (`dc cvau` / `ic ivau`) |
//! | `errno` | XNU error numbers |
//!
//! The trap wrappers themselves are in `arch/aarch64/macos.rs`.
//!
//! Errors the backend produces itself are spelled with XNU numbers
//! (`abi::xnu(errno::EINVAL)`) in the parts that also run on the host, so
//! that host tests compare macOS numbers; in a macOS build they equal
//! [`Errno::INVAL`](crate::Errno::INVAL) and friends.
//!
//! Built on top of those: copy-on-write cloning and a fast copy
//! ([`MacOsPages::clone_cow`], [`MacOsPages::copy_within`]) on
//! `mach_vm_remap` / `mach_vm_copy` MIG messages ([`mig`], sent with the
//! `mach_msg2` trap), the `os_unfair_lock` protocol ([`lock`], the memory
//! grow lock on macOS), and kqueue memory-pressure events
//! ([`KqueuePressure`], `EVFILT_MEMORYSTATUS`).
//!
//! Not built: `MAP_JIT` code pages. Their per-thread write/execute switch,
//! `pthread_jit_write_protect_np`, is a libSystem routine that writes an
//! Apple-defined system register with values from undocumented commpage
//! fields; no XNU source describes it (see [`code`]). Also not built: the
//! `_SHARED` (cross-process) ulock opcodes.

// Host unit tests compile this module without using all of it.
#![cfg_attr(not(wrt_os = "macos"), allow(dead_code))]

#[cfg(all(wrt_os = "macos", not(target_arch = "aarch64")))]
compile_error!("wrt-platform: the macOS backend supports arm64 (aarch64-apple-darwin) only");

pub(crate) mod errno;

pub mod abi;
pub mod builder;
pub mod code;
pub mod consts;
pub mod futex;
pub mod lock;
pub mod mig;
pub mod mm;
pub mod pressure;
pub mod purgeable;
pub mod signal;
pub mod time;

#[cfg(wrt_os = "macos")]
pub mod sys;

pub use builder::{Inheritance, MacOsAllocatorBuilder, MaxProtection, VmFlags};
#[cfg(wrt_os = "macos")]
pub use futex::MacOsFutex;
#[cfg(wrt_os = "macos")]
pub use lock::{MacOsUnfairLock, MacOsUnfairLockGuard};
#[cfg(wrt_os = "macos")]
pub use mm::{MacOsPages, page_size};
#[cfg(wrt_os = "macos")]
pub use pressure::{KqueuePressure, SysctlPressure, available_memory_percent, pressure_level};
pub use pressure::{MemoryPressure, PressureChange, PressureLevel, PressureSource};
#[cfg(wrt_os = "macos")]
pub use purgeable::PurgeableRegion;
pub use purgeable::PurgeableState;
