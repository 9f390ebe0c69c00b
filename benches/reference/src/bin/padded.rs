//! The reference app in a module as large as firstbyte's: the same code path, with data and
//! code that never run but are instantiated with every request (build.rs). Beside the bare
//! reference it prices the module's size; under `/config/` it also opens the Config Store
//! and reads the keys firstbyte reads for its passthrough route `origin`, which prices the
//! config reads. What firstbyte costs beyond this mode is its own path code.

use std::hint::black_box;

use fastly::{Backend, ConfigStore, Request};

mod padding {
    include!(concat!(env!("OUT_DIR"), "/padding.rs"));
}

/// The keys firstbyte reads, in its order, for a request on a passthrough route named
/// `origin` written as one `route.origin` object, as fastly.toml's demo has it (Viceroy's
/// trace of one request at the commit that made routes one key: 7 lookups, then a check
/// that the route's backend exists). Keep in step with firstbyte when it reads more or fewer.
const FIRSTBYTE_PASSTHROUGH_KEYS: [&str; 7] = [
    "log_level",
    "debug_errors",
    "generator",
    "generator_max_bytes",
    "reuse_ms",
    "routes",
    "route.origin",
];

fn main() {
    let mut req = Request::from_client();
    // Never true (a request's path is at least "/"), but the compiler cannot know it, so
    // the padding stays in the module.
    if req.get_path().is_empty() {
        black_box(padding::run(black_box(req.get_path().len() as u64)));
    }
    if reference::strip_prefix(&mut req, "/config") {
        read_config();
    }
    reference::serve(req);
}

/// What firstbyte's settings cost in host calls: the store opened, each key looked up
/// (values copied into the guest), the backend checked.
fn read_config() {
    let Ok(store) = ConfigStore::try_open("firstbyte") else {
        return;
    };
    for key in FIRSTBYTE_PASSTHROUGH_KEYS {
        black_box(store.try_get(key).ok().flatten());
    }
    black_box(Backend::from_name("origin").is_ok_and(|b| b.exists()));
}
