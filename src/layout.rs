//! The code's shape, checked: no module of the server imports, through any chain of others, one
//! that imports it back. A circle means a part that cannot be understood, tested or moved on its
//! own (typically a handle in the state defined in a feature that uses the state); break it by
//! moving the shared piece down into a module that imports nothing of the others.
//!
//! The same holds for the UI crate (`app/src/`), whose features import the shared pieces and
//! one another's types but never in a circle.
//!
//! Modules are the files under `src/`; a module uses another when its code (outside comments
//! and its `#[cfg(test)]` part) names it by a `crate::…` path, a `use crate::{…}` group or
//! `super::…`.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

/// Every module under `src/` (of the server, or with `"app"` of the UI crate) and the modules it uses.
fn modules_of(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(krate).join("src");
    let mut sources = BTreeMap::new();
    collect(&root, &root, &mut sources);
    let names: BTreeSet<String> = sources.keys().cloned().collect();
    sources.iter().map(|(name, code)| (name.clone(), uses(name, code, &names))).collect()
}

fn collect(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let relative = path.strip_prefix(root).unwrap().with_extension("");
            let mut name = relative.to_string_lossy().replace('/', "::");
            if let Some(parent) = name.strip_suffix("::mod") {
                name = parent.to_string();
            }
            if name == "lib" || name == "main" {
                continue;
            }
            out.insert(name, std::fs::read_to_string(&path).unwrap());
        }
    }
}

/// The code without line comments and without its tests.
fn code_of(source: &str) -> String {
    let source = source.split("#[cfg(test)]").next().unwrap_or_default();
    source.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

/// A path's segments from `at`: `a::b::c` (lowercase names only; stops at anything else).
fn segments(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let end =
            rest.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')).unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        out.push(&rest[..end]);
        match rest[end..].strip_prefix("::") {
            Some(more) => rest = more,
            None => break,
        }
    }
    out
}

/// The longest module named by the start of `path`.
fn module_named(path: &[&str], names: &BTreeSet<String>) -> Option<String> {
    (1..=path.len()).rev().map(|n| path[..n].join("::")).find(|candidate| names.contains(candidate))
}

/// What follows an opening brace, up to its closing one.
fn braced(text: &str) -> &str {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return &text[..i],
            '}' => depth -= 1,
            _ => {}
        }
    }
    text
}

/// The modules a `{…}` group of paths names (`a, b::{self, c}, d::E`), each read from `base`.
fn group(base: &[&str], inside: &str, names: &BTreeSet<String>, used: &mut BTreeSet<String>) {
    let mut depth = 0;
    let mut start = 0;
    let mut items = Vec::new();
    for (i, c) in inside.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&inside[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&inside[start..]);
    for item in items.into_iter().map(str::trim).filter(|i| !i.is_empty()) {
        match item.split_once("::{") {
            Some((head, body)) => {
                let path: Vec<&str> = base.iter().copied().chain(segments(head)).collect();
                group(&path, braced(body), names, used);
            }
            None => {
                let path: Vec<&str> = base.iter().copied().chain(segments(item)).collect();
                used.extend(module_named(&path, names));
            }
        }
    }
}

/// The modules named after `base` at the start of `rest`: a path, or a `{…}` group of them.
fn named_at(base: &[&str], rest: &str, names: &BTreeSet<String>, used: &mut BTreeSet<String>) {
    match rest.strip_prefix('{') {
        Some(inside) => group(base, braced(inside), names, used),
        None => {
            let path: Vec<&str> = base.iter().copied().chain(segments(rest)).collect();
            used.extend(module_named(&path, names));
        }
    }
}

fn uses(name: &str, source: &str, names: &BTreeSet<String>) -> BTreeSet<String> {
    let code = code_of(source);
    let mut used = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        named_at(&[], &code[at + "crate::".len()..], names, &mut used);
    }
    // `super::` from this module's own path, once per chain (`super::super::x`).
    let own: Vec<&str> = name.split("::").collect();
    for (at, _) in code.match_indices("super::") {
        if code[..at].ends_with("super::") {
            continue;
        }
        let mut base = own.clone();
        let mut rest = &code[at..];
        while let Some(more) = rest.strip_prefix("super::") {
            base.pop();
            rest = more;
        }
        named_at(&base, rest, names, &mut used);
    }
    used.remove(name);
    used
}

/// A circle through `from`, if there is one: the modules in order, back to `from`.
fn circle_from(from: &str, graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    let mut stack = vec![(from.to_string(), vec![from.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((at, way)) = stack.pop() {
        for next in graph.get(&at).into_iter().flatten() {
            if next == from {
                return Some(way.iter().cloned().chain([from.to_string()]).collect());
            }
            if seen.insert(next.clone()) {
                stack.push((next.clone(), way.iter().cloned().chain([next.clone()]).collect()));
            }
        }
    }
    None
}

fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    graph.keys().filter_map(|m| circle_from(m, graph)).map(|c| c.join(" → ")).collect()
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = modules_of("");
    assert!(graph.len() > 30, "the modules were found: {:?}", graph.keys());
    assert!(graph["pipeline::webhook"].contains("state"), "uses are read: {:?}", graph["pipeline::webhook"]);
    let circles = circles(&graph);
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
}

#[test]
fn no_module_of_the_ui_imports_one_that_imports_it_back() {
    let graph = modules_of("app");
    assert!(graph.len() > 30, "the modules were found: {:?}", graph.keys());
    assert!(graph["connectors::page"].contains("components"), "uses are read: {:?}", graph["connectors::page"]);
    let circles = circles(&graph);
    assert!(circles.is_empty(), "import circles:\n{}", circles.join("\n"));
}

#[test]
fn the_state_holds_only_handles_that_use_nothing_of_the_features() {
    let graph = modules_of("");
    for handle in &graph["state"] {
        let mut reached = BTreeSet::new();
        let mut next = vec![handle.clone()];
        while let Some(at) = next.pop() {
            for used in graph.get(&at).into_iter().flatten() {
                assert_ne!(used, "state", "{handle}, which the state holds, leads back to it through {at}");
                if reached.insert(used.clone()) {
                    next.push(used.clone());
                }
            }
        }
    }
}

#[test]
fn a_circle_is_found_where_there_is_one() {
    let names: BTreeSet<String> = ["a", "b", "c", "c::d"].iter().map(|s| s.to_string()).collect();
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a", uses("a", "use crate::{b::{self, X}, db};", &names)),
        ("b", uses("b", "fn f() { crate::c::d::g() } // crate::a", &names)),
        ("c", uses("c", "use super::{b::Y, c::{d::{self}}};", &names)),
        ("c::d", uses("c::d", "fn g() { super::h() }\n#[cfg(test)] crate::b", &names)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    assert_eq!(graph["a"], BTreeSet::from(["b".to_string()]));
    assert_eq!(graph["b"], BTreeSet::from(["c::d".to_string()]), "a comment names nothing");
    assert_eq!(graph["c"], BTreeSet::from(["b".to_string(), "c::d".to_string()]), "a group after super::");
    assert_eq!(graph["c::d"], BTreeSet::from(["c".to_string()]), "super:: is the parent; tests are left out");
    assert_eq!(uses("c::d", "use super::super::a;", &names), BTreeSet::from(["a".to_string()]));
    assert_eq!(circle_from("a", &graph), None);
    let mut with_circle = graph.clone();
    with_circle.get_mut("c::d").unwrap().insert("a".into());
    assert_eq!(circle_from("a", &with_circle).unwrap(), ["a", "b", "c::d", "a"]);
}
