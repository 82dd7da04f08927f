#!/usr/bin/env bash
# Quick start: install what is needed, build, and run the daemon set in the foreground
# with examples/chat.toml (state under ./var). Stop it with Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/bin/chatd --config "${CHAT_CONFIG:-examples/chat.toml}" "$@"
