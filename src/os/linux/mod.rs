//! Linux backend (x86_64 and aarch64): raw system calls, no libc.
//!
//! | file | what |
//! |---|---|
//! | `syscall.rs` | the `syscall!` macro over `arch/<isa>/linux.rs`, `-errno` decoding |
//! | [`mm`] | mmap / mprotect / munmap / madvise and [`LinuxPages`] (`PageAllocator`) |
//! | [`futex`] | FUTEX_WAIT_BITSET / FUTEX_WAKE and [`LinuxFutex`] (`FutexLike`) |
//! | [`time`] | CLOCK_MONOTONIC |
//! | [`probe`] | page size, HWCAPs (MTE, BTI, PAC): `PR_GET_AUXV`, `/proc/self/auxv`, or a mapping probe; futex2, transparent huge pages |
//! | [`process`] | getpid, exit_group |
//! | `mte` (aarch64) | memory tagging: prctl, IRG/STG/ST2G/STZG/LDG |
//!
//! Constants and system-call numbers come from `linux-raw-sys` (generated
//! from the kernel's UAPI headers), never typed by hand.

pub(crate) mod errno;
#[macro_use]
mod syscall;

pub mod futex;
pub mod mm;
#[cfg(target_arch = "aarch64")]
pub mod mte;
pub mod probe;
pub mod process;
pub mod time;

pub use futex::LinuxFutex;
pub use mm::LinuxPages;
pub use probe::{AuxvSource, Capabilities};
