//! What composing a page asks of whoever sends a response: the composer (ESI, [`crate::esi`])
//! sits above the cache, yet the cache and the pass route send the templates it composes. So
//! they are handed a [`Composer`] and know it by this contract alone, never the composer's
//! code. A template's own fill ([`Filling`]), when its request writes the object, is stepped
//! by the page's loop beside the fragments.

use fastly::{Body, Response};
use firstbyte_config::chain::Plan;
use firstbyte_config::Route;
use firstbyte_transform::codec::Encoding;

use crate::access_log::AccessRecord;
use crate::cache::write::Filling;
use crate::timing::Clock;

/// A composing route's page maker for one client's request.
pub trait Composer {
    /// Makes a page's head this client's alone where the client sent credentials (the head
    /// leaves before the fragments answer, and one may be personal).
    fn private_for(&self, resp: &mut Response);

    /// Composes `template` into the client's response, head first. Whatever happens, the
    /// response is sent or abandoned, and `record` says which.
    fn compose(
        &mut self,
        route: &Route,
        template: Template,
        record: &mut AccessRecord,
        clock: &Clock,
    ) -> Composed;
}

/// What a composed page leaves to the cache.
#[derive(Debug, Default)]
pub struct Composed {
    /// The template's own includes (outside except blocks), in order, as written.
    pub includes: Vec<String>,
    /// The template's object this page's request wrote is complete.
    pub stored: bool,
    /// The page went out whole.
    pub complete: bool,
}

/// A template to compose, its head already shaped as the page's.
pub struct Template {
    pub resp: Response,
    pub body: Body,
    /// What makes the template's text from its body (decoding, the route's stages).
    pub plan: Option<Plan>,
    /// The template body's length, when known.
    pub declared: Option<u64>,
    /// The page's coding.
    pub output: Encoding,
    /// The template's object being written by this request, stepped by the page.
    pub filling: Option<Filling>,
    /// Includes a page made of this template listed before, requested before it is read.
    pub ahead: Vec<String>,
}
