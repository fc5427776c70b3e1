use std::path::PathBuf;

use serde::de::DeserializeOwned;

use super::*;

/// A config layered from a `steward.toml` holding `file` (none when `None`),
/// the environment `env` and `flags`, in a fresh working directory.
fn load(file: Option<&str>, env: &[(&str, &str)], flags: Vec<Setting>) -> Result<Config> {
    let dir = tempfile::tempdir().expect("temp dir");
    if let Some(text) = file {
        std::fs::write(dir.path().join(DEFAULT_FILE_NAME), text).expect("write steward.toml");
    }
    let mut sources = Sources::none();
    sources.working_dir = Some(dir.path().to_path_buf());
    sources.env = env
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    sources.flags = flags;
    Config::load(&sources)
}

/// `key` shows as `value` (TOML, masked) and came from `origin` (as printed).
fn check(config: &Config, key: &str, value: &str, origin: &str) {
    let entry = config
        .entries()
        .into_iter()
        .find(|entry| entry.key == key)
        .unwrap_or_else(|| panic!("no key {key}"));
    let shown = entry
        .value
        .map(|value| value.to_string())
        .unwrap_or_else(|| "(not set)".to_string());
    let mut shown_origin = entry
        .origin
        .map(|origin| origin.to_string())
        .unwrap_or_else(|| "default".to_string());
    if let Some(file) = config.file() {
        shown_origin = shown_origin.replace(&file.display().to_string(), "FILE");
    }
    assert_eq!(
        (shown.as_str(), shown_origin.as_str()),
        (value, origin),
        "{key}"
    );
}

/// Loading fails, and the message says every one of `expected`.
fn check_error(file: Option<&str>, env: &[(&str, &str)], flags: Vec<Setting>, expected: &[&str]) {
    let error = match load(file, env, flags) {
        Ok(_) => panic!("loaded, expected an error saying {expected:?}"),
        Err(error) => error.to_string(),
    };
    for text in expected {
        assert!(
            error.contains(text),
            "the error should say `{text}`:\n{error}"
        );
    }
}

#[test]
fn the_example_file_is_exactly_the_defaults() {
    let parsed: Config = toml::from_str(EXAMPLE).expect("the example parses strictly");
    let defaults = Config::defaults();
    assert_eq!(
        Config {
            provenance: Provenance::default(),
            ..defaults.clone()
        },
        parsed
    );
    assert_eq!(defaults.file(), None);
    for entry in defaults.entries() {
        assert!(
            matches!(entry.origin, Some(Origin::Default) | None),
            "{}: {:?}",
            entry.key,
            entry.origin
        );
    }
}

#[test]
fn the_example_documents_every_key_with_a_comment() {
    let lines: Vec<&str> = EXAMPLE.lines().collect();
    for key in layers::schema().keys() {
        let name = key.rsplit('.').next().expect("a key has a name");
        let position = lines
            .iter()
            .position(|line| {
                let line = line.trim_start_matches("# ");
                line.starts_with(&format!("{name} = "))
            })
            .unwrap_or_else(|| panic!("steward.example.toml does not show `{key}`"));
        assert!(
            position > 0 && lines[position - 1].starts_with('#'),
            "`{key}` in steward.example.toml has no comment above it"
        );
    }
}

