//! Layering: the built-in defaults, then a command's defaults, the config file,
//! the environment and the flags, merged key by key into one TOML table with
//! the origin of every key. Unknown keys are caught here, against the schema of
//! [`Config`], so that the error can name the key and list the valid ones.

use std::path::Path;
use std::sync::OnceLock;

use super::{Config, DEFAULT_FILE_NAME, EXAMPLE, Origin, Provenance, Secret, Setting, Sources};
use crate::{Error, Problem, Result};

/// Environment variables that set one key each, besides the generic
/// `STEWARD_<SECTION>__<KEY>`: the names Steward read before it had a config
/// file, kept working.
pub const ENV_ALIASES: &[(&str, &str)] = &[
    ("STEWARD_DATABASE_URL", "database.url"),
    ("STEWARD_MODEL_DIR", "models.dir"),
    ("STEWARD_CACHE_DIR", "models.cache_dir"),
    ("HF_ENDPOINT", "models.hub"),
    ("STEWARD_QUOTAS", "quotas"),
    ("STEWARD_AUTH_SECRET", "auth.secret"),
];

/// Stands in for the value of a Steward variable that is not UTF-8, so the
/// env layer can name it instead of the process silently ignoring it.
pub(super) const NOT_UTF8: &str = "\u{0}not UTF-8\u{0}";

/// The prefix of the generic form, `STEWARD_<SECTION>__<KEY>`.
const ENV_PREFIX: &str = "STEWARD_";

/// Whether the env layer reads `name`.
pub(super) fn is_steward_variable(name: &str) -> bool {
    ENV_ALIASES.iter().any(|(alias, _)| *alias == name)
        || name
            .strip_prefix(ENV_PREFIX)
            .is_some_and(|rest| rest.contains("__"))
}

/// The merged table, ready to deserialize, and where each key came from.
pub(super) struct Layered {
    pub table: toml::Table,
    pub provenance: Provenance,
}

/// What a key holds, so that an environment string can be turned into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Integer,
    Float,
    Boolean,
    /// Comma-separated in the environment.
    StringList,
    /// An array of tables (`quotas`): the whole list is one key.
    TableList,
}

/// A top-level entry of the config: a `[section]` of keys, or a list.
#[derive(Debug)]
enum Shape {
    Section(Vec<(String, Kind)>),
    List,
}

/// The valid keys, in the order of [`Config`]'s fields.
#[derive(Debug)]
pub(super) struct Schema {
    entries: Vec<(String, Shape)>,
}

/// A key the schema knows: `section.key`, or a list's name.
#[derive(Debug, Clone, Copy)]
struct KnownKey<'a> {
    section: &'a str,
    key: Option<&'a str>,
    kind: Kind,
}

impl KnownKey<'_> {
    fn dotted(&self) -> String {
        match self.key {
            Some(key) => format!("{}.{key}", self.section),
            None => self.section.to_string(),
        }
    }
}

/// The schema of [`Config`], read off the example with every optional key set
/// (serde leaves unset options out, so they are filled in first). A unit test
/// checks it against the fields serde accepts.
pub(super) fn schema() -> &'static Schema {
    static SCHEMA: OnceLock<Schema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        let mut config: Config =
            toml::from_str(EXAMPLE).expect("steward.example.toml is a valid config (unit test)");
        config.database.blob_dir = Some(Default::default());
        config.database.schema = Some(String::new());
        config.worker.name = Some(String::new());
        config.models.dir = Some(Default::default());
        config.search.index_dir = Some(Default::default());
        config.llm.url = Some(String::new());
        config.auth.secret = Some(Secret::new(""));
        let table = toml::Table::try_from(&config).expect("a Config serializes to a table");
        let entries = table
            .into_iter()
            .map(|(name, value)| {
                let shape = match value {
                    toml::Value::Table(section) => Shape::Section(
                        section
                            .into_iter()
                            .map(|(key, value)| (key, kind_of(&value)))
                            .collect(),
                    ),
                    _ => Shape::List,
                };
                (name, shape)
            })
            .collect();
        Schema { entries }
    })
}

fn kind_of(value: &toml::Value) -> Kind {
    match value {
        toml::Value::Integer(_) => Kind::Integer,
        toml::Value::Float(_) => Kind::Float,
        toml::Value::Boolean(_) => Kind::Boolean,
        toml::Value::Array(_) => Kind::StringList,
        _ => Kind::String,
    }
}

impl Schema {
    /// Every dotted key, in order (lists by their name).
    pub(super) fn keys(&self) -> Vec<String> {
        self.entries
            .iter()
            .flat_map(|(name, shape)| match shape {
                Shape::Section(keys) => keys
                    .iter()
                    .map(|(key, _)| format!("{name}.{key}"))
                    .collect(),
                Shape::List => vec![name.clone()],
            })
            .collect()
    }

