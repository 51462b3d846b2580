"""No network: a model missing from the cache fails at once, after ONE connection attempt, with
one message (issue #10, item 6) — not after huggingface_hub's five retries (~25-30 s, each logged).
The attempts are counted by Python's own audit events (``socket.connect``) in a fresh interpreter."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from conftest import ROOT

MODEL = "FLAIR-INC_rgb_15cl_resnet34-unet"
COUNTING_RUN = """
import sys
attempts = []
sys.addaudithook(lambda event, args: attempts.append(args[1]) if event == "socket.connect" else None)
from flair_qgis import cli
status = cli.main(sys.argv[1:])
print(f"STATUS {status} CONNECTS {len(attempts)}")
"""


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", COUNTING_RUN, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1", **env})


def test_missing_model_without_network_fails_after_one_attempt_with_one_message():
    port = closed_port()
    done = run_cli("download", MODEL, HF_ENDPOINT=f"http://127.0.0.1:{port}")

    assert "STATUS 2 CONNECTS 1" in done.stdout, done.stdout + done.stderr
    assert done.stderr.count(f"model {MODEL} is not in the cache") == 1
    assert f"the hub http://127.0.0.1:{port} cannot be reached (127.0.0.1:{port} refused the connection)" in done.stderr
    assert "Retrying" not in done.stderr


def test_offline_mode_makes_no_connection_at_all():
    done = run_cli("download", MODEL, HF_HUB_OFFLINE="1", HF_ENDPOINT=f"http://127.0.0.1:{closed_port()}")

    assert "STATUS 2 CONNECTS 0" in done.stdout, done.stdout + done.stderr
    assert done.stderr.count("offline mode is on (HF_HUB_OFFLINE)") == 1


def test_unresolvable_hub_name_is_said_so():
    from flair_qgis.hf_probe import unreachable

    why = unreachable("https://no-such-host.invalid")

    assert why is not None and "no-such-host.invalid cannot be resolved" in why
