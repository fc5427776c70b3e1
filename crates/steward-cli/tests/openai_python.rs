//! OpenAI's official Python client (`openai` 2.x) against a real `steward
//! serve` with the shared models: what a user pointing their own code at
//! Steward sees (tests/openai_python/check.py).
//!
//! The client lives in a venv under the target directory, made once and then
//! reused (pip's cache beside it). Where Python or PyPI is not available the
//! test says why and passes, except on CI (`CI=true`), where it fails; so it
//! does without the shared models.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use steward_testkit::shared_model_dir;

const CHAT_MODEL: &str = "SmolLM2-135M-Instruct";
const EMBED_MODEL: &str = "all-MiniLM-L6-v2";

fn on_ci() -> bool {
    std::env::var("CI").is_ok_and(|value| value == "true")
}

/// Skips (prints why) or, on CI, fails.
fn unavailable(reason: &str) {
    assert!(!on_ci(), "CI=true and {reason}");
    eprintln!("skipping the OpenAI Python client test: {reason}");
}

fn run(command: &mut Command) -> Option<Output> {
    command.stdin(Stdio::null()).output().ok()
}

fn tail(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// The venv's python with `openai` 2.x installed, or why there is none.
fn python_with_openai() -> Result<PathBuf, String> {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let venv = scratch.join("openai-python-venv");
    let python = venv.join("bin").join("python");
    let has_client = |python: &Path| {
        run(Command::new(python).args([
            "-c",
            "import openai, sys; sys.exit(0 if openai.__version__.startswith('2.') else 1)",
        ]))
        .is_some_and(|output| output.status.success())
    };
    if has_client(&python) {
        return Ok(python);
    }
    let made = run(Command::new("python3").args(["-m", "venv"]).arg(&venv))
        .ok_or("python3 is not installed")?;
    if !made.status.success() {
        return Err(format!("python3 -m venv failed:\n{}", tail(&made)));
    }
    let installed = run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--cache-dir"])
        .arg(scratch.join("pip-cache"))
        .arg("openai>=2,<3"))
    .ok_or("the venv has no python")?;
    if !installed.status.success() {
        return Err(format!(
            "pip install openai failed (is PyPI reachable?):\n{}",
            tail(&installed)
        ));
    }
    if has_client(&python) {
        Ok(python)
    } else {
        Err("openai 2.x did not install".into())
    }
}

/// A `steward serve` child process, killed when dropped.
struct Server {
    child: std::process::Child,
    base_url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(database: &Path, model_dir: &Path) -> Server {
    use std::io::BufRead as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--database")
        .arg(database)
        .arg("--model-dir")
        .arg(model_dir)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("steward serve starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("the address line");
    let base_url = line.trim().to_string();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{base_url:?}");
    Server { child, base_url }
}

#[test]
fn the_official_openai_python_client_works_against_steward_serve() {
    let Some(chat_dir) = shared_model_dir(CHAT_MODEL) else {
        return;
    };
    let model_dir = chat_dir.parent().expect("the models folder").to_path_buf();
    let python = match python_with_openai() {
        Ok(python) => python,
        Err(reason) => return unavailable(&reason),
    };
    let work = tempfile::tempdir().expect("temp dir");
    let database = work.path().join("community.db");
    let created = Command::new(env!("CARGO_BIN_EXE_steward"))
        .arg("--database")
        .arg(&database)
        .args([
            "keys", "create", "--role", "service", "--name", "python", "--json",
        ])
        .output()
        .expect("steward keys create runs");
    assert!(created.status.success(), "{}", tail(&created));
    let created: serde_json::Value =
        serde_json::from_slice(&created.stdout).expect("one JSON object");
    let key = created["key"].as_str().expect("the key").to_string();

    let server = serve(&database, &model_dir);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/openai_python/check.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(format!("{}/v1", server.base_url))
        .arg(&key)
        .args([CHAT_MODEL, EMBED_MODEL])
        .stdin(Stdio::null())
        .output()
        .expect("python runs");
    drop(server);
    assert!(
        output.status.success(),
        "the Python client failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        tail(&output)
    );
    let seen: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("the script prints one JSON object");
    assert!(
        seen["openai_version"]
            .as_str()
            .is_some_and(|version| version.starts_with("2.")),
        "{seen}"
    );
    assert!(
        seen["chat"]
            .as_str()
            .is_some_and(|text| text.contains("Paris")),
        "{seen}"
    );
    assert!(seen["stream_pieces"].as_u64() > Some(1), "{seen}");
    assert!(seen["json"].is_object(), "{seen}");
    assert_eq!(seen["embedding_dims"], 384);
    assert_eq!(seen["models"], serde_json::json!([CHAT_MODEL, EMBED_MODEL]));
    assert_eq!(
        seen["not_found"],
        serde_json::json!({"status": 404, "code": "model_not_found", "param": "model"})
    );
}
