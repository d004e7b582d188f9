//! Routes of the JSON API.
//!
//! | method | path | auth | what |
//! | --- | --- | --- | --- |
//! | GET | `/` | none | a one-line text naming the service |
//! | GET | `/api/v1/certificate` | admin | the served certificate as JSON |
//! | PUT | `/api/v1/certificate` | admin | upload and install the admin's own key, certificate and chain |
//! | POST | `/api/v1/certificate/self-signed` | admin | issue and install a self-signed one |
//! | POST | `/api/v1/csr` | admin | generate a key on the camera and return a CSR for it |

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::auth::Verdict;
use super::form::{self, Rejection};
use super::App;
use crate::manager::{ManagerError, SelfSignedOptions};

/// Largest accepted JSON request body. The self-signed request is under 100 bytes.
const MAX_JSON_BODY: usize = 4 * 1024;

type Body = Full<Bytes>;

/// An error body: `{"error": {"kind": KIND, "message": TEXT}}`.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

/// The `error` object: a stable kind for programs and a message for people.
#[derive(Serialize)]
struct ErrorDetail<'a> {
    kind: &'a str,
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
            error: ErrorDetail { kind, message },
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
            if let Some(refused) = admit_change(app, peer, &request, "application/json") {
                return refused;
            }
            create_self_signed(app, request).await
        }
        (&Method::PUT, "/api/v1/certificate") => {
            if let Some(refused) = admit_change(app, peer, &request, "multipart/form-data") {
                return refused;
            }
            upload_certificate(app, request).await
        }
        (&Method::POST, "/api/v1/csr") => {
            if let Some(refused) = admit_change(app, peer, &request, "application/json") {
                return refused;
            }
            create_csr(app, request).await
        }
        (&Method::POST, "/api/v1/certificate/factory") => {
            if let Some(refused) = admit_change(app, peer, &request, "application/json") {
                return refused;
            }
            match app.manager.use_factory().await {
                Ok(status) => json_response(StatusCode::OK, &*status),
                Err(error) => manager_error_response(error),
            }
        }
        (
            &Method::GET | &Method::HEAD,
            "/api/v1/device-ca/root.pem" | "/api/v1/device-ca/root.cer",
        ) => device_ca_root(app, path.ends_with(".cer")),
        (_, "/") => method_not_allowed("GET, HEAD"),
        (_, "/api/v1/certificate") => method_not_allowed("GET, HEAD, PUT"),
        (_, "/api/v1/certificate/self-signed" | "/api/v1/certificate/factory" | "/api/v1/csr") => {
            method_not_allowed("POST")
        }
        _ => error_response(
            StatusCode::NOT_FOUND,
            "not-found",
            &format!("no such path: {path}"),
        ),
    }
}

