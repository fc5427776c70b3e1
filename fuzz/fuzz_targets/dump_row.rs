//! The Stack Exchange row parser and every file's mapper, on arbitrary text:
//! a value or a skip reason, never a panic, and no mapped post outside the
//! ranges the importer relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        steward_ingest::stackexchange::fuzz_row(text);
    }
});
