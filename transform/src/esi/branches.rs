//! Which branch of an `esi:choose` a page shows, decided as its tokens stream: the first
//! `esi:when` whose test is true, else the first `esi:otherwise`, else none (ESI 1.0 §3.3).
//! The choice is known at the tag of the branch that wins, so what a chosen branch includes
//! can be requested as soon as its tokens are read; an unchosen branch's events are dropped
//! as they come, its includes never requested and its tests never evaluated once a branch is
//! chosen. Only [`Token::Event`], [`Token::VarsStart`] and [`Token::VarsEnd`] of live content
//! come out.
//!
//! Nesting is tracked on a stack of at most [`MAX_NESTING`] open `choose`, `when`,
//! `otherwise` and `vars` elements, so memory stays bounded whatever the template. Content
//! directly inside a choose, outside its branches, is dropped (the specification allows only
//! branches there). An end tag closes the nearest open element of its name and any left open
//! inside it; an end tag with none open is ignored. A `when` or `otherwise` outside a choose
//! is reported ([`Event::Invalid`]) and its content kept, as the page always did.

use std::fmt;

use super::event::{Event, Token};
use super::expr::{Expr, ExprError};
use super::variable::Lookup;

/// How many `choose`, `when`, `otherwise` and `vars` elements may be open at once.
pub const MAX_NESTING: usize = 64;

/// Why the branches of a template cannot be followed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BranchError {
    /// More than [`MAX_NESTING`] elements open at once.
    TooDeep,
    /// The template ended inside an `esi:choose`: its branches cannot be told apart.
    UnclosedChoose,
}

impl fmt::Display for BranchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BranchError::TooDeep => write!(
                f,
                "more than {MAX_NESTING} esi:choose, esi:when, esi:otherwise or esi:vars open at once"
            ),
            BranchError::UnclosedChoose => {
                f.write_str("the template ended inside <esi:choose> (no </esi:choose>)")
            }
        }
    }
}

impl std::error::Error for BranchError {}

/// One `esi:choose`'s decision so far: the one rule [`pick`] and [`Branches`] share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Choice {
    taken: bool,
}

impl Choice {
    /// Whether a `when` is the chosen branch; its test is evaluated only if no branch was
    /// chosen before it.
    pub fn when(&mut self, test: impl FnOnce() -> bool) -> bool {
        let take = !self.taken && test();
        self.taken |= take;
        take
    }

    /// Whether an `otherwise` is the chosen branch.
    pub fn otherwise(&mut self) -> bool {
        let take = !self.taken;
        self.taken = true;
        take
    }
}

/// The branch a choose shows, given its when-tests in order (a test that did not parse is
/// false) and whether it has an otherwise: `Some(i)` for the `i`th when, `Some(tests.len())`
/// for the otherwise, `None` for nothing.
pub fn pick(
    tests: &[Result<Expr, ExprError>],
    otherwise: bool,
    lookup: &dyn Lookup,
) -> Option<usize> {
    let mut choice = Choice::default();
    let when = tests
        .iter()
        .position(|test| choice.when(|| test.as_ref().is_ok_and(|expr| expr.eval(lookup))));
    when.or_else(|| (otherwise && choice.otherwise()).then_some(tests.len()))
}

/// A `when` test as the page evaluates it: parsed, then evaluated, or why it did not parse
/// (the page logs that and takes the branch as not chosen).
pub fn evaluate(test: &str, lookup: &dyn Lookup) -> Result<bool, ExprError> {
    Expr::parse(test).map(|expr| expr.eval(lookup))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// Its content outside the branches is dropped; `live` is whether the choose itself is
    /// in shown content.
    Choose {
        live: bool,
        choice: Choice,
    },
    /// A `when` or `otherwise` (`otherwise`), shown or not.
    Branch {
        otherwise: bool,
        live: bool,
    },
    Vars {
        live: bool,
    },
}

impl Frame {
    fn shows_content(&self) -> bool {
        match *self {
            Frame::Choose { .. } => false,
            Frame::Branch { live, .. } | Frame::Vars { live } => live,
        }
    }
}

