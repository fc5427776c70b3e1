//! End-to-end tests of configuration through the `steward` binary: what
//! `steward config show` prints on a fresh machine, how a typo is reported,
//! and that the file, the environment and flags reach the commands.

use std::io::{BufRead, Read, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `steward ARGS` run in `dir` with only `env` (plus PATH and a HOME inside
/// `dir`) in its environment, so the developer's own STEWARD_* variables
/// cannot leak in.
fn steward_command(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("RUST_LOG", "warn")
        .envs(env.iter().copied())
        .args(args);
    command
}

fn steward(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    steward_command(dir, env, args)
        .output()
        .expect("the steward binary runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "steward failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 stdout")
}

/// The line of `config show` for `key`, with runs of spaces made single.
fn show_line(shown: &str, key: &str) -> String {
    shown
        .lines()
        .find(|line| line.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no line for {key} in:\n{shown}"))
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn config_show_works_on_a_fresh_machine_and_says_every_value_is_a_default() {
    let dir = tempfile::tempdir().expect("temp dir");
    let shown = stdout(&steward(dir.path(), &[], &["config", "show"]));
    assert_eq!(
        show_line(&shown, "database.url"),
        "database.url = \"./steward.db\" # default"
    );
    assert_eq!(
        show_line(&shown, "server.bind"),
        "server.bind = \"127.0.0.1:8080\" # default"
    );
    let values: Vec<&str> = shown
        .lines()
        .filter(|line| !line.starts_with('#'))
        .collect();
    assert!(values.len() > 20, "every key is listed:\n{shown}");
    for line in values {
        assert!(line.ends_with("# default"), "{line}");
    }

    let json: serde_json::Value = serde_json::from_str(&stdout(&steward(
        dir.path(),
        &[],
        &["config", "show", "--json"],
    )))
    .expect("one JSON object");
    assert_eq!(json["file"], serde_json::Value::Null);
    let values = json["values"].as_object().expect("values");
    assert!(values.values().all(|value| value["origin"] == "default"));
    assert_eq!(values["database.max_connections"]["value"], 8);

    assert!(
        !dir.path().join("steward.db").exists(),
        "showing the config opens no database"
    );
}

#[test]
fn a_typo_in_steward_toml_is_an_error_naming_the_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("steward.toml"),
        "[server]\nbidn = \"0.0.0.0:8080\"\n",
    )
    .expect("write steward.toml");
    for args in [&["config", "check"][..], &["stats", "--json"]] {
        let output = steward(dir.path(), &[], args);
        assert!(!output.status.success(), "{args:?} must fail");
        assert!(
            output.stdout.is_empty(),
            "{args:?} printed nothing on stdout"
        );
        let stderr = String::from_utf8_lossy(&output.stderr);
        for text in ["server.bidn", "steward.toml", "did you mean `server.bind`?"] {
            assert!(stderr.contains(text), "{args:?}: `{text}` in {stderr}");
        }
    }

    std::fs::write(
        dir.path().join("steward.toml"),
        "[database]\nmax_connections = 0\n",
    )
    .expect("write steward.toml");
    let output = steward(dir.path(), &[], &["config", "check"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("database.max_connections") && stderr.contains("at least 1"),
        "{stderr}"
    );
}

#[test]
fn file_environment_and_flags_override_in_order_and_say_so() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("custom.toml");
    std::fs::write(
        &file,
        "[server]\nbind = \"127.0.0.1:7000\"\n[worker]\nheartbeat_secs = 5\n[database]\nurl = \"file.db\"\n",
    )
    .expect("write config");
    let file_arg = file.to_str().expect("UTF-8 path");
    let shown = stdout(&steward(
        dir.path(),
        &[
            ("STEWARD_SERVER__BIND", "0.0.0.0:9999"),
            ("STEWARD_DATABASE_URL", "env.db"),
            ("STEWARD_AUTH__SECRET", "do-not-print-me"),
        ],
        &[
            "--config",
            file_arg,
            "--database",
            "flag.db",
            "config",
            "show",
        ],
    ));
    assert_eq!(
        shown.lines().next(),
        Some(format!("# config file: {file_arg}").as_str())
    );
    assert_eq!(
        show_line(&shown, "database.url"),
        "database.url = \"flag.db\" # flag --database"
    );
    assert_eq!(
        show_line(&shown, "server.bind"),
        "server.bind = \"0.0.0.0:9999\" # env STEWARD_SERVER__BIND"
    );
    assert_eq!(
        show_line(&shown, "worker.heartbeat_secs"),
        format!("worker.heartbeat_secs = 5 # file {file_arg}")
    );
    assert_eq!(
        show_line(&shown, "auth.secret"),
        "auth.secret = \"********\" # env STEWARD_AUTH__SECRET"
    );
    assert!(!shown.contains("do-not-print-me"));

    let output = steward(
        dir.path(),
        &[],
        &["--config", "missing.toml", "config", "show"],
    );
    assert!(
        !output.status.success(),
        "a missing --config file is an error"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing.toml"));
}

#[test]
fn serve_runs_on_the_configured_address_and_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("steward.toml"),
        "[database]\nurl = \"configured.db\"\n[server]\nbind = \"127.0.0.1:0\"\nload_models = false\n",
    )
    .expect("write steward.toml");
    let mut child = steward_command(dir.path(), &[], &["serve"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("steward serve starts");
    let mut first_line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("piped stdout"))
        .read_line(&mut first_line)
        .expect("the address line");
    let address = first_line
        .trim()
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("an http:// address, got {first_line:?}"))
        .to_string();
    let response = (|| -> std::io::Result<String> {
        let mut stream = std::net::TcpStream::connect(&address)?;
        stream.write_all(b"GET /api/v1/stats HTTP/1.0\r\nHost: steward\r\n\r\n")?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response)
    })();
    child.kill().expect("stop the server");
    child.wait().expect("reap the server");
    let response = response.expect("an HTTP answer");
    assert!(response.starts_with("HTTP/1.0 200"), "{response}");
    assert!(
        dir.path().join("configured.db").is_file(),
        "the database of database.url was created"
    );
}
