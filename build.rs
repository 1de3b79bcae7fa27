//! Chooses the platform backend: sets exactly one `wrt_os = "..."` cfg, or
//! none, in which case `src/os/mod.rs` stops the build with `compile_error!`.
//!
//! Rule: a `platform-*` feature forces the backend, but only on a target whose
//! `target_os` fits it; without one, the target decides (`linux`, `macos`,
//! `nto` -> QNX). `target_os = "none"` is both Zephyr and bare metal, so it
//! needs `platform-zephyr` or `platform-baremetal`. No C compiler runs here.
//!
//! For Zephyr it also turns the Zephyr build's own files into Rust constants
//! (`zephyr_build_inputs` below): syscall ids, errno numbers, tick rate and
//! `k_ticks_t` width differ per Zephyr image and must not be hard-coded.

use std::collections::HashMap;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};

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
    if chosen == Some("zephyr") {
        zephyr_build_inputs();
    }
}

/// The errno names the crate's `Errno` constants need (`src/errno.rs`).
const ZEPHYR_ERRNO_NAMES: [&str; 18] = [
    "EPERM",
    "ENOENT",
    "EINTR",
    "EIO",
    "EBADF",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "EBUSY",
    "EEXIST",
    "EINVAL",
    "EDOM",
    "ERANGE",
    "ENOSYS",
    "EOVERFLOW",
    "ENOTSUP",
    "ETIMEDOUT",
];

/// Zephyr build inputs, from three files of the Zephyr build the library
/// is linked into, named by environment variables:
///
/// * `WRT_ZEPHYR_DOTCONFIG`: `<build>/zephyr/.config`
///   (`CONFIG_USERSPACE`, `CONFIG_SYS_CLOCK_TICKS_PER_SEC`,
///   `CONFIG_TIMEOUT_64BIT`);
/// * `WRT_ZEPHYR_SYSCALL_LIST`: `<build>/zephyr/include/generated/zephyr/
///   syscall_list.h` (`K_SYSCALL_K_FUTEX_WAIT`, `_WAKE`, `_LIMIT`);
/// * `WRT_ZEPHYR_ERRNO_H`: the header(s) of that build's libc that define
///   the `E*` numbers (minimal libc: `lib/libc/minimal/include/errno.h`;
///   picolibc / newlib: their `sys/errno.h`), `:`-separated if several.
///
/// All three or none: with none, the checked-in fixture
/// `src/os/zephyr/fixture/` is used (CI builds and the fixture tests) and a
/// build warning says so; `os::zephyr::config::SOURCE` records which.
/// Writes `$OUT_DIR/zephyr_config.rs` and `$OUT_DIR/zephyr_errno.rs`.
fn zephyr_build_inputs() {
    const VARS: [&str; 3] = [
        "WRT_ZEPHYR_DOTCONFIG",
        "WRT_ZEPHYR_SYSCALL_LIST",
        "WRT_ZEPHYR_ERRNO_H",
    ];
    for v in VARS {
        println!("cargo::rerun-if-env-changed={v}");
    }
    let given: Vec<Option<String>> = VARS.iter().map(|v| env::var(v).ok()).collect();
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let fixture = manifest.join("src/os/zephyr/fixture");
    let (source, dotconfig, syscall_list, errno_h): (&str, PathBuf, PathBuf, Vec<PathBuf>) =
        match given.as_slice() {
            [Some(c), Some(s), Some(e)] => (
                "ZephyrBuild",
                PathBuf::from(c),
                PathBuf::from(s),
                env::split_paths(e).collect(),
            ),
            [None, None, None] => {
                println!(
                    "cargo::warning=wrt-platform: no Zephyr build inputs (WRT_ZEPHYR_DOTCONFIG, \
                     WRT_ZEPHYR_SYSCALL_LIST, WRT_ZEPHYR_ERRNO_H): building against the fixture \
                     in src/os/zephyr/fixture/, which is not any real Zephyr image"
                );
                (
                    "Fixture",
                    fixture.join("dotconfig"),
                    fixture.join("syscall_list.h"),
                    vec![fixture.join("errno.h")],
                )
            }
            _ => panic!(
                "wrt-platform: set all of {VARS:?} (from the Zephyr build this library links \
                 into) or none of them (fixture build)"
            ),
        };
    for p in [&dotconfig, &syscall_list].into_iter().chain(&errno_h) {
        println!("cargo::rerun-if-changed={}", p.display());
    }

    let config = read_kconfig(&dotconfig);
    let kconfig = |name: &str| config.get(name).map(String::as_str);
    if kconfig("CONFIG_USERSPACE") != Some("y") {
        panic!(
            "wrt-platform: {}: CONFIG_USERSPACE is not y; Zephyr builds k_futex \
             (kernel/futex.c) only with it",
            dotconfig.display()
        );
    }
    let ticks_per_sec: u64 = kconfig("CONFIG_SYS_CLOCK_TICKS_PER_SEC")
        .and_then(|v| v.parse().ok())
        .filter(|&t| t > 0)
        .unwrap_or_else(|| {
            panic!(
                "wrt-platform: {}: no positive CONFIG_SYS_CLOCK_TICKS_PER_SEC",
                dotconfig.display()
            )
        });
    let timeout_64 = kconfig("CONFIG_TIMEOUT_64BIT") == Some("y");

    let ids = read_defines(std::slice::from_ref(&syscall_list));
    let id = |name: &str| -> u64 {
        ids.get(name)
            .copied()
            .unwrap_or_else(|| panic!("wrt-platform: {}: no {name}", syscall_list.display()))
    };
    let limit = id("K_SYSCALL_LIMIT");
    // Syscalls not emitted in this image get ids >= K_SYSCALL_LIMIT
    // (gen_syscalls.py): user mode cannot call them.
    let in_image = |name: &str| {
        let v = id(name);
        if v < limit {
            format!("Some({v})")
        } else {
            "None".to_string()
        }
    };

    let errno = read_defines(&errno_h);
    let mut errno_rs = String::from(
        "// Generated by build.rs from the Zephyr build's errno header(s); do not edit.\n",
    );
    for name in ZEPHYR_ERRNO_NAMES {
        let v = errno
            .get(name)
            .copied()
            .unwrap_or_else(|| panic!("wrt-platform: {name} is not defined in {errno_h:?}"));
        assert!(
            (1..=u64::from(u16::MAX)).contains(&v),
            "wrt-platform: {name} = {v} in {errno_h:?} is not an errno number"
        );
        errno_rs += &format!("pub(crate) const {name}: u16 = {v};\n");
    }

    let (ticks_ty, forever, max_relative) = if timeout_64 {
        ("i64", "-1", "i64::MAX")
    } else {
        ("u32", "u32::MAX", "u32::MAX - 1")
    };
    let config_rs = format!(
        "// Generated by build.rs from the Zephyr build inputs; do not edit.\n\
         /// Where the values in this module came from.\n\
         pub const SOURCE: BuildSource = BuildSource::{source};\n\
         /// `CONFIG_SYS_CLOCK_TICKS_PER_SEC`.\n\
         pub const TICKS_PER_SEC: u64 = {ticks_per_sec};\n\
         /// `CONFIG_TIMEOUT_64BIT`: `k_ticks_t` is `int64_t` (else `uint32_t`).\n\
         pub const TIMEOUT_64BIT: bool = {timeout_64};\n\
         /// `k_ticks_t` of this build.\n\
         pub type KTicks = {ticks_ty};\n\
         /// `K_TICKS_FOREVER` (`(k_ticks_t)-1`).\n\
         pub const K_TICKS_FOREVER: KTicks = {forever};\n\
         /// The largest relative timeout (larger values are `K_FOREVER` or, with\n\
         /// 64-bit ticks, negative absolute timeouts).\n\
         pub const K_TICKS_MAX_RELATIVE: KTicks = {max_relative};\n\
         /// `K_SYSCALL_K_FUTEX_WAIT`, or `None` if this image's syscall table\n\
         /// does not hold it (id >= `K_SYSCALL_LIMIT`).\n\
         pub const K_SYSCALL_K_FUTEX_WAIT: Option<usize> = {wait};\n\
         /// `K_SYSCALL_K_FUTEX_WAKE`, or `None` as above.\n\
         pub const K_SYSCALL_K_FUTEX_WAKE: Option<usize> = {wake};\n\
         /// `K_SYSCALL_K_UPTIME_TICKS`, or `None` as above.\n\
         pub const K_SYSCALL_K_UPTIME_TICKS: Option<usize> = {uptime};\n\
         /// `K_SYSCALL_LIMIT`.\n\
         pub const K_SYSCALL_LIMIT: usize = {limit};\n",
        wait = in_image("K_SYSCALL_K_FUTEX_WAIT"),
        wake = in_image("K_SYSCALL_K_FUTEX_WAKE"),
        uptime = in_image("K_SYSCALL_K_UPTIME_TICKS"),
    );
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets it"));
    fs::write(out.join("zephyr_errno.rs"), errno_rs).expect("write zephyr_errno.rs");
    fs::write(out.join("zephyr_config.rs"), config_rs).expect("write zephyr_config.rs");
}

