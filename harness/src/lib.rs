//! Native tools around the firstbyte edge app: the dev origin it proxies in front of, a way
//! to start the whole local stack on free ports, and an HTTP client that shows framing.

pub mod bench;
pub mod client;
pub mod events;
pub mod independent;
pub mod origin;
pub mod stack;
