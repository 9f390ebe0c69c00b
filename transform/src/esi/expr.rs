//! ESI 1.0 expressions, the `test` of an `esi:when`: parsed once, when the tag is read,
//! evaluated against the request's variables through [`Lookup`].
//!
//! The language (ESI Language Specification 1.0, W3C Note, 4 August 2001, §3 "ESI
//! Expressions", with `fastly/esi`'s `has`, `has_i`, `matches` and `matches_i`):
//!
//! - operands: single-quoted strings (`'…'`, `\'` and `\\` inside), numbers (`42`, `-1.5`),
//!   variables (`$(NAME)`, `$(NAME{key})`, either with `|'default'`);
//! - comparison: `==`, `!=`, `<`, `<=`, `>`, `>=`. As the specification says, when both
//!   sides are numbers they compare as numbers, otherwise as strings (byte by byte): `'10' >
//!   '9'` is true, `'10a' > '9'` false;
//! - `a has 'x'`: a list or dictionary variable (`$(HTTP_ACCEPT_LANGUAGE)` as a list, a
//!   cookie dictionary's names) holds `x`, or a text contains it; `has_i` ignores ASCII case;
//! - `a matches 'regex'` (`matches_i`, ignoring case): the `regex` crate's syntax, which has no
//!   backtracking and runs in time linear in the text; the pattern is compiled here, once,
//!   within [`MAX_REGEX_SIZE`], so a pattern must be a literal;
//! - logic: `!`, `&`, `|` and parentheses. From tightest to loosest: a comparison, `!`, `&`,
//!   `|`; so `!$(a)=='b'` is `!($(a)=='b')`. Write parentheses where it matters;
//! - an operand on its own is true when it is a true boolean, or a non-empty text or list
//!   (an absent variable is empty, so false).
//!
//! An expression is at most [`MAX_EXPRESSION`] bytes and nests at most [`MAX_DEPTH`] deep;
//! past either, or not well formed, it is an [`ExprError`] that names the problem (the page
//! takes the `when` as false and logs it once).

use std::cmp::Ordering;
use std::fmt;

use regex::{Regex, RegexBuilder};

use super::variable::{self, Lookup, Parsed, Quoted, Value};

/// The longest expression, in bytes.
pub const MAX_EXPRESSION: usize = 4096;

/// How deep parentheses and `!` nest.
pub const MAX_DEPTH: usize = 32;

/// The most memory one compiled pattern may take (the `regex` crate's size limit).
pub const MAX_REGEX_SIZE: usize = 256 * 1024;

/// The most `matches` patterns one template compiles ([`Expr::parse_within`]): compiling
/// costs far more per byte than reading, so a template of thousands of `matches` tests would
/// otherwise spend seconds of CPU on every request that reads it.
pub const MAX_PATTERNS: usize = 64;

/// Why a test is no expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError(String);

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ExprError {}

