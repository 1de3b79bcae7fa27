//! Links the aarch64-unknown-none image with `link.ld` (nothing to do on
//! the host, where the binary is a stub). For the `zephyr` image it also
//! reads the Zephyr build inputs (the same files wrt-platform reads: the
//! `WRT_ZEPHYR_*` variables, or wrt-platform's fixture) with a parser of
//! its own, so the fixture's syscall dispatcher and the tests' expected
//! numbers do not come from the code under test; and it compiles the C
//! shim `src/zephyr_shim.c` (Zephyr's prototypes for the kernel symbols)
//! with `aarch64-linux-gnu-gcc` (or `WRT_FIXTURE_CC`) and links it in.

use std::collections::HashMap;
use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-changed=link.ld");
    println!("cargo::rerun-if-changed=src/boot.s");
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none") {
        let dir = env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
        println!("cargo::rustc-link-arg-bins=-T{dir}/link.ld");
    }
    if env::var_os("CARGO_FEATURE_ZEPHYR").is_some() {
        zephyr_fixture_constants();
    }
    if env::var_os("CARGO_FEATURE_C_CLIENTS").is_some() {
        c_clients();
    }
}

/// The C clients of libwrt_helper.a (`tests/c/memory_test.c`,
/// `tests/c/atomics_test.c`), compiled freestanding with
/// `-DWRT_BAREMETAL` (`tests/c/runtime.h`: the hooks of
/// `src/c_clients.rs`), each with its own entry point, and linked into the
/// image with the archive named by `WRT_HELPER_LIB` (built for this
/// image's platform: `cargo build --profile helper -p wrt-helper --target
/// aarch64-unknown-none --features platform-baremetal` or
/// `platform-zephyr`).
fn c_clients() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.join("..");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo::rerun-if-env-changed=WRT_HELPER_LIB");
    let lib = env::var("WRT_HELPER_LIB").unwrap_or_else(|_| {
        panic!(
            "feature c-clients: set WRT_HELPER_LIB to libwrt_helper.a built for this image's \
             platform (scripts/baremetal-test does)"
        )
    });
    println!("cargo::rerun-if-changed={lib}");
    let cc = env::var("WRT_FIXTURE_CC").unwrap_or_else(|_| "aarch64-linux-gnu-gcc".into());
    for (test, entry) in [
        ("memory_test", "wrt_c_memory_test"),
        ("atomics_test", "wrt_c_atomics_test"),
    ] {
        let src = root.join(format!("tests/c/{test}.c"));
        println!("cargo::rerun-if-changed={}", src.display());
        let obj = out.join(format!("{test}.o"));
        let status = Command::new(&cc)
            .args(["-std=c11", "-O2", "-Wall", "-Wextra", "-Werror"])
            .args(["-ffreestanding", "-fno-builtin", "-fno-pic", "-fno-pie"])
            .args(["-fno-stack-protector", "-fno-asynchronous-unwind-tables"])
            .arg("-mno-outline-atomics")
            .arg("-DWRT_BAREMETAL")
            .arg(format!("-DWRT_TEST_ENTRY={entry}"))
            .arg(format!("-I{}", root.join("include").display()))
            .arg(format!("-I{}", root.join("tests/c").display()))
            .arg("-c")
            .arg(&src)
            .arg("-o")
            .arg(&obj)
            .status()
            .unwrap_or_else(|e| panic!("cannot run {cc}: {e}"));
        assert!(status.success(), "{cc} failed on {}", src.display());
        println!("cargo::rustc-link-arg-bins={}", obj.display());
    }
    println!(
        "cargo::rerun-if-changed={}",
        root.join("tests/c/runtime.h").display()
    );
    println!(
        "cargo::rerun-if-changed={}",
        root.join("include/wrt_helper.h").display()
    );
    println!("cargo::rustc-link-arg-bins={lib}");
}

