//! A chain's content stages: each stage's JSON parameters (`route.<name>.replace`,
//! `route.<name>.html`), as configured and as built into a transform, and the
//! `transforms` list that names them.

use firstbyte_transform::html::{
    HtmlRewrite, HtmlRules, Insert, Position, RemoveAttribute, SetAttribute, UrlRewrite,
    DEFAULT_MEMORY_LIMIT,
};
use firstbyte_transform::replace::{Replace, ReplaceOptions};
use firstbyte_transform::{Transform, TransformError};
use serde::Deserialize;

use crate::error::ConfigError;

#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    Replace(ReplaceSpec),
    Html(HtmlSpec),
}

/// `route.<name>.replace`: `{"rules": [["from", "to"], …], "case_insensitive": false, "once": false}`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplaceSpec {
    pub rules: Vec<(String, String)>,
    #[serde(default)]
    pub case_insensitive: bool,
    #[serde(default)]
    pub once: bool,
}

/// `route.<name>.html`: `{"insert": [{"selector": "head", "position": "append", "html": "…"}],
/// "set_attributes": [{"selector", "name", "value"}], "remove_attributes": [{"selector", "name"}],
/// "remove": ["selector"], "rewrite_urls": {"from": "http://origin", "to": "https://public"},
/// "memory_limit": 1048576}`
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HtmlSpec {
    #[serde(default)]
    pub insert: Vec<InsertSpec>,
    #[serde(default)]
    pub set_attributes: Vec<SetAttributeSpec>,
    #[serde(default)]
    pub remove_attributes: Vec<RemoveAttributeSpec>,
    #[serde(default)]
    pub remove: Vec<String>,
    #[serde(default)]
    pub rewrite_urls: Option<UrlRewriteSpec>,
    #[serde(default)]
    pub memory_limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InsertSpec {
    pub selector: String,
    pub position: PositionSpec,
    pub html: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PositionSpec {
    Before,
    After,
    Prepend,
    Append,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetAttributeSpec {
    pub selector: String,
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveAttributeSpec {
    pub selector: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UrlRewriteSpec {
    pub from: String,
    pub to: String,
}

impl Stage {
    pub fn name(&self) -> &'static str {
        match self {
            Stage::Replace(_) => "replace",
            Stage::Html(_) => "html",
        }
    }

    /// Parses a stage's JSON parameters. Whether they build (a bad selector, an empty
    /// pattern) is [`Stage::check`]'s question: a request builds a stage only when a
    /// response needs it, and pays for no second build to check it.
    pub fn parse(name: &str, json: &str) -> Result<Stage, String> {
        Ok(match name {
            "replace" => Stage::Replace(serde_json::from_str(json).map_err(|e| e.to_string())?),
            "html" => Stage::Html(serde_json::from_str(json).map_err(|e| e.to_string())?),
            other => return Err(format!("unknown stage '{other}' (known: replace, html)")),
        })
    }

    /// Builds the stage once, so that a bad selector or an empty pattern is a config error
    /// before deploy rather than a surprise mid-stream.
    pub fn check(&self) -> Result<(), String> {
        self.build().map(drop).map_err(|e| e.reason)
    }

    pub fn build(&self) -> Result<Box<dyn Transform>, TransformError> {
        Ok(match self {
            Stage::Replace(spec) => Box::new(Replace::new(
                spec.rules
                    .iter()
                    .map(|(from, to)| (from.clone().into_bytes(), to.clone().into_bytes()))
                    .collect(),
                ReplaceOptions {
                    case_insensitive: spec.case_insensitive,
                    once: spec.once,
                },
            )?),
            Stage::Html(spec) => Box::new(HtmlRewrite::new(html_rules(spec))?),
        })
    }
}

fn html_rules(spec: &HtmlSpec) -> HtmlRules {
    HtmlRules {
        inserts: spec
            .insert
            .iter()
            .map(|i| Insert {
                selector: i.selector.clone(),
                position: match i.position {
                    PositionSpec::Before => Position::Before,
                    PositionSpec::After => Position::After,
                    PositionSpec::Prepend => Position::Prepend,
                    PositionSpec::Append => Position::Append,
                },
                html: i.html.clone(),
            })
            .collect(),
        set_attributes: spec
            .set_attributes
            .iter()
            .map(|a| SetAttribute {
                selector: a.selector.clone(),
                name: a.name.clone(),
                value: a.value.clone(),
            })
            .collect(),
        remove_attributes: spec
            .remove_attributes
            .iter()
            .map(|a| RemoveAttribute {
                selector: a.selector.clone(),
                name: a.name.clone(),
            })
            .collect(),
        remove: spec.remove.clone(),
        rewrite_urls: spec.rewrite_urls.as_ref().map(|u| UrlRewrite {
            from: u.from.clone(),
            to: u.to.clone(),
        }),
        memory_limit: spec.memory_limit.unwrap_or(DEFAULT_MEMORY_LIMIT),
    }
}

/// `transforms` and each listed stage's JSON, parsed, and built once when `build` asks
/// (a request builds a stage once per response that needs it; `make check-config` builds
/// each one before deploy).
pub(super) fn parse_stages(
    optional: &impl Fn(&str) -> Result<Option<(String, String)>, ConfigError>,
    build: bool,
) -> Result<Vec<Stage>, ConfigError> {
    let mut stages = Vec::new();
    let Some((key, list)) = optional("transforms")? else {
        return Ok(stages);
    };
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !matches!(name, "replace" | "html") {
            return Err(ConfigError::new(
                key,
                format!("unknown stage '{name}' (known: replace, html; compression is set with compress)"),
            ));
        }
        if stages.iter().any(|s: &Stage| s.name() == name) {
            return Err(ConfigError::new(
                key,
                format!("stage '{name}' is listed twice"),
            ));
        }
        let (stage_key, json) = optional(name)?.ok_or_else(|| {
            ConfigError::new(key.replace("transforms", name), "is required by transforms")
        })?;
        let stage = Stage::parse(name, &json)
            .and_then(|stage| match build {
                true => stage.check().map(|()| stage),
                false => Ok(stage),
            })
            .map_err(|e| ConfigError::new(stage_key, e))?;
        stages.push(stage);
    }
    Ok(stages)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::TestResult;

    fn checked(name: &str, json: &str) -> Result<Stage, String> {
        let stage = Stage::parse(name, json)?;
        stage.check()?;
        Ok(stage)
    }

    #[test]
    fn stage_parameters_are_checked_when_parsed() -> TestResult {
        assert!(Stage::parse("replace", r#"{"rules": [["", "x"]]}"#).is_ok());
        assert!(checked("replace", r#"{"rules": [["", "x"]]}"#).is_err());
        assert!(Stage::parse("replace", r#"{"rulez": []}"#)
            .unwrap_err()
            .contains("unknown field"));
        assert!(checked("html", r#"{"remove": ["p[["]}"#).is_err());
        assert!(Stage::parse("gzip", "{}")
            .unwrap_err()
            .contains("unknown stage"));
        let html = Stage::parse(
            "html",
            r#"{"insert": [{"selector": "head", "position": "append", "html": "<script></script>"}]}"#,
        )?;
        assert_eq!(html.name(), "html");
        Ok(())
    }
}
