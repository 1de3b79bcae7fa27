//! Chooses the platform backend: sets exactly one `wrt_os = "..."` cfg, or
//! none, in which case `src/os/mod.rs` stops the build with `compile_error!`.
//!
//! Rule: a `platform-*` feature forces the backend, but only on a target whose
//! `target_os` fits it; without one, the target decides (`linux`, `macos`,
//! `nto` -> QNX). `target_os = "none"` is both Zephyr and bare metal, so it
//! needs `platform-zephyr` or `platform-baremetal`. No C compiler runs here.

use std::env;

fn main() {
    println!(
        "cargo::rustc-check-cfg=cfg(wrt_os, values(\"linux\", \"macos\", \"qnx\", \"zephyr\", \"baremetal\"))"
    );
    println!("cargo::rerun-if-changed=build.rs");

    let target_os = env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let forced: Vec<&str> = [
        ("PLATFORM_LINUX", "linux"),
        ("PLATFORM_MACOS", "macos"),
        ("PLATFORM_QNX", "qnx"),
        ("PLATFORM_ZEPHYR", "zephyr"),
        ("PLATFORM_BAREMETAL", "baremetal"),
    ]
    .into_iter()
    .filter(|(feature, _)| env::var_os(format!("CARGO_FEATURE_{feature}")).is_some())
    .map(|(_, name)| name)
    .collect();

    let fits = |platform: &str| match platform {
        "linux" => target_os == "linux",
        "macos" => target_os == "macos",
        "qnx" => target_os == "nto",
        "zephyr" | "baremetal" => target_os == "none",
        _ => false,
    };

    let chosen = match forced.as_slice() {
        [] => match target_os.as_str() {
            "linux" => Some("linux"),
            "macos" => Some("macos"),
            "nto" => Some("qnx"),
            _ => None,
        },
        [one] if fits(one) => Some(*one),
        _ => None,
    };

    if let Some(platform) = chosen {
        println!("cargo::rustc-cfg=wrt_os=\"{platform}\"");
    }
}
