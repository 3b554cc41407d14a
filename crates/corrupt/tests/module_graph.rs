//! No import cycles in the workspace's three crates: shared types live below the modules that use
//! them. Each source file is a module; a `crate::a::b` or `super::x` path in its code (comments
//! left out) is an edge to the longest module it names; a module's own sub-modules and its parent
//! do not count. Every strongly connected component of the graph must be a single module.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path ("eval::store") → source text, for every .rs file under `src`.
fn modules(src: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                let rel = p.strip_prefix(src).unwrap().with_extension("");
                let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
                if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                    parts.pop();
                }
                out.insert(parts.join("::"), std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    out
}

/// The path segments after each `crate::` / `super::` (with `use x::{a, b}` groups expanded).
fn paths(code: &str) -> Vec<(bool, Vec<String>)> {
    let code: String = code.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let mut out = Vec::new();
    for base in ["crate", "super"] {
        let key = format!("{base}::");
        let mut rest = code.as_str();
        while let Some(i) = rest.find(&key) {
            let before_ok = i == 0 || !rest[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_');
            rest = &rest[i + key.len()..];
            if !before_ok {
                continue;
            }
            let tail: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            let head: Vec<String> = tail.split("::").filter(|s| !s.is_empty()).map(str::to_string).collect();
            if let Some(group) = rest[tail.len()..].strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let first = item.trim().split("::").next().unwrap_or("").trim().to_string();
                    if !first.is_empty() && first != "self" {
                        out.push((base == "super", [head.clone(), vec![first]].concat()));
                    }
                }
            }
            out.push((base == "super", head));
        }
    }
    out
}

/// The graph's edges, module → modules it names.
fn graph(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(src);
    let mut g = BTreeMap::new();
    for (me, code) in &mods {
        let mut edges = BTreeSet::new();
        let mine: Vec<&str> = if me.is_empty() { Vec::new() } else { me.split("::").collect() };
        for (sup, segs) in paths(code) {
            let mut full: Vec<String> = if sup {
                mine[..mine.len().saturating_sub(1)].iter().map(|s| s.to_string()).collect()
            } else {
                Vec::new()
            };
            full.extend(segs);
            if let Some(m) = (1..=full.len()).rev().map(|k| full[..k].join("::")).find(|c| mods.contains_key(c)) {
                let related = m.is_empty()
                    || me.is_empty()
                    || me.starts_with(&format!("{m}::"))
                    || m.starts_with(&format!("{me}::"));
                if &m != me && !related {
                    edges.insert(m);
                }
            }
        }
        g.insert(me.clone(), edges);
    }
    g
}

/// Modules on a cycle: those that reach themselves.
fn on_cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let reaches = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&str> = g[from].iter().map(String::as_str).collect();
        while let Some(m) = stack.pop() {
            if seen.insert(m.to_string()) {
                stack.extend(g.get(m).into_iter().flatten().map(String::as_str));
            }
        }
        seen
    };
    g.keys().filter(|m| reaches(m).contains(*m)).cloned().collect()
}

#[test]
fn the_workspace_has_no_import_cycles() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for krate in ["crates/corrupt/src", "crates/robustcnn/src", "crates/cli/src"] {
        let g = graph(&root.join(krate));
        assert!(g.len() > 10, "{krate}: read {} modules", g.len());
        assert_eq!(on_cycles(&g), Vec::<String>::new(), "{krate}: modules on an import cycle");
    }
}

#[test]
fn the_check_finds_a_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let w = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
    w("lib.rs", "mod a;\nmod b;\nmod c;\n");
    w("a.rs", "use crate::b::Thing;\n");
    w("b.rs", "use super::{c, d};\n// crate::a in a comment does not count\n");
    w("c.rs", "fn f() { crate::a::g(); }\n");
    let g = graph(dir.path());
    assert_eq!(on_cycles(&g), ["a", "b", "c"]);
    w("c.rs", "fn f() {}\n");
    assert!(on_cycles(&graph(dir.path())).is_empty());
}
