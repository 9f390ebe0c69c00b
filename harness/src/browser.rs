//! Headless Chromium, the real browser of harness/tests/browser.rs: found where Debian's
//! `chromium` package puts it (`make e2e` installs it, `scripts/tools --browser`), run once
//! per page in a fresh profile, and read back through `--dump-dom`.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::process::{self, ScratchDir};

/// The flags every run gets. Running as root needs `--no-sandbox`; the rest keep a test run
/// to the page it was given: no GPU, no QUIC, no first-run or sync, and no background
/// connections to Google's hosts (without those flags they fail noisily on a machine
/// without the internet, and take time).
const FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

pub struct Chromium {
    path: PathBuf,
}

impl Chromium {
    /// `$CHROMIUM` when set, else `chromium` on `PATH` or in `/usr/bin`; `None` if absent.
    pub fn find() -> Option<Chromium> {
        process::find_program("CHROMIUM", "chromium", &["/usr/bin"]).map(|path| Chromium { path })
    }

    /// What `chromium --version` says, e.g. `Chromium 156.0.8078.129 built on Debian …`.
    pub fn version(&self) -> Result<String, String> {
        let out = Command::new(&self.path)
            .arg("--version")
            .output()
            .map_err(|e| format!("{}: {e}", self.path.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() || stdout.is_empty() {
            return Err(format!(
                "{} --version failed ({}): {}",
                self.path.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(stdout)
    }

    /// Loads `url` in a new, empty profile and returns the page's DOM as HTML once the
    /// browser's virtual clock has run `budget` (`--virtual-time-budget`: timers are
    /// skipped ahead, time with a fetch in flight is real), or an error with the browser's
    /// output when it fails or takes longer than `timeout` of real time.
    pub fn dump_dom(
        &self,
        url: &str,
        budget: Duration,
        timeout: Duration,
    ) -> Result<String, String> {
        let dir = ScratchDir::new("chromium").map_err(|e| format!("scratch dir: {e}"))?;
        let profile = dir.path().join("profile");
        let dom_path = dir.path().join("dom.html");
        let dom = std::fs::File::create(&dom_path).map_err(|e| format!("dom.html: {e}"))?;
        let log = std::fs::File::create(dir.path().join("chromium.log"))
            .map_err(|e| format!("chromium.log: {e}"))?;
        let mut command = Command::new(&self.path);
        command
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(format!("--virtual-time-budget={}", budget.as_millis()))
            .arg("--dump-dom")
            .arg(url)
            .stdin(std::process::Stdio::null())
            .stdout(dom)
            .stderr(log);
        // Its own process group, so its helper processes go with it on a timeout.
        process::isolate(&mut command);
        let mut child = command
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.path.display()))?;
        let deadline = Instant::now() + timeout;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) => {
                    process::kill_group(&mut child);
                    return Err(format!(
                        "chromium did not finish {url} within {} s:\n{}",
                        timeout.as_secs(),
                        dir.read("chromium.log")
                    ));
                }
                Err(e) => return Err(format!("waiting for chromium: {e}")),
            }
        };
        let html = dir.read("dom.html");
        if !status.success() || html.is_empty() {
            return Err(format!(
                "chromium exited ({status}) with {} bytes of DOM for {url}:\n{}",
                html.len(),
                dir.read("chromium.log")
            ));
        }
        Ok(html)
    }
}

/// The text of the first element whose start tag is exactly `start_tag` (as Chromium
/// serializes it, e.g. `<pre id="result">`), with the characters a serialized text node
/// escapes put back.
pub fn element_text<'a>(html: &'a str, start_tag: &str) -> Option<String> {
    let from = html.find(start_tag)? + start_tag.len();
    let len = html[from..].find('<')?;
    let text: &'a str = &html[from..from + len];
    Some(
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&nbsp;", "\u{a0}")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_elements_text_is_unescaped() {
        let html =
            r#"<body><pre id="result">{"a":"&lt;b&gt; &amp;amp;"}</pre><pre id="result">no</pre>"#;
        assert_eq!(
            element_text(html, r#"<pre id="result">"#).as_deref(),
            Some(r#"{"a":"<b> &amp;"}"#)
        );
        assert_eq!(element_text(html, "<p>"), None);
    }
}
