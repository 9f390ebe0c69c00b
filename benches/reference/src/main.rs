//! The bare reference app (see the library): explicit `main`, `stream_to_client`, `append`.

fn main() {
    reference::serve(fastly::Request::from_client());
}
