//! The layering rule (ARCHITECTURE.md): every top-level module under `src/`
//! sits on one layer, and a module may name another top-level module
//! (`crate::other…`, in a `use` or inline) only when that one sits on a
//! lower layer. Modules on the same layer do not see each other. Test code
//! (`tests.rs` files and `#[cfg(test)]` items) is exempt: a test may build
//! its fixtures from anything.
//!
//! This table is the one place the layers are written down.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Leaves first. A module may import only modules of earlier rows.
const LAYERS: &[(&str, &[&str])] = &[
    ("leaves", &["clock", "metrics", "number", "source"]),
    ("state and storage", &["state", "store"]),
    ("wire: answer shapes", &["dialect"]),
    ("wire: route files", &["route"]),
    ("wire: body extraction", &["extract"]),
    ("engine", &["policy"]),
    ("adapters: upstream client", &["upstream"]),
    ("adapters", &["hold", "lookup", "shared", "telemetry"]),
    ("composition", &["pipeline", "backtest"]),
    ("front ends", &["server", "admin", "simulate"]),
    ("assembly", &["config"]),
    ("command line", &["cli"]),
];

fn layer_of(module: &str) -> Option<(usize, &'static str)> {
    LAYERS
        .iter()
        .enumerate()
        .find(|(_, (_, mods))| mods.contains(&module))
        .map(|(i, (name, _))| (i, *name))
}

/// One `crate::<module>` reference: the line and the path as written.
#[derive(Debug, PartialEq)]
struct Reference {
    line: usize,
    module: String,
    path: String,
}

#[test]
fn imports_point_down_the_layers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let files = rust_files(&src);
    let mut problems = String::new();

    // Every top-level module has a layer, and every layer's module exists.
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(&src, f)).collect();
    for m in &modules {
        if layer_of(m).is_none() {
            let _ = writeln!(
                problems,
                "src/{m}: a top-level module with no layer: add it to LAYERS in tests/layers.rs and ARCHITECTURE.md"
            );
        }
    }
    for (_, mods) in LAYERS {
        for m in *mods {
            if !modules.contains(*m) {
                let _ = writeln!(
                    problems,
                    "LAYERS names `{m}`, which is not a module under src/"
                );
            }
        }
    }

    let test_files = test_module_files(&files);
    for file in &files {
        let Some(from) = top_module(&src, file) else {
            continue;
        };
        if test_files.contains(file) {
            continue;
        }
        let Some((from_rank, from_layer)) = layer_of(&from) else {
            continue;
        };
        let text = std::fs::read_to_string(file).unwrap();
        for r in references(&text) {
            if r.module == from {
                continue;
            }
            let Some((to_rank, to_layer)) = layer_of(&r.module) else {
                continue; // not a module: a macro at the crate root (`crate::detail!`)
            };
            if to_rank >= from_rank {
                let _ = writeln!(
                    problems,
                    "{}:{}: `{from}` ({from_layer}, layer {from_rank}) imports `{}` ({to_layer}, layer {to_rank}) through `{}`",
                    file.strip_prefix(src.parent().unwrap()).unwrap().display(),
                    r.line,
                    r.module,
                    r.path,
                );
            }
        }
    }
    assert!(
        problems.is_empty(),
        "imports that do not point down a layer (see ARCHITECTURE.md):\n{problems}"
    );
}

/// The check itself: groups, nesting, inline paths, comments, strings and
/// test items.
#[test]
fn references_are_found_in_every_spelling() {
    let text = r#####"
//! See [`crate::doc_only`].
use crate::{a::X, b, c::{d, e::F}};
use crate::g as h;
use crate::{
    i::J,
    // crate::commented_out
    k,
};
fn f() -> crate::l::M { let _ = "crate::in_string"; let _ = r#"crate::raw"#; crate::n::o(); }
fn lifetimes<'a>(x: &'a str) -> char { let _: crate::p::Q; 'c' }
/* crate::block_comment */
#[cfg(test)]
mod tests { use crate::test_only; }
#[cfg(test)]
use crate::test_use;
fn after() { crate::r!(); }
"#####;
    let found: Vec<(usize, String)> = references(text)
        .into_iter()
        .map(|r| (r.line, r.module))
        .collect();
    let expect = [
        (3, "a"),
        (3, "b"),
        (3, "c"),
        (4, "g"),
        (6, "i"),
        (8, "k"),
        (10, "l"),
        (10, "n"),
        (11, "p"),
        (17, "r"),
    ]
    .map(|(l, m)| (l, m.to_owned()));
    assert_eq!(found, expect);
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `src/policy/layers/geo.rs` → `policy`; `src/clock.rs` → `clock`; the
/// crate roots (`lib.rs`, `main.rs`) have none.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let first = file.strip_prefix(src).ok()?.components().next()?;
    let name = first.as_os_str().to_str()?;
    let name = name.strip_suffix(".rs").unwrap_or(name);
    (name != "lib" && name != "main").then(|| name.to_owned())
}

