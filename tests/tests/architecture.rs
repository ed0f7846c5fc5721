//! The architecture, kept true by a test (no stack is started):
//!
//! * the floors: `functions/` → `shared/runtime` → `shared/handlers` and
//!   `shared/adapters` → `shared/domain`; `shared/memory` stands on the
//!   domain only; nothing in `shared/` or `functions/` uses the tools in
//!   `local/`; the domain and the handlers reach no AWS SDK;
//! * no import circle between the files of a crate (`use crate::…`,
//!   `use super::…`, and inline `crate::…` paths);
//! * no source file over 600 lines of non-test code;
//! * every path and type the README's and `docs/ARCHITECTURE.md`'s
//!   DEPLOY_WORKER trail names exists.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    local_stack::paths::root()
}

/// Every crate of the workspace: (directory relative to the root, manifest text).
fn crates() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for dir in ["shared", "functions", "local"] {
        for entry in std::fs::read_dir(root().join(dir)).unwrap() {
            let path = entry.unwrap().path();
            if let Ok(text) = std::fs::read_to_string(path.join("Cargo.toml")) {
                out.push((
                    format!("{dir}/{}", path.file_name().unwrap().to_string_lossy()),
                    text,
                ));
            }
        }
    }
    out.push((
        "tests".into(),
        std::fs::read_to_string(root().join("tests/Cargo.toml")).unwrap(),
    ));
    out.sort();
    out
}

/// The `[dependencies]` names of a manifest (not dev-dependencies).
fn dependencies(manifest: &str) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
            continue;
        }
        if inside && let Some((name, _)) = line.split_once(['=', '.']) {
            let name = name.trim();
            if !name.is_empty() && !name.starts_with('#') {
                deps.insert(name.to_string());
            }
        }
    }
    deps
}

#[test]
fn the_floors_only_point_down() {
    let crates = crates();
    let deps_of = |dir: &str| dependencies(&crates.iter().find(|(d, _)| d == dir).unwrap().1);
    let local_crates = ["local-stack", "sfn-local", "e2e"];
    for (dir, manifest) in &crates {
        if dir.starts_with("shared/") || dir.starts_with("functions/") {
            for d in dependencies(manifest) {
                assert!(
                    !local_crates.contains(&d.as_str()),
                    "{dir} depends on the tool {d}"
                );
            }
        }
    }
    for dir in ["shared/domain", "shared/handlers", "shared/memory"] {
        for d in deps_of(dir) {
            assert!(
                !d.starts_with("aws-sdk")
                    && !d.starts_with("aws-config")
                    && d != "reqwest"
                    && d != "lambda_runtime",
                "{dir} must reach the outside world only through the ports, but depends on {d}"
            );
        }
    }
    assert!(
        !deps_of("shared/handlers").contains("jobs-adapters"),
        "handlers see ports, not adapters"
    );
    assert!(
        !deps_of("shared/adapters").contains("jobs-handlers"),
        "adapters do not call handlers"
    );
    assert_eq!(
        deps_of("shared/memory")
            .iter()
            .filter(|d| d.starts_with("jobs-"))
            .collect::<Vec<_>>(),
        ["jobs-domain"]
    );
    assert!(
        !deps_of("shared/domain")
            .iter()
            .any(|d| d.starts_with("jobs-")),
        "the domain is the ground floor"
    );
    for (dir, manifest) in &crates {
        if dir.starts_with("functions/") {
            let deps = dependencies(manifest);
            assert!(
                deps.contains("jobs-runtime"),
                "{dir} is served by the runtime"
            );
            assert!(
                !deps.contains("jobs-adapters"),
                "{dir}: wiring belongs in jobs-runtime"
            );
        }
    }
}

/// The non-test part of a source file: up to its `#[cfg(test)]` module.
fn code_of(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        if line.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let code = match line.find("//") {
            Some(i) if !line[..i].contains('"') => &line[..i],
            _ => line,
        };
        out.push_str(code);
        out.push('\n');
    }
    out
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The module path of a file under `src/` (`steps/mod.rs` → `steps`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// Expands one `use` tree (`crate::{a::X, b::{Y, Z}}`) into paths.
fn expand(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.to_string()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap()];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |e| format!("{prefix}{e}")))
        .collect()
}

