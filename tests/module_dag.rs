//! The module graph is a DAG and the pure modules stay pure, as their module docs say:
//!
//! - `src/translate/mod.rs`: "It must not do I/O, log, or panic"; it uses [`schema`], `crd`
//!   and `konnect::models` (the entity shapes), nothing else of ours.
//! - `src/schema/mod.rs`: "No I/O here (no files, network, environment or process) ... It
//!   depends on no other module of ours; its only side effect is a `tracing` event".
//! - `src/lib.rs`: `cli -> {manifest, translate, schema}`, `manifest -> translate`,
//!   `translate -> schema`; the pure modules never reach back to `cli`, `manifest`,
//!   `controller` or `emulator`.
//!
//! The check reads the source text: every path (`crate::a::b`, `use crate::{a, b::c}`,
//! `tokio::fs::read`, `std::{fs, env}`) outside comments and string literals, and every
//! `println!`-like macro. A self-test below proves the checker catches each form.

use std::path::{Path, PathBuf};

/// What one pure module may use.
struct Rule {
    /// Folder under `src/`.
    module: &'static str,
    /// Paths under `crate::` it may use (a path is allowed when it equals one of these or
    /// continues it with `::`).
    allowed_crate: &'static [&'static str],
    /// Paths outside the crate it must not use (same prefix rule).
    forbidden_extern: Vec<&'static str>,
}

/// I/O, process and network paths neither pure module may touch.
const NO_IO: &[&str] = &[
    "std::fs",
    "std::net",
    "std::process",
    "std::env",
    "std::io::stdin",
    "std::io::stdout",
    "std::io::stderr",
    "tokio::fs",
    "tokio::net",
    "tokio::process",
    "tokio::io",
    "tokio::signal",
    "tokio::spawn",
    "reqwest",
    "hyper",
    "axum",
    "kube",
];

const TRANSLATE_EXTRA: &[&str] = &["tracing", "tokio"];

/// Macros that print.
const PRINTING_MACROS: &[&str] = &["println", "print", "eprintln", "eprint", "dbg"];

fn rules() -> Vec<Rule> {
    vec![
        Rule {
            module: "translate",
            allowed_crate: &["translate", "schema", "crd", "konnect::models"],
            forbidden_extern: [NO_IO, TRANSLATE_EXTRA].concat(),
        },
        Rule {
            module: "schema",
            allowed_crate: &["schema"],
            forbidden_extern: NO_IO.to_vec(),
        },
    ]
}

