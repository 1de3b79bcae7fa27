//! Zephyr aarch64 backend (`k_futex_*`, integrator-provided memory).
//!
//! Not yet written. Zephyr's error numbers depend on the libc the Zephyr
//! build selects and must come from that build; until the backend lands,
//! the crate's generic numbering (the bare-metal table) stands in.

#[path = "../baremetal/errno.rs"]
pub(crate) mod errno;
