"""One vocabulary: the words of every choice are defined once, in a torch-free core module."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import ROOT
from flair_qgis import choices
from flair_qgis.errors import FlairError


def test_an_unknown_value_is_named_with_the_words_to_use():
    with pytest.raises(FlairError, match=r"^unknown stitching 'smooth': use one of crop, blend$"):
        choices.check_choice("stitching", "smooth", choices.STITCHES)
    assert choices.check_choice("device", "cpu", choices.DEVICES) == "cpu"


def test_the_vocabulary_loads_without_pytorch():
    code = "import sys; import flair_qgis.choices; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_the_core_the_cli_and_the_algorithms_share_it():
    from flair_qgis import devices, segment_checks, train_options

    assert devices.DEVICES is choices.DEVICES and segment_checks.STITCHES is choices.STITCHES
    assert train_options.OPTIMIZERS is choices.OPTIMIZERS
    for module in ("algorithms/segment.py", "algorithms/train.py", "algorithms/install_dependencies.py",
                   "flair_qgis/cli.py"):
        text = (ROOT / module).read_text(encoding="utf-8")
        assert '"auto", "cpu", "cuda"' not in text and '"argmax", "class_prob"' not in text, module
