//! Wasm semantics on top of the traits: linear memory.

pub mod memory;

pub use memory::{Bounds, LinearMemory, MemoryConfig, MemoryError, WASM_PAGE_SIZE};
