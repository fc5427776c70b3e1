//! The JSONL mapper on arbitrary lines: a record or a skip reason, never a
//! panic, and no mapped post outside the ranges the importer relies on.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(line) = std::str::from_utf8(data) {
        steward_ingest::jsonl::fuzz_line(line);
    }
});
