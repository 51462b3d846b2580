"""A loopback stand-in for the HuggingFace hub: answers HEAD and GET on
``/{repo_id}/resolve/{revision}/{filename}`` the way huggingface_hub's downloader expects
(ETag/X-Linked-Etag = the file's sha256, X-Linked-Size, X-Repo-Commit, byte ranges)."""

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FAKE_COMMIT = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class HostedFile:
    data: bytes
    sha256: str  # what the hub announces; differs from the data's hash for a corrupted file


@dataclass
class FakeHub:
    files: dict[tuple[str, str], HostedFile] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""
    cut_after: int = 0  # bytes of body sent before a cut GET drops the connection
    cuts: int = 0  # how many of the next GETs of file content are cut that way
    delay: float = 0.0  # seconds before each body is sent (to make downloads overlap)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, repo_id: str, filename: str, data: bytes, announce_sha256: str | None = None) -> str:
        sha = announce_sha256 or hashlib.sha256(data).hexdigest()
        self.files[(repo_id, filename)] = HostedFile(data, sha)
        return sha

    def downloads(self) -> int:
        """How many GET requests fetched file content."""
        return sum(1 for method, _ in self.requests if method == "GET")

    def start(self) -> "FakeHub":
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _serve(self, body: bool) -> None:
                hub.requests.append((self.command, self.path))
                m = re.fullmatch(r"/(.+?/.+?)/resolve/([^/]+)/(.+?)(\?.*)?", self.path)
                hosted = hub.files.get((m.group(1), m.group(3))) if m else None
                if hosted is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                revision = m.group(2)
                commit = revision if re.fullmatch(r"[0-9a-f]{40}", revision) else FAKE_COMMIT
                data, status = hosted.data, 200
                rng = re.fullmatch(r"bytes=(\d+)-(\d*)", self.headers.get("Range", ""))
                if rng:
                    first = int(rng.group(1))
                    last = int(rng.group(2)) if rng.group(2) else len(data) - 1
                    data, status = data[first:last + 1], 206
                self.send_response(status)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", f'"{hosted.sha256}"')
                self.send_header("X-Linked-Etag", f'"{hosted.sha256}"')
                self.send_header("X-Linked-Size", str(len(hosted.data)))
                self.send_header("X-Repo-Commit", commit)
                if rng:
                    first = int(rng.group(1))
                    self.send_header("Content-Range", f"bytes {first}-{first + len(data) - 1}/{len(hosted.data)}")
                self.end_headers()
                if body:
                    time.sleep(hub.delay)
                    with hub._lock:
                        cut = hub.cuts > 0
                        hub.cuts -= cut
                    if cut:  # the connection drops mid-file, as a flaky network does
                        self.wfile.write(data[:hub.cut_after])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    self.wfile.write(data)

            def do_HEAD(self) -> None:  # noqa: N802
                self._serve(body=False)

            def do_GET(self) -> None:  # noqa: N802
                self._serve(body=True)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
