import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DeployError } from './errors';
import type { DeployLog } from './log';
import { sha256File } from './payload';
import { type SshSession, sh } from './ssh';

/**
 * The template seal appliance (ADR 030) travels with an SSH deploy: the engine's machine has the
 * kernel and initramfs (`scripts/build-seal-appliance.sh`, run by `npm start` and `npm test`), the
 * deploy copies them into the agent's `seal_dir` and verifies them there. A host deployed from an
 * engine without them still works; it reports sealing unavailable in its capabilities.
 */

/** The files of the appliance, as the agent looks for them in its `seal_dir`. */
export const SEAL_APPLIANCE_FILES = ['vmlinuz', 'seal-appliance.initrd'] as const;

/** The appliance on the engine's machine, with the checksums the host verifies. */
export interface SealApplianceSource {
  dir: string;
  files: Array<{ name: (typeof SEAL_APPLIANCE_FILES)[number]; path: string; sha256: string }>;
}

/** What the deploy did with the appliance (kept in the deploy result and log). */
export type SealApplianceInstall = 'installed' | 'unchanged' | 'unavailable';

/**
 * Finds the appliance on the engine's machine: in `dir` when given (`VIREO_SEAL_APPLIANCE_DIR`),
 * else in the `.cache/test-guest` of the checkout above `near` (the agent bundle's path), where the
 * build script puts it. `undefined` when either file is missing.
 */
export async function findSealApplianceSource(opts: {
  dir?: string;
  near?: string;
}): Promise<SealApplianceSource | undefined> {
  const candidates: string[] = [];
  if (opts.dir) candidates.push(resolve(opts.dir));
  else if (opts.near) {
    for (let dir = resolve(opts.near), i = 0; i < 8; i++) {
      candidates.push(join(dir, '.cache', 'test-guest'));
      if (dirname(dir) === dir) break;
      dir = dirname(dir);
    }
  }
  for (const dir of candidates) {
    if (!SEAL_APPLIANCE_FILES.every((name) => existsSync(join(dir, name)))) continue;
    const files = [];
    for (const name of SEAL_APPLIANCE_FILES) {
      const path = join(dir, name);
      files.push({ name, path, sha256: await sha256File(path) });
    }
    return { dir, files };
  }
  return undefined;
}

/**
 * Copies the appliance into `sealDir` on the host over the deploy's SSH session. Each file goes to
 * a hidden partial name, is checked with `sha256sum` on the host, and only then renamed into place,
 * with a `SHA256SUMS` beside them; a re-deploy whose files already verify against the same sums
 * copies nothing. Without a source the host keeps whatever it has (the agent reports it).
 */
export async function installSealAppliance(
  ssh: SshSession,
  source: SealApplianceSource | undefined,
  sealDir: string,
  deps: { log: DeployLog; makeDir: (dir: string) => Promise<void> },
): Promise<SealApplianceInstall> {
  const { log } = deps;
  if (!source) {
    log.warn(
      'seal appliance: the engine has none (run scripts/build-seal-appliance.sh on the engine machine and deploy again); this host cannot seal templates',
    );
    return 'unavailable';
  }
  const sums = source.files.map((f) => `${f.sha256}  ${f.name}`).join('\n');
  const dir = sh(sealDir);
  const current = await ssh.exec(
    `cd ${dir} 2>/dev/null && [ "$(cat SHA256SUMS 2>/dev/null)" = ${sh(sums)} ] && sha256sum -c --quiet --strict SHA256SUMS >/dev/null 2>&1 && echo current`,
  );
  if (current.stdout.trim() === 'current') {
    log.info(`seal appliance in ${sealDir} is up to date (checksums verified on the host)`);
    return 'unchanged';
  }
  await deps.makeDir(sealDir);
  const partial = (name: string) => `.${name}.partial`;
  try {
    for (const f of source.files) await ssh.upload(f.path, `${sealDir}/${partial(f.name)}`, 0o644);
    const partialSums = source.files.map((f) => `${f.sha256}  ${partial(f.name)}`).join('\n');
    const moves = source.files.map((f) => `mv -f ${sh(partial(f.name))} ${sh(f.name)}`).join('; ');
    const placed = await ssh.exec(
      `set -e; cd ${dir}; printf '%s\\n' ${sh(partialSums)} | sha256sum -c --quiet --strict -; ${moves}; ` +
        `printf '%s\\n' ${sh(sums)} > .SHA256SUMS.partial; mv -f .SHA256SUMS.partial SHA256SUMS`,
    );
    if (placed.code !== 0) {
      throw new DeployError(
        'agent_start_failed',
        `the seal appliance copied to ${sealDir} does not match its checksums: ${placed.stderr.trim().split('\n').slice(-3).join(' | ')}`,
        { details: { reason: 'seal_appliance_checksum' } },
      );
    }
  } finally {
    const names = [...source.files.map((f) => partial(f.name)), '.SHA256SUMS.partial'];
    // Best effort: when the session itself broke, the error that broke it is the one to report.
    await ssh.exec(`cd ${dir} 2>/dev/null && rm -f ${names.map(sh).join(' ')}`).catch(() => undefined);
  }
  log.info(
    `seal appliance copied to ${sealDir} and verified on the host (${source.files.map((f) => `${f.name} sha256 ${f.sha256.slice(0, 12)}…`).join(', ')})`,
  );
  return 'installed';
}
