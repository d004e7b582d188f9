//! The optional plain-HTTP listener. It responds to every request with a
//! redirect to the same camera over HTTPS, so an admin who types the bare
//! address reaches the admin page. It serves nothing else.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Plain-HTTP connections served at once; each gets one redirect.
const MAX_CONNECTIONS: usize = 16;

/// Time a client has to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// Redirects every request on `listener` to HTTPS on `https_port` until
/// the task is aborted.
pub async fn run(listener: TcpListener, https_port: u16) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let permit = permits
            .clone()
            .acquire_owned()
            .await
            .expect("semaphore is never closed");
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "plain-HTTP accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let local = stream.local_addr().ok();
        tokio::spawn(async move {
            let service = service_fn(move |request| async move {
                Ok::<_, std::convert::Infallible>(redirect(&request, local, https_port))
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT)
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%peer, %error, "plain-HTTP connection ended with an error");
            }
            drop(permit);
        });
    }
}

/// Builds the redirect for `request`: the host it asked for (else the
/// address it reached), the HTTPS port, and the same path; `/` leads to the
/// admin page.
fn redirect(
    request: &Request<Incoming>,
    local: Option<SocketAddr>,
    https_port: u16,
) -> Response<Full<Bytes>> {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .and_then(host_without_port)
        .or_else(|| {
            local.map(|address| match address {
                SocketAddr::V4(v4) => v4.ip().to_string(),
                SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
            })
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let path = match request.uri().path_and_query().map(|path| path.as_str()) {
        None | Some("/") => "/admin/",
        Some(path) => path,
    };
    let port = if https_port == 443 {
        String::new()
    } else {
        format!(":{https_port}")
    };
    let location = format!("https://{host}{port}{path}");
    let mut response = Response::new(Full::new(Bytes::from(format!(
        "This camera is served over HTTPS: {location}\n"
    ))));
    *response.status_mut() = StatusCode::MOVED_PERMANENTLY;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, value);
    }
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Returns the host part of a Host header, or `None` when it contains
/// anything but a DNS name, an IPv4 address or a bracketed IPv6 address, so that no
/// client can steer the redirect into another URL.
fn host_without_port(value: &str) -> Option<String> {
    let host = if let Some(rest) = value.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        inside.parse::<std::net::Ipv6Addr>().ok()?;
        format!("[{inside}]")
    } else {
        let host = value.split(':').next()?;
        let valid = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'.' || byte == b'-');
        if !valid {
            return None;
        }
        host.to_owned()
    };
    Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_header_forms() {
        assert_eq!(
            host_without_port("cam-0042.local:80").as_deref(),
            Some("cam-0042.local")
        );
        assert_eq!(
            host_without_port("192.0.2.10").as_deref(),
            Some("192.0.2.10")
        );
        assert_eq!(
            host_without_port("[fd00::2]:80").as_deref(),
            Some("[fd00::2]")
        );
        assert_eq!(host_without_port("evil.example/path"), None);
        assert_eq!(host_without_port("a@b"), None);
        assert_eq!(host_without_port("[not-v6]"), None);
        assert_eq!(host_without_port(""), None);
    }
}
