//! Raw trap wrappers, one file per (ISA, trap convention).
//!
//! These are the only places where the library executes a system-call or
//! kernel-trap instruction. Each wrapper is a small `#[inline]` function with
//! one `asm!` block, explicit registers and honest `options`; callers decode
//! the result with their OS's convention (see `src/os/<platform>/`).

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[path = "x86_64/linux.rs"]
pub(crate) mod linux;

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
#[path = "aarch64/linux.rs"]
pub(crate) mod linux;

#[cfg(all(target_os = "nto", target_arch = "aarch64"))]
#[path = "aarch64/qnx.rs"]
pub(crate) mod qnx;

#[cfg(all(target_os = "macos", target_arch = "aarch64"))]
#[path = "aarch64/macos.rs"]
pub(crate) mod macos;

#[cfg(all(
    target_os = "linux",
    not(any(target_arch = "x86_64", target_arch = "aarch64"))
))]
compile_error!("wrt-platform: Linux is supported on x86_64 and aarch64 only");

/// MTE tag operations (aarch64 Linux).
#[cfg(all(target_arch = "aarch64", target_os = "linux"))]
#[path = "aarch64/mte.rs"]
pub(crate) mod mte;

/// Instruction-cache maintenance for code pages.
#[cfg(all(target_arch = "aarch64", target_os = "linux"))]
#[path = "aarch64/cache.rs"]
pub(crate) mod cache;

/// WFE/SEV, generic timer, DAIF and Zephyr `svc #3` (aarch64, no hosted OS).
#[cfg(all(target_arch = "aarch64", target_os = "none"))]
#[path = "aarch64/baremetal.rs"]
pub(crate) mod baremetal;

/// The generic timer's counter (aarch64 Linux and bare metal).
#[cfg(all(target_arch = "aarch64", any(wrt_os = "linux", wrt_os = "baremetal")))]
#[path = "aarch64/counter.rs"]
pub(crate) mod counter;

/// Bulk memory operations for `memory.fill` / `memory.copy`.
#[cfg_attr(not(feature = "capi"), allow(dead_code))]
pub(crate) mod mem;
