"""Installing the plugin's Python packages with pip, into the plugin-private folder
:func:`~flair_qgis.dependencies.deps_folder` names: the interpreter to run pip with, the command
line (PyTorch's CPU or CUDA builds, QGIS's numpy kept), pip's output streamed as progress, and
its failures explained (an unreachable package index says so)."""

from __future__ import annotations

import importlib.metadata
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Sequence

from .choices import TORCH_BUILDS, check_choice
from .dependencies import KEEP_SYSTEM, Requirement
from .errors import Cancelled, FlairError
from .progress import Progress

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_PACKAGES = ("torch", "torchvision")


def torch_build(requested: str = "auto", nvidia_smi: str | None = None) -> str:
    """``cpu`` or ``cuda``: the asked build, or for ``auto`` CUDA only where ``nvidia-smi`` exists.

    Args:
        requested: ``auto``, ``cpu`` or ``cuda``.
        nvidia_smi: the path of ``nvidia-smi`` on this machine (``shutil.which``), or ``None``.
    """
    check_choice("torch build", requested, TORCH_BUILDS)
    if requested != "auto":
        return requested
    return "cuda" if nvidia_smi else "cpu"


def pip_command(python: str | Path, target: Path, requirements: Sequence[Requirement], build: str,
                constraints: Path | None = None, platform: str = sys.platform) -> list[str]:
    """The pip command line that installs ``requirements`` into ``target``.

    ``cuda`` takes torch from the default index (PyPI's Linux wheels are CUDA builds); ``cpu`` adds
    PyTorch's CPU index and, on Linux and Windows, asks for its ``+cpu`` builds of the pinned
    torch and torchvision (macOS wheels are CPU builds already). ``constraints`` is a file
    pinning what must not change (numpy at QGIS's version).
    """
    local = "cpu" if build == "cpu" and platform.startswith(("linux", "win")) else None
    lines = [r.line(local if r.key in TORCH_PACKAGES else None) for r in requirements]
    command = [str(python), "-u", "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
               "--progress-bar", "off", "--upgrade", "--target", str(target)]
    if build == "cpu" and any(r.key in TORCH_PACKAGES for r in requirements):
        command += ["--extra-index-url", CPU_INDEX]
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    return command + lines


def installable(requirements: Sequence[Requirement]) -> list[Requirement]:
    """What pip is asked for: every requirement but QGIS's own packages (they become constraints)."""
    return [r for r in requirements if r.key not in KEEP_SYSTEM]


def constraints_text(system_versions: dict[str, str]) -> str:
    """Constraint lines pinning QGIS's own packages (``numpy==1.24.2``) while pip resolves."""
    return "".join(f"{name}=={version}\n" for name, version in sorted(system_versions.items()))


def python_candidates(version: Sequence[int] = tuple(sys.version_info[:2]), executable: str = sys.executable,
                      prefixes: Sequence[str] = (sys.exec_prefix, sys.base_exec_prefix, sys.prefix),
                      platform: str = sys.platform, path: type[PurePath] = Path,
                      which=shutil.which) -> list[PurePath]:
    """Interpreters that may be QGIS's own, most likely first: inside QGIS ``sys.executable`` is
    QGIS itself or whatever ``python3`` is first on ``PATH``, so the installation prefix comes first.
    ``path`` is the paths' flavour (``PureWindowsPath`` stands for Windows's)."""
    major, minor = version[0], version[1]
    names = ["python.exe", "python3.exe"] if platform.startswith("win") else [f"python{major}.{minor}", "python3"]
    candidates = [path(prefix) / sub / name for prefix in dict.fromkeys(p for p in prefixes if p)
                  for sub in ("bin", ".") for name in names]
    if executable and path(executable).name.lower().startswith("python"):
        candidates.append(path(executable))
    candidates += [path(p) for p in (which(n) for n in names) if p]
    return list(dict.fromkeys(candidates))


def _version_of(python: Path) -> tuple[int, ...] | None:
    try:
        done = subprocess.run([str(python), "-c", "import sys; print(*sys.version_info[:2])"],
                              capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError):
        return None
    return tuple(int(v) for v in done.stdout.split()) if done.returncode == 0 else None


def find_python(version: Sequence[int] = tuple(sys.version_info[:2]), candidates: Sequence[Path] | None = None,
                version_of=_version_of) -> Path | None:
    """The first candidate interpreter that exists and runs QGIS's Python version (so that compiled
    packages pip picks fit QGIS)."""
    for python in python_candidates(version) if candidates is None else candidates:
        if Path(python).is_file() and version_of(Path(python)) == tuple(version[:2]):
            return Path(python)
    return None


def system_versions(folder: Path) -> dict[str, str]:
    """Versions of QGIS's own packages (numpy) found outside ``folder``."""
    out = {}
    for name in KEEP_SYSTEM:
        for dist in importlib.metadata.distributions(name=name):
            location = Path(str(dist.locate_file(""))).resolve()
            if location != Path(folder).resolve():
                out[name] = dist.version
                break
    return out


def prune(folder: Path, names: Sequence[str] = KEEP_SYSTEM) -> list[Path]:
    """Remove packages QGIS ships from ``folder`` (pip installs dependencies there regardless)."""
    removed = []
    for name in names:
        patterns = [name, f"{name}.libs", f"{name}-*.dist-info", f"{name}-*.data"]
        for pattern in patterns:
            for path in Path(folder).glob(pattern):
                shutil.rmtree(path) if path.is_dir() else path.unlink()
                removed.append(path)
    for script in ("f2py", "f2py3", "f2py.exe", "numpy-config", "numpy-config.exe"):
        path = Path(folder) / "bin" / script
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed


