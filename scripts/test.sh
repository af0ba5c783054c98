#!/usr/bin/env bash
# `npm test`: installs everything the suite needs, then runs all of it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_debian_packages
ensure_node_modules
build_binaries
step "Test guest (cached in .cache/test-guest)"
bash scripts/build-test-guest.sh
bash scripts/build-seal-appliance.sh
step "Type check"
npx tsc -p tsconfig.json --noEmit
npx tsc -p packages/web/tsconfig.json --noEmit
step "Lint"
npx biome check .
step "Tests"
npx vitest run "$@"
