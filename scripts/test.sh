#!/usr/bin/env bash
# Install, build, and run every test: unit, integration, interop and man page checks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
ctest --preset default -j"$(nproc)" "$@"
