"""The plugin's Python packages inside QGIS: what is missing, the pip command that installs them,
a real install from the package registry into a fresh profile's folder, imports from it in a fresh
qgis_process, and a QGIS without torch that still lists the algorithms and says what to install."""

from __future__ import annotations

import os
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import PLUGIN_NAME, SITE_PACKAGES, needs_qgis_process, qgis_env, qgis_process
from flair_qgis import dependencies as deps
from flair_qgis import pip_install
from flair_qgis.errors import Cancelled, FlairError
from flair_qgis.progress import Progress



def _parse(line: str) -> deps.Requirement:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write(line + "\n")
    try:
        return deps.read_requirements(Path(f.name))[0]
    finally:
        os.unlink(f.name)


# --- pure functions --------------------------------------------------------------------------

def test_requirements_file_pins_every_package_the_plugin_checks():
    reqs = {r.key: r for r in deps.read_requirements()}
    for name in ("torch", "segmentation-models-pytorch", "rasterio", "torchmetrics", "huggingface-hub", "pyyaml"):
        assert reqs[name].pinned, f"{name} is not pinned in requirements.txt"
    assert reqs["pyyaml"].module == "yaml"
    assert reqs["segmentation-models-pytorch"].module == "segmentation_models_pytorch"
    # QGIS's own numpy, whichever it ships: 1.x (Debian 12, QGIS 3.22) or 2.x (Debian 13, Windows)
    for qgis_numpy in ("1.24.2", "1.26.4", "2.2.4", "2.3.1"):
        assert not reqs["numpy"].too_new(qgis_numpy) and not reqs["numpy"].too_old(qgis_numpy)


def test_requirements_file_is_the_one_source_of_minimum_versions():
    reqs = {r.key: r for r in deps.read_requirements()}
    assert reqs["torch"].minimum == "2.1" and reqs["torch"].pinned == "2.14.1"
    assert reqs["torch"].line() == "torch==2.14.1" and reqs["numpy"].line() == "numpy<3,>=1.24"
    assert not hasattr(deps, "MINIMUM")


def test_versions_compare_as_pip_reads_them():
    torch = _parse("torch>=2.1,==2.14.1")
    assert torch.too_old("2.0.1+cu118") and torch.too_old("1.13") and not torch.too_old("2.1")
    assert not torch.too_old("2.1.0rc1") and not torch.too_old("2.10.0") and not torch.too_old("not-a-version")
    numpy = _parse("numpy<2")
    assert numpy.too_new("2.0.0") and numpy.too_new("2.0.0rc1") and not numpy.too_new("1.26.4")
    assert _parse("affine<=2.4").too_new("2.4.1") and not _parse("affine<=2.4").too_new("2.4.0")
    assert deps.canonical("Huggingface_Hub") == "huggingface-hub"


def test_status_says_missing_too_old_or_fine():
    torch = _parse("torch>=2.1,==2.14.1")
    assert deps.Status(torch).problem == "missing"
    assert deps.Status(torch, "2.0.1", "/x", True).problem == "too old"
    assert deps.Status(torch, "2.5.0+cu121", "/x", True).problem is None
    assert "too old, needs 2.1 or newer" in deps.Status(torch, "2.0.1", "/x", True).describe()


def test_check_finds_installed_packages_and_misses_absent_ones():
    statuses = deps.check([_parse("pyyaml==6.0.4"), _parse("surely-not-a-package-flair==1.0")])
    yaml, absent = statuses
    assert yaml.found and yaml.version and Path(yaml.location).name == "yaml"
    assert not absent.found and absent.problem == "missing"


def test_missing_packages_message_names_them_and_the_install_algorithm():
    torch, smp = _parse("torch>=2.1,==2.14.1"), _parse("segmentation-models-pytorch>=0.5,==0.6.0")
    numpy = _parse("numpy<2")
    message = deps.explain([deps.Status(torch), deps.Status(smp, "0.3.0", "/x", True),
                            deps.Status(numpy, "2.1.0", "/usr", True)])
    assert "torch: missing" in message and "segmentation-models-pytorch 0.3.0: too old" in message
    assert "flair:installdependencies" in message and "Install FLAIR dependencies" in message
    assert "numpy" not in message  # QGIS's own: never ours to install


