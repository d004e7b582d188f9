//! Replays every input the fuzzers once failed on, saved under
//! `fuzz/regressions/<target>/`, through the same entry point the fuzz
//! target calls. Each must return without a panic within [`TIME_LIMIT`].
//! Runs under plain `cargo test`; the fuzzers themselves need cargo-fuzz.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

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

/// Runs `entry` on every saved input of `target` and fails on the first
/// panic or overrun, naming the file.
fn replay(target: &str, entry: fn(&[u8])) {
    let files = regression_inputs(target);
    for path in &files {
        let data = std::fs::read(path).expect("reading a regression input");
        let (sender, receiver) = mpsc::channel();
        let worker = thread::spawn(move || {
            entry(&data);
            let _ = sender.send(());
        });
        match receiver.recv_timeout(TIME_LIMIT) {
            Ok(()) => worker.join().expect("worker finished"),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                panic!("{target}: {} panicked", path.display())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                "{target}: {} did not return within {} s",
                path.display(),
                TIME_LIMIT.as_secs()
            ),
        }
    }
}

#[test]
fn upload_regressions_return() {
    replay("upload", fuzz_entry::run_upload);
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
