//! `healthcheck`: asks a running server for `GET /health` and turns the answer into an exit status (0 healthy,
//! 1 not), for the container image's `HEALTHCHECK`. It lives in the binary so the image needs no curl or shell.
//!
//! Plain HTTP/1.1 over a std `TcpStream`, not reqwest: only the status line matters, and a health probe should
//! not depend on the machinery (runtime, connection pool) whose failure it may be meant to notice.

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// Less than a container engine's usual health-check timeout, so a hung server is reported by us, in words,
/// rather than by the engine killing the probe.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Where to connect for a server that listens on `listen`: a wildcard address means "every local address", so
/// the probe uses loopback of the same family.
pub fn probe_address(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// `Ok(status line)` when the server at `listen` answers `/health` with a 2xx status; otherwise why not.
pub fn check(listen: SocketAddr) -> Result<String, String> {
    let address = probe_address(listen);
    let url = format!("http://{address}/health");
    let mut stream = TcpStream::connect_timeout(&address, TIMEOUT).map_err(|err| format!("{url}: {err}"))?;
    stream
        .set_read_timeout(Some(TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(TIMEOUT)))
        .map_err(|err| format!("{url}: {err}"))?;
    write!(
        stream,
        "GET /health HTTP/1.1\r\nHost: {address}\r\nUser-Agent: zos-orchestrator-healthcheck\r\nConnection: close\r\n\r\n"
    )
    .map_err(|err| format!("{url}: sending the request: {err}"))?;
    let mut status_line = String::new();
    BufReader::new(stream)
        .read_line(&mut status_line)
        .map_err(|err| format!("{url}: reading the answer: {err}"))?;
    let status_line = status_line.trim_end().to_owned();
    let code = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|code| code.parse::<u16>().ok())
        .ok_or_else(|| format!("{url}: not an HTTP answer: {status_line:?}"))?;
    if (200..300).contains(&code) {
        Ok(format!("{url}: {status_line}"))
    } else {
        Err(format!("{url}: {status_line}"))
    }
}

#[cfg(test)]
mod tests {
    use super::probe_address;

    #[test]
    fn wildcard_addresses_are_probed_on_loopback_of_the_same_family() {
        let probe = |listen: &str| probe_address(listen.parse().unwrap()).to_string();
        assert_eq!(probe("0.0.0.0:8080"), "127.0.0.1:8080");
        assert_eq!(probe("[::]:8080"), "[::1]:8080");
        assert_eq!(probe("127.0.0.1:9000"), "127.0.0.1:9000");
        assert_eq!(probe("10.1.2.3:80"), "10.1.2.3:80");
        assert_eq!(probe("[fe80::1]:80"), "[fe80::1]:80");
    }
}