class PipProgress:
    """Turns pip's output into a fraction: resolving and downloading up to 70 %, installing to 100 %."""

    def __init__(self) -> None:
        self.collected = 0
        self.fraction = 0.0

    def feed(self, line: str) -> float:
        if line.startswith("Collecting ") or line.startswith("Requirement already satisfied"):
            self.collected += 1
            self.fraction = max(self.fraction, 0.7 * (1 - 0.93 ** self.collected))
        elif line.startswith("Installing collected packages"):
            self.fraction = max(self.fraction, 0.75)
        elif line.startswith("Successfully installed"):
            self.fraction = 1.0
        return self.fraction


@dataclass
class InstallResult:
    folder: Path
    log: Path
    command: list[str]
    pruned: list[Path]


def install(folder: Path, requirements: Sequence[Requirement], build: str, progress: Progress,
            python: Path | None = None, log: Path | None = None) -> InstallResult:
    """Run pip into ``folder``, streaming its output to ``progress`` and ``log``; cancellable.

    Raises:
        FlairError: no suitable Python or pip, or pip failed (the message ends with pip's error).
        Cancelled: the user cancelled; pip is stopped (it stages in a temporary folder, so
            ``folder`` keeps what it had).
    """
    folder = Path(folder)
    python = python or find_python()
    if python is None:
        raise FlairError(f"no Python {sys.version_info[0]}.{sys.version_info[1]} interpreter found next to "
                         "QGIS to run pip with")
    folder.mkdir(parents=True, exist_ok=True)
    log = log or folder.parent / f"{folder.name}-install.log"
    pinned = system_versions(folder)
    constraints = folder.parent / f"{folder.name}-constraints.txt"
    constraints.write_text(constraints_text(pinned), encoding="utf-8")
    command = pip_command(python, folder, installable(requirements), build, constraints)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env["PYTHONIOENCODING"] = "utf-8"
    progress.log("$ " + " ".join(command))
    lines: list[str] = []
    with open(log, "w", encoding="utf-8") as log_file:
        log_file.write("$ " + " ".join(command) + "\n")
        code = _run_streaming(command, env, progress, lines, log_file)
    if code != 0:
        tail = "\n".join(lines[-12:])
        if "No module named pip" in tail:
            raise FlairError(f"{python} has no pip: install it (Debian/Ubuntu: sudo apt install python3-pip) "
                             "and run again")
        unreachable = index_unreachable(lines)
        if unreachable:  # pip then ends on "no matching distribution" or "ResolutionImpossible": not the cause
            raise FlairError(f"pip could not reach the package index ({unreachable}): no network connection, "
                             "or a proxy or firewall blocks it. Connect to the internet (behind a proxy, set "
                             f"HTTPS_PROXY) and run again; the full log is in {log}")
        raise FlairError(f"pip failed (exit code {code}); the full log is in {log}:\n{tail}")
    pruned = prune(folder, [n for n in KEEP_SYSTEM if n in pinned])
    for path in pruned:
        progress.log(f"removed {path.name}: QGIS's own is used")
    progress.fraction(1.0)
    return InstallResult(folder, log, command, pruned)


_CONNECTION_FAILED = ("Retrying (Retry(", "Could not fetch URL", "NewConnectionError", "ConnectTimeoutError",
                      "ProxyError", "Max retries exceeded")
_WHY = re.compile(r"\[Errno -?\d+\] [^'\")]+|Connection to \S+ timed out|Cannot connect to proxy|"
                  r"certificate verify failed[^'\")]*|Read timed out")


def index_unreachable(lines: Sequence[str]) -> str | None:
    """Why pip could not reach a package index, from its output (``[Errno 111] Connection refused``,
    with the host when pip names it); None when it reached every index it asked."""
    for line in lines:
        if any(sign in line for sign in _CONNECTION_FAILED):
            why = _WHY.search(line)
            host = re.search(r"host='([^']+)'", line)
            return (why.group(0).strip() if why else "connection failed") + (f", {host.group(1)}" if host else "")
    return None


def _run_streaming(command: list[str], env: dict[str, str], progress: Progress, lines: list[str],
                   log_file) -> int:
    """Run ``command``, forwarding each output line; stops it (and raises) on cancel."""
    windows = sys.platform.startswith("win")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               env=env, text=True, encoding="utf-8", errors="replace", bufsize=1,
                               start_new_session=not windows,
                               creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0) if windows else 0)
    output: queue.Queue[str | None] = queue.Queue()

    def reader() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.put(line.rstrip("\n"))
        output.put(None)

    threading.Thread(target=reader, daemon=True).start()
    parser = PipProgress()
    while True:
        if progress.cancelled():
            _stop(process, windows)
            log_file.write("cancelled by the user\n")
            raise Cancelled("installation cancelled by the user; pip was stopped")
        try:
            line = output.get(timeout=0.2)
        except queue.Empty:
            continue
        if line is None:  # pip closed its output: it has finished
            break
        lines.append(line)
        log_file.write(line + "\n")
        log_file.flush()
        progress.log(line)
        progress.fraction(min(parser.feed(line), 0.99))
    code = process.wait()
    process.stdout.close()
    return code


def _stop(process: subprocess.Popen, windows: bool) -> None:
    try:
        if windows:
            process.terminate()
        else:
            os.killpg(process.pid, 15)
        process.wait(timeout=10)
        process.stdout.close()
    except (ProcessLookupError, subprocess.TimeoutExpired):
        process.kill()
        process.wait()
