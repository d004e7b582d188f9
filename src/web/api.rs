//! Routes of the JSON API.
//!
//! | method | path | auth | what |
//! | --- | --- | --- | --- |
//! | GET | `/` | none | a one-line text naming the service |
//! | GET | `/api/v1/certificate` | admin | the served certificate as JSON |
//! | POST | `/api/v1/certificate/self-signed` | admin | issue and install a self-signed one |

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::auth::Verdict;
use super::App;
use crate::manager::{ManagerError, SelfSignedOptions};

/// Largest accepted JSON request body. The self-signed request is under 100 bytes.
const MAX_JSON_BODY: usize = 4 * 1024;

type Body = Full<Bytes>;

/// An error body: `{"error": kind, "message": text}`.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    message: &'a str,
}

fn json_response(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    let body = serde_json::to_vec_pretty(value).expect("response serializes");
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

fn error_response(status: StatusCode, kind: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &ErrorBody {
            error: kind,
            message,
        },
    )
}

/// Adds headers every response carries. No HSTS: with a self-signed
/// certificate it would make the browser's warning impossible to click through.
fn add_security_headers(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Answers one request.
pub async fn handle(app: &App, peer: SocketAddr, request: Request<Incoming>) -> Response<Body> {
    let mut response = route(app, peer, request).await;
    add_security_headers(&mut response);
    response
}

async fn route(app: &App, peer: SocketAddr, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    match (request.method(), path.as_str()) {
        (&Method::GET | &Method::HEAD, "/") => {
            let mut response = Response::new(Full::new(Bytes::from_static(b"camcertd\n")));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            response
        }
        (&Method::GET | &Method::HEAD, "/api/v1/certificate") => {
            if let Some(denied) = authenticate(app, peer, &request) {
                return denied;
            }
            json_response(StatusCode::OK, &*app.manager.status())
        }
        (&Method::POST, "/api/v1/certificate/self-signed") => {
            if let Some(denied) = authenticate(app, peer, &request) {
                return denied;
            }
            if let Some(rejected) = check_cross_site(&request) {
                return rejected;
            }
            create_self_signed(app, request).await
        }
        (_, "/" | "/api/v1/certificate") => method_not_allowed("GET, HEAD"),
        (_, "/api/v1/certificate/self-signed") => method_not_allowed("POST"),
        _ => error_response(
            StatusCode::NOT_FOUND,
            "not-found",
            &format!("no such path: {path}"),
        ),
    }
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut response = error_response(
        StatusCode::METHOD_NOT_ALLOWED,
        "method-not-allowed",
        &format!("use {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Returns a response to send instead when the request is not from the admin.
fn authenticate(
    app: &App,
    peer: SocketAddr,
    request: &Request<Incoming>,
) -> Option<Response<Body>> {
    let authorization = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes);
    match app.auth.check(peer.ip(), authorization) {
        Verdict::Allowed => None,
        Verdict::Denied => {
            let mut response = error_response(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "admin credentials are required (HTTP Basic)",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"camcertd\", charset=\"UTF-8\""),
            );
            Some(response)
        }
        Verdict::SlowDown(wait) => {
            let seconds = wait.as_secs() + 1;
            let mut response = error_response(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-failed-logins",
                &format!(
                    "too many failed logins from {}; retry in {seconds} s",
                    peer.ip()
                ),
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            Some(response)
        }
    }
}

/// Rejects requests a browser could be tricked into sending from another
/// site with the admin's cached Basic credentials.
///
/// A JSON content type cannot be sent cross-site without a CORS preflight,
/// which this server never approves; an Origin header, when present, must
/// name the host the request was sent to.
fn check_cross_site(request: &Request<Incoming>) -> Option<Response<Body>> {
    let headers = request.headers();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Some(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            &format!("content type {content_type:?} is not accepted; send application/json"),
        ));
    }
    // No Origin header: not a browser's cross-site request.
    let origin = headers.get(header::ORIGIN)?;
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| {
            request
                .uri()
                .authority()
                .map(|authority| authority.to_string())
        });
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|origin| origin.strip_prefix("https://"))
        .map(str::to_owned);
    match (origin_host, host) {
        (Some(origin_host), Some(host)) if origin_host.eq_ignore_ascii_case(&host) => None,
        _ => Some(error_response(
            StatusCode::FORBIDDEN,
            "cross-site-request",
            "the Origin header does not name this camera; send the request from the camera's own page or without an Origin header",
        )),
    }
}

async fn create_self_signed(app: &App, request: Request<Incoming>) -> Response<Body> {
    let body = match Limited::new(request.into_body(), MAX_JSON_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            let too_large = error
                .downcast_ref::<http_body_util::LengthLimitError>()
                .is_some();
            return if too_large {
                error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too-large",
                    &format!("request body is larger than {MAX_JSON_BODY} bytes"),
                )
            } else {
                error_response(
                    StatusCode::BAD_REQUEST,
                    "bad-request",
                    &format!("reading request body failed: {error}"),
                )
            };
        }
    };
    let options: SelfSignedOptions = if body.iter().all(u8::is_ascii_whitespace) {
        SelfSignedOptions::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(options) => options,
            Err(error) => {
                return error_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-request",
                    &format!("invalid request body: {error}; expected {{\"validity_days\": N, \"key_type\": \"ecdsa-p256\", \"new_key\": false}}"),
                )
            }
        }
    };
    match app
        .manager
        .create_self_signed(options, "admin request")
        .await
    {
        Ok(status) => json_response(StatusCode::OK, &*status),
        Err(ManagerError::Pki(error)) => error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            &error.to_string(),
        ),
        Err(error @ ManagerError::ClockUnset { .. }) => {
            error_response(StatusCode::CONFLICT, "clock-unset", &error.to_string())
        }
        Err(ManagerError::Stopped) => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "the service is shutting down; retry after it restarts",
        ),
        Err(error) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &error.to_string(),
        ),
    }
}
