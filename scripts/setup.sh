#!/usr/bin/env bash
# Installs the Debian packages Skiff builds against, if any are missing. Idempotent; uses sudo only
# when not root. Swift itself must already be on PATH (a Debian machine with Swift).
set -euo pipefail

packages=(pkg-config libhdf5-dev libprotobuf-c-dev protobuf-c-compiler libzstd-dev libturbojpeg0-dev libopenblas-dev)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "setup: 'swift' is not on PATH; install a Swift 6 toolchain first (swift.org)" >&2
  exit 1
fi