/// Every crate-relative path a file refers to: its `use` declarations
/// (braces expanded) and the `crate::…` / `super::…` paths in its code.
fn references(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut statement: Option<String> = None;
    for line in code.lines() {
        let trimmed = line.trim_start();
        let body = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find_map(|p| trimmed.strip_prefix(p));
        match (&mut statement, body) {
            (Some(s), _) => s.push_str(trimmed),
            (None, Some(b)) => statement = Some(b.to_string()),
            (None, None) => {}
        }
        if let Some(s) = &statement
            && let Some(end) = s.find(';')
        {
            out.extend(expand(&s[..end]));
            statement = None;
        }
    }
    for anchor in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(anchor) {
            let start = from + i;
            let tail: String = code[start..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            if !tail.ends_with("::") {
                out.push(tail.clone());
            }
            from = start + tail.len().max(1);
        }
    }
    out.into_iter()
        .map(|p| p.replace(' ', ""))
        .filter(|p| p.starts_with("crate::") || p.starts_with("super::") || p.starts_with("self::"))
        .collect()
}

/// The file (module) a path names, given the modules that exist.
fn resolve(
    from: &[String],
    is_dir_module: bool,
    path: &str,
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    let mut base: Vec<String> = match segs.first() {
        Some(&"crate") => Vec::new(),
        Some(&"self") => from.to_vec(),
        Some(&"super") => {
            let mut b = from.to_vec();
            if !is_dir_module || !b.is_empty() {
                b.pop();
            }
            b
        }
        _ => return None,
    };
    segs.remove(0);
    while segs.first() == Some(&"super") {
        base.pop();
        segs.remove(0);
    }
    let mut best = base.clone();
    let mut current = base;
    for s in segs {
        current.push(s.to_string());
        if modules.contains(&current) {
            best = current.clone();
        }
    }
    Some(best)
}

#[test]
fn no_file_imports_in_a_circle() {
    let mut circles = Vec::new();
    for (dir, _) in crates() {
        let src = root().join(&dir).join("src");
        if !src.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        files.retain(|f| f.file_name().unwrap() != "tests.rs" && !f.starts_with(src.join("bin")));
        let modules: BTreeSet<Vec<String>> = files.iter().map(|f| module_of(&src, f)).collect();
        let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
        for f in &files {
            let from = module_of(&src, f);
            let is_dir_module = matches!(
                f.file_name().unwrap().to_str(),
                Some("mod.rs" | "lib.rs" | "main.rs")
            );
            let code = code_of(&std::fs::read_to_string(f).unwrap());
            for r in references(&code) {
                if let Some(to) = resolve(&from, is_dir_module, &r, &modules)
                    && to != from
                {
                    edges.entry(from.clone()).or_default().insert(to);
                }
            }
        }
        // Depth-first search for a back edge.
        fn visit(
            n: &Vec<String>,
            edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
            state: &mut BTreeMap<Vec<String>, u8>,
            stack: &mut Vec<Vec<String>>,
            found: &mut Vec<String>,
        ) {
            state.insert(n.clone(), 1);
            stack.push(n.clone());
            for m in edges.get(n).into_iter().flatten() {
                match state.get(m) {
                    Some(1) => {
                        let i = stack.iter().position(|s| s == m).unwrap();
                        let circle: Vec<String> = stack[i..]
                            .iter()
                            .chain([m])
                            .map(|p| {
                                if p.is_empty() {
                                    "lib".into()
                                } else {
                                    p.join("::")
                                }
                            })
                            .collect();
                        found.push(circle.join(" -> "));
                    }
                    Some(_) => {}
                    None => visit(m, edges, state, stack, found),
                }
            }
            stack.pop();
            state.insert(n.clone(), 2);
        }
        let mut state = BTreeMap::new();
        let mut found = Vec::new();
        for n in edges.keys() {
            if !state.contains_key(n) {
                visit(n, &edges, &mut state, &mut Vec::new(), &mut found);
            }
        }
        circles.extend(found.into_iter().map(|c| format!("{dir}: {c}")));
    }
    assert!(
        circles.is_empty(),
        "import circles:\n{}",
        circles.join("\n")
    );
}

