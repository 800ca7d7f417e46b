//! The layer rule, checked on the source: `domain` ← `ports` ← `operations` ← {`adapters`,
//! `http`} ← `schedule`, `config`, `app`. A module may import only from its own layer or the
//! layers before it, the domain imports no AWS or HTTP crate, and no two files import each
//! other, directly or round a longer circle.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Each top-level module and the layer it sits in; a lower number comes first.
const LAYERS: &[(&str, u8)] = &[
    ("domain", 0),
    ("ports", 1),
    ("operations", 2),
    ("adapters", 3),
    ("http", 3),
    ("telemetry", 3),
    ("schedule", 4),
    ("config", 4),
    ("app", 5),
];

/// Crates only adapters, `http` and the wiring may use.
const OUTSIDE_CRATES: &[&str] = &[
    "aws_sdk_dynamodb",
    "aws_sdk_sesv2",
    "aws_sdk_sqs",
    "aws_sdk_secretsmanager",
    "aws_config",
    "lambda_http",
    "http::",
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// A file's module path: `operations/email/mod.rs` is `operations::email`.
fn module_of(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src()).unwrap().with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The source without `#[cfg(test)]` modules (tests may reach anywhere).
fn without_tests(text: &str) -> &str {
    text.find("#[cfg(test)]").map_or(text, |i| &text[..i])
}

/// The paths a `use` tree names: `a::{b, c::{d, e}}` is `a::b`, `a::c::d`, `a::c::e`.
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else {
        return vec![tree];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.len() - 1];
    let mut parts = Vec::new();
    let (mut depth, mut from) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[from..i]);
                from = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[from..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |x| format!("{prefix}{x}")))
        .collect()
}

/// Every path a file names that starts at `crate::` or `super::`: in its `use` items and
/// inline in its code.
fn paths(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("use ") {
        let before = &rest[..i];
        let at_item = before.is_empty() || before.ends_with(['\n', ' ', ')']);
        rest = &rest[i + 4..];
        if !at_item {
            continue;
        }
        if let Some(end) = rest.find(';') {
            found.extend(expand(&rest[..end]));
        }
    }
    let bytes = code.as_bytes();
    for start in ["crate::", "super::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start) {
            let at = from + i;
            from = at + start.len();
            if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
                continue;
            }
            found.push(
                code[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect(),
            );
        }
    }
    found
}

/// Every module of the crate a file imports, each path resolved to the longest module it
/// names.
fn imports(file: &Path, text: &str, modules: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let me = module_of(file);
    let is_mod_file = file
        .file_name()
        .is_some_and(|n| n == "mod.rs" || n == "lib.rs");
    let code: String = without_tests(text)
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut found = BTreeSet::new();
    for path in paths(&code) {
        let mut segments: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
        let mut base: Vec<String> = match segments.first() {
            Some(&"crate") => Vec::new(),
            // `super` from module a::b (`a/b.rs`) is `a`; from module a (`a/mod.rs`), the root.
            Some(&"super") => me[..me.len().saturating_sub(1)].to_vec(),
            _ => continue,
        };
        segments.remove(0);
        while segments.first() == Some(&"super") {
            base.pop();
            segments.remove(0);
        }
        let mut best = None;
        let mut candidate = base;
        for s in segments {
            candidate.push(s.to_owned());
            if modules.contains(&candidate) {
                best = Some(candidate.clone());
            }
        }
        if let Some(target) = best.filter(|t| *t != me) {
            found.insert(target);
        }
    }
    // A folder's mod.rs declaring its children is not an import of them.
    if is_mod_file {
        found.retain(|t| !(t.len() == me.len() + 1 && t.starts_with(&me)));
    }
    found
}

fn layer(module: &[String]) -> u8 {
    LAYERS
        .iter()
        .find(|(name, _)| module.first().is_some_and(|m| m == name))
        .map(|(_, l)| *l)
        .unwrap_or_else(|| panic!("module {module:?} has no layer; add it to LAYERS"))
}

struct Graph {
    edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    texts: BTreeMap<Vec<String>, String>,
}

fn graph() -> Graph {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let modules: BTreeSet<Vec<String>> = all.iter().map(|f| module_of(f)).collect();
    let mut edges = BTreeMap::new();
    let mut texts = BTreeMap::new();
    for file in &all {
        let text = std::fs::read_to_string(file).unwrap();
        edges.insert(module_of(file), imports(file, &text, &modules));
        texts.insert(module_of(file), text);
    }
    Graph { edges, texts }
}

#[test]
fn every_module_imports_only_its_own_layer_and_those_before_it() {
    let g = graph();
    let mut broken = Vec::new();
    for (from, targets) in &g.edges {
        if from.is_empty() {
            continue;
        }
        for to in targets.iter().filter(|t| !t.is_empty()) {
            if layer(to) > layer(from) {
                broken.push(format!("{} imports {}", from.join("::"), to.join("::")));
            }
        }
    }
    assert!(
        broken.is_empty(),
        "layer rule broken:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_domain_uses_no_aws_or_http_crate() {
    let g = graph();
    for (module, text) in g
        .texts
        .iter()
        .filter(|(m, _)| m.first().is_some_and(|f| f == "domain"))
    {
        let code = without_tests(text);
        for outside in OUTSIDE_CRATES {
            assert!(
                !code.contains(outside),
                "{} uses {outside}",
                module.join("::")
            );
        }
    }
}

#[test]
fn no_module_imports_another_in_a_circle() {
    let g = graph();
    // Depth-first search for a back edge.
    fn visit(
        node: &Vec<String>,
        g: &Graph,
        stack: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
    ) -> Option<Vec<Vec<String>>> {
        if let Some(i) = stack.iter().position(|n| n == node) {
            let mut circle = stack[i..].to_vec();
            circle.push(node.clone());
            return Some(circle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in g.edges.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, g, stack, done) {
                return Some(circle);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    for node in g.edges.keys() {
        if let Some(circle) = visit(node, &g, &mut Vec::new(), &mut done) {
            let names: Vec<String> = circle.iter().map(|m| m.join("::")).collect();
            panic!("import circle: {}", names.join(" -> "));
        }
    }
}