/// `text` with comments, string literals and char literals replaced by spaces (line breaks
/// kept), so that only code is searched.
fn code_only(text: &str) -> String {
    let c: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let blank = |out: &mut String, ch: char| out.push(if ch == '\n' { '\n' } else { ' ' });
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        if at(i) == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if at(i) == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if at(i) == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if at(i) == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    blank(&mut out, c[i]);
                    i += 1;
                }
            }
        } else if at(i) == 'r'
            && (at(i + 1) == '"' || (at(i + 1) == '#' && (at(i + 2) == '"' || at(i + 2) == '#')))
            && !(i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_'))
        {
            // Raw string r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1; // the opening quote
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (1..=hashes).all(|h| at(j + h) == '#') {
                    j += 1 + hashes;
                    break;
                }
                blank(&mut out, c[j]);
                j += 1;
            }
            i = j;
        } else if at(i) == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                if i < c.len() {
                    blank(&mut out, c[i]);
                }
                i += 1;
            }
            i += 1;
        } else if at(i) == '\'' {
            // A char literal ('x', '\n', '\u{1F600}') or a lifetime ('a): a lifetime has no
            // closing quote right after its first character.
            if at(i + 1) == '\\' {
                let mut j = i + 2;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                out.push('\'');
                i += 1;
            }
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

fn is_ident_start(ch: char) -> bool {
    ch.is_ascii_alphabetic() || ch == '_'
}

fn is_ident(ch: char) -> bool {
    ch.is_ascii_alphanumeric() || ch == '_'
}

/// Every path in `code` (as produced by [`code_only`]) with `::` in it, brace groups expanded:
/// `use a::{b, c::{d, e}}` gives `a::b`, `a::c::d`, `a::c::e`. Also `name!` for each macro
/// invocation. Each comes with the inline modules (`mod tests { ... }`) it sits in.
fn paths(code: &str) -> Vec<(Vec<String>, String)> {
    let c: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    // Inline modules we are in, each with the brace depth its body opened at.
    let mut mods: Vec<(String, usize)> = Vec::new();
    let mut depth = 0;
    let mut pending_mod: Option<String> = None;
    let mut i = 0;
    while i < c.len() {
        let boundary = i == 0 || !(is_ident(c[i - 1]) || c[i - 1] == ':');
        if boundary && is_ident_start(c[i]) {
            let mut here = Vec::new();
            i = tree(&c, i, String::new(), &mut here);
            let j = skip_ws(&c, i);
            let inner: Vec<String> = mods.iter().map(|(m, _)| m.clone()).collect();
            if let [one] = here.as_slice()
                && !one.contains("::")
            {
                // A lone identifier: a path only as a macro call; `mod x {` opens a module.
                if pending_mod.take().is_some_and(|m| m == "mod") {
                    pending_mod = Some(format!("mod {one}"));
                    continue;
                }
                if one == "mod" {
                    pending_mod = Some("mod".to_owned());
                } else if j < c.len() && c[j] == '!' && c.get(j + 1) != Some(&'=') {
                    found.push((inner, format!("{one}!")));
                }
                continue;
            }
            pending_mod = None;
            found.extend(here.into_iter().map(|p| (inner.clone(), p)));
        } else {
            match c[i] {
                '{' => {
                    depth += 1;
                    if let Some(name) = pending_mod
                        .take()
                        .and_then(|m| m.strip_prefix("mod ").map(str::to_owned))
                    {
                        mods.push((name, depth));
                    }
                }
                '}' => {
                    if mods.last().is_some_and(|(_, d)| *d == depth) {
                        mods.pop();
                    }
                    depth = depth.saturating_sub(1);
                }
                ch if ch.is_whitespace() => {}
                _ => pending_mod = None,
            }
            i += 1;
        }
    }
    found
}

fn skip_ws(c: &[char], mut i: usize) -> usize {
    while i < c.len() && c[i].is_whitespace() {
        i += 1;
    }
    i
}

/// Parses one use-tree at `i` below `prefix`; pushes its paths; returns the index after it.
fn tree(c: &[char], i: usize, prefix: String, found: &mut Vec<String>) -> usize {
    let mut i = skip_ws(c, i);
    let join = |p: &str, s: &str| {
        if p.is_empty() {
            s.to_owned()
        } else {
            format!("{p}::{s}")
        }
    };
    if i < c.len() && c[i] == '{' {
        i += 1;
        loop {
            i = skip_ws(c, i);
            if i >= c.len() {
                return i;
            }
            match c[i] {
                '}' => return i + 1,
                ',' => i += 1,
                _ => {
                    let before = i;
                    i = tree(c, i, prefix.clone(), found);
                    // `as name` or anything unexpected: skip to the next separator.
                    while i < c.len() && !matches!(c[i], ',' | '}') {
                        i += 1;
                    }
                    if i == before {
                        i += 1;
                    }
                }
            }
        }
    }
    if i < c.len() && c[i] == '*' {
        found.push(join(&prefix, "*"));
        return i + 1;
    }
    let start = i;
    while i < c.len() && is_ident(c[i]) {
        i += 1;
    }
    if i == start {
        if !prefix.is_empty() {
            found.push(prefix);
        }
        return i;
    }
    let ident: String = c[start..i].iter().collect();
    let path = join(&prefix, &ident);
    let j = skip_ws(c, i);
    if j + 1 < c.len() && c[j] == ':' && c[j + 1] == ':' {
        let k = skip_ws(c, j + 2);
        if k < c.len() && (is_ident_start(c[k]) || c[k] == '{' || c[k] == '*') {
            return tree(c, k, path, found);
        }
        // `Vec::<u8>`: the path ends here.
        found.push(path);
        return j + 2;
    }
    found.push(path);
    i
}

/// `path` equals `prefix` or continues it with `::`.
fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with("::"))
}

/// The module `file` defines, as a path below `crate` (`src/translate/mod.rs` -> `translate`,
/// `src/translate/plugins.rs` -> `translate::plugins`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod") {
        parts.pop();
    }
    parts
}

/// `super::x` resolved against the module `module` (`self::` likewise); other paths unchanged.
fn resolve(path: &str, module: &[String]) -> String {
    let mut segs: Vec<&str> = path.split("::").collect();
    if segs.first() != Some(&"super") && segs.first() != Some(&"self") {
        return path.to_owned();
    }
    let mut base: Vec<String> = module.to_vec();
    while let Some(first) = segs.first() {
        match *first {
            "super" => {
                base.pop();
                segs.remove(0);
            }
            "self" => {
                segs.remove(0);
            }
            _ => break,
        }
    }
    let mut full = vec!["crate".to_owned()];
    full.extend(base);
    full.extend(segs.iter().map(|s| (*s).to_owned()));
    full.join("::")
}

