//! ESI expressions and variable references on arbitrary text: parsing never panics, an
//! error always says why, what parses evaluates the same way twice, and `!( … )` is the
//! negation of what it wraps.
//!
//! Input layout: the whole input, read as UTF-8 with invalid bytes replaced, is the test.

use crate::esi::expr::{Expr, MAX_DEPTH, MAX_EXPRESSION};
use crate::esi::variable::{self, Parsed, Value, MAX_REFERENCE};

/// Values for the variables a fuzzed test may name: a text, a number, a boolean, a list.
fn lookup(name: &str, key: Option<&str>) -> Option<Value> {
    match (name, key) {
        ("A", None) => Some(Value::Text("abc".into())),
        ("N", _) => Some(Value::Text("42".into())),
        ("B", Some(k)) => Some(Value::Bool(k == "x")),
        ("L", None) => Some(Value::List(vec!["a".into(), "B".into()])),
        _ => None,
    }
}

/// Panics when an invariant breaks.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match variable::parse(&text) {
        Parsed::Reference(_, len) => assert!(len <= text.len() && len <= MAX_REFERENCE),
        Parsed::Incomplete => assert!(text.len() < MAX_REFERENCE, "incomplete past the bound"),
        Parsed::Not => {}
    }
    match Expr::parse(&text) {
        Ok(expr) => {
            assert!(
                text.len() <= MAX_EXPRESSION,
                "an expression past the bound parsed"
            );
            let value = expr.eval(&lookup);
            assert_eq!(value, expr.eval(&lookup), "evaluation is not deterministic");
            if let Ok(negated) = Expr::parse(&format!("!({text})")) {
                assert_eq!(negated.eval(&lookup), !value, "!( ) is no negation");
            }
        }
        Err(e) => assert!(!e.to_string().is_empty(), "an error without a reason"),
    }
    // Nesting is bounded however deep the input asks for.
    let deep = format!("{}{text}", "(".repeat(MAX_DEPTH + 1));
    assert!(Expr::parse(&deep).is_err(), "nesting past the bound parsed");
}
