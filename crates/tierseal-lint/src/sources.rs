//! Which files to lint: every Rust source under a folder (what Cargo
//! builds, found by walking the tree, not by following `mod` declarations,
//! which misses custom target paths and modules declared inside macros),
//! or one file and the modules it declares.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
use std::rc::Rc;

use serde::Serialize;

use crate::LintError;

/// A file to lint and the module path its items live in.
#[derive(Clone, Debug)]
pub(crate) struct SourceFile {
    pub(crate) path: PathBuf,
    pub(crate) module: Vec<String>,
    /// Whether `mod x;` declarations in it are followed (only when a single
    /// file was given: a walk already finds every file).
    pub(crate) follow_mods: bool,
    /// An integration test (`tests/` of a package): test code, exempt like
    /// `#[cfg(test)]` modules.
    pub(crate) test_target: bool,
}

/// Something under a linted folder that was not read, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The path as reached by the walk.
    pub path: PathBuf,
    /// Why it was skipped.
    pub reason: String,
}

/// The files under a path, and what was skipped on the way.
#[derive(Debug, Default)]
pub(crate) struct Sources {
    pub(crate) files: Vec<SourceFile>,
    pub(crate) skipped: Vec<Skipped>,
}

/// Folders never descended into: version control metadata. Hidden folders
/// (`.git`, `.cargo`, ...) and Cargo build folders are skipped as well.
const VCS_FOLDERS: [&str; 2] = ["CVS", "_darcs"];

/// The files under `path`.
///
/// * a file: that file, following its `mod` declarations;
/// * a folder: every `.rs` file below it, skipping hidden and version
///   control folders and Cargo build folders (`target/`); symbolic links
///   are followed once, and loops or second visits are reported in
///   [`Sources::skipped`].
pub(crate) fn collect(path: &Path) -> Result<Sources, LintError> {
    let metadata = std::fs::metadata(path).map_err(|source| LintError::Io {
        path: path.to_owned(),
        source,
    })?;
    if metadata.is_file() {
        return Ok(Sources {
            files: vec![SourceFile {
                path: path.to_owned(),
                module: Vec::new(),
                follow_mods: true,
                test_target: false,
            }],
            skipped: Vec::new(),
        });
    }
    let package = enclosing_package(path);
    let mut walker = Walker::default();
    walker.walk(path, path, package)?;
    walker.linked(path)?;
    Ok(walker.sources)
}

/// A Cargo package: its root folder and where its targets live, so that a
/// file's module path can be named as the compiler names it.
#[derive(Debug)]
struct Package {
    root: PathBuf,
    /// Target root files (`src/lib.rs`, a custom `[lib] path`, `build.rs`).
    root_files: Vec<PathBuf>,
    /// Folders whose files are modules of one target (`src`, the folder of
    /// a custom `[lib] path`).
    module_dirs: Vec<PathBuf>,
}

/// Folders whose direct children are each a crate root of their own.
const MULTI_TARGET_DIRS: [&str; 4] = ["src/bin", "examples", "benches", "tests"];

impl Package {
    fn read(root: &Path) -> Package {
        let mut root_files: Vec<PathBuf> = ["src/lib.rs", "src/main.rs", "build.rs"]
            .iter()
            .map(|file| root.join(file))
            .collect();
        // A manifest that does not parse is cargo's to report; the files
        // are still linted, only their module paths fall back to defaults.
        let manifest = std::fs::read_to_string(root.join("Cargo.toml"))
            .ok()
            .and_then(|text| text.parse::<toml::Table>().ok());
        if let Some(manifest) = manifest {
            let target_path = |target: &toml::Value| {
                target
                    .get("path")
                    .and_then(toml::Value::as_str)
                    .map(|path| root.join(path))
            };
            if let Some(lib) = manifest.get("lib").and_then(target_path) {
                root_files.push(lib);
            }
            for kind in ["bin", "example", "test", "bench"] {
                let targets = manifest.get(kind).and_then(toml::Value::as_array);
                root_files.extend(targets.into_iter().flatten().filter_map(target_path));
            }
            if let Some(build) = manifest
                .get("package")
                .and_then(|package| package.get("build"))
                .and_then(toml::Value::as_str)
            {
                root_files.push(root.join(build));
            }
        }
        let mut module_dirs: Vec<PathBuf> = root_files
            .iter()
            .filter_map(|file| file.parent().map(Path::to_owned))
            .collect();
        module_dirs.push(root.join("src"));
        Package {
            root: root.to_owned(),
            root_files,
            module_dirs,
        }
    }

