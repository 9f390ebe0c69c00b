//! A route's transform chain: which stages run with which parameters, on which responses
//! (read from the route's `transforms`, stage, `compress`, `content_types`, `statuses` and
//! limit keys), and, for one response, the plan — decode what the origin compressed, run
//! the stages, encode for what the client accepts. Everything else passes through untouched.
//! The stages themselves, and the `transforms` list that names them, are `stage`'s.

use firstbyte_transform::codec::{negotiate, Decoder, Encoder, Encoding, Limits};
use firstbyte_transform::dictionary::DictionaryCoding;
use firstbyte_transform::{Pipeline, Transform, TransformError};

use crate::error::{take, ConfigError};
use crate::value::positive;

mod stage;

use stage::parse_stages;
pub use stage::{
    HtmlSpec, InsertSpec, PositionSpec, RemoveAttributeSpec, ReplaceSpec, SetAttributeSpec, Stage,
    UrlRewriteSpec,
};

/// The transforms a route applies, as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct Chain {
    /// Content stages, in the order they see the body.
    pub stages: Vec<Stage>,
    /// Encodings offered to clients, in order of preference; empty: never encode.
    pub compress: Vec<Encoding>,
    /// Media types (`text/html`) or families (`text/*`) the chain applies to.
    pub content_types: Vec<String>,
    pub statuses: Statuses,
    pub limits: Limits,
}

/// Which statuses a chain applies to: `2xx` by default; `200`, `200-299`, `4xx`, comma lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statuses(Vec<(u16, u16)>);

impl Default for Statuses {
    fn default() -> Self {
        Statuses(vec![(200, 299)])
    }
}

impl Statuses {
    pub fn parse(text: &str) -> Result<Statuses, String> {
        let mut ranges = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let range = if let Some(class) = part.strip_suffix("xx") {
                match class.parse::<u16>() {
                    Ok(c @ 1..=5) => (c * 100, c * 100 + 99),
                    _ => return Err(format!("'{part}' is not a status class like 2xx")),
                }
            } else if let Some((a, b)) = part.split_once('-') {
                match (status(a), status(b)) {
                    (Some(a), Some(b)) if a <= b => (a, b),
                    _ => return Err(format!("'{part}' is not a status range like 200-299")),
                }
            } else {
                let s = status(part).ok_or_else(|| format!("'{part}' is not a status code"))?;
                (s, s)
            };
            ranges.push(range);
        }
        if ranges.is_empty() {
            return Err("lists no status".into());
        }
        Ok(Statuses(ranges))
    }

    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|(a, b)| (*a..=*b).contains(&status))
    }
}

fn status(text: &str) -> Option<u16> {
    text.trim().parse().ok().filter(|s| (100..=599).contains(s))
}

/// Media types a chain applies to when the route does not say: HTML for an html stage,
/// otherwise text and the textual application types.
pub fn default_content_types(stages: &[Stage]) -> Vec<String> {
    if stages.iter().any(|s| matches!(s, Stage::Html(_))) {
        vec!["text/html".into()]
    } else {
        [
            "text/*",
            "application/json",
            "application/javascript",
            "application/xml",
            "image/svg+xml",
        ]
        .map(String::from)
        .to_vec()
    }
}

fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn type_matches(pattern: &str, media: &str) -> bool {
    match pattern.strip_suffix("/*") {
        Some(family) => media
            .split_once('/')
            .is_some_and(|(f, _)| f.eq_ignore_ascii_case(family)),
        None => pattern.eq_ignore_ascii_case(media),
    }
}

/// The head of one backend response, as far as it decides whether and how to transform
/// the body (see [`Chain::plan`]): status and the content headers, with the client's
/// `Accept-Encoding` from its request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ResponseHead<'a> {
    pub status: u16,
    pub content_type: Option<&'a str>,
    pub content_encoding: Option<&'a str>,
    pub cache_control: Option<&'a str>,
    /// The client's `Accept-Encoding`, not the one sent to the backend.
    pub accept_encoding: Option<&'a str>,
}

impl<'a> ResponseHead<'a> {
    /// A response of this status, media type and coding, for a client that sent this
    /// `Accept-Encoding`, with no `Cache-Control`.
    pub fn new(
        status: u16,
        content_type: &'a str,
        content_encoding: Option<&'a str>,
        accept_encoding: Option<&'a str>,
    ) -> ResponseHead<'a> {
        ResponseHead {
            status,
            content_type: Some(content_type),
            content_encoding,
            cache_control: None,
            accept_encoding,
        }
    }
}

