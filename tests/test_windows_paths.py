"""Windows and macOS: the paths the plugin builds keep the system's own form (``PureWindowsPath``
inputs give Windows paths), the model cache is huggingface_hub's, and a process's liveness is asked
without ``os.kill(pid, 0)``, which on Windows terminates the process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path, PurePosixPath, PureWindowsPath

from flair_qgis import dependencies as deps
from flair_qgis import pip_install
from flair_qgis.files import process_alive
from flair_qgis.hf_download import cache_dir as hub_cache_dir

PROFILE = PureWindowsPath(r"C:\Users\Anaïs\AppData\Roaming\QGIS\QGIS3\profiles\default")
QGIS_PYTHON = r"C:\Program Files\QGIS 3.40.6\apps\Python312"


def test_dependency_folder_in_a_windows_profile(monkeypatch):
    monkeypatch.delenv(deps.FOLDER_ENV, raising=False)
    folder = deps.deps_folder(PROFILE / "python", (3, 12))
    assert folder == PureWindowsPath(str(PROFILE) + r"\python\flair_deps\py312")
    assert str(folder).endswith("\\python\\flair_deps\\py312")
    mac = PurePosixPath("/Users/ana/Library/Application Support/QGIS/QGIS3/profiles/default/python")
    assert deps.deps_folder(mac, (3, 12)) == mac / "flair_deps" / "py312"


def test_qgis_python_found_in_a_windows_install():
    candidates = pip_install.python_candidates((3, 12), r"C:\Program Files\QGIS 3.40.6\bin\qgis-ltr-bin.exe",
                                               [QGIS_PYTHON], "win32", path=PureWindowsPath, which=lambda name: None)
    assert PureWindowsPath(QGIS_PYTHON, "python.exe") in candidates
    assert all(isinstance(c, PureWindowsPath) and c.name in ("python.exe", "python3.exe") for c in candidates)


def test_model_cache_is_huggingface_hubs_on_every_system(monkeypatch):
    windows_home = r"C:\Users\Anaïs\.cache"
    assert hub_cache_dir({}, windows_home, PureWindowsPath) == PureWindowsPath(windows_home, "huggingface", "hub")
    assert hub_cache_dir({"HF_HOME": r"D:\hf"}, windows_home, PureWindowsPath) == PureWindowsPath(r"D:\hf\hub")
    assert hub_cache_dir({"HF_HUB_CACHE": r"E:\models", "HF_HOME": r"D:\hf"}, windows_home,
                         PureWindowsPath) == PureWindowsPath(r"E:\models")
    # here: exactly where huggingface_hub itself puts its files, for the same environment
    from huggingface_hub import constants

    for name in ("HF_HUB_CACHE", "HF_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    assert hub_cache_dir() == Path(constants.default_home) / "huggingface" / "hub"
    monkeypatch.setenv("HF_HOME", "~/hf-elsewhere")
    assert hub_cache_dir() == Path.home() / "hf-elsewhere" / "hub"


def test_liveness_of_processes_here():
    assert process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert not process_alive(child.pid)


class _Kernel32:
    """The three Windows API calls process_alive makes, answering as Windows would."""

    def __init__(self, handle: int, exit_code: int) -> None:
        self.handle, self.exit_code, self.closed = handle, exit_code, []

    def OpenProcess(self, access, inherit, pid):  # noqa: N802 - the API's names
        assert access == 0x1000 and not inherit
        return self.handle

    def GetExitCodeProcess(self, handle, code):  # noqa: N802
        code._obj.value = self.exit_code
        return 1

    def CloseHandle(self, handle):  # noqa: N802
        self.closed.append(handle)


def test_liveness_on_windows_never_signals_the_process(monkeypatch):
    def kill(*args):
        raise AssertionError("os.kill(pid, 0) terminates the process on Windows")

    monkeypatch.setattr(os, "kill", kill)
    running, exited, gone = _Kernel32(7, 259), _Kernel32(8, 0), _Kernel32(0, 0)
    assert process_alive(1234, "win32", running) and running.closed == [7]
    assert not process_alive(1234, "win32", exited) and exited.closed == [8]
    assert not process_alive(1234, "win32", gone) and gone.closed == []
