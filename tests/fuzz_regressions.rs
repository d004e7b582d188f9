//! Replays every input the fuzzers once failed on, saved under
//! `fuzz/regressions/<target>/`, through the same entry point the fuzz
//! target calls. Each must return without a panic within [`TIME_LIMIT`].
//! Runs under plain `cargo test`; the fuzzers themselves need cargo-fuzz.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use camcertd::pki::import::RejectKind;

#[path = "../fuzz/src/lib.rs"]
mod fuzz_entry;

/// Time one input may take in an unoptimized test build. The fuzzers count
/// 5 s as a hang in an optimized build.
const TIME_LIMIT: Duration = Duration::from_secs(20);

fn regression_inputs(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|entry| entry.expect("reading the regressions folder").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// Runs `work` on its own thread and returns its result. Fails, naming
/// `input`, if it panics or takes longer than [`TIME_LIMIT`].
fn within_time_limit<T: Send + 'static>(
    target: &str,
    input: &Path,
    work: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (sender, receiver) = mpsc::channel();
    let worker = thread::spawn(move || {
        let _ = sender.send(work());
    });
    match receiver.recv_timeout(TIME_LIMIT) {
        Ok(result) => {
            worker.join().expect("worker finished");
            result
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            panic!("{target}: {} panicked", input.display())
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "{target}: {} did not return within {} s",
            input.display(),
            TIME_LIMIT.as_secs()
        ),
    }
}

/// Runs `entry` on every saved input of `target` and fails on the first
/// panic or overrun, naming the file.
fn replay(target: &str, entry: fn(&[u8])) {
    for path in regression_inputs(target) {
        let data = std::fs::read(&path).expect("reading a regression input");
        within_time_limit(target, &path, move || entry(&data));
    }
}

#[test]
fn upload_regressions_return() {
    replay("upload", |data| {
        let _ = fuzz_entry::run_upload(data);
    });
}

#[test]
fn costly_key_encryption_is_malformed() {
    let files: Vec<PathBuf> = regression_inputs("upload")
        .into_iter()
        .filter(|path| path.to_string_lossy().contains("encrypted-pkcs8-"))
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    for path in files {
        let data = std::fs::read(&path).expect("reading a regression input");
        let result = within_time_limit("upload", &path, move || fuzz_entry::run_upload(&data));
        let error = match result {
            Ok(_) => panic!("{} was accepted", path.display()),
            Err(error) => error,
        };
        assert_eq!(error.kind, RejectKind::Malformed, "{}", error.message);
        assert!(
            error.message.contains("export the key again"),
            "{}",
            error.message
        );
    }
}

#[test]
fn multipart_regressions_return() {
    replay("multipart", fuzz_entry::run_multipart);
}

#[test]
fn config_regressions_return() {
    replay("config", fuzz_entry::run_config);
}

#[test]
fn netlink_regressions_return() {
    replay("netlink", fuzz_entry::run_netlink);
}
