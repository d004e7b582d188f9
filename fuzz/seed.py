#!/usr/bin/env python3
"""Write the seed inputs of every fuzz target into corpus/<target>/.

Upload and multipart seeds come from the upload corpus, which has a folder
per case and a cases.json naming which file goes into which upload field.
Configuration seeds are the boards' camcertd.toml files, and netlink seeds
are built here.

Usage: seed.py REPOSITORY UPLOAD_CORPUS_DIR
"""

import base64
import hashlib
import json
import pathlib
import struct
import sys

# Record tags of the upload target's input format (see src/lib.rs).
TAGS = {"certificate": 0, "private_key": 1, "chain": 2, "pkcs12": 3, "password_file": 4}
PENDING_KEY_TAG = 5
ENCRYPTED_KEY_DER_TAG = 6
BOUNDARY = "camcertd-fuzz-boundary"


def save(folder, data):
    """Stores one seed under its SHA-1, as libFuzzer names corpus files."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()).write_bytes(data)


def record(tag, data):
    return bytes([tag]) + struct.pack("<H", len(data)) + data


def multipart(parts):
    """Builds a multipart/form-data body in the shape curl -F sends."""
    body = b""
    for name, file_name, data in parts:
        disposition = f'form-data; name="{name}"'
        if file_name is not None:
            disposition += f'; filename="{file_name}"'
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n".encode()
        if file_name is not None:
            body += b"Content-Type: application/octet-stream\r\n"
        body += b"\r\n" + data + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return f"multipart/form-data; boundary={BOUNDARY}\n".encode() + body


def seed_uploads(corpus, out):
    cases_file = corpus / "cases.json"
    if not cases_file.is_file():
        print(f"upload corpus not found at {corpus}; upload and multipart start from built-in seeds only")
        save(out / "upload", record(0, b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
        save(out / "multipart", multipart([("certificate", "cert.pem", b"x"), ("password", None, b"pw")]))
        return
    cases = json.loads(cases_file.read_text())
    for case in cases:
        records = b""
        parts = []
        for field, file_name in case["upload"].items():
            data = (corpus / case["dir"] / file_name).read_bytes()
            records += record(TAGS[field], data)
            save(out / "upload", record(TAGS[field], data))
            if field == "password_file":
                parts.append(("password", None, data))
            else:
                parts.append((field, file_name, data))
        save(out / "upload", records)
        save(out / "multipart", multipart(parts))
    # A certificate with the pending CSR key in place of an uploaded key.
    first = cases[0]
    cert = (corpus / first["dir"] / first["upload"]["certificate"]).read_bytes()
    key = (corpus / first["dir"] / first["upload"]["private_key"]).read_bytes()
    save(out / "upload", record(0, cert) + record(PENDING_KEY_TAG, key))
    # Encrypted keys again as DER, so mutations reach their parameters.
    for case in cases:
        files = case["upload"]
        key = corpus / case["dir"] / files.get("private_key", "")
        if "private_key" not in files or b"ENCRYPTED PRIVATE KEY" not in key.read_bytes():
            continue
        lines = key.read_text().splitlines()
        der = base64.b64decode("".join(line for line in lines if not line.startswith("-----")))
        records = record(0, (corpus / case["dir"] / files["certificate"]).read_bytes())
        records += record(ENCRYPTED_KEY_DER_TAG, der)
        if "password_file" in files:
            records += record(TAGS["password_file"], (corpus / case["dir"] / files["password_file"]).read_bytes())
        save(out / "upload", records)
    print(f"seeded upload and multipart from {len(cases)} corpus cases")


def seed_configs(repository, out):
    boards = sorted(repository.glob("board/*/camcertd.toml"))
    for path in boards:
        save(out / "config", path.read_bytes())
    save(out / "config", b"")
    print(f"seeded config from {len(boards)} board files")


def netlink_message(kind, payload_length):
    """Builds an nlmsghdr (length, type, flags, sequence, port id) and a zero payload."""
    length = 16 + payload_length
    header = struct.pack("=IHHII", length, kind, 0, 1, 0)
    padding = (-length) % 4
    return header + bytes(payload_length + padding)


def seed_netlink(out):
    rtm_newlink, rtm_newaddr, rtm_deladdr, nlmsg_done = 16, 20, 21, 3
    save(out / "netlink", netlink_message(rtm_newaddr, 56))
    save(out / "netlink", netlink_message(rtm_deladdr, 56) + netlink_message(rtm_newlink, 1000))
    save(out / "netlink", netlink_message(rtm_newlink, 2) + netlink_message(nlmsg_done, 4))
    print("seeded netlink with 3 datagrams")


def main():
    repository = pathlib.Path(sys.argv[1])
    corpus = pathlib.Path(sys.argv[2])
    out = repository / "fuzz" / "corpus"
    seed_uploads(corpus, out)
    seed_configs(repository, out)
    seed_netlink(out)


if __name__ == "__main__":
    main()
