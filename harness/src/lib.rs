//! Native tools around the firstbyte edge app: the dev origin it proxies in front of, a way
//! to start the whole local stack on free ports, an HTTP client that shows framing, and
//! peer origins written by others (or written to misbehave) to run it against, and a real
//! browser.

pub mod bench;
pub mod browser;
pub mod check_config;
pub mod client;
pub mod dcb;
pub mod events;
pub mod independent;
pub mod layers;
pub mod nginx;
pub mod origin;
pub mod peers;
mod process;
pub mod soak;
pub mod stack;
pub mod varnish;
