import { basename } from 'node:path';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SnapshotReconciler } from '../../src/controllers/snapshot-reconciler';
import type { OpsApp } from '../operations/support';
import { FakeAgentError, FakeHub } from '../vms/fake-hub';
import { createSnapshotOpsApp, insertActiveVolume, insertSnapshotVm } from './support';

/**
 * How a failed live `vm.snapshot` ends, through the API and the real operation runner (agent hub
 * faked): an agent that answers a disk-only snapshot with an error has undone its part, so the
 * snapshot goes at once; with no answer (the link broke) the VM may already run on the overlay, so
 * the snapshot stays `creating` until the reconciler asks the agent and completes it.
 */
describe('a failed live snapshot (real database and operations, fake hub)', () => {
  let t: OpsApp;
  let hub: FakeHub;
  let hostId: string;
  let vmId: string;
  let diskId: string;
  let v0: string;

  beforeAll(async () => {
    hub = new FakeHub();
    t = await createSnapshotOpsApp(hub);
    ({ hostId, vmId, diskId } = await insertSnapshotVm(t.t.db, { prefix: 'fail', running: true }));
    hub.connected.add(hostId);
    v0 = await insertActiveVolume(t.t.db, diskId);
  });

  afterAll(async () => {
    await t?.close();
  });

  async function snapshotOp(): Promise<{ sid: string; op: { state: string } }> {
    const res = await t.app.inject({
      method: 'POST',
      url: `/api/v1/vms/${vmId}/snapshots`,
      headers: t.auth(),
      payload: { description: 'x' },
    });
    expect(res.statusCode, res.body).toBe(202);
    const body = JSON.parse(res.body) as { snapshot: { id: string }; operation: { id: string } };
    for (;;) {
      const op = JSON.parse(
        (
          await t.app.inject({
            method: 'GET',
            url: `/api/v1/operations/${body.operation.id}?wait=10`,
            headers: t.auth(),
          })
        ).body,
      ) as { state: string };
      if (op.state !== 'pending' && op.state !== 'running') return { sid: body.snapshot.id, op };
    }
  }
  const volumes = () =>
    t.t.db
      .selectFrom('volumes')
      .select(['id', 'active'])
      .where('disk_id', '=', diskId)
      .orderBy('created_at')
      .execute();
  const snapshotRow = (id: string) =>
    t.t.db.selectFrom('snapshots').select('state').where('id', '=', id).executeTakeFirst();

  it('an agent error on a disk-only snapshot: the snapshot and its overlay row go at once', async () => {
    hub.handlers.set('vm.snapshot', () => {
      throw new FakeAgentError('qemu_failed');
    });
    const { sid, op } = await snapshotOp();
    expect(op.state).toBe('failed');
    expect(await snapshotRow(sid)).toBeUndefined();
    expect(await volumes()).toEqual([{ id: v0, active: true }]);
  });

  it('no answer: left creating, then the reconciler completes it from what the agent runs', async () => {
    let overlayPath = '';
    hub.handlers.set('vm.snapshot', (_h, p) => {
      overlayPath = (p.disks as { new_volume_path: string }[])[0]?.new_volume_path ?? '';
      throw new Error('the connection to the agent closed');
    });
    const { sid, op } = await snapshotOp();
    expect(op.state).toBe('failed');
    expect(await snapshotRow(sid)).toEqual({ state: 'creating' });
    const overlay = basename(overlayPath);
    expect((await volumes()).map((v) => [v.id, v.active])).toEqual([
      [v0, true],
      [overlay, false],
    ]);

    hub.handlers.set('vm.block_chains', () => ({
      vm_id: vmId,
      running: true,
      disks: [{ disk_id: diskId, chain: [{ path: overlayPath, format: 'qcow2' }] }],
      memory_bytes: null,
    }));
    const reconciler = new SnapshotReconciler({
      db: t.t.db,
      hub: hub.asHub(),
      audit: t.events.audit,
      log: pino({ level: 'silent' }),
    });
    expect((await reconciler.pass()).get(sid)).toBe('completed');
    expect(await snapshotRow(sid)).toEqual({ state: 'ok' });
    expect((await volumes()).map((v) => [v.id, v.active])).toEqual([
      [v0, false],
      [overlay, true],
    ]);
  });
});
