#!/usr/bin/env bash
# Builds the Debian bookworm base image that experiment images start FROM, from Debian packages only (no Docker
# Hub): mmdebstrap writes a minimal root filesystem, `podman import` (or `docker import`) turns it into an image.
# The image carries a label with the digest of its package list and is re-imported only when that list changes.
# Prints the image reference. A team with a registry points PITLANE_BASE_IMAGE at its own base instead.
#
#   scripts/base-image.sh [REF]     (default: $PITLANE_BASE_IMAGE, else localhost/pitlane-base:bookworm)
#   PITLANE_BASE_PACKAGES="python3 python3-venv git ca-certificates"  the packages (space separated)
#   PITLANE_DEBIAN_MIRROR=http://deb.debian.org/debian                   where the packages come from
set -euo pipefail
ref=${1:-${PITLANE_BASE_IMAGE:-localhost/pitlane-base:bookworm}}
suite=bookworm
# python3-venv: the image installs the experiment's lock into a venv (Debian's python3 is "externally managed");
# git: the run record and DVC read the mounted repository.
packages=${PITLANE_BASE_PACKAGES:-python3 python3-venv git ca-certificates}
mirror=${PITLANE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
label=org.pitlane.base.packages

if command -v podman >/dev/null 2>&1; then
  engine=(podman)
elif command -v docker >/dev/null 2>&1 && docker version >/dev/null 2>&1; then
  engine=(docker)
else
  echo "base-image: no container runtime (install podman: scripts/system-deps.sh)" >&2
  exit 1
fi
command -v mmdebstrap >/dev/null 2>&1 || { echo "base-image: mmdebstrap missing (scripts/system-deps.sh)" >&2; exit 1; }

sorted=$(tr ' ' '\n' <<<"$packages" | sed '/^$/d' | sort -u)
key=$(printf '%s\n%s\n%s\n' "$suite" "$mirror" "$sorted" | sha256sum | cut -c1-16)
have=$("${engine[@]}" image inspect --format "{{ index .Config.Labels \"$label\" }}" "$ref" 2>/dev/null || true)
if [ "$have" = "$key" ]; then
  echo "$ref"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "base-image: building $ref from Debian $suite ($(tr '\n' ' ' <<<"$sorted"))" >&2
# The mirror is named explicitly: without one, mmdebstrap reads sources from stdin when it is not a terminal.
mmdebstrap --quiet --variant=minbase --include="$(paste -sd, <<<"$sorted")" \
  --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
  "$suite" "$tmp/rootfs.tar" "$mirror" </dev/null
"${engine[@]}" import --change "LABEL $label=$key" --change 'CMD ["python3"]' "$tmp/rootfs.tar" "$ref" >/dev/null
echo "$ref"
