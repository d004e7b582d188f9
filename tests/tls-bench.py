#!/usr/bin/env python3
"""Compares camcertd with nginx on loopback, in one run, with the same
certificate and two worker threads each:

- full and resumed TLS handshakes, made by parallel `openssl s_time` clients
  with one `GET /` each, reported as handshakes per second and as server CPU
  time per handshake;
- the ceiling: `openssl speed` signatures per second for the same key type;
- resident memory (RSS, PSS, and the anonymous part of PSS: heap and stacks,
  as opposed to mapped program code) idle and with 100 open TLS connections;
- start-up to the first HTTPS answer with an existing certificate.

Each figure is the median of several runs; ratios come from the same run.
Prints Markdown tables. Needs root only to install nginx and openssl.

    tests/tls-bench.py [--runs N] [--seconds S] [--static]

--static measures camcertd linked statically and not position-independent, as
the camera builds are, for the host's architecture.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "camcertd")
CLIENTS = 2
TICKS = os.sysconf("SC_CLK_TCK")


def run(args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pids):
    """User plus system CPU time of the processes, in seconds."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def memory_kib(pids):
    """Summed RSS, PSS and anonymous PSS of the processes, in KiB."""
    rss = pss = anon = 0
    for pid in pids:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            for line in rollup:
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
                elif line.startswith("Pss_Anon:"):
                    anon += int(line.split()[1])
    return rss, pss, anon


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            return [int(child) for child in listing.read().split()]
    except FileNotFoundError:
        return []


def wait_for_https(port, deadline=20.0):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    start = time.monotonic()
    while time.monotonic() - start < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as raw:
                with context.wrap_socket(raw) as tls:
                    tls.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    if tls.recv(64):
                        return time.monotonic() - start
        except OSError:
            time.sleep(0.005)
    raise RuntimeError(f"no HTTPS answer on port {port} within {deadline} s")


