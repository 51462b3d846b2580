"""Build the installable plugin ZIP: ``dist/flair_for_qgis-<version>.zip`` (``make package``).

The archive holds one folder, ``flair_for_qgis/``, as QGIS's "Install from ZIP" expects: the
plugin's code, resources, compiled translations, metadata, licence, README, requirements (the
dependency installer reads them) and the bundled example. Nothing else: no tests, tools, docs
sources, caches, virtual environments, build or benchmark folders.
"""

from __future__ import annotations

import argparse
import configparser
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PLUGIN_NAME = "flair_for_qgis"
FILES = ("__init__.py", "plugin.py", "provider.py", "metadata.txt", "LICENSE", "README.md", "requirements.txt")
FOLDERS = ("algorithms", "flair_qgis", "resources", "i18n", "examples")
SKIPPED_NAMES = {"__pycache__", ".DS_Store", ".pytest_cache"}
SKIPPED_SUFFIXES = (".pyc", ".pyo", ".aux.xml", ".ts", ".tmp", ".log")


def version(root: Path = ROOT) -> str:
    meta = configparser.ConfigParser()
    meta.read(root / "metadata.txt", encoding="utf-8")
    return meta["general"]["version"]


def plugin_files(root: Path = ROOT) -> list[Path]:
    """The files that go into the ZIP, relative to ``root``."""
    files = [Path(name) for name in FILES]
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and not SKIPPED_NAMES & set(rel.parts) and not path.name.endswith(SKIPPED_SUFFIXES):
                files.append(rel)
    missing = [str(f) for f in files if not (root / f).is_file()]
    if missing:
        raise SystemExit(f"missing from the plugin folder: {', '.join(missing)}")
    return files


def build(out_dir: Path = ROOT / "dist", root: Path = ROOT) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    archive = out_dir / f"{PLUGIN_NAME}-{version(root)}.zip"
    tmp = archive.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in plugin_files(root):
            zf.write(root / rel, f"{PLUGIN_NAME}/{rel.as_posix()}")
    tmp.replace(archive)
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=ROOT / "dist", help="folder for the ZIP (default dist/)")
    archive = build(parser.parse_args(argv).output)
    with zipfile.ZipFile(archive) as zf:
        count, size = len(zf.namelist()), sum(i.compress_size for i in zf.infolist())
    print(f"{archive} ({count} files, {size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
