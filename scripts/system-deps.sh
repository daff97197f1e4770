#!/usr/bin/env bash
# Debian packages the tests drive for real: chromium (Playwright), postgresql (initdb/pg_ctl), git, and the
# experiment containers: podman + runc (the build stage builds images, process and train run in them), mmdebstrap
# (scripts/base-image.sh builds the Debian base image) and docker-registry (a local OCI registry for push tests).
# The same script serves the development machines (root on Debian bookworm), CI (GitHub Actions jobs run in a
# Debian bookworm container, root inside: see docs/cicd.md) and a developer's own Debian/Ubuntu machine, where it
# asks sudo for the install when not root.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v git >/dev/null 2>&1 || need+=(git)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v podman >/dev/null 2>&1 || need+=(podman)
# crun (podman's default runtime) refuses hybrid cgroup hierarchies; Pitlane runs podman with runc when present.
command -v runc >/dev/null 2>&1 || [ -x /usr/sbin/runc ] || need+=(runc)
command -v mmdebstrap >/dev/null 2>&1 || need+=(mmdebstrap)
command -v docker-registry >/dev/null 2>&1 || [ -x /usr/bin/docker-registry ] || need+=(docker-registry)
[ ${#need[@]} -eq 0 ] && exit 0

as_root=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "missing system packages: ${need[*]} (run: sudo apt-get install -y ${need[*]})" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "missing system packages: ${need[*]} (no apt-get here: install them with your package manager)" >&2
  exit 1
fi
if grep -qi ubuntu /etc/os-release 2>/dev/null && [[ " ${need[*]} " == *" chromium "* ]]; then
  # Ubuntu's chromium package is a snap shim that does not run in CI containers or without snapd.
  echo "chromium on Ubuntu comes as a snap; run the tests in a Debian bookworm container (see docs/cicd.md)" >&2
  exit 1
fi
echo "installing system packages: ${need[*]}" >&2
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
