//! macOS arm64 backend (XNU, no libSystem).
//!
//! Only the error numbering exists so far; the trap wrappers, `PageAllocator`
//! and `FutexLike` are not yet written, and nothing here has run on a Mac.

pub(crate) mod errno;
