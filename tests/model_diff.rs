//! Differential test of the C ABI against the reference model
//! (`model/`): seeded pseudo-random operation sequences — create with
//! random flags and limits, grow, fill, copy, reset, stores, size, wait
//! with timeout 0, notify, destroy — on four memories at once; every
//! result, size and byte must match after every step. The same driver runs
//! under libFuzzer (`fuzz/`); this is the deterministic part that runs in
//! the ordinary test suite, natively and under qemu.
#![cfg(target_os = "linux")]

include!("../model/driver.rs");

/// xorshift64*: a small deterministic generator for the inputs.
fn bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

#[test]
fn capi_matches_the_model() {
    let runs = if std::env::var_os("WRT_EXPECT_CPU").is_some() {
        60
    } else {
        400
    };
    for seed in 1..=runs {
        run_diff(&bytes(seed, 1024), 96);
    }
}

/// The checked-in fuzz seeds replay here too.
#[test]
fn fuzz_seed_corpus_replays() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/capi_diff");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/capi_diff") {
        run_diff(&std::fs::read(entry.unwrap().path()).unwrap(), 256);
        n += 1;
    }
    assert!(n > 0, "no seeds in {}", dir.display());
}