/// The violations of `rule` in one file's text: `"<path>"` for each forbidden use.
fn violations(rule: &Rule, module: &[String], text: &str) -> Vec<String> {
    let mut bad = Vec::new();
    for (inner, raw) in paths(&code_only(text)) {
        if let Some(name) = raw.strip_suffix('!') {
            if PRINTING_MACROS.contains(&name) {
                bad.push(raw);
            }
            continue;
        }
        let module: Vec<String> = module.iter().cloned().chain(inner).collect();
        let path = resolve(&raw, &module);
        if let Some(inner) = path.strip_prefix("crate::") {
            if !rule.allowed_crate.iter().any(|a| under(inner, a)) {
                bad.push(path);
            }
        } else if path == "crate" {
            continue;
        } else if rule.forbidden_extern.iter().any(|f| under(&path, f)) {
            bad.push(path);
        }
    }
    bad
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn pure_modules_use_only_what_their_docs_allow() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut problems = Vec::new();
    let mut files_checked = 0;
    let mut paths_checked = 0;
    for rule in rules() {
        let mut files = Vec::new();
        rust_files(&src.join(rule.module), &mut files);
        assert!(!files.is_empty(), "no sources under src/{}", rule.module);
        for file in files {
            let text = std::fs::read_to_string(&file).expect("read source");
            let module = module_of(&src, &file);
            files_checked += 1;
            paths_checked += paths(&code_only(&text)).len();
            for v in violations(&rule, &module, &text) {
                problems.push(format!("{}: {v}", file.display()));
            }
        }
    }
    assert!(
        files_checked >= 10 && paths_checked >= 500,
        "the scan saw too little: {files_checked} files, {paths_checked} paths"
    );
    assert!(
        problems.is_empty(),
        "pure modules reference what their module docs forbid:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_checker_catches_each_form() {
    let translate = &rules()[0];
    let module = vec!["translate".to_owned(), "plugins".to_owned()];
    let cases: &[(&str, &[&str])] = &[
        ("use crate::manifest::Loaded;", &["crate::manifest::Loaded"]),
        (
            "use crate::{cli::render, schema::Registry, konnect::client::Client};",
            &["crate::cli::render", "crate::konnect::client::Client"],
        ),
        (
            "use crate::konnect::{models::Route, config::Config};",
            &["crate::konnect::config::Config"],
        ),
        (
            "fn f() { crate::controller::run(); }",
            &["crate::controller::run"],
        ),
        (
            "use super::super::emulator::State;",
            &["crate::emulator::State"],
        ),
        ("use std::{fs, collections::BTreeMap};", &["std::fs"]),
        (
            "fn f() { let _ = std::fs::read(\"x\"); }",
            &["std::fs::read"],
        ),
        ("fn f() { tracing::warn!(\"x\"); }", &["tracing::warn"]),
        ("use tokio::sync::RwLock;", &["tokio::sync::RwLock"]),
        ("fn f() { println!(\"x\"); }", &["println!"]),
        // `super` inside an inline module counts that module.
        ("mod tests { use super::super::ids::x; }", &[]),
        (
            "mod tests { fn f() { super::super::super::cli::run(); } }",
            &["crate::cli::run"],
        ),
        // Not code: comments and strings are ignored.
        (
            "// use crate::cli;\n/* crate::manifest */ const S: &str = \"std::fs\"; const R: &str = r#\"tokio::fs\"#;",
            &[],
        ),
        (
            "use crate::konnect::models::{Route, Service};\nuse super::ids; fn f<'a>(c: char) -> bool { c == ':' }",
            &[],
        ),
    ];
    for (text, expected) in cases {
        let got = violations(translate, &module, text);
        assert_eq!(&got, expected, "for {text:?}");
    }
    // schema allows tracing and tokio::sync but not the rest of translate's list.
    let schema = &rules()[1];
    let module = vec!["schema".to_owned(), "cache".to_owned()];
    assert_eq!(
        violations(
            schema,
            &module,
            "use tokio::sync::RwLock; fn f() { tracing::warn!(\"x\"); } use crate::translate::Snapshot; use tokio::fs;"
        ),
        ["crate::translate::Snapshot", "tokio::fs"]
    );
}
