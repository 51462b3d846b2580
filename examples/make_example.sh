#!/bin/sh
# Rebuilds the bundled example from two overlapping real patches of ../shared/data/fnau-parking
# (IGN BD ORTHO®, Etalab Open Licence 2.0): a 1018×638 px RGB mosaic at 0.2 m, Lambert-93,
# nodata 0 where neither patch covers, and its parking-lot labels (1 parking, 2 other).
set -e
here=$(dirname "$0")
data=${1:-$here/../../shared/data/fnau-parking/train}
tmp=$(mktemp -d)
gdalbuildvrt -q "$tmp/img.vrt" "$data/images/tile_4716.tif" "$data/images/tile_4719.tif"
gdalbuildvrt -q "$tmp/lbl.vrt" "$data/labels/tile_4716.tif" "$data/labels/tile_4719.tif"
gdal_translate -q -a_nodata 0 -co TILED=YES -co COMPRESS=DEFLATE -co PREDICTOR=2 "$tmp/img.vrt" "$here/parking_mosaic.tif"
gdal_translate -q -a_nodata 0 -co TILED=YES -co COMPRESS=DEFLATE "$tmp/lbl.vrt" "$here/parking_mosaic_labels.tif"
rm -r "$tmp"
