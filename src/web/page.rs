//! The admin page "Admin → Web server certificate", rendered on the server
//! and usable without JavaScript.
//!
//! | method | path | login | what |
//! | --- | --- | --- | --- |
//! | GET | `/admin`, `/admin/` | none | redirect to `/admin/webserver` |
//! | GET, POST | `/admin/login` | none | the login form and its check |
//! | POST | `/admin/logout` | session | end the session |
//! | GET | `/admin/webserver` | session | the certificate, addresses, warnings and forms |
//! | POST | `/admin/webserver/self-signed` | session | check or create a self-signed certificate |
//! | POST | `/admin/webserver/upload` | session | upload a certificate (multipart) |
//! | POST | `/admin/webserver/csr` | session | create a CSR |
//! | POST | `/admin/webserver/factory` | session | serve the factory certificate again |
//! | GET | `/admin/webserver/certificate.pem`, `certificate.cer`, `chain.pem` | none | downloads of the served certificate |
//! | GET | `/admin/style.css` | none | the one stylesheet |
//!
//! Every POST passes three checks before anything happens. Its `Origin` (or
//! else `Referer`) header, when present, must name this camera. It must carry
//! the session cookie. Its `csrf` field must be the token of that form in that
//! session (see [`super::session`]). The page accepts no HTTP Basic
//! credentials, so a browser that cached them for the API cannot be made to
//! change anything here. No GET changes state.
//!
//! With `server.http_listen` set, [`super::redirect`] sends browsers that
//! type the bare address here over HTTPS.

use std::net::SocketAddr;

use askama::Template;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use time::OffsetDateTime;

use super::auth::Verdict;
use super::form::{self, Rejection};
use super::i18n::{fill, Lang};
use super::session::COOKIE_NAME;
use super::view::{
    other, upload_fix, CertificateView, ErrorView, LoginPage, MessagePage, SelfSignedForm, Tokens,
    WebserverPage,
};
use super::App;
use crate::manager::{ManagerError, SelfSignedOptions};
use crate::pki::lint::APPLE_MAX_VALIDITY_DAYS;
use crate::pki::KeyType;

type Body = Full<Bytes>;

/// The stylesheet, the page's only asset.
const STYLESHEET: &str = include_str!("admin.css");

/// Cookie that keeps the language chosen with `?lang=`.
const LANG_COOKIE: &str = "camcertd_lang";

/// Largest accepted body of a URL-encoded form; the longest, the login
/// form, is well under 1 KiB.
const MAX_FORM_BODY: usize = 8 * 1024;

/// Days in a "year" of the validity field. Fixed, so that the Apple limit
/// check and the issued certificate agree; leap days are not counted.
const DAYS_PER_YEAR: u64 = 365;

const PAGE_PATH: &str = "/admin/webserver";
const LOGIN_PATH: &str = "/admin/login";

/// Cookie that binds the login form's CSRF token to the browser.
const LOGIN_COOKIE: &str = "camcertd_login";

/// Content-Security-Policy of the page: no script at all, style only from
/// the stylesheet, forms only to this camera, no framing.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Returns whether `path` belongs to the admin page rather than the API.
pub fn owns(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// Routes one request for the admin page and adds the security headers.
pub async fn handle(app: &App, peer: SocketAddr, request: Request<Incoming>) -> Response<Body> {
    let mut response = route(app, peer, request).await;
    add_security_headers(&mut response);
    response
}

/// Adds the headers every page response carries. `Referrer-Policy` is
/// `same-origin`, not `no-referrer`: with `no-referrer`, browsers send
/// `Origin: null` on form posts, which the origin check must reject.
fn add_security_headers(response: &mut Response<Body>) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// The language of this request and whether the reader just chose it.
struct Reader {
    lang: Lang,
    /// Set when `?lang=` chose the language, so a cookie keeps it.
    chosen: bool,
}

fn query_value<'a>(request: &'a Request<Incoming>, name: &str) -> Option<&'a str> {
    request
        .uri()
        .query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

