import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { volumePath } from '../../src/domain/storage/paths';
import type { OpsApp } from '../operations/support';
import { FakeAgentError, FakeHub } from '../vms/fake-hub';
import { createSnapshotOpsApp, insertActiveVolume, insertSnapshotVm } from './support';

interface Op {
  id: string;
  state: string;
  error: { code: string } | null;
  result: Record<string, unknown> | null;
}

/**
 * The snapshot API and its operations on a real database and operation runner, with the agent hub
 * faked at its boundary (the agent side is tested on real QEMU in packages/agent and test/e2e):
 * which agent calls each operation makes, with which volume paths, and how the volume chain in the
 * database follows — snapshot, preview, undo, commit, revert, delete (cold and live merge), and a
 * failed merge that leaves the volumes illegal until a retry finishes it.
 */
describe('snapshots through the API (real database and operations, recorded fake hub)', () => {
  let t: OpsApp;
  let hub: FakeHub;
  let hostId: string;
  let domain: { id: string; path: string };
  let vmId: string;
  let diskId: string;
  let v0: string;

  beforeAll(async () => {
    hub = new FakeHub();
    t = await createSnapshotOpsApp(hub);
    ({ hostId, domain, vmId, diskId } = await insertSnapshotVm(t.t.db, { prefix: 'snap', running: false }));
    v0 = await insertActiveVolume(t.t.db, diskId);
  });

  afterAll(async () => {
    await t?.close();
  });

  beforeEach(() => {
    hub.calls.length = 0;
    hub.connected.clear();
    hub.connected.add(hostId);
    hub.handlers.clear();
    hub.handlers.set('volume.create', () => ({}));
    hub.handlers.set('volume.delete', () => ({ deleted: true }));
    hub.handlers.set('volume.merge', (_h, p) => ({
      base_path: p.base_path,
      removed_path: p.top_path,
      rebased_path: null,
      already_done: false,
    }));
  });

  async function req(method: 'GET' | 'POST' | 'DELETE', url: string, payload?: unknown) {
    return t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: t.auth(),
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
  }
  async function settled(res: { statusCode: number; body: string }): Promise<Op> {
    expect(res.statusCode, res.body).toBe(202);
    const id = (JSON.parse(res.body) as { operation: { id: string } }).operation.id;
    for (;;) {
      const op = JSON.parse((await req('GET', `/operations/${id}?wait=10`)).body) as Op;
      if (op.state === 'succeeded' || op.state === 'failed' || op.state === 'cancelled') return op;
    }
  }
  async function chain(): Promise<
    { id: string; parent_id: string | null; active: boolean; state: string }[]
  > {
    return t.t.db
      .selectFrom('volumes')
      .select(['id', 'parent_id', 'active', 'state'])
      .where('disk_id', '=', diskId)
      .orderBy('created_at')
      .execute();
  }
  const activeId = async () => (await chain()).find((v) => v.active)?.id;
  const path = (volumeId: string) => volumePath(domain, diskId, volumeId);
  async function snapshots() {
    return (
      JSON.parse((await req('GET', `/vms/${vmId}/snapshots`)).body) as {
        items: { id: string; state: string; disks: { volume_id: string }[] }[];
      }
    ).items;
  }

  let s1: string;
  let s2: string;

  it('takes cold snapshots: an overlay per disk on the active volume, which the snapshot keeps', async () => {
    const res = await req('POST', `/vms/${vmId}/snapshots`, { description: 'first' });
    s1 = (JSON.parse(res.body) as { snapshot: { id: string } }).snapshot.id;
    expect((JSON.parse(res.body) as { snapshot: { state: string } }).snapshot.state).toBe('creating');
    expect((await settled(res)).state).toBe('succeeded');
    const v1 = await activeId();
    expect(v1).not.toBe(v0);
    expect(hub.calls).toEqual([
      {
        hostId,
        method: 'volume.create',
        params: {
          domain_id: domain.id,
          disk_id: diskId,
          volume_id: v1,
          format: 'qcow2',
          backing: { disk_id: diskId, volume_id: v0, format: 'qcow2' },
        },
      },
    ]);
    const second = await req('POST', `/vms/${vmId}/snapshots`, { description: 'second' });
    s2 = (JSON.parse(second.body) as { snapshot: { id: string } }).snapshot.id;
    expect((await settled(second)).state).toBe('succeeded');
    const list = await snapshots();
    expect(list.map((s) => [s.id, s.state, s.disks[0]?.volume_id])).toEqual([
      [s1, 'ok', v0],
      [s2, 'ok', v1],
    ]);
    expect((await chain()).map((v) => [v.parent_id, v.active])).toEqual([
      [null, false],
      [v0, false],
      [v1, true],
    ]);
  });

  it('refuses a memory snapshot of a VM that is down, and a preview of a running VM', async () => {
    const mem = await req('POST', `/vms/${vmId}/snapshots`, { memory: true });
    expect(mem.statusCode).toBe(409);
    expect(JSON.parse(mem.body).error.code).toBe('vm_invalid_state');
    await sql`UPDATE vms SET state = 'up', desired_state = 'up', host_id = ${hostId} WHERE id = ${vmId}`.execute(
      t.t.db,
    );
    try {
      const res = await req('POST', `/vms/${vmId}/snapshots/${s1}/preview`);
      expect(res.statusCode).toBe(409);
      expect(JSON.parse(res.body).error.code).toBe('vm_not_down');
    } finally {
      await sql`UPDATE vms SET state = 'down', desired_state = 'down', host_id = NULL WHERE id = ${vmId}`.execute(
        t.t.db,
      );
    }
  });

  it('previews a snapshot on a throw-away overlay, and undo returns to the latest state', async () => {
    const before = await activeId();
    expect((await settled(await req('POST', `/vms/${vmId}/snapshots/${s1}/preview`))).state).toBe(
      'succeeded',
    );
    const preview = await activeId();
    expect(hub.calls.map((c) => [c.method, (c.params.backing as { volume_id: string }).volume_id])).toEqual([
      ['volume.create', v0],
    ]);
    expect((await snapshots()).find((s) => s.id === s1)?.state).toBe('in_preview');
    // Nothing else while previewing.
    const blocked = await req('POST', `/vms/${vmId}/snapshots`, {});
    expect(JSON.parse(blocked.body).error.code).toBe('snapshot_in_preview');
    const del = await req('DELETE', `/vms/${vmId}/snapshots/${s2}`);
    expect(JSON.parse(del.body).error.code).toBe('snapshot_in_preview');

    hub.calls.length = 0;
    expect((await settled(await req('POST', `/vms/${vmId}/snapshots/undo`))).state).toBe('succeeded');
    expect(hub.calls.map((c) => [c.method, c.params.volume_id])).toEqual([['volume.delete', preview]]);
    expect(await activeId()).toBe(before);
    expect((await chain()).some((v) => v.id === preview)).toBe(false);
    const nothing = await req('POST', `/vms/${vmId}/snapshots/commit`);
    expect(JSON.parse(nothing.body).error.code).toBe('no_snapshot_in_preview');
  });

  it('commits a preview: the old branch and the later snapshot are dropped', async () => {
    const old = (await chain()).filter((v) => v.id !== v0).map((v) => v.id);
    expect((await settled(await req('POST', `/vms/${vmId}/snapshots/${s1}/preview`))).state).toBe(
      'succeeded',
    );
    const preview = await activeId();
    hub.calls.length = 0;
    const op = await settled(await req('POST', `/vms/${vmId}/snapshots/commit`));
    expect(op).toMatchObject({ state: 'succeeded', result: { snapshots_dropped: 1 } });
    expect(hub.calls.map((c) => c.params.volume_id).sort()).toEqual([...old].sort());
    expect((await snapshots()).map((s) => [s.id, s.state])).toEqual([[s1, 'ok']]);
    expect((await chain()).map((v) => [v.id, v.parent_id, v.active])).toEqual([
      [v0, null, false],
      [preview, v0, true],
    ]);
  });

  it('deletes a snapshot of a VM that is down with a cold merge of the volume above it', async () => {
    const top = (await activeId()) as string;
    const op = await settled(await req('DELETE', `/vms/${vmId}/snapshots/${s1}`));
    expect(op).toMatchObject({ state: 'succeeded', result: { deleted: true, live: false } });
    expect(hub.calls.map((c) => [c.method, c.params.top_path, c.params.base_path])).toEqual([
      ['volume.merge', path(top), path(v0)],
    ]);
    expect(await snapshots()).toEqual([]);
    expect((await chain()).map((v) => [v.id, v.active, v.state])).toEqual([[v0, true, 'ok']]);
  });

  it('refuses snapshot work while the VM is half started', async () => {
    await sql`UPDATE vms SET state = 'starting', desired_state = 'up', host_id = ${hostId} WHERE id = ${vmId}`.execute(
      t.t.db,
    );
    try {
      const res = await req('POST', `/vms/${vmId}/snapshots`, {});
      expect(res.statusCode).toBe(409);
      expect(JSON.parse(res.body).error.code).toBe('vm_invalid_state');
    } finally {
      await sql`UPDATE vms SET state = 'down', desired_state = 'down', host_id = NULL WHERE id = ${vmId}`.execute(
        t.t.db,
      );
    }
  });

  it('snapshots and merges a running VM live through its host; a failed merge leaves it illegal until a retry', async () => {
    await sql`UPDATE vms SET state = 'up', desired_state = 'up', host_id = ${hostId} WHERE id = ${vmId}`.execute(
      t.t.db,
    );
    try {
      hub.handlers.set('vm.snapshot', (_h, p) => ({
        vm_id: vmId,
        disks: (p.disks as { disk_id: string; new_volume_path: string }[]).map((d) => ({
          disk_id: d.disk_id,
          path: d.new_volume_path,
        })),
        paused_ms: 7,
      }));
      const res = await req('POST', `/vms/${vmId}/snapshots`, { description: 'live' });
      const sid = (JSON.parse(res.body) as { snapshot: { id: string } }).snapshot.id;
      expect(await settled(res)).toMatchObject({ state: 'succeeded', result: { live: true, paused_ms: 7 } });
      const v1 = (await activeId()) as string;
      expect(hub.calls).toEqual([
        {
          hostId,
          method: 'vm.snapshot',
          params: { vm_id: vmId, disks: [{ disk_id: diskId, new_volume_path: path(v1), format: 'qcow2' }] },
        },
      ]);

      hub.calls.length = 0;
      hub.handlers.set('vm.merge', () => {
        throw new FakeAgentError('merge_failed');
      });
      const failed = await settled(await req('DELETE', `/vms/${vmId}/snapshots/${sid}`));
      expect(failed.state).toBe('failed');
      expect((await chain()).map((v) => v.state)).toEqual(['illegal', 'illegal']);
      expect((await snapshots())[0]?.state).toBe('illegal');

      // Meanwhile the agent, restarted, finished the merge on its own (its marker): the top is gone.
      hub.calls.length = 0;
      hub.handlers.set('vm.merge', () => {
        throw new FakeAgentError('image_not_found');
      });
      const retry = await settled(await req('DELETE', `/vms/${vmId}/snapshots/${sid}`));
      expect(retry).toMatchObject({ state: 'succeeded', result: { live: true } });
      expect(hub.calls.map((c) => [c.method, c.params.vm_id, c.params.top_path, c.params.base_path])).toEqual(
        [['vm.merge', vmId, path(v1), path(v0)]],
      );
      expect((await chain()).map((v) => [v.id, v.active, v.state])).toEqual([[v0, true, 'ok']]);
      expect(await snapshots()).toEqual([]);
    } finally {
      await sql`UPDATE vms SET state = 'down', desired_state = 'down', host_id = NULL WHERE id = ${vmId}`.execute(
        t.t.db,
      );
    }
  });

  it('lets a disk with snapshots be deleted as a whole (its snapshot rows go with it)', async () => {
    expect((await settled(await req('POST', `/vms/${vmId}/snapshots`, {}))).state).toBe('succeeded');
    expect(await snapshots()).toHaveLength(1);
    await t.t.db.deleteFrom('disks').where('id', '=', diskId).execute();
    expect((await snapshots())[0]?.disks).toEqual([]);
    expect(await chain()).toEqual([]);
  });
});
