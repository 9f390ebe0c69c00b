//! A body read as a template in the whole language, for this page's request: the branches
//! its variables choose, `esi:vars` substituted, with the cookies the template's own route
//! lets it read (`esi_cookies`). A test that does not parse is logged once, one warn line
//! naming it, and its `when` is not chosen: a template's mistake never fails the page.

use std::rc::Rc;

use firstbyte_transform::esi::expr::ExprError;
use firstbyte_transform::esi::language::{Broken, Language, Shown};

use crate::esi::fragment::Client;

/// The longest part of a test a log line quotes.
const LOGGED_TEST: usize = 120;

/// The most tests of one template that get a line of their own; the rest are counted in one
/// more, so a template of thousands of bad tests cannot flood the log.
const LOGGED_TESTS: u32 = 8;

/// One template's reading; see the module documentation.
pub(super) struct TemplateText {
    language: Box<Language>,
    /// The cookies its variables may read: its route's `esi_cookies`.
    cookies: Rc<[String]>,
    /// Tests that did not parse so far.
    bad_tests: u32,
}

impl TemplateText {
    pub(super) fn new(cookies: Rc<[String]>) -> TemplateText {
        TemplateText {
            language: Box::new(Language::new()),
            cookies,
            bad_tests: 0,
        }
    }

    /// Takes a chunk of the template's text; appends what is certain to `out`.
    pub(super) fn push(
        &mut self,
        bytes: &[u8],
        client: &Client,
        out: &mut Vec<Shown>,
    ) -> Result<(), Broken> {
        let variables = client.variables(&self.cookies);
        let mut bad = self.bad_tests;
        let read = self
            .language
            .push(bytes, &variables, &mut bad_test(&mut bad), out);
        self.bad_tests = bad;
        read
    }

    /// The end of the template's text.
    pub(super) fn finish(&mut self, client: &Client, out: &mut Vec<Shown>) -> Result<(), Broken> {
        let variables = client.variables(&self.cookies);
        let mut bad = self.bad_tests;
        let ended = self
            .language
            .finish(&variables, &mut bad_test(&mut bad), out);
        if bad > LOGGED_TESTS {
            log::warn!(
                "{} more esi:when tests did not parse: their branches were not chosen",
                bad - LOGGED_TESTS
            );
        }
        self.bad_tests = bad;
        ended
    }
}

/// Logs the first [`LOGGED_TESTS`] tests that do not parse, counting every one in `bad`.
fn bad_test(bad: &mut u32) -> impl FnMut(&str, &ExprError) + '_ {
    move |test, why| {
        *bad += 1;
        if *bad <= LOGGED_TESTS {
            log_bad_test(test, why);
        }
    }
}

/// The one line a test that does not parse is worth. The test is the template's text, never
/// a variable's value.
fn log_bad_test(test: &str, why: &ExprError) {
    let end = test
        .char_indices()
        .map(|(i, c)| i + c.len_utf8())
        .take_while(|&end| end <= LOGGED_TEST)
        .last()
        .unwrap_or(0);
    let cut = if end < test.len() { "…" } else { "" };
    log::warn!(
        "esi:when test \"{}{cut}\" does not parse ({why}): the branch is not chosen",
        test[..end].escape_debug()
    );
}
