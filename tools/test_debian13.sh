#!/usr/bin/env bash
# `make test-debian13`: the project's own `make setup` and `make test` on Debian 13 (QGIS 3.40 LTR,
# Python 3.13, numpy 2, GDAL 3.10), in a Debian 13 root built once with debootstrap under build/.
#
#   tools/test_debian13.sh            build the root if needed, copy the project in, make setup + make test
#   tools/test_debian13.sh --root     only build the root (cached: build/debian13-root/.flair-root-ready)
#   tools/test_debian13.sh --run CMD  copy the project in and run CMD in it there (after make setup), e.g.
#                                     --run '.venv/bin/python -m pytest tests/test_workflows.py -x'
#
# Runs as root (debootstrap, chroot and mount need it; sudo is used otherwise). Needs the network to
# the Debian archive (the host's own mirror, from /etc/apt/sources.list*) and to PyPI, as `make setup`
# does. /proc, /dev and /sys are bound into the root while it runs and unbound on exit, whatever happens.
set -euo pipefail
HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOTFS="${DEBIAN13_ROOT:-$HERE/build/debian13-root}"
SUITE="${DEBIAN13_SUITE:-trixie}"
READY="$ROOTFS/.flair-root-ready"
PROJECT_IN=/src/flair-qgis                  # the project's copy, inside the root
PACKAGES="qgis python3-qgis qgis-providers gdal-bin python3-gdal python3-venv python3-pip xvfb xauth
          qttools5-dev-tools make git ca-certificates"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo

log() { printf '[debian13 %(%H:%M:%S)T] %s\n' -1 "$*"; }

mirror() {  # the host's Debian archive URL (deb822 .sources or one-line .list), or DEBIAN13_MIRROR
  if [ -n "${DEBIAN13_MIRROR:-}" ]; then echo "$DEBIAN13_MIRROR"; return; fi
  local url
  url=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | awk '{print $2}' | grep -E '/debian/?$' | head -1 || true)
  [ -n "$url" ] || url=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
        | awk '{for (i=2;i<=NF;i++) if ($i ~ /^https?:/) {print $i; exit}}' | grep -E '/debian/?$' | head -1 || true)
  echo "${url:-http://deb.debian.org/debian}"
}

MOUNTED=()
unmount_all() {
  local i
  for (( i=${#MOUNTED[@]}-1; i>=0; i-- )); do
    $SUDO umount "${MOUNTED[$i]}" 2>/dev/null || $SUDO umount -l "${MOUNTED[$i]}" 2>/dev/null || true
  done
  MOUNTED=()
}
trap unmount_all EXIT INT TERM

bind() {  # bind <host path> <path in the root>; `proc` mounts a fresh procfs
  local target="$ROOTFS$2"
  mkdir -p "$target"
  MOUNTED+=("$target")  # unmounted on exit, as is one an interrupted run left behind
  if mountpoint -q "$target"; then return; fi
  if [ "$1" = proc ]; then $SUDO mount -t proc proc "$target"; else $SUDO mount --bind "$1" "$target"; fi
}

in_root() {  # a command inside the root, with a clean environment (no host PIP_FIND_LINKS etc.)
  $SUDO chroot "$ROOTFS" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    DEBIAN_FRONTEND=noninteractive PIP_DEFAULT_TIMEOUT=180 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    /bin/bash -c "$1"
}

network_files() {  # pip and apt inside the root resolve and verify as the host does
  $SUDO install -D -m 644 /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    $SUDO install -D -m 644 /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
  fi
}

build_root() {
  if [ -f "$READY" ]; then log "root ready: $ROOTFS"; return; fi
  command -v debootstrap >/dev/null || { log "installing debootstrap"; $SUDO apt-get install -y -q debootstrap; }
  if [ ! -x "$ROOTFS/usr/bin/apt-get" ]; then
    local url; url=$(mirror)
    log "debootstrap $SUITE from $url into $ROOTFS"
    $SUDO rm -rf "$ROOTFS"; mkdir -p "$(dirname "$ROOTFS")"
    $SUDO debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$url"
  fi
  network_files
  # no daemons started by package scripts inside the root
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$ROOTFS/usr/sbin/policy-rc.d" >/dev/null
  $SUDO chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
  bind proc /proc; bind /dev /dev; bind /dev/pts /dev/pts; bind /sys /sys
  log "apt-get install QGIS and the tools"
  in_root "apt-get update -q && apt-get install -y -q --no-install-recommends $(echo $PACKAGES)"
  in_root "qgis_process.bin --version 2>/dev/null | head -3; python3 --version; python3 -c 'import numpy; print(\"numpy\", numpy.__version__)'" || true
  unmount_all
  $SUDO touch "$READY"
  log "root ready: $ROOTFS"
}

copy_project() {  # the working tree's tracked and new (not ignored) files; the root's .venv and build/ are kept
  local dest="$ROOTFS$PROJECT_IN"
  $SUDO mkdir -p "$dest"
  $SUDO find "$dest" -mindepth 1 -maxdepth 1 ! -name .venv ! -name build -exec rm -rf {} +
  (cd "$HERE" && git ls-files -z -co --exclude-standard | grep -zv -E '^\.venv$' \
     | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
     | tar --null -T - -cf -) | $SUDO tar -xf - -C "$dest"
}

main() {  # a function: bash reads it whole before running it, so editing this file mid-run is safe
  build_root
  [ "${1:-}" = "--root" ] && return 0
  network_files
  copy_project
  bind proc /proc; bind /dev /dev; bind /dev/pts /dev/pts; bind /dev/shm /dev/shm; bind /sys /sys
  local start=$SECONDS
  log "make setup"
  in_root "cd $PROJECT_IN && make setup"
  log "make setup took $(( SECONDS - start )) s"
  start=$SECONDS
  if [ "${1:-}" = "--run" ]; then
    in_root "cd $PROJECT_IN && export QT_QPA_PLATFORM=offscreen FLAIR_REQUIRE_QGIS=1 && ${2:?--run needs a command}"
  else
    in_root "cd $PROJECT_IN && make test"
    log "make test took $(( SECONDS - start )) s"
  fi
}

main "$@"
exit $?
