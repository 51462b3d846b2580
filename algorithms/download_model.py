"""flair:downloadmodel — fetch a zoo model into the local cache, to work offline later."""

from qgis.core import QgsProcessingOutputFile, QgsProcessingParameterEnum

from ..flair_qgis.zoo import DEFAULT_MODEL, ZOO, confirmed, unconfirmed
from .base import ModelsAlgorithm, import_core


class DownloadModelAlgorithm(ModelsAlgorithm):
    MODEL = "MODEL"
    FILE = "FILE"

    def name(self):
        return "downloadmodel"

    def displayName(self):  # noqa: N802 - QGIS's name
        return self.tr("Download FLAIR model")

    def shortHelpString(self):  # noqa: N802 - QGIS's name
        return self.tr(
            "Downloads a pretrained IGNF FLAIR model from HuggingFace into the local cache "
            "(~/.cache/huggingface, or HF_HOME), checks its sha256 and returns its path. Run it while "
            "online; afterwards 'Segment land cover' works offline (HF_HUB_OFFLINE=1) with this model. "
            "A file already cached and intact is not downloaded again.\n\n"
            "The list also has IGN's FLAIR-HUB aerial-only models (FLAIR-HUB_LC-A_*: Swin or ConvNeXt-V2 encoders "
            "with a UPerNet or U-Net decoder; IR models take near-infrared, red, green, RGB models red, green, "
            "blue). Their size and hash are not published: each file is verified on first download against the "
            "sha256 the hub announces for it, and that file is used from then on.\n\n"
            "Confirmed (pinned to the commit that uploaded the weight file; its sha256 and size are checked): "
            "{}.\n\n"
            "Not confirmed (the file was never seen at the entry's pinned revision, so the download may "
            "fail; then download the file from the model's page and give it as a checkpoint): {}."
        ).format(", ".join(e.name for e in confirmed()), ", ".join(e.name for e in unconfirmed()))

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS's name
        model = QgsProcessingParameterEnum(self.MODEL, self.tr("Model"), options=list(ZOO),
                                           defaultValue=DEFAULT_MODEL, usesStaticStrings=True)
        model.setHelp(self.tr("Pretrained IGNF model from the zoo. Confirmed (pinned to the file's upload commit, "
                              "sha256 and size checked): {}. Not confirmed at their pinned revision "
                              "(may fail to download): {}.").format(", ".join(e.name for e in confirmed()),
                                                                    ", ".join(e.name for e in unconfirmed())))
        self.addParameter(model)
        self.addOutput(QgsProcessingOutputFile(self.FILE, self.tr("Cached weights file")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS's name
        zoo, hf_download = import_core("zoo"), import_core("hf_download")
        entry = zoo.get_entry(self.parameterAsEnumString(parameters, self.MODEL, context))
        feedback.pushInfo(zoo.describe(entry))
        path = self.run_core(hf_download.fetch, entry, self.progress(feedback))
        feedback.pushInfo(self.tr("Verified {}").format(path))
        return {self.FILE: str(path)}
