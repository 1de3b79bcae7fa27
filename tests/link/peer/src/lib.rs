//! `libwrt_link_peer.a`: another Rust static library, for the link test in
//! `scripts/c-tests` (issue 15, defect 9). It uses std and unwinds: a
//! panic caught by `catch_unwind` only works if the final program's
//! `rust_eh_personality` is std's real one, so a helper that supplied its
//! own (a no-op) would break this library even where the link succeeds.

/// Returns `x`, or 42 when `x > 0`, after panicking and catching the panic.
#[unsafe(no_mangle)]
pub extern "C" fn peer_catch_panic(x: i32) -> i32 {
    std::panic::set_hook(Box::new(|_| {})); // keep the expected panic quiet
    let caught = std::panic::catch_unwind(|| {
        if x > 0 {
            panic!("expected panic {x}");
        }
        x
    });
    caught.unwrap_or(42)
}
