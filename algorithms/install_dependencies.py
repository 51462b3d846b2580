"""flair:installdependencies — pip-install the plugin's Python packages into its private folder."""

import shutil
from pathlib import Path

from qgis.core import (QgsApplication, QgsProcessingOutputFile, QgsProcessingOutputFolder,
                       QgsProcessingOutputString, QgsProcessingParameterBoolean, QgsProcessingParameterDefinition,
                       QgsProcessingParameterEnum, QgsProcessingParameterFile)

from ..flair_qgis import choices, dependencies, pip_install
from .base import FlairAlgorithm

BUILDS = list(choices.TORCH_BUILDS)
OPENVINO_INSTALLS = list(choices.OPENVINO_INSTALLS)


def plugin_deps_folder() -> Path:
    """The packages' folder in the current QGIS profile (``<profile>/python/flair_deps/py312`` for Python 3.12)."""
    return dependencies.deps_folder(Path(QgsApplication.qgisSettingsDirPath()) / "python")


class InstallDependenciesAlgorithm(FlairAlgorithm):
    TORCH_BUILD = "TORCH_BUILD"
    OPENVINO = "OPENVINO"
    CHECK_ONLY = "CHECK_ONLY"
    REQUIREMENTS = "REQUIREMENTS"
    FOLDER = "FOLDER"
    LOG = "LOG"
    MISSING = "MISSING"

    def name(self):
        return "installdependencies"

    def displayName(self):  # noqa: N802 - QGIS's name
        return self.tr("Install FLAIR dependencies")

    def group(self):
        return self.tr("Setup")

    def groupId(self):  # noqa: N802 - QGIS's name
        return "setup"

    def shortHelpString(self):  # noqa: N802 - QGIS's name
        return self.tr(
            "Installs the Python packages FLAIR needs (PyTorch, segmentation-models-pytorch, rasterio, "
            "torchmetrics, huggingface_hub, PyYAML…, the versions pinned in the plugin's requirements.txt) "
            "with pip into a folder of your QGIS profile reserved for the plugin "
            "(python/flair_deps/py3XX, one per Python version), which the plugin puts on Python's path "
            "when it loads. QGIS's own packages are never changed: numpy stays the one QGIS ships.\n\n"
            "Torch build: 'auto' picks the CUDA build when the NVIDIA driver (nvidia-smi) is present, "
            "else the much smaller CPU build; 'cpu' or 'cuda' force one. The download is large "
            "(about 1 GB for CPU, several GB for CUDA) and needs internet access; pip's output is shown "
            "in the log and saved beside the folder. Cancel stops pip and leaves the folder as it was. "
            "Where PyTorch's CPU index (download.pytorch.org) cannot be reached but PyPI can (some proxies and "
            "mirrors), PyPI's PyTorch is installed instead, with a warning naming the index: on Linux that is "
            "the CUDA build (it runs on the CPU too), about 5.6 GB installed.\n\n"
            "OpenVINO (advanced): the CPU inference backend, faster than PyTorch on the CPU. 'auto' installs it "
            "with the CPU build of PyTorch (machines without an NVIDIA GPU); 'yes' adds it to the CUDA build too, "
            "'no' leaves it out. Without it, PyTorch runs on the CPU.\n\n"
            "Check only: lists what is installed, missing or too old, and where each package is "
            "imported from, without installing. After an install that replaces packages QGIS had "
            "already loaded, restart QGIS.")

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS's name
        self.addParameter(QgsProcessingParameterEnum(self.TORCH_BUILD, self.tr("PyTorch build"), options=BUILDS,
                                                     defaultValue="auto", usesStaticStrings=True))
        openvino = QgsProcessingParameterEnum(
            self.OPENVINO, self.tr("Install OpenVINO (the CPU backend; auto: with the CPU build)"),
            options=OPENVINO_INSTALLS, defaultValue="auto", usesStaticStrings=True)
        openvino.setFlags(openvino.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(openvino)
        self.addParameter(QgsProcessingParameterBoolean(
            self.CHECK_ONLY, self.tr("Only check what is installed (install nothing)"), defaultValue=False))
        requirements = QgsProcessingParameterFile(
            self.REQUIREMENTS, self.tr("Requirements file (empty: the plugin's requirements.txt)"),
            optional=True, fileFilter="Requirements (*.txt);;All files (*)")
        requirements.setFlags(requirements.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
        self.addParameter(requirements)
        self.addOutput(QgsProcessingOutputFolder(self.FOLDER, self.tr("Packages folder")))
        self.addOutput(QgsProcessingOutputFile(self.LOG, self.tr("pip log")))
        self.addOutput(QgsProcessingOutputString(self.MISSING, self.tr("Still missing or too old")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS's name
        path = self.parameterAsFile(parameters, self.REQUIREMENTS, context)
        requirements = self.run_core(dependencies.read_requirements, Path(path) if path else
                                     dependencies.REQUIREMENTS_FILE)
        folder = plugin_deps_folder()
        log = None
        check_only = self.parameterAsBoolean(parameters, self.CHECK_ONLY, context)
        if not check_only:
            build = pip_install.torch_build(self.parameterAsEnumString(parameters, self.TORCH_BUILD, context),
                                             shutil.which("nvidia-smi"))
            feedback.pushInfo(self.tr("Installing into {} (PyTorch {} build)").format(folder, build))
            openvino = self.parameterAsEnumString(parameters, self.OPENVINO, context) or "auto"
            chosen = self.run_core(pip_install.for_build, requirements, build, openvino)
            if len(chosen) < len(requirements) and build == "cuda":
                feedback.pushInfo(self.tr("OpenVINO, the CPU backend, is not installed with the CUDA build: set "
                                          "'Install OpenVINO' to 'yes' to add it"))
            result = self.run_core(pip_install.install, folder, chosen, build, self.progress(feedback))
            log = str(result.log)
        on_path = dependencies.activate(folder)
        feedback.pushInfo(self.tr("Packages folder: {} ({})").format(
            folder, self.tr("on Python's path") if on_path else self.tr("not created yet")))
        feedback.pushInfo(self.tr("Python for pip: {}").format(pip_install.find_python() or self.tr("not found")))
        statuses = dependencies.check(requirements)
        for status in statuses:
            error = dependencies.import_error(status) if check_only else None
            if error:
                feedback.pushWarning(self.tr("{}: fails to import: {}").format(status.describe(), error))
            else:
                feedback.pushInfo(status.describe() + (self.tr(": imports") if check_only and status.found else ""))
        bad = dependencies.problems(statuses)
        if bad:
            feedback.pushWarning(dependencies.explain(statuses))
        else:
            feedback.pushInfo(self.tr("All the packages FLAIR needs are installed."))
        return {self.FOLDER: str(folder), self.LOG: log, self.MISSING: ", ".join(s.requirement.name for s in bad)}