def test_folder_is_private_to_the_profile_and_keyed_by_python_version(monkeypatch, tmp_path):
    monkeypatch.delenv(deps.FOLDER_ENV, raising=False)
    assert deps.deps_folder(tmp_path / "python", (3, 12)) == tmp_path / "python" / "flair_deps" / "py312"
    monkeypatch.setenv(deps.FOLDER_ENV, str(tmp_path / "elsewhere"))
    assert deps.deps_folder(tmp_path / "python") == tmp_path / "elsewhere"


@pytest.mark.parametrize("requested, nvidia_smi, build", [
    ("auto", "/usr/bin/nvidia-smi", "cuda"), ("auto", None, "cpu"), ("cpu", "/usr/bin/nvidia-smi", "cpu"),
    ("cuda", None, "cuda")])
def test_torch_build_follows_the_nvidia_driver_unless_forced(requested, nvidia_smi, build):
    assert pip_install.torch_build(requested, nvidia_smi) == build


def test_pip_command_for_cpu_takes_pytorchs_cpu_builds_and_keeps_numpy_out(tmp_path):
    reqs = pip_install.installable(deps.read_requirements())
    command = pip_install.pip_command("/usr/bin/python3.13", tmp_path / "py313", reqs, "cpu", tmp_path / "c.txt",
                               platform="linux")
    assert command[:5] == ["/usr/bin/python3.13", "-u", "-m", "pip", "install"]
    assert command[command.index("--target") + 1] == str(tmp_path / "py313")
    assert command[command.index("--extra-index-url") + 1] == pip_install.CPU_INDEX == "https://download.pytorch.org/whl/cpu"
    assert command[command.index("--constraint") + 1] == str(tmp_path / "c.txt")
    assert "torch==2.14.1+cpu" in command and "torchvision==0.29.1+cpu" in command
    assert "rasterio==1.4.4" in command and not any(a.startswith("numpy") for a in command)


def test_pip_command_for_cuda_uses_the_default_index():
    reqs = pip_install.installable(deps.read_requirements())
    command = pip_install.pip_command("python3", Path("/t"), reqs, "cuda", platform="linux")
    assert "--extra-index-url" not in command and "torch==2.14.1" in command


def test_pip_command_on_macos_needs_no_local_cpu_version():
    command = pip_install.pip_command("python3", Path("/t"), [_parse("torch==2.14.1")], "cpu", platform="darwin")
    assert "torch==2.14.1" in command


def test_numpy_is_pinned_to_qgis_own_while_pip_resolves(tmp_path):
    assert pip_install.constraints_text({"numpy": "1.24.2"}) == "numpy==1.24.2\n"
    assert pip_install.constraints_text({"numpy": "2.2.4"}) == "numpy==2.2.4\n"
    import numpy

    assert pip_install.system_versions(tmp_path) == {"numpy": numpy.__version__}


def test_python_found_is_one_of_qgis_version(tmp_path):
    wrong, right = tmp_path / "a" / "python3", tmp_path / "b" / "python3"
    for p in (wrong, right):
        p.parent.mkdir()
        p.write_text("")
    versions = {wrong: (3, 9), right: (3, 13)}
    assert pip_install.find_python((3, 13), [tmp_path / "none", wrong, right], versions.get) == right
    candidates = pip_install.python_candidates((3, 13), "/usr/bin/qgis", ["/opt/qgis"], "linux")
    assert candidates[0] == Path("/opt/qgis/bin/python3.13") and Path("/usr/bin/qgis") not in candidates


def test_prune_removes_numpy_from_the_folder(tmp_path):
    for d in ("numpy", "numpy.libs", "numpy-1.24.2.dist-info", "slugify"):
        (tmp_path / d).mkdir()
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "f2py").write_text("")
    pip_install.prune(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "slugify"] and not list((tmp_path / "bin").iterdir())


def test_pip_progress_rises_with_its_output_and_ends_at_one():
    parser = pip_install.PipProgress()
    values = [parser.feed(line) for line in ["Collecting torch==2.14.1", "  Downloading torch.whl (800 MB)",
                                             "Collecting filelock", "Installing collected packages: filelock, torch",
                                             "Successfully installed filelock-3 torch-2.14.1"]]
    assert values == sorted(values) and 0 < values[0] < values[3] < values[4] == 1.0


