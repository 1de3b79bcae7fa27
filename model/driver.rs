// The differential driver: applies decoded operations to the real C ABI
// (`wrt_platform::capi`) and to `wrt_model::Model`, and panics on the first
// difference in a result, a size or a byte of contents. Shared by
// tests/model_diff.rs and fuzz/fuzz_targets/capi_diff.rs through
// `include!` (both link wrt-platform; the model crate does not).

use wrt_model::{Model, Op, PAGE, SLOTS, Slot};
use wrt_platform::capi::*;

/// One operation on the C ABI; the same result convention as the model.
fn apply_capi(handles: &mut [wrt_memory_t; SLOTS], op: Op, slot_was_live: bool) -> i64 {
    match op {
        Op::Create { slot, initial, maximum, flags } => {
            if slot_was_live {
                assert_eq!(wrt_memory_destroy(handles[slot]), 0);
            }
            let mut h = 0;
            // SAFETY: `h` is a valid out-pointer.
            let code = unsafe { wrt_memory_create(initial, maximum, flags, &mut h) };
            if code == 0 {
                handles[slot] = h;
            }
            i64::from(code)
        }
        Op::Destroy { slot } => i64::from(wrt_memory_destroy(handles[slot])),
        Op::Grow { slot, delta } => wrt_memory_grow(handles[slot], delta),
        Op::Size { slot } => wrt_memory_size(handles[slot]),
        Op::Fill { slot, dst, value, len } => i64::from(wrt_memory_fill(handles[slot], dst, value, len)),
        Op::Copy { slot, dst, src, len } => i64::from(wrt_memory_copy(handles[slot], dst, src, len)),
        Op::Reset { slot, keep } => i64::from(wrt_memory_reset(handles[slot], keep)),
        Op::Store { slot, addr, value } => {
            let base = wrt_memory_base(handles[slot]);
            let size = wrt_memory_size(handles[slot]);
            if base.is_null() || size < 0 || addr >= size as u64 * PAGE {
                return -1;
            }
            // SAFETY: in bounds of a live memory (checked just above).
            unsafe { base.wrapping_add(addr as usize).write(value) };
            0
        }
        Op::Wait32 { slot, addr, expected } => i64::from(wrt_atomic_wait32(handles[slot], addr, expected, 0)),
        Op::Wait64 { slot, addr, expected } => i64::from(wrt_atomic_wait64(handles[slot], addr, expected, 0)),
        Op::Notify { slot, addr, count } => wrt_atomic_notify(handles[slot], addr, count),
    }
}

/// Every slot: the same size and the same bytes (or a bad handle).
fn compare(model: &Model, handles: &[wrt_memory_t; SLOTS], after: &Op) {
    for (slot, (m, h)) in model.slots.iter().zip(handles).enumerate() {
        match m {
            Slot::Live(mem) => {
                assert_eq!(wrt_memory_size(*h), mem.pages() as i64, "size of slot {slot} after {after:?}");
                let base = wrt_memory_base(*h);
                // SAFETY: `size` pages from the base are committed.
                let real = unsafe { std::slice::from_raw_parts(base, mem.bytes.len()) };
                if real != &mem.bytes[..] {
                    let at = real.iter().zip(&mem.bytes).position(|(a, b)| a != b);
                    panic!("contents of slot {slot} differ at {at:?} after {after:?}");
                }
            }
            Slot::Empty | Slot::Dead => {
                assert_eq!(wrt_memory_size(*h), -2, "slot {slot} must be a bad handle after {after:?}");
            }
        }
    }
}

/// Decodes `data` into at most `max_ops` operations and runs them against
/// both; destroys every memory it made before returning.
pub fn run_diff(data: &[u8], max_ops: usize) {
    let mut model = Model::default();
    let mut info = wrt_platform_info_t::default();
    // SAFETY: a valid out-pointer.
    assert_eq!(unsafe { wrt_platform_info(&mut info) }, WRT_OK as i32);
    model.mte = info.features & WRT_FEATURE_MTE != 0;
    let mut handles = [0; SLOTS];
    for op in Op::decode(data, max_ops) {
        if !model.allowed(&op) {
            continue;
        }
        let slot_was_live = match op {
            Op::Create { slot, .. } => matches!(model.slots[slot], Slot::Live(_)),
            _ => false,
        };
        let want = model.apply(op);
        let got = apply_capi(&mut handles, op, slot_was_live);
        assert_eq!(got, want, "result of {op:?}");
        compare(&model, &handles, &op);
    }
    for (m, h) in model.slots.iter().zip(handles) {
        if matches!(m, Slot::Live(_)) {
            assert_eq!(wrt_memory_destroy(h), 0);
        }
    }
}
