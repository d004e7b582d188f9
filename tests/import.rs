//! The upload corpus through the import checks, without a server: every
//! accepted case is accepted with its warnings, every rejected one gets its kind.

mod common;

use camcertd::pki::import::{import, Field, Upload, UploadFile};
use common::*;
use zeroize::Zeroizing;

fn upload_of(dir: &std::path::Path, case: &CorpusCase) -> Upload {
    let mut upload = Upload::default();
    for (field, file) in &case.upload {
        let data = std::fs::read(dir.join(&case.dir).join(file)).unwrap();
        let field = match field.as_str() {
            "certificate" => Field::Certificate,
            "private_key" => Field::PrivateKey,
            "chain" => Field::Chain,
            "pkcs12" => Field::Pkcs12,
            "password_file" => {
                upload.password = Some(Zeroizing::new(String::from_utf8(data).unwrap()));
                continue;
            }
            other => panic!("{}: unknown upload field {other}", case.id),
        };
        upload.files.push(UploadFile {
            field,
            name: file.clone(),
            data,
        });
    }
    upload
}

/// The kind name of a `warn: ...` entry, as the API spells it.
fn warning_kind(kind: &str) -> &'static str {
    match kind.trim_start_matches("warn: ") {
        "negative serial" => "negative-serial",
        "no subjectAltName" => "no-subject-alt-name",
        other => panic!("unknown corpus warning {other:?}"),
    }
}

#[test]
fn corpus_cases_get_expected_outcome() {
    let Some(dir) = corpus_dir() else { return };
    let now = time::OffsetDateTime::now_utc();
    let mut failures = Vec::new();
    for case in corpus_cases(&dir) {
        let result = import(&upload_of(&dir, &case), now, &[], None);
        match (case.expect.as_str(), result) {
            ("accept", Ok(imported)) => {
                let kinds: Vec<String> = imported
                    .warnings
                    .iter()
                    .map(|warning| {
                        serde_json::to_value(warning.kind)
                            .unwrap()
                            .as_str()
                            .unwrap()
                            .to_owned()
                    })
                    .collect();
                if case.warn {
                    let expected = warning_kind(case.kind.as_deref().unwrap());
                    if !kinds.iter().any(|kind| kind == expected) {
                        failures.push(format!(
                            "{}: expected warning {expected}, got {kinds:?}",
                            case.id
                        ));
                    }
                } else if kinds.iter().any(|kind| {
                    kind == "negative-serial"
                        || kind == "no-subject-alt-name"
                        || kind == "ip-as-dns-name"
                        || kind == "ca-certificate"
                }) {
                    failures.push(format!(
                        "{}: unexpected certificate-form warning {kinds:?}",
                        case.id
                    ));
                }
            }
            ("reject", Err(error)) => {
                let expected = case.kind.as_deref().unwrap();
                if error.kind.as_str() != expected {
                    failures.push(format!(
                        "{}: expected {expected}, got {} ({})",
                        case.id,
                        error.kind.as_str(),
                        error.message
                    ));
                }
            }
            ("accept", Err(error)) => failures.push(format!(
                "{}: expected accept, got {}: {}",
                case.id,
                error.kind.as_str(),
                error.message
            )),
            (_, Ok(_)) => failures.push(format!(
                "{}: expected reject {:?}, but it was accepted",
                case.id, case.kind
            )),
            (other, _) => failures.push(format!("{}: unknown expectation {other}", case.id)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} corpus cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