fn reader(request: &Request<Incoming>) -> Reader {
    if let Some(lang) = query_value(request, "lang").and_then(Lang::from_tag) {
        return Reader { lang, chosen: true };
    }
    let headers = request.headers();
    let lang = form::cookie(headers, LANG_COOKIE)
        .and_then(Lang::from_tag)
        .unwrap_or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|value| value.to_str().ok())
                .map(Lang::from_accept_language)
                .unwrap_or_default()
        });
    Reader {
        lang,
        chosen: false,
    }
}

async fn route(app: &App, peer: SocketAddr, request: Request<Incoming>) -> Response<Body> {
    let path = request.uri().path().to_owned();
    let reader = reader(&request);
    let lang = reader.lang;
    let get = matches!(*request.method(), Method::GET | Method::HEAD);
    let post = request.method() == Method::POST;
    match path.as_str() {
        "/admin" | "/admin/" if get => redirect(PAGE_PATH),
        "/admin/style.css" if get => {
            let mut response = Response::new(Full::new(Bytes::from_static(STYLESHEET.as_bytes())));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            );
            response
        }
        "/admin/webserver/certificate.pem" if get => download_pem(app, false),
        "/admin/webserver/chain.pem" if get => download_pem(app, true),
        "/admin/webserver/certificate.cer" if get => download_der(app),
        LOGIN_PATH if get => {
            let nonce = login_nonce(app, &request);
            let mut response = render_login(app, lang, &nonce, StatusCode::OK, None);
            remember_language(&mut response, &reader);
            response
        }
        LOGIN_PATH if post => login(app, peer, request, lang).await,
        PAGE_PATH if get => {
            let Some(session) = session(app, &request) else {
                let mut response = redirect(LOGIN_PATH);
                remember_language(&mut response, &reader);
                return response;
            };
            let mut page = page(app, &session, lang);
            page.notice = match query_value(&request, "done") {
                Some("self-signed") => Some(page.t.done_self_signed.to_owned()),
                Some("upload") => Some(page.t.done_upload.to_owned()),
                Some("factory") => Some(page.t.done_factory.to_owned()),
                _ => None,
            };
            let mut response = render(&page, StatusCode::OK);
            remember_language(&mut response, &reader);
            response
        }
        "/admin/logout"
        | "/admin/webserver/self-signed"
        | "/admin/webserver/csr"
        | "/admin/webserver/factory"
            if post =>
        {
            url_encoded_action(app, request, lang, &path).await
        }
        "/admin/webserver/upload" if post => upload(app, request, lang).await,
        "/admin" | "/admin/" | "/admin/style.css" | PAGE_PATH => {
            method_not_allowed(lang, "GET, HEAD")
        }
        "/admin/webserver/certificate.pem"
        | "/admin/webserver/chain.pem"
        | "/admin/webserver/certificate.cer" => method_not_allowed(lang, "GET, HEAD"),
        LOGIN_PATH => method_not_allowed(lang, "GET, HEAD, POST"),
        "/admin/logout"
        | "/admin/webserver/self-signed"
        | "/admin/webserver/csr"
        | "/admin/webserver/factory"
        | "/admin/webserver/upload" => method_not_allowed(lang, "POST"),
        _ => message(
            lang,
            StatusCode::NOT_FOUND,
            lang.catalogue().not_found,
            format!("no such page: {path}"),
        ),
    }
}

