//! Entry points shared by the fuzz targets and by `tests/fuzz_regressions.rs`,
//! so a saved input replays through exactly the code the fuzzer ran.
//!
//! Each `run_*` function takes the raw fuzzer input, decodes it into the
//! arguments of one camcertd parser and calls that parser. A panic, a hang or
//! an allocation past the fuzzer's limit is a finding; an `Err` result is not.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use camcertd::pki::import::{self, Field, Upload, UploadFile};
use time::macros::datetime;
use zeroize::Zeroizing;

/// The clock the upload target checks validity against. It lies inside the
/// validity of the accepted cases in the seed corpus, so seeds reach the
/// checks that run after parsing.
pub const UPLOAD_NOW: time::OffsetDateTime = datetime!(2027-06-01 00:00 UTC);

/// The camera addresses the upload target passes for the name warnings.
pub const UPLOAD_ADDRESSES: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10)),
];

/// Record tags of the upload input format, see [`decode_upload`].
pub const TAG_CERTIFICATE: u8 = 0;
/// Tag of a `private_key` file.
pub const TAG_PRIVATE_KEY: u8 = 1;
/// Tag of a `chain` file.
pub const TAG_CHAIN: u8 = 2;
/// Tag of a `pkcs12` file.
pub const TAG_PKCS12: u8 = 3;
/// Tag of the password.
pub const TAG_PASSWORD: u8 = 4;
/// Tag of the pending CSR key (PEM text).
pub const TAG_PENDING_KEY: u8 = 5;
/// Tag of an encrypted PKCS#8 key in DER, uploaded as a PEM `ENCRYPTED
/// PRIVATE KEY` block in the `private_key` field. Mutating the DER reaches
/// the encryption parameters, which base64 would hide from the fuzzer.
pub const TAG_ENCRYPTED_KEY_DER: u8 = 6;
/// Number of record tags; a tag byte is taken modulo this.
const TAG_COUNT: u8 = 7;

/// An upload decoded from fuzzer input, with the pending CSR key that
/// [`import::import`] takes beside it.
pub struct UploadInput {
    /// The files and the password.
    pub upload: Upload,
    /// The PEM key of an outstanding CSR, if the input has one.
    pub pending_key: Option<String>,
}

/// Decodes fuzzer input into an upload.
///
/// The input is a sequence of records: one tag byte (taken modulo 7, see the
/// `TAG_*` constants), a little-endian `u16` length, then that many bytes. A
/// length past the end takes the rest of the input, so every byte string
/// decodes. Text records (password, pending key) are decoded as lossy UTF-8.
pub fn decode_upload(mut data: &[u8]) -> UploadInput {
    let mut upload = Upload::default();
    let mut pending_key = None;
    while let Some((&tag, rest)) = data.split_first() {
        let (length, rest) = match rest {
            [low, high, rest @ ..] => (usize::from(u16::from_le_bytes([*low, *high])), rest),
            _ => (rest.len(), &[][..]),
        };
        let (value, rest) = rest.split_at(length.min(rest.len()));
        data = rest;
        let field = match tag % TAG_COUNT {
            TAG_CERTIFICATE => Field::Certificate,
            TAG_PRIVATE_KEY => Field::PrivateKey,
            TAG_CHAIN => Field::Chain,
            TAG_PKCS12 => Field::Pkcs12,
            TAG_PASSWORD => {
                let password = String::from_utf8_lossy(value).into_owned();
                upload.password = Some(Zeroizing::new(password));
                continue;
            }
            TAG_PENDING_KEY => {
                pending_key = Some(String::from_utf8_lossy(value).into_owned());
                continue;
            }
            TAG_ENCRYPTED_KEY_DER => {
                let block = pem::Pem::new("ENCRYPTED PRIVATE KEY", value.to_vec());
                upload.files.push(UploadFile {
                    field: Field::PrivateKey,
                    name: String::new(),
                    data: Zeroizing::new(pem::encode(&block).into_bytes()),
                });
                continue;
            }
            _ => unreachable!("a tag modulo TAG_COUNT is one of the tags"),
        };
        upload.files.push(UploadFile {
            field,
            name: String::new(),
            data: Zeroizing::new(value.to_vec()),
        });
    }
    UploadInput {
        upload,
        pending_key,
    }
}

/// Runs the upload parser and checks ([`import::import`]) on one input.
pub fn run_upload(data: &[u8]) -> Result<import::Imported, import::ImportError> {
    let input = decode_upload(data);
    import::import(
        &input.upload,
        UPLOAD_NOW,
        &UPLOAD_ADDRESSES,
        input.pending_key.as_deref(),
    )
}

/// Runs the multipart form parser on one input: the first line (up to `\n`)
/// is the Content-Type header value, the rest is the request body.
pub fn run_multipart(data: &[u8]) {
    let (content_type, body) = match data.iter().position(|&byte| byte == b'\n') {
        Some(end) => (&data[..end], &data[end + 1..]),
        None => (data, &[][..]),
    };
    // hyper hands over the header only when it is visible ASCII.
    let Ok(content_type) = std::str::from_utf8(content_type) else {
        return;
    };
    let body = bytes::Bytes::copy_from_slice(body);
    let _ = block_on(camcertd::web::form::read_upload(content_type, body));
}

/// Runs the configuration parser on one input. `Config::load` reads the file
/// as UTF-8 text, so other input never reaches the parser.
pub fn run_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = camcertd::config::Config::parse(text, Path::new("camcertd.toml"));
}

/// Runs the netlink datagram classifier on one input and checks that it
/// counts no more messages than 16-byte headers fit in the datagram.
pub fn run_netlink(data: &[u8]) {
    let events = camcertd::netwatch::classify(data);
    let counted = events.address + events.link + events.other;
    assert!(
        counted <= data.len() / 16,
        "{counted} messages counted in a datagram of {} bytes",
        data.len()
    );
}

/// Polls a future once and returns its output.
///
/// The multipart body is in memory already, so the parser must finish
/// without waiting. It panics if the future returns `Pending`, because
/// nothing would ever wake it.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the multipart parser waited on a body that is complete"),
    }
}
