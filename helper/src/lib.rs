//! `libwrt_helper.a`: the static library AOT-compiled Wasm code links.
//!
//! It exports the `wrt_*` functions of `wrt_platform::capi` (declared in
//! `include/wrt_helper.h`) and needs nothing from libc: no allocator, no
//! `errno`, no startup code. A panic (which no `wrt_*` path is meant to
//! reach: every argument is validated) traps with an undefined instruction
//! instead of unwinding into C.
//!
//! Linked next to other static libraries, Rust ones included, it must
//! export the `wrt_*` symbols and nothing that can collide. Build it with
//! `cargo build --profile helper -p wrt-helper` (the workspace's `helper`
//! profile: release plus fat LTO, one codegen unit): LTO makes the archive
//! one object in which everything but the `#[no_mangle]` `wrt_*` functions
//! is internal: the panic handler (`__rustc::rust_begin_unwind`, a name
//! every Rust staticlib of the same compiler defines), `core`, and
//! `wrt_platform`. Only `compiler_builtins` stays as it is, one intrinsic
//! per member, pulled only for a symbol still undefined. A plain
//! `--release` build keeps them global, and linking it before a std
//! staticlib fails with "multiple definition of `rust_begin_unwind`".
//!
//! No `rust_eh_personality` is defined: nothing in the archive refers to it
//! (`panic = "abort"`; `scripts/c-tests` links it with `-nostdlib` and
//! checks for undefined symbols), and defining one would both collide with
//! std's and, where ours won, silently break another library's unwinding.
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
