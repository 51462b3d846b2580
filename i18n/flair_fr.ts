<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr_FR">
  <context>
    <name>FLAIR</name>
    <message>
      <location filename="../plugin.py" />
      <source>Install FLAIR dependencies…</source>
      <translation>Installer les dépendances de FLAIR…</translation>
    </message>
    <message>
      <location filename="../algorithms/apply_style.py" />
      <source>Apply FLAIR style</source>
      <translation>Appliquer le style FLAIR</translation>
    </message>
    <message>
      <location filename="../algorithms/apply_style.py" />
      <source>Styles a class raster (band 1 holds class codes) with the FLAIR palette: one colour and name per class in the legend, 0 transparent. 'from raster' uses the classes recorded in rasters written by this plugin (including your own trained models' classes), else FLAIR's 19. The style is applied to the layer and saved beside the file as a .qml, so the raster opens styled next time. A map with 0-based class values (IGN's flair-detect, FLAIR-HUB; see 'Class values') is styled on its own values: 0 = building, and so on, whatever the palette.</source>
      <translation>Applique la palette FLAIR à un raster de classes (la bande 1 contient les codes de classe) : une couleur et un nom par classe dans la légende, 0 transparent. « from raster » utilise les classes enregistrées dans les rasters écrits par cette extension (y compris celles de vos propres modèles entraînés), sinon les 19 classes de FLAIR. Le style est appliqué à la couche et enregistré à côté du fichier en .qml : le raster s'ouvrira stylé la prochaine fois. Une carte aux valeurs de classe à partir de 0 (flair-detect de l'IGN, FLAIR-HUB ; voir « Valeurs de classe ») est stylée sur ses propres valeurs : 0 = bâtiment, et ainsi de suite, quelle que soit la palette.</translation>
    </message>
    <message>
      <location filename="../algorithms/apply_style.py" />
      <location filename="../algorithms/class_areas.py" />
      <location filename="../algorithms/evaluate.py" />
      <location filename="../algorithms/export_patches.py" />
      <location filename="../algorithms/polygonize.py" />
      <source>Class raster</source>
      <translation>Raster de classes</translation>
    </message>
    <message>
      <location filename="../algorithms/apply_style.py" />
      <source>Palette</source>
      <translation>Palette</translation>
    </message>
    <message>
      <location filename="../algorithms/apply_style.py" />
      <source>Styled raster</source>
      <translation>Raster stylé</translation>
    </message>
    <message>
      <location filename="../algorithms/apply_style.py" />
      <source>QML style file</source>
      <translation>Fichier de style QML</translation>
    </message>
    <message>
      <location filename="../algorithms/apply_style.py" />
      <source>Class raster: the layer could not be loaded</source>
      <translation>Raster de classes : la couche n'a pas pu être chargée</translation>
    </message>
    <message>
      <location filename="../algorithms/apply_style.py" />
      <source>{} classes: {}</source>
      <translation>{} classes : {}</translation>
    </message>
    <message>
      <location filename="../algorithms/apply_style.py" />
      <source>Class raster: {} is not a raster file</source>
      <translation>Raster de classes : {} n'est pas un fichier raster</translation>
    </message>
    <message>
      <location filename="../algorithms/apply_style.py" />
      <source>QGIS could not apply {}: {}</source>
      <translation>QGIS n'a pas pu appliquer {} : {}</translation>
    </message>
    <message>
      <location filename="../algorithms/base.py" />
      <location filename="../algorithms/segment.py" />
      <source>Land cover</source>
      <translation>Occupation du sol</translation>
    </message>
    <message>
      <location filename="../algorithms/base.py" />
      <source>Models</source>
      <translation>Modèles</translation>
    </message>
    <message>
      <location filename="../algorithms/base.py" />
      <source>{}: '{}' is not a list of band numbers: give them comma-separated, e.g. 4,1,2</source>
      <translation>{} : « {} » n'est pas une liste de numéros de bande : donnez-les séparés par des virgules, par ex. 4,1,2</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Land-cover change and land take</source>
      <translation>Changement d'occupation du sol et artificialisation</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Compares two land-cover maps of the same place at two dates (for example two runs of 'Segment land cover' on the orthophotos of two campaigns) and measures what changed: a table of every transition between classes, the artificialised area (land take) per zone, a styled change map and a figure.

The maps may differ in extent, pixel size or grid origin: their overlap is compared on the grid of the first date's map, each of its pixels taking the second map's pixel under its centre (nearest neighbour); the log says how much of each map lies outside the overlap. They must be in the same CRS. Both are read as FLAIR codes 1–19: maps with 0-based class values (IGN's flair-detect, FLAIR-HUB) are converted (see 'Class values'). Pixels that are nodata at either date are not counted. A map that records classes other than FLAIR's (made with your own model, e.g. 1 parking, 2 other) is refused, naming its classes, unless the class map says which FLAIR code each of its classes stands for.

Minimum change area (m²): connected regions of changed pixels smaller than this are counted as unchanged, so that the thin slivers that misregistration between two campaigns leaves along every edge are not reported as change. 0 counts every pixel.

Artificialised classes: the FLAIR codes that count as artificialised land (default building 1, pervious surface 2, impervious surface 3, swimming pool 13, greenhouse 18).

Class map (advanced): for maps whose recorded classes are not FLAIR's, the FLAIR code of each of their classes, by name or value: 'parking=3, other=19' or '1=3, 2=19' (0 leaves a class out). It applies to every such map and must name all of its classes; values a map does not record are nodata.

Outputs: the transitions (from_code, from_class, to_code, to_class, pixels, area_m2, area_ha, unchanged pairs included); per zone (or for the whole overlap without zones) the artificialised area at both dates, the gain (not artificialised → artificialised), the loss (the reverse), the net change in m² and in % of the zone's mapped area, and the share of the zone's area inside the two maps' overlap (covered_pct: zones partly outside are reported in the log, zones wholly outside in a warning; none inside is an error); the change map (1 unchanged, 2 artificialised, 3 de-artificialised, 4 other class change, 0 nodata; styled); optionally every transition as from × 100 + to; and a PNG of the area of each class at both dates and the largest transitions. A zone counts the pixels whose centre lies in it.</source>
      <translation>Compare deux cartes d'occupation du sol d'un même lieu à deux dates (par exemple deux passages de « Segmenter l'occupation du sol » sur les orthophotos de deux campagnes) et mesure ce qui a changé : une table de toutes les transitions entre classes, la surface artificialisée par zone, une carte des changements stylée et une figure.

Les cartes peuvent différer par leur emprise, leur taille de pixel ou l'origine de leur grille : leur recouvrement est comparé sur la grille de la carte de la première date, chacun de ses pixels prenant le pixel de la seconde carte sous son centre (plus proche voisin) ; le journal indique la part de chaque carte hors du recouvrement. Elles doivent être dans le même SCR. Les deux sont lues en codes FLAIR 1–19 : les cartes aux valeurs de classe à partir de 0 (flair-detect de l'IGN, FLAIR-HUB) sont converties (voir « Valeurs de classe »). Les pixels nodata à l'une des dates ne sont pas comptés. Une carte qui enregistre d'autres classes que celles de FLAIR (faite avec votre propre modèle, par ex. 1 parking, 2 autre) est refusée, en nommant ses classes, sauf si la correspondance de classes indique quel code FLAIR représente chacune de ses classes.

Surface minimale d'un changement (m²) : les régions connexes de pixels changés plus petites sont comptées comme inchangées, pour que les fins liserés que le décalage entre deux campagnes laisse le long de chaque bord ne soient pas comptés comme changement. 0 compte chaque pixel.

Classes artificialisées : les codes FLAIR comptés comme sol artificialisé (par défaut bâtiment 1, surface perméable 2, surface imperméable 3, piscine 13, serre 18).

Correspondance de classes (avancé) : pour les cartes dont les classes enregistrées ne sont pas celles de FLAIR, le code FLAIR de chacune de leurs classes, par nom ou par valeur : 'parking=3, other=19' ou '1=3, 2=19' (0 écarte une classe). Elle s'applique à toutes ces cartes et doit nommer toutes leurs classes ; les valeurs qu'une carte n'enregistre pas sont nodata.

Sorties : les transitions (from_code, from_class, to_code, to_class, pixels, area_m2, area_ha, paires inchangées comprises) ; par zone (ou pour tout le recouvrement sans zones) la surface artificialisée aux deux dates, le gain (non artificialisé → artificialisé), la perte (l'inverse), le solde en m² et en % de la surface cartographiée de la zone, et la part de la surface de la zone dans le recouvrement des deux cartes (covered_pct : les zones en partie hors du recouvrement sont signalées dans le journal, celles entièrement hors dans un avertissement ; aucune dedans est une erreur) ; la carte des changements (1 inchangé, 2 artificialisé, 3 désartificialisé, 4 autre changement de classe, 0 nodata ; stylée) ; en option toutes les transitions en avant × 100 + après ; et un PNG de la surface de chaque classe aux deux dates et des principales transitions. Une zone compte les pixels dont le centre est dans la zone.</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Zones (polygons; empty: the whole overlap)</source>
      <translation>Zones (polygones ; vide : tout le recouvrement)</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Polygons (communes, parcels…) to account for separately, in any CRS.</source>
      <translation>Polygones (communes, parcelles…) à comptabiliser séparément, dans n'importe quel SCR.</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <location filename="../algorithms/class_areas.py" />
      <source>Zone name field (empty: feature number)</source>
      <translation>Champ du nom de zone (vide : numéro de l'entité)</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>The zones' field that names them in the zone table.</source>
      <translation>Le champ des zones qui les nomme dans la table des zones.</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Minimum change area (m²)</source>
      <translation>Surface minimale d'un changement (m²)</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Connected changed regions smaller than this are counted as unchanged (0: none).</source>
      <translation>Les régions connexes de changement plus petites sont comptées comme inchangées (0 : aucune).</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Artificialised classes (FLAIR codes)</source>
      <translation>Classes artificialisées (codes FLAIR)</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>FLAIR codes (1–19) that count as artificialised land; one per row.</source>
      <translation>Codes FLAIR (1–19) comptés comme sol artificialisé ; un par ligne.</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Class map, for maps of other classes (e.g. parking=3, other=19)</source>
      <translation>Correspondance de classes, pour les cartes d'autres classes (par ex. parking=3, other=19)</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>For a map whose recorded classes are not FLAIR's (your own model's): the FLAIR code each of its classes stands for, by class name or value, separated by commas; 0 leaves a class out. Empty: such maps are refused.</source>
      <translation>Pour une carte dont les classes enregistrées ne sont pas celles de FLAIR (celles de votre modèle) : le code FLAIR que représente chacune de ses classes, par nom ou par valeur, séparés par des virgules ; 0 écarte une classe. Vide : ces cartes sont refusées.</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Land cover, first date</source>
      <translation>Occupation du sol, première date</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Land cover, second date</source>
      <translation>Occupation du sol, seconde date</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Change map</source>
      <translation>Carte des changements</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Land cover, first date (before)</source>
      <translation>Occupation du sol, première date (avant)</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Land cover, second date (after)</source>
      <translation>Occupation du sol, seconde date (après)</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Class values of the two maps</source>
      <translation>Valeurs de classe des deux cartes</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Transitions between classes</source>
      <translation>Transitions entre classes</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Land take per zone</source>
      <translation>Artificialisation par zone</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Every transition (from × 100 + to)</source>
      <translation>Toutes les transitions (avant × 100 + après)</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Figure (PNG)</source>
      <translation>Figure (PNG)</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>Give the land-cover maps of both dates (BEFORE and AFTER)</source>
      <translation>Donnez les cartes d'occupation du sol des deux dates (BEFORE et AFTER)</translation>
    </message>
    <message>
      <location filename="../algorithms/change.py" />
      <source>{}: artificialised {:.1f} m² → {:.1f} m² (gain {:.1f} m², loss {:.1f} m², net {:+.1f} m²)</source>
      <translation>{} : artificialisé {:.1f} m² → {:.1f} m² (gain {:.1f} m², perte {:.1f} m², solde {:+.1f} m²)</translation>
    </message>
    <message>
      <location filename="../algorithms/class_areas.py" />
      <source>Land-cover areas per class</source>
      <translation>Surfaces d'occupation du sol par classe</translation>
    </message>
    <message>
      <location filename="../algorithms/class_areas.py" />
      <source>Counts the pixels of each class in a class raster (band 1 holds class codes, e.g. the output of 'Segment land cover') and writes a table with one row per class: code, class (its name), pixels, area_m2, area_ha and share_pct, the share of the classified area (nodata excluded). The raster must be in a projected CRS (areas in metres).

Zones (optional): a polygon layer (communes, parcels…); the table then has one row per zone and class, for the pixels whose centre lies in the zone, and a zone column holding the zone field's value (or the feature's number, from 1, when no field is chosen). Shares are then per zone. A zone wholly outside the raster is named in a warning and has no rows (when none overlaps it, nothing is written); a zone partly outside is named in the log. Without zones the whole raster is counted, window by window.

Class names come from the classes recorded in the raster by this plugin, else FLAIR's 19. Maps with 0-based class values (IGN's flair-detect, FLAIR-HUB) are read as FLAIR codes (see 'Class values'): the table always holds FLAIR codes 1–19.</source>
      <translation>Compte les pixels de chaque classe d'un raster de classes (la bande 1 contient les codes de classe, par exemple la sortie de « Segmenter l'occupation du sol ») et écrit une table avec une ligne par classe : code, class (son nom), pixels, area_m2, area_ha et share_pct, la part de la surface classée (hors nodata). Le raster doit être dans un SCR projeté (surfaces en mètres).

Zones (facultatif) : une couche de polygones (communes, parcelles…) ; la table a alors une ligne par zone et par classe, pour les pixels dont le centre est dans la zone, et une colonne zone contenant la valeur du champ de zone (ou le numéro de l'entité, à partir de 1, si aucun champ n'est choisi). Les parts sont alors calculées par zone. Une zone entièrement hors du raster est nommée dans un avertissement et n'a pas de ligne (si aucune ne le recouvre, rien n'est écrit) ; une zone en partie hors du raster est nommée dans le journal. Sans zones, tout le raster est compté, fenêtre par fenêtre.

Les noms de classe viennent des classes enregistrées dans le raster par cette extension, sinon des 19 classes de FLAIR. Les cartes aux valeurs de classe à partir de 0 (flair-detect de l'IGN, FLAIR-HUB) sont lues en codes FLAIR (voir « Valeurs de classe ») : la table contient toujours des codes FLAIR 1–19.</translation>
    </message>
    <message>
      <location filename="../algorithms/class_areas.py" />
      <source>These areas are exact: counted from the raster's pixels. Land-cover polygons (flair:polygonize) merge regions under their minimum area into neighbours and simplify outlines, so their areas per class can differ</source>
      <translation>Ces surfaces sont exactes : comptées sur les pixels du raster. Les polygones d'occupation du sol (flair:polygonize) fusionnent les régions sous leur surface minimale dans leurs voisines et simplifient les contours : leurs surfaces par classe peuvent donc différer</translation>
    </message>
    <message>
      <location filename="../algorithms/class_areas.py" />
      <source>Zones (polygons; empty: the whole raster)</source>
      <translation>Zones (polygones ; vide : tout le raster)</translation>
    </message>
    <message>
      <location filename="../algorithms/class_areas.py" />
      <source>Areas per class</source>
      <translation>Surfaces par classe</translation>
    </message>
    <message>
      <location filename="../algorithms/class_areas.py" />
      <location filename="../algorithms/polygonize.py" />
      <source>Class raster: the layer could not be loaded as a raster file</source>
      <translation>Raster de classes : la couche n'a pas pu être chargée comme fichier raster</translation>
    </message>
    <message>
      <location filename="../algorithms/class_areas.py" />
      <source>{} classified pixels, {} nodata pixels, {:.6g} m² per pixel</source>
      <translation>{} pixels classés, {} pixels sans donnée, {:.6g} m² par pixel</translation>
    </message>
    <message>
      <location filename="../algorithms/class_values.py" />
      <source>How the class raster's values are read. 'flair': FLAIR codes 1–19 (1 = building … 19 = other), 0 = nodata, as this plugin and the FLAIR-1 labels write them. 'zero_based': 0-based indices of IGN's flair-detect (0 = building … 18 = other, no nodata; index i is FLAIR code i + 1). 'zero_based_hub': 0-based indices of FLAIR-HUB's zonal detection, whose order differs (0 = building, 1 = greenhouse, 2 = swimming pool, 3 = impervious surface …). 'auto': this plugin's maps are recognised by their tags or colour table; a raster that holds 0 and declares no nodata is read as 'zero_based' (flair-detect's order, said in the log: choose 'zero_based_hub' for a FLAIR-HUB map). Each raster is decided on its own.</source>
      <translation>Comment les valeurs du raster de classes sont lues. « flair » : codes FLAIR 1–19 (1 = bâtiment … 19 = autre), 0 = nodata, comme les écrivent cette extension et les étiquettes FLAIR-1. « zero_based » : indices à partir de 0 de flair-detect de l'IGN (0 = bâtiment … 18 = autre, pas de nodata ; l'indice i est le code FLAIR i + 1). « zero_based_hub » : indices à partir de 0 de la détection zonale de FLAIR-HUB, dans un autre ordre (0 = bâtiment, 1 = serre, 2 = piscine, 3 = surface imperméable …). « auto » : les cartes de cette extension sont reconnues à leurs métadonnées ou à leur table de couleurs ; un raster qui contient 0 et ne déclare pas de nodata est lu comme « zero_based » (ordre de flair-detect, indiqué dans le journal : choisissez « zero_based_hub » pour une carte FLAIR-HUB). Chaque raster est décidé séparément.</translation>
    </message>
    <message>
      <location filename="../algorithms/class_values.py" />
      <source>Class values</source>
      <translation>Valeurs de classe</translation>
    </message>
    <message>
      <location filename="../algorithms/diagnostics.py" />
      <source>Diagnostics (for a bug report)</source>
      <translation>Diagnostic (pour un rapport de bogue)</translation>
    </message>
    <message>
      <location filename="../algorithms/diagnostics.py" />
      <source>Reports the versions of QGIS, GDAL, PyTorch, segmentation-models-pytorch and the other packages FLAIR uses, whether a CUDA GPU is usable and its free memory, and the model cache with each cached model's revision and sha256 check. Paste it into your bug report.</source>
      <translation>Indique les versions de QGIS, GDAL, PyTorch, segmentation-models-pytorch et des autres paquets utilisés par FLAIR, si un GPU CUDA est utilisable et sa mémoire libre, ainsi que le cache des modèles avec la révision et la vérification sha256 de chaque modèle en cache. Collez-le dans votre rapport de bogue.</translation>
    </message>
    <message>
      <location filename="../algorithms/diagnostics.py" />
      <source>Report</source>
      <translation>Rapport</translation>
    </message>
    <message>
      <location filename="../algorithms/download_model.py" />
      <source>Download FLAIR model</source>
      <translation>Télécharger un modèle FLAIR</translation>
    </message>
    <message>
      <location filename="../algorithms/download_model.py" />
      <location filename="../algorithms/segment.py" />
      <source>Model</source>
      <translation>Modèle</translation>
    </message>
    <message>
      <location filename="../algorithms/download_model.py" />
      <source>Downloads a pretrained IGNF FLAIR model from HuggingFace into the local cache (~/.cache/huggingface, or HF_HOME), checks its sha256 and returns its path. Run it while online; afterwards 'Segment land cover' works offline (HF_HUB_OFFLINE=1) with this model. A file already cached and intact is not downloaded again.

The list also has IGN's FLAIR-HUB aerial-only models (FLAIR-HUB_LC-A_*: Swin or ConvNeXt-V2 encoders with a UPerNet or U-Net decoder; IR models take near-infrared, red, green, RGB models red, green, blue). Their size and hash are not published: each file is verified on first download against the sha256 the hub announces for it, and that file is used from then on.

Confirmed (pinned to the commit that uploaded the weight file; its sha256 and size are checked): {}.

Not confirmed (the file was never seen at the entry's pinned revision, so the download may fail; then download the file from the model's page and give it as a checkpoint): {}.</source>
      <translation>Télécharge un modèle FLAIR pré-entraîné de l'IGNF depuis HuggingFace dans le cache local (~/.cache/huggingface, ou HF_HOME), vérifie son sha256 et renvoie son chemin. Lancez-le lorsque vous êtes en ligne ; ensuite « Segmenter l'occupation du sol » fonctionne hors ligne (HF_HUB_OFFLINE=1) avec ce modèle. Un fichier déjà en cache et intact n'est pas téléchargé à nouveau.

La liste comprend aussi les modèles FLAIR-HUB de l'IGN n'utilisant que l'image aérienne (FLAIR-HUB_LC-A_* : encodeurs Swin ou ConvNeXt-V2 avec un décodeur UPerNet ou U-Net ; les modèles IR prennent proche infrarouge, rouge, vert, les modèles RGB rouge, vert, bleu). Leur taille et leur empreinte ne sont pas publiées : chaque fichier est vérifié au premier téléchargement avec le sha256 que le hub annonce pour lui, et ce fichier est utilisé ensuite.

Confirmés (épinglés au commit qui a déposé le fichier de poids ; son sha256 et sa taille sont vérifiés) : {}.

Non confirmés (le fichier n'a jamais été vu à la révision épinglée du modèle, le téléchargement peut donc échouer ; téléchargez alors le fichier depuis la page du modèle et donnez-le comme checkpoint) : {}.</translation>
    </message>
    <message>
      <location filename="../algorithms/download_model.py" />
      <source>Cached weights file</source>
      <translation>Fichier de poids en cache</translation>
    </message>
    <message>
      <location filename="../algorithms/download_model.py" />
      <source>Pretrained IGNF model from the zoo. Confirmed (pinned to the file's upload commit, sha256 and size checked): {}. Not confirmed at their pinned revision (may fail to download): {}.</source>
      <translation>Modèle pré-entraîné de l'IGNF du zoo. Confirmés (épinglés au commit qui a déposé le fichier, sha256 et taille vérifiés) : {}. Non confirmés à leur révision épinglée (le téléchargement peut échouer) : {}.</translation>
    </message>
    <message>
      <location filename="../algorithms/download_model.py" />
      <source>Verified {}</source>
      <translation>Vérifié : {}</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Evaluate land-cover map (FLAIR)</source>
      <translation>Évaluer une carte d'occupation du sol (FLAIR)</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Measures how good a land-cover map is: either a class raster against a reference class raster (for example the output of 'Segment land cover' against your own labels), or a model checkpoint against labelled patches (a folder, or a FLAIR-1 CSV list such as the validation list 'Train land-cover model' writes).

Scores per class: IoU, F1, precision and recall; their mean IoU (mIoU) and the overall accuracy; the confusion matrix (rows: reference, columns: prediction). Nodata pixels of either raster and the ignored codes are left out; a class that is in the reference but never predicted there has IoU 0 and is reported in a warning.

Classes: by default those recorded in the class raster by 'Segment land cover' (else FLAIR's 19); or one row per class (code, name, colour). The rasters must be on the same grid, or on aligned grids (then their overlap is evaluated); rasters on different grids are refused. Maps with 0-based class values (IGN's flair-detect, FLAIR-HUB) are read as FLAIR codes, each raster decided on its own (see 'Class values').

Outputs: a table (one row per class, then the mIoU and the overall accuracy) the modeler can pass on, the full report as JSON, and the confusion matrix normalised by rows as a PNG heat map.</source>
      <translation>Mesure la qualité d'une carte d'occupation du sol : soit un raster de classes face à un raster de classes de référence (par exemple la sortie de « Segmenter l'occupation du sol » face à vos propres étiquettes), soit un checkpoint de modèle face à des patchs étiquetés (un dossier, ou une liste CSV FLAIR-1 comme la liste de validation qu'écrit « Entraîner un modèle d'occupation du sol »).

Scores par classe : IoU, F1, précision et rappel ; leur IoU moyen (mIoU) et l'exactitude globale ; la matrice de confusion (lignes : référence, colonnes : prédiction). Les pixels nodata de l'un ou l'autre raster et les codes ignorés sont écartés ; une classe présente dans la référence mais jamais prédite à sa place a un IoU de 0 et est signalée par un avertissement.

Classes : par défaut celles enregistrées dans le raster de classes par « Segmenter l'occupation du sol » (sinon les 19 de FLAIR) ; ou une ligne par classe (code, nom, couleur). Les rasters doivent être sur la même grille, ou sur des grilles alignées (leur recouvrement est alors évalué) ; des rasters sur des grilles différentes sont refusés. Les cartes aux valeurs de classe à partir de 0 (flair-detect de l'IGN, FLAIR-HUB) sont lues en codes FLAIR, chaque raster décidé séparément (voir « Valeurs de classe »).

Sorties : une table (une ligne par classe, puis le mIoU et l'exactitude globale) que le modeleur peut transmettre, le rapport complet en JSON, et la matrice de confusion normalisée par lignes en carte de chaleur PNG.</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Class raster to evaluate</source>
      <translation>Raster de classes à évaluer</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Reference class raster</source>
      <translation>Raster de classes de référence</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Or: model checkpoint to evaluate on patches</source>
      <translation>Ou : checkpoint de modèle à évaluer sur des patchs</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Labelled patches folder</source>
      <translation>Dossier de patchs étiquetés</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Or: labelled patches list (FLAIR-1 CSV)</source>
      <translation>Ou : liste de vignettes étiquetées (CSV FLAIR-1)</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Classes (code, name, colour); empty: those recorded in the class raster</source>
      <translation>Classes (code, nom, couleur) ; vide : celles enregistrées dans le raster de classes</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Class values of the two rasters</source>
      <translation>Valeurs de classe des deux rasters</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Reference codes to leave out, comma-separated</source>
      <translation>Codes de référence à exclure, séparés par des virgules</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Patch image bands, comma-separated</source>
      <translation>Bandes des images des patchs, séparées par des virgules</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <location filename="../algorithms/segment.py" />
      <location filename="../algorithms/train.py" />
      <source>Device</source>
      <translation>Processeur de calcul</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Scores per class</source>
      <translation>Scores par classe</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Report (JSON)</source>
      <translation>Rapport (JSON)</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Confusion matrix heat map (PNG)</source>
      <translation>Matrice de confusion en carte de chaleur (PNG)</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Mean IoU</source>
      <translation>IoU moyen</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Overall accuracy</source>
      <translation>Précision globale</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Give both the class raster and the reference class raster</source>
      <translation>Donnez à la fois le raster de classes et le raster de classes de référence</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Give a class raster and a reference class raster, or a checkpoint and patches (folder or list)</source>
      <translation>Donnez un raster de classes et un raster de référence, ou un point de contrôle et des vignettes (dossier ou liste)</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Classes: each code must be an integer</source>
      <translation>Classes : chaque code doit être un entier</translation>
    </message>
    <message>
      <location filename="../algorithms/evaluate.py" />
      <source>Reference</source>
      <translation>Référence</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Export training patches (FLAIR)</source>
      <translation>Exporter des patchs d'entraînement (FLAIR)</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Cuts square image/label patch pairs from an image raster and its labels, for 'Train land-cover model': img/IMG_&lt;id&gt;.tif (the image bands) and msk/MSK_&lt;id&gt;.tif (class codes) in the output folder, FLAIR's layout, plus patches.csv listing the pairs (FLAIR-1 CSV).

Labels: a class raster on the image's grid, or polygons with a numeric class field, which are rasterised onto the image's grid (reprojected if needed; later polygons win where they overlap). Unlabelled pixels get the label nodata value (the class raster's nodata, else 0), which training ignores. Patches of PATCH_SIZE px every PATCH_SIZE − OVERLAP px, within the extent if one is given; with 'Skip patches without labels', patches with no labelled pixel are not written. New patches are numbered after those already in the folder, so several rasters can be exported into one training set.</source>
      <translation>Découpe des paires de patchs carrés image/étiquettes dans un raster image et ses étiquettes, pour « Entraîner un modèle d'occupation du sol » : img/IMG_&lt;id&gt;.tif (les bandes de l'image) et msk/MSK_&lt;id&gt;.tif (les codes de classe) dans le dossier de sortie, selon l'organisation de FLAIR, plus patches.csv qui liste les paires (CSV FLAIR-1).

Étiquettes : un raster de classes sur la grille de l'image, ou des polygones avec un champ de classe numérique, rastérisés sur la grille de l'image (reprojetés si besoin ; là où ils se chevauchent, les derniers polygones l'emportent). Les pixels non étiquetés reçoivent la valeur nodata des étiquettes (le nodata du raster de classes, sinon 0), que l'entraînement ignore. Patchs de PATCH_SIZE px tous les PATCH_SIZE − OVERLAP px, dans l'emprise si elle est donnée ; avec « Ignorer les patchs sans étiquettes », les patchs sans aucun pixel étiqueté ne sont pas écrits. Les nouveaux patchs sont numérotés à la suite de ceux déjà présents dans le dossier : plusieurs rasters peuvent ainsi être exportés dans un même jeu d'entraînement.</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Code of unlabelled pixels (empty: the class raster's nodata, else 0)</source>
      <translation>Code des pixels non étiquetés (vide : le nodata du raster de classes, sinon 0)</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Image raster</source>
      <translation>Raster image</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Class raster (labels)</source>
      <translation>Raster de classes (étiquettes)</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Or: labelled polygons</source>
      <translation>Ou : polygones étiquetés</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Class code field of the polygons</source>
      <translation>Champ du code de classe des polygones</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Extent (empty: the whole image)</source>
      <translation>Emprise (vide : toute l'image)</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Patch size (px)</source>
      <translation>Taille des patchs (px)</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Overlap between patches (px)</source>
      <translation>Chevauchement entre patchs (px)</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Image bands (empty: all but alpha)</source>
      <translation>Bandes de l'image (vide : toutes sauf alpha)</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Skip patches without labels</source>
      <translation>Ignorer les patchs sans étiquettes</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Patch folder</source>
      <translation>Dossier des patchs</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>List of the patch pairs (FLAIR-1 CSV)</source>
      <translation>Liste des paires de patchs (CSV FLAIR-1)</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Number of patch pairs written</source>
      <translation>Nombre de paires de patchs écrites</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Image raster: the layer could not be loaded</source>
      <translation>Raster image : la couche n'a pas pu être chargée</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Give either a class raster or labelled polygons (one of them)</source>
      <translation>Donnez soit un raster de classes, soit des polygones étiquetés (l'un des deux)</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Labelled polygons: choose the class code field</source>
      <translation>Polygones étiquetés : choisissez le champ du code de classe</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>Rasterising {} polygons onto the image's grid</source>
      <translation>Rastérisation de {} polygones sur la grille de l'image</translation>
    </message>
    <message>
      <location filename="../algorithms/export_patches.py" />
      <source>{} polygon(s) without a class code or a geometry were left out</source>
      <translation>{} polygone(s) sans code de classe ou sans géométrie ont été exclus</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>Install FLAIR dependencies</source>
      <translation>Installer les dépendances de FLAIR</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>Setup</source>
      <translation>Installation</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>Installs the Python packages FLAIR needs (PyTorch, segmentation-models-pytorch, rasterio, torchmetrics, huggingface_hub, PyYAML…, the versions pinned in the plugin's requirements.txt) with pip into a folder of your QGIS profile reserved for the plugin (python/flair_deps/py3XX, one per Python version), which the plugin puts on Python's path when it loads. QGIS's own packages are never changed: numpy stays the one QGIS ships.

Torch build: 'auto' picks the CUDA build when the NVIDIA driver (nvidia-smi) is present, else the much smaller CPU build; 'cpu' or 'cuda' force one. The download is large (about 1 GB for CPU, several GB for CUDA) and needs internet access; pip's output is shown in the log and saved beside the folder. Cancel stops pip and leaves the folder as it was. Where PyTorch's CPU index (download.pytorch.org) cannot be reached but PyPI can (some proxies and mirrors), PyPI's PyTorch is installed instead, with a warning naming the index: on Linux that is the CUDA build (it runs on the CPU too), about 5.6 GB installed.

OpenVINO (advanced): the CPU inference backend, faster than PyTorch on the CPU. 'auto' installs it with the CPU build of PyTorch (machines without an NVIDIA GPU); 'yes' adds it to the CUDA build too, 'no' leaves it out. Without it, PyTorch runs on the CPU.

Check only: lists what is installed, missing or too old, and where each package is imported from, without installing. After an install that replaces packages QGIS had already loaded, restart QGIS.</source>
      <translation>Installe avec pip les paquets Python dont FLAIR a besoin (PyTorch, segmentation-models-pytorch, rasterio, torchmetrics, huggingface_hub, PyYAML…, dans les versions fixées par le requirements.txt de l'extension) dans un dossier de votre profil QGIS réservé à l'extension (python/flair_deps/py3XX, un par version de Python), que l'extension ajoute au chemin de Python à son chargement. Les paquets de QGIS ne sont jamais modifiés : numpy reste celui fourni avec QGIS.

Version de PyTorch : « auto » choisit la version CUDA si le pilote NVIDIA (nvidia-smi) est présent, sinon la version CPU, bien plus légère ; « cpu » ou « cuda » imposent l'une ou l'autre. Le téléchargement est volumineux (environ 1 Go pour CPU, plusieurs Go pour CUDA) et demande un accès à internet ; la sortie de pip s'affiche dans le journal et est enregistrée à côté du dossier. Annuler arrête pip et laisse le dossier tel qu'il était. Là où l'index CPU de PyTorch (download.pytorch.org) est injoignable mais PyPI joignable (certains proxys et miroirs), c'est le PyTorch de PyPI qui est installé, avec un avertissement nommant l'index : sous Linux, la version CUDA (elle fonctionne aussi sur le CPU), environ 5,6 Go une fois installée.

OpenVINO (avancé) : le moteur d'inférence pour le CPU, plus rapide que PyTorch sur le CPU. « auto » l'installe avec la version CPU de PyTorch (machines sans GPU NVIDIA) ; « yes » l'ajoute aussi à la version CUDA, « no » ne l'installe pas. Sans lui, PyTorch calcule sur le CPU.

Vérifier seulement : liste ce qui est installé, manquant ou trop ancien, et d'où chaque paquet est importé, sans rien installer. Après une installation qui remplace des paquets déjà chargés par QGIS, redémarrez QGIS.</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>Install OpenVINO (the CPU backend; auto: with the CPU build)</source>
      <translation>Installer OpenVINO (le moteur pour le CPU ; auto : avec la version CPU)</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>Requirements file (empty: the plugin's requirements.txt)</source>
      <translation>Fichier des dépendances (vide : le requirements.txt de l'extension)</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>PyTorch build</source>
      <translation>Version de PyTorch</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>Only check what is installed (install nothing)</source>
      <translation>Vérifier seulement ce qui est installé (ne rien installer)</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>Packages folder</source>
      <translation>Dossier des paquets</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>pip log</source>
      <translation>Journal de pip</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>Still missing or too old</source>
      <translation>Encore manquants ou trop anciens</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>All the packages FLAIR needs are installed.</source>
      <translation>Tous les paquets dont FLAIR a besoin sont installés.</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>OpenVINO, the CPU backend, is not installed with the CUDA build: set 'Install OpenVINO' to 'yes' to add it</source>
      <translation>OpenVINO, le moteur pour le CPU, n'est pas installé avec la version CUDA : choisissez « yes » pour « Installer OpenVINO » pour l'ajouter</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>Packages folder: {} ({})</source>
      <translation>Dossier des paquets : {} ({})</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>on Python's path</source>
      <translation>dans le chemin de Python</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>not created yet</source>
      <translation>pas encore créé</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>Python for pip: {}</source>
      <translation>Python utilisé pour pip : {}</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>not found</source>
      <translation>introuvable</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>Installing into {} (PyTorch {} build)</source>
      <translation>Installation dans {} (PyTorch version {})</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>{}: fails to import: {}</source>
      <translation>{} : échec de l'import : {}</translation>
    </message>
    <message>
      <location filename="../algorithms/install_dependencies.py" />
      <source>: imports</source>
      <translation> : s'importe</translation>
    </message>
    <message>
      <location filename="../algorithms/layer_input.py" />
      <source>EXTENT/MASK: the area chosen does not overlap the input raster</source>
      <translation>EXTENT/MASK : la zone choisie ne recouvre pas le raster en entrée</translation>
    </message>
    <message>
      <location filename="../algorithms/layer_input.py" />
      <source>MASK: the layer has no polygon to segment within</source>
      <translation>MASK : la couche ne contient aucun polygone où segmenter</translation>
    </message>
    <message>
      <location filename="../algorithms/layer_input.py" />
      <source>Reading {} ({} layer) at 0.2 m over {}×{} px in {} into a temporary GeoTIFF</source>
      <translation>Lecture de {} (couche {}) à 0,2 m sur {}×{} px en {} dans un GeoTIFF temporaire</translation>
    </message>
    <message>
      <location filename="../algorithms/layer_input.py" />
      <source>Input raster: {} is not a file; rendering it at 0.2 m would make {}×{} px. Choose a smaller EXTENT, or save the layer as a GeoTIFF first</source>
      <translation>Raster en entrée : {} n'est pas un fichier ; le rendre à 0,2 m produirait {}×{} px. Choisissez une EXTENT plus petite, ou enregistrez d'abord la couche en GeoTIFF</translation>
    </message>
    <message>
      <location filename="../algorithms/layer_input.py" />
      <source>Input raster: the {} layer cannot be read</source>
      <translation>Raster en entrée : la couche {} ne peut pas être lue</translation>
    </message>
    <message>
      <location filename="../algorithms/layer_input.py" />
      <source>Input raster: reading {} failed (error {}); check the layer loads in QGIS, or save it as a GeoTIFF first</source>
      <translation>Raster en entrée : la lecture de {} a échoué (erreur {}) ; vérifiez que la couche se charge dans QGIS, ou enregistrez-la d'abord en GeoTIFF</translation>
    </message>
    <message>
      <location filename="../algorithms/polygonize.py" />
      <source>outlines simplified</source>
      <translation>contours simplifiés</translation>
    </message>
    <message>
      <location filename="../algorithms/polygonize.py" />
      <location filename="../algorithms/segment.py" />
      <source>Land-cover polygons</source>
      <translation>Polygones d'occupation du sol</translation>
    </message>
    <message>
      <location filename="../algorithms/polygonize.py" />
      <source>Turns a class raster (band 1 holds class codes, e.g. the output of 'Segment land cover') into polygons: one polygon per connected region of a class, holes kept, with the fields code, class (its name) and area_m2. The raster is read block by block (memory stays bounded) and the pieces are dissolved per class.

Minimum area (m²): regions smaller than this are merged into their largest neighbouring class ('merge', done on the raster before vectorising, so the map has no gaps) or removed ('drop'). 0 keeps every region.

Simplification tolerance (map units): polygon outlines are simplified (Douglas-Peucker) so that they no longer follow every pixel step; 0 keeps the exact pixel outlines (which never overlap). Simplified neighbours may overlap or leave slivers up to the tolerance.

The output is styled with the class names and colours (the classes recorded in the raster, else FLAIR's 19); in a GeoPackage the style is saved as the layer's default. Maps with 0-based class values (IGN's flair-detect, FLAIR-HUB; see 'Class values') get FLAIR codes 1–19 in the code field.</source>
      <translation>Transforme un raster de classes (la bande 1 contient les codes de classe, par exemple la sortie de « Segmenter l'occupation du sol ») en polygones : un polygone par région connexe d'une classe, trous conservés, avec les champs code, class (son nom) et area_m2. Le raster est lu bloc par bloc (la mémoire reste bornée) et les morceaux sont fusionnés par classe.

Surface minimale (m²) : les régions plus petites sont fusionnées avec leur plus grande classe voisine (« merge », fait sur le raster avant la vectorisation : la carte n'a pas de trous) ou supprimées (« drop »). 0 garde toutes les régions.

Tolérance de simplification (unités de la carte) : les contours des polygones sont simplifiés (Douglas-Peucker) pour ne plus suivre chaque marche de pixel ; 0 garde les contours exacts des pixels (qui ne se chevauchent jamais). Des voisins simplifiés peuvent se chevaucher ou laisser des interstices jusqu'à la tolérance.

La sortie est stylée avec les noms et couleurs des classes (les classes enregistrées dans le raster, sinon les 19 de FLAIR) ; dans un GeoPackage, le style est enregistré comme style par défaut de la couche. Les cartes aux valeurs de classe à partir de 0 (flair-detect de l'IGN, FLAIR-HUB ; voir « Valeurs de classe ») reçoivent des codes FLAIR 1–19 dans le champ code.</translation>
    </message>
    <message>
      <location filename="../algorithms/polygonize.py" />
      <source>The polygons' areas per class agree with the raster's pixel areas within 1 %</source>
      <translation>Les surfaces des polygones par classe concordent à 1 % près avec celles des pixels du raster</translation>
    </message>
    <message>
      <location filename="../algorithms/polygonize.py" />
      <source>Simplification tolerance</source>
      <translation>Tolérance de simplification</translation>
    </message>
    <message>
      <location filename="../algorithms/polygonize.py" />
      <source>Minimum polygon area (m²)</source>
      <translation>Surface minimale des polygones (m²)</translation>
    </message>
    <message>
      <location filename="../algorithms/polygonize.py" />
      <source>Polygons under the minimum area</source>
      <translation>Polygones sous la surface minimale</translation>
    </message>
    <message>
      <location filename="../algorithms/polygonize.py" />
      <source>cancelled by the user</source>
      <translation>annulé par l'utilisateur</translation>
    </message>
    <message>
      <location filename="../algorithms/polygonize.py" />
      <source>regions under {:g} m² merged into their neighbours, outlines simplified</source>
      <translation>régions de moins de {:g} m² fusionnées dans leurs voisines, contours simplifiés</translation>
    </message>
    <message>
      <location filename="../algorithms/polygonize.py" />
      <source>regions under {:g} m² dropped, outlines simplified</source>
      <translation>régions de moins de {:g} m² supprimées, contours simplifiés</translation>
    </message>
    <message>
      <location filename="../algorithms/polygonize.py" />
      <source>The polygons' areas per class differ from the raster's exact pixel areas ({}): {}. For exact areas per class use 'Land-cover areas per class' (flair:classareas), which counts the raster's pixels</source>
      <translation>Les surfaces des polygones par classe diffèrent des surfaces exactes des pixels du raster ({}) : {}. Pour des surfaces exactes par classe, utilisez « Surfaces d'occupation du sol par classe » (flair:classareas), qui compte les pixels du raster</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Segment land cover (FLAIR)</source>
      <translation>Segmenter l'occupation du sol (FLAIR)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Predicts a FLAIR land-cover class for every pixel of a raster layer (an 8-bit aerial orthophoto at 0.2 m, like IGN's BD ORTHO) and writes a styled GeoTIFF on the input's grid.

Model: a pretrained IGNF FLAIR-INC model, downloaded from HuggingFace on first use and cached (use 'Download FLAIR model' beforehand to work offline). Checkpoint: a local weights file instead (IGNF .pth, FLAIR-HUB .safetensors, FLAIR-1 .ckpt, smp state dict, or a FLAIR-for-QGIS checkpoint, which carries its own classes and settings); an IGN model file runs as that zoo model whatever Model says, recognised by IGN's file name, its hash or its layers.

Bands: the raster bands fed to the model, in the model's order (e.g. R, G, B); by default the first non-alpha bands. Tiles of TILE_SIZE px are predicted and only their centre, MARGIN px in from each edge, is kept, as IGN's flair-detect does; left empty, they are the model's own (512/128 for the IGNF models, or what a FLAIR-for-QGIS checkpoint says).

Infrared and elevation from other layers: models with NIR (rgbi, rgbie, FLAIR-HUB IR) take it from the IRC layer (IGN's BD ORTHO IRC, false colour NIR, R, G: NIR is its band 1), or from a 4-band input. rgbie models take the elevation from a DSM + DTM pair (e.g. LiDAR HD or RGE ALTI, in metres: the height above ground is encoded as FLAIR does, 20 cm steps, 0-255), or from a ready FLAIR elevation band (advanced). These layers may have another resolution, extent or tiling (a VRT of IGN's JPEG 2000 tiles works): they are resampled (bilinear) onto the input's grid as they are read, never shifted; they must share its CRS and overlap it. With these layers, Bands picks the input's R, G, B.

Preset 'fast' doubles the tile size (same margin): about 2× faster, nearly the same map. Tile grid (advanced): 'model' lays the tiles as the model's own tool does (flair-detect: from the raster's edges, so the grid follows each raster's extent); 'map-anchored' lays them at fixed positions in map coordinates, so that two rasters of the same ground (two dates, or a crop of a mosaic) on the same pixel grid are cut into the same tiles and get the same map where nothing changed: use it for maps that will be compared (flair:landtake_workflow does).

Advanced: 'blend' stitching averages overlapping tiles with a smooth window instead of cropping; test-time augmentation averages four flips.

Output type 'argmax' writes one band of FLAIR codes (1-19, 0 = nodata) with a colour table and a QML style; 'class_prob' writes one band per class, probability × 255. Nodata in the input stays nodata in the output.</source>
      <translation>Prédit une classe d'occupation du sol FLAIR pour chaque pixel d'une couche raster (une orthophotographie aérienne 8 bits à 0,2 m, comme la BD ORTHO de l'IGN) et écrit un GeoTIFF stylé sur la grille de l'entrée.

Modèle : un modèle FLAIR-INC pré-entraîné de l'IGNF, téléchargé depuis HuggingFace à la première utilisation puis mis en cache (utilisez « Télécharger un modèle FLAIR » au préalable pour travailler hors ligne). Checkpoint : un fichier de poids local à la place (.pth de l'IGNF, .safetensors de FLAIR-HUB, .ckpt de FLAIR-1, state dict smp, ou checkpoint FLAIR-for-QGIS, qui porte ses propres classes et réglages) ; un fichier de modèle de l'IGN s'exécute comme ce modèle du zoo quel que soit Modèle, reconnu par son nom de fichier IGN, son empreinte ou ses couches.

Bandes : les bandes du raster données au modèle, dans l'ordre du modèle (par ex. R, V, B) ; par défaut les premières bandes non alpha. Des tuiles de TILE_SIZE px sont prédites et seul leur centre, à MARGIN px de chaque bord, est conservé, comme le fait flair-detect de l'IGN ; laissées vides, ce sont celles du modèle (512/128 pour les modèles de l'IGNF, ou ce qu'indique un checkpoint FLAIR-for-QGIS).

Infrarouge et altitude depuis d'autres couches : les modèles avec proche infrarouge (rgbi, rgbie, IR de FLAIR-HUB) le prennent dans la couche IRC (la BD ORTHO IRC de l'IGN, en fausses couleurs PIR, R, V : le PIR est sa bande 1), ou dans une entrée à 4 bandes. Les modèles rgbie prennent l'altitude d'un couple MNS + MNT (par ex. LiDAR HD ou RGE ALTI, en mètres : la hauteur au-dessus du sol est codée comme dans FLAIR, par pas de 20 cm, 0-255), ou d'une bande d'altitude FLAIR toute prête (avancé). Ces couches peuvent avoir une autre résolution, une autre emprise ou un autre dallage (un VRT des dalles JPEG 2000 de l'IGN convient) : elles sont rééchantillonnées (bilinéaire) sur la grille de l'entrée à la lecture, jamais décalées ; elles doivent être dans son SCR et la recouvrir. Avec ces couches, Bandes choisit les bandes R, V, B de l'entrée.

Le préréglage « fast » double la taille des tuiles (même marge) : environ 2× plus rapide, carte presque identique. Grille de tuiles (avancé) : « model » pose les tuiles comme l'outil du modèle (flair-detect : à partir des bords du raster, la grille suit donc l'emprise de chaque raster) ; « map-anchored » les pose à des positions fixes en coordonnées cartographiques, si bien que deux rasters du même terrain (deux dates, ou un extrait d'une mosaïque) sur la même grille de pixels sont découpés en les mêmes tuiles et donnent la même carte là où rien n'a changé : à utiliser pour des cartes qui seront comparées (flair:landtake_workflow le fait).

Avancé : l'assemblage « blend » moyenne les tuiles qui se chevauchent avec une fenêtre lissée au lieu de les découper ; l'augmentation au moment du test moyenne quatre retournements.

Le type de sortie « argmax » écrit une bande de codes FLAIR (1-19, 0 = sans donnée) avec une table de couleurs et un style QML ; « class_prob » écrit une bande par classe, probabilité × 255. Les pixels sans donnée de l'entrée restent sans donnée en sortie.</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Input raster (orthophoto)</source>
      <translation>Raster en entrée (orthophotographie)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Pretrained IGNF model from the zoo; ignored when the checkpoint describes its own model or is an IGN model file (recognised by IGN's file name, its hash or its layers; the log says which). FLAIR-HUB_LC-A_* are IGN's FLAIR-HUB aerial-only models: IR ones take near-infrared, red, green (by default bands 4, 1, 2 of a 4-band RGBI image), RGB ones red, green, blue</source>
      <translation>Modèle pré-entraîné de l'IGNF ; ignoré quand le checkpoint décrit son propre modèle ou est un fichier de modèle de l'IGN (reconnu par son nom de fichier IGN, son empreinte ou ses couches ; le journal dit lequel). Les FLAIR-HUB_LC-A_* sont les modèles FLAIR-HUB de l'IGN n'utilisant que l'image aérienne : les IR prennent proche infrarouge, rouge, vert (par défaut les bandes 4, 1, 2 d'une image RVBI à 4 bandes), les RGB rouge, vert, bleu</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Infrared layer (IGN BD ORTHO IRC), for NIR</source>
      <translation>Couche infrarouge (BD ORTHO IRC de l'IGN), pour le PIR</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>False-colour orthophoto whose band 1 is near-infrared (IGN BD ORTHO IRC), for the models that take NIR; resampled onto the input's grid</source>
      <translation>Orthophotographie en fausses couleurs dont la bande 1 est le proche infrarouge (BD ORTHO IRC de l'IGN), pour les modèles qui prennent le PIR ; rééchantillonnée sur la grille de l'entrée</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Optional: the map as polygons too (flair:polygonize with its defaults: regions under 1 m² merged, outlines simplified within 0.5 m), a styled GeoPackage</source>
      <translation>Facultatif : la carte aussi en polygones (flair:polygonize avec ses réglages par défaut : régions de moins de 1 m² fusionnées, contours simplifiés à 0,5 m près), un GeoPackage stylé</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>FLAIR land cover</source>
      <translation>Occupation du sol FLAIR</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Checkpoint file (instead of downloading the model)</source>
      <translation>Fichier checkpoint (au lieu de télécharger le modèle)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Bands, in the model's order</source>
      <translation>Bandes, dans l'ordre du modèle</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Surface model (DSM, metres), for elevation</source>
      <translation>Modèle numérique de surface (MNS, mètres), pour l'altitude</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Digital surface model (e.g. LiDAR HD), with the DTM: the elevation band of rgbie models is (DSM − DTM) in 20 cm steps, rounded, clipped to 0-255</source>
      <translation>Modèle numérique de surface (par ex. LiDAR HD), avec le MNT : la bande d'altitude des modèles rgbie est (MNS − MNT) par pas de 20 cm, arrondie, bornée à 0-255</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Terrain model (DTM, metres), for elevation</source>
      <translation>Modèle numérique de terrain (MNT, mètres), pour l'altitude</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Digital terrain model (e.g. LiDAR HD or RGE ALTI), with the DSM</source>
      <translation>Modèle numérique de terrain (par ex. LiDAR HD ou RGE ALTI), avec le MNS</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Band of the infrared layer holding NIR</source>
      <translation>Bande de la couche infrarouge qui contient le PIR</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Ready FLAIR elevation layer (instead of DSM and DTM)</source>
      <translation>Couche d'altitude FLAIR toute prête (au lieu du MNS et du MNT)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Band of the elevation layer</source>
      <translation>Bande de la couche d'altitude</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Tile size (px); empty: the model's (512; FLAIR-HUB: 2048)</source>
      <translation>Taille des tuiles (px) ; vide : celle du modèle (512 ; FLAIR-HUB : 2048)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Margin cut from tile edges (px); empty: the model's (128; FLAIR-HUB: 512)</source>
      <translation>Marge retirée des bords des tuiles (px) ; vide : celle du modèle (128 ; FLAIR-HUB : 512)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Extent (empty: the whole raster)</source>
      <translation>Emprise (vide : tout le raster)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Only within these polygons</source>
      <translation>Seulement dans ces polygones</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Speed preset (when tile size is empty)</source>
      <translation>Préréglage de vitesse (si la taille des tuiles est vide)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Tiles per forward pass. Empty (the default): automatic, from the free GPU memory on CUDA; on the CPU 4 tiles of 512 px, or as many larger ones as hold as many pixels (one of 1024 px or more). On the CPU one tile is measured first against the free memory: a batch that does not fit is lowered (the log says so), and a tile too large even alone is refused, naming a TILE_SIZE that fits</source>
      <translation>Tuiles par passe du modèle. Vide (par défaut) : automatique, d'après la mémoire GPU libre avec CUDA ; sur le CPU 4 tuiles de 512 px, ou autant de tuiles plus grandes que ce nombre de pixels en contient (une de 1024 px ou plus). Sur le CPU une tuile est d'abord mesurée face à la mémoire libre : un lot qui n'y tient pas est réduit (le journal le dit), et une tuile trop grande même seule est refusée, en nommant une TILE_SIZE qui tient</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Output type</source>
      <translation>Type de sortie</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Stitching of overlapping tiles</source>
      <translation>Assemblage des tuiles qui se chevauchent</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>model (default): tiles laid as the model's tool lays them (flair-detect: from the raster's edges), the reference for fidelity to IGN's maps; but the grid then follows each raster's extent, and the same ground in two rasters of different extents is cut into different tiles, whose predictions differ (false change along tile seams). map-anchored: tile centres at fixed multiples of their step in the CRS, so rasters on the same pixel grid get the same tiles and identical pixels where the imagery is identical</source>
      <translation>model (par défaut) : tuiles posées comme l'outil du modèle les pose (flair-detect : à partir des bords du raster), la référence pour la fidélité aux cartes de l'IGN ; mais la grille suit alors l'emprise de chaque raster, et le même terrain dans deux rasters d'emprises différentes est découpé en tuiles différentes, dont les prédictions diffèrent (faux changements le long des jointures de tuiles). map-anchored : centres des tuiles à des multiples fixes de leur pas dans le SCR, si bien que des rasters sur la même grille de pixels ont les mêmes tuiles et des pixels identiques là où l'image est identique</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Test-time augmentation (4 flips, 4× slower)</source>
      <translation>Augmentation au moment du test (4 retournements, 4× plus lent)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Precision (auto: fp16 on GPU, fp32 on CPU)</source>
      <translation>Précision (auto : fp16 sur GPU, fp32 sur CPU)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>The runtime computing the model. auto: OpenVINO on the CPU when it is installed (faster there; the model is converted on its first run and kept in the cache), PyTorch on a GPU. torch: always PyTorch. openvino: OpenVINO, on the CPU only (with Device cuda: an error). Where OpenVINO cannot run a model, PyTorch runs it and the log says why.</source>
      <translation>Le moteur qui calcule le modèle. auto : OpenVINO sur le CPU s'il est installé (plus rapide ; le modèle est converti à sa première exécution et gardé en cache), PyTorch sur un GPU. torch : toujours PyTorch. openvino : OpenVINO, sur le CPU seulement (avec le périphérique cuda : une erreur). Si OpenVINO ne peut pas exécuter un modèle, PyTorch le fait et le journal dit pourquoi.</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <location filename="../algorithms/train.py" />
      <source>Normalisation</source>
      <translation>Normalisation</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Custom means, one per band (comma-separated)</source>
      <translation>Moyennes personnalisées, une par bande (séparées par des virgules)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <location filename="../algorithms/train.py" />
      <source>Custom standard deviations, one per band</source>
      <translation>Écarts-types personnalisés, un par bande</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Dask scheduler for a sharded run (tcp://host:8786); empty: this machine</source>
      <translation>Ordonnanceur Dask pour un calcul réparti (tcp://hôte:8786) ; vide : cette machine</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>For imagery that is not 8-bit (e.g. 0,4095 for 12-bit values): the values from min to max are mapped onto the 0–255 the model expects, the same for every band. Empty: 8-bit imagery is used as it is, other imagery by each band's 2–98 % percentiles</source>
      <translation>Pour une image qui n'est pas en 8 bits (par ex. 0,4095 pour des valeurs sur 12 bits) : les valeurs de min à max sont ramenées sur les 0–255 qu'attend le modèle, de la même façon pour chaque bande. Vide : une image 8 bits est utilisée telle quelle, les autres d'après les centiles 2–98 % de chaque bande</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Empty: decided from the checkpoint (its own class list, its criterion.weight, the zoo model's list for a zoo file, else every class of its head), and logged. E.g. 1,2,3,6 keeps the model from predicting any other class</source>
      <translation>Vide : décidé d'après le checkpoint (sa propre liste de classes, son criterion.weight, la liste du modèle du zoo pour un fichier du zoo, sinon toutes les classes de sa tête), et indiqué dans le journal. Par ex. 1,2,3,6 empêche le modèle de prédire toute autre classe</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Input raster: the layer could not be loaded</source>
      <translation>Raster en entrée : la couche n'a pas pu être chargée</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Polygons are made of class codes: choose the output type 'argmax'</source>
      <translation>Les polygones sont faits de codes de classe : choisissez le type de sortie « argmax »</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Batch size (tiles); empty: automatic</source>
      <translation>Taille de lot (tuiles) ; vide : automatique</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Tile grid (model: the model's own, e.g. flair-detect's; map-anchored: fixed in map coordinates, for maps compared between dates)</source>
      <translation>Grille de tuiles (model : celle du modèle, p. ex. celle de flair-detect ; map-anchored : fixe en coordonnées cartographiques, pour des cartes comparées entre dates)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Inference backend (auto: OpenVINO on the CPU when installed)</source>
      <translation>Moteur d'inférence (auto : OpenVINO sur le CPU s'il est installé)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Value range mapped onto 0–255 (min,max), for 16-bit imagery; empty: automatic</source>
      <translation>Plage de valeurs ramenée sur 0–255 (min,max), pour les images 16 bits ; vide : automatique</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>Classes the model may predict (FLAIR codes, comma-separated); empty: automatic</source>
      <translation>Classes que le modèle peut prédire (codes FLAIR, séparés par des virgules) ; vide : automatique</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>VALUE_RANGE: give two numbers, min,max (e.g. 0,4095), not '{}'</source>
      <translation>VALUE_RANGE : donnez deux nombres, min,max (par ex. 0,4095), et non « {} »</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>{}: {} is not a raster file; save it as a GeoTIFF (or build a VRT of its tiles) first</source>
      <translation>{} : {} n'est pas un fichier raster ; enregistrez-le d'abord en GeoTIFF (ou construisez un VRT de ses dalles)</translation>
    </message>
    <message>
      <location filename="../algorithms/segment.py" />
      <source>{}: '{}' is not a comma-separated list of numbers</source>
      <translation>{} : « {} » n'est pas une liste de nombres séparés par des virgules</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Train land-cover model (FLAIR)</source>
      <translation>Entraîner un modèle d'occupation du sol (FLAIR)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Trains a segmentation model on your labelled patches: from scratch, by fine-tuning a pretrained IGNF FLAIR model, or resuming an interrupted run.

Patches: image/label pairs of GeoTIFFs, found in the training folder at any depth in FLAIR's layout (img/IMG_&lt;id&gt;.tif with msk/MSK_&lt;id&gt;.tif, as 'Export training patches' writes) or as images/ and labels/ folders with the same file names, or listed in a FLAIR-1 CSV file (image,mask per line). Label rasters hold class codes; pixels equal to their nodata value are ignored. Unpaired files, size or CRS mismatches and label values outside the classes are reported with the files concerned.

Classes: one row per code (code, name, weight, colour); weight 0 ignores a class; empty, FLAIR's 19 classes. Validation: a separate folder or list, or a seeded random fraction of the training patches. Training is seeded (reproducible on the CPU), uses flips and 90° rotations unless turned off, and stops early when the validation mIoU has not improved for PATIENCE epochs.

Outputs, in the output folder: NAME_best.pt (the best epoch's model, usable as is by 'Segment land cover' with your class names and colours), NAME_last.pt (resumable), per-epoch metrics (CSV, JSON), loss and mIoU curves and the best epoch's confusion matrix (PNG), and the lists of the training and validation patches (FLAIR-1 CSV). A warning names any class that is never predicted where it is on validation (IoU 0). Cancelling writes NAME_last.pt: give it as 'Resume from' to go on.</source>
      <translation>Entraîne un modèle de segmentation sur vos patchs annotés : à partir de zéro, en affinant un modèle FLAIR pré-entraîné de l'IGNF, ou en reprenant un entraînement interrompu.

Patchs : paires image/étiquette de GeoTIFF, trouvées à toute profondeur dans le dossier d'entraînement selon l'organisation de FLAIR (img/IMG_&lt;id&gt;.tif avec msk/MSK_&lt;id&gt;.tif, comme les écrit « Exporter des patchs d'entraînement ») ou dans des dossiers images/ et labels/ aux mêmes noms de fichiers, ou listées dans un fichier CSV de FLAIR-1 (image,masque par ligne). Les rasters d'étiquettes contiennent des codes de classe ; les pixels égaux à leur valeur nodata sont ignorés. Les fichiers sans paire, les différences de taille ou de SCR et les valeurs d'étiquette hors des classes sont signalés avec les fichiers en cause.

Classes : une ligne par code (code, nom, poids, couleur) ; un poids 0 ignore une classe ; vide, les 19 classes de FLAIR. Validation : un dossier ou une liste à part, ou une fraction aléatoire (graine fixée) des patchs d'entraînement. L'entraînement a une graine fixée (reproductible sur le CPU), utilise des retournements et des rotations de 90° sauf si on les désactive, et s'arrête tôt quand le mIoU de validation ne s'est pas amélioré depuis PATIENCE époques.

Sorties, dans le dossier de sortie : NAME_best.pt (le modèle de la meilleure époque, utilisable tel quel par « Segmenter l'occupation du sol » avec vos noms et couleurs de classes), NAME_last.pt (pour reprendre), les métriques par époque (CSV, JSON), les courbes de perte et de mIoU et la matrice de confusion de la meilleure époque (PNG), et les listes des patchs d'entraînement et de validation (CSV de FLAIR-1). Un avertissement nomme toute classe jamais prédite là où elle est en validation (IoU 0). Annuler écrit NAME_last.pt : donnez-le comme « Reprendre depuis » pour continuer.</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Training patches folder</source>
      <translation>Dossier des patchs d'entraînement</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Training patches list (FLAIR-1 CSV)</source>
      <translation>Liste des patchs d'entraînement (CSV FLAIR-1)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Validation patches folder</source>
      <translation>Dossier des patchs de validation</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Validation patches list (FLAIR-1 CSV)</source>
      <translation>Liste des patchs de validation (CSV FLAIR-1)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Fraction held out for validation (without validation patches)</source>
      <translation>Fraction réservée à la validation (sans patchs de validation)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Classes (code, name, weight, colour); empty: FLAIR's 19</source>
      <translation>Classes (code, nom, poids, couleur) ; vide : les 19 de FLAIR</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Start from</source>
      <translation>Partir de</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Start from the weights of a checkpoint file</source>
      <translation>Partir des poids d'un fichier checkpoint</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Resume from a last checkpoint (NAME_last.pt)</source>
      <translation>Reprendre depuis un dernier checkpoint (NAME_last.pt)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Architecture (from scratch)</source>
      <translation>Architecture (à partir de zéro)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Encoder (from scratch)</source>
      <translation>Encodeur (à partir de zéro)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Image bands, comma-separated (empty: the first ones the model takes)</source>
      <translation>Bandes de l'image, séparées par des virgules (vide : les premières que prend le modèle)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Epochs</source>
      <translation>Époques</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Batch size (patches)</source>
      <translation>Taille de lot (patchs)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Random crop size for training (px, multiple of 32; empty: whole patches)</source>
      <translation>Taille du recadrage aléatoire à l'entraînement (px, multiple de 32 ; vide : patchs entiers)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Early stopping: epochs without a better validation mIoU (0: never stop early)</source>
      <translation>Arrêt anticipé : époques sans meilleur mIoU de validation (0 : jamais)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Random seed</source>
      <translation>Graine aléatoire</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Learning rate (empty: 0.001 AdamW, 0.02 SGD)</source>
      <translation>Taux d'apprentissage (vide : 0,001 AdamW, 0,02 SGD)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Optimiser</source>
      <translation>Optimiseur</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Learning-rate schedule</source>
      <translation>Calendrier du taux d'apprentissage</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Weight decay</source>
      <translation>Décroissance des poids</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Weight the loss by the class weights</source>
      <translation>Pondérer la perte par les poids des classes</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Augment with flips and 90° rotations</source>
      <translation>Augmenter par retournements et rotations de 90°</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Centre crops near a pixel of a class drawn among those of the patch (rare classes seen more)</source>
      <translation>Centrer les découpes près d’un pixel d’une classe tirée parmi celles de la vignette (classes rares vues plus souvent)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Custom means, one per band</source>
      <translation>Moyennes personnalisées, une par bande</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Model name (file names)</source>
      <translation>Nom du modèle (noms des fichiers)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Output folder</source>
      <translation>Dossier de sortie</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Best checkpoint</source>
      <translation>Meilleur checkpoint</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Last checkpoint (resumable)</source>
      <translation>Dernier checkpoint (pour reprendre)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Per-epoch metrics (CSV)</source>
      <translation>Métriques par époque (CSV)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Per-epoch metrics (JSON)</source>
      <translation>Métriques par époque (JSON)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Loss and mIoU curves (PNG)</source>
      <translation>Courbes de perte et de mIoU (PNG)</translation>
    </message>
    <message>
      <location filename="../algorithms/train.py" />
      <source>Best validation mIoU</source>
      <translation>Meilleur mIoU de validation</translation>
    </message>
    <message>
      <location filename="../algorithms/zone_layers.py" />
      <source>Zones: the layer has no field '{}'; choose one of {}</source>
      <translation>Zones : la couche n'a pas de champ « {} » ; choisissez parmi {}</translation>
    </message>
  </context>
</TS>
