//! Zephyr aarch64 backend (feature `platform-zephyr`, target
//! `aarch64-unknown-none`): **builds and links; has not run on Zephyr.**
//! Its fixture tests (`baremetal-tests`, feature `zephyr`) link it against
//! stand-ins for the Zephyr symbols and the `svc #3` trap and run under
//! qemu-system: they check the calls and their arguments, not Zephyr.
//!
//! | piece | what |
//! |---|---|
//! | [`ZephyrFutex`] | `FutexLike` over `k_futex_wait` / `k_futex_wake` on a table of `k_futex` objects the integrator provides (a Wasm word is 4 bytes, a `k_futex` 8) |
//! | [`BumpPages`] | `PageAllocator` over a region (the bare-metal bump allocator) |
//! | [`KHeapPages`] | `PageAllocator` over a `k_heap` (supervisor threads) |
//! | [`kernel`] | Zephyr's types, symbols, the supervisor / user (`svc #3`) modes |
//! | [`config`] | syscall ids, tick rate, `k_ticks_t` width: generated from the Zephyr build |
//!
//! Neither allocator can protect pages: `protect` other than read-write is
//! `NOTSUP`, nothing faults.
//!
//! # Build inputs
//! Set `WRT_ZEPHYR_DOTCONFIG`, `WRT_ZEPHYR_SYSCALL_LIST` and
//! `WRT_ZEPHYR_ERRNO_H` to the Zephyr build's `.config`, generated
//! `syscall_list.h` and libc errno header (see `build.rs`). Without them
//! the crate builds against `src/os/zephyr/fixture/`, which is for CI only
//! ([`config::SOURCE`] says which).

pub mod config;
pub(crate) mod errno;
pub mod futex;
pub mod heap;
pub mod kernel;

#[path = "../baremetal/bump.rs"]
pub mod bump;

pub use bump::BumpPages;
pub use futex::ZephyrFutex;
pub use heap::KHeapPages;
pub use kernel::{KFutex, KHeap, KTimeout, Mode};
