//! `wrt-platform`: the libc-free platform layer of a WebAssembly AOT runtime.
//!
//! Two traits carry everything the runtime needs from an operating system:
//!
//! * [`PageAllocator`]: reserve address space with guard regions, commit,
//!   protect, decommit and release pages (page size is a run-time value);
//! * [`FutexLike`]: wait on a 32-bit word with an expected value and an
//!   optional timeout, and wake a number of waiters.
//!
//! Under the traits sit one backend per platform in [`os`], built on raw
//! system-call wrappers (`arch/`), never on libc. Errors from every platform
//! are mapped into one [`Errno`].
//!
//! # Layers
//! ```text
//! src/{page,futex,errno}.rs   traits, contracts, the error type
//! src/os/<platform>/          one backend per platform (linux, macos, qnx, zephyr, baremetal)
//! arch/<isa>/                 raw trap wrappers (inline asm), per ISA and OS convention
//! asm/<isa>-<objfmt>/         standalone assembly for exported entry points
//! ```
//!
//! # Features
//! * `alloc`, `std`: optional; the library never needs them.
//! * `conformance`: the backend conformance suite ([`conformance`]), which
//!   every backend that can execute is tested against.
//! * `capi`: the `wrt_*` C ABI ([`capi`]) that `libwrt_helper.a` exports.
//! * `platform-*`: force or disambiguate the platform (see [`os`]).
#![no_std]
#![deny(clippy::undocumented_unsafe_blocks)]

#[cfg(feature = "std")]
extern crate std;

#[cfg(feature = "alloc")]
extern crate alloc;

#[path = "../arch/mod.rs"]
mod arch;

pub mod code;
pub mod errno;
pub mod futex;
pub mod os;
pub mod page;
pub mod wasm;

#[cfg(feature = "conformance")]
pub mod conformance;

#[cfg(feature = "capi")]
pub mod capi;

/// Traps for AOT code (the machinery behind `wrt_call`): Linux, macOS
/// arm64 (built and checked, not executed) and bare metal EL1.
#[cfg(all(
    feature = "capi",
    any(wrt_os = "linux", wrt_os = "macos", wrt_os = "baremetal")
))]
mod trap;
/// The trap entry points elsewhere: `WRT_E_NOT_SUPPORTED`, never a no-op.
#[cfg(all(
    feature = "capi",
    not(any(wrt_os = "linux", wrt_os = "macos", wrt_os = "baremetal"))
))]
#[path = "trap/unsupported.rs"]
mod trap;

pub use errno::Errno;
pub use futex::{FutexLike, WaitOutcome};
pub use page::{Access, PageAllocator, Protection, Reservation, ReserveOptions};
