"""What the land-cover change outputs hold — artificialised classes, change-map values, table fields —
with no heavy import, so that the Processing algorithm can declare its parameters before the
packages the computation needs (rasterio) are installed."""

from __future__ import annotations

from .palette import ClassInfo

ARTIFICIALISED = (1, 2, 3, 13, 18)  # building, pervious and impervious surface, swimming pool, greenhouse
DEFAULT_MIN_AREA = 10.0  # m²: see README, "Land-cover change" (misregistration slivers on real patches)
NODATA, UNCHANGED, GAIN, LOSS, OTHER_CHANGE = 0, 1, 2, 3, 4
CHANGE_CLASSES = (ClassInfo(UNCHANGED, "unchanged", "#d9d9d9"), ClassInfo(GAIN, "artificialised (gain)", "#e31a1c"),
                  ClassInfo(LOSS, "de-artificialised (loss)", "#33a02c"),
                  ClassInfo(OTHER_CHANGE, "other class change", "#1f78b4"))
TRANSITION_FIELDS = ("from_code", "from_class", "to_code", "to_class", "pixels", "area_m2", "area_ha")
ZONE_FIELDS = ("zone", "artificialised_before_m2", "artificialised_after_m2", "gain_m2", "loss_m2", "net_m2",
               "net_pct", "mapped_m2", "covered_pct")
WHOLE_OVERLAP = "whole overlap"
