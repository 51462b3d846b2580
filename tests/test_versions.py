"""No Python version baked in: the venv's site-packages is asked from the venv, on every QGIS's Python."""

from __future__ import annotations

import re
import subprocess
import sysconfig

from conftest import ROOT

# A path into one Python version's packages (".venv/lib/python3.<minor>/site-packages" with the minor version
# written out), or built in pieces; the venv's own is asked from it (sysconfig) instead.
VERSIONED_PATH = re.compile(r"python3\.\d+\b.*site-packages")


def test_makefile_ci_tests_and_tools_name_no_python_version():
    files = [ROOT / "Makefile", *(ROOT / ".ci").iterdir(), *(ROOT / "tests").glob("*.py"),
             *(ROOT / "docs").glob("*.py"), *(ROOT / "tools").iterdir()]
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in files if path.is_file()
             for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
             if VERSIONED_PATH.search(line)]
    assert found == []


def test_make_puts_the_venvs_own_site_packages_on_qgis_process_path():
    dry = subprocess.run(["make", "-n", "run"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert f"PYTHONPATH={sysconfig.get_paths()['purelib']} " in dry
