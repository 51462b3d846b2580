"""French and English: the French translation ships compiled, loads when QGIS is set to French
(in the desktop and in qgis_process), and lists every string the plugin translates."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import pytest

from conftest import ROOT, enable_plugin, needs_qgis_process, qgis_env, qgis_process

sys.path.insert(0, str(ROOT / "tools"))
import i18n as i18n_tool  # noqa: E402 - tools/i18n.py

TS = ROOT / "i18n" / "flair_fr.ts"
QM = ROOT / "i18n" / "flair_fr.qm"

pytestmark = pytest.mark.qgis


def _translations() -> dict[str, str]:
    return {m.findtext("source"): m.findtext("translation") for m in ET.parse(TS).getroot().iter("message")
            if m.find("translation").get("type") != "unfinished"}


def test_every_string_the_plugin_translates_is_in_the_french_file():
    strings = i18n_tool.extract(i18n_tool.source_files())
    known = i18n_tool.read_ts(TS)
    absent = [s for s in strings if s not in known]
    assert not absent, f"run `make translations`: {len(absent)} strings are not in {TS.name}, e.g. {absent[0]!r}"
    assert "Segment land cover (FLAIR)" in strings and "Install FLAIR dependencies…" in strings


def test_compiled_file_holds_every_finished_translation(qgis_app):
    from qgis.PyQt.QtCore import QCoreApplication, QTranslator

    translator = QTranslator()
    assert translator.load(str(QM))
    translations = _translations()
    assert len(translations) > 100
    QCoreApplication.installTranslator(translator)
    try:  # (QTranslator.translate itself takes only ASCII from Python)
        wrong = [s for s, t in translations.items() if QCoreApplication.translate("FLAIR", s) != t]
    finally:
        QCoreApplication.removeTranslator(translator)
    assert not wrong, f"{QM.name} is older than {TS.name}: run `make translations` ({wrong[0]!r})"


@pytest.fixture
def french_qgis(qgis_app):
    """QGIS's own locale setting (Settings ▸ Options ▸ General) set to French for the test."""
    from qgis.core import QgsSettings

    settings = QgsSettings()
    before = {k: settings.value(k) for k in ("locale/overrideFlag", "locale/userLocale")}
    settings.setValue("locale/overrideFlag", True)
    settings.setValue("locale/userLocale", "fr_FR")
    yield
    for key, value in before.items():
        settings.remove(key) if value is None else settings.setValue(key, value)


def test_plugin_loads_the_french_strings_when_qgis_is_in_french(french_qgis, qgis_processing):
    from qgis.core import QgsApplication

    import flair_for_qgis

    registry = QgsApplication.processingRegistry()
    plugin = flair_for_qgis.classFactory(None)
    plugin.initProcessing()
    try:
        segment = registry.algorithmById("flair:segment")
        assert segment.displayName() == "Segmenter l'occupation du sol (FLAIR)"
        assert segment.group() == "Occupation du sol"
        assert segment.parameterDefinition("INPUT").description() == "Raster en entrée (orthophotographie)"
        assert registry.algorithmById("flair:installdependencies").displayName() == "Installer les dépendances de FLAIR"
        assert "surface classée" in registry.algorithmById("flair:classareas").shortHelpString()
        assert segment.id() == "flair:segment" and segment.parameterDefinition("INPUT").name() == "INPUT"  # API stays
    finally:
        plugin.unload()
    assert registry.algorithmById("flair:segment") is None
    from flair_for_qgis.algorithms.segment import SegmentAlgorithm

    assert SegmentAlgorithm().displayName() == "Segment land cover (FLAIR)"  # translator removed with the plugin


def test_english_qgis_gets_no_translator(qgis_app):
    from flair_for_qgis.i18n import install_translator

    assert install_translator("en_GB") is None and install_translator("de") is None


@pytest.mark.slow
@needs_qgis_process
def test_qgis_process_in_french_shows_french_help(tmp_path):
    profile_root = tmp_path / "config"
    ini = profile_root / "profiles" / "default" / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True)
    ini.write_text("[locale]\noverrideFlag=true\nuserLocale=fr_FR\n", encoding="utf-8")
    env = qgis_env(profile_root)
    enable_plugin(env)

    done = qgis_process("help", "flair:polygonize", env=env, timeout=120)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "Polygones d'occupation du sol" in done.stdout and "Tolérance de simplification" in done.stdout
