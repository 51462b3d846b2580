# FLAIR for QGIS — developer lifecycle. `make setup` then `make test` (see README.md).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
# The venv's site-packages, asked from the venv (its Python version is whatever QGIS's is).
SITE = $(shell $(PY) -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# numpy stays the one QGIS's Python ships (its GDAL and QGIS bindings are built against it: 1.x on
# Debian 12, 2.x on Debian 13), as flair:installdependencies keeps it: pinned while pip resolves.
SYSTEM_CONSTRAINTS := build/system-constraints.txt
APT_PACKAGES := qgis python3-qgis qgis-providers gdal-bin python3-gdal python3-venv xvfb qttools5-dev-tools
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)
PLUGIN_NAME := flair_for_qgis
# qgis_process finds the plugin through QGIS_PLUGINPATH, a folder holding a folder of that name.
PLUGIN_PATH := $(CURDIR)/build/plugins
QGIS_ENV = QT_QPA_PLATFORM=offscreen QGIS_PLUGINPATH=$(PLUGIN_PATH) PYTHONPATH=$(SITE)
EXAMPLE_OUT ?= $(CURDIR)/build/parking_landcover.tif

.PHONY: setup system test test-core test-debian13 run plugin-link styles lint clean bench bench-engine bench-change bench-flair-detect gpu-wheels package translations models docs screenshots

setup: system $(VENV)/.installed plugin-link  ## install QGIS (apt) and the Python packages (venv)

