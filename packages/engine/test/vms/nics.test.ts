import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findVm } from '../../src/db/repositories/vms';
import { buildVmSpec, tapName } from '../../src/domain/vm/spec';
import { createOpsApp, type OpsApp } from '../operations/support';

const BOOTS_CDROM = { boot_order: ['cdrom'], cdrom: { image: 'boot.iso' } };

describe('VM NICs: user-mode and on an existing host bridge', () => {
  let t: OpsApp;
  let clusterId: string;
  beforeAll(async () => {
    t = await createOpsApp();
    clusterId = (
      await t.t.db.selectFrom('clusters').select('id').where('name', '=', 'Default').executeTakeFirstOrThrow()
    ).id;
  });
  afterAll(async () => {
    await t?.close();
  });

  const create = (name: string, nics: unknown[]) =>
    t.app.inject({
      method: 'POST',
      url: '/api/v1/vms',
      headers: t.auth(),
      payload: { name, cluster_id: clusterId, ...BOOTS_CDROM, nics },
    });

  it('stores a bridged NIC and hands the agent a tap on that bridge', async () => {
    const res = await create('bridged', [
      { bridge: 'br-lan', model: 'e1000' },
      { type: 'bridge', bridge: 'br0', mac: '52:54:00:AA:00:01' },
      { type: 'user' },
    ]);
    expect(res.statusCode, res.body).toBe(201);
    const vm = res.json() as { id: string; nics: Record<string, unknown>[] };
    expect(vm.nics).toEqual([
      { type: 'bridge', bridge: 'br-lan', model: 'e1000', mac: expect.stringMatching(/^[0-9a-f:]{17}$/) },
      { type: 'bridge', bridge: 'br0', mac: '52:54:00:aa:00:01' },
      { type: 'user', mac: expect.stringMatching(/^[0-9a-f:]{17}$/) },
    ]);

    const row = await findVm(t.t.db, vm.id);
    if (!row) throw new Error('VM row missing');
    const spec = buildVmSpec(row, [], { isoDir: '/iso', imageDir: '/images' });
    expect(spec.nics.map((n) => [n.model, n.backend])).toEqual([
      ['e1000', { type: 'tap', ifname: tapName(vm.id, 0), bridge: 'br-lan' }],
      ['virtio', { type: 'tap', ifname: tapName(vm.id, 1), bridge: 'br0' }],
      ['virtio', { type: 'user' }],
    ]);
    // Linux interface names are at most 15 characters; each NIC of a VM gets its own tap.
    expect(tapName(vm.id, 7)).toHaveLength(15);
    expect(tapName(vm.id, 0)).not.toBe(tapName(vm.id, 1));
  });

  it.each([
    ['a bridge name with a slash', [{ bridge: 'br/../x' }]],
    ['a bridge name longer than 15 characters', [{ bridge: 'a-very-long-bridge' }]],
    ['a bridge NIC typed user', [{ type: 'user', bridge: 'br0' }]],
    ['an unknown NIC model', [{ bridge: 'br0', model: 'ne2k' }]],
  ])('refuses %s with invalid_input', async (_what, nics) => {
    const res = await create('badnic', nics);
    expect(res.statusCode, res.body).toBe(400);
    expect((res.json() as { error: { code: string } }).error.code).toBe('invalid_input');
  });
});
