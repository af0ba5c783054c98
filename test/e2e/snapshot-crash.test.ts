import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { guestShell, killQemusOf, qemuPidsFor } from '../../packages/agent/test/support/guest';
import { bootGuestVm, createGuestVm, stopGuestVm } from '../support/guest-vms';
import { type ApiAnswer, type Platform, startPlatform, until } from '../support/platform';
import { testGuest } from '../support/test-guest';

const run = promisify(execFile);
const MARK = 'VIREO-SNAPCRASH-MARK';

/**
 * The engine is SIGKILLed in the middle of a live snapshot: the agent has switched the running
 * guest to the new overlay, but the engine has not recorded it yet (a test-only knob,
 * `VIREO_TEST_SNAPSHOT_RECORD_DELAY_MS`, holds it in that window). After the restart the
 * `vm.snapshot` operation fails (`engine_restarted`), the snapshot reconciler asks the agent what
 * the VM runs on and completes the snapshot; the guest stays up on that chain, the chain is clean,
 * and a stop + start through the engine (which opens the volumes the database names) still shows
 * what the guest wrote into the overlay after the switch.
 */
describe('engine SIGKILL during a live snapshot (engine + agent + QEMU)', () => {
  let platform: Platform | undefined;
  let vmId: string | undefined;
  let domain: { id: string; parent: string };
  const api = () => (platform as Platform).api;
  const call = (method: string, p: string, body?: unknown) => api().call(method, p, body);
  const settled = (res: ApiAnswer, waitS = 120) => api().settled(res, waitS);
  const vmDir = () => join((platform as Platform).dir, 'vms', vmId as string);

  beforeAll(async () => {
    platform = await startPlatform({
      prefix: 'vireo-snapcrash-',
      hostName: 'snapcrash-host',
      engineEnv: {
        VIREO_ISO_DIR: testGuest.dir,
        VIREO_TEST_SNAPSHOT_RECORD_DELAY_MS: '600000',
        VIREO_SNAPSHOT_RECONCILE_MS: '2000',
      },
      agentImageDirs: [testGuest.dir],
    });
    domain = await platform.addLocalDataDomain('snapcrash-data');
  }, 180_000);

  afterAll(async () => {
    if (vmId) await killQemusOf([vmId]);
    await platform?.stop();
  });

  it('completes the snapshot the VM already runs on; the database and QEMU agree', async () => {
    const p = platform as Platform;
    // Plain: the test inspects the chain with qemu-img, which has no key (encrypted-snapshots.test.ts
    // covers encrypted chains).
    const created = await createGuestVm(p, {
      name: 'snapcrash-vm',
      storageDomainId: domain.id,
      encrypted: false,
    });
    vmId = created.id as string;
    const diskId = created.disks[0].id as string;
    const diskDir = join(domain.parent, domain.id, 'images', diskId);
    await bootGuestVm(p, vmId);
    const [frozen] = readdirSync(diskDir);

    const taken = await call('POST', `/vms/${vmId}/snapshots`, { description: 'crash' });
    expect(taken.status, JSON.stringify(taken.json)).toBe(202);
    const sid = taken.json.snapshot.id as string;
    const opId = taken.json.operation.id as string;
    // The agent answered (the guest runs on the overlay); the engine waits before recording it.
    await until(
      'the snapshot switched, not yet recorded',
      async () => (await call('GET', `/operations/${opId}`)).json.progress >= 0.9,
      120_000,
    );
    const overlay = readdirSync(diskDir).find((f) => f !== frozen) as string;
    expect(overlay).toMatch(/^[0-9a-f-]{36}$/);
    // Written now, it lands in the overlay only.
    await guestShell(
      join(vmDir(), 'serial.sock'),
      `echo ${MARK} | dd of=/dev/vda bs=512 seek=4096 conv=fsync 2>/dev/null`,
      60_000,
    );
    const qemuPid = (await qemuPidsFor(vmId))[0];

    // SIGKILL, and a restart without the knob (later snapshots are recorded at once).
    const engine = await p.engine.restart('SIGKILL', {
      env: {
        VIREO_HOST_HEARTBEAT_MS: '300',
        VIREO_ISO_DIR: testGuest.dir,
        VIREO_SNAPSHOT_RECONCILE_MS: '2000',
      },
    });
    p.engine = engine;
    api().engine = engine;
    await api().login();

    const snapshot = await until(
      'the snapshot settled',
      async () => {
        const s = await call('GET', `/vms/${vmId}/snapshots/${sid}`);
        return s.status === 200 && s.json.state !== 'creating' ? s.json : undefined;
      },
      180_000,
    );
    expect(snapshot.state).toBe('ok');
    expect(snapshot.disks).toMatchObject([{ disk_id: diskId, volume_id: frozen }]);
    const op = (await call('GET', `/operations/${opId}`)).json;
    expect(op).toMatchObject({ state: 'failed', error: { code: 'engine_restarted' } });
    const events = (await call('GET', `/events?kind=vm.snapshot_recovered&object_id=${vmId}`)).json.items;
    expect(events[0]?.details).toMatchObject({ snapshot_id: sid, outcome: 'completed', observed: 'qemu' });

    // QEMU never stopped and runs on overlay → frozen, which is what the database now says.
    expect(await qemuPidsFor(vmId)).toEqual([qemuPid]);
    const vm = (await call('GET', `/vms/${vmId}`)).json;
    expect(vm.state).toBe('up');
    expect((await call('GET', `/disks/${diskId}`)).json).toMatchObject({ volumes: 2, state: 'ok' });
    const { stdout } = await run('qemu-img', [
      'info',
      '-U',
      '--backing-chain',
      '--output=json',
      '-f',
      'qcow2',
      join(diskDir, overlay),
    ]);
    expect((JSON.parse(stdout) as { filename: string }[]).map((l) => l.filename)).toEqual([
      join(diskDir, overlay),
      join(diskDir, frozen as string),
    ]);
    for (const f of [overlay, frozen as string]) {
      const check = await run('qemu-img', ['check', '-U', '--output=json', '-f', 'qcow2', join(diskDir, f)]);
      expect(JSON.parse(check.stdout)['check-errors']).toBe(0);
    }

    // A cold start opens the volumes the database names: the bytes written after the switch are there.
    await stopGuestVm(p, vmId);
    await bootGuestVm(p, vmId);
    const read = await guestShell(
      join(vmDir(), 'serial.sock'),
      'dd if=/dev/vda bs=512 skip=4096 count=1 2>/dev/null | head -c 32',
      60_000,
    );
    expect(read).toContain(MARK);
    expect(existsSync(join(diskDir, 'merge.json'))).toBe(false);
    await settled(await call('POST', `/vms/${vmId}/stop`));
  }, 600_000);
});