fn zephyr_fixture_constants() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let fixture = manifest.join("../src/os/zephyr/fixture");
    let pick = |var: &str, file: &str| {
        println!("cargo::rerun-if-env-changed={var}");
        let p = env::var(var)
            .map(PathBuf::from)
            .unwrap_or_else(|_| fixture.join(file));
        println!("cargo::rerun-if-changed={}", p.display());
        fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    };
    let from_build = env::var_os("WRT_ZEPHYR_DOTCONFIG").is_some();
    let config = pick("WRT_ZEPHYR_DOTCONFIG", "dotconfig");
    let list = pick("WRT_ZEPHYR_SYSCALL_LIST", "syscall_list.h");
    let errno = pick("WRT_ZEPHYR_ERRNO_H", "errno.h");

    let kconfig: HashMap<&str, &str> = config
        .lines()
        .filter_map(|l| l.strip_prefix("CONFIG_"))
        .filter_map(|l| l.split_once('='))
        .collect();
    let defines = |text: &str| -> HashMap<String, String> {
        text.lines()
            .filter_map(|l| l.trim_start().strip_prefix("#define"))
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?.to_string(), w.next()?.to_string()))
            })
            .collect()
    };
    let ids = defines(&list);
    let nums = defines(&errno);
    let num = |name: &str| -> i64 {
        let v = &nums[name];
        v.parse()
            .unwrap_or_else(|_| nums[v.as_str()].parse().expect("numeric errno"))
    };
    let mut out = String::new();
    out += &format!(
        "/// Whether the inputs came from `WRT_ZEPHYR_*` (else the fixture).\npub const FROM_ZEPHYR_BUILD: bool = {from_build};\n"
    );
    out += &format!(
        "/// `K_SYSCALL_K_FUTEX_WAIT` of the inputs.\npub const SYS_FUTEX_WAIT: u64 = {};\n",
        ids["K_SYSCALL_K_FUTEX_WAIT"]
    );
    out += &format!(
        "/// `K_SYSCALL_K_FUTEX_WAKE` of the inputs.\npub const SYS_FUTEX_WAKE: u64 = {};\n",
        ids["K_SYSCALL_K_FUTEX_WAKE"]
    );
    out += &format!(
        "/// `K_SYSCALL_K_UPTIME_TICKS` of the inputs.\npub const SYS_UPTIME_TICKS: u64 = {};\n",
        ids["K_SYSCALL_K_UPTIME_TICKS"]
    );
    out += &format!(
        "/// `K_SYSCALL_LIMIT` of the inputs.\npub const SYS_LIMIT: u64 = {};\n",
        ids["K_SYSCALL_LIMIT"]
    );
    out += &format!(
        "/// `CONFIG_SYS_CLOCK_TICKS_PER_SEC`.\npub const TICKS_PER_SEC: u64 = {};\n",
        kconfig["SYS_CLOCK_TICKS_PER_SEC"]
    );
    out += &format!(
        "/// `CONFIG_TIMEOUT_64BIT`.\npub const TIMEOUT_64BIT: bool = {};\n",
        kconfig.get("TIMEOUT_64BIT") == Some(&"y")
    );
    out += "/// Errno numbers of the inputs, by name.\npub const ERRNO: &[(&str, i32)] = &[\n";
    for name in [
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
    ] {
        out += &format!("    (\"{name}\", {}),\n", num(name));
    }
    out += "];\n";
    for name in [
        "EAGAIN",
        "ETIMEDOUT",
        "EACCES",
        "EINVAL",
        "ENOMEM",
        "ENOSYS",
    ] {
        out += &format!(
            "/// `{name}` of the inputs.\npub const {name}: i32 = {};\n",
            num(name)
        );
    }
    let dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    fs::write(dir.join("fixture_inputs.rs"), out).expect("write fixture_inputs.rs");

    // The C shim with Zephyr's own prototypes (src/zephyr_shim.c).
    let cc = env::var("WRT_FIXTURE_CC").unwrap_or_else(|_| "aarch64-linux-gnu-gcc".into());
    println!("cargo::rerun-if-env-changed=WRT_FIXTURE_CC");
    println!("cargo::rerun-if-changed=src/zephyr_shim.c");
    let obj = dir.join("zephyr_shim.o");
    let mut cmd = Command::new(&cc);
    cmd.args([
        "-std=c11",
        "-O2",
        "-Wall",
        "-Werror",
        "-ffreestanding",
        "-fno-pic",
        "-fno-pie",
    ])
    .args([
        "-fno-stack-protector",
        "-fno-asynchronous-unwind-tables",
        "-c",
    ]);
    if kconfig.get("TIMEOUT_64BIT") == Some(&"y") {
        cmd.arg("-DCONFIG_TIMEOUT_64BIT=1");
    }
    // wrt_helper.h: the integrator's `wrt_zephyr_futexes` table.
    cmd.arg(format!("-I{}", manifest.join("../include").display()));
    println!(
        "cargo::rerun-if-changed={}",
        manifest.join("../include/wrt_helper.h").display()
    );
    cmd.arg(manifest.join("src/zephyr_shim.c"))
        .arg("-o")
        .arg(&obj);
    let status = cmd.status().unwrap_or_else(|e| {
        panic!("cannot run {cc} (Debian: gcc-aarch64-linux-gnu; or set WRT_FIXTURE_CC): {e}")
    });
    assert!(status.success(), "{cc} failed on src/zephyr_shim.c");
    println!("cargo::rustc-link-arg-bins={}", obj.display());
}
