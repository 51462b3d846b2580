"""flair:train — train, fine-tune or resume a FLAIR model on labelled patch folders."""

from pathlib import Path

from qgis.core import (QgsProcessingException, QgsProcessingOutputFile, QgsProcessingOutputNumber,
                       QgsProcessingParameterBoolean, QgsProcessingParameterDefinition, QgsProcessingParameterEnum,
                       QgsProcessingParameterFile, QgsProcessingParameterFolderDestination,
                       QgsProcessingParameterMatrix, QgsProcessingParameterNumber, QgsProcessingParameterString)
from qgis.PyQt.QtCore import QVariant

from ..flair_qgis import choices
from ..flair_qgis.normalisation import NORM_TYPES
from ..flair_qgis.zoo import ZOO
from .base import FlairAlgorithm, import_core

SCRATCH = "from scratch"
ARCHS, OPTIMIZERS = list(choices.ARCHS), list(choices.OPTIMIZERS)
SCHEDULERS, DEVICES = list(choices.SCHEDULERS), list(choices.DEVICES)
NORM_CHOICES = ["model"] + list(NORM_TYPES)
CLASS_COLUMNS = ["code", "name", "weight", "colour"]


def optional_number(parameters, key):
    """A number parameter's value, or ``None`` when it is left empty."""
    value = parameters.get(key)
    if value is None or value == "" or (isinstance(value, QVariant) and value.isNull()):
        return None
    return value


