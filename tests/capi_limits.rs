//! The static handle table: exactly `WRT_MAX_MEMORIES` memories can live at
//! once; one more is `WRT_E_TOO_MANY` with `*out` untouched, and a destroy
//! frees a slot. (Its own test binary: it fills the process-wide table.)
//! `scripts/test` also runs it on a build with `WRT_MAX_MEMORIES=16`, with
//! `WRT_EXPECT_MAX_MEMORIES=16` telling the test what the build must hold.
#![cfg(target_os = "linux")]

use wrt_platform::capi::*;

#[test]
fn the_table_holds_exactly_max_memories() {
    let expected = std::env::var("WRT_EXPECT_MAX_MEMORIES").map_or(WRT_DEFAULT_MAX_MEMORIES, |v| {
        v.parse().expect("WRT_EXPECT_MAX_MEMORIES is a number")
    });
    assert_eq!(WRT_MAX_MEMORIES, expected, "the build's slot count");
    assert_eq!(wrt_max_memories() as usize, expected);
    let mut live = Vec::with_capacity(WRT_MAX_MEMORIES);
    for _ in 0..WRT_MAX_MEMORIES {
        let mut h = 0;
        // SAFETY: valid out-pointer.
        let code = unsafe { wrt_memory_create(0, 1, WRT_MEMORY_EXPLICIT_BOUNDS, &mut h) };
        assert_eq!(code, WRT_OK as i32, "after {} memories", live.len());
        live.push(h);
    }
    let mut h = 7;
    // SAFETY: valid out-pointer.
    let code = unsafe { wrt_memory_create(0, 1, WRT_MEMORY_EXPLICIT_BOUNDS, &mut h) };
    assert_eq!((code, h), (WRT_E_TOO_MANY as i32, 7));
    assert_eq!(wrt_memory_destroy(live.pop().unwrap()), WRT_OK as i32);
    // SAFETY: valid out-pointer.
    let code = unsafe { wrt_memory_create(0, 1, WRT_MEMORY_EXPLICIT_BOUNDS, &mut h) };
    assert_eq!(code, WRT_OK as i32);
    live.push(h);
    let mut sorted = live.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), WRT_MAX_MEMORIES, "handles are unique");
    for h in live {
        assert_eq!(wrt_memory_destroy(h), WRT_OK as i32);
    }
}
