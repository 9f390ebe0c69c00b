//! What the edge cache's suites share: the scripted origin behind two cached routes, one
//! passing bodies through and one running a chain, beside the demo config (whose `cached`
//! route fronts the dev origin), and helpers to ask and to read the access log.

#![allow(dead_code)]

use std::time::Duration;

use firstbyte_harness::client::{self, Reply};
use firstbyte_harness::peers::Scripted;
use firstbyte_harness::stack::LocalStack;

pub const LOG_WAIT: Duration = Duration::from_secs(30);

/// The cached routes in front of the scripted origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `/sc/…`: bodies pass untouched.
    Passthrough,
    /// `/scc/…`: `replace` (origin.example → edge.example) and br/gzip.
    Chain,
}

pub const KINDS: [Kind; 2] = [Kind::Passthrough, Kind::Chain];

impl Kind {
    pub fn prefix(self) -> &'static str {
        match self {
            Kind::Passthrough => "/sc",
            Kind::Chain => "/scc",
        }
    }

    /// What the route sends for a body the origin sent as `body` (identity client).
    pub fn output(self, body: &str) -> String {
        match self {
            Kind::Passthrough => body.to_string(),
            Kind::Chain => body.replace("origin.example", "edge.example"),
        }
    }
}

pub struct Cached {
    pub origin: Scripted,
    pub stack: LocalStack,
}

impl Cached {
    /// Both routes, with `cache_ttl = 60` unless `settings` (`field`, value pairs applied to
    /// both routes) say otherwise; `global` are other store entries.
    pub fn start(settings: &[(&str, &str)], global: &[(&str, Option<&str>)]) -> Cached {
        let origin = Scripted::start().expect("scripted origin starts");
        let mut owned: Vec<(String, Option<String>)> =
            vec![("routes".into(), Some("sc,scc,origin,cached".into()))];
        for (route, chain) in [("sc", false), ("scc", true)] {
            let key = |field: &str| format!("route.{route}.{field}");
            let mut fields: Vec<(&str, &str)> = vec![
                ("prefix", if chain { "/scc/" } else { "/sc/" }),
                ("backend", "scripted"),
                ("strip_prefix", "true"),
                ("cache_ttl", "60"),
            ];
            if chain {
                fields.push(("transforms", "replace"));
                fields.push((
                    "replace",
                    r#"{"rules": [["origin.example", "edge.example"]]}"#,
                ));
                fields.push(("compress", "br,gzip"));
            }
            for (field, value) in settings {
                fields.retain(|(f, _)| f != field);
                fields.push((field, value));
            }
            for (field, value) in fields {
                owned.push((key(field), Some(value.to_string())));
            }
        }
        for (k, v) in global {
            owned.push((k.to_string(), v.map(str::to_string)));
        }
        let overrides: Vec<(&str, Option<&str>)> = owned
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let stack = LocalStack::start_with_backends(&[("scripted", origin.addr)], &overrides)
            .expect("origin and viceroy start");
        Cached { origin, stack }
    }

    pub async fn get(&self, kind: Kind, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.ask("GET", kind, path, headers).await
    }

    pub async fn ask(
        &self,
        method: &str,
        kind: Kind,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let target = format!("{}{path}", kind.prefix());
        client::request(self.stack.edge.addr, method, &target, headers)
            .await
            .unwrap_or_else(|e| panic!("{method} {target}: {e}"))
    }

    /// Requests the origin got for `path` (without the route's prefix).
    pub fn fetches(&self, path: &str) -> usize {
        self.origin.count(path.split('?').next().unwrap_or(path))
    }

    /// Waits until `count` requests for `path` have logged, then until every instance has
    /// ended (a filler's object is sealed a moment after its log line), and returns the
    /// records.
    pub fn settled(&self, kind: Kind, path: &str, count: usize) -> Vec<serde_json::Value> {
        let logged = format!(
            "{}{}",
            kind.prefix(),
            path.split('?').next().unwrap_or(path)
        );
        let records = self
            .stack
            .edge
            .access_records(&logged, count, LOG_WAIT)
            .unwrap_or_else(|| panic!("{count} access-log records for {logged}"));
        assert!(
            self.stack.edge.wait_until_idle(LOG_WAIT),
            "the instances end"
        );
        records
    }

    /// No panic of the app in Viceroy's output.
    pub fn assert_no_app_panic(&self) {
        let panics: Vec<String> = self
            .stack
            .edge
            .lines()
            .into_iter()
            .filter(|l| l.contains("firstbyte_panic") || l.contains("panicked at src/"))
            .collect();
        assert!(panics.is_empty(), "app panics: {panics:?}");
    }
}

/// `Age` as a number.
pub fn age(r: &Reply) -> u64 {
    r.header("age")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no Age: {:?}", r.headers))
}
