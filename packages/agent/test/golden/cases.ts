import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { VmSpec } from '@vireo/agent-protocol';
import type { LaunchPaths, LaunchPlan } from '../../src/qemu/argv/index';

/** Directory holding `<name>.spec.json` inputs and `<name>.argv` expected outputs. */
export const GOLDEN_DIR = new URL('.', import.meta.url).pathname;

/** A golden case file: the spec plus the host-side parts of the plan (paths default per VM). */
interface GoldenFile {
  spec: VmSpec;
  plan: Omit<LaunchPlan, 'spec' | 'paths'> & { paths?: Partial<LaunchPaths> };
}

export interface GoldenCase {
  name: string;
  plan: LaunchPlan;
  argvFile: string;
}

/** Where the agent keeps a VM's runtime files: the shape the runtime uses, fixed here for goldens. */
export function defaultPaths(vmId: string): LaunchPaths {
  const run = `/run/vireo/vms/${vmId}`;
  return {
    qmpSocket: `${run}/qmp.sock`,
    serialSocket: `${run}/serial.sock`,
    serialLog: `/var/log/vireo/vms/${vmId}/serial.log`,
    pidfile: `${run}/qemu.pid`,
  };
}

export function loadGoldenCases(): GoldenCase[] {
  return readdirSync(GOLDEN_DIR)
    .filter((f) => f.endsWith('.spec.json'))
    .sort()
    .map((file) => {
      const name = file.slice(0, -'.spec.json'.length);
      const golden = JSON.parse(readFileSync(join(GOLDEN_DIR, file), 'utf8')) as GoldenFile;
      const plan: LaunchPlan = {
        ...golden.plan,
        spec: golden.spec,
        paths: { ...defaultPaths(golden.spec.id), ...golden.plan.paths },
      };
      return { name, plan, argvFile: join(GOLDEN_DIR, `${name}.argv`) };
    });
}