class Camcertd:
    name = "camcertd"

    def __init__(self, state, port):
        config = os.path.join(state, "bench.toml")
        with open(config, "w") as file:
            file.write("[server]\nmax_connections = 256\n[network]\nip_change = \"warn\"\n")
        self.process = subprocess.Popen(
            [BINARY, "serve", "--config", config, "--state-dir", os.path.join(state, "state"),
             "--https-listen", f"127.0.0.1:{port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env={**os.environ, "RUST_LOG": "warn"})
        self.port = port

    def pids(self):
        return [self.process.pid]

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=30)


class Nginx:
    name = "nginx"

    def __init__(self, workdir, port, cert, key):
        os.makedirs(os.path.join(workdir, "nginx"), exist_ok=True)
        config = os.path.join(workdir, "nginx", "nginx.conf")
        with open(config, "w") as file:
            file.write(f"""
worker_processes {CLIENTS};
user root;
pid {workdir}/nginx/nginx.pid;
error_log {workdir}/nginx/error.log warn;
daemon off;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  client_body_temp_path {workdir}/nginx/body;
  ssl_session_cache shared:SSL:1m;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {cert};
    ssl_certificate_key {key};
    ssl_protocols TLSv1.2 TLSv1.3;
    location / {{ return 200 "nginx\\n"; }}
  }}
}}
""")
        self.process = subprocess.Popen(["nginx", "-c", config, "-e", f"{workdir}/nginx/error.log"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.port = port

    def pids(self):
        return [self.process.pid] + children(self.process.pid)

    def stop(self):
        self.process.send_signal(signal.SIGQUIT)
        self.process.wait(timeout=30)


def handshakes(server, seconds, resumed):
    """Runs parallel s_time clients; returns (handshakes per second, server
    CPU microseconds per handshake)."""
    args = ["openssl", "s_time", "-connect", f"127.0.0.1:{server.port}", "-time", str(seconds)]
    args.append("-reuse" if resumed else "-new")
    # One request per connection. It also makes s_time read the TLS 1.3
    # session ticket, which arrives after the handshake: without a read,
    # "-reuse" never resumes and measures full handshakes again.
    args += ["-www", "/"]
    cpu_before = cpu_seconds(server.pids())
    clients = [subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
               for _ in range(CLIENTS)]
    outputs = [client.communicate()[0] for client in clients]
    cpu_used = cpu_seconds(server.pids()) - cpu_before
    count = 0
    for output in outputs:
        found = re.findall(r"(\d+) connections in [\d.]+s", output)
        if not found:
            raise RuntimeError(f"s_time printed no count: {output}")
        count += int(found[-1])
    return count / seconds, cpu_used / max(count, 1) * 1e6


def hold_connections(port, count):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    held = []
    for _ in range(count):
        raw = socket.create_connection(("127.0.0.1", port), timeout=5)
        held.append(context.wrap_socket(raw))
    return held


def signs_per_second(key_type):
    algorithm = {"ecdsa-p256": "ecdsap256", "rsa-2048": "rsa2048"}[key_type]
    output = run(["openssl", "speed", "-seconds", "3", algorithm]).stdout
    line = [line for line in output.splitlines() if line.strip().startswith(("256 bits ecdsa", "rsa 2048"))][-1]
    numbers = re.findall(r"[\d.]+", line.split("bits", 1)[1])
    return float(numbers[-2])


def median(values):
    return statistics.median(values)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--static", action="store_true",
                        help="measure a statically linked build, as on the camera")
    options = parser.parse_args()
    if shutil.which("nginx") is None:
        sys.exit("nginx is missing: apt-get install nginx")
    global BINARY
    if options.static:
        host = next(line.split()[1] for line in run(["rustc", "-vV"]).stdout.splitlines()
                     if line.startswith("host:"))
        flags = f"CARGO_TARGET_{host.upper().replace('-', '_')}_RUSTFLAGS"
        run(["cargo", "build", "--release", "--locked", "--target", host], cwd=ROOT,
            # The camera targets link a fixed-address executable. The host's
            # static default is position-independent and relocates itself at start.
            env={**os.environ, flags: "-C target-feature=+crt-static -C relocation-model=static"})
        BINARY = os.path.join(ROOT, "target", host, "release", "camcertd")
    else:
        run(["cargo", "build", "--release", "--locked"], cwd=ROOT)

    print(f"Machine: {os.cpu_count()} cores, {platform_line()}")
    static = " --static" if options.static else ""
    print(f"Command: tests/tls-bench.py --runs {options.runs} --seconds {options.seconds}{static}\n")
    for key_type in ["ecdsa-p256", "rsa-2048"]:
        workdir = tempfile.mkdtemp(prefix="camcertd-bench-")
        try:
            bench_key_type(key_type, workdir, options)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


def platform_line():
    with open("/proc/cpuinfo") as cpuinfo:
        model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "unknown CPU")
    nginx = run(["nginx", "-v"]).stderr.strip()
    openssl = run(["openssl", "version"]).stdout.strip()
    return f"{model}; {nginx}; {openssl}"


def bench_key_type(key_type, workdir, options):
    state = os.path.join(workdir, "state")
    run([BINARY, "selfsign", "--state-dir", state, "--days", "30", "--key-type", key_type])
    with open(os.path.join(state, "active")) as pointer:
        generation = os.path.join(state, f"gen-{int(pointer.read()):08}")
    cert, key = os.path.join(generation, "cert.pem"), os.path.join(generation, "key.pem")

    # The first start creates the admin password hash; later starts, as on
    # a camera, read it.
    warm_up = Camcertd(workdir, free_port())
    wait_for_https(warm_up.port)
    warm_up.stop()

    figures = {name: {"full": [], "full_cpu": [], "resumed": [], "resumed_cpu": [],
                      "idle": [], "loaded": [], "startup": []} for name in ("camcertd", "nginx")}
    ratios = []
    for _ in range(options.runs):
        per_run = {}
        for make in (lambda port: Camcertd(workdir, port), lambda port: Nginx(workdir, port, cert, key)):
            port = free_port()
            started = time.monotonic()
            server = make(port)
            try:
                wait_for_https(port)
                startup = time.monotonic() - started
                idle = memory_kib(server.pids())
                full, full_cpu = handshakes(server, options.seconds, resumed=False)
                resumed, resumed_cpu = handshakes(server, options.seconds, resumed=True)
                held = hold_connections(port, 100)
                loaded = memory_kib(server.pids())
                for connection in held:
                    connection.close()
            finally:
                server.stop()
            entry = figures[server.name]
            entry["full"].append(full)
            entry["full_cpu"].append(full_cpu)
            entry["resumed"].append(resumed)
            entry["resumed_cpu"].append(resumed_cpu)
            entry["idle"].append(idle)
            entry["loaded"].append(loaded)
            entry["startup"].append(startup * 1000)
            per_run[server.name] = (full_cpu, idle[1], idle[2])
        ratios.append((per_run["nginx"][0] / per_run["camcertd"][0],
                       per_run["camcertd"][1] / per_run["nginx"][1],
                       per_run["camcertd"][2] / per_run["nginx"][2]))

    ceiling = signs_per_second(key_type)
    print(f"### {key_type}\n")
    print(f"Ceiling: `openssl speed` {ceiling:,.0f} signs/s on one core, so at least "
          f"{1e6 / ceiling:,.0f} µs of CPU per full handshake.\n")
    print("| server | full handshakes/s | CPU µs per full handshake | resumed/s | CPU µs per resumed | "
          "idle RSS / PSS / anonymous PSS KiB | 100 connections RSS / PSS / anonymous PSS KiB | start-up ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in ("camcertd", "nginx"):
        entry = figures[name]
        idle = [median([value[field] for value in entry["idle"]]) for field in range(3)]
        loaded = [median([value[field] for value in entry["loaded"]]) for field in range(3)]
        print(f"| {name} | {median(entry['full']):,.0f} | {median(entry['full_cpu']):,.0f} | "
              f"{median(entry['resumed']):,.0f} | {median(entry['resumed_cpu']):,.0f} | "
              f"{' / '.join(f'{value:,.0f}' for value in idle)} | "
              f"{' / '.join(f'{value:,.0f}' for value in loaded)} | "
              f"{median(entry['startup']):,.0f} |")
    cpu_ratio = median([ratio[0] for ratio in ratios])
    memory_ratio = median([ratio[1] for ratio in ratios])
    anonymous_ratio = median([ratio[2] for ratio in ratios])
    print(f"\nSame-run ratios, median of {options.runs}: nginx CPU per full handshake / camcertd's = "
          f"{cpu_ratio:.2f} (above 1: camcertd spends less); camcertd idle PSS / nginx's = "
          f"{memory_ratio:.2f} (goal: 0.5 or less); camcertd idle anonymous PSS / nginx's = "
          f"{anonymous_ratio:.2f}.\n")


if __name__ == "__main__":
    main()
