//! The client's URL, checked before anything reads it.
//!
//! The fastly crate parses a request's URL lazily and panics when the host's string does not
//! parse (`host provided invalid request url`). On Viceroy the URL is built from the client's
//! `Host`, so `Host: [zz]` or `Host: [::1].` would trap the instance before it could answer,
//! and the request would have no access-log line. The URL is read here through the raw host
//! call instead, so such a request gets a 400 like any other bad input, and the URL parsed
//! here is handed to the request, which then never reads or parses it again.

use fastly::Request;
use fastly_shared::FastlyStatus;
use fastly_sys::fastly_http_req;
use url::Url;

/// Longest URL read; longer ones are refused (the platform's own limit is 8 KiB).
const MAX_URL: usize = 64 * 1024;

/// The request's URL, parsed, once the SDK could read it too; the reason when it could not.
pub fn check(req: &Request) -> Result<Url, String> {
    let (handle, _) = req.as_handles();
    let mut buf: Vec<u8> = Vec::with_capacity(8 * 1024);
    loop {
        let mut n = 0;
        // SAFETY: the host writes at most `capacity` bytes at the pointer, within `buf`'s
        // allocation, and says how many in `n`; the handle is the live request's.
        let status = unsafe {
            fastly_http_req::uri_get(handle.as_u32(), buf.as_mut_ptr(), buf.capacity(), &mut n)
        };
        match status {
            FastlyStatus::OK => {
                // SAFETY: the host initialised the first `n` bytes (bounded by the capacity).
                unsafe { buf.set_len(n.min(buf.capacity())) };
                break;
            }
            FastlyStatus::BUFLEN if n > buf.capacity() && n <= MAX_URL => {
                buf.reserve_exact(n);
            }
            other => return Err(format!("the request URL could not be read ({other:?})")),
        }
    }
    readable(&buf)
}

/// The rule itself: UTF-8 that parses as a URL, as the SDK requires.
fn readable(url: &[u8]) -> Result<Url, String> {
    let text = std::str::from_utf8(url).map_err(|_| "the request URL is not UTF-8".to_string())?;
    Url::parse(text).map_err(|e| format!("the request's host does not make a valid URL ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_the_sdk_cannot_parse_are_refused() {
        assert!(readable(b"http://127.0.0.1:7676/x?y=1").is_ok());
        assert!(readable(b"http://[::1]:7676/").is_ok());
        for bad in [
            &b"http://[zz]/"[..],
            b"http://[::1]./",
            b"http://[::1]:x/",
            b"http://h\xff/",
        ] {
            assert!(readable(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