def numbers(text, key, cast=float):
    """A comma-separated list of numbers."""
    try:
        return [cast(v) for v in str(text or "").replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise QgsProcessingException(f"{key}: '{text}' is not a comma-separated list of numbers") from None


def matrix_rows(values, width):
    """A matrix parameter's flat list of cells as rows of ``width`` cells (empty rows dropped)."""
    values = list(values or [])
    rows = [values[i:i + width] for i in range(0, len(values), width)]
    return [r for r in rows if any(str(v).strip() for v in r if not _null(v))]


def _null(value):
    """None, or QGIS's NULL: an unset matrix parameter arrives as [NULL] (processing.run, models)."""
    return value is None or (isinstance(value, QVariant) and value.isNull())


class TrainAlgorithm(FlairAlgorithm):
    TRAIN = "TRAIN"
    TRAIN_CSV = "TRAIN_CSV"
    VALIDATION = "VALIDATION"
    VAL_CSV = "VAL_CSV"
    VAL_FRACTION = "VAL_FRACTION"
    CLASSES = "CLASSES"
    START = "START"
    INIT_CHECKPOINT = "INIT_CHECKPOINT"
    RESUME = "RESUME"
    ARCH = "ARCH"
    ENCODER = "ENCODER"
    BANDS = "BANDS"
    EPOCHS = "EPOCHS"
    BATCH_SIZE = "BATCH_SIZE"
    CROP_SIZE = "CROP_SIZE"
    BALANCED_CROPS = "BALANCED_CROPS"
    LEARNING_RATE = "LEARNING_RATE"
    OPTIMIZER = "OPTIMIZER"
    SCHEDULER = "SCHEDULER"
    WEIGHT_DECAY = "WEIGHT_DECAY"
    CLASS_WEIGHTS = "CLASS_WEIGHTS"
    AUGMENT = "AUGMENT"
    PATIENCE = "PATIENCE"
    SEED = "SEED"
    DEVICE = "DEVICE"
    NORM_TYPE = "NORM_TYPE"
    NORM_MEANS = "NORM_MEANS"
    NORM_STDS = "NORM_STDS"
    NAME = "NAME"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"
    BEST_CHECKPOINT = "BEST_CHECKPOINT"
    LAST_CHECKPOINT = "LAST_CHECKPOINT"
    METRICS = "METRICS"
    METRICS_JSON = "METRICS_JSON"
    CURVES = "CURVES"
    VAL_LIST = "VAL_LIST"
    BEST_MIOU = "BEST_MIOU"

    def name(self):
        return "train"

    def displayName(self):  # noqa: N802 - QGIS's name
        return self.tr("Train land-cover model (FLAIR)")

    def shortHelpString(self):  # noqa: N802 - QGIS's name
        return self.tr(
            "Trains a segmentation model on your labelled patches: from scratch, by fine-tuning a pretrained "
            "IGNF FLAIR model, or resuming an interrupted run.\n\n"
            "Patches: image/label pairs of GeoTIFFs, found in the training folder at any depth in FLAIR's "
            "layout (img/IMG_<id>.tif with msk/MSK_<id>.tif, as 'Export training patches' writes) or as "
            "images/ and labels/ folders with the same file names, or listed in a FLAIR-1 CSV file "
            "(image,mask per line). Label rasters hold class codes; pixels equal to their nodata value are "
            "ignored. Unpaired files, size or CRS mismatches and label values outside the classes are "
            "reported with the files concerned.\n\n"
            "Classes: one row per code (code, name, weight, colour); weight 0 ignores a class; empty, "
            "FLAIR's 19 classes. Validation: a separate folder or list, or a seeded random fraction of the "
            "training patches. Training is seeded (reproducible on the CPU), uses flips and 90° rotations "
            "unless turned off, and stops early when the validation mIoU has not improved for PATIENCE "
            "epochs.\n\n"
            "Outputs, in the output folder: NAME_best.pt (the best epoch's model, usable as is by 'Segment "
            "land cover' with your class names and colours), NAME_last.pt (resumable), per-epoch metrics "
            "(CSV, JSON), loss and mIoU curves and the best epoch's confusion matrix (PNG), and the lists of "
            "the training and validation patches (FLAIR-1 CSV). A warning names "
            "any class that is never predicted where it is on validation (IoU 0). Cancelling writes "
            "NAME_last.pt: give it as 'Resume from' to go on.")

    def flags(self):
        return super().flags() | self.FlagNoThreading

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS's name
        folder = QgsProcessingParameterFile.Behavior.Folder
        self.addParameter(QgsProcessingParameterFile(self.TRAIN, self.tr("Training patches folder"),
                                                     behavior=folder, optional=True))
        self.addParameter(QgsProcessingParameterFile(self.TRAIN_CSV, self.tr("Training patches list (FLAIR-1 CSV)"),
                                                     extension="csv", optional=True))
        self.addParameter(QgsProcessingParameterFile(self.VALIDATION, self.tr("Validation patches folder"),
                                                     behavior=folder, optional=True))
        self.addParameter(QgsProcessingParameterFile(self.VAL_CSV, self.tr("Validation patches list (FLAIR-1 CSV)"),
                                                     extension="csv", optional=True))
        self.addParameter(QgsProcessingParameterNumber(
            self.VAL_FRACTION, self.tr("Fraction held out for validation (without validation patches)"),
            QgsProcessingParameterNumber.Type.Double, 0.2, minValue=0.01, maxValue=0.9))
        self.addParameter(QgsProcessingParameterMatrix(
            self.CLASSES, self.tr("Classes (code, name, weight, colour); empty: FLAIR's 19"),
            headers=CLASS_COLUMNS, optional=True))
        self.addParameter(QgsProcessingParameterEnum(self.START, self.tr("Start from"), options=[SCRATCH] + list(ZOO),
                                                     defaultValue=SCRATCH, usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterFile(
            self.INIT_CHECKPOINT, self.tr("Start from the weights of a checkpoint file"), optional=True,
            fileFilter="PyTorch checkpoints (*.pt *.pth *.ckpt);;All files (*)"))
        self.addParameter(QgsProcessingParameterFile(
            self.RESUME, self.tr("Resume from a last checkpoint (NAME_last.pt)"), optional=True,
            fileFilter="PyTorch checkpoints (*.pt);;All files (*)"))
        self.addParameter(QgsProcessingParameterEnum(self.ARCH, self.tr("Architecture (from scratch)"), options=ARCHS,
                                                     defaultValue="unet", usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterString(self.ENCODER, self.tr("Encoder (from scratch)"),
                                                       defaultValue="resnet34"))
        self.addParameter(QgsProcessingParameterString(
            self.BANDS, self.tr("Image bands, comma-separated (empty: the first ones the model takes)"), optional=True))
        self.addParameter(QgsProcessingParameterNumber(self.EPOCHS, self.tr("Epochs"),
                                                       QgsProcessingParameterNumber.Type.Integer, 20, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(self.BATCH_SIZE, self.tr("Batch size (patches)"),
                                                       QgsProcessingParameterNumber.Type.Integer, 8, minValue=1))
        self.addParameter(QgsProcessingParameterNumber(
            self.CROP_SIZE, self.tr("Random crop size for training (px, multiple of 32; empty: whole patches)"),
            QgsProcessingParameterNumber.Type.Integer, None, optional=True, minValue=32))
        self.addParameter(QgsProcessingParameterNumber(self.PATIENCE, self.tr(
            "Early stopping: epochs without a better validation mIoU (0: never stop early)"),
            QgsProcessingParameterNumber.Type.Integer, 10, minValue=0))
        self.addParameter(QgsProcessingParameterNumber(self.SEED, self.tr("Random seed"),
                                                       QgsProcessingParameterNumber.Type.Integer, 2022))
        self.addParameter(QgsProcessingParameterEnum(self.DEVICE, self.tr("Device"), options=DEVICES,
                                                     defaultValue="auto", usesStaticStrings=True))
        advanced = [
            QgsProcessingParameterNumber(self.LEARNING_RATE, self.tr("Learning rate (empty: 0.001 AdamW, 0.02 SGD)"),
                                         QgsProcessingParameterNumber.Type.Double, None, optional=True, minValue=0),
            QgsProcessingParameterEnum(self.OPTIMIZER, self.tr("Optimiser"), options=OPTIMIZERS,
                                       defaultValue="adamw", usesStaticStrings=True),
            QgsProcessingParameterEnum(self.SCHEDULER, self.tr("Learning-rate schedule"), options=SCHEDULERS,
                                       defaultValue="cosine", usesStaticStrings=True),
            QgsProcessingParameterNumber(self.WEIGHT_DECAY, self.tr("Weight decay"),
                                         QgsProcessingParameterNumber.Type.Double, 1e-4, minValue=0),
            QgsProcessingParameterBoolean(self.CLASS_WEIGHTS, self.tr("Weight the loss by the class weights"), True),
            QgsProcessingParameterBoolean(self.AUGMENT, self.tr("Augment with flips and 90° rotations"), True),
            QgsProcessingParameterBoolean(self.BALANCED_CROPS, self.tr(
                "Centre crops near a pixel of a class drawn among those of the patch (rare classes seen more)"), True),
            QgsProcessingParameterEnum(self.NORM_TYPE, self.tr("Normalisation"), options=NORM_CHOICES,
                                       defaultValue="model", usesStaticStrings=True),
            QgsProcessingParameterString(self.NORM_MEANS, self.tr("Custom means, one per band"), optional=True),
            QgsProcessingParameterString(self.NORM_STDS, self.tr("Custom standard deviations, one per band"),
                                         optional=True),
        ]
        for p in advanced:
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
            self.addParameter(p)
        self.addParameter(QgsProcessingParameterString(self.NAME, self.tr("Model name (file names)"),
                                                       defaultValue="model"))
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, self.tr("Output folder")))
        self.addOutput(QgsProcessingOutputFile(self.BEST_CHECKPOINT, self.tr("Best checkpoint")))
        self.addOutput(QgsProcessingOutputFile(self.LAST_CHECKPOINT, self.tr("Last checkpoint (resumable)")))
        self.addOutput(QgsProcessingOutputFile(self.METRICS, self.tr("Per-epoch metrics (CSV)")))
        self.addOutput(QgsProcessingOutputFile(self.METRICS_JSON, self.tr("Per-epoch metrics (JSON)")))
        self.addOutput(QgsProcessingOutputFile(self.CURVES, self.tr("Loss and mIoU curves (PNG)")))
        self.addOutput(QgsProcessingOutputFile(self.VAL_LIST, self.tr("Validation patches list (FLAIR-1 CSV)")))
        self.addOutput(QgsProcessingOutputNumber(self.BEST_MIOU, self.tr("Best validation mIoU")))

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS's name
        training = import_core("training")
        result = self.run_core(training.train, self._options(training, parameters, context), self.progress(feedback))
        return {self.OUTPUT_FOLDER: str(result.best.parent), self.BEST_CHECKPOINT: str(result.best),
                self.LAST_CHECKPOINT: str(result.last) if result.last else None,
                self.METRICS: str(result.metrics_csv), self.METRICS_JSON: str(result.metrics_json),
                self.CURVES: str(result.curves_png), self.VAL_LIST: str(result.val_csv),
                self.BEST_MIOU: result.best_miou}

    def _options(self, training, parameters, context):
        def path(key):
            value = self.parameterAsFile(parameters, key, context)
            return Path(value) if value else None

        def sources(*keys):
            return [p for p in (path(k) for k in keys) if p is not None]

        start = self.parameterAsEnumString(parameters, self.START, context)
        rows = matrix_rows(self.parameterAsMatrix(parameters, self.CLASSES, context), len(CLASS_COLUMNS))
        lr, crop = optional_number(parameters, self.LEARNING_RATE), optional_number(parameters, self.CROP_SIZE)
        bands = numbers(self.parameterAsString(parameters, self.BANDS, context), self.BANDS, int)
        return training.TrainOptions(
            train=sources(self.TRAIN, self.TRAIN_CSV), val=sources(self.VALIDATION, self.VAL_CSV),
            val_fraction=self.parameterAsDouble(parameters, self.VAL_FRACTION, context),
            out_folder=Path(self.parameterAsString(parameters, self.OUTPUT_FOLDER, context)),
            name=self.parameterAsString(parameters, self.NAME, context).strip() or "model",
            classes=self.run_core(training.make_classes, rows) if rows else None,
            bands=bands or None,
            normalisation=self._normalisation(parameters, context),
            arch=self.parameterAsEnumString(parameters, self.ARCH, context),
            encoder=self.parameterAsString(parameters, self.ENCODER, context).strip() or "resnet34",
            init_model=None if start == SCRATCH else start,
            init_checkpoint=path(self.INIT_CHECKPOINT), resume=path(self.RESUME),
            epochs=self.parameterAsInt(parameters, self.EPOCHS, context),
            batch_size=self.parameterAsInt(parameters, self.BATCH_SIZE, context),
            learning_rate=None if lr is None else self.parameterAsDouble(parameters, self.LEARNING_RATE, context),
            optimizer=self.parameterAsEnumString(parameters, self.OPTIMIZER, context),
            weight_decay=self.parameterAsDouble(parameters, self.WEIGHT_DECAY, context),
            scheduler=self.parameterAsEnumString(parameters, self.SCHEDULER, context),
            use_class_weights=self.parameterAsBoolean(parameters, self.CLASS_WEIGHTS, context),
            augment=self.parameterAsBoolean(parameters, self.AUGMENT, context),
            crop_size=None if crop is None else self.parameterAsInt(parameters, self.CROP_SIZE, context),
            balanced_crops=self.parameterAsBoolean(parameters, self.BALANCED_CROPS, context),
            patience=self.parameterAsInt(parameters, self.PATIENCE, context),
            seed=self.parameterAsInt(parameters, self.SEED, context),
            device=self.parameterAsEnumString(parameters, self.DEVICE, context),
        )

    def _normalisation(self, parameters, context):
        kind = self.parameterAsEnumString(parameters, self.NORM_TYPE, context)
        if kind == "model":
            return None
        from ..flair_qgis.normalisation import Normalisation

        means = numbers(self.parameterAsString(parameters, self.NORM_MEANS, context), self.NORM_MEANS)
        stds = numbers(self.parameterAsString(parameters, self.NORM_STDS, context), self.NORM_STDS)
        return self.run_core(Normalisation, kind, tuple(means), tuple(stds))
