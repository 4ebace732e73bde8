//! Module resolution for `import`, as Scribble's `-ip` does it.
//!
//! A module `a.b.C` is the file `a/b/C.scr`, `a/b/C.nuscr` or `a/b/C.canon`
//! (tried in that order) under an import root. The roots of a file are the
//! directory holding its module root — the file's directory, up one level per
//! dot of its own `module` declaration (`module a.b.C;` in `x/a/b/C.scr`
//! gives `x`) — then every directory of [`ImportPaths`], in order. Imports
//! are followed transitively; cycles are fine (modules only declare). An
//! import found under no root is [`Code::UnresolvedImport`], naming every
//! path tried.

use std::path::{Path, PathBuf};

use crate::ast::File;
use crate::diag::{Code, Diagnostic, Diagnostics};
use crate::elaborate::{Choreography, SourceFile, elaborate_modules, elaborate_modules_unchosen};
use crate::parser::parse;

/// The file extensions a module is looked up with, in order.
pub const MODULE_EXTENSIONS: &[&str] = &["scr", "nuscr", "canon"];
/// The most modules one load reads (the root file included).
pub const MAX_MODULES: usize = 256;

/// Extra import roots (the CLI's `--import-path DIR`), searched after the
/// importing file's own module root.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportPaths {
    /// Extra directories, searched in order after the importing file's module root.
    pub dirs: Vec<PathBuf>,
}

impl ImportPaths {
    /// Import roots `dirs`, in search order.
    pub fn new(dirs: Vec<PathBuf>) -> Self {
        ImportPaths { dirs }
    }
}

/// One loaded module: its name as imported, its file and source.
struct Loaded {
    name: String,
    file_name: String,
    src: String,
    file: File,
}

/// The directory holding the module root of `path`, whose module is `file`'s
/// `module` declaration.
fn module_root(path: &Path, file: &File) -> PathBuf {
    let dir = path.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
    let ups = file.module.as_ref().map_or(0, |m| m.parts.len().saturating_sub(1));
    let mut root = dir.clone();
    for _ in 0..ups {
        match root.parent() {
            Some(p) if !p.as_os_str().is_empty() => root = p.to_path_buf(),
            _ => return dir,
        }
    }
    root
}

/// The candidate paths of module `name` under `roots`, in search order.
pub fn candidates(name: &str, roots: &[PathBuf]) -> Vec<PathBuf> {
    let rel: PathBuf = name.split('.').collect();
    let mut out = Vec::new();
    for root in roots {
        for ext in MODULE_EXTENSIONS {
            out.push(root.join(&rel).with_extension(ext));
        }
    }
    out
}

/// Parses and elaborates the file at `path` (whose text is `src`) with every
/// module it imports, as [`crate::load`] does for one file. The diagnostics
/// returned are those of the file they point into.
pub fn load_with_imports(
    path: &Path,
    src: &str,
    protocol: Option<&str>,
    paths: &ImportPaths,
) -> Result<Choreography, Diagnostics> {
    load_impl(path, src, protocol, paths, true)
}

/// [`load_with_imports`] for checking every protocol: with no `protocol`,
/// a file with several entry protocols is not an error.
pub fn load_for_check(
    path: &Path,
    src: &str,
    protocol: Option<&str>,
    paths: &ImportPaths,
) -> Result<Choreography, Diagnostics> {
    load_impl(path, src, protocol, paths, false)
}

fn load_impl(
    path: &Path,
    src: &str,
    protocol: Option<&str>,
    paths: &ImportPaths,
    need_entry: bool,
) -> Result<Choreography, Diagnostics> {
    let file_name = path.display().to_string();
    let root = parse(&file_name, src)?;
    let mut loaded: Vec<Loaded> = Vec::new();
    let own = root.module.as_ref().map(|m| m.text());
    // Work list: (importing file's roots, import name, span, index of importer: 0 root, i+1 loaded[i]).
    let mut pending: Vec<(Vec<PathBuf>, crate::ast::Import, usize)> = Vec::new();
    let root_roots = roots_of(path, &root, paths);
    pending.extend(root.imports.iter().rev().map(|i| (root_roots.clone(), i.clone(), 0)));
    while let Some((roots, import, from)) = pending.pop() {
        let name = import.name.text();
        if own.as_deref() == Some(name.as_str()) || loaded.iter().any(|l| l.name == name) {
            continue;
        }
        let tried = candidates(&name, &roots);
        let found = tried.iter().find_map(|p| std::fs::read_to_string(p).ok().map(|s| (p.clone(), s)));
        let Some((found_path, text)) = found else {
            let list: Vec<String> = tried.iter().map(|p| p.display().to_string()).collect();
            let d = Diagnostic::new(Code::UnresolvedImport, import.span, format!("module `{name}` not found"))
                .with_note(format!("tried {}", list.join(", ")))
                .with_note("add its directory with `--import-path DIR`");
            let (fname, fsrc) = source_of(&file_name, src, &loaded, from);
            return Err(Diagnostics::new(&fname, &fsrc, vec![d]));
        };
        if loaded.len() + 1 >= MAX_MODULES {
            let d = Diagnostic::new(Code::UnresolvedImport, import.span, format!("module `{name}` not loaded"))
                .with_note(format!("one load reads at most {MAX_MODULES} modules"));
            let (fname, fsrc) = source_of(&file_name, src, &loaded, from);
            return Err(Diagnostics::new(&fname, &fsrc, vec![d]));
        }
        let fname = found_path.display().to_string();
        let file = parse(&fname, &text)?;
        let index = loaded.len() + 1;
        let its_roots = roots_of(&found_path, &file, paths);
        pending.extend(file.imports.iter().rev().map(|i| (its_roots.clone(), i.clone(), index)));
        loaded.push(Loaded { name, file_name: fname, src: text, file });
    }
    let imports: Vec<(String, &File)> = loaded.iter().map(|l| (l.name.clone(), &l.file)).collect();
    let result = if need_entry || protocol.is_some() {
        elaborate_modules(&root, &imports, protocol)
    } else {
        elaborate_modules_unchosen(&root, &imports)
    };
    let mut choreo = result.map_err(|(i, items)| {
        let (fname, fsrc) = source_of(&file_name, src, &loaded, i);
        Diagnostics::new(&fname, &fsrc, items)
    })?;
    // The sources in the order elaboration numbers the files: the loaded file,
    // then every module in load order (never one named as the loaded file's
    // own module: those are skipped above).
    let root_source = SourceFile { name: file_name, text: src.to_owned() };
    let modules = loaded.into_iter().map(|l| SourceFile { name: l.file_name, text: l.src });
    choreo.sources = std::iter::once(root_source).chain(modules).collect();
    Ok(choreo)
}

fn roots_of(path: &Path, file: &File, paths: &ImportPaths) -> Vec<PathBuf> {
    let mut roots = vec![module_root(path, file)];
    roots.extend(paths.dirs.iter().cloned());
    roots
}

fn source_of(root_name: &str, root_src: &str, loaded: &[Loaded], index: usize) -> (String, String) {
    match index.checked_sub(1).and_then(|i| loaded.get(i)) {
        Some(l) => (l.file_name.clone(), l.src.clone()),
        None => (root_name.to_owned(), root_src.to_owned()),
    }
}
