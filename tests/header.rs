//! `include/wrt_helper.h` is cbindgen's output for `src/capi/mod.rs`, and
//! every declaration in it is documented. Regenerate after changing the C
//! ABI: `WRT_BLESS=1 cargo test --features capi --test header`.
#![cfg(all(target_os = "linux", target_arch = "x86_64"))]

use std::path::Path;

fn generate() -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(root.join("cbindgen.toml")).expect("cbindgen.toml");
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(root.join("src/capi/mod.rs"))
        .generate()
        .expect("cbindgen");
    let mut out = Vec::new();
    bindings.write(&mut out);
    String::from_utf8(out).expect("utf-8")
}

#[test]
fn header_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/wrt_helper.h");
    let fresh = generate();
    if std::env::var_os("WRT_BLESS").is_some() {
        std::fs::write(&path, &fresh).unwrap();
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "include/wrt_helper.h is stale: run `WRT_BLESS=1 cargo test --features capi --test header`"
    );
}

/// Every function, constant, enumerator and type in the header has a doc
/// comment right above its first appearance (later typedefs of an already
/// documented enum are fine).
#[test]
fn every_declaration_is_documented() {
    let header = generate();
    let lines: Vec<&str> = header.lines().collect();
    let mut seen = std::collections::HashSet::new();
    let mut undocumented = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim_start();
        let name = if let Some(rest) = t.strip_prefix("#define ") {
            rest.split_whitespace().next()
        } else if let Some(rest) = t.strip_prefix("enum ") {
            rest.split_whitespace().next()
        } else if line.starts_with("  WRT_") {
            t.split([' ', ',']).next() // an enumerator
        } else if t.starts_with("typedef ") {
            t.trim_end_matches(';').rsplit(' ').next()
        } else if !line.starts_with(' ') && line.contains(" wrt_") && line.contains('(') {
            line.split('(')
                .next()
                .and_then(|d| d.rsplit([' ', '*']).next())
        } else {
            None
        };
        let Some(name) = name else { continue };
        if name == "WRT_HELPER_H" || !seen.insert(name.to_owned()) {
            continue;
        }
        if !(i > 0 && lines[i - 1].trim_end().ends_with("*/")) {
            undocumented.push(*line);
        }
    }
    assert!(undocumented.is_empty(), "undocumented: {undocumented:#?}");
    for expected in [
        "wrt_memory_grow",
        "WRT_E_BAD_HANDLE",
        "wrt_memory_t",
        "wrt_error",
    ] {
        assert!(
            seen.contains(expected),
            "{expected} is missing from the header"
        );
    }
}