def _fake_pip(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "python3"
    script.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def test_install_cancel_stops_pip_and_raises(tmp_path):
    python = _fake_pip(tmp_path, """\
        echo "Collecting torch==2.14.1"
        sleep 30
        echo "Successfully installed torch"
    """)
    logged = []
    progress = Progress(log=logged.append, cancelled=lambda: any(m.startswith("Collecting") for m in logged))
    with pytest.raises(Cancelled):
        pip_install.install(tmp_path / "py311", [_parse("torch==2.14.1")], "cuda", progress, python=python)
    assert "cancelled" in (tmp_path / "py311-install.log").read_text()


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens there once closed


def _pip_env(monkeypatch, index: str) -> None:
    """pip with ``index`` as its only index: no configuration, one retry, a short timeout."""
    for name in [n for n in os.environ if n.startswith("PIP_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", index)
    monkeypatch.setenv("PIP_RETRIES", "1")
    monkeypatch.setenv("PIP_TIMEOUT", "5")


@pytest.fixture
def loopback_index(tmp_path):
    """A PEP 503 index on loopback serving one wheel: a stand-in ``torch`` 2.14.1 (pure Python), as
    PyPI serves the real one under that version (no ``+cpu``)."""
    import base64
    import functools
    import hashlib
    import threading
    import zipfile
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    root = tmp_path / "index"
    (root / "simple" / "torch").mkdir(parents=True)
    wheel = root / "torch-2.14.1-py3-none-any.whl"
    files = {"torch/__init__.py": "__version__ = '2.14.1'\n",
             "torch-2.14.1.dist-info/METADATA": "Metadata-Version: 2.1\nName: torch\nVersion: 2.14.1\n",
             "torch-2.14.1.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                             "Tag: py3-none-any\n"}
    with zipfile.ZipFile(wheel, "w") as zf:
        record = []
        for name, text in files.items():
            zf.writestr(name, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
            record.append(f"{name},sha256={digest},{len(text.encode())}")
        zf.writestr("torch-2.14.1.dist-info/RECORD", "\n".join(record + ["torch-2.14.1.dist-info/RECORD,,"]) + "\n")
    (root / "simple" / "torch" / "index.html").write_text(f'<a href="../../{wheel.name}">{wheel.name}</a>')

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/simple"
    server.shutdown()
    server.server_close()


def test_install_offline_names_the_package_index_it_could_not_reach(tmp_path, monkeypatch):
    """Real pip against a closed loopback index: the message is the cause, naming the index, not
    pip's last words ("No matching distribution", or "ResolutionImpossible … torch==2.14.1+cpu")."""
    index = f"http://127.0.0.1:{_closed_port()}/simple"
    _pip_env(monkeypatch, index)
    with pytest.raises(FlairError) as err:
        pip_install.install(tmp_path / "py311", [_parse("surely-not-a-package-flair==1.0")], "cuda", Progress(),
                            python=Path(sys.executable))
    message = str(err.value)
    assert message.startswith(f"pip could not reach the package index {index} ([Errno 111] Connection refused")
    assert "no network connection" in message and "No matching distribution" not in message
    assert "No matching distribution" in (tmp_path / "py311-install.log").read_text()


def test_an_unreachable_cpu_index_falls_back_to_pypis_pytorch_saying_so_and_how_large(tmp_path, monkeypatch,
                                                                                       loopback_index):
    """Real pip: the default index (a loopback PyPI) answers, PyTorch's CPU index (a closed loopback
    port) does not. The installer names that index, says it installs PyPI's PyTorch instead and how
    large that is, and does."""
    _pip_env(monkeypatch, loopback_index)
    cpu_index = f"http://127.0.0.1:{_closed_port()}/whl/cpu"
    logged, warned = [], []
    result = pip_install.install(tmp_path / "py311", [_parse("torch>=2.1,==2.14.1")], "cpu",
                                 Progress(log=logged.append, warn=warned.append), python=Path(sys.executable),
                                 cpu_index=cpu_index)
    assert len(warned) == 1, warned
    assert warned[0].startswith(f"PyTorch's CPU index {cpu_index} could not be reached ([Errno 111] Connection "
                                "refused): installing PyPI's PyTorch build instead")
    assert "5.6 GB" in warned[0] if sys.platform.startswith("linux") else "CPU build" in warned[0]
    assert (tmp_path / "py311" / "torch-2.14.1.dist-info").is_dir()  # PyPI's 2.14.1, not 2.14.1+cpu
    assert "--extra-index-url" not in result.command and "torch==2.14.1" in result.command
    assert any(m.startswith("PyPI's PyTorch build installed: ") and " GB" in m for m in logged)
    text = result.log.read_text()
    assert text.count("$ ") == 2 and f"--extra-index-url {cpu_index} " in text


def test_when_every_index_is_unreachable_there_is_no_fallback_and_both_are_named(tmp_path, monkeypatch):
    index = f"http://127.0.0.1:{_closed_port()}/simple"
    cpu_index = f"http://127.0.0.1:{_closed_port()}/whl/cpu"
    _pip_env(monkeypatch, index)
    warned = []
    with pytest.raises(FlairError) as err:
        pip_install.install(tmp_path / "py311", [_parse("torch==2.14.1")], "cpu", Progress(warn=warned.append),
                            python=Path(sys.executable), cpu_index=cpu_index)
    assert not warned
    assert str(err.value).startswith("pip could not reach the package index ")
    assert index in str(err.value) and cpu_index in str(err.value)


def test_unreachable_indexes_are_named_from_pips_own_lines():
    lines = [
        "Looking in indexes: https://pypi.org/simple, https://download.pytorch.org/whl/cpu",
        "WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection "
        "broken by 'NewConnectionError('<pip._vendor.urllib3.connection.HTTPSConnection object at 0x7f>: Failed "
        "to establish a new connection: [Errno -2] Name or service not known')': /whl/cpu/torch/",
        "ERROR: No matching distribution found for torch==2.14.1+cpu",
    ]
    assert pip_install.unreachable_indexes(lines) == {
        "https://download.pytorch.org/whl/cpu": "[Errno -2] Name or service not known"}
    proxy = ["WARNING: Retrying (Retry(total=0)) after connection broken by 'ProxyError('Cannot connect to proxy.', "
             "OSError('Tunnel connection failed: 403 Forbidden'))': /simple/torch/"]
    assert pip_install.unreachable_indexes(proxy) == {"https://pypi.org/simple": "Cannot connect to proxy"}
    assert pip_install.unreachable_indexes(lines[:1] + lines[2:]) == {}


def test_install_failure_shows_pips_error_and_the_log(tmp_path):
    python = _fake_pip(tmp_path, """\
        echo "ERROR: Could not find a version that satisfies the requirement torch==99"
        exit 1
    """)
    with pytest.raises(FlairError, match="pip failed .*exit code 1.*\n.*torch==99"):
        pip_install.install(tmp_path / "py311", [_parse("torch==99")], "cuda", Progress(), python=python)


# --- inside QGIS, for real -------------------------------------------------------------------

def _qgis(*args: str, profile: Path, pythonpath: list[Path], timeout: float = 300, **extra: str):
    env = qgis_env(profile, pythonpath, **extra)
    env.pop(deps.FOLDER_ENV, None)
    done = qgis_process(*args, env=env, timeout=timeout)
    return done, done.stdout + done.stderr


def _fresh_profile(tmp_path: Path, pythonpath: list[Path]) -> Path:
    profile = tmp_path / "profile"
    done, text = _qgis("plugins", "enable", PLUGIN_NAME, profile=profile, pythonpath=pythonpath)
    assert done.returncode == 0, text
    return profile


@pytest.mark.qgis
@pytest.mark.slow
@needs_qgis_process
def test_install_from_the_registry_into_the_profile_and_import_in_a_fresh_qgis(tmp_path):
    """Two small pure-Python distributions (one importing numpy) from the package registry, through
    flair:installdependencies in qgis_process, into the fresh profile's own folder; then a new
    qgis_process imports them from there, with QGIS's numpy."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("python-slugify==8.0.4\nnumpy-groupies==0.11.2\nnumpy<2\n")
    path = [SITE_PACKAGES]
    profile = _fresh_profile(tmp_path, path)
    python = f"py{sys.version_info[0]}{sys.version_info[1]}"
    folder = profile / "profiles" / "default" / "python" / "flair_deps" / python

    done, text = _qgis("run", "flair:installdependencies", "--", f"REQUIREMENTS={requirements}",
                       profile=profile, pythonpath=path)

    assert done.returncode == 0, text
    assert f"FOLDER:\t{folder}" in text and "Successfully installed" in text
    assert {"slugify", "text_unidecode", "numpy_groupies"} <= {p.name for p in folder.iterdir()}
    assert not list(folder.glob("numpy")) and not list(folder.glob("numpy-*"))  # QGIS's own stays in use
    assert (folder.parent / f"{folder.name}-install.log").read_text().count("Successfully installed") == 1

    done, text = _qgis("run", "flair:installdependencies", "--", f"REQUIREMENTS={requirements}", "CHECK_ONLY=true",
                       profile=profile, pythonpath=path)

    assert done.returncode == 0, text
    assert f"python-slugify 8.0.4 ({folder / 'slugify'}): imports" in text
    assert f"numpy-groupies 0.11.2 ({folder / 'numpy_groupies'}): imports" in text
    numpy_line = next(line for line in text.splitlines() if line.startswith("numpy "))
    assert str(folder) not in numpy_line and numpy_line.endswith(": imports")
    assert "MISSING:\t\n" in text


HIDE_TORCH = '''
import sys

class _HideTorch:
    """A QGIS whose Python has no torch."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, _HideTorch())
'''


@pytest.mark.qgis
@pytest.mark.slow
@needs_qgis_process
def test_without_torch_the_provider_loads_and_segment_names_what_to_install(tmp_path, rgb_raster):
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "sitecustomize.py").write_text(HIDE_TORCH)
    path = [hide, SITE_PACKAGES]
    profile = _fresh_profile(tmp_path, path)

    done, text = _qgis("list", profile=profile, pythonpath=path)
    assert done.returncode == 0, text
    for alg in ("flair:segment", "flair:installdependencies", "flair:downloadmodel", "flair:applystyle"):
        assert alg in text

    out = tmp_path / "out" / "landcover.tif"
    done, text = _qgis("run", "flair:segment", "--", f"INPUT={rgb_raster}", f"OUTPUT={out}",
                       profile=profile, pythonpath=path)
    assert done.returncode != 0 and "Traceback" not in text
    assert "torch: missing" in text and "flair:installdependencies" in text
    assert not out.exists()


@pytest.mark.qgis
def test_plugin_menu_action_opens_the_install_algorithm_and_deps_folder_goes_on_the_path(
        qgis_processing, monkeypatch, tmp_path):
    from qgis.core import QgsApplication
    from qgis.PyQt.QtWidgets import QWidget

    import processing

    import flair_for_qgis

    class Interface:
        """What the plugin uses of QGIS's iface."""

        def __init__(self):
            self.window, self.menu = QWidget(), []

        def mainWindow(self):  # noqa: N802 - QGIS's name
            return self.window

        def addPluginToMenu(self, name, action):  # noqa: N802 - QGIS's name
            self.menu.append((name, action))

        def removePluginMenu(self, name, action):  # noqa: N802 - QGIS's name
            self.menu.remove((name, action))

    folder = tmp_path / "py311"
    folder.mkdir()
    monkeypatch.setenv(deps.FOLDER_ENV, str(folder))
    monkeypatch.setattr(sys, "path", list(sys.path))
    opened = []
    monkeypatch.setattr(processing, "execAlgorithmDialog", lambda alg_id, params=None: opened.append(alg_id))
    iface = Interface()

    plugin = flair_for_qgis.classFactory(iface)
    assert sys.path[0] == str(folder)  # before any algorithm can import torch
    plugin.initGui()
    try:
        assert QgsApplication.processingRegistry().algorithmById("flair:installdependencies") is not None
        [(menu, action)] = iface.menu
        assert menu == "&FLAIR" and action.text() == "Install FLAIR dependencies…"
        action.trigger()
        assert opened == ["flair:installdependencies"]
    finally:
        plugin.unload()
    assert iface.menu == [] and QgsApplication.processingRegistry().providerById("flair") is None
