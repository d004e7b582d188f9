//! Connection limits under a flood on loopback: 1,000 idle TCP connections
//! and slow partial requests must not keep the admin out or grow memory
//! without bound.

mod common;

use std::io::Write;
use std::net::TcpStream as StdTcpStream;
use std::time::{Duration, Instant};

use common::*;
use tokio::io::AsyncWriteExt;

/// Resident memory of process `pid` in KiB, from /proc.
fn resident_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|value| value.parse().ok())
        .expect("VmRSS is in /proc/PID/status")
}

/// How long the admin may wait for an answer: a second natively, more when
/// the tests run as emulated ARM code.
fn answer_deadline() -> Duration {
    if std::env::var_os("CAMCERTD_TEST_RUNNER").is_some() {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(1)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_gets_in_during_a_flood() {
    let state = tempfile::tempdir().unwrap();
    let server = Server::start(state.path(), &[]);
    let password = server.password();
    let idle_memory = resident_kib(server.pid());

    // 1,000 idle TCP connections that never start TLS.
    let mut idle = Vec::new();
    let began = Instant::now();
    for _ in 0..1000 {
        if began.elapsed() > Duration::from_secs(60) {
            break;
        }
        if let Ok(stream) = StdTcpStream::connect_timeout(&server.address, Duration::from_secs(2)) {
            idle.push(stream);
        }
    }
    assert!(idle.len() >= 900, "only {} connections opened", idle.len());

    // Slow clients: TLS done, then half a request line and nothing more.
    let mut slow = Vec::new();
    for _ in 0..50 {
        let Ok(Ok(mut stream)) = tokio::time::timeout(
            Duration::from_secs(5),
            connect(
                server.address,
                observing_client(&[b"http/1.1"]),
                "127.0.0.1",
            ),
        )
        .await
        else {
            continue;
        };
        let _ = stream
            .write_all(b"GET /api/v1/certificate HTTP/1.1\r\nHost: 12")
            .await;
        slow.push(stream);
    }
    // A few idle sockets also send a byte of a ClientHello.
    for stream in idle.iter_mut().take(100) {
        let _ = stream.write_all(&[0x16]);
    }

    // The admin's request gets an answer well before any timeout frees a slot.
    let deadline = answer_deadline();
    let answer = tokio::time::timeout(deadline, async {
        let mut connection =
            HttpConnection::open(server.address, observing_client(&[b"http/1.1"])).await;
        connection
            .request(
                "GET",
                "/api/v1/certificate",
                Some(("admin", password.as_str())),
                None,
            )
            .await
    })
    .await;
    let (status, _, body) = answer.unwrap_or_else(|_| {
        panic!(
            "no answer within {deadline:?} during the flood; log:\n{}",
            server.log_text()
        )
    });
    assert_eq!(status, 200, "{body}");

    // Memory stays bounded: the slots cap what the flood can hold.
    let flooded_memory = resident_kib(server.pid());
    assert!(
        flooded_memory < idle_memory + 32 * 1024,
        "resident memory grew from {idle_memory} KiB to {flooded_memory} KiB"
    );
    eprintln!("resident memory: {idle_memory} KiB idle, {flooded_memory} KiB during the flood");
    drop(slow);
    drop(idle);
}
