//! QNX Neutrino 7.1 aarch64 backend (raw kernel calls, no libc).
//!
//! Only the error numbering exists so far; the kernel-call wrapper,
//! `PageAllocator` and `FutexLike` are not yet written, and nothing here has
//! run on QNX.

// Host unit tests compile this module without using all of it.
#![cfg_attr(not(wrt_os = "qnx"), allow(dead_code))]

pub(crate) mod errno;
