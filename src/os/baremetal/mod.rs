//! Bare-metal aarch64 backend at EL1 (no OS, no MMU management, no heap).
//!
//! | piece | what |
//! |---|---|
//! | [`BumpPages`] | `PageAllocator`: a lock-free bump allocator over a region the integrator provides; commit is a no-op, decommit zeroes, protect other than read-write is `NOTSUP`, release reclaims only the most recent reservation; with the integrator's [`ProtectHook`] (its MMU), reserved-but-uncommitted pages and guards are inaccessible |
//! | [`BareMetalFutex`] | `FutexLike`: per-waiter nodes in address-hashed FIFO queues, each waiter in the `sevl; wfe; ldaxr; wfe` monitor loop on its own flag, `wfet` or the timer event stream for deadlines; wake = store-release, `dsb ish`, `sev`; exact counts |
//! | [`timer`] | the generic timer: clock, deadlines, FEAT_WFxT check, event stream |
//!
//! The code runs at EL1 with the MMU and data cache on (Normal memory for
//! anything the atomics touch); see each module for the details. Verified
//! under `qemu-system-aarch64 -M virt -cpu max -smp 4` by
//! `scripts/baremetal-test` (the `baremetal-tests` crate), where QEMU's
//! `wfe` is a yield hint: the run proves the protocol (no lost wake-ups,
//! exact counts, deadlines), not that a core really sleeps.
//!
//! Error numbers: the crate's own table (Linux numbering), `errno.rs`.

pub(crate) mod errno;

pub mod bump;
pub mod futex;
pub mod timer;

pub use bump::{BumpPages, ProtectHook};
pub use futex::BareMetalFutex;
