//! Model resolution: turns a model name or path into a local directory, looking
//! in the model dir, then the cache, then (for a few known models) the hub.
//!
//! Downloads use the crate's one reqwest client (rustls + ring, see
//! [`crate::http`]) rather than the `hf-hub` crate: hf-hub would bring a second
//! HTTP/TLS stack into the build for the three files we fetch. The hub's
//! `resolve/{revision}/{file}` URL scheme is all we need.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::{Error, Result};

/// The default hub; `HF_ENDPOINT` points elsewhere (a mirror).
pub const DEFAULT_HUB_ENDPOINT: &str = "https://huggingface.co";

/// How long to wait for the hub to accept a connection. Short so that an
/// offline machine gets its "put the model here" message in seconds, not minutes.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A model Steward knows how to download: a hub repository and the files to fetch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KnownModel {
    /// The local folder name and the name users type (`--model all-MiniLM-L6-v2`).
    pub name: &'static str,
    /// Hub repository (`owner/name`).
    pub repo: &'static str,
    /// Git revision on the hub.
    pub revision: &'static str,
    /// Files to fetch, relative to the repository root; kept at the same relative
    /// paths inside the model folder.
    pub files: &'static [&'static str],
    pub kind: ModelKind,
}

/// What a model folder holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelKind {
    /// A sentence-transformer: safetensors + tokenizer.json + config.json.
    SentenceEmbedder,
    /// A GGUF LLM: one `.gguf` file (tokenizer inside).
    Gguf,
}

/// The models `steward models fetch` can download. GGUF repositories are the
/// publishers' own, at q8_0: candle's Q8_0 CPU kernel is fast and exact enough,
/// while Q4_1 has no fast kernel (see docs/models.md).
pub const KNOWN_MODELS: &[KnownModel] = &[
    KnownModel {
        name: "all-MiniLM-L6-v2",
        repo: "sentence-transformers/all-MiniLM-L6-v2",
        revision: "main",
        files: &[
            "config.json",
            "tokenizer.json",
            "model.safetensors",
            "modules.json",
            "sentence_bert_config.json",
            "1_Pooling/config.json",
        ],
        kind: ModelKind::SentenceEmbedder,
    },
    KnownModel {
        name: "SmolLM2-135M-Instruct",
        repo: "HuggingFaceTB/SmolLM2-135M-Instruct-GGUF",
        revision: "main",
        files: &["smollm2-135m-instruct-q8_0.gguf"],
        kind: ModelKind::Gguf,
    },
    KnownModel {
        name: "Qwen2.5-0.5B-Instruct",
        repo: "Qwen/Qwen2.5-0.5B-Instruct-GGUF",
        revision: "main",
        files: &["qwen2.5-0.5b-instruct-q8_0.gguf"],
        kind: ModelKind::Gguf,
    },
];

/// The known model with this name (case-insensitive), if any.
pub fn known_model(name: &str) -> Option<&'static KnownModel> {
    KNOWN_MODELS
        .iter()
        .find(|known| known.name.eq_ignore_ascii_case(name))
}

/// How far a download has come; sent to the progress callback after each chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DownloadProgress<'a> {
    /// The file being downloaded, relative to the model folder.
    pub file: &'a str,
    pub downloaded: u64,
    /// From `Content-Length`, when the server sends it.
    pub total: Option<u64>,
}

/// Where a model was found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    ModelDir,
    Cache,
}

/// A model folder found locally (`steward models list`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalModel {
    pub name: String,
    pub path: PathBuf,
    pub source: ModelSource,
    /// Total size of the folder's files, bytes.
    pub size_bytes: u64,
}

/// Finds models; see the module docs for the search order. Construct it once
/// from the CLI flags ([`ModelResolver::from_env`]) and pass it by reference.
#[derive(Debug, Clone)]
pub struct ModelResolver {
    model_dir: Option<PathBuf>,
    cache_dir: PathBuf,
    endpoint: String,
    token: Option<String>,
}

