#!/usr/bin/env bash
# `npm run bench`: runs every bench/*.bench.ts (or those named as arguments). Benchmarks are not
# tests: each prints its figures beside its floor or target and appends them to bench/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

ensure_debian_packages
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" -ne 0 ]; then echo "the HTTP benchmark needs wrk: apt-get install wrk" >&2; exit 1; fi
  step "Installing wrk (HTTP load generator)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends wrk
fi
ensure_node_modules
build_binaries

if [ $# -gt 0 ]; then benches=("$@"); else benches=(bench/*.bench.ts); fi
for b in "${benches[@]}"; do
  step "Benchmark $b"
  npx tsx "$b"
done
step "Results appended to bench/RESULTS.md"