system:
	@missing=$$(for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages: $$missing"; \
	  $(SUDO) apt-get update -q && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt
	[ -x $(PY) ] || /usr/bin/python3 -m venv --system-site-packages $(VENV)
	mkdir -p build && /usr/bin/python3 -c "import numpy; print('numpy==' + numpy.__version__)" > $(SYSTEM_CONSTRAINTS)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt -c $(SYSTEM_CONSTRAINTS)
	touch $@

plugin-link:
	@mkdir -p $(PLUGIN_PATH) && ln -sfn $(CURDIR) $(PLUGIN_PATH)/$(PLUGIN_NAME)

test: lint  ## ruff, then the whole suite, headless; fails (never skips) where QGIS or qgis_process is missing
	FLAIR_REQUIRE_QGIS=1 QT_QPA_PLATFORM=offscreen $(PY) -m pytest

test-debian13:  ## make setup + make test inside a Debian 13 root (QGIS 3.40, Python 3.13, numpy 2), built once under build/
	mkdir -p build && tools/test_debian13.sh 2>&1 | tee build/test-debian13.log; exit $${PIPESTATUS[0]}

test-core:  ## only the tests that need no QGIS
	$(PY) -m pytest -m "not qgis"

run: plugin-link  ## segment the bundled example through qgis_process (downloads the model once)
	$(QGIS_ENV) /usr/bin/qgis_process.bin plugins enable $(PLUGIN_NAME) >/dev/null
	$(QGIS_ENV) /usr/bin/qgis_process.bin run flair:segment -- \
	  INPUT=$(CURDIR)/examples/parking_mosaic.tif MODEL=FLAIR-INC_rgb_15cl_resnet34-unet \
	  OUTPUT=$(EXAMPLE_OUT)

bench:  ## flair-detect-like vs PyTorch vs OpenVINO, 3 models: speed, efficiency, start-up, RSS, to bench/RESULTS.md (~12 min on 2 cores; BENCH_ARGS=--quick)
	$(PY) bench/suite.py $(BENCH_ARGS)

bench-engine:  ## the engine's options (presets, blend, TTA) and RSS up to 32768², appended to bench/RESULTS.md (~12 min)
	$(PY) bench/run.py $(ENGINE_BENCH_ARGS)

bench-change:  ## flair:change speed (vs numpy) and peak RSS at 4k² and 32k², appended to bench/RESULTS.md
	$(PY) bench/change_bench.py $(CHANGE_BENCH_ARGS)

# IGN's flair-detect itself, from a checkout of IGNF/FLAIR-1, in a venv layered over ours (torch, smp and
# rasterio are ours; its own requirements added at versions that keep our numpy)
FLAIR1 ?= build/FLAIR-1
FLAIR1_VENV := build/flair1-venv
FLAIR1_REQUIREMENTS := geopandas==0.14.4 pandas==2.1.4 "shapely<2.1" pytorch-lightning==2.1.1 transformers==4.50.3 \
  scikit-image tqdm
bench-flair-detect:  ## IGN's flair-detect vs python -m flair_qgis detect on one config: wall, RSS, agreement, to bench/RESULTS.md (~5 min; FLAIR1=checkout)
	test -d $(FLAIR1)/src/zone_detect || git clone --depth 1 https://github.com/IGNF/FLAIR-1 $(FLAIR1)
	test -x $(FLAIR1_VENV)/bin/python || { /usr/bin/python3 -m venv --system-site-packages $(FLAIR1_VENV) && \
	  $(PY) -c 'import site; print(site.getsitepackages()[0])' > $(FLAIR1_VENV)/ours.pth && \
	  mv $(FLAIR1_VENV)/ours.pth $$($(FLAIR1_VENV)/bin/python -c 'import site; print(site.getsitepackages()[0])')/ && \
	  $(FLAIR1_VENV)/bin/python -m pip install -q $(FLAIR1_REQUIREMENTS) \
	    "numpy==$$($(PY) -c 'import numpy; print(numpy.__version__)')"; }
	HF_HUB_OFFLINE=1 $(PY) bench/flair_detect_real.py --flair1 $(FLAIR1) --flair1-python $(FLAIR1_VENV)/bin/python $(FLAIR_DETECT_ARGS)

# The wheels bench/gpu.sh installs on a GPU machine that has python3.12, torch, timm, numpy 2… but no
# rasterio or segmentation-models-pytorch (this workplace's device; docs/development.md, "Benchmarks").
# rasterio, smp and timm at requirements.txt's tested versions; rasterio's own needs the machine lacks.
GPU_WHEELS = $(shell sed -nE 's/^(rasterio|segmentation-models-pytorch|timm)>=[^,]*,(==[^ ]*).*/\1\2/p' requirements.txt) \
  affine==2.4.0 cligj==0.7.2 click-plugins==1.1.1.2
gpu-wheels:  ## download the cp312 manylinux wheels bench/gpu.sh needs into .whl/ (ignored by git)
	mkdir -p .whl && rm -f .whl/*.whl  # one version of each: two stop the install there
	$(PY) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
	  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	  -d .whl $(GPU_WHEELS)
	@du -sh .whl; ls .whl

styles:  ## regenerate resources/styles/*.qml from resources/palettes.json
	$(PY) -c "from flair_qgis.palette import palette, palette_names, write_qml; \
	  [write_qml(__import__('pathlib').Path('resources/styles')/f'{n}.qml', palette(n)) for n in palette_names()]"

package:  ## the installable plugin ZIP: dist/flair_for_qgis-<version>.zip (DIST=folder to put it elsewhere)
	$(if $(wildcard $(PY)),$(PY),python3) tools/package.py $(if $(DIST),--output $(DIST))  # standard library only: no .venv needed

translations:  ## update i18n/flair_fr.ts from the code's tr() strings and compile i18n/flair_fr.qm (lrelease)
	$(PY) tools/i18n.py

models:  ## regenerate the graphical models shipped in resources/models/
	QT_QPA_PLATFORM=offscreen $(PY) tools/make_models.py

docs:  ## docs/algorithms.md and README.md's algorithm list from the algorithms' help; docs/models.md's table from the zoo
	QT_QPA_PLATFORM=offscreen $(PY) docs/algorithms.py

screenshots: plugin-link  ## docs/screenshot_*.png from a real QGIS desktop under Xvfb (xvfb-run)
	$(PY) docs/screenshots.py

lint:  ## ruff with ruff.toml (pinned in requirements-dev.txt)
	$(PY) -m ruff check .

clean:  ## --one-file-system: never into /dev, /proc or /sys should a killed test-debian13 leave them bound
	rm -rf --one-file-system build dist .pytest_cache
