<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>
<qgis version="3.22.16-Białowieża" styleCategories="Symbology">
  <pipe>
    <provider>
      <resampling enabled="false" maxOversampling="2" zoomedInResamplingMethod="nearestNeighbour" zoomedOutResamplingMethod="nearestNeighbour"/>
    </provider>
    <rasterrenderer type="paletted" band="1" opacity="1" alphaBand="-1" nodataColor="">
      <rasterTransparency/>
      <minMaxOrigin>
        <limits>None</limits>
        <extent>WholeRaster</extent>
        <statAccuracy>Estimated</statAccuracy>
        <cumulativeCutLower>0.02</cumulativeCutLower>
        <cumulativeCutUpper>0.98</cumulativeCutUpper>
        <stdDevFactor>2</stdDevFactor>
      </minMaxOrigin>
      <colorPalette>
        <paletteEntry value="1" color="#db0e9a" alpha="255" label="building"/>
        <paletteEntry value="2" color="#938e7b" alpha="255" label="pervious surface"/>
        <paletteEntry value="3" color="#f80c00" alpha="255" label="impervious surface"/>
        <paletteEntry value="4" color="#a97101" alpha="255" label="bare soil"/>
        <paletteEntry value="5" color="#1553ae" alpha="255" label="water"/>
        <paletteEntry value="6" color="#194a26" alpha="255" label="coniferous"/>
        <paletteEntry value="7" color="#46e483" alpha="255" label="deciduous"/>
        <paletteEntry value="8" color="#f3a60d" alpha="255" label="brushwood"/>
        <paletteEntry value="9" color="#660082" alpha="255" label="vineyard"/>
        <paletteEntry value="10" color="#55ff00" alpha="255" label="herbaceous vegetation"/>
        <paletteEntry value="11" color="#fff30d" alpha="255" label="agricultural land"/>
        <paletteEntry value="12" color="#e4df7c" alpha="255" label="plowed land"/>
      </colorPalette>
    </rasterrenderer>
    <brightnesscontrast brightness="0" contrast="0" gamma="1"/>
    <huesaturation saturation="0" colorizeOn="0" grayscaleMode="0" colorizeStrength="100" colorizeRed="255" colorizeGreen="128" colorizeBlue="128"/>
    <rasterresampler maxOversampling="2"/>
    <resamplingStage>resamplingFilter</resamplingStage>
  </pipe>
  <blendMode>0</blendMode>
</qgis>
