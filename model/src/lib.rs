//! A reference model of the `wrt_*` C ABI, for differential testing.
//!
//! [`Model`] keeps each memory as a `Vec<u8>` and applies the Wasm rules
//! and the documented `WRT_E_*` results of `include/wrt_helper.h`, written
//! independently of the implementation (no page tables, no reservations,
//! no atomics: one thread, so `wait` with timeout 0 and `notify` have no
//! waiters to find). [`Op::decode`] turns arbitrary bytes into a sequence
//! of operations biased towards the interesting edges (zero lengths,
//! the end of memory, wrap-around, unaligned addresses, stale handles).
//!
//! The same decoder and model drive `tests/model_diff.rs` (a seeded random
//! run in the ordinary test suite, natively and under qemu) and the
//! libFuzzer target `fuzz/fuzz_targets/capi_diff.rs`.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;

/// Bytes in a Wasm page.
pub const PAGE: u64 = 65536;
/// Memories a sequence works on at once.
pub const SLOTS: usize = 4;
/// Most pages one model memory may hold (keeps runs small).
pub const MAX_MODEL_PAGES: u64 = 24;

/// Result codes, as in `include/wrt_helper.h`.
#[allow(missing_docs)] // the names are the header's, without the WRT_E_ prefix
pub mod code {
    pub const OK: i64 = 0;
    pub const BAD_HANDLE: i64 = -2;
    pub const BAD_FLAGS: i64 = -3;
    pub const INVALID: i64 = -4;
    pub const OUT_OF_BOUNDS: i64 = -5;
    pub const OVERFLOW: i64 = -6;
    pub const OVER_MAXIMUM: i64 = -7;
    pub const UNALIGNED: i64 = -11;
    pub const NOT_SHARED: i64 = -12;
    pub const NOT_SUPPORTED: i64 = -14;
    /// `wrt_atomic_wait*`: the value was not the expected one.
    pub const WAIT_NOT_EQUAL: i64 = 1;
    /// `wrt_atomic_wait*`: timed out.
    pub const WAIT_TIMED_OUT: i64 = 2;
}

/// Creation flags, as in the header.
#[allow(missing_docs)] // the names are the header's, without WRT_MEMORY_
pub mod flag {
    pub const SHARED: u32 = 1;
    pub const MEMORY64: u32 = 2;
    pub const HUGE_PAGES: u32 = 4;
    pub const EXPLICIT_BOUNDS: u32 = 8;
    pub const MTE: u32 = 16;
    pub const ALL: u32 = 31;
}

/// `WRT_NO_MAXIMUM`.
pub const NO_MAXIMUM: u64 = u64::MAX;

/// One C-ABI call. `slot` picks one of [`SLOTS`] handles (live, destroyed
/// or never created).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs)] // fields are the C functions' parameters
pub enum Op {
    /// `wrt_memory_create(initial, maximum, flags, &out)` into `slot`.
    Create {
        slot: usize,
        initial: u64,
        maximum: u64,
        flags: u32,
    },
    /// `wrt_memory_destroy`.
    Destroy { slot: usize },
    /// `wrt_memory_grow`.
    Grow { slot: usize, delta: u64 },
    /// `wrt_memory_size`.
    Size { slot: usize },
    /// `wrt_memory_fill`.
    Fill {
        slot: usize,
        dst: u64,
        value: u8,
        len: u64,
    },
    /// `wrt_memory_copy`.
    Copy {
        slot: usize,
        dst: u64,
        src: u64,
        len: u64,
    },
    /// `wrt_memory_reset`.
    Reset { slot: usize, keep: u64 },
    /// A store of one byte through `wrt_memory_base` (in bounds only).
    Store { slot: usize, addr: u64, value: u8 },
    /// `wrt_atomic_wait32(.., timeout 0)`.
    Wait32 {
        slot: usize,
        addr: u64,
        expected: u32,
    },
    /// `wrt_atomic_wait64(.., timeout 0)`.
    Wait64 {
        slot: usize,
        addr: u64,
        expected: u64,
    },
    /// `wrt_atomic_notify`.
    Notify { slot: usize, addr: u64, count: u32 },
}