/// What to do to one response body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub decode: Option<Encoding>,
    /// Whether the route's content stages run (false: only the coding changes).
    pub stages: bool,
    pub encode: Encoding,
    /// Whether the response depends on the client's Accept-Encoding (`Vary`).
    pub varies_by_encoding: bool,
}

impl Chain {
    /// Codings worth asking the origin for when a content stage needs plain bytes. Brotli
    /// is left out: decoding it needs the sender's window (4 MiB and more) in wasm memory.
    /// A br body an origin sends anyway is still decoded.
    pub const DECODABLE: [Encoding; 2] = [Encoding::Gzip, Encoding::Deflate];

    /// Whether the chain rewrites content (not only its coding): such a route asks the
    /// origin for whole, decodable bodies.
    pub fn has_stages(&self) -> bool {
        !self.stages.is_empty()
    }

    /// `None`: the response passes through untouched.
    pub fn plan(&self, head: ResponseHead) -> Option<Plan> {
        self.plan_for(head, false)
    }

    /// The plan that re-makes a response the chain covers even where [`Chain::plan`] leaves
    /// it alone (compression alone, on a body the origin already coded or for a client that
    /// takes none of `compress`): the origin's coding undone, the client's coding from
    /// `compress` applied (identity when it takes none). A body kept as a compression
    /// dictionary must be read as the client decodes it, whatever it arrived as. `None`
    /// where the chain does not cover it or cannot undo its coding.
    pub fn recode(&self, head: ResponseHead) -> Option<Plan> {
        self.plan_for(head, true)
    }

    /// `always`: [`Chain::recode`]; else [`Chain::plan`].
    fn plan_for(&self, head: ResponseHead, always: bool) -> Option<Plan> {
        if !self.statuses.contains(head.status) {
            return None;
        }
        let media = media_type(head.content_type?);
        if !self.content_types.iter().any(|p| type_matches(p, &media)) {
            return None;
        }
        let origin = match head.content_encoding.map(str::trim) {
            None | Some("") => Encoding::Identity,
            // A coding this app cannot undo: leave the body alone.
            Some(value) => Encoding::from_content_encoding(value)?,
        };
        let varies_by_encoding = !self.compress.is_empty();
        let chosen = negotiate(head.accept_encoding, &self.compress);
        if self.stages.is_empty() {
            // Compression alone: only an uncompressed body is worth encoding, unless it must
            // be re-made anyway.
            let worth = origin == Encoding::Identity && chosen != Encoding::Identity;
            return (always || worth).then_some(Plan {
                decode: (origin != Encoding::Identity).then_some(origin),
                stages: false,
                encode: chosen,
                varies_by_encoding: varies_by_encoding || origin != Encoding::Identity,
            });
        }
        let encode = if self.compress.is_empty() && origin != Encoding::Identity {
            // Nothing configured: give the client back the coding the origin chose, if the
            // client takes it.
            negotiate(head.accept_encoding, &[origin])
        } else {
            chosen
        };
        Some(Plan {
            decode: (origin != Encoding::Identity).then_some(origin),
            stages: true,
            encode,
            varies_by_encoding: varies_by_encoding || origin != Encoding::Identity,
        })
    }
}

impl Plan {
    /// Undoes a coding the client cannot read, and nothing else.
    pub fn decode_only(origin: Encoding) -> Plan {
        Plan {
            decode: Some(origin),
            stages: false,
            encode: Encoding::Identity,
            varies_by_encoding: true,
        }
    }

    /// The stages for one response, in order: decoder, the chain's content stages (when the
    /// plan runs them), encoder. Without a chain, decoding uses the default limits.
    pub fn pipeline(&self, chain: Option<&Chain>) -> Result<Pipeline, TransformError> {
        self.pipeline_with(chain, None, None)
    }

