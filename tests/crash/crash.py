#!/usr/bin/env python3
"""Crash-consistency harness for hoclieu: uploads over multipart and tus while the server is
killed with SIGKILL and restarted, then checks that nothing acknowledged was lost or corrupted,
that the search index agrees with the database, and that `hoclieu verify` finds storage clean.

Standard library only (Python 3.11+). Usage:

    python3 tests/crash/crash.py --bin target/debug/hoclieu --uploads 60 --kills 5 \
        --clients 4 --max-size 2000000 --seed 1 --report /tmp/crash.json

What "acknowledged" means (what a client would report to its user as done):
  multipart  a 201 response was read (or, after a broken attempt, a 409 `conflict` on the external
             id: an earlier attempt committed; the material is looked up by external id);
  tus        a PATCH response or a HEAD showed Upload-Offset == Upload-Length.

Kills land at three kinds of moments (chosen per kill): a random time; a time when most clients
have a request in flight; and the commit window, 0–100 ms after a client sent the last byte of an
upload (multipart body or final tus PATCH), where the server hashes, stages and commits.

Exit code 0 only when nothing acknowledged was lost or corrupted, there are no duplicates, the
index holds as many documents as the database has published materials, verify finds nothing
damaged and is clean after `verify --repair --grace-minutes 0`, and every upload was acknowledged
(an upload the harness had to give up on is a failure too). Otherwise 1, with the reasons printed.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import hashlib
import http.client
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import urllib.parse
import uuid

TUS = "1.0.0"
KIB = 1024
MIB = 1024 * KIB
# Exceptions that mean "the connection broke": the server died, restarted, or was not up yet.
NET_ERRORS = (OSError, http.client.HTTPException)
# First bytes that could start a program signature the server refuses with 415 (infer's "app"
# matchers: MZ, ELF, Mach-O, Java class, DEX, LLVM bitcode, DER, COFF, wasm, PEM). Random data
# starting with one of these gets its first byte replaced, so no upload is refused by chance.
PROGRAM_FIRST_BYTES = {0x00, 0x2D, 0x30, 0x42, 0x4C, 0x4D, 0x64, 0x7F, 0xCA, 0xCE, 0xCF, 0xFE}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, status: int, headers: http.client.HTTPMessage, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def error_code(self) -> str | None:
        try:
            return self.json()["error"]["code"]
        except Exception:
            return None


def request(port, method, path, headers=None, body=None, on_sent=None, timeout=120.0) -> Response:
    """One request on a fresh connection. `body`: bytes or a list of bytes chunks, sent as they
    come (so a kill can land mid-body). `on_sent` runs once the last body byte is written.
    Raises NET_ERRORS when the connection breaks before a whole response is read."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        chunks = [body] if isinstance(body, (bytes, bytearray, memoryview)) else (body or [])
        length = sum(len(c) for c in chunks)
        if body is not None or method in ("POST", "PATCH", "PUT"):
            conn.putheader("Content-Length", str(length))
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        try:
            for c in chunks:
                conn.send(c)
        except NET_ERRORS:
            # The server may have answered early (e.g. 409) and closed: read that answer if any.
            try:
                conn.sock and conn.sock.settimeout(2.0)
                resp = conn.getresponse()
                return Response(resp.status, resp.headers, resp.read())
            except NET_ERRORS:
                pass
            raise
        if on_sent:
            on_sent()
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, resp.headers, data)
    finally:
        conn.close()


# --------------------------------------------------------------------------------------------
# The server under test