impl ModelResolver {
    /// `model_dir` from `--model-dir` (else `STEWARD_MODEL_DIR`); the cache from
    /// `STEWARD_CACHE_DIR` (else `~/.cache/steward/models`); the hub from
    /// `HF_ENDPOINT` and `HF_TOKEN`.
    pub fn from_env(model_dir: Option<PathBuf>) -> ModelResolver {
        let model_dir = model_dir.or_else(|| env_path("STEWARD_MODEL_DIR"));
        let cache_dir = env_path("STEWARD_CACHE_DIR").unwrap_or_else(default_cache_dir);
        let endpoint = std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|value| !value.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_HUB_ENDPOINT.to_string());
        let token = std::env::var("HF_TOKEN")
            .ok()
            .filter(|value| !value.trim().is_empty());
        ModelResolver {
            model_dir,
            cache_dir,
            endpoint,
            token,
        }
    }

    /// A resolver with everything explicit (tests, embedding in other programs).
    pub fn new(model_dir: Option<PathBuf>, cache_dir: PathBuf, endpoint: &str) -> ModelResolver {
        ModelResolver {
            model_dir,
            cache_dir,
            endpoint: endpoint.trim_end_matches('/').to_string(),
            token: None,
        }
    }

    /// Sends `token` with hub downloads (gated or private repositories).
    pub fn with_token(mut self, token: Option<String>) -> ModelResolver {
        self.token = token;
        self
    }

    pub fn model_dir(&self) -> Option<&Path> {
        self.model_dir.as_deref()
    }

    pub fn cache_dir(&self) -> &Path {
        &self.cache_dir
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The model's local path without touching the network: an existing path as
    /// is, else `model_dir/NAME`, else `cache/NAME`.
    pub fn locate(&self, name_or_path: &str) -> Option<PathBuf> {
        let as_path = Path::new(name_or_path);
        if as_path.exists() {
            return Some(as_path.to_path_buf());
        }
        if !is_plain_name(name_or_path) {
            return None;
        }
        self.model_dir
            .iter()
            .map(|dir| dir.join(name_or_path))
            .chain(std::iter::once(self.cache_dir.join(name_or_path)))
            .find(|candidate| is_complete(candidate, name_or_path))
    }

    /// [`Self::locate`], else downloads a known model into the cache. Fails in
    /// seconds when the hub cannot be reached, saying where to put the model.
    pub async fn resolve(&self, name_or_path: &str) -> Result<PathBuf> {
        self.resolve_with_progress(name_or_path, &|_| {}).await
    }

    /// [`Self::resolve`] reporting download progress.
    pub async fn resolve_with_progress(
        &self,
        name_or_path: &str,
        progress: &(dyn Fn(DownloadProgress<'_>) + Send + Sync),
    ) -> Result<PathBuf> {
        if let Some(path) = self.locate(name_or_path) {
            return Ok(path);
        }
        match known_model(name_or_path) {
            Some(known) => self.fetch(known, progress).await,
            None => Err(Error::ModelNotFound {
                name: name_or_path.to_string(),
                hint: self.not_found_hint(name_or_path),
            }),
        }
    }

    /// Downloads `known` into `cache/NAME`, skipping files already there. Each file
    /// is written to a temporary name and renamed when complete, so an interrupted
    /// download never leaves a truncated file that looks finished.
    pub async fn fetch(
        &self,
        known: &KnownModel,
        progress: &(dyn Fn(DownloadProgress<'_>) + Send + Sync),
    ) -> Result<PathBuf> {
        let target = self.cache_dir.join(known.name);
        let client = crate::http::client_builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(Duration::from_secs(60))
            .build()
            .map_err(|error| self.unreachable(known, &error.to_string()))?;
        for file in known.files {
            let destination = target.join(file);
            if destination.is_file() {
                continue;
            }
            self.download(&client, known, file, &destination, progress)
                .await?;
        }
        Ok(target)
    }

    async fn download(
        &self,
        client: &reqwest::Client,
        known: &KnownModel,
        file: &str,
        destination: &Path,
        progress: &(dyn Fn(DownloadProgress<'_>) + Send + Sync),
    ) -> Result<()> {
        let url = format!(
            "{}/{}/resolve/{}/{}",
            self.endpoint, known.repo, known.revision, file
        );
        let mut request = client.get(&url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let mut response = request
            .send()
            .await
            .map_err(|error| self.unreachable(known, &error_chain(&error)))?;
        if !response.status().is_success() {
            // A proxy or a moved repository answers instead of the hub: the user
            // still needs to hear where to put the model by hand.
            return Err(
                self.unreachable(known, &format!("{url} answered HTTP {}", response.status()))
            );
        }
        let total = response.content_length();
        let parent = destination.parent().unwrap_or(Path::new("."));
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|source| io_error(format!("creating {}", parent.display()), source))?;
        let partial = parent.join(format!(
            ".{}.{}.part",
            destination
                .file_name()
                .map(|name| name.to_string_lossy())
                .unwrap_or_default(),
            uuid::Uuid::new_v4().simple()
        ));
        let written = write_body(&mut response, &partial, file, total, progress).await;
        if let Err(error) = written {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(match error {
                BodyError::Io(error) => error,
                BodyError::Http(message) => Error::Remote { url, message },
            });
        }
        tokio::fs::rename(&partial, destination)
            .await
            .map_err(|source| io_error(format!("renaming {}", partial.display()), source))
    }

    fn unreachable(&self, known: &KnownModel, detail: &str) -> Error {
        let host = self
            .endpoint
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        Error::ModelNotFound {
            name: known.name.to_string(),
            hint: format!(
                "could not download from {host} ({detail}): put the model in --model-dir / \
                 STEWARD_MODEL_DIR or copy it to {}",
                self.cache_dir.join(known.name).display()
            ),
        }
    }

    fn not_found_hint(&self, name: &str) -> String {
        let mut places: Vec<String> = Vec::new();
        if let Some(dir) = &self.model_dir {
            places.push(dir.join(name).display().to_string());
        }
        places.push(self.cache_dir.join(name).display().to_string());
        let known: Vec<&str> = KNOWN_MODELS.iter().map(|known| known.name).collect();
        format!(
            "looked in {}; downloadable models: {}",
            places.join(", "),
            known.join(", ")
        )
    }

    /// Model folders in the model dir and the cache (`steward models list`).
    pub fn list_local(&self) -> Vec<LocalModel> {
        let mut found = Vec::new();
        let roots = self
            .model_dir
            .iter()
            .map(|dir| (dir.as_path(), ModelSource::ModelDir))
            .chain(std::iter::once((
                self.cache_dir.as_path(),
                ModelSource::Cache,
            )));
        for (root, source) in roots {
            let Ok(entries) = std::fs::read_dir(root) else {
                continue;
            };
            let mut here: Vec<LocalModel> = entries
                .filter_map(|entry| entry.ok())
                .filter(|entry| entry.path().is_dir())
                .filter(|entry| !entry.file_name().to_string_lossy().starts_with('.'))
                .map(|entry| LocalModel {
                    name: entry.file_name().to_string_lossy().into_owned(),
                    size_bytes: folder_size(&entry.path()),
                    path: entry.path(),
                    source: source.clone(),
                })
                .collect();
            here.sort_by(|a, b| a.name.cmp(&b.name));
            found.extend(here);
        }
        found
    }
}

/// The GGUF file of a model: `path` itself when it is a file, else the only (or
/// first, by name) `.gguf` file in the folder.
pub fn gguf_file(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    let entries = std::fs::read_dir(path)
        .map_err(|source| io_error(format!("reading {}", path.display()), source))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|file| file.extension().is_some_and(|ext| ext == "gguf"))
        .collect();
    files.sort();
    files.into_iter().next().ok_or_else(|| Error::BadModel {
        path: path.display().to_string(),
        message: "no .gguf file in the folder".to_string(),
    })
}

enum BodyError {
    Io(Error),
    Http(String),
}

async fn write_body(
    response: &mut reqwest::Response,
    partial: &Path,
    file: &str,
    total: Option<u64>,
    progress: &(dyn Fn(DownloadProgress<'_>) + Send + Sync),
) -> std::result::Result<(), BodyError> {
    use tokio::io::AsyncWriteExt;
    let mut out = tokio::fs::File::create(partial).await.map_err(|source| {
        BodyError::Io(io_error(format!("creating {}", partial.display()), source))
    })?;
    let mut downloaded = 0u64;
    progress(DownloadProgress {
        file,
        downloaded,
        total,
    });
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| BodyError::Http(error_chain(&error)))?
    {
        out.write_all(&chunk).await.map_err(|source| {
            BodyError::Io(io_error(format!("writing {}", partial.display()), source))
        })?;
        downloaded += chunk.len() as u64;
        progress(DownloadProgress {
            file,
            downloaded,
            total,
        });
    }
    out.sync_all().await.map_err(|source| {
        BodyError::Io(io_error(format!("writing {}", partial.display()), source))
    })?;
    Ok(())
}

/// A folder counts as the model when it holds the files a known model needs (so a
/// half-finished download is not mistaken for a model); unknown names only need
/// the folder.
fn is_complete(folder: &Path, name: &str) -> bool {
    if !folder.is_dir() {
        return false;
    }
    match known_model(name) {
        Some(known) if known.kind == ModelKind::SentenceEmbedder => known
            .files
            .iter()
            .filter(|file| ["config.json", "tokenizer.json", "model.safetensors"].contains(file))
            .all(|file| folder.join(file).is_file()),
        Some(_) => gguf_file(folder).is_ok(),
        None => true,
    }
}

fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && !name.contains(['/', '\\']) && name != "." && name != ".."
}

fn env_path(key: &str) -> Option<PathBuf> {
    std::env::var_os(key)
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
}

fn default_cache_dir() -> PathBuf {
    let base = env_path("XDG_CACHE_HOME")
        .or_else(|| env_path("HOME").map(|home| home.join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("steward").join("models")
}

fn folder_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok())
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() {
                folder_size(&path)
            } else {
                entry.metadata().map(|meta| meta.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// reqwest's Display hides the cause ("error sending request"); the chain says
/// "dns error" or "connection refused", which is what a user can act on.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn io_error(context: String, source: std::io::Error) -> Error {
    Error::Io { context, source }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_models_are_found_case_insensitively() {
        for (name, expected) in [
            (
                "all-MiniLM-L6-v2",
                Some("sentence-transformers/all-MiniLM-L6-v2"),
            ),
            (
                "all-minilm-l6-v2",
                Some("sentence-transformers/all-MiniLM-L6-v2"),
            ),
            (
                "qwen2.5-0.5b-instruct",
                Some("Qwen/Qwen2.5-0.5B-Instruct-GGUF"),
            ),
            ("no-such-model", None),
        ] {
            assert_eq!(
                known_model(name).map(|known| known.repo),
                expected,
                "{name}"
            );
        }
    }

    #[test]
    fn an_existing_path_is_used_as_is_and_names_are_looked_up_in_order() {
        let model_dir = tempfile::tempdir().expect("temp dir");
        let cache = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(model_dir.path().join("mine")).expect("mkdir");
        std::fs::create_dir(cache.path().join("cached")).expect("mkdir");
        // An incomplete known model in the model dir is not taken for the model.
        std::fs::create_dir(model_dir.path().join("all-MiniLM-L6-v2")).expect("mkdir");
        let resolver = ModelResolver::new(
            Some(model_dir.path().to_path_buf()),
            cache.path().to_path_buf(),
            "http://127.0.0.1:9",
        );
        let path = model_dir.path().join("mine");
        let path_text = path.display().to_string();
        for (query, expected) in [
            (path_text.as_str(), Some(path.clone())),
            ("mine", Some(model_dir.path().join("mine"))),
            ("cached", Some(cache.path().join("cached"))),
            ("all-MiniLM-L6-v2", None),
            ("../mine", None),
        ] {
            assert_eq!(resolver.locate(query), expected, "{query}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_hub_fails_fast_and_says_where_to_put_the_model() {
        let cache = tempfile::tempdir().expect("temp dir");
        // 10.255.255.1 is unroutable: connections neither succeed nor get refused,
        // the way an offline machine behaves; only the connect timeout ends them.
        let resolver = ModelResolver::new(None, cache.path().to_path_buf(), "http://10.255.255.1");
        let started = std::time::Instant::now();
        let error = resolver
            .resolve("all-MiniLM-L6-v2")
            .await
            .expect_err("nothing to download from");
        let message = error.to_string();
        assert!(message.contains("STEWARD_MODEL_DIR"), "{message}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "an offline download must give up, not hang (took {:?})",
            started.elapsed()
        );
        assert!(
            std::fs::read_dir(cache.path())
                .expect("cache dir")
                .next()
                .is_none(),
            "a failed download leaves nothing half-written in the cache"
        );
    }
}
