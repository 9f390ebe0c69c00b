//! A template in the whole language, read as its bytes stream, for one request: its tokens
//! ([`Tokenizer::push_tokens`]), the branches the request's variables choose ([`Branches`]),
//! and the text of each `esi:vars` with its references replaced by their values escaped for
//! HTML ([`VarsText`]). What comes out are the events [`Tokenizer::push`] gives, so the one
//! who composes places them as before; each says whether it comes from inside a branch
//! (it depends on the request, so a list of a template's includes kept for the next request
//! must leave it out).
//!
//! Every stage is split invariant, linear and bounded, and so is this: tokens are passed on
//! one at a time as each chunk gives them, a `when`'s test is evaluated once, when its tag
//! is read (so a chosen branch's includes come out before the rest of the template is
//! read), and a vars' text held is at most one unfinished reference. A reference is never
//! joined across an event: the text held is finished before any event inside the vars, so
//! the text comes out in its place.

use std::fmt;

use bytes::Bytes;

use super::branches::{BranchError, Branches};
use super::expr::{Expr, ExprError, MAX_PATTERNS};
use super::substitute::{VarsText, MAX_VALUES_PER_READ};
use super::variable::Lookup;
use super::{Event, Token, Tokenizer, Unclosed};

/// Why a template in the whole language is broken: it fails as a body that breaks off does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broken {
    Unclosed(Unclosed),
    Branches(BranchError),
    /// Substituted values would add more than [`MAX_VALUES_PER_READ`] bytes to one read.
    VarsTooLarge,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Broken::Unclosed(u) => u.fmt(f),
            Broken::Branches(b) => b.fmt(f),
            Broken::VarsTooLarge => write!(
                f,
                "esi:vars values would add more than {MAX_VALUES_PER_READ} bytes to one read"
            ),
        }
    }
}

impl std::error::Error for Broken {}

/// One event of the page, and whether it is inside an `esi:when` or `esi:otherwise`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    pub event: Event,
    pub in_branch: bool,
}

/// One template's reading; see the module documentation.
#[derive(Debug, Default)]
pub struct Language {
    tokenizer: Tokenizer,
    branches: Branches,
    /// The open `esi:vars` (nested ones count) and the text of the innermost so far.
    vars_open: usize,
    vars: VarsText,
    /// Scratch, kept to spare an allocation per chunk.
    tokens: Vec<Token>,
    live: Vec<Token>,
    /// `matches` patterns this template has compiled.
    patterns_used: usize,
}

impl Language {
    pub fn new() -> Language {
        Language::default()
    }

    /// Bytes held back: an unfinished tag, an unfinished reference.
    pub fn held(&self) -> usize {
        self.tokenizer.held() + self.vars.held()
    }

    /// Takes a chunk; appends what is certain to `out`. A `when` whose test does not parse
    /// is not chosen, and `bad_test` is told (once per `when`, only if no branch before it
    /// was chosen).
    pub fn push(
        &mut self,
        input: &[u8],
        lookup: &dyn Lookup,
        bad_test: &mut dyn FnMut(&str, &ExprError),
        out: &mut Vec<Shown>,
    ) -> Result<(), Broken> {
        self.vars.start_read();
        let mut tokens = std::mem::take(&mut self.tokens);
        let read = self.tokenizer.push_tokens(input, &mut tokens);
        // What was read before a tag too long is the page's, as the plain reading gives it.
        let followed = self.follow(&mut tokens, lookup, bad_test, out);
        self.tokens = tokens;
        read.map_err(Broken::Unclosed)?;
        followed?;
        self.vars_within_bound()
    }

    fn vars_within_bound(&self) -> Result<(), Broken> {
        match self.vars.over() {
            true => Err(Broken::VarsTooLarge),
            false => Ok(()),
        }
    }

    /// The end of the template: what is left open breaks it, else what is held comes out.
    pub fn finish(
        &mut self,
        lookup: &dyn Lookup,
        bad_test: &mut dyn FnMut(&str, &ExprError),
        out: &mut Vec<Shown>,
    ) -> Result<(), Broken> {
        self.vars.start_read();
        let mut tokens = std::mem::take(&mut self.tokens);
        self.tokenizer
            .finish_tokens(&mut tokens)
            .map_err(Broken::Unclosed)?;
        self.follow(&mut tokens, lookup, bad_test, out)?;
        let mut live = std::mem::take(&mut self.live);
        let ended = self.branches.finish(&mut live);
        self.shown(&mut live, false, lookup, out);
        self.live = live;
        ended.map_err(Broken::Branches)?;
        self.vars_within_bound()
    }

    fn follow(
        &mut self,
        tokens: &mut Vec<Token>,
        lookup: &dyn Lookup,
        bad_test: &mut dyn FnMut(&str, &ExprError),
        out: &mut Vec<Shown>,
    ) -> Result<(), Broken> {
        let mut patterns = MAX_PATTERNS.saturating_sub(self.patterns_used);
        let patterns_before = patterns;
        let mut test = |test: &str| match Expr::parse_within(test, &mut patterns) {
            Ok(expr) => expr.eval(lookup),
            Err(e) => {
                bad_test(test, &e);
                false
            }
        };
        let mut live = std::mem::take(&mut self.live);
        let mut result = Ok(());
        for token in tokens.drain(..) {
            // One at a time: whether an event is in a branch is known only between tokens.
            if let Err(e) = self.branches.push(token, &mut live, &mut test) {
                result = Err(Broken::Branches(e));
                break;
            }
            let in_branch = self.branches.in_branch();
            self.shown(&mut live, in_branch, lookup, out);
        }
        self.patterns_used += patterns_before - patterns;
        self.live = live;
        result
    }

    /// The live tokens as events, `esi:vars` text substituted.
    fn shown(
        &mut self,
        live: &mut Vec<Token>,
        in_branch: bool,
        lookup: &dyn Lookup,
        out: &mut Vec<Shown>,
    ) {
        for token in live.drain(..) {
            let event = match token {
                Token::Event(Event::Text(text)) if self.vars_open > 0 => {
                    let mut made = Vec::new();
                    self.vars.push(&text, lookup, &mut made);
                    text_event(made)
                }
                Token::Event(event) => {
                    let held = self.end_vars_text(lookup);
                    out.extend(held.map(|event| Shown { event, in_branch }));
                    Some(event)
                }
                Token::VarsStart => {
                    let held = self.end_vars_text(lookup);
                    self.vars_open += 1;
                    held
                }
                Token::VarsEnd => {
                    let held = self.end_vars_text(lookup);
                    self.vars_open = self.vars_open.saturating_sub(1);
                    held
                }
                // Branches gives only events and vars marks.
                _ => None,
            };
            out.extend(event.map(|event| Shown { event, in_branch }));
        }
    }

    /// The text a vars was holding, at the end of a run of its text.
    fn end_vars_text(&mut self, lookup: &dyn Lookup) -> Option<Event> {
        if self.vars_open == 0 {
            return None;
        }
        let mut made = Vec::new();
        self.vars.finish(lookup, &mut made);
        text_event(made)
    }
}

fn text_event(bytes: Vec<u8>) -> Option<Event> {
    (!bytes.is_empty()).then(|| Event::Text(Bytes::from(bytes)))
}

#[cfg(test)]
#[path = "language_tests.rs"]
mod tests;
