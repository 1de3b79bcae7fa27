//! Bare-metal aarch64 backend at EL1 (no OS).
//!
//! Only the error numbering exists so far; the bump `PageAllocator` and the
//! WFE-based `FutexLike` are not yet written.

pub(crate) mod errno;
