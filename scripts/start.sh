#!/usr/bin/env bash
# `npm start`: the all-in-one platform on this machine (engine + embedded PostgreSQL + local host).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_debian_packages
ensure_node_modules
build_binaries
step "Starting vireo-engine"
exec node packages/engine/dist/vireo-engine.js start "$@"