fn html(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn render(template: &impl Template, status: StatusCode) -> Response<Body> {
    match template.render() {
        Ok(body) => html(status, body),
        Err(error) => {
            tracing::error!(%error, "rendering the admin page failed");
            let mut response = Response::new(Full::new(Bytes::from_static(
                b"rendering the page failed; see the service log\n",
            )));
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}

fn message(lang: Lang, status: StatusCode, text: &str, detail: String) -> Response<Body> {
    let page = MessagePage {
        t: lang.catalogue(),
        lang,
        other_lang: other(lang),
        message: text.to_owned(),
        detail,
    };
    render(&page, status)
}

fn rejection_page(lang: Lang, rejection: Rejection) -> Response<Body> {
    let t = lang.catalogue();
    let text = if rejection.kind == "cross-site-request" {
        t.csrf_failed
    } else {
        t.action_failed
    };
    message(lang, rejection.status, text, rejection.message)
}

fn method_not_allowed(lang: Lang, allow: &'static str) -> Response<Body> {
    let mut response = message(
        lang,
        StatusCode::METHOD_NOT_ALLOWED,
        lang.catalogue().method_not_allowed,
        format!("use {allow}"),
    );
    response
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

/// Returns a 303 redirect, so the browser follows a POST with a GET.
fn redirect(location: &str) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response
}

fn set_cookie(response: &mut Response<Body>, cookie: String) {
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn remember_language(response: &mut Response<Body>, reader: &Reader) {
    if reader.chosen {
        set_cookie(
            response,
            format!(
                "{LANG_COOKIE}={}; Path=/admin; Max-Age=31536000; Secure; HttpOnly; SameSite=Strict",
                reader.lang.tag()
            ),
        );
    }
}

/// Returns the request's live session identifier, if any.
fn session(app: &App, request: &Request<Incoming>) -> Option<String> {
    form::cookie(request.headers(), COOKIE_NAME)
        .filter(|id| app.sessions.touch(id))
        .map(str::to_owned)
}

/// Returns the login cookie's value from `request`, or a new one.
fn login_nonce(app: &App, request: &Request<Incoming>) -> String {
    form::cookie(request.headers(), LOGIN_COOKIE)
        .filter(|value| !value.is_empty() && value.len() <= 64)
        .map_or_else(|| app.sessions.login_nonce(), str::to_owned)
}

/// Renders the login form with a CSRF token for `nonce`, and sets the
/// login cookie to `nonce`.
fn render_login(
    app: &App,
    lang: Lang,
    nonce: &str,
    status: StatusCode,
    error: Option<String>,
) -> Response<Body> {
    let page = LoginPage {
        t: lang.catalogue(),
        lang,
        other_lang: other(lang),
        error,
        csrf: app.sessions.csrf_token(nonce, "login"),
    };
    let mut response = render(&page, status);
    set_cookie(
        &mut response,
        format!("{LOGIN_COOKIE}={nonce}; Path={LOGIN_PATH}; Secure; HttpOnly; SameSite=Strict"),
    );
    response
}

async fn read_url_encoded(request: Request<Incoming>) -> Result<Vec<(String, String)>, Rejection> {
    form::check_media_type(request.headers(), "application/x-www-form-urlencoded")?;
    let body = form::read_body(request, MAX_FORM_BODY).await?;
    Ok(form::parse_urlencoded(&body))
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

async fn login(
    app: &App,
    peer: SocketAddr,
    request: Request<Incoming>,
    lang: Lang,
) -> Response<Body> {
    if let Err(rejection) = form::check_origin(request.headers(), request.uri()) {
        return rejection_page(lang, rejection);
    }
    let cookie_nonce = form::cookie(request.headers(), LOGIN_COOKIE).map(str::to_owned);
    let fields = match read_url_encoded(request).await {
        Ok(fields) => zeroize::Zeroizing::new(fields),
        Err(rejection) => return rejection_page(lang, rejection),
    };
    // The token must come from a login form this browser loaded, so another
    // site cannot log the browser in to an account of its choosing.
    let token_valid = cookie_nonce.as_deref().is_some_and(|nonce| {
        app.sessions
            .check_csrf(nonce, "login", field(&fields, "csrf").unwrap_or(""))
    });
    let Some(nonce) = cookie_nonce.filter(|_| token_valid) else {
        tracing::info!(client = %peer.ip(), "login refused: the form token is missing or invalid");
        let nonce = app.sessions.login_nonce();
        let t = lang.catalogue();
        return render_login(
            app,
            lang,
            &nonce,
            StatusCode::FORBIDDEN,
            Some(t.csrf_failed.to_owned()),
        );
    };
    let user = field(&fields, "user").unwrap_or("");
    let password = field(&fields, "password").unwrap_or("");
    let t = lang.catalogue();
    match app.auth.check_login(peer.ip(), user, password) {
        Verdict::Allowed => {
            let id = app.sessions.create();
            tracing::info!(client = %peer.ip(), "admin logged in to the page");
            let mut response = redirect(PAGE_PATH);
            set_cookie(
                &mut response,
                format!("{COOKIE_NAME}={id}; Path=/admin; Secure; HttpOnly; SameSite=Strict"),
            );
            response
        }
        Verdict::Denied => render_login(
            app,
            lang,
            &nonce,
            StatusCode::FORBIDDEN,
            Some(t.login_failed.to_owned()),
        ),
        Verdict::SlowDown(wait) => {
            let seconds = wait.as_secs() + 1;
            let text = fill(t.login_slow_down, &[("seconds", &seconds.to_string())]);
            let mut response =
                render_login(app, lang, &nonce, StatusCode::TOO_MANY_REQUESTS, Some(text));
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            response
        }
    }
}

/// Runs the three checks every state-changing request of the page passes:
/// origin, session, and the CSRF token of `form_name` in `fields`. Returns
/// the session identifier.
fn check_post(
    app: &App,
    headers: &hyper::HeaderMap,
    uri: &hyper::Uri,
    session_id: Option<String>,
    form_name: &str,
    token: Option<&str>,
    lang: Lang,
) -> Result<String, Box<Response<Body>>> {
    form::check_origin(headers, uri)
        .map_err(|rejection| Box::new(rejection_page(lang, rejection)))?;
    let t = lang.catalogue();
    let Some(id) = session_id else {
        return Err(Box::new(message(
            lang,
            StatusCode::UNAUTHORIZED,
            t.session_ended,
            "no live session cookie; log in at /admin/login".into(),
        )));
    };
    if !token.is_some_and(|token| app.sessions.check_csrf(&id, form_name, token)) {
        tracing::warn!(
            form = form_name,
            "page form rejected: missing or wrong CSRF token"
        );
        return Err(Box::new(message(
            lang,
            StatusCode::FORBIDDEN,
            t.csrf_failed,
            "the csrf field is missing or does not match this session".into(),
        )));
    }
    Ok(id)
}

/// Builds the page for session `id` with the forms in their initial state.
fn page(app: &App, id: &str, lang: Lang) -> WebserverPage {
    let status = app.manager.status();
    let served = app.resolver.current();
    WebserverPage {
        t: lang.catalogue(),
        lang,
        other_lang: other(lang),
        cert: CertificateView::new(&status, lang, OffsetDateTime::now_utc()),
        chain_download: served.cert.len() > 1,
        root_download: app.manager.device_ca_certificate().is_some(),
        root_fingerprint: app
            .manager
            .device_ca_certificate()
            .and_then(|pem| ::pem::parse(pem).ok())
            .and_then(|block| crate::pki::CertificateInfo::from_der(block.contents()).ok())
            .map(|info| info.sha256_fingerprint),
        factory_available: app.factory_available,
        form: SelfSignedForm::initial(&status),
        key_types: KeyType::ALL.iter().map(|key| key.as_str()).collect(),
        notice: None,
        error: None,
        csr: None,
        tokens: Tokens {
            self_signed: app.sessions.csrf_token(id, "self-signed"),
            upload: app.sessions.csrf_token(id, "upload"),
            csr: app.sessions.csrf_token(id, "csr"),
            factory: app.sessions.csrf_token(id, "factory"),
            logout: app.sessions.csrf_token(id, "logout"),
        },
    }
}

/// Maps a failed action to its HTTP status and view. An upload rejection
/// shows its kind and fix, and other errors show the service's message.
fn action_error(lang: Lang, error: ManagerError) -> (StatusCode, ErrorView) {
    let t = lang.catalogue();
    let status = match &error {
        ManagerError::Import(_) | ManagerError::Pki(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ManagerError::ClockUnset { .. }
        | ManagerError::NoFactory
        | ManagerError::FactoryExpired { .. } => StatusCode::CONFLICT,
        ManagerError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let view = match error {
        ManagerError::Import(rejection) => ErrorView {
            summary: fill(t.upload_rejected, &[("kind", rejection.kind.as_str())]),
            detail: rejection.message,
            fix: format!("{} {}", upload_fix(t, rejection.kind), t.upload_unchanged),
        },
        error => ErrorView {
            summary: t.action_failed.to_owned(),
            detail: error.to_string(),
            fix: String::new(),
        },
    };
    (status, view)
}

/// Handles the URL-encoded forms: logout, self-signed, CSR and factory.
async fn url_encoded_action(
    app: &App,
    request: Request<Incoming>,
    lang: Lang,
    path: &str,
) -> Response<Body> {
    let headers = request.headers().clone();
    let uri = request.uri().clone();
    let session_id = session(app, &request);
    // The origin is checked before the body is read, so a cross-site post
    // costs no body read; check_post repeats it with the session checks.
    if let Err(rejection) = form::check_origin(&headers, &uri) {
        return rejection_page(lang, rejection);
    }
    let fields = match read_url_encoded(request).await {
        Ok(fields) => fields,
        Err(rejection) => return rejection_page(lang, rejection),
    };
    let form_name = path.rsplit('/').next().unwrap_or("");
    let id = match check_post(
        app,
        &headers,
        &uri,
        session_id,
        form_name,
        field(&fields, "csrf"),
        lang,
    ) {
        Ok(id) => id,
        Err(response) => return *response,
    };
    match form_name {
        "logout" => {
            app.sessions.end(&id);
            let mut response = redirect(LOGIN_PATH);
            set_cookie(
                &mut response,
                format!(
                    "{COOKIE_NAME}=; Path=/admin; Max-Age=0; Secure; HttpOnly; SameSite=Strict"
                ),
            );
            response
        }
        "self-signed" => self_signed(app, &id, lang, &fields).await,
        "csr" => create_csr(app, &id, lang, &fields).await,
        _ => match app.manager.use_factory().await {
            Ok(_) => redirect(&format!("{PAGE_PATH}?done=factory")),
            Err(error) => {
                let mut page = page(app, &id, lang);
                let (status, view) = action_error(lang, error);
                page.error = Some(view);
                render(&page, status)
            }
        },
    }
}

/// Reads the self-signed form into the values to show again and the
/// options to issue with; the options are `None` when a value is invalid.
fn read_self_signed(
    fields: &[(String, String)],
    status: &crate::manager::Status,
) -> (SelfSignedForm, Option<SelfSignedOptions>) {
    let mut form = SelfSignedForm::initial(status);
    form.validity = field(fields, "validity").unwrap_or("").trim().to_owned();
    form.unit_years = field(fields, "unit") == Some("years");
    if let Some(key_type) = field(fields, "key_type") {
        form.key_type = key_type.to_owned();
    }
    form.new_key = field(fields, "key") == Some("new");
    let device_ca = match field(fields, "signer") {
        Some("device-ca") => Some(true),
        Some("self") => Some(false),
        _ => None,
    };
    form.device_ca = device_ca.unwrap_or(form.device_ca);
    let multiplier = if form.unit_years { DAYS_PER_YEAR } else { 1 };
    let days = form
        .validity
        .parse::<u64>()
        .ok()
        .filter(|number| *number > 0)
        .and_then(|number| number.checked_mul(multiplier));
    let key_type = form.key_type.parse::<KeyType>().ok();
    let options = match (days, key_type) {
        (Some(days), Some(key_type)) => Some(SelfSignedOptions {
            validity_days: Some(days),
            key_type: Some(key_type),
            new_key: form.new_key,
            // None signs as the current certificate was signed.
            device_ca,
        }),
        _ => None,
    };
    (form, options)
}

async fn self_signed(
    app: &App,
    id: &str,
    lang: Lang,
    fields: &[(String, String)],
) -> Response<Body> {
    let t = lang.catalogue();
    let mut page = page(app, id, lang);
    let (mut form, options) = read_self_signed(fields, &app.manager.status());
    let Some(options) = options else {
        // The key type comes from a list, so a bad one means a hand-made request.
        let detail = match form.key_type.parse::<KeyType>() {
            Ok(_) => String::new(),
            Err(error) => error.to_string(),
        };
        page.form = form;
        page.error = Some(ErrorView {
            summary: t.validity_invalid.to_owned(),
            detail,
            fix: String::new(),
        });
        return render(&page, StatusCode::UNPROCESSABLE_ENTITY);
    };
    let days = options.validity_days.unwrap_or_default();
    let over_apple_limit = i64::try_from(days).map_or(true, |days| days > APPLE_MAX_VALIDITY_DAYS);
    if field(fields, "action") != Some("create") {
        // The camera-local root refuses such leaves instead of issuing them.
        let template = match (over_apple_limit, form.device_ca) {
            (true, true) => t.apple_refused,
            (true, false) => t.apple_note,
            (false, _) => t.apple_ok,
        };
        form.note = Some(fill(template, &[("days", &days.to_string())]));
        form.note_warns = over_apple_limit;
        page.form = form;
        return render(&page, StatusCode::OK);
    }
    match app
        .manager
        .create_self_signed(options, crate::store::reasons::ADMIN_PAGE)
        .await
    {
        Ok(_) => redirect(&format!("{PAGE_PATH}?done=self-signed")),
        Err(error) => {
            let (status, view) = action_error(lang, error);
            let mut page = self::page(app, id, lang);
            page.form = form;
            page.error = Some(view);
            render(&page, status)
        }
    }
}

async fn create_csr(
    app: &App,
    id: &str,
    lang: Lang,
    fields: &[(String, String)],
) -> Response<Body> {
    let key_type = field(fields, "key_type").and_then(|name| name.parse::<KeyType>().ok());
    let result = app.manager.create_csr(key_type).await;
    let mut page = page(app, id, lang);
    match result {
        Ok(csr) => {
            page.csr = Some(csr);
            render(&page, StatusCode::OK)
        }
        Err(error) => {
            let (status, view) = action_error(lang, error);
            page.error = Some(view);
            render(&page, status)
        }
    }
}

async fn upload(app: &App, request: Request<Incoming>, lang: Lang) -> Response<Body> {
    let headers = request.headers().clone();
    let uri = request.uri().clone();
    let session_id = session(app, &request);
    if let Err(rejection) = form::check_origin(&headers, &uri)
        .and_then(|()| form::check_media_type(&headers, "multipart/form-data"))
    {
        return rejection_page(lang, rejection);
    }
    // Without a session the body is not worth reading.
    if session_id.is_none() {
        if let Err(response) = check_post(app, &headers, &uri, None, "upload", None, lang) {
            return *response;
        }
    }

    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let upload_form = match form::read_body(request, form::MAX_UPLOAD_BODY).await {
        Ok(body) => form::read_upload(&content_type, body).await,
        Err(rejection) => Err(rejection),
    };
    let upload_form = match upload_form {
        Ok(upload_form) => upload_form,
        Err(rejection) => return rejection_page(lang, rejection),
    };

    let id = match check_post(
        app,
        &headers,
        &uri,
        session_id,
        "upload",
        upload_form.csrf_token.as_deref(),
        lang,
    ) {
        Ok(id) => id,
        Err(response) => return *response,
    };

    match app.manager.upload(upload_form.upload).await {
        Ok(_) => redirect(&format!("{PAGE_PATH}?done=upload")),
        Err(error) => {
            let (status, view) = action_error(lang, error);
            let mut page = page(app, &id, lang);
            page.error = Some(view);
            render(&page, status)
        }
    }
}

fn attachment(
    body: Vec<u8>,
    content_type: &'static str,
    file_name: &'static str,
) -> Response<Body> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&format!("attachment; filename=\"{file_name}\""))
            .expect("file names are ASCII"),
    );
    response
}

/// Returns the served leaf, or with `chain` the served certificates above
/// it, as PEM. Public, because every client gets them in the handshake. A
/// stored root that is not sent, which the page's chain list shows, is not
/// in the chain download either.
fn download_pem(app: &App, chain: bool) -> Response<Body> {
    let served = app.resolver.current();
    let certificates = if chain {
        &served.cert[1..]
    } else {
        &served.cert[..1]
    };
    if certificates.is_empty() {
        let lang = Lang::default();
        return message(
            lang,
            StatusCode::NOT_FOUND,
            lang.catalogue().chain_empty,
            "the served certificate has no chain".into(),
        );
    }
    let text: String = certificates
        .iter()
        .map(|der| {
            pem::encode_config(
                &pem::Pem::new("CERTIFICATE", der.to_vec()),
                pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
            )
        })
        .collect();
    let name = if chain {
        "camera-chain.pem"
    } else {
        "camera-certificate.pem"
    };
    attachment(text.into_bytes(), "application/x-pem-file", name)
}

/// Returns the served leaf as DER, the `.cer` form Windows and macOS open directly.
fn download_der(app: &App) -> Response<Body> {
    let served = app.resolver.current();
    attachment(
        served.cert[0].to_vec(),
        "application/pkix-cert",
        "camera-certificate.cer",
    )
}
