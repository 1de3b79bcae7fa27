//! QNX Neutrino 7.1 aarch64 backend (raw kernel calls and memory-manager
//! messages, no libc).
//!
//! **Built and checked, never executed**: nothing QNX runs on the machines
//! this crate is tested on. What is checked: the crate builds for
//! `aarch64-unknown-nto-qnx710` (and `-qnx700`); host unit tests pin every
//! constant, the message layouts byte for byte, the kernel-call result
//! decoding, the deadline arithmetic and the futex bookkeeping;
//! `scripts/check-qnx` disassembles each kernel-call wrapper and checks the
//! built library references no QNX libc symbol.
//!
//! | file | what |
//! |---|---|
//! | `arch/aarch64/qnx.rs` | the trap: `mov w8, #NR; svc #0x51`, both return points |
//! | [`kercall`] | call numbers, result decoding, one named wrapper per kernel call |
//! | [`mem`] | `_MEM_MAP` / `_MEM_CTRL` messages to the memory manager, `QnxPages` (`PageAllocator`) |
//! | [`futex`] | `SyncMutex*` / `SyncCondvar*` / `TimerTimeout`, `QnxFutex` (`FutexLike`) |
//! | [`time`] | `ClockTime(CLOCK_MONOTONIC)`, deadlines |
//! | `errno.rs` | QNX error numbers |
//!
//! Each file names the header or source every number comes from. The
//! trap convention itself is known from disassembled QNX 7.0 libc stubs only
//! (see `arch/aarch64/qnx.rs`).
//!
//! Supported targets: `target_env` `nto70` (7.0: 56-byte `_mem_map`),
//! `nto71` and `nto71_iosock` (7.1: 72 bytes), aarch64 only. Other QNX
//! versions (e.g. `nto80`) stop the build: their message layout is not
//! pinned here.

// Host unit tests compile this module without using all of it.
#![cfg_attr(not(wrt_os = "qnx"), allow(dead_code))]

#[cfg(all(wrt_os = "qnx", not(target_arch = "aarch64")))]
compile_error!("wrt-platform: the QNX backend supports aarch64 only");

#[cfg(all(
    wrt_os = "qnx",
    not(any(
        target_env = "nto70",
        target_env = "nto71",
        target_env = "nto71_iosock"
    ))
))]
compile_error!(
    "wrt-platform: the QNX backend knows the _mem_map layout of QNX 7.0 (nto70) and 7.1 \
     (nto71, nto71_iosock) only"
);

pub(crate) mod errno;
pub mod futex;
pub mod kercall;
pub mod mem;
pub mod time;

#[cfg(wrt_os = "qnx")]
pub use futex::QnxFutex;
#[cfg(wrt_os = "qnx")]
pub use mem::QnxPages;
