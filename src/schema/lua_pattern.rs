//! Lua patterns, as used by Kong's `match`, `not_match`, `match_all`, `match_none` and
//! `match_any` validators, translated to byte-oriented regular expressions.
//!
//! Kong runs `string.match(value, pattern)`: an unanchored search over bytes unless the pattern
//! starts with `^` / ends with `$`. The translation keeps those semantics (`(?s-u)` byte mode).
//! `%b`, `%f` and back-references have no regex equivalent; such patterns are reported as
//! unsupported and the caller skips the check rather than guessing.

use regex::bytes::Regex;

/// A compiled Lua pattern.
#[derive(Clone, Debug)]
pub struct LuaPattern {
    regex: Regex,
}

impl LuaPattern {
    /// Compiles a Lua pattern; `None` when it uses a construct with no regex equivalent.
    pub fn new(source: &str) -> Option<LuaPattern> {
        let translated = translate(source)?;
        let regex = Regex::new(&translated).ok()?;
        Some(LuaPattern { regex })
    }

    /// `string.match(value, pattern) ~= nil`.
    pub fn is_match(&self, value: &str) -> bool {
        self.regex.is_match(value.as_bytes())
    }
}

/// The regex body (no surrounding brackets) for a `%x` class letter, or `None` if `c` is not one.
fn class_body(c: u8) -> Option<(&'static str, bool)> {
    let negated = c.is_ascii_uppercase();
    let body = match c.to_ascii_lowercase() {
        b'a' => "A-Za-z",
        b'c' => "\\x00-\\x1F\\x7F",
        b'd' => "0-9",
        b'g' => "\\x21-\\x7E",
        b'l' => "a-z",
        b'p' => "!-/:-@\\[-`{-~",
        b's' => "\\t\\n\\x0B\\x0C\\r ",
        b'u' => "A-Z",
        b'w' => "A-Za-z0-9",
        b'x' => "A-Fa-f0-9",
        _ => return None,
    };
    Some((body, negated))
}

fn class_regex(c: u8) -> Option<String> {
    let (body, negated) = class_body(c)?;
    Some(if negated {
        format!("[^{body}]")
    } else {
        format!("[{body}]")
    })
}

fn lit(b: u8) -> String {
    format!("\\x{b:02X}")
}

/// Translates a Lua pattern to regex syntax; `None` for unsupported constructs or a malformed
/// pattern (Kong would raise an error at validation time for the latter).
fn translate(p: &str) -> Option<String> {
    let b = p.as_bytes();
    let mut out = String::from("(?s-u)");
    let mut i = 0;
    if b.first() == Some(&b'^') {
        out.push('^');
        i = 1;
    }
    // Whether the last emitted item is a single-character class a quantifier may follow.
    let mut quantifiable = false;
    while i < b.len() {
        let c = b[i];
        match c {
            b'$' if i == b.len() - 1 => {
                out.push('$');
                i += 1;
                quantifiable = false;
            }
            b'*' | b'+' | b'?' | b'-' if quantifiable => {
                out.push_str(match c {
                    b'*' => "*",
                    b'+' => "+",
                    b'?' => "?",
                    _ => "*?",
                });
                i += 1;
                quantifiable = false;
            }
            b'(' | b')' => {
                out.push(c as char);
                i += 1;
                quantifiable = false;
            }
            b'.' => {
                out.push('.');
                i += 1;
                quantifiable = true;
            }
            b'%' => {
                let n = *b.get(i + 1)?;
                if n == b'b' || n == b'f' || n.is_ascii_digit() {
                    return None;
                }
                match class_regex(n) {
                    Some(class) => out.push_str(&class),
                    None if n.is_ascii_alphanumeric() => return None,
                    None => out.push_str(&lit(n)),
                }
                i += 2;
                quantifiable = true;
            }
            b'[' => {
                let (set, next) = translate_set(b, i)?;
                out.push_str(&set);
                i = next;
                quantifiable = true;
            }
            _ => {
                out.push_str(&lit(c));
                i += 1;
                quantifiable = true;
            }
        }
    }
    Some(out)
}

/// Translates the set starting at `b[start] == '['`; returns the regex and the index after `]`.
fn translate_set(b: &[u8], start: usize) -> Option<(String, usize)> {
    let mut i = start + 1;
    let mut out = String::from("[");
    if b.get(i) == Some(&b'^') {
        out.push('^');
        i += 1;
    }
    let mut first = true;
    loop {
        let c = *b.get(i)?;
        if c == b']' && !first {
            out.push(']');
            return Some((out, i + 1));
        }
        first = false;
        if c == b'%' {
            let n = *b.get(i + 1)?;
            match class_body(n) {
                Some((body, false)) => out.push_str(body),
                Some((body, true)) => {
                    out.push_str("[^");
                    out.push_str(body);
                    out.push(']');
                }
                None => out.push_str(&lit(n)),
            }
            i += 2;
        } else if b.get(i + 1) == Some(&b'-') && b.get(i + 2).is_some_and(|&e| e != b']') {
            let end = b[i + 2];
            if end < c {
                return None;
            }
            out.push_str(&lit(c));
            out.push('-');
            out.push_str(&lit(end));
            i += 3;
        } else {
            out.push_str(&lit(c));
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, v: &str) -> bool {
        LuaPattern::new(p).map(|p| p.is_match(v)).unwrap_or(false)
    }

    #[test]
    fn classes_anchors_and_quantifiers() {
        assert!(m("^%u+$", "POST"));
        assert!(!m("^%u+$", "Post"));
        assert!(m("^[%a_][%w_%-]*$", "STATIC_INPUTS"));
        assert!(m("^[%a_][%w_%-]*$", "build-headers"));
        assert!(!m("^[%a_][%w_%-]*$", "9lives"));
        assert!(!m("^[%a_][%w_%-]*$", "a.b"));
        assert!(m("//", "a//b"));
        assert!(!m("//", "a/b"));
        assert!(m("^a-b$", "aaab"));
        assert!(m("^%$x$", "$x"));
        assert!(m("^[^%s]+$", "abc"));
        assert!(!m("^[^%s]+$", "a c"));
        assert!(m("^x.y$", "x\ny"));
    }

    #[test]
    fn unsupported_and_malformed_patterns_are_none() {
        assert!(LuaPattern::new("%bxy").is_none());
        assert!(LuaPattern::new("%f[%w]").is_none());
        assert!(LuaPattern::new("(a)%1").is_none());
        assert!(LuaPattern::new("[abc").is_none());
        assert!(LuaPattern::new("abc%").is_none());
    }

    #[test]
    fn literal_specials_are_escaped() {
        assert!(m("a.b", "a-b"));
        assert!(m("^%.$", "."));
        assert!(!m("^%.$", "x"));
        assert!(m("^[.]$", "."));
        assert!(!m("^[.]$", "x"));
        assert!(m("^[]]$", "]"));
    }
}
