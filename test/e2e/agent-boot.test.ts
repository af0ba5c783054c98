import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AgentProcess,
  ensureAgentBinary,
  runAgentCommand,
  spawnAgent,
  stopProcess,
} from '../../packages/agent/test/support/binary';
import {
  GUEST_MARKER,
  guestSpec,
  killQemusOf,
  qemuPidsFor,
  testGuest,
  waitForText,
} from '../../packages/agent/test/support/guest';

const VM_ID = '7d000000-0000-4000-8000-000000000001';

/**
 * The `vireo-agent` binary as an operator uses it: a dev CA, `serve`, and the local `vm` commands
 * over mTLS, driving the test guest from boot to ACPI power-off.
 */
describe('vireo-agent binary: boot and ACPI shutdown', () => {
  let dir: string;
  let agent: AgentProcess | undefined;
  let common: string[];

  beforeAll(async () => {
    await ensureAgentBinary();
    dir = await mkdtemp(join(tmpdir(), 'vae-'));
  });

  afterAll(async () => {
    if (agent) await stopProcess(agent.proc, 'SIGKILL');
    await killQemusOf([VM_ID]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('creates a development CA with private keys only root can read', async () => {
    await runAgentCommand(['dev-ca', '--state-dir', dir]);
    for (const key of ['ca-key.pem', 'agent-key.pem', 'client-key.pem']) {
      expect(statSync(join(dir, 'tls', key)).mode & 0o777).toBe(0o600);
    }
    // A second run must not silently replace the CA that issued the existing certificates.
    await expect(runAgentCommand(['dev-ca', '--state-dir', dir])).rejects.toThrow(/refusing to overwrite/);
  });

  it('serves, starts the test guest, and its marker appears on the serial console', async () => {
    agent = await spawnAgent([
      '--state-dir',
      dir,
      '--listen',
      '127.0.0.1:0',
      '--accel',
      'tcg',
      '--image-dir',
      testGuest().dir,
    ]);
    common = ['--state-dir', dir, '--connect', agent.address];
    const specFile = join(dir, 'spec.json');
    await writeFile(specFile, JSON.stringify(guestSpec(VM_ID, 'e2e-boot')));
    const started = JSON.parse(await runAgentCommand(['vm', 'start', specFile, ...common]));
    expect(started).toMatchObject({ id: VM_ID, state: 'up', name: 'e2e-boot' });
    expect(await qemuPidsFor(VM_ID)).toEqual([started.pid]);
    const log = await waitForText(started.serial.log, GUEST_MARKER, 60_000);
    expect(log).toMatch(/VIREO-TEST-GUEST kernel: \S+/);

    const list = await runAgentCommand(['vm', 'list', ...common]);
    expect(list).toMatch(new RegExp(`${VM_ID}\\s+e2e-boot\\s+up\\s+started\\s+${started.pid}`));
  });

  it('shuts the guest down over ACPI, then forgets it', async () => {
    const result = JSON.parse(await runAgentCommand(['vm', 'shutdown', VM_ID, '--timeout', '60', ...common]));
    expect(result).toMatchObject({ forced: false, vm: { state: 'down', reason: 'guest_shutdown' } });
    expect(await qemuPidsFor(VM_ID)).toEqual([]);
    await runAgentCommand(['vm', 'destroy', VM_ID, ...common]);
    expect(existsSync(join(dir, 'vms', VM_ID))).toBe(false);
  });

  it('stops cleanly on SIGTERM', async () => {
    expect(await stopProcess(agent!.proc, 'SIGTERM')).toBe(0);
    agent = undefined;
    expect(existsSync(join(dir, 'agent.lock'))).toBe(false);
  });
});
