"""The QGIS plugin: puts the plugin's packages on Python's path, registers the FLAIR Processing
provider, and (in QGIS desktop) adds a menu action that installs those packages."""

from qgis.core import QgsApplication

from .algorithms.install_dependencies import plugin_deps_folder
from .flair_qgis.dependencies import activate
from .i18n import install_translator, tr

MENU = "&FLAIR"


class FlairPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None
        self.actions = []
        activate(plugin_deps_folder())  # before any algorithm imports torch
        self.translator = install_translator()

    def initProcessing(self):  # noqa: N802 - QGIS's name
        from .provider import FlairProvider

        self.provider = FlairProvider()
        QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self):  # noqa: N802 - QGIS's name
        self.initProcessing()
        if self.iface is None:
            return
        from qgis.PyQt.QtGui import QIcon
        from qgis.PyQt.QtWidgets import QAction

        from .provider import ICON

        action = QAction(QIcon(ICON), tr("Install FLAIR dependencies…"),
                         self.iface.mainWindow())
        action.triggered.connect(self.install_dependencies)
        self.iface.addPluginToMenu(MENU, action)
        self.actions.append(action)

    def install_dependencies(self):
        """Opens the flair:installdependencies dialog."""
        import processing

        processing.execAlgorithmDialog("flair:installdependencies", {})

    def unload(self):
        for action in self.actions:
            self.iface.removePluginMenu(MENU, action)
        self.actions = []
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
        if self.translator is not None:
            QgsApplication.removeTranslator(self.translator)
            self.translator = None
