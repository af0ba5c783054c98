/**
 * Entry point of the snapshot benchmark for `npm run bench`: runs snapshots-main.ts in a child Node
 * with the `vireo-source` export condition (workspace packages are imported from source).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const main = fileURLToPath(new URL('./snapshots-main.ts', import.meta.url));
const result = spawnSync(process.execPath, ['--conditions=vireo-source', '--import', 'tsx', main], {
  stdio: 'inherit',
  env: process.env,
});
process.exitCode = result.status ?? 1;
