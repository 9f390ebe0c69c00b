//! nginx in front of the dev origin, the benchmark's peer proxy (run by [`crate::nginx`]).
//! Its locations mirror firstbyte's routes, so the benchmark sends the same paths to both:
//!
//! - `/origin/…` passes the origin's response through unbuffered;
//! - `/replace/…` rewrites `origin.example` to `edge.example!!` with `sub_filter`, the peer
//!   of firstbyte's replace transform (the origin is asked for a plain body);
//! - `/recompress/…` gzips the plain body (nginx has no brotli module by default, so gzip is
//!   its peer of firstbyte's html+br path);
//! - `/cached/…` keeps the origin's responses in `proxy_cache` with `proxy_cache_lock on`,
//!   the peer of firstbyte's edge cache for concurrent misses: one request fills the
//!   object, the others wait for it to be complete (or for the lock's 5 s timeout).
//!
//! The benchmark never installs nginx: without one, [`start`] answers `None`.

use std::net::SocketAddr;
use std::path::Path;

pub use crate::nginx::Nginx;
use crate::nginx::{quoted, Site};

/// Heads the generated config.
const PURPOSE: &str = "nginx as the benchmark's peer proxy (bench::nginx)";

/// Starts nginx proxying to `origin` and waits until it serves. `None` when no nginx
/// binary is found: the benchmark then skips the nginx modes.
pub fn start(origin: SocketAddr) -> Result<Option<Nginx>, String> {
    Nginx::start(PURPOSE, |dir| Ok(site(origin, dir)))
}

/// The proxy: the dev origin at `origin` as a keep-alive upstream, one location per route,
/// the cache's files in `dir`.
pub fn site(origin: SocketAddr, dir: &Path) -> Site {
    // Any proxy_set_header in a location drops the inherited ones, so each location sets
    // all of its own: `Connection ""` keeps the upstream connections alive.
    let proxied = "proxy_pass http://firstbyte_origin/;\n    \
                   proxy_http_version 1.1;\n    \
                   proxy_set_header Connection \"\";\n    \
                   proxy_buffering off;";
    Site {
        http: format!(
            r#"upstream firstbyte_origin {{
    server {origin};
    keepalive 16;
}}
proxy_cache_path {cache} levels=1:2 keys_zone=firstbyte_bench:10m max_size=4g inactive=1h use_temp_path=off;"#,
            cache = quoted(&dir.join("cache")),
        ),
        server: format!(
            r#"# Passthrough.
location /origin/ {{
    {proxied}
}}

# firstbyte's replace route; sub_filter needs a plain body from the origin.
location /replace/ {{
    {proxied}
    proxy_set_header Accept-Encoding "";
    sub_filter 'origin.example' 'edge.example!!';
    sub_filter_once off;
    sub_filter_types *;
}}

# firstbyte's recompress route: nginx has no brotli by default, gzip is its peer.
location /recompress/ {{
    {proxied}
    proxy_set_header Accept-Encoding "";
    gzip on;
    gzip_types *;
    gzip_proxied any;
    gzip_comp_level 6;
}}

# firstbyte's edge cache: concurrent misses wait on the lock for the one fetch to complete.
# Caching needs proxy_buffering on (the default).
location /cached/ {{
    proxy_pass http://firstbyte_origin/;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_cache firstbyte_bench;
    proxy_cache_lock on;
    proxy_cache_revalidate on;
    # The dev origin serves no ranges itself: nginx answers them from its cached copy.
    proxy_force_ranges on;
    proxy_cache_valid 200 1h;
    add_header X-Cache $upstream_cache_status;
}}"#
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx::config;
    use std::path::Path;

    #[test]
    fn every_route_keeps_its_upstream_connections_alive() {
        let site = site(([127, 0, 0, 1], 9000).into(), Path::new("/tmp/x"));
        let conf = config(
            PURPOSE,
            Path::new("/tmp/x"),
            ([127, 0, 0, 1], 8081).into(),
            false,
            &site,
        );
        assert!(conf.contains("        server 127.0.0.1:9000;\n"), "{conf}");
        assert!(conf.contains("listen 127.0.0.1:8081;"));
        for location in ["/origin/", "/replace/", "/recompress/", "/cached/"] {
            assert!(conf.contains(&format!("location {location} {{")), "{conf}");
        }
        assert_eq!(conf.matches("proxy_set_header Connection \"\";").count(), 4);
        assert!(
            conf.contains("proxy_cache_path \"/tmp/x/cache\" "),
            "{conf}"
        );
        assert!(conf.contains("proxy_cache_lock on;"), "{conf}");
        assert_eq!(conf.matches("proxy_buffering off;").count(), 3);
        assert_eq!(conf.matches('{').count(), conf.matches('}').count());
    }
}
