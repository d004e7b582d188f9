//! Request checks and body readers shared by the JSON API and the admin page.
//!
//! Each returns a [`Rejection`], which the API turns into a JSON error and
//! the page into an HTML one.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use hyper::{Request, StatusCode, Uri};
use zeroize::Zeroizing;

use crate::pki::import::{Field, Upload, UploadFile};

/// Largest accepted upload body: four files at the per-file limit plus the
/// multipart framing and the small text fields.
pub const MAX_UPLOAD_BODY: usize = 4 * crate::pki::import::MAX_FILE_BYTES + 16 * 1024;

/// Time a client has to send a whole request body, so a slow upload cannot
/// hold a connection slot for long.
const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// A request rejected before it reached the manager.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// The HTTP status to send.
    pub status: StatusCode,
    /// A stable name for programs, such as `cross-site-request`.
    pub kind: &'static str,
    /// The problem and its fix, in English.
    pub message: String,
}

impl Rejection {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
        }
    }
}

/// Rejects a request whose `Origin` header, or else `Referer` header, names
/// a host other than the one the request was sent to.
///
/// A request with neither header passes: browsers send `Origin` with every
/// cross-site POST, so its absence means a non-browser client or a
/// same-origin request from a browser that omits it.
pub fn check_origin(headers: &HeaderMap, uri: &Uri) -> Result<(), Rejection> {
    let (header_name, claimed) = if let Some(origin) = headers.get(header::ORIGIN) {
        ("Origin", origin)
    } else if let Some(referer) = headers.get(header::REFERER) {
        ("Referer", referer)
    } else {
        return Ok(());
    };
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(ToString::to_string));
    // Origin is `https://host[:port]`; Referer adds a path after the host.
    let claimed_host = claimed
        .to_str()
        .ok()
        .and_then(|value| value.strip_prefix("https://"))
        .map(|rest| rest.split('/').next().unwrap_or(rest).to_owned());
    match (claimed_host, host) {
        (Some(claimed_host), Some(host)) if claimed_host.eq_ignore_ascii_case(&host) => Ok(()),
        _ => Err(Rejection::new(
            StatusCode::FORBIDDEN,
            "cross-site-request",
            format!("the {header_name} header does not name this camera; send the request from the camera's own page or without an {header_name} header"),
        )),
    }
}

/// Returns the media type of the request's `Content-Type`, such as
/// `multipart/form-data`, or an empty string when it has none.
pub fn media_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(str::trim)
        .unwrap_or("")
}

/// Rejects a request whose content type is not `expected`.
pub fn check_media_type(headers: &HeaderMap, expected: &str) -> Result<(), Rejection> {
    if media_type(headers).eq_ignore_ascii_case(expected) {
        return Ok(());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    Err(Rejection::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
        format!("content type {content_type:?} is not accepted; send Content-Type: {expected}, also with an empty body"),
    ))
}

/// Reads a whole request body of at most `limit` bytes within [`BODY_TIMEOUT`].
pub async fn read_body(request: Request<Incoming>, limit: usize) -> Result<Bytes, Rejection> {
    let collect = Limited::new(request.into_body(), limit).collect();
    match tokio::time::timeout(BODY_TIMEOUT, collect).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(Rejection::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-large",
            format!("request body is larger than {limit} bytes; send only the key, certificate and chain"),
        )),
        Ok(Err(error)) => Err(Rejection::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            format!("reading request body failed: {error}"),
        )),
        Err(_) => Err(Rejection::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            format!("the request body did not arrive within {} s; retry on a better connection", BODY_TIMEOUT.as_secs()),
        )),
    }
}

/// An upload form: the files and password, and the page's CSRF token when
/// the form came from the admin page.
#[derive(Debug, Default)]
pub struct UploadForm {
    /// The uploaded files and password.
    pub upload: Upload,
    /// The `csrf` field; `None` when the form has none, as from the API.
    pub csrf_token: Option<String>,
}

/// Reads the multipart form fields `certificate`, `private_key`, `chain`,
/// `pkcs12` (files), `password` and `csrf` (text); any may be absent.
pub async fn read_upload(content_type: &str, body: Bytes) -> Result<UploadForm, Rejection> {
    let invalid =
        |message: String| Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, "malformed", message);
    let boundary = multer::parse_boundary(content_type).map_err(|error| {
        invalid(format!(
            "the multipart form has no valid boundary ({error}); send multipart/form-data"
        ))
    })?;
    let stream =
        futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut form = UploadForm::default();
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
                form.upload.password = Some(Zeroizing::new(password));
                continue;
            }
            "csrf" => {
                form.csrf_token = Some(String::from_utf8_lossy(&data).into_owned());
                continue;
            }
            other => {
                return Err(invalid(format!(
                    "unknown form field {other:?}; use certificate, private_key, chain, pkcs12 and password"
                )))
            }
        };
        form.upload.files.push(UploadFile {
            field: kind,
            name: file_name,
            data: Zeroizing::new(data.to_vec()),
        });
    }
    Ok(form)
}

/// Decodes an `application/x-www-form-urlencoded` body into name and value
/// pairs, in order. A pair without `=` gets an empty value.
pub fn parse_urlencoded(body: &[u8]) -> Vec<(String, String)> {
    body.split(|byte| *byte == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let mut parts = pair.splitn(2, |byte| *byte == b'=');
            let name = percent_decode(parts.next().unwrap_or_default());
            let value = percent_decode(parts.next().unwrap_or_default());
            (name, value)
        })
        .collect()
}

/// Decodes `+` and `%XX` escapes; invalid escapes stay as they are and
/// invalid UTF-8 becomes U+FFFD.
fn percent_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'+' => out.push(b' '),
            b'%' if index + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[index + 1..index + 3])
                    .ok()
                    .and_then(|hex| u8::from_str_radix(hex, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        index += 3;
                        continue;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Returns the value of the cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(cookie_name, _)| *cookie_name == name)
        .map(|(_, value)| value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn origin_check_cases() {
        let uri: Uri = "/admin/webserver".parse().unwrap();
        let host = ("host", "192.0.2.10:443");
        let cases: [(&[(&'static str, &str)], bool); 7] = [
            (&[host], true),
            (&[host, ("origin", "https://192.0.2.10:443")], true),
            (&[host, ("origin", "https://evil.example")], false),
            (&[host, ("origin", "null")], false),
            (&[host, ("origin", "http://192.0.2.10:443")], false),
            (
                &[host, ("referer", "https://192.0.2.10:443/admin/webserver")],
                true,
            ),
            (
                &[host, ("referer", "https://evil.example/192.0.2.10:443")],
                false,
            ),
        ];
        for (pairs, allowed) in cases {
            assert_eq!(
                check_origin(&headers(pairs), &uri).is_ok(),
                allowed,
                "{pairs:?}"
            );
        }
    }

    #[test]
    fn urlencoded_body_decodes() {
        let pairs = parse_urlencoded(b"a=1&b=x+y%21&c&d=%zz&=e");
        assert_eq!(
            pairs,
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y!".into()),
                ("c".into(), "".into()),
                ("d".into(), "%zz".into()),
                ("".into(), "e".into()),
            ]
        );
    }

    #[test]
    fn cookie_is_found_among_others() {
        let map = headers(&[("cookie", "a=1; camcertd_session=xyz"), ("cookie", "b=2")]);
        assert_eq!(cookie(&map, "camcertd_session"), Some("xyz"));
        assert_eq!(cookie(&map, "b"), Some("2"));
        assert_eq!(cookie(&map, "c"), None);
    }
}
