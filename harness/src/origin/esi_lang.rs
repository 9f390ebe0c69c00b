//! The dev origin's template in the whole ESI language, and the fragments it names, each
//! request of which the origin logs, so a test can see which branches' includes were asked
//! for and which never were.
//!
//! - `/esi/lang-template?tag=X&pause_ms=P&delay_ms=D`: the page of [`lang_template`]: a
//!   header chosen by the cookie `group` (`beta` or not), a fragment by `Accept-Language`
//!   (`fr`, `de`, else `en`), an `esi:vars` greeting with defaults (`QUERY_STRING{name}`,
//!   `HTTP_COOKIE{lang}`), and a view chosen by the query (`view=list|grid`, else text).
//!   The template is sent in two pieces, `P` ms apart (default 0), the second holding its
//!   last choose; each fragment answers after `D` ms (default 0).
//! - `/esi/lang-fragment?name=N&tag=X&delay_ms=D`: after D ms, `<div class="N">N</div>`;
//!   its `name` is logged under its `tag` ([`lang_requests`]) as the request arrives.

use std::time::Duration;

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue};
use hyper::Response;
use tokio::time::sleep;

use super::respond::{full, paced_body, typed, Body};
use super::text::{query_u64, BadRequest, Query};

const MAX_DELAY_MS: u64 = 60_000;

/// The template's two pieces: its last choose is in the second. `tag` and `delay_ms` go
/// into every include's `src`.
pub fn lang_template(tag: &str, delay_ms: u64) -> [String; 2] {
    let src =
        |name: &str| format!("lang-fragment?name={name}&amp;tag={tag}&amp;delay_ms={delay_ms}");
    let first = format!(
        concat!(
            "<!doctype html><title>ESI language</title>\n",
            "<esi:choose>",
            "<esi:when test=\"$(HTTP_COOKIE{{group}}) == 'beta'\">",
            "<esi:include src=\"{header_beta}\"/></esi:when>",
            "<esi:otherwise><esi:include src=\"{header}\"/></esi:otherwise>",
            "</esi:choose>\n",
            "<esi:choose>",
            "<esi:when test=\"$(HTTP_ACCEPT_LANGUAGE{{fr}})\"><esi:include src=\"{fr}\"/></esi:when>",
            "<esi:when test=\"$(HTTP_ACCEPT_LANGUAGE{{de}})\"><esi:include src=\"{de}\"/></esi:when>",
            "<esi:otherwise><esi:include src=\"{en}\"/></esi:otherwise>",
            "</esi:choose>\n",
            "<esi:vars><p class=\"greeting\" title=\"$(QUERY_STRING{{name}}|'guest')\">",
            "Hello, $(QUERY_STRING{{name}}|'guest') ($(HTTP_COOKIE{{lang}}|'en'))</p></esi:vars>\n",
        ),
        header_beta = src("header-beta"),
        header = src("header"),
        fr = src("fr"),
        de = src("de"),
        en = src("en"),
    );
    let second = format!(
        concat!(
            "<esi:choose>",
            "<esi:when test=\"$(QUERY_STRING{{view}}) == 'list'\"><esi:include src=\"{list}\"/></esi:when>",
            "<esi:when test=\"$(QUERY_STRING{{view}}) == 'grid'\"><esi:include src=\"{grid}\"/></esi:when>",
            "<esi:otherwise><p>no view</p></esi:otherwise>",
            "</esi:choose>\n</html>\n",
        ),
        list = src("list"),
        grid = src("grid"),
    );
    [first, second]
}

/// The body of fragment `name`.
pub fn lang_fragment_body(name: &str) -> String {
    format!("<div class=\"{name}\">{name}</div>")
}

/// The language template's page, given the fragments and greeting its request chose.
pub fn lang_page(header: &str, lang: &str, greeting: &str, view: Option<&str>) -> String {
    let view = view.map_or("<p>no view</p>".to_string(), lang_fragment_body);
    format!(
        concat!(
            "<!doctype html><title>ESI language</title>\n{}\n{}\n",
            "{}\n{}\n</html>\n"
        ),
        lang_fragment_body(header),
        lang_fragment_body(lang),
        greeting,
        view
    )
}

pub(crate) fn template(query: &Query) -> Result<Response<Body>, BadRequest> {
    let tag = tag_of(query)?;
    let pause = query_u64(query, "pause_ms", 0, 0, MAX_DELAY_MS)?;
    let delay = query_u64(query, "delay_ms", 0, 0, MAX_DELAY_MS)?;
    let mut pieces = lang_template(&tag, delay).into_iter();
    let body = paced_body(2, Duration::from_millis(pause), false, move |_| {
        Bytes::from(pieces.next().unwrap_or_default())
    });
    let mut resp = typed(body, "text/html; charset=utf-8");
    resp.headers_mut().insert(
        HeaderName::from_static("surrogate-control"),
        HeaderValue::from_static("content=\"ESI/1.0\""),
    );
    Ok(resp)
}

pub(crate) async fn fragment(query: &Query) -> Result<Response<Body>, BadRequest> {
    let tag = tag_of(query)?;
    let name = query.get("name").unwrap_or_default();
    if !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') {
        return Err(BadRequest("name must be letters, digits and -".into()));
    }
    let delay = query_u64(query, "delay_ms", 0, 0, MAX_DELAY_MS)?;
    log().entry(tag).or_default().push(name.to_string());
    sleep(Duration::from_millis(delay)).await;
    Ok(typed(
        full(lang_fragment_body(name)),
        "text/html; charset=utf-8",
    ))
}

fn tag_of(query: &Query) -> Result<String, BadRequest> {
    match query.get("tag") {
        Some(t) if t.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-') => Ok(t.into()),
        _ => Err(BadRequest("tag must be letters, digits and -".into())),
    }
}

type Log = std::collections::HashMap<String, Vec<String>>;

/// The fragments of `tag` requested so far, by name, in the order they arrived.
pub fn lang_requests(tag: &str) -> Vec<String> {
    log().get(tag).cloned().unwrap_or_default()
}

fn log() -> std::sync::MutexGuard<'static, Log> {
    static LOG: std::sync::OnceLock<std::sync::Mutex<Log>> = std::sync::OnceLock::new();
    LOG.get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
