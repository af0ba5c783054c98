/**
 * Entry point of the agent benchmark for `npm run bench` (which runs `npx tsx bench/*.bench.ts`).
 * The benchmark imports workspace packages from source, which needs Node's `vireo-source` export
 * condition, so it runs in a child Node started with that condition. See agent-runtime-main.ts.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('./agent-runtime-main.ts', import.meta.url));
const result = spawnSync(process.execPath, ['--conditions=vireo-source', '--import', 'tsx', main], {
  stdio: 'inherit',
  env: process.env,
});
process.exitCode = result.status ?? 1;
