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
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Serialize;

use super::auth::Verdict;
use super::App;
use crate::manager::{ManagerError, SelfSignedOptions};
use crate::pki::import::{Field, Upload, UploadFile};
use zeroize::Zeroizing;

/// Largest accepted JSON request body. The self-signed request is under 100 bytes.
const MAX_JSON_BODY: usize = 4 * 1024;

/// Largest accepted upload body: four files at the per-file limit plus the
/// multipart framing.
const MAX_UPLOAD_BODY: usize = 4 * crate::pki::import::MAX_FILE_BYTES + 16 * 1024;

/// Time a client has to send a whole request body, so a slow upload cannot
/// hold a connection slot for long.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

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
            if let Some(denied) = authenticate(app, peer, &request) {
                return denied;
            }
            if let Some(rejected) = check_cross_site(&request, "application/json") {
                return rejected;
            }
            create_self_signed(app, request).await
        }
        (&Method::PUT, "/api/v1/certificate") => {
            if let Some(denied) = authenticate(app, peer, &request) {
                return denied;
            }
            if let Some(rejected) = check_cross_site(&request, "multipart/form-data") {
                return rejected;
            }
            upload_certificate(app, request).await
        }
        (&Method::POST, "/api/v1/csr") => {
            if let Some(denied) = authenticate(app, peer, &request) {
                return denied;
            }
            if let Some(rejected) = check_cross_site(&request, "application/json") {
                return rejected;
            }
            create_csr(app, request).await
        }
        (
            &Method::GET | &Method::HEAD,
            "/api/v1/device-ca/root.pem" | "/api/v1/device-ca/root.cer",
        ) => device_ca_root(app, path.ends_with(".cer")),
        (_, "/") => method_not_allowed("GET, HEAD"),
        (_, "/api/v1/certificate") => method_not_allowed("GET, HEAD, PUT"),
        (_, "/api/v1/certificate/self-signed" | "/api/v1/csr") => method_not_allowed("POST"),
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
/// CORS preflight, which this server never approves; an Origin header, when
/// present, must name the host the request was sent to. `media_type` is the
/// content type the route accepts.
fn check_cross_site(
    request: &Request<Incoming>,
    media_type_expected: &str,
) -> Option<Response<Body>> {
    let headers = request.headers();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case(media_type_expected) {
        return Some(error_response(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            &format!("content type {content_type:?} is not accepted; send {media_type_expected}"),
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

/// Reads a whole request body of at most `limit` bytes within [`BODY_TIMEOUT`].
async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, Response<Body>> {
    let collect = Limited::new(request.into_body(), limit).collect();
    match tokio::time::timeout(BODY_TIMEOUT, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            &format!("request body is larger than {limit} bytes; send only the key, certificate and chain"),
        )),
        Ok(Err(error)) => Err(error_response(
            StatusCode::BAD_REQUEST,
            "bad-request",
            &format!("reading request body failed: {error}"),
        )),
        Err(_) => Err(error_response(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            &format!("the request body did not arrive within {} s; retry on a better connection", BODY_TIMEOUT.as_secs()),
        )),
    }
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

/// Reads the multipart form fields `certificate`, `private_key`, `chain`,
/// `pkcs12` (files) and `password` (text); any may be absent. On error it
/// returns the 422 response to send. Public for the fuzz targets.
pub async fn read_upload(content_type: &str, body: Bytes) -> Result<Upload, Response<Body>> {
    let invalid =
        |message: String| error_response(StatusCode::UNPROCESSABLE_ENTITY, "malformed", &message);
    let boundary = multer::parse_boundary(content_type).map_err(|error| {
        invalid(format!(
            "the multipart form has no valid boundary ({error}); send multipart/form-data"
        ))
    })?;
    let stream =
        futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut upload = Upload::default();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(error) => {
                return Err(invalid(format!(
                    "the multipart form is broken: {error}; send it again"
                )))
            }
        };
        let name = field.name().unwrap_or("").to_owned();
        let file_name = field.file_name().unwrap_or("").to_owned();
        let data = field
            .bytes()
            .await
            .map_err(|error| invalid(format!("field {name:?} could not be read: {error}")))?;
        let kind = match name.as_str() {
            "certificate" => Field::Certificate,
            "private_key" => Field::PrivateKey,
            "chain" => Field::Chain,
            "pkcs12" => Field::Pkcs12,
            "password" => {
                let password = String::from_utf8(data.to_vec())
                    .map_err(|_| invalid("the password is not valid UTF-8; type it again".into()))?;
                upload.password = Some(Zeroizing::new(password));
                continue;
            }
            other => {
                return Err(invalid(format!(
                    "unknown form field {other:?}; use certificate, private_key, chain, pkcs12 and password"
                )))
            }
        };
        upload.files.push(UploadFile {
            field: kind,
            name: file_name,
            data: Zeroizing::new(data.to_vec()),
        });
    }
    Ok(upload)
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
    let body = match read_body(request, MAX_UPLOAD_BODY).await {
        Ok(body) => body,
        Err(response) => return response,
    };
    let upload = match read_upload(&content_type, body).await {
        Ok(upload) => upload,
        Err(response) => return response,
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
        .create_self_signed(options, "admin request")
        .await
    {
        Ok(status) => json_response(StatusCode::OK, &*status),
        Err(error) => manager_error_response(error),
    }
}
