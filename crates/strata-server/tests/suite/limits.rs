//! Header limits over HTTP (see `strata_server::limits`): the soft limits answer a JSON
//! `431`, the hard ones hyper's bare `431`. See [`limits_suite!`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{Running, error_code};

const CONFIG: &str = "/v1/config/dev/checkout?provider=aws";

/// An 8 KiB header is fine; a 20 KiB one is a JSON 431 naming the limit.
pub fn large_header_blocks_are_431_with_json(s: &Running) {
    let eight = "a".repeat(8 * 1024);
    let ok = s.request(
        "GET",
        CONFIG,
        Some(s.admin()),
        None,
        &[("x-padding", &eight)],
    );
    assert_eq!(ok.status, 200, "{}", ok.body);

    let twenty = "a".repeat(20 * 1024);
    let big = s.request(
        "GET",
        CONFIG,
        Some(s.admin()),
        None,
        &[("x-padding", &twenty)],
    );
    assert_eq!(
        (big.status, error_code(&big)),
        (431, "headers_too_large"),
        "{}",
        big.body
    );
    assert_eq!(big.body["error"]["details"]["limit"], 16 * 1024);
    assert!(
        big.body["error"]["details"]["bytes"].as_u64().unwrap() > 20 * 1024,
        "{}",
        big.body
    );
    // Health checks are held to the same limits, and the connection stays usable.
    let health = s.request("GET", "/healthz", None, None, &[("x-padding", &twenty)]);
    assert_eq!(health.status, 431, "{}", health.body);
    assert_eq!(s.get(CONFIG, Some(s.admin()), None).status, 200);
}

/// More than 100 header fields is a JSON 431; more than hyper parses (256) is hyper's
/// bare 431, and the connection is closed.
pub fn many_headers_are_431_with_json(s: &Running) {
    let names: Vec<(String, String)> = (0..150)
        .map(|i| (format!("x-h{i}"), "v".to_string()))
        .collect();
    let headers: Vec<(&str, &str)> = names
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let many = s.request("GET", CONFIG, Some(s.admin()), None, &headers);
    assert_eq!(
        (many.status, error_code(&many)),
        (431, "headers_too_large"),
        "{}",
        many.body
    );
    assert_eq!(many.body["error"]["details"]["limit"], 100);
    assert!(
        many.body["error"]["details"]["count"].as_u64().unwrap() > 150,
        "{}",
        many.body
    );

    let addr = s.base().trim_start_matches("http://");
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut request = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for i in 0..300 {
        request.push_str(&format!("x-h{i}: v\r\n"));
    }
    request.push_str("\r\n");
    conn.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    let _ = conn.read_to_string(&mut answer);
    assert!(
        answer.starts_with("HTTP/1.1 431"),
        "hyper's answer: {answer:?}"
    );
}

/// Defines one `#[test]` per case of this file, each on a fresh server from `$start`.
#[macro_export]
macro_rules! limits_suite {
    ($start:expr) => {
        #[test]
        fn large_header_blocks_are_431_with_json() {
            suite::limits::large_header_blocks_are_431_with_json(&$start);
        }
        #[test]
        fn many_headers_are_431_with_json() {
            suite::limits::many_headers_are_431_with_json(&$start);
        }
    };
}
