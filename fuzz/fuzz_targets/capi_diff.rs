//! Differential fuzzing of the C ABI against the reference model: the
//! input decodes into a sequence of create / grow / fill / copy / reset /
//! store / size / wait (timeout 0) / notify / destroy on four memories;
//! every result, size and byte must match the model after every step.
#![no_main]

include!("../../model/driver.rs");

libfuzzer_sys::fuzz_target!(|data: &[u8]| run_diff(data, 256));
