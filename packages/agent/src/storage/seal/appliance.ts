import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentError } from '../../util/errors';
import { type SealApplianceArgs, sealApplianceArgv } from './argv';
import { parseSealResult, type SealOutcome } from './result';

/** Where the appliance's kernel and initramfs are. */
export interface SealAppliancePaths {
  kernel: string;
  initrd: string;
}

const INITRD = 'seal-appliance.initrd';
const KERNEL = 'vmlinuz';

/**
 * The appliance files: in `sealDir` (the agent's `seal_dir` / `VIREO_AGENT_SEAL_DIR`, holding
 * `vmlinuz` and `seal-appliance.initrd`) when given, else in `.cache/test-guest` of the checkout the
 * agent runs from (where `scripts/build-seal-appliance.sh` puts them). `undefined` when either file
 * is missing.
 */
export function findSealAppliance(sealDir?: string): SealAppliancePaths | undefined {
  const dirs: string[] = [];
  if (sealDir) dirs.push(resolve(sealDir));
  else {
    // The bundle lives in packages/agent/dist, the sources in packages/agent/src/storage/seal.
    let dir = dirname(fileURLToPath(import.meta.url));
    for (let i = 0; i < 8; i++) {
      dirs.push(join(dir, '.cache', 'test-guest'));
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  for (const dir of dirs) {
    const paths = { kernel: join(dir, KERNEL), initrd: join(dir, INITRD) };
    if (existsSync(paths.kernel) && existsSync(paths.initrd)) return paths;
  }
  return undefined;
}

/** Whether this host can seal, and why not (reported in `host.capabilities` as `storage.seal`). */
export interface SealAvailability {
  available: boolean;
  /** Where the appliance is, or what is missing and how to get it. */
  reason: string;
}

/** {@link findSealAppliance} with a reason a person can act on when the files are missing. */
export function sealAvailability(sealDir?: string): SealAvailability {
  const found = findSealAppliance(sealDir);
  if (found) return { available: true, reason: `seal appliance in ${dirname(found.initrd)}` };
  return {
    available: false,
    reason: sealDir
      ? `no seal appliance in ${resolve(sealDir)} (${KERNEL} and ${INITRD} are needed): deploy the host again from an engine that has one (scripts/build-seal-appliance.sh on the engine's machine)`
      : `no seal appliance found (${KERNEL} and ${INITRD}): run scripts/build-seal-appliance.sh, or set seal_dir / VIREO_AGENT_SEAL_DIR`,
  };
}

/** Console output kept while waiting for the result line (the tail is what matters). */
const CONSOLE_KEEP = 64 * 1024;

/**
 * Boots the appliance on one volume and waits for its result line, killing QEMU on timeout. QEMU's
 * write lock on the image refuses a volume a running VM holds.
 */
export function runSealAppliance(
  qemuBinary: string,
  args: SealApplianceArgs,
  timeoutMs: number,
): Promise<{ outcome: SealOutcome; durationMs: number }> {
  const started = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(qemuBinary, sealApplianceArgv(args), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let settled = false;
    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn();
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(() =>
        reject(
          new AgentError('seal_failed', `the seal appliance gave no result within ${timeoutMs} ms`, {
            details: { reason: 'timeout' },
          }),
        ),
      );
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out = (out + chunk).slice(-CONSOLE_KEEP);
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      err = (err + chunk).slice(-4096);
    });
    child.on('error', (e) =>
      finish(() => reject(new AgentError('seal_failed', `cannot start ${qemuBinary}`, { cause: e }))),
    );
    // The result counts only once QEMU has exited: the appliance syncs and unmounts before printing,
    // and the image is closed (flushed) only when QEMU ends.
    child.on('close', (code, signal) => {
      const outcome = parseSealResult(out);
      finish(() => {
        if (outcome) resolvePromise({ outcome, durationMs: Date.now() - started });
        else
          reject(
            new AgentError('seal_failed', 'the seal appliance ended without a valid result', {
              details: { reason: 'no_result', exit_code: code, signal, stderr: err.trim().slice(-1024) },
            }),
          );
      });
    });
  });
}