#[test]
fn the_circle_check_sees_a_circle() {
    let modules: BTreeSet<Vec<String>> = [vec![], vec!["a".to_string()], vec!["b".to_string()]]
        .into_iter()
        .collect();
    let refs = references(
        "use crate::{a::X, b::{Y, z::W}};\nconst S: &str = \"use {this} not\";\nfn f() { crate::a::X; super::b::g(); }",
    );
    assert_eq!(
        refs,
        [
            "crate::a::X",
            "crate::b::Y",
            "crate::b::z::W",
            "crate::a::X",
            "super::b::g"
        ]
    );
    assert_eq!(
        resolve(&["a".into()], false, "super::b::g", &modules),
        Some(vec!["b".to_string()])
    );
    assert_eq!(
        resolve(&["a".into()], false, "crate::a::X", &modules),
        Some(vec!["a".to_string()])
    );
}

#[test]
fn no_source_file_is_over_600_lines_of_code() {
    let mut long = Vec::new();
    for (dir, _) in crates() {
        let src = root().join(&dir).join("src");
        if !src.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        for f in files
            .iter()
            .filter(|f| f.file_name().unwrap() != "tests.rs")
        {
            let text = std::fs::read_to_string(f).unwrap();
            let lines = text
                .lines()
                .take_while(|l| !l.trim_start().starts_with("#[cfg(test)]"))
                .count();
            if lines > 600 {
                long.push(format!(
                    "{} ({lines} lines)",
                    f.strip_prefix(root()).unwrap().display()
                ));
            }
        }
    }
    assert!(
        long.is_empty(),
        "split these along their seams:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_deploy_worker_trail_names_what_exists() {
    for doc in ["README.md", "docs/ARCHITECTURE.md"] {
        let text = std::fs::read_to_string(root().join(doc)).unwrap();
        let start = text
            .find("DEPLOY_WORKER trail")
            .unwrap_or_else(|| panic!("{doc} has no DEPLOY_WORKER trail"));
        let trail = &text[start..];
        let trail = &trail[..trail.find("\n\n").unwrap_or(trail.len())];
        let mut checked = 0;
        for quoted in trail.split('`').skip(1).step_by(2) {
            if quoted.contains('/') && !quoted.contains(' ') {
                for path in expand_braces(quoted) {
                    assert!(
                        root().join(&path).exists(),
                        "{doc}'s trail names {path}, which does not exist"
                    );
                    checked += 1;
                }
            } else if !ASL_FIELDS.contains(&quoted)
                && quoted.chars().next().is_some_and(char::is_uppercase)
                && quoted.chars().all(|c| c.is_alphanumeric())
            {
                assert!(
                    defined_in_shared(quoted),
                    "{doc}'s trail names the type {quoted}, which no crate defines"
                );
                checked += 1;
            }
        }
        assert!(
            checked >= 6,
            "{doc}'s trail names {checked} things; expected the whole trail"
        );
    }
}

/// Field names of the state machine language that the trail quotes.
const ASL_FIELDS: &[&str] = &[
    "Payload",
    "ResultSelector",
    "Parameters",
    "FunctionName",
    "ResultPath",
];

/// `a/{b,c}.rs` → `a/b.rs`, `a/c.rs`.
fn expand_braces(s: &str) -> Vec<String> {
    match (s.find('{'), s.find('}')) {
        (Some(a), Some(b)) => s[a + 1..b]
            .split(',')
            .map(|m| format!("{}{}{}", &s[..a], m.trim(), &s[b + 1..]))
            .collect(),
        _ => vec![s.to_string()],
    }
}

fn defined_in_shared(name: &str) -> bool {
    let mut files = Vec::new();
    rust_files(&root().join("shared"), &mut files);
    files.iter().any(|f| {
        let text = std::fs::read_to_string(f).unwrap();
        ["struct", "trait", "enum", "type"]
            .iter()
            .any(|k| text.contains(&format!("pub {k} {name}")))
    })
}