    /// The module path of `file` inside this package: `src/a/b.rs` and
    /// `src/a/b/mod.rs` are `a::b`; target roots are the crate root.
    fn module_of(&self, file: &Path) -> (Vec<String>, bool) {
        let relative = file.strip_prefix(&self.root).unwrap_or(file);
        let test_target = relative.starts_with("tests");
        if self.root_files.iter().any(|root| root == file) {
            return (Vec::new(), test_target);
        }
        let multi = MULTI_TARGET_DIRS
            .iter()
            .map(|dir| self.root.join(dir))
            .find(|dir| file.starts_with(dir));
        let parts = match multi {
            // `src/bin/x.rs` is a crate root; `src/bin/x/main.rs` too, and
            // `src/bin/x/y.rs` is its module `y`.
            Some(dir) => {
                let mut parts = components(file.strip_prefix(&dir).unwrap_or(file));
                parts.remove_first();
                parts
            }
            None => {
                let base = self
                    .module_dirs
                    .iter()
                    .filter(|dir| file.starts_with(dir))
                    .max_by_key(|dir| dir.components().count())
                    .unwrap_or(&self.root);
                components(file.strip_prefix(base).unwrap_or(file))
            }
        };
        (module_path(parts), test_target)
    }
}

trait RemoveFirst {
    fn remove_first(&mut self);
}

impl RemoveFirst for Vec<String> {
    fn remove_first(&mut self) {
        if !self.is_empty() {
            self.remove(0);
        }
    }
}

