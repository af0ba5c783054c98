#!/usr/bin/env bash
# `npm start`: the all-in-one platform on this machine (engine + embedded PostgreSQL + local agent).
# Settings come from the environment (VIREO_DATA_DIR, VIREO_LISTEN, VIREO_ADMIN_PASSWORD on the
# first start, …; see docs/configuration.md). Ctrl-C stops the engine and its PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

node_ok=$(node -e 'const [a,b]=process.versions.node.split(".").map(Number); console.log(a>20||(a===20&&b>=18)?1:0)' 2>/dev/null || echo 0)
if [ "$node_ok" != 1 ]; then
  echo "Vireo needs Node.js 20.18 or newer (found: $(node --version 2>/dev/null || echo none))" >&2
  exit 1
fi

ensure_debian_packages
ensure_node_modules
build_binaries
# Template sealing boots a tiny appliance VM (ADR 030); built once from Debian's kernel package and
# cached. Without it the platform still starts and `seal: true` answers 409 seal_unavailable.
step "Seal appliance (cached in .cache/test-guest)"
bash scripts/build-seal-appliance.sh || echo "warning: the seal appliance could not be built; templates cannot be sealed" >&2

if [ "$(id -u)" -eq 0 ]; then default_data=/var/lib/vireo; else default_data="${XDG_DATA_HOME:-$HOME/.local/share}/vireo"; fi
data_dir="${VIREO_DATA_DIR:-$default_data}"
if [ -f "$data_dir/engine.conf" ]; then
  step "Starting vireo-engine (data directory $data_dir; Ctrl-C stops it)"
else
  step "First start: setting up vireo-engine in $data_dir, then starting it (Ctrl-C stops it)"
fi
# All-in-one: the engine enrolls this machine's own agent (127.0.0.1, Default cluster) and supervises
# it, so one machine is a complete platform. VIREO_LOCAL_HOST=0 runs the engine alone.
export VIREO_LOCAL_HOST="${VIREO_LOCAL_HOST:-1}"
exec node packages/engine/dist/vireo-engine.js start "$@"
