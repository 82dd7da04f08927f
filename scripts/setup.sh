#!/usr/bin/env bash
# Installs every Debian 12 package that the build, the daemons and the tests need.
# Idempotent: packages already present are left alone. Run as root (or with sudo).
set -euo pipefail

packages=(
  # build
  g++ cmake make pkg-config clang-format
  # libraries
  libcli11-dev libevent-dev librocksdb-dev libmsgpack-cxx-dev libtomlplusplus-dev
  nlohmann-json3-dev libnats-dev libssl-dev libsystemd-dev zlib1g-dev
  # the bus and storage tools
  nats-server rocksdb-tools
  # tests: Catch2, man page lint, Python clients for the integration tests
  catch2 mandoc python3 python3-websocket procps curl
  # interop tests: discord.py 2.2.2 from Debian (discord.js comes from npm, see below)
  python3-discord
)
# Node.js and npm for the discord.js interop tests, unless a node with npm is already
# installed (another packaging of Node.js, e.g. one that bundles npm, must not be replaced).
if ! command -v npm >/dev/null 2>&1; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