    /// [`Plan::pipeline`] with two additions a compression dictionary needs: `tap` sees the
    /// body exactly as the client decodes it (after the content stages, before any
    /// encoder), and `encoder`, when given, replaces the plan's own.
    pub fn pipeline_with(
        &self,
        chain: Option<&Chain>,
        tap: Option<Box<dyn Transform>>,
        encoder: Option<Box<dyn Transform>>,
    ) -> Result<Pipeline, TransformError> {
        let mut stages: Vec<Box<dyn Transform>> = Vec::new();
        if let Some(encoding) = self.decode {
            let limits = chain.map_or_else(Limits::default, |c| c.limits);
            stages.push(Box::new(Decoder::new(encoding, limits)?));
        }
        if let Some(chain) = chain.filter(|_| self.stages) {
            for stage in &chain.stages {
                stages.push(stage.build()?);
            }
        }
        stages.extend(tap);
        match encoder {
            Some(encoder) => stages.push(encoder),
            None if self.encode != Encoding::Identity => {
                stages.push(Box::new(Encoder::new(self.encode, None)?));
            }
            None => {}
        }
        Ok(Pipeline::new(stages))
    }
}

/// Parses `br,gzip` into encodings offered to clients. `dcb` and `dcz` (Brotli and
/// Zstandard against a dictionary the client holds, RFC 9842) are accepted and left out:
/// they are not [`Encoding`]s the chain negotiates, they apply only where a dictionary does
/// (the route's dictionary settings, `crate::dictionary`), and the rest of `compress` is
/// their fallback.
pub fn parse_compress(text: &str) -> Result<Vec<Encoding>, String> {
    parse_codings(text).map(|(codings, _)| codings)
}

/// `compress`: the encodings a chain negotiates, and the dictionary codings listed, each in
/// the order written (the route's preference).
pub(crate) fn parse_codings(text: &str) -> Result<(Vec<Encoding>, Vec<DictionaryCoding>), String> {
    let mut out = Vec::new();
    let mut dictionary = Vec::new();
    for token in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        if let Some(coding) = DictionaryCoding::from_token(token) {
            if dictionary.contains(&coding) {
                return Err(format!("'{token}' is listed twice"));
            }
            dictionary.push(coding);
            continue;
        }
        match Encoding::from_content_encoding(token) {
            Some(e) if e != Encoding::Identity && !out.contains(&e) => out.push(e),
            _ => {
                return Err(format!(
                    "'{token}' is not one of br, gzip, deflate, dcb, dcz"
                ))
            }
        }
    }
    Ok((out, dictionary))
}

/// `transforms`, each stage's JSON parameters, `compress`, `content_types`, `statuses` and
/// the decompression limits; a chain exists when stages or compression are configured.
/// Each key is checked on its own, and every unusable one lands in `errors`. `check`: the
/// deploy-time check, which builds every stage and reads every key.
pub(crate) fn parse_chain(
    optional: &impl Fn(&str) -> Result<Option<(String, String)>, ConfigError>,
    check: bool,
    errors: &mut Vec<ConfigError>,
) -> Option<Chain> {
    let stages = take(errors, parse_stages(optional, check)).unwrap_or_default();
    let compress = take(
        errors,
        optional("compress").and_then(|entry| match entry {
            None => Ok(Vec::new()),
            Some((k, v)) => parse_compress(&v).map_err(|e| ConfigError::new(k, e)),
        }),
    )
    .unwrap_or_default();
    // The keys below only shape a chain. A request without one does not read them; the
    // deploy-time check does, to report them.
    if !check && stages.is_empty() && compress.is_empty() {
        return None;
    }
    let content_types = take(errors, optional("content_types"))
        .flatten()
        .map(|(_, v)| {
            v.split(',')
                .map(|t| t.trim().to_ascii_lowercase())
                .filter(|t| !t.is_empty())
                .collect()
        });
    let statuses = take(
        errors,
        optional("statuses").and_then(|entry| match entry {
            None => Ok(Statuses::default()),
            Some((k, v)) => Statuses::parse(&v).map_err(|e| ConfigError::new(k, e)),
        }),
    )
    .unwrap_or_default();
    let mut limits = Limits::default();
    if let Some(ratio) = take(errors, limit(optional, "max_inflate_ratio")).flatten() {
        limits.max_ratio = ratio;
    }
    if let Some(bytes) = take(errors, limit(optional, "max_inflated_bytes")).flatten() {
        limits.max_output = bytes;
    }
    if stages.is_empty() && compress.is_empty() {
        return None;
    }
    Some(Chain {
        content_types: content_types.unwrap_or_else(|| default_content_types(&stages)),
        stages,
        compress,
        statuses,
        limits,
    })
}

fn limit(
    optional: &impl Fn(&str) -> Result<Option<(String, String)>, ConfigError>,
    field: &str,
) -> Result<Option<u64>, ConfigError> {
    optional(field)?.map(|(k, v)| positive(&k, &v)).transpose()
}

#[cfg(test)]
mod tests;
