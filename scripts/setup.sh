#!/usr/bin/env bash
# Installs the Debian packages Skiff builds against, if any are missing. Idempotent; uses sudo only
# when not root. Swift itself must already be on PATH (a Debian machine with Swift).
#   --tests  also what the test suite drives: headless Chromium (upload page), Python's websocket-client and
#            moto_server (a real S3-compatible server for the upload tests), PostgreSQL's server binaries (the
#            record sink's tests run their own throwaway cluster on loopback)
set -euo pipefail

packages=(pkg-config zlib1g-dev libpng-dev libhdf5-dev libprotobuf-c-dev protobuf-c-compiler libzstd-dev libturbojpeg0-dev libopenblas-dev)
tests=0
[ "${1:-}" = "--tests" ] && tests=1
[ $tests -eq 1 ] && packages+=(chromium postgresql docker-registry skopeo umoci bubblewrap apache2-utils)

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

need=()
if [ $tests -eq 1 ]; then
  # The browser test drives Chromium over DevTools; the S3 tests run a real S3-compatible server (moto) on loopback.
  python3 -c "import websocket" >/dev/null 2>&1 || need=(websocket-client==1.8.0)
  command -v moto_server >/dev/null 2>&1 && python3 -c "import boto3" >/dev/null 2>&1 || need+=("moto[server]==5.2.1")
  if [ ${#need[@]} -gt 0 ]; then
    echo "setup: installing ${need[*]} (Python) for the tests" >&2
    python3 -m pip install --quiet --disable-pip-version-check "${need[@]}"
  fi
fi