/// The field names serde accepts for `T`, read from its unknown-field error.
fn serde_fields<T: DeserializeOwned + std::fmt::Debug>() -> Vec<String> {
    let error = toml::from_str::<T>("zz_probe = 1").expect_err("the probe key is unknown");
    let message = error.message().to_string();
    let (_, list) = message
        .split_once("expected ")
        .unwrap_or_else(|| panic!("no field list in {message}"));
    // serde writes `a`, `a` or `b`, or one of `a`, `b`, `c`.
    list.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

#[test]
fn the_schema_knows_every_field_serde_accepts() {
    let keys = layers::schema().keys();
    let section = |name: &str| -> Vec<String> {
        keys.iter()
            .filter_map(|key| key.strip_prefix(&format!("{name}.")))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(section("database"), serde_fields::<DatabaseSettings>());
    assert_eq!(section("models"), serde_fields::<ModelsSettings>());
    assert_eq!(section("llm"), serde_fields::<LlmSettings>());
    assert_eq!(section("embedding"), serde_fields::<EmbeddingSettings>());
    assert_eq!(section("search"), serde_fields::<SearchSettings>());
    assert_eq!(section("ask"), serde_fields::<AskSettings>());
    assert_eq!(section("recsys"), serde_fields::<RecsysSettings>());
    assert_eq!(
        section("interactions"),
        serde_fields::<steward_recsys::dataset::InteractionWeights>()
    );
    assert_eq!(section("kg"), serde_fields::<KgSettings>());
    assert_eq!(section("server"), serde_fields::<ServerSettings>());
    assert_eq!(section("worker"), serde_fields::<WorkerSettings>());
    assert_eq!(section("auth"), serde_fields::<AuthSettings>());
    let mut top: Vec<String> = keys
        .iter()
        .map(|key| key.split('.').next().expect("a key").to_string())
        .collect();
    top.dedup();
    assert_eq!(top, serde_fields::<Config>());
}

#[test]
fn later_layers_win_and_each_value_says_where_it_came_from() {
    let file =
        "[server]\nbind = \"0.0.0.0:7000\"\nload_models = false\n[database]\nmax_connections = 4\n";
    let config = load(
        Some(file),
        &[
            ("STEWARD_DATABASE__MAX_CONNECTIONS", "16"),
            ("STEWARD_SERVER__BIND", "0.0.0.0:8000"),
        ],
        vec![Setting::flag("--bind", "server.bind", "127.0.0.1:9000")],
    )
    .expect("valid");
    check(&config, "server.bind", "\"127.0.0.1:9000\"", "flag --bind");
    check(
        &config,
        "database.max_connections",
        "16",
        "env STEWARD_DATABASE__MAX_CONNECTIONS",
    );
    check(&config, "server.load_models", "false", "file FILE");
    assert!(
        config
            .file()
            .is_some_and(|path| path.ends_with("steward.toml"))
    );
    check(&config, "server.request_timeout_secs", "30", "default");
    check(&config, "models.dir", "(not set)", "default");
}

#[test]
fn command_defaults_sit_between_the_built_in_defaults_and_the_file() {
    let demo = || {
        vec![Setting::command_default(
            "demo",
            "database.url",
            "./steward-demo.db",
        )]
    };
    let mut sources = Sources::none();
    sources.command_defaults = demo();
    let config = Config::load(&sources).expect("valid");
    check(
        &config,
        "database.url",
        "\"./steward-demo.db\"",
        "default of `steward demo`",
    );
    sources.env = vec![("STEWARD_DATABASE_URL".into(), "./mine.db".into())];
    let config = Config::load(&sources).expect("valid");
    check(
        &config,
        "database.url",
        "\"./mine.db\"",
        "env STEWARD_DATABASE_URL",
    );
    assert_eq!(config.origin("server.bind"), Some(&Origin::Default));
}

#[test]
fn environment_variables_map_to_keys() {
    let config = load(
        None,
        &[
            ("STEWARD_DATABASE_URL", "postgres://steward@db/steward"),
            ("STEWARD_MODEL_DIR", "/srv/models"),
            ("STEWARD_CACHE_DIR", "/var/cache/steward"),
            ("HF_ENDPOINT", "https://hub.example"),
            ("STEWARD_LLM__API_KEY_ENV", "MY_KEY, OTHER_KEY"),
            ("STEWARD_SERVER__LOAD_MODELS", "false"),
            ("STEWARD_LLM__PROVIDER", "openai_compatible"),
            ("STEWARD_LLM__URL", "http://127.0.0.1:8000/v1"),
            (
                "STEWARD_QUOTAS",
                "role:member=20000/3600, feature:generate=100/60",
            ),
            // Not Steward's config: ignored.
            ("STEWARD_DATA_DIR", "/data"),
            ("STEWARD_LLM_API_KEY", "sk-not-a-config-key"),
            ("PATH", "/usr/bin"),
            // Empty is unset.
            ("STEWARD_SERVER__BIND", ""),
        ],
        Vec::new(),
    )
    .expect("valid");
    check(
        &config,
        "database.url",
        "\"postgres://steward@db/steward\"",
        "env STEWARD_DATABASE_URL",
    );
    check(
        &config,
        "models.dir",
        "\"/srv/models\"",
        "env STEWARD_MODEL_DIR",
    );
    check(
        &config,
        "models.cache_dir",
        "\"/var/cache/steward\"",
        "env STEWARD_CACHE_DIR",
    );
    check(
        &config,
        "models.hub",
        "\"https://hub.example\"",
        "env HF_ENDPOINT",
    );
    check(
        &config,
        "llm.api_key_env",
        "[\"MY_KEY\", \"OTHER_KEY\"]",
        "env STEWARD_LLM__API_KEY_ENV",
    );
    check(
        &config,
        "server.load_models",
        "false",
        "env STEWARD_SERVER__LOAD_MODELS",
    );
    check(&config, "server.bind", "\"127.0.0.1:8080\"", "default");
    assert_eq!(config.llm.provider, LlmProvider::OpenaiCompatible);
    assert_eq!(
        config.quotas,
        vec![
            QuotaSettings {
                scope: "role:member".into(),
                tokens: 20000,
                window_secs: 3600
            },
            QuotaSettings {
                scope: "feature:generate".into(),
                tokens: 100,
                window_secs: 60
            },
        ]
    );
    assert_eq!(
        config.origin("quotas"),
        Some(&Origin::Env("STEWARD_QUOTAS".into()))
    );
}

#[test]
fn mistakes_are_errors_that_name_the_key_and_say_what_to_do() {
    check_error(
        Some("[server]\nbidn = \"0.0.0.0:80\"\n"),
        &[],
        Vec::new(),
        &[
            "`server.bidn`",
            "unknown key",
            "bind, body_limit_bytes",
            "did you mean `server.bind`?",
            "steward.toml",
        ],
    );
    check_error(
        Some("[sever]\nbind = \"0.0.0.0:80\"\n"),
        &[],
        Vec::new(),
        &["`sever`", "unknown section", "did you mean `server`?"],
    );
    check_error(
        Some("server = 3\n"),
        &[],
        Vec::new(),
        &["`server`", "must be a table"],
    );
    check_error(
        Some("[database]\nmax_connections = 0\n"),
        &[],
        Vec::new(),
        &["`database.max_connections`", "is 0", "at least 1"],
    );
    check_error(
        Some("[database]\nmax_connections = \"eight\"\n"),
        &[],
        Vec::new(),
        &["`database.max_connections`", "invalid type"],
    );
    check_error(
        Some("[server]\nbind = \"localhost\"\n"),
        &[],
        Vec::new(),
        &["`server.bind`", "HOST:PORT", "127.0.0.1:8080"],
    );
    check_error(
        Some("[llm]\nprovider = \"remote\"\n"),
        &[],
        Vec::new(),
        &["`llm.provider`", "openai_compatible"],
    );
    check_error(
        Some("[llm]\nprovider = \"openai_compatible\"\n"),
        &[],
        Vec::new(),
        &["`llm.url`", "required when llm.provider"],
    );
    check_error(
        Some("quotas = [{ scope = \"team:x\", tokens = 1, window_secs = 60 }]\n"),
        &[],
        Vec::new(),
        &["`quotas[0].scope`", "feature:NAME or role:NAME"],
    );
    check_error(
        Some("[[quotas]]\nscope = \"role:x\"\ntokens = 1\nwindow_secs = 60\nwindow = 3\n"),
        &[],
        Vec::new(),
        &["quotas[0]", "unknown field `window`", "window_secs"],
    );
    check_error(
        Some("[worker]\nheartbeat_secs = 30\nstale_after_secs = 30\n"),
        &[],
        Vec::new(),
        &[
            "`worker.stale_after_secs`",
            "more than worker.heartbeat_secs",
        ],
    );
    check_error(
        Some("[server\nbind = 1"),
        &[],
        Vec::new(),
        &["not valid TOML", "line 1"],
    );
    check_error(
        None,
        &[("STEWARD_SERVER__BIDN", "0.0.0.0:80")],
        Vec::new(),
        &[
            "`server.bidn`",
            "env STEWARD_SERVER__BIDN",
            "did you mean `server.bind`?",
        ],
    );
    check_error(
        None,
        &[("STEWARD_DATABASE__MAX_CONNECTIONS", "many")],
        Vec::new(),
        &[
            "`database.max_connections`",
            "STEWARD_DATABASE__MAX_CONNECTIONS",
            "not a whole number",
        ],
    );
    check_error(
        None,
        &[
            ("STEWARD_DATABASE_URL", "a.db"),
            ("STEWARD_DATABASE__URL", "b.db"),
        ],
        Vec::new(),
        &[
            "`database.url`",
            "also set by STEWARD_DATABASE_URL",
            "only one",
        ],
    );
    check_error(
        None,
        &[("STEWARD_QUOTAS", "member=1/1")],
        Vec::new(),
        &["`quotas`", "feature:NAME=TOKENS/SECONDS"],
    );
    check_error(
        None,
        &[],
        vec![Setting::flag(
            "--body-limit",
            "server.body_limit_bytes",
            u64::MAX,
        )],
        &["`server.body_limit_bytes`", "flag --body-limit"],
    );
    // Every problem at once, not one per run.
    check_error(
        Some("[server]\nbidn = 1\n[database]\nurll = 2\n"),
        &[],
        Vec::new(),
        &["2 problems", "server.bidn", "database.urll"],
    );
}

#[test]
fn a_missing_explicit_config_file_is_an_error_a_missing_default_one_is_not() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut sources = Sources::none();
    sources.working_dir = Some(dir.path().to_path_buf());
    assert!(Config::load(&sources).is_ok());
    sources.config_file = Some(dir.path().join("nope.toml"));
    let error = Config::load(&sources).expect_err("--config names a missing file");
    assert!(matches!(error, Error::MissingConfigFile { .. }), "{error}");
    assert!(error.to_string().contains("nope.toml"));

    let explicit = dir.path().join("other.toml");
    std::fs::write(&explicit, "[embedding]\nmodel = \"lsa\"\n").expect("write");
    sources.config_file = Some(explicit.clone());
    let config = Config::load(&sources).expect("valid");
    assert_eq!(config.embedding.model, "lsa");
    assert_eq!(
        config.origin("embedding.model"),
        Some(&Origin::File(explicit))
    );
}

#[test]
fn secrets_are_masked_when_shown() {
    let config = load(
        Some("[database]\nurl = \"postgres://steward:hunter2@db:5432/steward\"\n"),
        &[("STEWARD_AUTH__SECRET", "very-secret-value")],
        Vec::new(),
    )
    .expect("valid");
    assert_eq!(
        config.auth.secret.as_ref().map(Secret::expose),
        Some("very-secret-value")
    );
    check(
        &config,
        "auth.secret",
        "\"********\"",
        "env STEWARD_AUTH__SECRET",
    );
    check(
        &config,
        "database.url",
        "\"postgres://steward:********@db:5432/steward\"",
        "file FILE",
    );
    let shown = config.show();
    let json = config.show_json().to_string();
    let debug = format!("{config:?}");
    for text in [&shown, &json, &debug] {
        assert!(!text.contains("very-secret-value"), "{text}");
    }
    assert!(!shown.contains("hunter2") && !json.contains("hunter2"));
    // A variable's name is not a secret.
    check(
        &config,
        "llm.api_key_env",
        "[\"STEWARD_LLM_API_KEY\", \"OPENAI_API_KEY\"]",
        "default",
    );
}

#[test]
fn show_prints_one_line_per_key_with_its_origin() {
    let config = load(
        None,
        &[("STEWARD_WORKER__HEARTBEAT_SECS", "5")],
        vec![Setting::flag("--bind", "server.bind", "0.0.0.0:9000")],
    )
    .expect("valid");
    let shown = config.show();
    let line = |key: &str| -> String {
        shown
            .lines()
            .find(|line| line.starts_with(&format!("{key} = ")))
            .unwrap_or_else(|| panic!("no line for {key} in\n{shown}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        line("server.bind"),
        "server.bind = \"0.0.0.0:9000\" # flag --bind"
    );
    assert_eq!(
        line("worker.heartbeat_secs"),
        "worker.heartbeat_secs = 5 # env STEWARD_WORKER__HEARTBEAT_SECS"
    );
    assert_eq!(
        line("database.url"),
        "database.url = \"./steward.db\" # default"
    );
    assert_eq!(line("auth.secret"), "auth.secret = (not set) # default");
    assert_eq!(line("quotas"), "quotas = [] # default");
    assert!(shown.starts_with("# config file: none"), "{shown}");
    assert_eq!(
        shown.lines().count(),
        1 + layers::schema().keys().len(),
        "a header and one line per key"
    );
    let json = config.show_json();
    assert_eq!(json["file"], serde_json::Value::Null);
    assert_eq!(json["values"]["server.bind"]["value"], "0.0.0.0:9000");
    assert_eq!(json["values"]["server.bind"]["origin"], "flag --bind");
    assert_eq!(
        json["values"]["models.dir"]["value"],
        serde_json::Value::Null
    );
}

#[test]
fn quotas_from_the_command_line() {
    let check = |text: &str, expected: Option<(&str, i64, u64)>| {
        let got = parse_quota(text).ok();
        let expected = expected.map(|(scope, tokens, window_secs)| QuotaSettings {
            scope: scope.to_string(),
            tokens,
            window_secs,
        });
        assert_eq!(got, expected, "{text}");
    };
    check(
        "feature:openai_api=1000/60",
        Some(("feature:openai_api", 1000, 60)),
    );
    check("role:member=20000/3600", Some(("role:member", 20000, 3600)));
    check("member=1/1", None);
    check("team:x=1/1", None);
    check("role:=1/1", None);
    check("role:x=1", None);
    check("role:x=-1/60", None);
    check("role:x=10/0", None);
}

#[test]
fn secret_keys_are_told_from_the_names_of_variables_holding_secrets() {
    let check = |key: &str, secret: bool| assert_eq!(show::is_secret(key), secret, "{key}");
    check("auth.secret", true);
    check("llm.api_key", true);
    check("llm.api_key_env", false);
    check("models.hub_token_env", false);
    check("database.url", false);
    check("database.password", true);
}

#[test]
fn home_is_expanded_in_paths() {
    let home = PathBuf::from(std::env::var_os("HOME").expect("tests run with HOME set"));
    assert_eq!(expand_home("~/.cache/steward"), home.join(".cache/steward"));
    assert_eq!(expand_home("~"), home);
    assert_eq!(expand_home("/abs/~x"), PathBuf::from("/abs/~x"));
    assert_eq!(expand_home("~other/x"), PathBuf::from("~other/x"));
}
