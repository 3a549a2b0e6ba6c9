//! Which files to lint: a crate followed from its roots through `mod`
//! declarations, or every `.rs` file under a folder.

use std::path::{Component, Path, PathBuf};

use crate::LintError;

/// A file to lint and the module path its items live in.
#[derive(Clone, Debug)]
pub(crate) struct SourceFile {
    pub(crate) path: PathBuf,
    pub(crate) module: Vec<String>,
    /// Whether `mod x;` declarations in it are followed.
    pub(crate) follow_mods: bool,
}

/// The files under `path`.
///
/// * a file: that file, following its `mod` declarations;
/// * a folder with a `Cargo.toml`: the crate's roots (`src/lib.rs`,
///   `src/main.rs`, `src/bin/*.rs`), following `mod` declarations;
/// * any other folder: every `.rs` file below it, skipping `target` and
///   hidden folders.
pub(crate) fn collect(path: &Path) -> Result<Vec<SourceFile>, LintError> {
    let io = |source| LintError::Io {
        path: path.to_owned(),
        source,
    };
    let metadata = std::fs::metadata(path).map_err(io)?;
    if metadata.is_file() {
        return Ok(vec![SourceFile {
            path: path.to_owned(),
            module: Vec::new(),
            follow_mods: true,
        }]);
    }
    if path.join("Cargo.toml").is_file() {
        let src = path.join("src");
        let mut roots: Vec<PathBuf> = ["lib.rs", "main.rs"]
            .iter()
            .map(|name| src.join(name))
            .filter(|root| root.is_file())
            .collect();
        if let Ok(entries) = std::fs::read_dir(src.join("bin")) {
            let mut bins: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|p| p.extension().is_some_and(|e| e == "rs"))
                .collect();
            bins.sort();
            roots.extend(bins);
        }
        return Ok(roots
            .into_iter()
            .map(|root| SourceFile {
                path: root,
                module: Vec::new(),
                follow_mods: true,
            })
            .collect());
    }
    let mut files = Vec::new();
    walk(path, &mut files)?;
    files.sort();
    Ok(files
        .into_iter()
        .map(|file| SourceFile {
            module: module_of(path, &file),
            path: file,
            follow_mods: false,
        })
        .collect())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), LintError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LintError::Io {
        path: dir.to_owned(),
        source,
    })?;
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if !name.starts_with('.') && name != "target" {
                walk(&path, out)?;
            }
        } else if kind.is_file() && name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// The module path of a file found by walking `base`: `src/a/b.rs` and
/// `src/a/b/mod.rs` are `a::b`; `lib.rs` and `main.rs` are the root.
fn module_of(base: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(base).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = relative
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    if parts.first().is_some_and(|first| first == "src") {
        parts.remove(0);
    }
    if parts
        .last()
        .is_some_and(|last| matches!(last.as_str(), "mod" | "lib" | "main"))
    {
        parts.pop();
    }
    parts
}

/// The file of `mod name;` declared in `parent` (honouring `#[path]`).
pub(crate) fn module_file(parent: &Path, name: &str, path_attr: Option<&str>) -> Option<PathBuf> {
    let dir = parent.parent().unwrap_or(Path::new("."));
    if let Some(explicit) = path_attr {
        return Some(dir.join(explicit));
    }
    let stem = parent
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let base = if matches!(stem.as_str(), "lib" | "main" | "mod") {
        dir.to_owned()
    } else {
        dir.join(stem)
    };
    [
        base.join(format!("{name}.rs")),
        base.join(name).join("mod.rs"),
    ]
    .into_iter()
    .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_follow_the_file_layout() {
        let base = Path::new("/p");
        assert_eq!(
            module_of(base, Path::new("/p/src/lib.rs")),
            Vec::<String>::new()
        );
        assert_eq!(module_of(base, Path::new("/p/src/a/b.rs")), ["a", "b"]);
        assert_eq!(module_of(base, Path::new("/p/src/a/mod.rs")), ["a"]);
    }
}
