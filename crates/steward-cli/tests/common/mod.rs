//! What the binary's end-to-end tests share: running `steward` in a folder of
//! its own with a clean environment, and reading what it printed.
// Each test file uses the part it needs.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// `steward --database <dir>/community.db` run in `dir` with a clean
/// environment (PATH and a HOME inside `dir` only, so the developer's
/// STEWARD_* cannot leak in), one thread for the models, and the models of
/// `STEWARD_MODEL_DIR` when it is set. Add arguments, then run it.
pub fn steward_command(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("RUST_LOG", "warn")
        .env("CANDLE_NUM_THREADS", "1")
        .env("RAYON_NUM_THREADS", "1")
        .arg("--database")
        .arg(dir.join("community.db"));
    if let Some(models) = std::env::var_os("STEWARD_MODEL_DIR") {
        command.arg("--model-dir").arg(models);
    }
    command
}

/// [`steward_command`] with `args`, run to its end.
pub fn steward(dir: &Path, args: &[&str]) -> Output {
    steward_command(dir)
        .args(args)
        .output()
        .expect("the steward binary runs")
}

/// The stdout of a command that must succeed.
pub fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "steward failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

/// The one JSON object a `--json` command printed.
pub fn json(output: &Output) -> serde_json::Value {
    let text = succeeded(output);
    serde_json::from_str(text.trim())
        .unwrap_or_else(|error| panic!("stdout is not one JSON object ({error}): {text}"))
}

/// The stderr of a command that must fail.
pub fn failure(output: &Output) -> String {
    assert!(
        !output.status.success(),
        "steward should have failed: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}
