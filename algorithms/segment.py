"""flair:segment — a land-cover map of a raster layer with a FLAIR model."""

import tempfile
from pathlib import Path

from qgis.core import (QgsProcessing, QgsProcessingParameterExtent, QgsProcessingParameterFeatureSource,
                       QgsProcessingException, QgsProcessingParameterBoolean,
                       QgsProcessingParameterBand, QgsProcessingParameterDefinition,
                       QgsProcessingParameterEnum, QgsProcessingParameterFile,
                       QgsProcessingParameterNumber, QgsProcessingParameterRasterDestination,
                       QgsProcessingParameterRasterLayer, QgsProcessingParameterString,
                       QgsProcessingParameterVectorDestination)
from qgis.PyQt.QtCore import QVariant

from ..flair_qgis import choices
from ..flair_qgis.normalisation import NORM_TYPES
from ..flair_qgis.zoo import DEFAULT_MODEL, ZOO
from . import layer_input
from .base import FlairAlgorithm, import_core, require_packages
from .styled_output import load_styled

DEVICES, OUTPUT_TYPES, PRESETS = list(choices.DEVICES), list(choices.OUTPUT_TYPES), list(choices.PRESETS)
STITCHES, PRECISIONS, TILE_GRIDS = list(choices.STITCHES), list(choices.PRECISIONS), list(choices.TILE_GRIDS)
BACKENDS = list(choices.BACKENDS)
NORM_CHOICES = ["model"] + list(NORM_TYPES)