/// Pulls bytes off the front of the input; zeros once it runs out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
    /// An address or length biased to the edges of a memory of up to
    /// `MAX_MODEL_PAGES` pages.
    fn offset(&mut self) -> u64 {
        let near = u64::from(self.u8() % 8) * PAGE;
        match self.u8() % 8 {
            0 => 0,
            1 => u64::from(self.u8()),
            2 => near,
            3 => near.wrapping_sub(u64::from(self.u8() % 9)),
            4 => near + u64::from(self.u8()),
            5 => u64::MAX - u64::from(self.u8()),
            6 => u64::from(self.u32()) % (MAX_MODEL_PAGES * PAGE + 1),
            _ => self.u64(),
        }
    }
    fn pages(&mut self) -> u64 {
        match self.u8() % 8 {
            0 => 0,
            1..=4 => u64::from(self.u8() % 4),
            5 => u64::MAX,
            6 => 1 << 48,
            _ => 1 << 16,
        }
    }
}

impl Op {
    /// Decodes operations until the input is used up (at most `max_ops`).
    pub fn decode(data: &[u8], max_ops: usize) -> Vec<Op> {
        let mut b = Bytes(data);
        let mut ops = Vec::new();
        while !b.0.is_empty() && ops.len() < max_ops {
            let kind = b.u8();
            let slot = usize::from(b.u8()) % SLOTS;
            ops.push(match kind % 11 {
                0 => Op::Create {
                    slot,
                    initial: u64::from(b.u8() % 4),
                    maximum: match b.u8() % 4 {
                        0 => NO_MAXIMUM,
                        1 => 1 << 48,
                        2 => 70_000,
                        _ => u64::from(b.u8() % 9),
                    },
                    flags: match b.u8() % 32 {
                        31 => b.u32(),
                        f => u32::from(f) & flag::ALL,
                    },
                },
                1 => Op::Destroy { slot },
                2 => Op::Grow {
                    slot,
                    delta: b.pages(),
                },
                3 => Op::Size { slot },
                4 => Op::Fill {
                    slot,
                    dst: b.offset(),
                    value: b.u8(),
                    len: b.offset(),
                },
                5 => Op::Copy {
                    slot,
                    dst: b.offset(),
                    src: b.offset(),
                    len: b.offset(),
                },
                6 => Op::Reset {
                    slot,
                    keep: b.offset(),
                },
                7 => Op::Store {
                    slot,
                    addr: b.offset(),
                    value: b.u8(),
                },
                8 => Op::Wait32 {
                    slot,
                    addr: b.offset(),
                    expected: u32::from(b.u8() % 3),
                },
                9 => Op::Wait64 {
                    slot,
                    addr: b.offset(),
                    expected: u64::from(b.u8() % 3),
                },
                _ => Op::Notify {
                    slot,
                    addr: b.offset(),
                    count: b.u32(),
                },
            });
        }
        ops
    }
}

/// One model memory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Memory {
    /// Contents; the length is the size in bytes.
    pub bytes: Vec<u8>,
    initial: u64,
    maximum: u64,
    shared: bool,
}

impl Memory {
    /// Size in pages.
    pub fn pages(&self) -> u64 {
        self.bytes.len() as u64 / PAGE
    }

    fn range(&self, at: u64, len: u64) -> Result<core::ops::Range<usize>, i64> {
        let end = at.checked_add(len).ok_or(code::OVERFLOW)?;
        if end > self.bytes.len() as u64 {
            return Err(code::OUT_OF_BOUNDS);
        }
        Ok(at as usize..end as usize)
    }

    fn word(&self, addr: u64, size: u64) -> Result<u64, i64> {
        if !addr.is_multiple_of(size) {
            return Err(code::UNALIGNED);
        }
        match addr.checked_add(size) {
            Some(end) if end <= self.bytes.len() as u64 => {}
            _ => return Err(code::OUT_OF_BOUNDS),
        }
        let mut v = [0u8; 8];
        v[..size as usize].copy_from_slice(&self.bytes[addr as usize..(addr + size) as usize]);
        Ok(u64::from_le_bytes(v))
    }
}

/// What a slot holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Slot {
    /// Never created: the subject's handle is 0.
    Empty,
    /// A live memory.
    Live(Memory),
    /// Destroyed: the subject keeps the stale handle.
    Dead,
}

