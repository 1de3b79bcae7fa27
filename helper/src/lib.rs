//! `libwrt_helper.a`: the static library AOT-compiled Wasm code links.
//!
//! It exports the `wrt_*` functions of `wrt_platform::capi` (declared in
//! `include/wrt_helper.h`) and needs nothing from libc: no allocator, no
//! `errno`, no startup code. A panic (which no `wrt_*` path is meant to
//! reach: every argument is validated) traps with an undefined instruction
//! instead of unwinding into C.
#![no_std]

pub use wrt_platform::capi::*;

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    trap()
}

/// Stops the process with an illegal-instruction fault (SIGILL on Linux).
fn trap() -> ! {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `ud2` raises #UD; it never returns.
    unsafe {
        core::arch::asm!("ud2", options(noreturn, nomem, nostack))
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: `udf` raises an undefined-instruction exception; it never returns.
    unsafe {
        core::arch::asm!("udf #0", options(noreturn, nomem, nostack))
    }
}

/// The precompiled `core` of a hosted target is built with unwinding, so its
/// unwind tables name this personality routine. With `panic = "abort"`
/// nothing ever unwinds, so it is never called; defining it lets the
/// archive link with no Rust std and no libc. (A Rust program links the
/// `wrt-platform` rlib instead of this archive and never sees this symbol.)
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}