class SegmentAlgorithm(FlairAlgorithm):
    INPUT = "INPUT"
    IRC = "IRC"
    IRC_BAND = "IRC_BAND"
    DSM = "DSM"
    DTM = "DTM"
    ELEVATION = "ELEVATION"
    ELEVATION_BAND = "ELEVATION_BAND"
    MODEL = "MODEL"
    CHECKPOINT = "CHECKPOINT"
    BANDS = "BANDS"
    TILE_SIZE = "TILE_SIZE"
    MARGIN = "MARGIN"
    BATCH_SIZE = "BATCH_SIZE"
    DEVICE = "DEVICE"
    OUTPUT_TYPE = "OUTPUT_TYPE"
    PRESET = "PRESET"
    STITCH = "STITCH"
    TILE_GRID = "TILE_GRID"
    TTA = "TTA"
    PRECISION = "PRECISION"
    BACKEND = "BACKEND"
    NORM_TYPE = "NORM_TYPE"
    NORM_MEANS = "NORM_MEANS"
    NORM_STDS = "NORM_STDS"
    CLUSTER = "CLUSTER"
    ACTIVE_CLASSES = "ACTIVE_CLASSES"
    VALUE_RANGE = "VALUE_RANGE"
    EXTENT = "EXTENT"
    MASK = "MASK"
    OUTPUT = "OUTPUT"
    POLYGONS = "POLYGONS"

    def name(self):
        return "segment"

    def displayName(self):  # noqa: N802 - QGIS's name
        return self.tr("Segment land cover (FLAIR)")

    def shortHelpString(self):  # noqa: N802 - QGIS's name
        return self.tr(
            "Predicts a FLAIR land-cover class for every pixel of a raster layer (an 8-bit aerial "
            "orthophoto at 0.2 m, like IGN's BD ORTHO) and writes a styled GeoTIFF on the input's grid.\n\n"
            "Model: a pretrained IGNF FLAIR-INC model, downloaded from HuggingFace on first use and "
            "cached (use 'Download FLAIR model' beforehand to work offline). Checkpoint: a local "
            "weights file instead (IGNF .pth, FLAIR-HUB .safetensors, FLAIR-1 .ckpt, smp state dict, or a "
            "FLAIR-for-QGIS checkpoint, which carries its own classes and settings); an IGN model file runs as "
            "that zoo model whatever Model says, recognised by IGN's file name, its hash or its layers.\n\n"
            "Bands: the raster bands fed to the model, in the model's order (e.g. R, G, B); by default "
            "the first non-alpha bands. Tiles of TILE_SIZE px are predicted and only their centre, "
            "MARGIN px in from each edge, is kept, as IGN's flair-detect does; left empty, they are "
            "the model's own (512/128 for the IGNF models, or what a FLAIR-for-QGIS checkpoint says).\n\n"
            "Infrared and elevation from other layers: models with NIR (rgbi, rgbie, FLAIR-HUB IR) take it from "
            "the IRC layer (IGN's BD ORTHO IRC, false colour NIR, R, G: NIR is its band 1), or from a 4-band input. "
            "rgbie models take the elevation from a DSM + DTM pair (e.g. LiDAR HD or RGE ALTI, in metres: the "
            "height above ground is encoded as FLAIR does, 20 cm steps, 0-255), or from a ready FLAIR elevation "
            "band (advanced). These layers may have another resolution, extent or tiling (a VRT of IGN's JPEG "
            "2000 tiles works): they are resampled (bilinear) onto the input's grid as they are read, never "
            "shifted; they must share its CRS and overlap it. With these layers, Bands picks the input's R, G, B."
            "\n\n"
            "Preset 'fast' doubles the tile size (same margin): about 2× faster, nearly the same map. "
            "Tile grid (advanced): 'model' lays the tiles as the model's own tool does (flair-detect: from the "
            "raster's edges, so the grid follows each raster's extent); 'map-anchored' lays them at fixed "
            "positions in map coordinates, so that two rasters of the same ground (two dates, or a crop of a "
            "mosaic) on the same pixel grid are cut into the same tiles and get the same map where nothing "
            "changed: use it for maps that will be compared (flair:landtake_workflow does).\n\n"
            "Advanced: 'blend' stitching averages overlapping tiles with a smooth window instead of "
            "cropping; test-time augmentation averages four flips.\n\n"
            "Output type 'argmax' writes one band of FLAIR codes (1-19, 0 = nodata) with a colour "
            "table and a QML style; 'class_prob' writes one band per class, probability × 255. "
            "Nodata in the input stays nodata in the output.")

    def flags(self):
        return super().flags() | self.FlagNoThreading

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS's name
        models = list(ZOO)
        source = QgsProcessingParameterRasterLayer(self.INPUT, self.tr("Input raster (orthophoto)"))
        offered = self._offered_input()
        if offered:  # the dialog would offer the active layer, even a land-cover map just made
            source.setGuiDefaultValueOverride(offered)
        self.addParameter(source)
        model = QgsProcessingParameterEnum(self.MODEL, self.tr("Model"), options=models,
                                           defaultValue=DEFAULT_MODEL, usesStaticStrings=True)
        model.setHelp(self.tr("Pretrained IGNF model from the zoo; ignored when the checkpoint "
                              "describes its own model or is an IGN model file (recognised by IGN's file name, "
                              "its hash or its layers; the log says which). FLAIR-HUB_LC-A_* are IGN's "
                              "FLAIR-HUB aerial-only models: IR ones take near-infrared, red, green (by default "
                              "bands 4, 1, 2 of a 4-band RGBI image), RGB ones red, green, blue"))
        self.addParameter(model)
        self.addParameter(QgsProcessingParameterFile(
            self.CHECKPOINT, self.tr("Checkpoint file (instead of downloading the model)"),
            optional=True, fileFilter="Checkpoints (*.pth *.pt *.ckpt *.safetensors);;All files (*)"))
        self.addParameter(QgsProcessingParameterBand(self.BANDS, self.tr("Bands, in the model's order"),
                                                     parentLayerParameterName=self.INPUT,
                                                     optional=True, allowMultiple=True))
        irc = QgsProcessingParameterRasterLayer(self.IRC, self.tr("Infrared layer (IGN BD ORTHO IRC), for NIR"),
                                                optional=True)
        irc.setHelp(self.tr("False-colour orthophoto whose band 1 is near-infrared (IGN BD ORTHO IRC), for the "
                            "models that take NIR; resampled onto the input's grid"))
        self.addParameter(irc)
        for key, label, help_text in (
                (self.DSM, self.tr("Surface model (DSM, metres), for elevation"),
                 self.tr("Digital surface model (e.g. LiDAR HD), with the DTM: the elevation band of rgbie models "
                         "is (DSM − DTM) in 20 cm steps, rounded, clipped to 0-255")),
                (self.DTM, self.tr("Terrain model (DTM, metres), for elevation"),
                 self.tr("Digital terrain model (e.g. LiDAR HD or RGE ALTI), with the DSM"))):
            layer = QgsProcessingParameterRasterLayer(key, label, optional=True)
            layer.setHelp(help_text)
            self.addParameter(layer)
        extra_bands = [
            QgsProcessingParameterBand(self.IRC_BAND, self.tr("Band of the infrared layer holding NIR"), 1,
                                       parentLayerParameterName=self.IRC, optional=True),
            QgsProcessingParameterRasterLayer(self.ELEVATION, self.tr("Ready FLAIR elevation layer (instead of "
                                                                      "DSM and DTM)"), optional=True),
            QgsProcessingParameterBand(self.ELEVATION_BAND, self.tr("Band of the elevation layer"), 1,
                                       parentLayerParameterName=self.ELEVATION, optional=True),
        ]
        for p in extra_bands:
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
            self.addParameter(p)
        # No defaults: left empty, the model's own tiling is used (a checkpoint may carry its own).
        self.addParameter(QgsProcessingParameterNumber(
            self.TILE_SIZE, self.tr("Tile size (px); empty: the model's (512; FLAIR-HUB: 2048)"),
            QgsProcessingParameterNumber.Type.Integer, None, optional=True, minValue=32))
        self.addParameter(QgsProcessingParameterNumber(
            self.MARGIN, self.tr("Margin cut from tile edges (px); empty: the model's (128; FLAIR-HUB: 512)"),
            QgsProcessingParameterNumber.Type.Integer, None, optional=True, minValue=0))
        self.addParameter(QgsProcessingParameterExtent(
            self.EXTENT, self.tr("Extent (empty: the whole raster)"), optional=True))
        self.addParameter(QgsProcessingParameterFeatureSource(
            self.MASK, self.tr("Only within these polygons"), [QgsProcessing.SourceType.TypeVectorPolygon],
            optional=True))
        self.addParameter(QgsProcessingParameterEnum(
            self.PRESET, self.tr("Speed preset (when tile size is empty)"), options=PRESETS,
            defaultValue="reference", usesStaticStrings=True))
        self.addParameter(self._help(QgsProcessingParameterNumber(
            self.BATCH_SIZE, self.tr("Batch size (tiles); empty: automatic"),
            QgsProcessingParameterNumber.Type.Integer, None, optional=True, minValue=1),
            self.tr("Tiles per forward pass. Empty (the default): automatic, from the free GPU memory on CUDA; "
                    "on the CPU 4 tiles of 512 px, or as many larger ones as hold as many pixels (one of "
                    "1024 px or more). On the CPU one tile is measured first against the free memory: a batch "
                    "that does not fit is lowered (the log says so), and a tile too large even alone is refused, "
                    "naming a TILE_SIZE that fits")))
        self.addParameter(QgsProcessingParameterEnum(self.DEVICE, self.tr("Device"), options=DEVICES,
                                                     defaultValue="auto", usesStaticStrings=True))
        self.addParameter(QgsProcessingParameterEnum(self.OUTPUT_TYPE, self.tr("Output type"),
                                                     options=OUTPUT_TYPES, defaultValue="argmax",
                                                     usesStaticStrings=True))
        advanced = [
            QgsProcessingParameterEnum(self.STITCH, self.tr("Stitching of overlapping tiles"),
                                       options=STITCHES, defaultValue="crop", usesStaticStrings=True),
            self._help(QgsProcessingParameterEnum(
                self.TILE_GRID, self.tr("Tile grid (model: the model's own, e.g. flair-detect's; map-anchored: fixed "
                                        "in map coordinates, for maps compared between dates)"),
                options=TILE_GRIDS, defaultValue="model", usesStaticStrings=True),
                self.tr("model (default): tiles laid as the model's tool lays them (flair-detect: from the raster's "
                        "edges), the reference for fidelity to IGN's maps; but the grid then follows each raster's "
                        "extent, and the same ground in two rasters of different extents is cut into different "
                        "tiles, whose predictions differ (false change along tile seams). map-anchored: tile centres "
                        "at fixed multiples of their step in the CRS, so rasters on the same pixel grid get the "
                        "same tiles and identical pixels where the imagery is identical")),
            QgsProcessingParameterBoolean(self.TTA, self.tr("Test-time augmentation (4 flips, 4× slower)"),
                                          defaultValue=False),
            QgsProcessingParameterEnum(self.PRECISION, self.tr("Precision (auto: fp16 on GPU, fp32 on CPU)"),
                                       options=PRECISIONS, defaultValue="auto", usesStaticStrings=True),
            self._help(QgsProcessingParameterEnum(
                self.BACKEND, self.tr("Inference backend (auto: OpenVINO on the CPU when installed)"),
                options=BACKENDS, defaultValue="auto", usesStaticStrings=True),
                self.tr("The runtime computing the model. auto: OpenVINO on the CPU when it is installed (faster "
                        "there; the model is converted on its first run and kept in the cache), PyTorch on a GPU. "
                        "torch: always PyTorch. openvino: OpenVINO, on the CPU only (with Device cuda: an error). "
                        "Where OpenVINO cannot run a model, PyTorch runs it and the log says why.")),
            QgsProcessingParameterEnum(self.NORM_TYPE, self.tr("Normalisation"), options=NORM_CHOICES,
                                       defaultValue="model", usesStaticStrings=True),
            QgsProcessingParameterString(self.NORM_MEANS, self.tr("Custom means, one per band (comma-separated)"),
                                         optional=True),
            QgsProcessingParameterString(self.NORM_STDS, self.tr("Custom standard deviations, one per band"),
                                         optional=True),
            QgsProcessingParameterString(self.CLUSTER, self.tr(
                "Dask scheduler for a sharded run (tcp://host:8786); empty: this machine"), optional=True),
            self._help(QgsProcessingParameterString(self.VALUE_RANGE, self.tr(
                "Value range mapped onto 0–255 (min,max), for 16-bit imagery; empty: automatic"), optional=True),
                self.tr("For imagery that is not 8-bit (e.g. 0,4095 for 12-bit values): the values from min to max "
                        "are mapped onto the 0–255 the model expects, the same for every band. Empty: 8-bit "
                        "imagery is used as it is, other imagery by each band's 2–98 % percentiles")),
            self._help(QgsProcessingParameterString(self.ACTIVE_CLASSES, self.tr(
                "Classes the model may predict (FLAIR codes, comma-separated); empty: automatic"), optional=True),
                self.tr("Empty: decided from the checkpoint (its own class list, its criterion.weight, the zoo "
                        "model's list for a zoo file, else every class of its head), and logged. E.g. 1,2,3,6 "
                        "keeps the model from predicting any other class")),
        ]
        for p in advanced:
            p.setFlags(p.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
            self.addParameter(p)
        self.addParameter(QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Land cover")))
        polygons = QgsProcessingParameterVectorDestination(
            self.POLYGONS, self.tr("Land-cover polygons"), QgsProcessing.SourceType.TypeVectorPolygon, optional=True,
            createByDefault=False)
        polygons.setHelp(self.tr("Optional: the map as polygons too (flair:polygonize with its defaults: regions "
                                 "under 1 m² merged, outlines simplified within 0.5 m), a styled GeoPackage"))
        self.addParameter(polygons)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802 - QGIS's name
        engine = import_core("engine")
        require_packages()
        layer = self.parameterAsRasterLayer(parameters, self.INPUT, context)
        if layer is None:
            raise QgsProcessingException(self.tr("Input raster: the layer could not be loaded"))
        checkpoint = self.parameterAsFile(parameters, self.CHECKPOINT, context)
        output = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        has_extent = parameters.get(self.EXTENT) not in (None, "")
        extent = self.parameterAsExtent(parameters, self.EXTENT, context, layer.crs()) if has_extent else None
        if layer_input.is_file_layer(layer):
            grid = layer_input.file_grid(layer)
        else:  # WMS/WMTS/XYZ, virtual, memory…: rendered to a GeoTIFF at 0.2 m first
            grid = layer_input.render_to_file(layer, extent, Path(tempfile.mkdtemp(prefix="flair-input-")),
                                              context, feedback)
            extent = None
        geometries, mask_extent = layer_input.mask_geometries(
            self.parameterAsSource(parameters, self.MASK, context), grid[1], context)
        window = layer_input.window_of(grid, extent, mask_extent)
        # read in the order their errors were always reported: bands, normalisation, classes, range, sources
        bands = self.band_numbers(parameters, self.BANDS, context) or None
        normalisation = self._normalisation(parameters, context)
        active_codes = [int(v) for v in self._numbers(parameters, self.ACTIVE_CLASSES, context, int)] or None
        value_range = self._value_range(parameters, context)
        sources = self._band_sources(parameters, context)
        requests = import_core("segment_options")
        request = requests.SegmentRequest(
            read=requests.ReadOptions(
                input=grid[0],
                bands=bands,
                sources=sources,
                window=window,
                mask_geometries=geometries,
                value_range=value_range,
            ),
            model=requests.ModelChoice(
                name=self.parameterAsEnumString(parameters, self.MODEL, context),
                checkpoint=Path(checkpoint) if checkpoint else None,
                normalisation=normalisation,
                active_codes=active_codes,
                tile_size=self._optional_int(parameters, self.TILE_SIZE, context),
                margin=self._optional_int(parameters, self.MARGIN, context),
                preset=self.parameterAsEnumString(parameters, self.PRESET, context) or None,
                tile_grid=self.parameterAsEnumString(parameters, self.TILE_GRID, context) or None,
            ),
            run=requests.RunOptions(
                device=self.parameterAsEnumString(parameters, self.DEVICE, context),
                backend=self.parameterAsEnumString(parameters, self.BACKEND, context) or "auto",
                batch_size=self._optional_int(parameters, self.BATCH_SIZE, context),
                precision=self.parameterAsEnumString(parameters, self.PRECISION, context) or "auto",
                tta=self.parameterAsBoolean(parameters, self.TTA, context),
                stitch=self.parameterAsEnumString(parameters, self.STITCH, context) or "crop",
            ),
            write=requests.WriteOptions(
                output=Path(output),
                output_type=self.parameterAsEnumString(parameters, self.OUTPUT_TYPE, context),
            ),
        )
        cluster = (self.parameterAsString(parameters, self.CLUSTER, context) or "").strip()
        if cluster:  # blocks on the cluster's workers, shards beside the output, assembled as a COG
            distributed = import_core("distributed")
            result = self.run_core(distributed.run_zone, distributed.ZoneOptions(request, cluster=cluster, cog=True),
                                   self.progress(feedback))
        else:
            result = self.run_core(engine.segment, request, self.progress(feedback))
        load_styled(context, output, result.style, self.tr("FLAIR land cover"))
        outputs = {self.OUTPUT: str(result.output)}
        polygons = self.parameterAsOutputLayer(parameters, self.POLYGONS, context)
        if polygons and request.write.output_type != "argmax":
            feedback.pushWarning(self.tr("Polygons are made of class codes: choose the output type 'argmax'"))
        elif polygons:
            from .polygonize import DEFAULT_MIN_AREA, DEFAULT_TOLERANCE, polygonize

            outputs[self.POLYGONS] = polygonize(Path(result.output), polygons, DEFAULT_TOLERANCE, DEFAULT_MIN_AREA,
                                                "merge", context, feedback)
        return outputs

    def _band_sources(self, parameters, context):
        """The IRC / DSM / DTM / elevation layers as files, or None when none is given."""
        from ..flair_qgis.band_sources import BandSources

        paths = {}
        for key in (self.IRC, self.DSM, self.DTM, self.ELEVATION):
            layer = self.parameterAsRasterLayer(parameters, key, context) if parameters.get(key) else None
            if layer is None:
                continue
            if not layer_input.is_file_layer(layer):
                raise QgsProcessingException(self.tr(
                    "{}: {} is not a raster file; save it as a GeoTIFF (or build a VRT of its tiles) first")
                    .format(key, layer.name()))
            paths[key] = Path(layer.source().split("|")[0])
        if not paths:
            return None
        irc_band = self.parameterAsInt(parameters, self.IRC_BAND, context) or 1
        elevation_band = self.parameterAsInt(parameters, self.ELEVATION_BAND, context) or 1
        return BandSources(irc=paths.get(self.IRC), irc_band=irc_band, dsm=paths.get(self.DSM),
                           dtm=paths.get(self.DTM), elevation=paths.get(self.ELEVATION), elevation_band=elevation_band)

    def _optional_int(self, parameters, key, context):
        """An optional integer, or ``None`` when it is left empty (0 is a value: a margin of 0)."""
        value = parameters.get(key)
        if value is None or value == "" or (isinstance(value, QVariant) and value.isNull()):
            return None
        return self.parameterAsInt(parameters, key, context)

    @staticmethod
    def _offered_input():
        """In the desktop, a layer id to offer as INPUT instead of an active land-cover map."""
        from qgis.core import QgsProject
        from qgis.utils import iface

        if iface is None:
            return None
        return layer_input.preferred_input(iface.activeLayer(), QgsProject.instance().layerTreeRoot().layerOrder())

    @staticmethod
    def _help(parameter, text):
        parameter.setHelp(text)
        return parameter

    def _numbers(self, parameters, key, context, kind=float):
        """The comma-separated numbers of a text parameter (an empty tuple when it is empty)."""
        text = self.parameterAsString(parameters, key, context) or ""
        try:
            return tuple(kind(v) for v in text.replace(";", ",").split(",") if v.strip())
        except ValueError:
            raise QgsProcessingException(self.tr("{}: '{}' is not a comma-separated list of numbers")
                                         .format(key, text)) from None

    def _value_range(self, parameters, context):
        """(min, max) of VALUE_RANGE, or ``None`` when it is empty."""
        values = self._numbers(parameters, self.VALUE_RANGE, context)
        if not values:
            return None
        if len(values) != 2:
            raise QgsProcessingException(self.tr("VALUE_RANGE: give two numbers, min,max (e.g. 0,4095), not '{}'")
                                         .format(self.parameterAsString(parameters, self.VALUE_RANGE, context)))
        return values

    def _normalisation(self, parameters, context):
        kind = self.parameterAsEnumString(parameters, self.NORM_TYPE, context)
        if kind == "model":
            return None
        from ..flair_qgis.errors import FlairError
        from ..flair_qgis.normalisation import Normalisation

        try:
            return Normalisation(kind, self._numbers(parameters, self.NORM_MEANS, context),
                                 self._numbers(parameters, self.NORM_STDS, context))
        except FlairError as e:
            raise QgsProcessingException(str(e)) from None