/// The reference model: [`SLOTS`] slots.
#[derive(Clone, Debug)]
pub struct Model {
    /// The slots.
    pub slots: [Slot; SLOTS],
    /// Whether the machine has MTE (`WRT_FEATURE_MTE`): without it
    /// `WRT_MEMORY_MTE` is `WRT_E_NOT_SUPPORTED`.
    pub mte: bool,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            slots: [Slot::Empty, Slot::Empty, Slot::Empty, Slot::Empty],
            mte: false,
        }
    }
}

fn create(initial: u64, maximum: u64, flags: u32, mte: bool) -> Result<Memory, i64> {
    if flags & !flag::ALL != 0 {
        return Err(code::BAD_FLAGS);
    }
    let tagged = flags & flag::MTE != 0;
    if tagged && !mte {
        return Err(code::NOT_SUPPORTED);
    }
    let shared = flags & flag::SHARED != 0;
    let mem64 = flags & flag::MEMORY64 != 0;
    let limit = if mem64 { 1 << 48 } else { 1 << 16 };
    let declared = if maximum == NO_MAXIMUM {
        limit
    } else {
        maximum
    };
    if declared > limit || initial > declared || (shared && maximum == NO_MAXIMUM) {
        return Err(code::INVALID);
    }
    if tagged {
        // The driving thread never enables tag generation, so the memory
        // would get tag 0 (IRG under Linux's default include mask): refused.
        return Err(code::INVALID);
    }
    // What the implementation reserves: 4 GiB (65536 pages) for a guarded
    // memory; for explicit bounds the declared maximum, at most 4 GiB
    // (MemoryConfig::DEFAULT_MAX_RESERVATION) but at least the initial size.
    let explicit = mem64 || flags & flag::EXPLICIT_BOUNDS != 0;
    let reserved = if explicit {
        declared.min(1 << 16).max(initial).max(1)
    } else {
        1 << 16
    };
    let maximum = declared.min(reserved);
    Ok(Memory {
        bytes: vec![0; (initial * PAGE) as usize],
        initial,
        maximum,
        shared,
    })
}

impl Model {
    /// Applies `op`; returns the result the C ABI must give (a value or a
    /// negative code). `Store` returns 0 when it happened and `-1` when the
    /// address is out of bounds (the subject must then skip it too).
    pub fn apply(&mut self, op: Op) -> i64 {
        use Op::*;
        let slot = match op {
            Create { slot, .. }
            | Destroy { slot }
            | Grow { slot, .. }
            | Size { slot }
            | Fill { slot, .. }
            | Copy { slot, .. }
            | Reset { slot, .. }
            | Store { slot, .. }
            | Wait32 { slot, .. }
            | Wait64 { slot, .. }
            | Notify { slot, .. } => slot,
        };
        if let Create {
            initial,
            maximum,
            flags,
            ..
        } = op
        {
            // Creating into a live slot first destroys its memory (the
            // driver does the same on the subject).
            if matches!(self.slots[slot], Slot::Live(_)) {
                self.slots[slot] = Slot::Dead;
            }
            return match create(initial, maximum, flags, self.mte) {
                Ok(m) => {
                    self.slots[slot] = Slot::Live(m);
                    code::OK
                }
                Err(c) => c,
            };
        }
        let Slot::Live(m) = &mut self.slots[slot] else {
            return match op {
                Store { .. } => -1,
                _ => code::BAD_HANDLE,
            };
        };
        match op {
            Create { .. } => unreachable!(),
            Destroy { .. } => {
                self.slots[slot] = Slot::Dead;
                code::OK
            }
            Grow { delta, .. } => {
                let old = m.pages();
                match old.checked_add(delta) {
                    _ if delta == 0 => old as i64,
                    Some(new) if new <= m.maximum && new <= MAX_MODEL_PAGES => {
                        m.bytes.resize((new * PAGE) as usize, 0);
                        old as i64
                    }
                    // Past MAX_MODEL_PAGES the driver never asks (see `allowed`).
                    _ => code::OVER_MAXIMUM,
                }
            }
            Size { .. } => m.pages() as i64,
            Fill {
                dst, value, len, ..
            } => match m.range(dst, len) {
                Ok(r) => {
                    m.bytes[r].fill(value);
                    code::OK
                }
                Err(c) => c,
            },
            Copy { dst, src, len, .. } => match (m.range(dst, len), m.range(src, len)) {
                (Err(c), _) | (Ok(_), Err(c)) => c,
                (Ok(d), Ok(s)) => {
                    m.bytes.copy_within(s, d.start);
                    code::OK
                }
            },
            Reset { .. } => {
                if m.shared {
                    return code::INVALID;
                }
                m.bytes = vec![0; (m.initial * PAGE) as usize];
                code::OK
            }
            Store { addr, value, .. } => match m.range(addr, 1) {
                Ok(r) => {
                    m.bytes[r.start] = value;
                    0
                }
                Err(_) => -1,
            },
            Wait32 { addr, expected, .. } => match m.word(addr, 4) {
                Err(c) => c,
                Ok(_) if !m.shared => code::NOT_SHARED,
                Ok(v) if v == u64::from(expected) => code::WAIT_TIMED_OUT,
                Ok(_) => code::WAIT_NOT_EQUAL,
            },
            Wait64 { addr, expected, .. } => match m.word(addr, 8) {
                Err(c) => c,
                Ok(_) if !m.shared => code::NOT_SHARED,
                Ok(v) if v == expected => code::WAIT_TIMED_OUT,
                Ok(_) => code::WAIT_NOT_EQUAL,
            },
            Notify { addr, .. } => match m.word(addr, 4) {
                Err(c) => c,
                Ok(_) => 0, // nobody waits in a single-threaded run
            },
        }
    }

