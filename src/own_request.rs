//! A client's own request to its route's backend, answered for that client alone: what a
//! route without a cache does with every request, and a route with one with every request
//! that passes it (a method other than GET and HEAD, credentials, `no-store`, a key too
//! long, a lookup that failed). Both get the same response, the route's dictionaries
//! included (docs/dictionaries.md): nothing of it is stored under a cache key, so a
//! dictionary refused here falls back for this client alone.

use fastly::http::StatusCode;
use fastly::Request;
use firstbyte_config::Route;

use crate::access_log::AccessRecord;
use crate::dictionary::Dictionaries;
use crate::failure::Failure;
use crate::headers::HeaderAccess;
use crate::origin::{self, Shaped};

/// The backend's response to the client's own request, shaped for the client and with the
/// route's dictionaries (read from this request) applied, before its head goes out.
pub fn fetch(
    route: &Route,
    req: Request,
    dictionaries: Option<&Dictionaries>,
    record: &mut AccessRecord,
) -> Result<Shaped, Failure> {
    let accept_encoding = req.combined("accept-encoding");
    let bereq = origin::backend_request(route, req, accept_encoding.as_deref());
    let mut shaped = origin::fetch_shaped(route, bereq, accept_encoding.as_deref(), record)?;
    match dictionaries {
        // Why a dictionary was refused only matters to a cache key (the fallback is stored
        // under the dictionary's); this response is this client's alone.
        Some(dictionaries) => {
            let _ = dictionaries.apply(route, &mut shaped)?;
        }
        // `dcb` or `dcz` decodes only with the dictionary it was made against, which only a
        // route with dictionaries checks the client holds: anywhere else, whatever the
        // client's `Accept-Encoding` says, it is a coding no client can be shown to accept.
        None if shaped
            .origin_coding
            .as_deref()
            .is_some_and(origin::names_dictionary_coding) =>
        {
            return Err(Failure::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "backend '{}' sent dcb or dcz to a route without dictionaries",
                    route.backend
                ),
            ));
        }
        None => {}
    }
    Ok(shaped)
}
