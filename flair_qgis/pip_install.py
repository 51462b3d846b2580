"""Installing the plugin's Python packages with pip, into the plugin-private folder
:func:`~flair_qgis.dependencies.deps_folder` names: the interpreter to run pip with, the command
line (PyTorch's CPU or CUDA builds, QGIS's numpy kept), pip's output streamed as progress, and
its failures explained (an unreachable package index is named). Where PyTorch's CPU index cannot
be reached (proxies, mirrors) but the default index can, PyPI's own PyTorch build is installed
instead, with a warning that says how large it is."""

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
from urllib.parse import urlsplit

from .choices import OPENVINO_INSTALLS, TORCH_BUILDS, check_choice
from .dependencies import KEEP_SYSTEM, OPTIONAL, Requirement
from .errors import Cancelled, FlairError
from .progress import Progress

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
DEFAULT_INDEX = "https://pypi.org/simple"  # pip's, unless its configuration names another
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
                constraints: Path | None = None, platform: str = sys.platform,
                cpu_index: str = CPU_INDEX) -> list[str]:
    """The pip command line that installs ``requirements`` into ``target``.

    ``cuda`` (or ``pypi``) takes torch from the default index (PyPI's Linux wheels are CUDA builds);
    ``cpu`` adds PyTorch's CPU index (``cpu_index``) and, on Linux and Windows, asks for its
    ``+cpu`` builds of the pinned torch and torchvision (macOS wheels are CPU builds already).
    ``constraints`` is a file pinning what must not change (numpy at QGIS's version).
    """
    local = "cpu" if build == "cpu" and platform.startswith(("linux", "win")) else None
    lines = [r.line(local if r.key in TORCH_PACKAGES else None) for r in requirements]
    command = [str(python), "-u", "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
               "--progress-bar", "off", "--upgrade", "--target", str(target)]
    if build == "cpu" and any(r.key in TORCH_PACKAGES for r in requirements):
        command += ["--extra-index-url", cpu_index]
    if constraints is not None:
        command += ["--constraint", str(constraints)]
    return command + lines


def for_build(requirements: Sequence[Requirement], build: str, openvino: str = "auto") -> list[Requirement]:
    """The requirements to install with PyTorch's ``build``: OpenVINO (the CPU backend) for ``cpu``
    builds unless ``openvino`` is ``no``, for ``cuda`` builds only when it is ``yes``."""
    check_choice("OpenVINO install", openvino, OPENVINO_INSTALLS)
    wanted = openvino == "yes" or (openvino == "auto" and build == "cpu")
    return [r for r in requirements if wanted or r.key not in OPTIONAL]


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


def pypi_torch_size(platform: str = sys.platform) -> str:
    """How large PyPI's PyTorch is, said when it replaces the CPU build (measured: ENVIRONMENT.md)."""
    if platform.startswith("linux"):
        return ("PyPI's Linux PyTorch is the CUDA build (it runs on the CPU too): about 5.6 GB installed with its "
                "NVIDIA libraries, against about 1 GB for the CPU build")
    return "PyPI's PyTorch for this system is a CPU build too, of about the same size (about 1 GB)"


def install(folder: Path, requirements: Sequence[Requirement], build: str, progress: Progress,
            python: Path | None = None, log: Path | None = None, cpu_index: str = CPU_INDEX) -> InstallResult:
    """Run pip into ``folder``, streaming its output to ``progress`` and ``log``; cancellable.

    For the ``cpu`` build, when PyTorch's CPU index (``cpu_index``) cannot be reached but the
    default index can, pip is run again without it: PyPI's PyTorch, with a warning naming the
    index and the size of what is installed instead.

    Raises:
        FlairError: no suitable Python or pip, or pip failed (the message names the index it could
            not reach, or ends with pip's error).
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
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONSTARTUP")}
    env["PYTHONIOENCODING"] = "utf-8"
    wanted = installable(requirements)
    command = pip_command(python, folder, wanted, build, constraints, cpu_index=cpu_index)
    with open(log, "w", encoding="utf-8") as log_file:
        code, lines = _pip(command, env, progress, log_file)
        unreachable = unreachable_indexes(lines) if code != 0 else {}
        if code != 0 and cpu_index in command and list(unreachable) == [cpu_index]:
            progress.warn(f"PyTorch's CPU index {cpu_index} could not be reached ({unreachable[cpu_index]}): "
                          f"installing PyPI's PyTorch build instead. {pypi_torch_size()}")
            command = pip_command(python, folder, wanted, "pypi", constraints)
            code, lines = _pip(command, env, progress, log_file)
            unreachable = unreachable_indexes(lines) if code != 0 else {}
            if code == 0:
                progress.log(f"PyPI's PyTorch build installed: {folder} now holds {_size(folder) / 1e9:.1f} GB")
    if code != 0:
        tail = "\n".join(lines[-12:])
        if "No module named pip" in tail:
            raise FlairError(f"{python} has no pip: install it (Debian/Ubuntu: sudo apt install python3-pip) "
                             "and run again")
        if unreachable:  # pip then ends on "no matching distribution" or "ResolutionImpossible": not the cause
            which = " and ".join(f"{url} ({why})" for url, why in unreachable.items())
            raise FlairError(f"pip could not reach the package index {which}: no network connection, "
                             "or a proxy or firewall blocks it. Connect to the internet (behind a proxy, set "
                             f"HTTPS_PROXY) and run again; the full log is in {log}")
        raise FlairError(f"pip failed (exit code {code}); the full log is in {log}:\n{tail}")
    pruned = prune(folder, [n for n in KEEP_SYSTEM if n in pinned])
    for path in pruned:
        progress.log(f"removed {path.name}: QGIS's own is used")
    progress.fraction(1.0)
    return InstallResult(folder, log, command, pruned)


def _pip(command: list[str], env: dict[str, str], progress: Progress, log_file) -> tuple[int, list[str]]:
    """Run one pip command, logged; its exit code and output lines."""
    progress.log("$ " + " ".join(command))
    log_file.write("$ " + " ".join(command) + "\n")
    lines: list[str] = []
    return _run_streaming(command, env, progress, lines, log_file), lines


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file() and not p.is_symlink())


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


def unreachable_indexes(lines: Sequence[str]) -> dict[str, str]:
    """The package indexes pip could not reach (URLs as pip lists them in ``Looking in indexes``, else
    its default), each with why (:func:`index_unreachable`), in the order pip met them."""
    listed = next((line.split(":", 1)[1] for line in lines if line.startswith("Looking in indexes:")), "")
    indexes = [url.strip() for url in listed.split(",") if url.strip()] or [DEFAULT_INDEX]
    found: dict[str, str] = {}
    for line in lines:
        why = index_unreachable([line])
        if why is None:
            continue
        fits = [(len(urlsplit(url).path), url) for url in indexes if _names(line, url)]
        url = max(fits)[1] if fits else (indexes[0] if len(indexes) == 1 else "")
        found.setdefault(url or "(an index pip does not name)", why)
    return found


def _names(line: str, url: str) -> bool:
    """Whether a line of pip's names index ``url``: by its URL, its host (and port), or only the
    path it was fetching below it (``…: /whl/cpu/torch/``)."""
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    host = f"host='{parts.hostname}'" + (f", port={parts.port}" if parts.port else "")
    return url.rstrip("/") in line or host in line or bool(path and f": {path}/" in line)


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
