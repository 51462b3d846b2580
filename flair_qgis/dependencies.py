"""The plugin's Python packages inside QGIS: what is missing or too old, and where they go
(``pip_install`` installs them).

QGIS's Python usually has numpy but not torch and friends. They are installed with pip's
``--target`` into a plugin-private folder keyed by the Python version (``<profile>/python/
flair_deps/py311``), which the plugin puts at the front of ``sys.path`` when it loads. QGIS's own
packages are never touched: numpy is pinned to the version QGIS ships while pip resolves, then
removed from the folder, so the one QGIS was built against stays in use.

Everything here is a pure function, testable without installing anything.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Sequence

from .errors import FlairError

PLUGIN_DIR = Path(__file__).resolve().parent.parent
REQUIREMENTS_FILE = PLUGIN_DIR / "requirements.txt"
FOLDER_ENV = "FLAIR_DEPS_DIR"  # overrides the folder (tests, shared installs)
INSTALL_ALGORITHM = "'Install FLAIR dependencies' (flair:installdependencies)"
KEEP_SYSTEM = ("numpy",)  # QGIS's own, never left in the folder
OPTIONAL = ("openvino",)  # the CPU backend: PyTorch runs without it, so missing is no problem

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
        # sorted: packaging keeps a line's specifiers in a set, whose order changes from run to run
        out.append(Requirement(parsed.name, tuple(sorted((s.operator, s.version) for s in parsed.specifier))))
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
    """The statuses that need an install, QGIS's own packages (numpy) excepted: we never touch them;
    nor a missing optional one (OpenVINO: PyTorch runs instead)."""
    return [s for s in statuses if s.problem and s.requirement.key not in KEEP_SYSTEM
            and not (s.problem == "missing" and s.requirement.key in OPTIONAL)]


def explain(statuses: Sequence[Status]) -> str:
    """One message naming what is missing or too old and how to install it."""
    bad = problems(statuses)
    if not bad:
        return "all the Python packages FLAIR needs are installed"
    return (f"Python packages FLAIR needs are missing or too old: {'; '.join(s.describe() for s in bad)}. "
            f"Run {INSTALL_ALGORITHM} from the Processing toolbox or the Plugins ▸ FLAIR menu, "
            "then restart QGIS if it says so")


def deps_folder(python_dir: PurePath | str, version: Sequence[int] = tuple(sys.version_info[:2])) -> PurePath:
    """The plugin-private folder for the packages: ``<python_dir>/flair_deps/py311`` (or ``$FLAIR_DEPS_DIR``).

    ``python_dir`` is the QGIS profile's ``python`` folder; keying by the Python version keeps
    compiled packages of one QGIS from being loaded by another.
    """
    if os.environ.get(FOLDER_ENV):
        return Path(os.environ[FOLDER_ENV])
    folder = python_dir if isinstance(python_dir, PurePath) else Path(python_dir)  # its own flavour (Windows...)
    return folder / "flair_deps" / f"py{version[0]}{version[1]}"


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