/// Files that are test modules: `tests.rs`, and any file a `#[cfg(test)]
/// mod x;` declares.
fn test_module_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out: BTreeSet<PathBuf> = files
        .iter()
        .filter(|f| f.file_name().is_some_and(|n| n == "tests.rs"))
        .cloned()
        .collect();
    for f in files {
        let text = std::fs::read_to_string(f).unwrap();
        let code = blank_comments_and_strings(&text);
        let mut rest = code.as_str();
        while let Some(at) = rest.find("#[cfg(test)]") {
            rest = &rest[at + "#[cfg(test)]".len()..];
            let item = rest.trim_start();
            let Some(decl) = item.strip_prefix("mod ") else {
                continue;
            };
            let name: String = decl
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if decl[name.len()..].trim_start().starts_with(';') {
                // `foo.rs` declares `foo/x.rs`; `mod.rs` and crate roots
                // declare `x.rs` beside them.
                let stem = f.file_stem().unwrap().to_str().unwrap();
                let dir = match stem {
                    "mod" | "lib" | "main" => f.parent().unwrap().to_owned(),
                    _ => f.with_extension(""),
                };
                out.insert(dir.join(format!("{name}.rs")));
                out.insert(dir.join(&name).join("mod.rs"));
            }
        }
    }
    out
}

/// Every `crate::<first segment>` reference outside comments, strings and
/// `#[cfg(test)]` items, with groups (`crate::{a, b::c}`) taken apart.
fn references(text: &str) -> Vec<Reference> {
    let code = without_test_items(&blank_comments_and_strings(text));
    let bytes = code.as_bytes();
    let line_at = |pos: usize| code[..pos].matches('\n').count() + 1;
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(found) = code[from..].find("crate::") {
        let at = from + found;
        from = at + "crate::".len();
        // Not the tail of another word (`$crate` is the defining module's
        // own path and counts like `crate`).
        if at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_') {
            continue;
        }
        let rest = &code[from..];
        let after_ws = rest.trim_start();
        if let Some(group) = after_ws.strip_prefix('{') {
            let start = from + (rest.len() - after_ws.len()) + 1;
            let end = start + matching_brace(group).unwrap_or(group.len());
            for (offset, item) in top_level_items(&code[start..end]) {
                let module = first_segment(item);
                if !module.is_empty() {
                    out.push(Reference {
                        line: line_at(start + offset),
                        module: module.to_owned(),
                        path: format!("crate::{}", squash(item)),
                    });
                }
            }
        } else {
            let module = first_segment(rest);
            if !module.is_empty() {
                let path_len = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(rest.len());
                out.push(Reference {
                    line: line_at(at),
                    module: module.to_owned(),
                    path: format!("crate::{}", &rest[..path_len]),
                });
            }
        }
    }
    out
}

fn first_segment(s: &str) -> &str {
    let s = s.trim_start();
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

fn squash(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The byte length up to (not including) the `}` closing a group whose `{`
/// was just consumed.
fn matching_brace(s: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(i),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// The comma-separated items of a group at its own depth, with their
/// offsets (leading whitespace skipped).
fn top_level_items(group: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    let mut push = |from: usize, to: usize| {
        let item = &group[from..to];
        let lead = item.len() - item.trim_start().len();
        if !item.trim().is_empty() {
            out.push((from + lead, item.trim()));
        }
    };
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                push(start, i);
                start = i + 1;
            }
            _ => {}
        }
    }
    push(start, group.len());
    out
}

/// Blanks every `#[cfg(test)]` item (to its `;` or its matching `}`),
/// keeping newlines so lines still count.
fn without_test_items(code: &str) -> String {
    let mut out = code.to_owned();
    let mut from = 0;
    while let Some(found) = out[from..].find("#[cfg(test)]") {
        let at = from + found;
        let body = &out[at..];
        let end = match (body.find(';'), body.find('{')) {
            (Some(semi), Some(brace)) if semi < brace => at + semi + 1,
            (_, Some(brace)) => {
                at + brace + 1 + matching_brace(&body[brace + 1..]).map_or(body.len(), |e| e + 1)
            }
            (Some(semi), None) => at + semi + 1,
            (None, None) => out.len(),
        };
        let end = end.min(out.len());
        let blank: String = out[at..end]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        out.replace_range(at..end, &blank);
        from = end;
    }
    out
}

/// The text with comments and the insides of string and char literals
/// replaced by spaces (newlines kept), so only code is searched.
fn blank_comments_and_strings(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && (next == Some('"') || next == Some('#')) && !ident_before(&chars, i) {
            // A raw string: r"…", r#"…"#, …
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            if chars.get(i + 1 + hashes) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            let close: Vec<char> = std::iter::once('"')
                .chain(std::iter::repeat('#').take(hashes))
                .collect();
            let open_len = 2 + hashes;
            out.extend(std::iter::repeat(' ').take(open_len));
            i += open_len;
            while i < chars.len() && !chars[i..].starts_with(&close) {
                out.push(blank(chars[i]));
                i += 1;
            }
            out.extend(std::iter::repeat(' ').take(close.len()));
            i += close.len();
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a).
            let end = if next == Some('\\') {
                chars[i + 3..]
                    .iter()
                    .position(|&q| q == '\'')
                    .map(|p| i + 3 + p)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    out.extend(std::iter::repeat(' ').take(end + 1 - i));
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}
