//! macOS arm64 backend (XNU, no libSystem).
//!
//! Only the error numbering exists so far; the trap wrappers, `PageAllocator`
//! and `FutexLike` are not yet written, and nothing here has run on a Mac.

// Host unit tests compile this module without using all of it.
#![cfg_attr(not(wrt_os = "macos"), allow(dead_code))]

pub(crate) mod errno;
