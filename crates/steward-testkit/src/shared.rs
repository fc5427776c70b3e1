//! The shared data (Stack Exchange dumps) and model folders: too big for the
//! repository, they live beside the workspace or where an environment
//! variable says.

use std::path::{Path, PathBuf};

/// Which shared folder, and the variable that moves it.
#[derive(Debug, Clone, Copy)]
enum Shared {
    Data,
    Models,
}

impl Shared {
    fn variable(self) -> &'static str {
        match self {
            Shared::Data => "STEWARD_DATA_DIR",
            Shared::Models => "STEWARD_MODEL_DIR",
        }
    }

    /// `../shared/{data,models}` beside the workspace root.
    fn default_root(self) -> PathBuf {
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        workspace.join("../shared").join(match self {
            Shared::Data => "data",
            Shared::Models => "models",
        })
    }
}

/// The folder `name` under the shared data folder (`$STEWARD_DATA_DIR`, else
/// the workspace's sibling `../shared/data`), e.g. `se-ai-2017`. `None`, with
/// the reason printed, when it is missing or empty; under `CI=true` a missing
/// folder fails the test instead.
pub fn shared_data_dir(name: &str) -> Option<PathBuf> {
    find(Shared::Data, name)
}

/// The model folder `name` under the shared model folder (`$STEWARD_MODEL_DIR`,
/// else the workspace's sibling `../shared/models`), e.g. `all-MiniLM-L6-v2`;
/// `None` or a failed test under `CI=true`, as [`shared_data_dir`].
pub fn shared_model_dir(name: &str) -> Option<PathBuf> {
    find(Shared::Models, name)
}

fn find(shared: Shared, name: &str) -> Option<PathBuf> {
    let root = std::env::var_os(shared.variable()).map(PathBuf::from);
    match locate(shared, root, name) {
        Ok(dir) => Some(dir),
        Err(reason) => crate::skip_or_fail(&reason),
    }
}

/// The folder, or why it cannot be used.
fn locate(shared: Shared, root: Option<PathBuf>, name: &str) -> Result<PathBuf, String> {
    let from_variable = root.is_some();
    let dir = root.unwrap_or_else(|| shared.default_root()).join(name);
    let holds_something = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
    if holds_something {
        return Ok(dir);
    }
    let hint = if from_variable {
        format!("{} points elsewhere?", shared.variable())
    } else {
        format!("set {} to the shared folder", shared.variable())
    };
    Err(format!("{} is missing or empty ({hint})", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_with_files_is_found_and_a_missing_or_empty_one_says_where_it_looked() {
        let root = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(root.path().join("dump")).expect("dump dir");
        std::fs::write(root.path().join("dump/Posts.xml"), "<posts />").expect("file");
        std::fs::create_dir(root.path().join("empty")).expect("empty dir");
        let check = |name: &str, found: bool| {
            let located = locate(Shared::Data, Some(root.path().to_path_buf()), name);
            match (located, found) {
                (Ok(dir), true) => assert_eq!(dir, root.path().join(name)),
                (Err(reason), false) => {
                    assert!(reason.contains(name), "{reason}");
                    assert!(reason.contains("STEWARD_DATA_DIR"), "{reason}");
                }
                (located, _) => panic!("{name}: {located:?}"),
            }
        };
        check("dump", true);
        check("empty", false);
        check("absent", false);
    }

    #[test]
    fn without_the_variable_the_workspace_sibling_is_searched() {
        let reason = locate(Shared::Models, None, "no-such-model").expect_err("absent");
        assert!(reason.contains("shared/models"), "{reason}");
        assert!(reason.contains("set STEWARD_MODEL_DIR"), "{reason}");
    }
}
