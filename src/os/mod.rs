//! Platform backends, one module per platform; exactly one is compiled.
//!
//! `build.rs` sets `wrt_os` from the target and the `platform-*` features
//! (see its doc comment); this ladder is the only place that maps it to a
//! module.
//!
//! | platform | module | state |
//! |---|---|---|
//! | Linux x86_64 / aarch64 | `linux` | `PageAllocator` + `FutexLike` + capability probe |
//! | macOS arm64 | `macos` | `PageAllocator` + `FutexLike` + purgeable, pressure, code pages; built and checked, not executed |
//! | QNX 7.1 aarch64 | `qnx` | `PageAllocator` + `FutexLike`; built and checked, not executed |
//! | Zephyr aarch64 | `zephyr` | `PageAllocator` (`BumpPages`, `KHeapPages`) + `FutexLike` (`ZephyrFutex`, supervisor or `svc #3`); builds and links, fixture tests under qemu-system, not run on Zephyr |
//! | bare metal EL1 | `baremetal` | `PageAllocator` (`BumpPages`) + `FutexLike` (`BareMetalFutex`); runs under qemu-system-aarch64 (4 cores) |

#[cfg(wrt_os = "linux")]
pub mod linux;
#[cfg(wrt_os = "linux")]
pub use linux as current;

// macOS and QNX do not execute here, so their pure parts (constants,
// layouts, encoders and decoders) also compile into the host's unit tests;
// their trap-using parts stay behind `wrt_os`.
#[cfg(any(wrt_os = "macos", test))]
pub mod macos;
#[cfg(wrt_os = "macos")]
pub use macos as current;

#[cfg(any(wrt_os = "qnx", test))]
pub mod qnx;
#[cfg(wrt_os = "qnx")]
pub use qnx as current;

#[cfg(wrt_os = "zephyr")]
pub mod zephyr;
#[cfg(wrt_os = "zephyr")]
pub use zephyr as current;

#[cfg(wrt_os = "baremetal")]
pub mod baremetal;
#[cfg(wrt_os = "baremetal")]
pub use baremetal as current;

#[cfg(not(any(
    wrt_os = "linux",
    wrt_os = "macos",
    wrt_os = "qnx",
    wrt_os = "zephyr",
    wrt_os = "baremetal"
)))]
compile_error!(
    "wrt-platform: no backend for this target and feature set. Supported: Linux, macOS, QNX \
     (nto) by target; `target_os = \"none\"` needs exactly one of the features \
     `platform-baremetal` or `platform-zephyr`; a `platform-*` feature must fit the target \
     and at most one may be enabled."
);

/// The error numbering of the selected platform (used by [`crate::Errno`]).
pub(crate) use current::errno;