/// Follows the branches of one template; see the module documentation.
#[derive(Debug, Default)]
pub struct Branches {
    open: Vec<Frame>,
}

impl Branches {
    pub fn new() -> Branches {
        Branches::default()
    }

    /// Whether what comes now is inside an `esi:when` or `esi:otherwise`: shown or not
    /// depending on the request.
    pub fn in_branch(&self) -> bool {
        self.open.iter().any(|f| matches!(f, Frame::Branch { .. }))
    }

    fn live(&self) -> bool {
        self.open.last().is_none_or(Frame::shows_content)
    }

    fn open(&mut self, frame: Frame) -> Result<(), BranchError> {
        if self.open.len() >= MAX_NESTING {
            return Err(BranchError::TooDeep);
        }
        self.open.push(frame);
        Ok(())
    }

    /// Takes one token; what it leaves of the page goes to `out`. `test` says whether a
    /// `when`'s test is true; it is asked only for a `when` that may still be chosen.
    pub fn push(
        &mut self,
        token: Token,
        out: &mut Vec<Token>,
        test: &mut dyn FnMut(&str) -> bool,
    ) -> Result<(), BranchError> {
        let live = self.live();
        match token {
            Token::Event(event) => {
                if live {
                    out.push(Token::Event(event));
                }
            }
            Token::ChooseStart => self.open(Frame::Choose {
                live,
                choice: Choice::default(),
            })?,
            Token::WhenStart { test: ref t } => {
                let shown = match self.open.last_mut() {
                    Some(Frame::Choose { live, choice }) => *live && choice.when(|| test(t)),
                    _ => {
                        if live {
                            out.push(Token::Event(Event::Invalid(
                                "esi:when outside esi:choose".into(),
                            )));
                        }
                        live
                    }
                };
                self.open(Frame::Branch {
                    otherwise: false,
                    live: shown,
                })?;
            }
            Token::OtherwiseStart => {
                let shown = match self.open.last_mut() {
                    Some(Frame::Choose { live, choice }) => choice.otherwise() && *live,
                    _ => {
                        if live {
                            out.push(Token::Event(Event::Invalid(
                                "esi:otherwise outside esi:choose".into(),
                            )));
                        }
                        live
                    }
                };
                self.open(Frame::Branch {
                    otherwise: true,
                    live: shown,
                })?;
            }
            Token::VarsStart => {
                self.open(Frame::Vars { live })?;
                if live {
                    out.push(Token::VarsStart);
                }
            }
            Token::ChooseEnd => self.close(out, |f| matches!(f, Frame::Choose { .. })),
            Token::WhenEnd => self.close(out, |f| {
                matches!(
                    f,
                    Frame::Branch {
                        otherwise: false,
                        ..
                    }
                )
            }),
            Token::OtherwiseEnd => self.close(out, |f| {
                matches!(
                    f,
                    Frame::Branch {
                        otherwise: true,
                        ..
                    }
                )
            }),
            Token::VarsEnd => self.close(out, |f| matches!(f, Frame::Vars { .. })),
        }
        Ok(())
    }

    /// Closes the nearest open element `is` names and every one inside it; a vars closed
    /// in shown content says so.
    fn close(&mut self, out: &mut Vec<Token>, is: impl Fn(&Frame) -> bool) {
        if let Some(at) = self.open.iter().rposition(is) {
            self.close_from(at, out);
        }
    }

    fn close_from(&mut self, at: usize, out: &mut Vec<Token>) {
        for frame in self.open.drain(at..).rev() {
            if let Frame::Vars { live: true } = frame {
                out.push(Token::VarsEnd);
            }
        }
    }

    /// End of the template. A choose still open fails it, as it always has; a vars, when or
    /// otherwise still open has shown what it held and is closed.
    pub fn finish(&mut self, out: &mut Vec<Token>) -> Result<(), BranchError> {
        if self.open.iter().any(|f| matches!(f, Frame::Choose { .. })) {
            self.open.clear();
            return Err(BranchError::UnclosedChoose);
        }
        self.close_from(0, out);
        Ok(())
    }
}

#[cfg(test)]
#[path = "branches_tests.rs"]
mod tests;