class Server:
    def __init__(self, binary, data_dir, port):
        self.binary, self.data_dir, self.port = binary, data_dir, port
        self.proc: subprocess.Popen | None = None
        self.log_path = os.path.join(data_dir, "server.log")
        self.lock = threading.RLock()
        self.up = threading.Event()  # set while a healthy server is believed to run
        self.expected_exit = False
        self.starts = 0
        self.start_seconds: list[float] = []
        self.unexpected_exits: list[dict] = []
        self.env = dict(os.environ)
        self.env.pop("RUST_LOG", None)  # it would override HOCLIEU__LOG__LEVEL
        self.env.update(
            {
                "HOCLIEU__LOG__LEVEL": "warn",
                "HOCLIEU__INDEX__POLL_INTERVAL_MS": "50",
                "HOCLIEU__PREVIEW__WORKERS": "0",
            }
        )

    def start(self, timeout=90.0):
        """Starts the server and waits for /healthz (retrying when the process exits early)."""
        with self.lock:
            t0 = time.monotonic()
            attempt = 0
            while True:
                attempt += 1
                logf = open(self.log_path, "ab")
                logf.write(f"\n===== start #{self.starts + 1} at {time.strftime('%H:%M:%S')} =====\n".encode())
                logf.flush()
                self.proc = subprocess.Popen(
                    [self.binary, "--data-dir", self.data_dir, "serve", "--bind", f"127.0.0.1:{self.port}"],
                    stdin=subprocess.DEVNULL,
                    stdout=logf,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                )
                logf.close()  # the child has its own descriptor: no pipe to fill
                self.starts += 1
                self.expected_exit = False
                while time.monotonic() - t0 < timeout:
                    if self.proc.poll() is not None:
                        break
                    try:
                        if request(self.port, "GET", "/healthz", timeout=2.0).status == 200:
                            self.start_seconds.append(time.monotonic() - t0)
                            self.up.set()
                            return
                    except NET_ERRORS:
                        pass
                    time.sleep(0.05)
                if self.proc.poll() is None:
                    self._kill()
                    raise RuntimeError(f"server did not answer /healthz within {timeout:.0f} s; see {self.log_path}")
                rc = self.proc.returncode
                self.unexpected_exits.append({"when": "starting", "returncode": rc, "log_tail": self.log_tail()})
                if attempt >= 5 or time.monotonic() - t0 >= timeout:
                    raise RuntimeError(f"server exits at start (code {rc}); see {self.log_path}")
                time.sleep(0.5)

    def _kill(self):
        try:
            self.proc.send_signal(signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()

    def kill9(self) -> int:
        """SIGKILL, and wait for the process to be gone. Returns the pid killed."""
        with self.lock:
            self.up.clear()
            self.expected_exit = True
            pid = self.proc.pid
            self._kill()
            return pid

    def stop(self, grace=10.0) -> dict:
        """SIGTERM, then SIGKILL after `grace` seconds."""
        with self.lock:
            self.up.clear()
            self.expected_exit = True
            if self.proc is None or self.proc.poll() is not None:
                return {"graceful": None, "seconds": 0.0, "returncode": self.proc and self.proc.returncode}
            t0 = time.monotonic()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=grace)
                graceful = True
            except subprocess.TimeoutExpired:
                self._kill()
                graceful = False
            return {"graceful": graceful, "seconds": round(time.monotonic() - t0, 2), "returncode": self.proc.returncode}

    def check_alive(self) -> bool:
        """Restarts the server when it died without being killed by us. False when it did."""
        with self.lock:
            if self.proc is None or self.expected_exit or self.proc.poll() is None:
                return True
            self.up.clear()
            rc = self.proc.returncode
            self.unexpected_exits.append({"when": "running", "returncode": rc, "log_tail": self.log_tail()})
            log(f"!! server exited by itself (code {rc}); restarting")
            self.start()
            return False

    def log_tail(self, n=4000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(0, os.SEEK_END)
                f.seek(max(0, f.tell() - n))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


# --------------------------------------------------------------------------------------------
# The run


class Item:
    """One upload the harness makes: its bytes follow from (seed, i)."""

    def __init__(self, seed, i, args):
        plan = random.Random(seed * 1000003 + i)
        if plan.random() < args.long_share:
            size = plan.randint(args.max_size, 4 * args.max_size)
        else:
            size = plan.randint(min(KIB, args.max_size), args.max_size)
        self.kind = "tus" if plan.random() < args.tus_share else "multipart"
        self.i, self.size = i, size
        self.external_id = f"crash-{seed}-{i}"
        self.title = unicodedata.normalize("NFC", f"Kiểm tra sự cố {i}")
        self.file_name = f"tep-{i}.bin"
        self.metadata = {
            "id": self.external_id,
            "title": self.title,
            "subject": "toan",
            "grade": 6,
            "resource_type": "bai-tap",
        }
        self._seed = seed
        self.sha256 = None

    def data(self) -> bytes:
        d = bytearray(random.Random(self._seed * 1000003 + self.i).randbytes(self.size))
        if d and d[0] in PROGRAM_FIRST_BYTES:
            d[0] = 0x41
        d = bytes(d)
        if self.sha256 is None:
            self.sha256 = hashlib.sha256(d).hexdigest()
        return d


class GiveUp(Exception):
    pass


class Run:
    def __init__(self, args, port, token):
        self.args, self.port, self.token = args, port, token
        self.auth = {"Authorization": f"Bearer {token}"}
        self.lock = threading.Lock()
        self.next_i = 0
        self.acked: dict[int, dict] = {}
        self.gave_up: dict[int, str] = {}
        self.attempts = {"multipart": 0, "tus": 0}
        self.items_by_kind = {"multipart": 0, "tus": 0}
        self.events: dict[str, int] = {}
        self.in_flight = 0
        self.last_byte = threading.Condition()
        self.last_byte_seq = 0
        self.done = threading.Event()
        self.t0 = time.monotonic()
        self.deadline = self.t0 + args.deadline
        self.fatal: str | None = None  # the server could not be restarted

    # bookkeeping ----------------------------------------------------------------
    def count(self, event: str):
        with self.lock:
            self.events[event] = self.events.get(event, 0) + 1

    def sent_last_byte(self):
        with self.last_byte:
            self.last_byte_seq += 1
            self.last_byte.notify_all()

    def call(self, server, method, path, headers=None, body=None, last=False, timeout=120.0):
        h = dict(self.auth)
        h.update(headers or {})
        with self.lock:
            self.in_flight += 1
        try:
            return request(self.port, method, path, h, body, self.sent_last_byte if last else None, timeout)
        finally:
            with self.lock:
                self.in_flight -= 1

    def wait_for_server(self, server: Server, backoff: float):
        """After a broken connection or a 5xx: wait until the server is back (as a client would,
        with a growing pause)."""
        if time.monotonic() > self.deadline:
            raise GiveUp("deadline reached")
        end = time.monotonic() + 120
        while not server.up.wait(timeout=0.5):
            if self.fatal:
                raise GiveUp(f"server gone: {self.fatal}")
            if time.monotonic() > end:
                raise GiveUp("server not back within 120 s")
        time.sleep(backoff)

    # clients --------------------------------------------------------------------
    def client(self, server: Server, cid: int):
        while True:
            with self.lock:
                if self.next_i >= self.args.uploads or time.monotonic() > self.deadline or self.fatal:
                    return
                i = self.next_i
                self.next_i += 1
            item = Item(self.args.seed, i, self.args)
            with self.lock:
                self.items_by_kind[item.kind] += 1
            try:
                rec = self.upload_multipart(server, item) if item.kind == "multipart" else self.upload_tus(server, item)
                with self.lock:
                    self.acked[i] = rec
            except GiveUp as e:
                with self.lock:
                    self.gave_up[i] = f"{item.kind} {item.external_id}: {e}"
                log(f"gave up on {item.kind} upload {item.external_id}: {e}")
            except Exception as e:  # a harness bug: keep going, but record it
                with self.lock:
                    self.gave_up[i] = f"{item.kind} {item.external_id}: harness error {e!r}"
                log(f"harness error on {item.external_id}: {e!r}")

    def upload_multipart(self, server: Server, item: Item) -> dict:
        data = item.data()
        boundary = "crash" + uuid.uuid4().hex
        meta = json.dumps(item.metadata, ensure_ascii=False).encode("utf-8")
        head = (
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="metadata"\r\n'
            "Content-Type: application/json\r\n\r\n"
        ).encode() + meta + (
            f"\r\n--{boundary}\r\n"
            f'Content-Disposition: form-data; name="file"; filename="{item.file_name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        view = memoryview(data)
        step = 256 * KIB
        chunks = [head] + [view[o : o + step] for o in range(0, len(data), step)] + [tail]
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        broken = 0
        backoff = 0.05
        for attempt in range(1, self.args.max_attempts + 1):
            with self.lock:
                self.attempts["multipart"] += 1
            try:
                r = self.call(server, "POST", "/api/v1/materials", headers, chunks, last=True)
            except NET_ERRORS:
                broken += 1
                self.count("multipart_connection_broken")
                self.wait_for_server(server, backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            if r.status == 201:
                m = r.json()
                rec = self.record(item, "multipart", material_id=m.get("id"), attempts=attempt)
                f = (m.get("files") or [{}])[0]
                rec["ack_file_sha256"], rec["ack_file_size"] = f.get("sha256"), f.get("size")
                return rec
            if r.status == 409 and r.error_code() == "conflict":
                # An earlier attempt committed though its answer was lost.
                self.count("multipart_conflict_after_retry" if broken else "multipart_conflict_first_attempt")
                mid = self.lookup_external_id(server, item.external_id)
                return self.record(item, "multipart", material_id=mid, attempts=attempt, via_conflict=True)
            if r.status >= 500:
                self.count(f"multipart_http_{r.status}")
                self.wait_for_server(server, backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            self.count(f"multipart_http_{r.status}_{r.error_code()}")
            raise GiveUp(f"HTTP {r.status}: {r.body[:300]!r}")
        raise GiveUp(f"no answer after {self.args.max_attempts} attempts")

    def upload_tus(self, server: Server, item: Item) -> dict:
        data = item.data()
        rng = random.Random(item.i * 7919 + self.args.seed)
        b64 = lambda s: base64.b64encode(s.encode("utf-8")).decode("ascii")
        meta_header = f"filename {b64(item.file_name)},metadata {b64(json.dumps(item.metadata, ensure_ascii=False))}"
        url = None
        offset = 0
        uploads_made: list[str] = []
        backoff = 0.05
        material_hdr = material_err = None
        attempts = 0
        ack_via = None
        while True:
            attempts += 1
            with self.lock:
                self.attempts["tus"] += 1
            if attempts > self.args.max_attempts * 10:
                raise GiveUp(f"tus: {attempts} requests without completing")
            if url is None:
                try:
                    r = self.call(
                        server,
                        "POST",
                        "/api/v1/uploads",
                        {"Tus-Resumable": TUS, "Upload-Length": str(item.size), "Upload-Metadata": meta_header},
                    )
                except NET_ERRORS:
                    self.count("tus_create_connection_broken")
                    self.wait_for_server(server, backoff)
                    backoff = min(backoff * 2, 1.0)
                    continue
                if r.status == 201:
                    url = urllib.parse.urlsplit(r.headers["Location"]).path
                    uploads_made.append(url.rsplit("/", 1)[-1])
                    offset = int(r.headers.get("Upload-Offset", "0"))
                    backoff = 0.05
                    continue
                if r.status >= 500:
                    self.count(f"tus_create_http_{r.status}")
                    self.wait_for_server(server, backoff)
                    backoff = min(backoff * 2, 1.0)
                    continue
                raise GiveUp(f"tus create: HTTP {r.status}: {r.body[:300]!r}")
            if offset >= item.size:
                ack_via = ack_via or "head"
                break
            n = rng.randint(256 * KIB, 1 * MIB)
            end = min(item.size, offset + n)
            chunk = memoryview(data)[offset:end]
            step = 128 * KIB
            pieces = [chunk[o : o + step] for o in range(0, len(chunk), step)]
            try:
                r = self.call(
                    server,
                    "PATCH",
                    url,
                    {
                        "Tus-Resumable": TUS,
                        "Upload-Offset": str(offset),
                        "Content-Type": "application/offset+octet-stream",
                    },
                    pieces,
                    last=end == item.size,
                )
            except NET_ERRORS:
                self.count("tus_patch_connection_broken")
                offset, gone = self.tus_head(server, url, backoff)
                backoff = min(backoff * 2, 1.0)
                if gone:
                    self.count("tus_upload_gone_restarting")
                    url, offset = None, 0
                elif offset >= item.size:
                    ack_via = "head"
                continue
            if r.status == 204:
                offset = int(r.headers["Upload-Offset"])
                material_hdr = r.headers.get("Hoclieu-Material") or material_hdr
                material_err = r.headers.get("Hoclieu-Material-Error") or material_err
                backoff = 0.05
                if offset >= item.size:
                    ack_via = "patch"
                continue
            if r.status == 409 and r.error_code() == "offset_mismatch":
                self.count("tus_offset_mismatch")
                offset, gone = self.tus_head(server, url, backoff)
                if gone:
                    url, offset = None, 0
                elif offset >= item.size:
                    ack_via = "head"
                continue
            if r.status == 404:
                self.count("tus_patch_404_restarting")
                url, offset = None, 0
                continue
            if r.status >= 500:
                self.count(f"tus_patch_http_{r.status}")
                offset, gone = self.tus_head(server, url, backoff)
                backoff = min(backoff * 2, 1.0)
                if gone:
                    url, offset = None, 0
                elif offset >= item.size:
                    ack_via = "head"
                continue
            raise GiveUp(f"tus PATCH: HTTP {r.status}: {r.body[:300]!r}")
        upload_id = url.rsplit("/", 1)[-1]
        mid = material_hdr.rsplit("/", 1)[-1] if material_hdr else None
        rec = self.record(item, "tus", material_id=mid, attempts=attempts, upload_id=upload_id)
        rec.update({"ack_via": ack_via, "material_error": material_err, "upload_ids": uploads_made})
        return rec

    def tus_head(self, server: Server, url: str, backoff: float) -> tuple[int, bool]:
        """Waits for the server, then asks where the upload stands: (offset, gone)."""
        while True:
            self.wait_for_server(server, backoff)
            try:
                r = self.call(server, "HEAD", url, {"Tus-Resumable": TUS}, timeout=30.0)
            except NET_ERRORS:
                backoff = min(backoff * 2, 1.0)
                continue
            if r.status == 200:
                return int(r.headers["Upload-Offset"]), False
            if r.status == 404:
                return 0, True
            if r.status >= 500:
                backoff = min(backoff * 2, 1.0)
                continue
            raise GiveUp(f"tus HEAD: HTTP {r.status}")

    def lookup_external_id(self, server: Server, external_id: str):
        for _ in range(100):
            try:
                r = self.call(server, "GET", f"/api/v1/materials/by-external-id/{urllib.parse.quote(external_id)}")
            except NET_ERRORS:
                self.wait_for_server(server, 0.1)
                continue
            if r.status == 200:
                return r.json()["id"]
            if r.status == 404:
                return None
            self.wait_for_server(server, 0.2)
        return None

    def record(self, item: Item, kind: str, **kw) -> dict:
        rec = {
            "i": item.i,
            "kind": kind,
            "external_id": item.external_id,
            "title": item.title,
            "size": item.size,
            "sha256": item.sha256,
            "acked_at": round(time.monotonic() - self.t0, 3),
        }
        rec.update(kw)
        return rec

    # killer ---------------------------------------------------------------------
    def killer(self, server: Server, kills_log: list):
        try:
            self._killer(server, kills_log)
        except Exception as e:
            self.fatal = f"{e!r}"
            log(f"!! killer: {e!r}")

    def _killer(self, server: Server, kills_log: list):
        rng = random.Random(self.args.seed * 31337 + 1)
        modes = ["random", "busy", "commit"]
        while len(kills_log) < self.args.kills and not self.done.is_set():
            remaining_kills = self.args.kills - len(kills_log)
            gap = self.estimate_remaining() / (remaining_kills + 0.5)
            delay = rng.uniform(0.1, 1.5) * gap
            mode = rng.choices(modes, weights=[0.4, 0.3, 0.3])[0]
            if not self.sleep_watching(server, delay):
                break
            waited = 0.0
            if mode == "busy":
                want = max(1, self.args.clients - 1)
                t = time.monotonic()
                while self.in_flight < want and time.monotonic() - t < max(0.5, gap * 0.5):
                    if self.done.is_set():
                        break
                    time.sleep(0.005)
                waited = time.monotonic() - t
            elif mode == "commit":
                t = time.monotonic()
                with self.last_byte:
                    seq = self.last_byte_seq
                    self.last_byte.wait_for(
                        lambda: self.last_byte_seq != seq or self.done.is_set(), timeout=max(0.5, gap * 0.5)
                    )
                    hit = self.last_byte_seq != seq
                time.sleep(rng.uniform(0.0, 0.1))
                waited = time.monotonic() - t
                if not hit:
                    mode = "commit-timeout"
            if self.done.is_set():
                break
            server.check_alive()
            in_flight = self.in_flight
            at = time.monotonic() - self.t0
            pid = server.kill9()
            t = time.monotonic()
            server.start()
            restart = time.monotonic() - t
            kills_log.append(
                {
                    "at": round(at, 3),
                    "mode": mode,
                    "waited": round(waited, 3),
                    "in_flight": in_flight,
                    "acked_before": len(self.acked),
                    "pid": pid,
                    "restart_seconds": round(restart, 3),
                }
            )
            log(f"kill {len(kills_log)}/{self.args.kills} ({mode}, {in_flight} in flight, "
                f"{len(self.acked)}/{self.args.uploads} acked); back in {restart:.2f} s")
        # Keep watching for deaths we did not cause until the clients are done.
        while not self.done.is_set():
            self.sleep_watching(server, 1.0)

    def sleep_watching(self, server: Server, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.done.wait(timeout=min(0.1, max(0.0, end - time.monotonic()))):
                return False
            server.check_alive()
        return True

    def estimate_remaining(self) -> float:
        """Seconds until all uploads are acknowledged, from the rate so far (which includes the
        restarts so far). Before the first acknowledgements: waits for a few."""
        while True:
            elapsed = time.monotonic() - self.t0
            acked = len(self.acked) + len(self.gave_up)
            if acked >= min(self.args.clients, self.args.uploads) or elapsed > 10 or self.done.is_set():
                rate = max(acked, 0.5) / max(elapsed, 0.1)
                return max(0.2, (self.args.uploads - acked) / rate)
            time.sleep(0.05)


# --------------------------------------------------------------------------------------------
# Checks after the run


def get(port, auth, path, timeout=120.0) -> Response:
    for _ in range(20):
        try:
            return request(port, "GET", path, auth, timeout=timeout)
        except NET_ERRORS:
            time.sleep(0.5)
    return request(port, "GET", path, auth, timeout=timeout)


def download_hash(port, auth, path) -> tuple[int, int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request("GET", path, headers=auth)
        resp = conn.getresponse()
        h = hashlib.sha256()
        n = 0
        while True:
            b = resp.read(MIB)
            if not b:
                break
            h.update(b)
            n += len(b)
        return resp.status, n, h.hexdigest()
    finally:
        conn.close()


def sqlite_connect(path):
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)


def as_uuid(v):
    if isinstance(v, (bytes, bytearray)) and len(v) == 16:
        return str(uuid.UUID(bytes=bytes(v)))
    return None if v is None else str(v)


def check_materials(run: Run, port, auth, tus_wait: float) -> dict:
    acked = run.acked
    result = {"lost": [], "corrupted": [], "tus_material_url_null": [], "material_id_mismatch": [],
              "not_published": [], "wrong_file_count": [], "found": {}}
    # tus: wait (up to `tus_wait` s overall) for each upload to name its material.
    pending = {i: r for i, r in acked.items() if r["kind"] == "tus"}
    tus_state = {}
    t0 = time.monotonic()
    end = t0 + tus_wait
    late = result["tus_finished_late"] = []
    first = True
    while pending:
        for i, r in list(pending.items()):
            resp = get(port, auth, f"/api/v1/uploads/{r['upload_id']}")
            if resp.status == 200:
                st = resp.json()
                tus_state[i] = st
                if st.get("material_url"):
                    del pending[i]
                    if not first:
                        late.append({"external_id": r["external_id"], "upload_id": r["upload_id"],
                                     "after_seconds": round(time.monotonic() - t0, 1)})
            else:
                tus_state[i] = {"http_status": resp.status}
                del pending[i]
        if not pending or time.monotonic() > end:
            break
        first = False
        time.sleep(0.5)
    for i, r in sorted(acked.items()):
        mid = None
        if r["kind"] == "tus":
            st = tus_state.get(i, {})
            r["upload_state"] = st
            if st.get("material_url"):
                mid = st["material_url"].rsplit("/", 1)[-1]
            if r.get("material_id") and mid and r["material_id"] != mid:
                result["material_id_mismatch"].append(r["external_id"])
        else:
            mid = r.get("material_id")
        m = None
        if mid:
            resp = get(port, auth, f"/api/v1/materials/{mid}")
            m = resp.json() if resp.status == 200 else None
        if m is None:
            resp = get(port, auth, f"/api/v1/materials/by-external-id/{urllib.parse.quote(r['external_id'])}")
            m = resp.json() if resp.status == 200 else None
            if m is not None and r["kind"] == "tus":
                # The material exists but the upload does not say so.
                result["tus_material_url_null"].append(
                    {"external_id": r["external_id"], "upload_id": r["upload_id"], "material_id": m["id"],
                     "upload_state": tus_state.get(i)})
        if m is None or not m.get("files"):
            result["lost"].append({"external_id": r["external_id"], "kind": r["kind"],
                                   "upload_id": r.get("upload_id"), "material_id": mid,
                                   "upload_state": tus_state.get(i) if r["kind"] == "tus" else None,
                                   "reason": "no material" if m is None else "material without files"})
            continue
        r["found_material_id"] = m["id"]
        result["found"][m["id"]] = r
        if m.get("status") != "published":
            result["not_published"].append(r["external_id"])
        if len(m["files"]) != 1:
            result["wrong_file_count"].append({"external_id": r["external_id"], "files": len(m["files"])})
        f = m["files"][0]
        status, size, sha = download_hash(port, auth, f["download_url"])
        problems = []
        if status != 200:
            problems.append(f"download HTTP {status}")
        if size != r["size"]:
            problems.append(f"downloaded {size} bytes, sent {r['size']}")
        if sha != r["sha256"]:
            problems.append(f"downloaded SHA-256 {sha}, sent {r['sha256']}")
        if f.get("sha256") != r["sha256"] or f.get("size") != r["size"]:
            problems.append(f"material says {f.get('size')} bytes, SHA-256 {f.get('sha256')}")
        if r.get("ack_file_sha256") not in (None, r["sha256"]):
            problems.append(f"201 answer said SHA-256 {r['ack_file_sha256']}")
        if problems:
            result["corrupted"].append({"external_id": r["external_id"], "kind": r["kind"], "problems": problems})
    return result


def wait_index(port, auth, db_path, timeout=120) -> dict:
    """Waits for lag 0 and for the index's document count to settle on the database's count."""
    end = time.monotonic() + timeout
    out = {}
    while True:
        rz = get(port, auth, "/readyz").json()
        with sqlite_connect(db_path) as db:
            published = db.execute("SELECT COUNT(*) FROM materials WHERE status = 'published'").fetchone()[0]
        total = get(port, auth, "/api/v1/search?per_page=1").json()["total"]
        idx = rz["index"]
        out = {"readyz": rz, "db_published": published, "index_documents": idx["documents"],
               "search_total_empty_query": total}
        if idx["lag"] == 0 and idx["documents"] == published == total:
            out["settled_after"] = round(timeout - (end - time.monotonic()), 2)
            return out
        if time.monotonic() > end:
            out["settled_after"] = None
            return out
        time.sleep(0.25)


def search_check(port, auth, found: dict, sample: int, rng: random.Random) -> dict:
    ids = sorted(found)
    if sample >= 0 and len(ids) > sample:
        ids = rng.sample(ids, sample)
    missing = []
    for mid in ids:
        r = found[mid]
        q = urllib.parse.quote(r["title"])
        hit = False
        for per_page in (20, 100):
            resp = get(port, auth, f"/api/v1/search?q={q}&per_page={per_page}")
            if resp.status == 200 and any(h["id"] == mid for h in resp.json()["hits"]):
                hit = True
                break
        if not hit:
            missing.append({"external_id": r["external_id"], "material_id": mid})
    return {"checked": len(ids), "missing": missing}


def db_checks(db_path, seed) -> dict:
    like = f"crash-{seed}-%"
    with sqlite_connect(db_path) as db:
        dup_ext = db.execute(
            "SELECT external_id, COUNT(*) FROM materials WHERE external_id IS NOT NULL "
            "GROUP BY external_id HAVING COUNT(*) > 1").fetchall()
        dup_title = db.execute(
            "SELECT title, COUNT(*) FROM materials WHERE external_id LIKE ? GROUP BY title HAVING COUNT(*) > 1",
            (like,)).fetchall()
        ours = db.execute("SELECT COUNT(*) FROM materials WHERE external_id LIKE ?", (like,)).fetchone()[0]
        no_files = db.execute(
            "SELECT m.external_id FROM materials m WHERE m.external_id LIKE ? AND NOT EXISTS "
            "(SELECT 1 FROM material_files f WHERE f.material_id = m.id)", (like,)).fetchall()
        uploads = db.execute(
            "SELECT id, length, \"offset\", material_id, error FROM uploads").fetchall()
    complete_no_material = [as_uuid(u[0]) for u in uploads if u[2] >= u[1] and u[3] is None and u[4] is None]
    complete_error = [(as_uuid(u[0]), u[4]) for u in uploads if u[4] is not None]
    return {
        "duplicate_external_ids": [list(d) for d in dup_ext],
        "duplicate_titles": [list(d) for d in dup_title],
        "duplicates": sum(c - 1 for _, c in dup_ext) + sum(c - 1 for _, c in dup_title),
        "materials_of_this_run": ours,
        "materials_without_files": [r[0] for r in no_files],
        "uploads_rows": len(uploads),
        "uploads_incomplete": sum(1 for u in uploads if u[2] < u[1]),
        "uploads_complete_without_material": complete_no_material,
        "uploads_with_error": complete_error,
    }


VERIFY_LINE = re.compile(
    r"Checked (\d+) blobs \(([\d.]+) MiB hashed\): (\d+) damaged, (\d+) orphaned objects, (\d+) unused blobs,(?: (\d+) partial writes,)? (\d+) removed")


def run_verify(binary, data_dir, *extra) -> dict:
    t0 = time.monotonic()
    p = subprocess.run([binary, "--data-dir", data_dir, "verify", *extra], capture_output=True, text=True,
                       env={**os.environ, "HOCLIEU__LOG__LEVEL": "warn"})
    out = p.stdout
    m = VERIFY_LINE.search(out)
    res = {
        "args": list(extra),
        "returncode": p.returncode,
        "seconds": round(time.monotonic() - t0, 2),
        "clean": p.returncode == 0,
        "damaged_lines": [l for l in out.splitlines() if l.startswith("DAMAGED")],
        "orphan_lines": [l for l in out.splitlines() if l.startswith("ORPHAN")][:50],
        "unused_lines": [l for l in out.splitlines() if l.startswith("UNUSED")][:50],
        "partial_lines": [l for l in out.splitlines() if l.startswith("PARTIAL")][:50],
        "stderr": p.stderr[-2000:],
    }
    if m:
        res.update(blobs=int(m[1]), mib_hashed=float(m[2]), damaged=int(m[3]), orphans=int(m[4]),
                   unused=int(m[5]), partial_writes=None if m[6] is None else int(m[6]), removed=int(m[7]))
    else:
        res.update(blobs=None, damaged=None, orphans=None, unused=None, partial_writes=None, removed=None,
                   stdout=out[-2000:])
    return res


def staging_leftovers(data_dir) -> list[str]:
    """Files under objects/ whose names contain '#': object_store's staging files
    (`<key>#<n>`) left by a crash mid-write. `verify` cannot see them (object_store hides them)."""
    root = os.path.join(data_dir, "objects")
    found = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            if "#" in f:
                found.append(os.path.relpath(os.path.join(dirpath, f), root))
    return sorted(found)


# --------------------------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the hoclieu binary")
    ap.add_argument("--uploads", type=int, default=60, help="uploads to make (default 60)")
    ap.add_argument("--kills", type=int, default=5, help="SIGKILLs of the server during the run (default 5)")
    ap.add_argument("--clients", type=int, default=4, help="concurrent client threads (default 4)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-size", type=int, default=4 * MIB, help="file sizes 1 KiB..this (default 4 MiB)")
    ap.add_argument("--long-share", type=float, default=0.05,
                    help="fraction of files between max-size and 4x max-size (default 0.05)")
    ap.add_argument("--tus-share", type=float, default=0.5, help="fraction of uploads over tus (default 0.5)")
    ap.add_argument("--data", help="data directory (default: a fresh temporary one)")
    ap.add_argument("--keep-data", action="store_true", help="keep the temporary data directory on success")
    ap.add_argument("--report", help="write the JSON report here")
    ap.add_argument("--search-sample", type=int, default=300,
                    help="acknowledged materials searched for by title (-1: all; default 300)")
    ap.add_argument("--tus-wait", type=float, default=60,
                    help="seconds to wait for completed tus uploads to name their material (default 60)")
    ap.add_argument("--max-attempts", type=int, default=50, help="multipart attempts per upload before giving up")
    ap.add_argument("--deadline", type=float, default=3600, help="seconds before clients give up (default 3600)")
    args = ap.parse_args()

    binary = os.path.abspath(args.bin)
    temp = args.data is None
    data_dir = os.path.abspath(args.data or tempfile.mkdtemp(prefix="hoclieu-crash-"))
    os.makedirs(data_dir, exist_ok=True)
    db_path = os.path.join(data_dir, "hoclieu.db")
    started = time.monotonic()
    log(f"data {data_dir}; {args.uploads} uploads, {args.kills} kills, {args.clients} clients, seed {args.seed}")

    p = subprocess.run([binary, "--data-dir", data_dir, "apikey", "create", "--name", "crash", "--scope", "admin"],
                       capture_output=True, text=True, env={**os.environ, "HOCLIEU__LOG__LEVEL": "warn"})
    if p.returncode != 0:
        print(p.stdout, p.stderr, file=sys.stderr)
        return 2
    token = [l for l in p.stdout.splitlines() if l.strip()][-1].strip()
    auth = {"Authorization": f"Bearer {token}"}

    port = free_port()
    server = Server(binary, data_dir, port)
    atexit.register(lambda: server.proc and server.proc.poll() is None and server.proc.kill())
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server.start()
    log(f"server up on 127.0.0.1:{port} in {server.start_seconds[-1]:.2f} s")

    run = Run(args, port, token)
    kills: list[dict] = []
    threads = [threading.Thread(target=run.client, args=(server, c), name=f"client-{c}", daemon=True)
               for c in range(args.clients)]
    killer = threading.Thread(target=run.killer, args=(server, kills), name="killer", daemon=True)
    upload_t0 = time.monotonic()
    for t in threads:
        t.start()
    killer.start()
    last_print = time.monotonic()
    while any(t.is_alive() for t in threads):
        for t in threads:
            t.join(timeout=0.5)
        if time.monotonic() - last_print > 15:
            last_print = time.monotonic()
            log(f"progress: {len(run.acked)}/{args.uploads} acknowledged, {len(kills)} kills")
    run.done.set()
    killer.join()
    upload_seconds = time.monotonic() - upload_t0
    try:
        if server.proc.poll() is not None or not server.up.is_set():
            server.check_alive()
    except Exception as e:
        run.fatal = run.fatal or f"{e!r}"
    if run.fatal:
        print(f"FAIL: the server could not be restarted: {run.fatal}; {len(run.acked)} uploads acknowledged, "
              f"{len(kills)} kills; log: {server.log_path}")
        if args.report:
            with open(args.report, "w", encoding="utf-8") as f:
                json.dump({"ok": False, "failures": [f"server could not be restarted: {run.fatal}"],
                           "kills": kills, "unexpected_server_exits": server.unexpected_exits,
                           "server_log_tail": server.log_tail()}, f, ensure_ascii=False, indent=2)
        return 1
    log(f"uploads done in {upload_seconds:.1f} s: {len(run.acked)} acknowledged, {len(kills)} kills; checking")

    t_check = time.monotonic()
    mats = check_materials(run, port, auth, args.tus_wait)
    index = wait_index(port, auth, db_path)
    search = search_check(port, auth, mats["found"], args.search_sample, random.Random(args.seed))
    dbc = db_checks(db_path, args.seed)
    check_seconds = time.monotonic() - t_check

    stop = server.stop(grace=10.0)
    log(f"server stopped ({'SIGTERM' if stop['graceful'] else 'SIGKILL after 10 s'}); verifying storage")
    staging_before = staging_leftovers(data_dir)
    verify_before = run_verify(binary, data_dir)
    verify_repair = run_verify(binary, data_dir, "--repair", "--grace-minutes", "0")
    verify_after = run_verify(binary, data_dir)
    staging_after = staging_leftovers(data_dir)

    acked = run.acked.values()
    present = set()
    with sqlite_connect(db_path) as db:
        present = {r[0] for r in db.execute(
            "SELECT external_id FROM materials WHERE external_id LIKE ?", (f"crash-{args.seed}-%",))}
    unacked_present = sorted(f"crash-{args.seed}-{i}" for i in run.gave_up if f"crash-{args.seed}-{i}" in present)

    report = {
        "args": vars(args),
        "binary": binary,
        "data_dir": data_dir,
        "port": port,
        "uploads": {
            "requested": args.uploads,
            "attempted": len(run.acked) + len(run.gave_up),
            "attempted_by_kind": run.items_by_kind,
            "requests_by_kind": run.attempts,
            "acknowledged": len(run.acked),
            "acknowledged_multipart": sum(1 for r in acked if r["kind"] == "multipart"),
            "acknowledged_tus": sum(1 for r in acked if r["kind"] == "tus"),
            "multipart_acked_via_conflict": sum(1 for r in acked if r.get("via_conflict")),
            "tus_acked_via_head": sum(1 for r in acked if r.get("ack_via") == "head"),
            "tus_acked_with_material_error": sum(1 for r in acked if r.get("material_error")),
            "gave_up": run.gave_up,
            "unacknowledged_but_present": unacked_present,
            "bytes_acknowledged": sum(r["size"] for r in acked),
            "events": run.events,
        },
        "kills": {"requested": args.kills, "done": len(kills), "log": kills,
                  "restart_seconds": summary_stats([k["restart_seconds"] for k in kills]),
                  "unexpected_server_exits": server.unexpected_exits},
        "lost": mats["lost"],
        "corrupted": mats["corrupted"],
        "tus_material_url_null_but_material_exists": mats["tus_material_url_null"],
        "material_id_mismatch": mats["material_id_mismatch"],
        "tus_finished_late": mats["tus_finished_late"],
        "not_published": mats["not_published"],
        "wrong_file_count": mats["wrong_file_count"],
        "database": dbc,
        "index": index,
        "search_by_title": search,
        "stop": stop,
        "verify": {"before": verify_before, "repair": verify_repair, "after": verify_after,
                   "staging_leftovers_before": staging_before, "staging_leftovers_after": staging_after},
        "seconds": {"total": round(time.monotonic() - started, 1), "uploads": round(upload_seconds, 1),
                    "checks": round(check_seconds, 1)},
    }

    reasons = []
    if mats["lost"]:
        reasons.append(f"{len(mats['lost'])} acknowledged uploads lost")
    if mats["corrupted"]:
        reasons.append(f"{len(mats['corrupted'])} acknowledged uploads corrupted")
    if dbc["duplicates"]:
        reasons.append(f"{dbc['duplicates']} duplicate materials")
    if dbc["materials_without_files"]:
        reasons.append(f"{len(dbc['materials_without_files'])} materials without files")
    if not (index["index_documents"] == index["db_published"] == index["search_total_empty_query"]):
        reasons.append(f"index has {index['index_documents']} documents, search total "
                       f"{index['search_total_empty_query']}, database {index['db_published']} published")
    if index["readyz"]["index"]["lag"] != 0:
        reasons.append(f"index lag {index['readyz']['index']['lag']} after 120 s")
    if search["missing"]:
        reasons.append(f"{len(search['missing'])} of {search['checked']} materials not found by their title")
    if verify_before["damaged"] != 0:
        reasons.append(f"verify: {verify_before['damaged']} damaged blobs")
    if not verify_after["clean"] or verify_after["damaged"] != 0:
        reasons.append(f"verify not clean after repair (exit {verify_after['returncode']}, "
                       f"{verify_after['damaged']} damaged, {verify_after['orphans']} orphans, "
                       f"{verify_after['unused']} unused)")
    if run.gave_up:
        reasons.append(f"{len(run.gave_up)} uploads never acknowledged (harness gave up)")
    if server.unexpected_exits:
        reasons.append(f"server exited {len(server.unexpected_exits)} times without being killed")
    warnings = []
    if mats["tus_material_url_null"]:
        warnings.append(f"{len(mats['tus_material_url_null'])} tus uploads say material_url null though "
                        "their material exists")
    if dbc["uploads_complete_without_material"]:
        warnings.append(f"{len(dbc['uploads_complete_without_material'])} upload rows complete without a "
                        "material or error")
    if staging_after:
        warnings.append(f"{len(staging_after)} object_store staging files ('#') left under objects/ "
                        "(invisible to verify)")
    http5xx = {k: v for k, v in run.events.items() if re.search(r"_http_5\d\d", k)}
    if http5xx:
        warnings.append(f"the server answered 5xx {sum(http5xx.values())} times ({http5xx}); see server.log")
    if len(kills) < args.kills:
        warnings.append(f"only {len(kills)} of {args.kills} kills happened before the uploads finished")
    if stop["graceful"] is False:
        warnings.append("the server did not stop within 10 s of SIGTERM")
    report["ok"] = not reasons
    report["failures"] = reasons
    report["warnings"] = warnings

    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(report, f, ensure_ascii=False, indent=2, default=str)

    u = report["uploads"]
    print()
    print("=== crash-consistency report ===")
    print(f"uploads: {u['attempted']} attempted ({u['attempted_by_kind']['multipart']} multipart, "
          f"{u['attempted_by_kind']['tus']} tus), {u['acknowledged']} acknowledged "
          f"({u['acknowledged_multipart']} multipart, {u['acknowledged_tus']} tus), "
          f"{u['bytes_acknowledged'] / MIB:.1f} MiB")
    print(f"kills: {len(kills)} of {args.kills} (restart {report['kills']['restart_seconds']}), "
          f"unexpected exits: {len(server.unexpected_exits)}")
    print(f"lost: {len(mats['lost'])}   corrupted: {len(mats['corrupted'])}   duplicates: {dbc['duplicates']}")
    for l in mats["lost"][:20]:
        print(f"  LOST {l['kind']} {l['external_id']} upload={l.get('upload_id')} ({l['reason']}) "
              f"state={json.dumps(l.get('upload_state'), ensure_ascii=False)}")
    for c in mats["corrupted"][:20]:
        print(f"  CORRUPTED {c['kind']} {c['external_id']}: {'; '.join(c['problems'])}")
    if mats["tus_finished_late"]:
        print(f"tus uploads whose material appeared only after the run: {len(mats['tus_finished_late'])} "
              f"(latest after {max(x['after_seconds'] for x in mats['tus_finished_late'])} s of waiting)")
    print(f"index: {index['index_documents']} documents, search total {index['search_total_empty_query']}, "
          f"database {index['db_published']} published, lag {index['readyz']['index']['lag']}; "
          f"title search: {len(search['missing'])} of {search['checked']} missing")
    for name, v in (("before", verify_before), ("repair", verify_repair), ("after", verify_after)):
        print(f"verify {name:<6}: exit {v['returncode']}, {v['blobs']} blobs, {v['damaged']} damaged, "
              f"{v['orphans']} orphans, {v['unused']} unused, {v['partial_writes']} partial writes, "
              f"{v['removed']} removed ({v['seconds']} s)")
    print(f"staging leftovers ('#' files): {len(staging_before)} before repair, {len(staging_after)} after")
    print(f"elapsed: {report['seconds']['total']} s (uploads {report['seconds']['uploads']} s, "
          f"checks {report['seconds']['checks']} s)")
    print(f"client events: {json.dumps(u['events'], sort_keys=True)}")
    for w in warnings:
        print(f"warning: {w}")
    if reasons:
        print("FAIL: " + "; ".join(reasons))
        print(f"data kept in {data_dir}")
    else:
        print("OK")
        if temp and not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
    return 0 if not reasons else 1


def summary_stats(xs):
    if not xs:
        return None
    return {"min": round(min(xs), 2), "mean": round(sum(xs) / len(xs), 2), "max": round(max(xs), 2)}


if __name__ == "__main__":
    sys.exit(main())