    /// The key named by `dotted`, or a message saying what the valid ones are.
    fn lookup(&self, dotted: &str) -> std::result::Result<KnownKey<'_>, String> {
        let (section, key) = match dotted.split_once('.') {
            Some((section, key)) => (section, Some(key)),
            None => (dotted, None),
        };
        let Some((name, shape)) = self.entries.iter().find(|(name, _)| name == section) else {
            return Err(self.unknown_section(section));
        };
        match (shape, key) {
            (Shape::List, None) => Ok(KnownKey {
                section: name,
                key: None,
                kind: Kind::TableList,
            }),
            (Shape::Section(keys), Some(key)) => {
                match keys.iter().find(|(known, _)| known == key) {
                    Some((known, kind)) => Ok(KnownKey {
                        section: name,
                        key: Some(known),
                        kind: *kind,
                    }),
                    None => {
                        let names: Vec<&str> =
                            keys.iter().map(|(known, _)| known.as_str()).collect();
                        Err(format!(
                            "unknown key; [{name}] has {}{}",
                            names.join(", "),
                            did_you_mean(key, &names, |known| format!("{name}.{known}"))
                        ))
                    }
                }
            }
            (Shape::Section(_), None) => Err(format!(
                "`{name}` is a section: set one of its keys ({name}.KEY, or [{name}] in a file)"
            )),
            (Shape::List, Some(_)) => Err(format!(
                "`{name}` is a list: set it whole (see steward.example.toml)"
            )),
        }
    }

    fn unknown_section(&self, section: &str) -> String {
        let names: Vec<&str> = self.entries.iter().map(|(name, _)| name.as_str()).collect();
        format!(
            "unknown section; the sections are {}{}",
            names.join(", "),
            did_you_mean(section, &names, str::to_string)
        )
    }
}

/// ` (did you mean `x`?)` when one valid name is a small typo away.
fn did_you_mean(typed: &str, valid: &[&str], spell: impl Fn(&str) -> String) -> String {
    valid
        .iter()
        .map(|name| (edit_distance(typed, name), *name))
        .filter(|(distance, name)| *distance <= 2.max(name.len() / 4))
        .min()
        .map(|(_, name)| format!(" (did you mean `{}`?)", spell(name)))
        .unwrap_or_default()
}

/// Levenshtein distance over chars; the names are short.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// Builds the merged table: defaults, command defaults, file, environment,
/// flags. Collects every unknown key and unreadable value before failing.
pub(super) fn layer(sources: &Sources) -> Result<Layered> {
    let schema = schema();
    let mut layered = Layered {
        table: EXAMPLE
            .parse()
            .expect("steward.example.toml is valid TOML (unit test)"),
        provenance: Provenance::default(),
    };
    for (name, value) in &layered.table {
        match value {
            toml::Value::Table(section) => {
                for key in section.keys() {
                    layered
                        .provenance
                        .origins
                        .insert(format!("{name}.{key}"), Origin::Default);
                }
            }
            _ => {
                layered
                    .provenance
                    .origins
                    .insert(name.clone(), Origin::Default);
            }
        }
    }
    let mut problems = Vec::new();
    layered.apply_settings(schema, &sources.command_defaults, &mut problems);
    if let Some(path) = config_file(sources)? {
        let text = std::fs::read_to_string(&path).map_err(|source| Error::ReadConfigFile {
            path: path.clone(),
            source,
        })?;
        let file: toml::Table =
            text.parse()
                .map_err(|error: toml::de::Error| Error::ParseConfigFile {
                    path: path.clone(),
                    message: error.to_string().trim_end().to_string(),
                })?;
        layered.apply_file(schema, file, &path, &mut problems);
        layered.provenance.file = Some(path);
    }
    layered.apply_env(schema, &sources.env, &mut problems);
    layered.apply_settings(schema, &sources.flags, &mut problems);
    if problems.is_empty() {
        Ok(layered)
    } else {
        Err(Error::Invalid { problems })
    }
}

/// `--config FILE` (which must exist), else `steward.toml` in the working
/// directory when there is one.
fn config_file(sources: &Sources) -> Result<Option<std::path::PathBuf>> {
    match &sources.config_file {
        Some(path) if path.is_file() => Ok(Some(path.clone())),
        Some(path) => Err(Error::MissingConfigFile { path: path.clone() }),
        None => Ok(sources
            .working_dir
            .as_ref()
            .map(|dir| dir.join(DEFAULT_FILE_NAME))
            .filter(|path| path.is_file())),
    }
}

impl Layered {
    fn set(&mut self, key: KnownKey<'_>, value: toml::Value, origin: Origin) {
        match key.key {
            Some(name) => {
                let section = self
                    .table
                    .entry(key.section)
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                if let toml::Value::Table(section) = section {
                    section.insert(name.to_string(), value);
                }
            }
            None => {
                self.table.insert(key.section.to_string(), value);
            }
        }
        self.provenance.origins.insert(key.dotted(), origin);
    }

