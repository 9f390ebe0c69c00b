//! nginx serving [`static_files`] from its temp dir, configured the way a typical site is:
//! gzip for text types when the client accepts it (with `Vary: Accept-Encoding`, also for
//! proxied requests), and nginx's defaults for the rest, so byte ranges, `ETag`,
//! `Last-Modified` and conditional requests (304) work as they do in production.
//!
//! - every file of [`static_files`] at its path (`/` is `/index.html`);
//! - any other path: 404 with `/404.html` as the body (`error_page`);
//! - `/no-content`: 204.

use std::collections::BTreeMap;
use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::static_files::{mtime, static_files, GZIP_TYPES};
use crate::nginx::{quoted, Nginx, Site};

/// Heads the generated config.
const PURPOSE: &str = "nginx serving static files, a peer origin (peers::NginxStatic)";

/// The docroot, inside nginx's temp dir.
const DOCROOT: &str = "docroot";

/// A running static nginx, stopped (and its temp dir removed) on drop.
pub struct NginxStatic {
    pub addr: SocketAddr,
    nginx: Nginx,
}

impl NginxStatic {
    /// Writes the docroot, starts nginx and waits until it serves. `None` when no nginx
    /// binary is found.
    pub fn start() -> Result<Option<NginxStatic>, String> {
        let nginx = Nginx::start(PURPOSE, |dir| {
            let docroot = dir.join(DOCROOT);
            write_docroot(&docroot)?;
            Ok(site(&docroot))
        })?;
        Ok(nginx.map(|nginx| NginxStatic {
            addr: nginx.addr,
            nginx,
        }))
    }

    /// Where the files are on disk.
    pub fn docroot(&self) -> PathBuf {
        self.nginx.dir().join(DOCROOT)
    }

    /// nginx's logs, for error messages.
    pub fn logs(&self) -> String {
        self.nginx.logs()
    }
}

fn write_docroot(docroot: &Path) -> Result<(), String> {
    for file in static_files() {
        let path = docroot.join(file.path.trim_start_matches('/'));
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&path, &file.bytes))
            // A fixed mtime makes nginx's ETag and Last-Modified the same on every run.
            .and_then(|()| File::options().write(true).open(&path))
            .and_then(|f| f.set_modified(mtime()));
        written.map_err(|e| format!("nginx docroot: {}: {e}", path.display()))?;
    }
    Ok(())
}

/// The config: self-contained `types` (no system mime.types to depend on), made from the
/// files' own content types.
fn site(docroot: &Path) -> Site {
    let mut types: BTreeMap<&str, &str> = BTreeMap::new();
    for file in static_files() {
        if let Some((_, ext)) = file.path.rsplit_once('.') {
            types.insert(ext, file.content_type);
        }
    }
    let types: String = types
        .iter()
        .map(|(ext, content_type)| format!("    {content_type} {ext};\n"))
        .collect();
    Site {
        http: format!(
            r#"types {{
{types}}}

# Gzip text when asked, as most sites do. text/html is always on the list.
gzip on;
gzip_types {gzip_types};
gzip_vary on;
gzip_min_length 1;
# Also when the request came through a proxy (it has a Via header).
gzip_proxied any;
gzip_http_version 1.0;
gzip_comp_level 6;"#,
            gzip_types = GZIP_TYPES.join(" "),
        ),
        server: format!(
            r#"root {root};
etag on;
error_page 404 /404.html;

location = /no-content {{
    return 204;
}}"#,
            root = quoted(docroot),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_cover_every_file() {
        let site = site(Path::new("/tmp/d"));
        for file in static_files() {
            let ext = file.path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
            assert!(
                site.http
                    .contains(&format!("    {} {ext};\n", file.content_type)),
                "{}",
                site.http
            );
        }
        assert!(site.server.starts_with("root \"/tmp/d\";"));
    }
}
