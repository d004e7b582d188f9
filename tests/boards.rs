//! Board profiles: each folder is complete and its files agree with each other.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use camcertd::config::{BoardProfile, Config};

fn board_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("board");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn every_expected_board_exists() {
    let names: Vec<String> = board_dirs()
        .iter()
        .map(|dir| dir.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["camera-gen1", "camera-gen2", "qemu-arm64", "qemu-armv7"]
    );
}

#[test]
fn profile_matches_board_config() {
    for dir in board_dirs() {
        let profile = BoardProfile::load(&dir.join("profile.toml")).unwrap();
        let config = Config::load(&dir.join("camcertd.toml")).unwrap();
        let board = dir.file_name().unwrap().to_string_lossy().into_owned();

        assert_eq!(profile.name, board);
        assert_eq!(config.server.https_listen, profile.https_listen, "{board}");
        assert_eq!(config.server.http_listen, profile.http_listen, "{board}");
        assert_eq!(
            config.server.user.as_deref(),
            Some(profile.service_user.as_str()),
            "{board}"
        );
        assert_eq!(config.store.state_dir, profile.state_dir, "{board}");
        assert_eq!(
            config.store.factory_dir.as_deref(),
            Some(profile.factory_dir.as_path()),
            "{board}"
        );
        assert_eq!(config.certificate.interfaces, profile.interfaces, "{board}");
        assert_eq!(
            config.certificate.default_key_type, profile.default_key_type,
            "{board}"
        );
        assert!(
            !config.certificate.include_loopback,
            "{board}: a camera certificate names no loopback address"
        );

        let expected_years = match profile.target.as_str() {
            "aarch64-unknown-linux-gnu" => 25,
            "armv7-unknown-linux-gnueabihf" => 15,
            other => panic!("{board}: unexpected target {other}"),
        };
        assert_eq!(profile.factory_validity_years, expected_years, "{board}");
        assert_eq!(
            config.certificate.device_ca.root_validity_years, profile.factory_validity_years,
            "{board}: the camera-local root lives as long as the factory certificate"
        );
    }
}

#[test]
fn init_files_name_config_and_state() {
    for dir in board_dirs() {
        let profile = BoardProfile::load(&dir.join("profile.toml")).unwrap();
        let script = fs::read_to_string(dir.join("S50camcertd")).unwrap();
        assert!(script.contains("/etc/camcertd/camcertd.toml"));
        let syntax = Command::new("sh")
            .arg("-n")
            .arg(dir.join("S50camcertd"))
            .status()
            .unwrap();
        assert!(syntax.success(), "{}: shell syntax", dir.display());

        let unit = fs::read_to_string(dir.join("camcertd.service")).unwrap();
        assert!(unit.contains("--config /etc/camcertd/camcertd.toml"));
        assert!(unit.contains(&format!("ReadWritePaths={}", profile.state_dir.display())));
        assert!(unit.contains(&format!("User={}", profile.service_user)));
    }
}

#[test]
fn init_script_starts_reloads_and_stops() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("board/qemu-arm64/S50camcertd");
    let config = dir.path().join("camcertd.toml");
    let state_dir = dir.path().join("state");
    // A loopback port reserved and released just before the start.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    fs::write(
        &config,
        format!(
            "[server]\nhttps_listen = \"127.0.0.1:{port}\"\n[store]\nstate_dir = {state_dir:?}\n"
        ),
    )
    .unwrap();
    let log = dir.path().join("camcertd.log");
    let pidfile = dir.path().join("camcertd.pid");
    let run = |action: &str| {
        let mut command = Command::new("sh");
        command
            .arg(&script)
            .arg(action)
            .env("CAMCERTD_CONFIG", &config)
            .env("CAMCERTD_PIDFILE", &pidfile)
            .env("CAMCERTD_LOG", &log)
            .env("CAMCERTD_USER", "");
        // The script starts the binary itself, so a test runner for ARM goes in front.
        match std::env::var("CAMCERTD_TEST_RUNNER") {
            Ok(runner) if !runner.trim().is_empty() => {
                let wrapper = dir.path().join("camcertd-wrapper");
                fs::write(
                    &wrapper,
                    format!(
                        "#!/bin/sh\nexec {runner} {} \"$@\"\n",
                        env!("CARGO_BIN_EXE_camcertd")
                    ),
                )
                .unwrap();
                fs::set_permissions(
                    &wrapper,
                    std::os::unix::fs::PermissionsExt::from_mode(0o755),
                )
                .unwrap();
                command.env("CAMCERTD_BIN", &wrapper);
            }
            _ => {
                command.env("CAMCERTD_BIN", env!("CARGO_BIN_EXE_camcertd"));
            }
        }
        command.output().unwrap()
    };
    let wait_for = |needle: &str| {
        for _ in 0..600 {
            if fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(needle)
            {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        false
    };

    let started = run("start");
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    assert!(
        wait_for("listening for HTTPS"),
        "{}",
        fs::read_to_string(&log).unwrap_or_default()
    );
    let status = run("status");
    assert!(String::from_utf8_lossy(&status.stdout).contains("running"));

    let served = common::openssl(&["s_client", "-connect", &format!("127.0.0.1:{port}")], b"");
    assert!(
        served.contains("BEGIN CERTIFICATE") || served.contains("Server certificate"),
        "{served}"
    );

    assert!(run("reload").status.success());
    assert!(wait_for("SIGHUP: rereading the store"));

    let stopped = run("stop");
    assert!(stopped.status.success());
    assert!(wait_for("SIGTERM received"));
    let status = run("status");
    assert_eq!(status.status.code(), Some(3), "status after stop");
    assert_eq!(
        fs::read_to_string(&pidfile).unwrap(),
        "",
        "pid file emptied"
    );
}

#[test]
fn systemd_unit_passes_verification() {
    let Ok(output) = Command::new("systemd-analyze").arg("--version").output() else {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    };
    if !output.status.success() {
        eprintln!("skipped: systemd-analyze does not run here");
        return;
    }
    for dir in board_dirs() {
        let output = Command::new("systemd-analyze")
            .args(["verify", "--man=no"])
            .arg(dir.join("camcertd.service"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        // Only the unit's own syntax counts: the binary and user do not exist on the build host.
        let problems: Vec<&str> = stderr
            .lines()
            .filter(|line| {
                line.contains("camcertd.service")
                    && !line.contains("/usr/bin/camcertd")
                    && !line.contains("not executable")
            })
            .collect();
        assert!(problems.is_empty(), "{}: {problems:?}", dir.display());
    }
}
