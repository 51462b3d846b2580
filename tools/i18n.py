"""The plugin's translation files (``make translations``).

Extracts every string the plugin passes to ``tr()`` (the algorithms' ``self.tr``, ``i18n.tr``) or
to ``QCoreApplication.translate(CONTEXT, ...)``, merges them into ``i18n/flair_<lang>.ts`` (known
translations kept, new strings marked unfinished, strings no longer in the code dropped) and
compiles each ``.ts`` into the ``.qm`` QGIS loads, with Qt's ``lrelease`` (Debian package
``qttools5-dev-tools``). Like ``pylupdate5``, but aware that all our strings share one context.

    .venv/bin/python tools/i18n.py            # update the .ts files and compile them
    .venv/bin/python tools/i18n.py --check    # exit 1 if a .ts file misses strings of the code
"""

from __future__ import annotations

import argparse
import ast
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
I18N = ROOT / "i18n"
CONTEXT = "FLAIR"
SOURCES = ("plugin.py", "provider.py", "algorithms", "i18n")
LANGUAGES = ("fr",)


def source_files(root: Path = ROOT) -> list[Path]:
    files = []
    for name in SOURCES:
        path = root / name
        files += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return [f for f in files if "__pycache__" not in f.parts]


def _string(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def extract(files: list[Path]) -> dict[str, list[str]]:
    """Source text → locations (``file:line``), in order of first appearance."""
    found: dict[str, list[str]] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            text = None
            if name == "tr":
                text = _string(node.args[0])
            elif name == "translate" and len(node.args) >= 2 and _string(node.args[0]) == CONTEXT:
                text = _string(node.args[1])
            if text:
                found.setdefault(text, []).append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}")
    return found


def read_ts(path: Path) -> dict[str, tuple[str, bool]]:
    """Source → (translation, finished) of an existing .ts file."""
    if not path.is_file():
        return {}
    out = {}
    for message in ET.parse(path).getroot().iter("message"):
        source = message.findtext("source") or ""
        translation = message.find("translation")
        text = "".join(translation.itertext()) if translation is not None else ""
        finished = translation is not None and translation.get("type") not in ("unfinished", "vanished", "obsolete")
        out[source] = (text, finished and bool(text))
    return out


def write_ts(path: Path, language: str, strings: dict[str, list[str]], known: dict[str, tuple[str, bool]]) -> int:
    """Write the .ts file; returns how many strings are still untranslated."""
    ts = ET.Element("TS", version="2.1", language=f"{language}_FR" if language == "fr" else language)
    context = ET.SubElement(ts, "context")
    ET.SubElement(context, "name").text = CONTEXT
    missing = 0
    for source, locations in strings.items():
        message = ET.SubElement(context, "message")
        for filename in dict.fromkeys(location.rsplit(":", 1)[0] for location in locations):
            ET.SubElement(message, "location", filename=f"../{filename}")  # no line: stable diffs
        ET.SubElement(message, "source").text = source
        text, finished = known.get(source, ("", False))
        translation = ET.SubElement(message, "translation")
        translation.text = text
        if not finished:
            translation.set("type", "unfinished")
            missing += 1
    ET.indent(ts)
    body = ET.tostring(ts, encoding="unicode")
    path.write_text('<?xml version="1.0" encoding="utf-8"?>\n<!DOCTYPE TS>\n' + body + "\n", encoding="utf-8")
    return missing


def compile_qm(ts: Path) -> Path:
    lrelease = shutil.which("lrelease") or shutil.which("lrelease-qt5")
    if lrelease is None:
        raise SystemExit("lrelease not found: sudo apt install qttools5-dev-tools (or make system)")
    qm = ts.with_suffix(".qm")
    done = subprocess.run([lrelease, "-silent", "-nounfinished", str(ts), "-qm", str(qm)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    return qm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the .ts files list every string")
    args = parser.parse_args(argv)
    strings = extract(source_files())
    status = 0
    for language in LANGUAGES:
        ts = I18N / f"flair_{language}.ts"
        known = read_ts(ts)
        if args.check:
            absent = [s for s in strings if s not in known]
            if absent:
                print(f"{ts.name}: {len(absent)} strings of the code are missing (make translations):")
                print("\n".join(f"  {s[:70]!r}" for s in absent))
                status = 1
            continue
        missing = write_ts(ts, language, strings, known)
        qm = compile_qm(ts)
        print(f"{ts.name}: {len(strings)} strings, {missing} untranslated; compiled {qm.name}")
    return status


if __name__ == "__main__":
    sys.exit(main())
