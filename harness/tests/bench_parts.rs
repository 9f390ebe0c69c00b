//! The benchmark's parts that need no wasm build: nginx as the peer proxy in front of the
//! dev origin. Skipped, with a notice, where nginx is not installed.

use std::io::Read;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use firstbyte_harness::bench::nginx::{self, Nginx};
use firstbyte_harness::client;
use firstbyte_harness::stack::OriginServer;

fn start() -> Option<(OriginServer, Nginx)> {
    let origin = OriginServer::start().expect("dev origin starts");
    match nginx::start(origin.addr).expect("nginx starts") {
        Some(nginx) => Some((origin, nginx)),
        None => {
            eprintln!("SKIP: nginx not found (PATH, /usr/sbin/nginx): skipping the nginx test");
            None
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_passes_through_replaces_and_recompresses() {
    let Some((origin, nginx)) = start() else {
        return;
    };

    let through = client::get(nginx.addr, "/origin/bytes/1024")
        .await
        .expect("passthrough");
    let direct = client::get(origin.addr, "/bytes/1024")
        .await
        .expect("origin");
    assert_eq!(through.status, 200, "{}", nginx.logs());
    assert!(through.body_error.is_none());
    assert_eq!(through.body.len(), 1024);
    assert_eq!(through.body, direct.body, "passthrough is byte-exact");

    let plain = client::get(origin.addr, "/text/100000")
        .await
        .expect("origin text")
        .text();
    let markers = plain.matches("origin.example").count();
    assert!(markers > 10, "the origin's text has markers to replace");
    let replaced = client::get(nginx.addr, "/replace/text/100000")
        .await
        .expect("replace");
    assert_eq!(replaced.status, 200);
    assert!(replaced.body_error.is_none());
    let text = replaced.text();
    assert!(!text.contains("origin.example"));
    assert_eq!(text.matches("edge.example!!").count(), markers);
    assert_eq!(text, plain.replace("origin.example", "edge.example!!"));

    let gzipped = client::request(
        nginx.addr,
        "GET",
        "/recompress/text/100000",
        &[("accept-encoding", "gzip")],
    )
    .await
    .expect("recompress");
    assert_eq!(gzipped.status, 200);
    assert!(gzipped.body_error.is_none());
    assert_eq!(gzipped.header("content-encoding"), Some("gzip"));
    assert!(gzipped.body.len() < 100_000 / 2, "{}", gzipped.body.len());
    let mut unzipped = String::new();
    flate2::read::GzDecoder::new(&gzipped.body[..])
        .read_to_string(&mut unzipped)
        .expect("valid gzip");
    assert_eq!(unzipped, plain);

    // The same path without gzip in Accept-Encoding comes back plain.
    let identity = client::get(nginx.addr, "/recompress/text/100000")
        .await
        .expect("recompress, identity");
    assert_eq!(identity.header("content-encoding"), None);
    assert_eq!(identity.text(), plain);
}

#[test]
fn nginx_stops_and_cleans_up_on_drop() {
    let Some((_origin, nginx)) = start() else {
        return;
    };
    let (addr, dir) = (nginx.addr, nginx.dir().to_path_buf());
    assert!(dir.join("nginx.conf").exists());
    let pid: i32 = std::fs::read_to_string(dir.join("nginx.pid"))
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    drop(nginx);
    assert!(!dir.exists(), "{} is removed", dir.display());
    // The port closes once the worker is gone too, not only the master.
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(addr).is_ok() {
        assert!(Instant::now() < deadline, "{addr} still accepts after drop");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists() || !cfg!(target_os = "linux"),
        "master {pid} is gone"
    );
}