    /// Whether the driver should send `op` to the subject at all: grows
    /// that would take a model memory past [`MAX_MODEL_PAGES`] (but within
    /// its maximum) are skipped to keep runs small.
    pub fn allowed(&self, op: &Op) -> bool {
        match op {
            Op::Grow { slot, delta } => match &self.slots[*slot] {
                Slot::Live(m) => match m.pages().checked_add(*delta) {
                    Some(new) => new <= MAX_MODEL_PAGES || new > m.maximum,
                    None => true,
                },
                _ => true,
            },
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let mut m = Model::default();
        assert_eq!(
            m.apply(Op::Create {
                slot: 0,
                initial: 1,
                maximum: 2,
                flags: 0
            }),
            0
        );
        assert_eq!(m.apply(Op::Grow { slot: 0, delta: 2 }), code::OVER_MAXIMUM);
        assert_eq!(m.apply(Op::Grow { slot: 0, delta: 1 }), 1);
        assert_eq!(
            m.apply(Op::Fill {
                slot: 0,
                dst: u64::MAX,
                value: 1,
                len: 2
            }),
            code::OVERFLOW
        );
        assert_eq!(
            m.apply(Op::Fill {
                slot: 0,
                dst: 2 * PAGE,
                value: 1,
                len: 0
            }),
            0
        );
        assert_eq!(
            m.apply(Op::Copy {
                slot: 0,
                dst: 1,
                src: 0,
                len: 3
            }),
            0
        );
        assert_eq!(
            m.apply(Op::Wait32 {
                slot: 0,
                addr: 0,
                expected: 0
            }),
            code::NOT_SHARED
        );
        assert_eq!(
            m.apply(Op::Notify {
                slot: 0,
                addr: 2,
                count: 1
            }),
            code::UNALIGNED
        );
        assert_eq!(m.apply(Op::Destroy { slot: 0 }), 0);
        assert_eq!(m.apply(Op::Size { slot: 0 }), code::BAD_HANDLE);
        assert_eq!(
            m.apply(Op::Create {
                slot: 1,
                initial: 1,
                maximum: NO_MAXIMUM,
                flags: 1
            }),
            code::INVALID
        );
        assert_eq!(
            m.apply(Op::Create {
                slot: 1,
                initial: 1,
                maximum: 1,
                flags: 1 << 20
            }),
            code::BAD_FLAGS
        );
    }

    #[test]
    fn decode_is_total() {
        let data: Vec<u8> = (0..4096u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        // Fewer under Miri: every op may touch up to MAX_MODEL_PAGES pages.
        let n = if cfg!(miri) { 120 } else { 1000 };
        let ops = Op::decode(&data, n);
        assert!(ops.len() >= 100);
        let mut m = Model::default();
        for op in ops {
            if m.allowed(&op) {
                m.apply(op);
            }
        }
    }
}
