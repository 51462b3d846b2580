"""The plugin's Python packages inside QGIS: what is missing or too old, where they go, how pip installs them.

QGIS's Python usually has numpy but not torch and friends. They are installed with pip's
``--target`` into a plugin-private folder keyed by the Python version (``<profile>/python/
flair_deps/py311``), which the plugin puts at the front of ``sys.path`` when it loads. QGIS's own
packages are never touched: numpy is pinned to the version QGIS ships while pip resolves, then
removed from the folder, so the one QGIS was built against stays in use.

Everything here but :func:`install` is a pure function, testable without installing anything.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .choices import TORCH_BUILDS, check_choice
from .errors import Cancelled, FlairError
from .progress import Progress

PLUGIN_DIR = Path(__file__).resolve().parent.parent
REQUIREMENTS_FILE = PLUGIN_DIR / "requirements.txt"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
FOLDER_ENV = "FLAIR_DEPS_DIR"  # overrides the folder (tests, shared installs)
INSTALL_ALGORITHM = "'Install FLAIR dependencies' (flair:installdependencies)"
KEEP_SYSTEM = ("numpy",)  # QGIS's own, never left in the folder
TORCH_PACKAGES = ("torch", "torchvision")

# Import names that differ from the distribution names.
MODULES = {"segmentation-models-pytorch": "segmentation_models_pytorch", "pyyaml": "yaml",
           "huggingface-hub": "huggingface_hub"}

try:  # requirement and version syntax (PEP 508, PEP 440) as pip reads it
    from packaging.requirements import InvalidRequirement
    from packaging.requirements import Requirement as _Parsed
    from packaging.utils import canonicalize_name
    from packaging.version import InvalidVersion, Version
except ImportError:  # a QGIS Python without it: pip, which QGIS ships, vendors the same library
    from pip._vendor.packaging.requirements import InvalidRequirement  # type: ignore[no-redef]
    from pip._vendor.packaging.requirements import Requirement as _Parsed  # type: ignore[no-redef]
    from pip._vendor.packaging.utils import canonicalize_name  # type: ignore[no-redef]
    from pip._vendor.packaging.version import InvalidVersion, Version  # type: ignore[no-redef]


def canonical(name: str) -> str:
    """PEP 503 name: lowercase, runs of ``-_.`` as one ``-``."""
    return str(canonicalize_name(name))


def _release(text: str) -> Version | None:
    """The release part of a version (``2.14.1+cu130``, ``2.1.0rc1`` → 2.14.1, 2.1.0), which is what
    minimums and upper bounds compare; None for a version PEP 440 cannot read."""
    try:
        return Version(Version(text).base_version)
    except InvalidVersion:
        return None


@dataclass(frozen=True)
class Requirement:
    """One line of requirements.txt: ``name`` with its specifiers. ``==`` pins the version pip
    installs (the one the plugin is tested with), ``>=`` the oldest one it works with (an older
    one already installed is "too old"), ``<``/``<=`` bounds what QGIS's bindings accept."""

    name: str
    specifiers: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> str:
        return canonical(self.name)

    @property
    def module(self) -> str:
        return MODULES.get(self.key, self.key.replace("-", "_"))

    @property
    def minimum(self) -> str | None:
        return next((v for op, v in self.specifiers if op == ">="), None)

    @property
    def pinned(self) -> str | None:
        return next((v for op, v in self.specifiers if op == "=="), None)

    def line(self, local: str | None = None) -> str:
        """The requirement as pip is asked for it: the pin alone when there is one (``local`` adds a
        local version to it: ``+cpu``), else every specifier."""
        if self.pinned is not None:
            return f"{self.name}=={self.pinned}" + (f"+{local}" if local and "+" not in self.pinned else "")
        return self.name + ",".join(op + v for op, v in self.specifiers)

    def too_new(self, version: str) -> bool:
        """``version`` breaks an upper bound of the line (``numpy<2``, ``affine<3``)."""
        got = _release(version)
        return got is not None and any((op == "<" and got >= _release(bound)) or (op == "<=" and got > _release(bound))
                                       for op, bound in self.specifiers)

    def too_old(self, version: str) -> bool:
        """``version`` is older than the line's minimum (``>=``)."""
        got = _release(version)
        return self.minimum is not None and got is not None and got < _release(self.minimum)


