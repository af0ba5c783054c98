import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VmSpec } from '@vireo/agent-protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentRpcClient } from '../src/rpc/client';
import { type AgentFixture, startTestAgent } from './support/agent';
import { guestSpec, killQemusOf, qemuPidsFor } from './support/guest';

const RUNNING_ID = '7a000000-0000-4000-8000-000000000001';
let n = 0x100;
const freshId = () => `7a000000-0000-4000-8000-000000000${(n++).toString(16)}`;

/**
 * Hostile or broken specs must fail with a coded error and leave nothing behind: no QEMU, no state
 * directory, no tap, and the VM that was already running untouched.
 */
describe('vm.start with bad specs', () => {
  let fx: AgentFixture;
  let rpc: AgentRpcClient;
  let outside: string;
  const ids: string[] = [RUNNING_ID];

  beforeAll(async () => {
    fx = await startTestAgent();
    rpc = await fx.connect();
    outside = await mkdtemp(join(tmpdir(), 'vat-outside-'));
    // A running VM to collide with (paused at once: it only has to exist).
    await rpc.call('vm.start', { spec: guestSpec(RUNNING_ID, 'running-one') });
    await rpc.call('vm.pause', { vm_id: RUNNING_ID });
  });

  afterAll(async () => {
    await rpc?.call('vm.destroy', { vm_id: RUNNING_ID }).catch(() => undefined);
    await killQemusOf(ids);
    await fx?.dispose();
    if (outside) await rm(outside, { recursive: true, force: true });
  });

  async function expectRefused(
    spec: unknown,
    code: string,
    detailsPath?: string,
  ): Promise<{ message: string }> {
    const id = (spec as VmSpec).id;
    if (typeof id === 'string') ids.push(id);
    const error = await rpc.callUntyped('vm.start', { spec }).then(
      () => undefined,
      (e) => e,
    );
    expect(error, `spec ${JSON.stringify(spec).slice(0, 200)}`).toMatchObject({ code });
    if (detailsPath) expect(error.details?.path ?? error.details?.where).toBe(detailsPath);
    if (typeof id === 'string') {
      expect(await qemuPidsFor(id)).toEqual([]);
      expect(existsSync(join(fx.stateDir, 'vms', id.toLowerCase()))).toBe(false);
    }
    // Nothing new in the agent's list, and the running VM is as it was.
    const { vms } = await rpc.call('vm.list', { include_external: false });
    expect(vms.map((v) => [v.id, v.state])).toEqual([[RUNNING_ID, 'paused']]);
    return error;
  }

  it('refuses an unknown disk interface and an unknown NIC model', async () => {
    const disk = {
      id: 'd1',
      path: join(fx.imageDir, 'x.qcow2'),
      format: 'qcow2',
      interface: 'floppy',
      bootable: false,
      readonly: false,
    };
    await expectRefused(
      { ...guestSpec(freshId(), 'bad-bus'), disks: [disk] },
      'invalid_vm_spec',
      '/disks/0/interface',
    );
    const nic = { id: 'n1', mac: '52:54:00:12:34:56', model: 'ne2k_pci', backend: { type: 'user' } };
    await expectRefused(
      { ...guestSpec(freshId(), 'bad-nic'), nics: [nic] },
      'invalid_vm_spec',
      '/nics/0/model',
    );
  });

  it('refuses zero memory and names or paths with ../', async () => {
    await expectRefused(
      { ...guestSpec(freshId(), 'no-mem'), memory_mib: 0 },
      'invalid_vm_spec',
      '/memory_mib',
    );
    await expectRefused(guestSpec(freshId(), '../escape'), 'invalid_vm_spec', '/name');
    const spec = guestSpec(freshId(), 'dotdot');
    const kernel = { ...spec.kernel!, kernel: `${fx.imageDir}/../../../boot/vmlinuz` };
    await expectRefused({ ...spec, kernel }, 'invalid_vm_spec', '/kernel/kernel');
  });

  it('refuses a missing image', async () => {
    const disk = {
      id: 'd1',
      path: join(fx.imageDir, 'missing.qcow2'),
      format: 'qcow2',
      interface: 'virtio',
      bootable: false,
      readonly: false,
    } as const;
    await expectRefused({ ...guestSpec(freshId(), 'missing-disk'), disks: [disk] }, 'image_not_found');
  });

  it('refuses images outside the allowed directories, directly, by symlink or as a backing file', async () => {
    const secret = join(outside, 'secret.raw');
    await writeFile(secret, Buffer.alloc(1024 * 1024));
    const raw = (path: string) =>
      ({ id: 'd1', path, format: 'raw', interface: 'virtio', bootable: false, readonly: true }) as const;
    await expectRefused({ ...guestSpec(freshId(), 'outside'), disks: [raw(secret)] }, 'path_not_allowed');

    const link = join(fx.imageDir, 'innocent.raw');
    await symlink(secret, link);
    await expectRefused({ ...guestSpec(freshId(), 'via-link'), disks: [raw(link)] }, 'path_not_allowed');

    const overlay = join(fx.imageDir, 'overlay.qcow2');
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', secret, '-F', 'raw', overlay]);
    const disk = { ...raw(overlay), format: 'qcow2' as const, readonly: false };
    await expectRefused({ ...guestSpec(freshId(), 'via-backing'), disks: [disk] }, 'path_not_allowed');
  });

  it('refuses an image whose content is not the declared format', async () => {
    const fake = join(fx.imageDir, 'fake.qcow2');
    await writeFile(fake, Buffer.alloc(1024 * 1024));
    const disk = {
      id: 'd1',
      path: fake,
      format: 'qcow2',
      interface: 'virtio',
      bootable: false,
      readonly: false,
    } as const;
    await expectRefused({ ...guestSpec(freshId(), 'not-qcow2'), disks: [disk] }, 'image_invalid');
  });

  it('refuses a second VM with the same id or the same name', async () => {
    const { spec } = await rpc.call('vm.get', { vm_id: RUNNING_ID });
    const error = await rpc.call('vm.start', { spec: spec! }).catch((e) => e);
    expect(error).toMatchObject({ code: 'vm_exists' });
    expect(await qemuPidsFor(RUNNING_ID)).toHaveLength(1);
    await expectRefused(guestSpec(freshId(), 'running-one'), 'vm_exists');
  });

  it('reverts everything when QEMU itself refuses to start (tap it created included)', async () => {
    const tap = `vt${process.pid.toString(36)}${(n++).toString(36)}`.slice(0, 15);
    const nic = {
      id: 'n1',
      mac: '52:54:00:12:34:57',
      model: 'virtio',
      backend: { type: 'tap', ifname: tap },
    } as const;
    const spec = {
      ...guestSpec(freshId(), 'qemu-says-no'),
      cpu: { model: 'NoSuchCpu', sockets: 1, cores: 1, threads: 1 },
      nics: [nic],
    };
    await mkdir(fx.imageDir, { recursive: true });
    const error = await expectRefused(spec, 'qemu_failed');
    // QEMU's own words (from its stderr log) reach the caller.
    expect(error.message).toContain('NoSuchCpu');
    expect(existsSync(`/sys/class/net/${tap}`)).toBe(false);
  });
});