fn error<T>(why: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError(why.into()))
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub struct Expr(Node);

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Number(f64),
    Variable {
        name: String,
        key: Option<String>,
        default: Option<String>,
    },
    Not(Box<Node>),
    /// A chain of `&` (or `|`) is one node, however long: evaluating it (and dropping it)
    /// then recurses only as deep as the parentheses and `!` nest, never once per operand.
    And(Vec<Node>),
    Or(Vec<Node>),
    Compare(Box<Node>, Comparison, Box<Node>),
    Has {
        left: Box<Node>,
        right: Box<Node>,
        ignore_case: bool,
    },
    Matches(Box<Node>, Box<Regex>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Comparison {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Expr {
    /// Parses a `test` as written (entities already decoded).
    pub fn parse(text: &str) -> Result<Expr, ExprError> {
        let mut unbounded = usize::MAX;
        Expr::parse_within(text, &mut unbounded)
    }

    /// Parses a `test`, compiling at most `patterns` more `matches` patterns (counted down):
    /// past them a `matches` is an error, so its `when` is not chosen.
    pub fn parse_within(text: &str, patterns: &mut usize) -> Result<Expr, ExprError> {
        if text.len() > MAX_EXPRESSION {
            return error(format!(
                "expression of {} bytes, more than {MAX_EXPRESSION}",
                text.len()
            ));
        }
        let mut parser = Parser {
            text,
            at: 0,
            patterns,
        };
        let node = parser.or(0)?;
        parser.skip_space();
        if parser.at < text.len() {
            return error(format!(
                "unexpected {:?} at byte {}",
                parser.rest_excerpt(),
                parser.at
            ));
        }
        Ok(Expr(node))
    }

    /// Whether the expression is true for these variables.
    pub fn eval(&self, lookup: &dyn Lookup) -> bool {
        truth(&value(&self.0, lookup))
    }
}

struct Parser<'a, 'b> {
    text: &'a str,
    at: usize,
    /// How many more patterns may be compiled.
    patterns: &'b mut usize,
}

impl<'a> Parser<'a, '_> {
    fn rest(&self) -> &'a str {
        &self.text[self.at..]
    }

    fn rest_excerpt(&self) -> String {
        self.rest().chars().take(20).collect()
    }

    fn skip_space(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    /// Takes `token` if it comes next (after white space).
    fn eat(&mut self, token: &str) -> bool {
        self.skip_space();
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    /// Takes the word `word` if it comes next, whole (not the start of a longer word).
    fn eat_word(&mut self, word: &str) -> bool {
        self.skip_space();
        let rest = self.rest();
        let whole = rest.starts_with(word)
            && !rest[word.len()..].starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_');
        if whole {
            self.at += word.len();
        }
        whole
    }

    fn deeper(depth: usize) -> Result<usize, ExprError> {
        if depth >= MAX_DEPTH {
            return error(format!("nested more than {MAX_DEPTH} deep"));
        }
        Ok(depth + 1)
    }

    fn or(&mut self, depth: usize) -> Result<Node, ExprError> {
        let mut terms = vec![self.and(depth)?];
        while self.eat("|") {
            terms.push(self.and(depth)?);
        }
        Ok(match terms.len() {
            1 => terms.swap_remove(0),
            _ => Node::Or(terms),
        })
    }

    fn and(&mut self, depth: usize) -> Result<Node, ExprError> {
        let mut terms = vec![self.not(depth)?];
        while self.eat("&") {
            terms.push(self.not(depth)?);
        }
        Ok(match terms.len() {
            1 => terms.swap_remove(0),
            _ => Node::And(terms),
        })
    }

    fn not(&mut self, depth: usize) -> Result<Node, ExprError> {
        self.skip_space();
        if self.rest().starts_with('!') && !self.rest().starts_with("!=") {
            self.at += 1;
            let inner = self.not(Self::deeper(depth)?)?;
            return Ok(Node::Not(Box::new(inner)));
        }
        self.comparison(depth)
    }

    fn comparison(&mut self, depth: usize) -> Result<Node, ExprError> {
        let left = self.operand(depth)?;
        // Two-byte operators first, so that `<=` is not `<` then `=`.
        for (token, op) in [
            ("==", Comparison::Eq),
            ("!=", Comparison::Ne),
            ("<=", Comparison::Le),
            (">=", Comparison::Ge),
            ("<", Comparison::Lt),
            (">", Comparison::Gt),
        ] {
            if self.eat(token) {
                let right = self.operand(depth)?;
                return Ok(Node::Compare(Box::new(left), op, Box::new(right)));
            }
        }
        for (word, ignore_case) in [("has_i", true), ("has", false)] {
            if self.eat_word(word) {
                let right = self.operand(depth)?;
                return Ok(Node::Has {
                    left: Box::new(left),
                    right: Box::new(right),
                    ignore_case,
                });
            }
        }
        for (word, ignore_case) in [("matches_i", true), ("matches", false)] {
            if self.eat_word(word) {
                self.skip_space();
                let Quoted::String(pattern, len) = variable::quoted(self.rest()) else {
                    return error(format!("{word} needs a quoted pattern at byte {}", self.at));
                };
                if *self.patterns == 0 {
                    return error(format!(
                        "more than {MAX_PATTERNS} matches patterns in one template"
                    ));
                }
                *self.patterns -= 1;
                let regex = RegexBuilder::new(&pattern)
                    .case_insensitive(ignore_case)
                    .size_limit(MAX_REGEX_SIZE)
                    .dfa_size_limit(MAX_REGEX_SIZE)
                    .build()
                    .or_else(|e| error(format!("pattern {pattern:?}: {e}")))?;
                self.at += len;
                return Ok(Node::Matches(Box::new(left), Box::new(regex)));
            }
        }
        Ok(left)
    }

    fn operand(&mut self, depth: usize) -> Result<Node, ExprError> {
        self.skip_space();
        let rest = self.rest();
        let at = self.at;
        match rest.as_bytes().first() {
            None => error("the expression ends where an operand was expected"),
            Some(b'(') => {
                self.at += 1;
                let inner = self.or(Self::deeper(depth)?)?;
                if !self.eat(")") {
                    return error(format!("no ) for the ( at byte {at}"));
                }
                Ok(inner)
            }
            Some(b'\'') => match variable::quoted(rest) {
                Quoted::String(s, len) => {
                    self.at += len;
                    Ok(Node::Text(s.into_owned()))
                }
                _ => error(format!("no closing quote for the string at byte {at}")),
            },
            Some(b'$') => match variable::parse(rest) {
                Parsed::Reference(r, len) => {
                    self.at += len;
                    Ok(Node::Variable {
                        name: r.name.to_string(),
                        key: r.key.map(str::to_string),
                        default: r.default.map(|d| d.into_owned()),
                    })
                }
                _ => error(format!("malformed variable at byte {at}")),
            },
            Some(b'-' | b'0'..=b'9') => {
                let len = rest
                    .char_indices()
                    .skip(1)
                    .find(|&(_, c)| !(c.is_ascii_digit() || c == '.'))
                    .map_or(rest.len(), |(i, _)| i);
                let number = rest[..len]
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .map_or_else(|| error(format!("bad number {:?}", &rest[..len])), Ok)?;
                self.at += len;
                Ok(Node::Number(number))
            }
            Some(_) => error(format!("unexpected {:?} at byte {at}", self.rest_excerpt())),
        }
    }
}

/// An operand's value, or a sub-expression's as a boolean.
fn value(node: &Node, lookup: &dyn Lookup) -> Value {
    match node {
        Node::Text(s) => Value::Text(s.clone()),
        Node::Number(n) => Value::Text(n.to_string()),
        Node::Variable { name, key, default } => variable::Reference {
            name,
            key: key.as_deref(),
            default: default.as_deref().map(Into::into),
        }
        .resolve(lookup)
        .unwrap_or(Value::Text(String::new())),
        _ => Value::Bool(test(node, lookup)),
    }
}

fn test(node: &Node, lookup: &dyn Lookup) -> bool {
    match node {
        Node::Not(inner) => !test(inner, lookup),
        Node::And(terms) => terms.iter().all(|t| test(t, lookup)),
        Node::Or(terms) => terms.iter().any(|t| test(t, lookup)),
        Node::Compare(a, op, b) => {
            let ordering = compare(value(a, lookup), value(b, lookup));
            match op {
                Comparison::Eq => ordering == Some(Ordering::Equal),
                Comparison::Ne => ordering != Some(Ordering::Equal),
                Comparison::Lt => ordering == Some(Ordering::Less),
                Comparison::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
                Comparison::Gt => ordering == Some(Ordering::Greater),
                Comparison::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
            }
        }
        Node::Has {
            left,
            right,
            ignore_case,
        } => {
            let needle = value(right, lookup);
            let needle = needle.as_text();
            let same = |a: &str| match ignore_case {
                true => a.eq_ignore_ascii_case(&needle),
                false => a == needle,
            };
            match value(left, lookup) {
                Value::List(items) => items.iter().any(|i| same(i)),
                other if *ignore_case => other
                    .as_text()
                    .to_ascii_lowercase()
                    .contains(&needle.to_ascii_lowercase()),
                other => other.as_text().contains(needle.as_ref()),
            }
        }
        Node::Matches(subject, regex) => regex.is_match(&value(subject, lookup).as_text()),
        operand => truth(&value(operand, lookup)),
    }
}

/// ESI 1.0 §3: numerically when both sides are numbers, else as strings. NaN never gets
/// here (only finite numbers are taken as numbers).
fn compare(a: Value, b: Value) -> Option<Ordering> {
    let (a, b) = (a.as_text(), b.as_text());
    match (number(&a), number(&b)) {
        (Some(x), Some(y)) => x.partial_cmp(&y),
        _ => Some(a.as_bytes().cmp(b.as_bytes())),
    }
}

fn number(text: &str) -> Option<f64> {
    let t = text.trim();
    let numeric = !t.is_empty()
        && t.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'));
    numeric
        .then(|| t.parse::<f64>().ok())
        .flatten()
        .filter(|n| n.is_finite())
}

fn truth(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Text(s) => !s.is_empty(),
        Value::List(items) => !items.is_empty(),
    }
}

#[cfg(test)]
#[path = "expr_tests.rs"]
mod tests;