/// The path's components, the last without its extension.
fn components(relative: &Path) -> Vec<String> {
    relative
        .with_extension("")
        .components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// `a/b/mod` is `a::b`; a lone `lib` or `main` is the root.
fn module_path(mut parts: Vec<String>) -> Vec<String> {
    if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    if parts.len() == 1 && parts.iter().any(|p| p == "lib" || p == "main") {
        parts.clear();
    }
    parts
}

/// The package `dir` belongs to: the nearest folder at or above it with a
/// `Cargo.toml`. Packages are kept by absolute path, and files are made
/// absolute before their module path is named.
fn enclosing_package(dir: &Path) -> Option<Rc<Package>> {
    let absolute = std::path::absolute(dir).ok()?;
    let root = absolute
        .ancestors()
        .find(|ancestor| ancestor.join("Cargo.toml").is_file())?;
    Some(Rc::new(Package::read(root)))
}

#[derive(Default)]
struct Walker {
    sources: Sources,
    /// Every folder entered, by canonical path, with the path it was first
    /// reached by.
    dirs: HashMap<PathBuf, PathBuf>,
    /// Every file queued, likewise.
    files: HashMap<PathBuf, PathBuf>,
    /// The canonical folders from the walk's root to the current one.
    ancestors: Vec<PathBuf>,
    /// Files reached through a symbolic link, read last.
    linked_files: Vec<(PathBuf, Option<Rc<Package>>)>,
}

impl Walker {
    fn skip(&mut self, path: &Path, reason: String) {
        self.sources.skipped.push(Skipped {
            path: path.to_owned(),
            reason,
        });
    }

    fn walk(
        &mut self,
        base: &Path,
        dir: &Path,
        package: Option<Rc<Package>>,
    ) -> Result<(), LintError> {
        let io = |source| LintError::Io {
            path: dir.to_owned(),
            source,
        };
        let canonical = std::fs::canonicalize(dir).map_err(io)?;
        if self.ancestors.contains(&canonical) {
            let reason = format!(
                "symbolic link loop: leads back to {}, which is being scanned",
                canonical.display()
            );
            self.skip(dir, reason);
            return Ok(());
        }
        if let Some(first) = self.dirs.get(&canonical) {
            let reason = format!("already scanned as {}", first.display());
            self.skip(dir, reason);
            return Ok(());
        }
        self.dirs.insert(canonical.clone(), dir.to_owned());
        let package = if dir != base && dir.join("Cargo.toml").is_file() {
            Some(Rc::new(Package::read(&absolute(dir))))
        } else {
            package
        };
        let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(dir)
            .map_err(io)?
            .collect::<Result<_, _>>()
            .map_err(io)?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        self.ancestors.push(canonical);
        for entry in entries {
            self.entry(base, &entry, package.as_ref())?;
        }
        self.ancestors.pop();
        Ok(())
    }

    fn entry(
        &mut self,
        base: &Path,
        entry: &std::fs::DirEntry,
        package: Option<&Rc<Package>>,
    ) -> Result<(), LintError> {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let io = |source| LintError::Io {
            path: path.clone(),
            source,
        };
        let kind = entry.file_type().map_err(io)?;
        let (is_dir, is_file) = if kind.is_symlink() {
            match std::fs::metadata(&path) {
                Ok(target) => (target.is_dir(), target.is_file()),
                Err(error) => {
                    let reason = format!("symbolic link whose target cannot be read: {error}");
                    self.skip(&path, reason);
                    return Ok(());
                }
            }
        } else {
            (kind.is_dir(), kind.is_file())
        };
        if is_dir {
            if name.starts_with('.') || VCS_FOLDERS.contains(&&*name) || is_build_dir(&path) {
                return Ok(());
            }
            return self.walk(base, &path, package.cloned());
        }
        if !is_file || !name.ends_with(".rs") {
            return Ok(());
        }
        if kind.is_symlink() {
            // Read after the walk, so that a file reached both directly and
            // through a link is named by its real path.
            self.linked_files.push((path, package.cloned()));
            return Ok(());
        }
        self.file(base, path, package)
    }

    /// Queues the file (once, however many paths lead to it).
    fn file(
        &mut self,
        base: &Path,
        path: PathBuf,
        package: Option<&Rc<Package>>,
    ) -> Result<(), LintError> {
        let canonical = std::fs::canonicalize(&path).map_err(|source| LintError::Io {
            path: path.clone(),
            source,
        })?;
        if let Some(first) = self.files.get(&canonical) {
            let reason = format!("same file as {}, already scanned", first.display());
            self.skip(&path, reason);
            return Ok(());
        }
        self.files.insert(canonical, path.clone());
        let (module, test_target) = match package {
            Some(package) => package.module_of(&absolute(&path)),
            // Outside any package: named from the folder given, `src/`
            // being the crate's source folder as usual.
            None => {
                let mut parts = components(path.strip_prefix(base).unwrap_or(&path));
                if parts.len() > 1 && parts.first().is_some_and(|first| first == "src") {
                    parts.remove_first();
                }
                (module_path(parts), false)
            }
        };
        self.sources.files.push(SourceFile {
            path,
            module,
            follow_mods: false,
            test_target,
        });
        Ok(())
    }

    /// Queues the files reached through symbolic links, after every file
    /// reached directly.
    fn linked(&mut self, base: &Path) -> Result<(), LintError> {
        for (path, package) in std::mem::take(&mut self.linked_files) {
            self.file(base, path, package.as_ref())?;
        }
        Ok(())
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

/// A Cargo build folder: tagged with `CACHEDIR.TAG`, or `target` beside a
/// `Cargo.toml` (a module folder named `target` elsewhere is still linted).
fn is_build_dir(dir: &Path) -> bool {
    dir.join("CACHEDIR.TAG").is_file()
        || (dir.file_name().is_some_and(|name| name == "target")
            && dir
                .parent()
                .is_some_and(|parent| parent.join("Cargo.toml").is_file()))
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

    fn package(root: &str, extra_roots: &[&str]) -> Package {
        let root = Path::new(root);
        let mut package = Package {
            root: root.to_owned(),
            root_files: ["src/lib.rs", "src/main.rs", "build.rs"]
                .iter()
                .chain(extra_roots)
                .map(|f| root.join(f))
                .collect(),
            module_dirs: Vec::new(),
        };
        package.module_dirs = package
            .root_files
            .iter()
            .filter_map(|f| f.parent().map(Path::to_owned))
            .chain([root.join("src")])
            .collect();
        package
    }

    fn module(package: &Package, file: &str) -> Vec<String> {
        package.module_of(Path::new(file)).0
    }

    #[test]
    fn module_paths_follow_the_file_layout_and_custom_targets() {
        let p = package("/p", &["gen/client.rs"]);
        assert!(module(&p, "/p/src/lib.rs").is_empty());
        assert_eq!(module(&p, "/p/src/a/b.rs"), ["a", "b"]);
        assert_eq!(module(&p, "/p/src/a/mod.rs"), ["a"]);
        assert!(module(&p, "/p/gen/client.rs").is_empty());
        assert_eq!(module(&p, "/p/gen/models/card.rs"), ["models", "card"]);
        assert!(module(&p, "/p/src/bin/tool.rs").is_empty());
        assert!(module(&p, "/p/src/bin/tool/main.rs").is_empty());
        assert_eq!(module(&p, "/p/src/bin/tool/args.rs"), ["args"]);
        assert!(p.module_of(Path::new("/p/tests/it.rs")).1);
        assert!(!p.module_of(Path::new("/p/src/tests.rs")).1);
    }
}
