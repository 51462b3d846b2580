"""The documentation: docs/algorithms.md, README.md's algorithm list and docs/models.md's model table
are what `make docs` writes (from the algorithms' help and the zoo), every algorithm's help is
complete, README.md is a front page whose pictures exist, the Python examples are valid Python, and
every relative link of README.md and docs/*.md leads to a file and a heading that exist."""

from __future__ import annotations

import ast
import os
import importlib.util
import re
import subprocess
import sys
import unicodedata

import pytest

from conftest import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
GUIDE = ("segment.md", "ign-data.md", "models.md", "change.md", "training.md", "large-areas.md",
         "troubleshooting.md", "command-line.md", "development.md", "algorithms.md")


@pytest.mark.qgis
def test_generated_documentation_is_up_to_date(tmp_path):
    done = subprocess.run([sys.executable, str(ROOT / "docs" / "algorithms.py"), str(tmp_path)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert done.returncode == 0, done.stdout + done.stderr
    for name, committed in (("algorithms.md", ROOT / "docs" / "algorithms.md"), ("README.md", ROOT / "README.md"),
                            ("models.md", ROOT / "docs" / "models.md")):
        assert (tmp_path / name).read_text(encoding="utf-8") == committed.read_text(encoding="utf-8"), \
            f"{committed.relative_to(ROOT)} is out of date: run `make docs`"


@pytest.mark.qgis
def test_every_algorithm_is_documented_with_its_parameters():
    text = (ROOT / "docs" / "algorithms.md").read_text(encoding="utf-8")
    for alg_id, keys in (("flair:segment", ("INPUT", "MODEL", "CHECKPOINT", "OUTPUT")),
                         ("flair:polygonize", ("TOLERANCE", "MIN_AREA", "SMALL_POLYGONS")),
                         ("flair:classareas", ("ZONES", "ZONE_FIELD")),
                         ("flair:installdependencies", ("TORCH_BUILD", "CHECK_ONLY")),
                         ("flair:landcover_workflow", ("ORTHOPHOTO", "SEGMENT:LANDCOVER"))):
        section = text.split(f"`{alg_id}`\n", 1)[1].split("\n## ", 1)[0]
        for key in keys:
            assert f"`{key}`" in section, f"{alg_id}: {key}"


@pytest.mark.qgis
def test_every_algorithm_has_a_complete_help(provider):
    from qgis.core import QgsProcessingModelAlgorithm

    for alg in provider.algorithms():
        text = alg.helpContent().get("ALG_DESC", "") if isinstance(alg, QgsProcessingModelAlgorithm) \
            else alg.shortHelpString()
        assert len(text) >= 150 and text.rstrip().endswith("."), f"{alg.id()}: help too short or unfinished"
        assert alg.helpUrl() or isinstance(alg, QgsProcessingModelAlgorithm), alg.id()


def test_readme_is_a_front_page_with_its_pictures_and_links_to_the_guide():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 250, "README.md is the front page: move details into docs/"
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert {"docs/screenshot_map.png", "docs/screenshot_segment_dialog.png"} <= set(pictures)
    for picture in pictures:
        data = (ROOT / picture).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000, picture
    for section in ("## Install for users", "## The first map", "## Developers: two commands", "## The guide"):
        assert section in readme
    for page in GUIDE:
        assert f"(docs/{page})" in readme, f"README.md does not link to docs/{page}"
    assert "## Troubleshooting the installation" in (ROOT / "docs" / "troubleshooting.md").read_text(encoding="utf-8")


def test_python_examples_are_python():
    blocks = {page.name: re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), re.S) for page in PAGES}
    assert blocks["README.md"] and blocks["segment.md"]
    for name, found in blocks.items():
        for block in found:
            ast.parse(block, filename=name)


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown page: the heading's text without its
    formatting, lower case, without punctuation, spaces as hyphens, ``-1``, ``-2``… for repeats."""
    seen: dict[str, int] = {}
    anchors = set()
    text = re.sub(r"```.*?```", "", markdown, flags=re.S)
    for heading in re.findall(r"^#{1,6} +(.+?) *#*$", text, re.M):
        plain = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).replace("`", "").strip().lower()
        slug = "".join(c for c in plain if c in " -_" or unicodedata.category(c)[0] in "LMN").replace(" ", "-")
        anchors.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return anchors


def test_github_anchors_follow_githubs_rules():
    page = "# FLAIR for QGIS\n## `flair:segment` in detail\n## Large areas: a département\n## Notes\n## Notes\n" \
           "```sh\n# not a heading\n```\n## Why `MIN_AREA` is 10 m²\n"
    assert github_anchors(page) == {"flair-for-qgis", "flairsegment-in-detail", "large-areas-a-département", "notes",
                                    "notes-1", "why-min_area-is-10-m²"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_leads_to_a_file_and_heading_that_exist(page):
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.S)
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    broken = []
    for link in links:
        if re.match(r"[a-z]+:", link):  # https:, mailto:: not followed
            continue
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            broken.append(f"{link}: no file {path}")
        elif anchor and path.suffix == ".md" and anchor not in github_anchors(path.read_text(encoding="utf-8")):
            broken.append(f"{link}: no heading #{anchor} in {path.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def test_the_model_table_is_the_zoo():
    spec = importlib.util.spec_from_file_location("models_table", ROOT / "docs" / "models_table.py")
    models_table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(models_table)
    from flair_qgis.zoo import ZOO

    committed = (ROOT / "docs" / "models.md").read_text(encoding="utf-8")
    assert models_table.update(committed) == committed, "docs/models.md's model table is out of date: run `make docs`"
    table = committed.split(models_table.START, 1)[1].split(models_table.END, 1)[0]
    listed = re.findall(r"^\| `([^`]+)`", table, re.M)
    assert listed == list(ZOO)
    assert all("| 98 MB |" in row for row in table.splitlines() if "FLAIR-INC_rgbie_" in row)  # the pinned size