    fn apply_settings(
        &mut self,
        schema: &Schema,
        settings: &[Setting],
        problems: &mut Vec<Problem>,
    ) {
        for setting in settings {
            let problem = |message: String| Problem {
                key: setting.key.clone(),
                origin: Some(setting.origin.clone()),
                message,
            };
            match (schema.lookup(&setting.key), &setting.value) {
                (Ok(key), Ok(value)) => self.set(key, value.clone(), setting.origin.clone()),
                (Err(message), _) => problems.push(problem(message)),
                (_, Err(message)) => problems.push(problem(message.clone())),
            }
        }
    }

    fn apply_file(
        &mut self,
        schema: &Schema,
        file: toml::Table,
        path: &Path,
        problems: &mut Vec<Problem>,
    ) {
        let origin = Origin::File(path.to_path_buf());
        for (name, value) in file {
            let problem = |key: String, message: String| Problem {
                key,
                origin: Some(origin.clone()),
                message,
            };
            match (schema.lookup(&name), value) {
                // A list, set whole (its items are checked when deserialized).
                (Ok(key), value) => self.set(key, value, origin.clone()),
                (Err(_), toml::Value::Table(section)) if schema.is_section(&name) => {
                    for (key, value) in section {
                        let dotted = format!("{name}.{key}");
                        match schema.lookup(&dotted) {
                            Ok(known) => self.set(known, value, origin.clone()),
                            Err(message) => problems.push(problem(dotted, message)),
                        }
                    }
                }
                (Err(_), value) if schema.is_section(&name) => problems.push(problem(
                    name.clone(),
                    format!(
                        "must be a table (a [{name}] section), not {}",
                        value.type_str()
                    ),
                )),
                (Err(message), _) => problems.push(problem(name, message)),
            }
        }
    }

    fn apply_env(
        &mut self,
        schema: &Schema,
        env: &[(String, String)],
        problems: &mut Vec<Problem>,
    ) {
        let mut set_by: Vec<(String, String)> = Vec::new();
        for (name, value) in env {
            let dotted = match ENV_ALIASES.iter().find(|(alias, _)| alias == name) {
                Some((_, key)) => key.to_string(),
                None => match name
                    .strip_prefix(ENV_PREFIX)
                    .and_then(|rest| rest.split_once("__"))
                {
                    Some((section, key)) => {
                        format!("{}.{}", section.to_lowercase(), key.to_lowercase())
                    }
                    None => continue,
                },
            };
            // Unset and set-to-empty mean the same, as the shell makes them easy to confuse.
            if value.is_empty() {
                continue;
            }
            let origin = Origin::Env(name.clone());
            let problem = |message: String| Problem {
                key: dotted.clone(),
                origin: Some(origin.clone()),
                message,
            };
            let key = match schema.lookup(&dotted) {
                Ok(key) => key,
                Err(message) => {
                    problems.push(problem(format!(
                        "{message}; environment variables name keys as STEWARD_<SECTION>__<KEY>"
                    )));
                    continue;
                }
            };
            if value == NOT_UTF8 {
                problems.push(problem("the value is not UTF-8".to_string()));
                continue;
            }
            if let Some((_, other)) = set_by.iter().find(|(key, _)| *key == dotted) {
                problems.push(problem(format!(
                    "also set by {other}; set only one of them"
                )));
                continue;
            }
            set_by.push((dotted.clone(), name.clone()));
            match env_value(key.kind, value) {
                Ok(value) => self.set(key, value, origin),
                Err(message) => problems.push(problem(message)),
            }
        }
    }
}

impl Schema {
    fn is_section(&self, name: &str) -> bool {
        self.entries
            .iter()
            .any(|(known, shape)| known == name && matches!(shape, Shape::Section(_)))
    }
}

/// An environment string as the value a key holds.
fn env_value(kind: Kind, text: &str) -> std::result::Result<toml::Value, String> {
    let trimmed = text.trim();
    match kind {
        Kind::String => Ok(toml::Value::String(text.to_string())),
        Kind::Integer => trimmed
            .parse::<i64>()
            .map(toml::Value::Integer)
            .map_err(|_| format!("`{text}` is not a whole number")),
        Kind::Float => trimmed
            .parse::<f64>()
            .map(toml::Value::Float)
            .map_err(|_| format!("`{text}` is not a number")),
        Kind::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            "true" | "1" => Ok(toml::Value::Boolean(true)),
            "false" | "0" => Ok(toml::Value::Boolean(false)),
            _ => Err(format!("`{text}` is not true or false")),
        },
        Kind::StringList => Ok(toml::Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(|item| toml::Value::String(item.to_string()))
                .collect(),
        )),
        Kind::TableList => {
            let quotas = text
                .split(',')
                .map(str::trim)
                .filter(|item| !item.is_empty())
                .map(super::check::parse_quota)
                .collect::<std::result::Result<Vec<_>, _>>()?;
            toml::Value::try_from(quotas).map_err(|error| error.to_string())
        }
    }
}
