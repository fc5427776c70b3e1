//! `steward config show`: the effective value of every key with its origin,
//! as TOML-like lines or one JSON object, secrets masked.

use super::{Config, Origin, layers};

/// What a masked value is shown as.
const MASK: &str = "********";

/// One key of the effective configuration, ready to print.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Dotted: `server.bind`, or `quotas` for the list.
    pub key: String,
    /// `None` for an optional key nobody set. Secrets are already masked.
    pub value: Option<toml::Value>,
    /// `None` only for an unset optional key (its "default" is to be unset).
    pub origin: Option<Origin>,
}

impl Config {
    /// Every key in the order of the example file, with its value and origin.
    pub fn entries(&self) -> Vec<Entry> {
        let table = toml::Table::try_from(self).expect("a Config serializes to a table");
        layers::schema()
            .keys()
            .into_iter()
            .map(|key| {
                let value = match key.split_once('.') {
                    Some((section, name)) => table
                        .get(section)
                        .and_then(|section| section.get(name))
                        .cloned(),
                    None => table.get(&key).cloned(),
                };
                Entry {
                    value: value.map(|value| mask(&key, value)),
                    origin: self.origin(&key).cloned(),
                    key,
                }
            })
            .collect()
    }

    /// `key = value   # origin`, one line per key; valid TOML up to the
    /// comments, except for `(not set)` values.
    pub fn show(&self) -> String {
        let lines: Vec<(String, String)> = self
            .entries()
            .into_iter()
            .map(|entry| {
                let value = entry
                    .value
                    .map(|value| value.to_string())
                    .unwrap_or_else(|| "(not set)".to_string());
                let origin = entry
                    .origin
                    .map(|origin| origin.to_string())
                    .unwrap_or_else(|| Origin::Default.to_string());
                (format!("{} = {value}", entry.key), origin)
            })
            .collect();
        // Origins in one column, unless a long value would push it far right.
        let width = lines
            .iter()
            .map(|(assignment, _)| assignment.chars().count())
            .filter(|width| *width <= 60)
            .max()
            .unwrap_or(0);
        let mut out = String::new();
        match self.file() {
            Some(path) => out.push_str(&format!("# config file: {}\n", path.display())),
            None => {
                out.push_str("# config file: none (built-in defaults; see steward.example.toml)\n")
            }
        }
        for (assignment, origin) in lines {
            out.push_str(&format!("{assignment:<width$}   # {origin}\n"));
        }
        out
    }

    /// `{"file": PATH|null, "values": {KEY: {"value": V|null, "origin": O}}}`.
    pub fn show_json(&self) -> serde_json::Value {
        let values: serde_json::Map<String, serde_json::Value> = self
            .entries()
            .into_iter()
            .map(|entry| {
                let origin = entry.origin.unwrap_or(Origin::Default).to_string();
                let value =
                    serde_json::to_value(&entry.value).expect("a TOML value converts to JSON");
                (
                    entry.key,
                    serde_json::json!({ "value": value, "origin": origin }),
                )
            })
            .collect();
        serde_json::json!({
            "file": self.file().map(|path| path.display().to_string()),
            "values": values,
        })
    }
}

/// Whether a key holds a secret itself. Keys ending in `_env` name the
/// variable that holds one, which is not secret.
pub(super) fn is_secret(key: &str) -> bool {
    let name = key.rsplit('.').next().unwrap_or(key);
    !name.ends_with("_env")
        && (name == "secret" || name.contains("api_key") || name.contains("password"))
}

/// The value as it may be shown: secrets replaced by a mask, and the password
/// of a URL (`postgres://user:PASSWORD@host/db`) too.
fn mask(key: &str, value: toml::Value) -> toml::Value {
    match value {
        _ if is_secret(key) => toml::Value::String(MASK.to_string()),
        toml::Value::String(text) => toml::Value::String(mask_url_password(&text)),
        other => other,
    }
}

pub(crate) fn mask_url_password(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return text.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:{MASK}@{host}{tail}"),
        None => text.to_string(),
    }
}
