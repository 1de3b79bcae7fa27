//! Wasm semantics on top of the traits: linear memory and the wait queue
//! of the atomics (`memory.atomic.wait32` / `wait64` / `notify`).

pub mod atomics;
pub mod memory;

pub use atomics::{WaitQueue, WaitResult};
pub use memory::{Bounds, LinearMemory, MemoryConfig, MemoryError, WASM_PAGE_SIZE};