def read_requirements(path: Path = REQUIREMENTS_FILE) -> list[Requirement]:
    """The requirement lines of a requirements file (comments, options and ``-r`` lines skipped)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise FlairError(f"requirements file {path} cannot be read: {e.strerror}") from None
    out = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        try:
            parsed = _Parsed(line)
        except InvalidRequirement as e:
            raise FlairError(f"{path}: cannot read the requirement {line!r} ({e})") from None
        out.append(Requirement(parsed.name, tuple((s.operator, s.version) for s in parsed.specifier)))
    return out


@dataclass(frozen=True)
class Status:
    """Whether one requirement is importable here, and in which version, from where."""

    requirement: Requirement
    version: str | None = None
    location: str | None = None
    found: bool = False

    @property
    def problem(self) -> str | None:
        """``missing``, ``too old`` or ``too new``; ``None`` when fine."""
        if not self.found:
            return "missing"
        if self.version and self.requirement.too_old(self.version):
            return "too old"
        if self.version and self.requirement.too_new(self.version):
            return "too new"
        return None

    def describe(self) -> str:
        name = self.requirement.name
        if not self.found:
            return f"{name}: missing"
        text = f"{name} {self.version or '(version unknown)'}"
        if self.problem == "too old":
            text += f": too old, needs {self.requirement.minimum} or newer"
        elif self.problem == "too new":
            text += f": too new, needs {','.join(op + v for op, v in self.requirement.specifiers)}"
        return text + (f" ({self.location})" if self.location else "")


def _version(requirement: Requirement, origin: str | None) -> str | None:
    """The version of the distribution that provides the module found at ``origin``."""
    module = sys.modules.get(_module_of(requirement))
    if module is not None and isinstance(getattr(module, "__version__", None), str):
        return module.__version__
    candidates = [d for d in importlib.metadata.distributions(name=requirement.name)]
    if origin:  # several copies (QGIS's and the plugin folder's): the one beside the module found
        for dist in candidates:
            if Path(str(dist.locate_file(""))).resolve() in Path(origin).resolve().parents:
                return dist.version
    return candidates[0].version if candidates else None


def _spec(module: str):
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):  # a broken package, or one hidden on purpose
        return None


def _module_of(requirement: Requirement) -> str:
    """The import name: known ones, else the distribution name unless the installed distribution
    provides no module of that name but another one (python-slugify → slugify)."""
    if requirement.key in MODULES or _spec(requirement.module) is not None:
        return requirement.module
    provided = [m for m, dists in importlib.metadata.packages_distributions().items()
                if any(canonical(d) == requirement.key for d in dists) and not m.startswith("_")]
    return requirement.module if not provided or requirement.module in provided else sorted(provided)[0]


def check(requirements: Sequence[Requirement] | None = None) -> list[Status]:
    """Where each requirement's module would be imported from, without importing it (fast)."""
    statuses = []
    for req in read_requirements() if requirements is None else requirements:
        spec = _spec(_module_of(req))
        if spec is None:
            statuses.append(Status(req))
            continue
        if spec.origin and spec.origin != "namespace":
            origin = spec.origin
            location = str(Path(origin).parent) if spec.submodule_search_locations else origin
        else:
            origin = location = next(iter(spec.submodule_search_locations or []), None)
        statuses.append(Status(req, _version(req, origin), location, True))
    return statuses


def import_error(status: Status) -> str | None:
    """Import the module for real: the error when it fails (a broken install, a missing library)."""
    if not status.found:
        return None
    try:
        importlib.import_module(_module_of(status.requirement))
    except Exception as e:  # noqa: BLE001 - any failure is what the user needs to see
        return f"{type(e).__name__}: {e}"
    return None


def problems(statuses: Sequence[Status]) -> list[Status]:
    """The statuses that need an install, QGIS's own packages (numpy) excepted: we never touch them."""
    return [s for s in statuses if s.problem and s.requirement.key not in KEEP_SYSTEM]


def explain(statuses: Sequence[Status]) -> str:
    """One message naming what is missing or too old and how to install it."""
    bad = problems(statuses)
    if not bad:
        return "all the Python packages FLAIR needs are installed"
    return (f"Python packages FLAIR needs are missing or too old: {'; '.join(s.describe() for s in bad)}. "
            f"Run {INSTALL_ALGORITHM} from the Processing toolbox or the Plugins ▸ FLAIR menu, "
            "then restart QGIS if it says so")


def deps_folder(python_dir: Path, version: Sequence[int] = tuple(sys.version_info[:2])) -> Path:
    """The plugin-private folder for the packages: ``<python_dir>/flair_deps/py311`` (or ``$FLAIR_DEPS_DIR``).

    ``python_dir`` is the QGIS profile's ``python`` folder; keying by the Python version keeps
    compiled packages of one QGIS from being loaded by another.
    """
    if os.environ.get(FOLDER_ENV):
        return Path(os.environ[FOLDER_ENV])
    return Path(python_dir) / "flair_deps" / f"py{version[0]}{version[1]}"


def activate(folder: Path) -> bool:
    """Put ``folder`` first on ``sys.path`` (once) if it exists; returns whether it is there."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    entry = str(folder)
    if entry not in sys.path:
        sys.path.insert(0, entry)
        importlib.invalidate_caches()
    return True


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
                      platform: str = sys.platform) -> list[Path]:
    """Interpreters that may be QGIS's own, most likely first: inside QGIS ``sys.executable`` is
    QGIS itself or whatever ``python3`` is first on ``PATH``, so the installation prefix comes first."""
    major, minor = version[0], version[1]
    names = ["python.exe", "python3.exe"] if platform.startswith("win") else [f"python{major}.{minor}", "python3"]
    candidates = [Path(prefix) / sub / name for prefix in dict.fromkeys(p for p in prefixes if p)
                  for sub in ("bin", ".") for name in names]
    if executable and Path(executable).name.lower().startswith("python"):
        candidates.append(Path(executable))
    candidates += [Path(p) for p in (shutil.which(n) for n in names) if p]
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