fn read(path: &Path) -> String {
    fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("wrt-platform: cannot read {}: {e}", path.display()))
}

/// `CONFIG_X=value` lines of a Kconfig `.config` (quotes kept; `# CONFIG_X
/// is not set` lines are simply absent).
fn read_kconfig(path: &Path) -> HashMap<String, String> {
    read(path)
        .lines()
        .filter(|l| l.starts_with("CONFIG_"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// `#define NAME value` lines of C headers, for integer values (decimal
/// or hex, optionally in parentheses) and for aliases of names defined
/// the same way. Comments are dropped first.
fn read_defines(paths: &[PathBuf]) -> HashMap<String, u64> {
    let mut raw: Vec<(String, String)> = Vec::new();
    for path in paths {
        let text = read(path);
        let mut code = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(i) = rest.find("/*") {
            code.push_str(&rest[..i]);
            rest = rest[i..].find("*/").map_or("", |j| &rest[i + j + 2..]);
        }
        code.push_str(rest);
        for line in code.lines() {
            let line = line.split("//").next().unwrap_or("");
            let mut words = line.split_whitespace();
            if words.next() != Some("#define") {
                continue;
            }
            let (Some(name), Some(value)) = (words.next(), words.next()) else {
                continue;
            };
            if words.next().is_none() && !name.contains('(') {
                raw.push((name.to_string(), value.trim_matches(['(', ')']).to_string()));
            }
        }
    }
    let number = |v: &str| match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => v.parse().ok(),
    };
    let mut out: HashMap<String, u64> = HashMap::new();
    for (name, value) in &raw {
        if let Some(n) = number(value) {
            out.insert(name.clone(), n);
        }
    }
    // One level of aliases (`#define EWOULDBLOCK EAGAIN`).
    for (name, value) in &raw {
        if !out.contains_key(name)
            && let Some(&n) = out.get(value)
        {
            out.insert(name.clone(), n);
        }
    }
    out
}