/// Serves the camera-local root without login, since clients need it to
/// decide whether to trust the camera: PEM, or DER for `.cer`.
fn device_ca_root(app: &App, der: bool) -> Response<Body> {
    let Some(pem) = app.manager.device_ca_certificate() else {
        return error_response(
            StatusCode::NOT_FOUND,
            "no-device-ca",
            "this camera has no local root yet; create a certificate signed by it first (device_ca: true)",
        );
    };
    let (body, content_type, file_name) = if der {
        match ::pem::parse(&pem) {
            Ok(block) => (
                Bytes::from(block.into_contents()),
                "application/pkix-cert",
                "camera-root.cer",
            ),
            Err(error) => {
                tracing::error!(%error, "the stored camera-local root is not valid PEM");
                return error_response(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the stored root certificate cannot be read; see the service log",
                );
            }
        }
    } else {
        (
            Bytes::from(pem),
            "application/x-pem-file",
            "camera-root.pem",
        )
    };
    let mut response = Response::new(Full::new(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    response
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
/// A JSON content type or the PUT method cannot be sent cross-site without a
/// CORS preflight, which this server never approves. An Origin header, or
/// else a Referer header, must name the host the request was sent to. `media_type_expected`
/// is the content type the route accepts.
/// Checks a state-changing request: admin credentials, then the content
/// type and the cross-site headers. Returns the response to send when it
/// fails either check.
fn admit_change(
    app: &App,
    peer: SocketAddr,
    request: &Request<Incoming>,
    media_type_expected: &str,
) -> Option<Response<Body>> {
    authenticate(app, peer, request).or_else(|| check_cross_site(request, media_type_expected))
}

fn check_cross_site(
    request: &Request<Incoming>,
    media_type_expected: &str,
) -> Option<Response<Body>> {
    form::check_media_type(request.headers(), media_type_expected)
        .and_then(|()| form::check_origin(request.headers(), request.uri()))
        .err()
        .map(rejection_response)
}

fn rejection_response(rejection: Rejection) -> Response<Body> {
    error_response(rejection.status, rejection.kind, &rejection.message)
}

/// Reads a whole request body of at most `limit` bytes.
async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, Response<Body>> {
    form::read_body(request, limit)
        .await
        .map_err(rejection_response)
}

/// Maps a manager error to its response.
fn manager_error_response(error: ManagerError) -> Response<Body> {
    match error {
        ManagerError::Import(rejection) => error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            rejection.kind.as_str(),
            &rejection.message,
        ),
        ManagerError::Pki(error) => error_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-request",
            &error.to_string(),
        ),
        error @ ManagerError::ClockUnset { .. } => {
            error_response(StatusCode::CONFLICT, "clock-unset", &error.to_string())
        }
        error @ ManagerError::NoFactory => {
            error_response(StatusCode::CONFLICT, "no-factory", &error.to_string())
        }
        error @ ManagerError::FactoryExpired { .. } => {
            error_response(StatusCode::CONFLICT, "factory-expired", &error.to_string())
        }
        ManagerError::Stopped => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting-down",
            "the service is shutting down; retry after it restarts",
        ),
        error => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            &error.to_string(),
        ),
    }
}

async fn upload_certificate(app: &App, request: Request<Incoming>) -> Response<Body> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    // NOTE: the raw body buffer (hyper's and multer's `Bytes`) is freed
    // without being wiped; the parsed fields and the password are zeroized.
    let body = match read_body(request, form::MAX_UPLOAD_BODY).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let upload = match form::read_upload(&content_type, body).await {
        Ok(form) => form.upload,
        Err(rejection) => return rejection_response(rejection),
    };
    match app.manager.upload(upload).await {
        Ok(status) => json_response(StatusCode::OK, &*status),
        Err(error) => manager_error_response(error),
    }
}

/// The CSR request body: `{"key_type": "ecdsa-p256"}`, every key optional.
#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CsrRequest {
    key_type: Option<crate::pki::KeyType>,
}

/// The CSR response body.
#[derive(Serialize)]
struct CsrResponse {
    /// The PKCS#10 request in PEM, for the company CA.
    csr: String,
}

async fn create_csr(app: &App, request: Request<Incoming>) -> Response<Body> {
    let body = match read_body(request, MAX_JSON_BODY).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let options: CsrRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CsrRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(options) => options,
            Err(error) => {
                return error_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid-request",
                    &format!(
                        "invalid request body: {error}; expected {{\"key_type\": \"ecdsa-p256\"}}"
                    ),
                )
            }
        }
    };
    match app.manager.create_csr(options.key_type).await {
        Ok(csr) => json_response(StatusCode::OK, &CsrResponse { csr }),
        Err(error) => manager_error_response(error),
    }
}

async fn create_self_signed(app: &App, request: Request<Incoming>) -> Response<Body> {
    let body = match read_body(request, MAX_JSON_BODY).await {
        Ok(body) => body,
        Err(response) => return response,
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
        .create_self_signed(options, crate::store::reasons::ADMIN_API)
        .await
    {
        Ok(status) => json_response(StatusCode::OK, &*status),
        Err(error) => manager_error_response(error),
    }
}
