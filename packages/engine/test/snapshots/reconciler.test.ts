import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SnapshotReconciler } from '../../src/controllers/snapshot-reconciler';
import { createOpsApp, type OpsApp } from '../operations/support';
import { FakeAgentError, FakeHub } from '../vms/fake-hub';
import { insertActiveVolume, insertSnapshotVm } from './support';

/**
 * The snapshot reconciler on a real database with the agent hub faked at its boundary: snapshots
 * left `creating` or `deleting` by an operation that ended are completed, rolled back or marked,
 * according to what the (fake) agent says the VM runs on — and never while the operation still
 * runs or the host is away. The crash itself, with real QEMU, is in test/e2e/snapshot-crash.test.ts.
 */
describe('snapshot reconciler (real database, fake hub)', () => {
  let t: OpsApp;
  let hub: FakeHub;
  let reconciler: SnapshotReconciler;
  let hostId: string;
  let domainId: string;
  let vmId: string;
  let diskId: string;
  let frozen: string;

  beforeAll(async () => {
    hub = new FakeHub();
    t = await createOpsApp();
    const db = t.t.db;
    reconciler = new SnapshotReconciler({
      db,
      hub: hub.asHub(),
      audit: t.events.audit,
      log: pino({ level: 'silent' }),
    });
    const rows = await insertSnapshotVm(db, { prefix: 'rec', running: true });
    ({ hostId, vmId, diskId } = rows);
    domainId = rows.domain.id;
  });

  afterAll(async () => {
    await t?.close();
  });

  beforeEach(async () => {
    hub.calls.length = 0;
    hub.connected.clear();
    hub.connected.add(hostId);
    hub.handlers.clear();
    hub.handlers.set('volume.delete', () => ({ deleted: true }));
    const db = t.t.db;
    await db.deleteFrom('snapshots').execute();
    await db.deleteFrom('volumes').execute();
    await db.updateTable('disks').set({ state: 'ok' }).execute();
    await db.updateTable('vms').set({ host_id: hostId, state: 'up', desired_state: 'up' }).execute();
    frozen = await insertActiveVolume(db, diskId);
  });

  /**
   * What `vm.snapshot` leaves when its engine dies after inserting the rows: the snapshot
   * `creating`, the overlay row not yet active, the disk locked, and its operation in `opState`.
   */
  async function halfTaken(opState: 'failed' | 'running', memory = false) {
    const db = t.t.db;
    const s = await sql<{ id: string }>`
      INSERT INTO snapshots (vm_id, memory, memory_domain_id)
      VALUES (${vmId}, ${memory}, ${memory ? domainId : null}) RETURNING id`.execute(db);
    const sid = s.rows[0]?.id ?? '';
    await sql`INSERT INTO snapshot_volumes (snapshot_id, disk_id, volume_id)
      VALUES (${sid}, ${diskId}, ${frozen})`.execute(db);
    const o = await sql<{ id: string }>`
      INSERT INTO volumes (disk_id, parent_id, format, size_bytes, active, on_storage)
      VALUES (${diskId}, ${frozen}, 'qcow2', ${64 * 1024 * 1024}, false, false) RETURNING id`.execute(db);
    await db.updateTable('disks').set({ state: 'locked' }).where('id', '=', diskId).execute();
    return { sid, overlay: o.rows[0]?.id ?? '', opId: await insertOp('vm.snapshot', opState, sid) };
  }

  /** An operation row naming the snapshot; `running` ones hold a lease far ahead (never swept). */
  async function insertOp(type: string, state: string, sid: string): Promise<string> {
    const r = await sql<{ id: string }>`
      INSERT INTO operations (type, state, target_kind, target_id, input) VALUES
        (${type}, 'pending', 'vm', ${vmId}, ${JSON.stringify({ snapshot_id: sid })}::jsonb) RETURNING id`.execute(
      t.t.db,
    );
    const id = r.rows[0]?.id ?? '';
    await setOpState(id, state);
    return id;
  }
  async function setOpState(id: string, state: string): Promise<void> {
    const running = state === 'running';
    await sql`UPDATE operations SET state = ${state},
        claimed_by = ${running ? 'elsewhere' : null},
        lease_until = ${running ? sql`now() + interval '1 hour'` : null},
        finished_at = ${running || state === 'pending' ? null : sql`now()`}
      WHERE id = ${id}`.execute(t.t.db);
  }

  const path = (volumeId: string) => `/srv/data/${domainId}/images/${diskId}/${volumeId}`;
  const chainsAnswer =
    (paths: string[], memoryBytes: number | null = null) =>
    () => ({
      vm_id: vmId,
      running: true,
      disks: [{ disk_id: diskId, chain: paths.map((p) => ({ path: p, format: 'qcow2' })) }],
      memory_bytes: memoryBytes,
    });
  const volumes = () =>
    t.t.db
      .selectFrom('volumes')
      .select(['id', 'parent_id', 'active', 'state'])
      .where('disk_id', '=', diskId)
      .orderBy('created_at')
      .execute();
  const snapshot = (id: string) =>
    t.t.db.selectFrom('snapshots').selectAll().where('id', '=', id).executeTakeFirst();
  const diskState = async () =>
    (await t.t.db.selectFrom('disks').select('state').where('id', '=', diskId).executeTakeFirstOrThrow())
      .state;
  const events = (kind: string) =>
    t.t.db.selectFrom('events').select(['kind', 'details']).where('kind', '=', kind).execute();

  it('completes a snapshot whose overlay QEMU runs on (the engine died before recording it)', async () => {
    const { sid, overlay } = await halfTaken('failed', true);
    hub.handlers.set('vm.block_chains', chainsAnswer([path(overlay), path(frozen)], 1234));
    const before = (await events('vm.snapshot_recovered')).length;
    expect((await reconciler.pass()).get(sid)).toBe('completed');
    expect(hub.calls.map((c) => c.method)).toEqual(['vm.block_chains']);
    expect(hub.calls[0]?.params).toEqual({
      vm_id: vmId,
      memory_path: `/srv/data/${domainId}/images/${diskId}/${sid}.memory`,
    });
    expect(await volumes()).toEqual([
      { id: frozen, parent_id: null, active: false, state: 'ok' },
      { id: overlay, parent_id: frozen, active: true, state: 'ok' },
    ]);
    expect(await snapshot(sid)).toMatchObject({ state: 'ok', memory: true });
    expect(await diskState()).toBe('ok');
    const recorded = await events('vm.snapshot_recovered');
    expect(recorded).toHaveLength(before + 1);
    expect(recorded.at(-1)?.details).toMatchObject({
      snapshot_id: sid,
      outcome: 'completed',
      observed: 'qemu',
    });
    // Settled: the next pass has nothing to do.
    expect((await reconciler.pass()).size).toBe(0);
  });

  it('rolls back a snapshot QEMU never switched to: the overlay file and row go', async () => {
    const { sid, overlay } = await halfTaken('failed');
    hub.handlers.set('vm.block_chains', chainsAnswer([path(frozen)]));
    expect((await reconciler.pass()).get(sid)).toBe('rolled_back');
    expect(hub.calls.map((c) => [c.method, c.params])).toEqual([
      ['vm.block_chains', { vm_id: vmId }],
      ['volume.delete', { domain_id: domainId, disk_id: diskId, volume_id: overlay }],
    ]);
    expect(await volumes()).toEqual([{ id: frozen, parent_id: null, active: true, state: 'ok' }]);
    expect(await snapshot(sid)).toBeUndefined();
    expect(await diskState()).toBe('ok');
  });

  it('drops the memory flag when the disks switched but the RAM file is missing', async () => {
    const { sid, overlay } = await halfTaken('failed', true);
    hub.handlers.set('vm.block_chains', chainsAnswer([path(overlay), path(frozen)], null));
    expect((await reconciler.pass()).get(sid)).toBe('completed');
    expect(await snapshot(sid)).toMatchObject({ state: 'ok', memory: false, memory_domain_id: null });
  });

  it('waits while the operation still runs or the host is away, and when the agent cannot answer', async () => {
    const running = await halfTaken('running');
    hub.handlers.set('vm.block_chains', chainsAnswer([path(running.overlay)]));
    expect((await reconciler.pass()).size).toBe(0);
    expect(hub.calls).toEqual([]);

    await setOpState(running.opId, 'failed');
    hub.connected.clear();
    expect((await reconciler.pass()).get(running.sid)).toBe('waiting');
    expect(hub.calls).toEqual([]);

    hub.connected.add(hostId);
    hub.handlers.set('vm.block_chains', () => {
      throw new FakeAgentError('agent_timeout');
    });
    expect((await reconciler.pass()).has(running.sid)).toBe(false);
    expect(await snapshot(running.sid)).toMatchObject({ state: 'creating' });
    expect(await diskState()).toBe('locked');
  });

  it('with the VM on no host, keeps an overlay that exists on storage and drops a missing one', async () => {
    await t.t.db.updateTable('vms').set({ host_id: null, state: 'down', desired_state: 'down' }).execute();
    const kept = await halfTaken('failed');
    hub.handlers.set('volume.info', () => ({}));
    expect((await reconciler.pass()).get(kept.sid)).toBe('completed');
    expect(hub.methods()).toEqual(['volume.info']);
    expect((await volumes()).find((v) => v.active)?.id).toBe(kept.overlay);

    hub.calls.length = 0;
    frozen = kept.overlay;
    const gone = await halfTaken('failed');
    hub.handlers.set('volume.info', () => {
      throw new FakeAgentError('image_not_found');
    });
    expect((await reconciler.pass()).get(gone.sid)).toBe('rolled_back');
    expect(hub.methods()).toEqual(['volume.info', 'volume.delete']);
    expect((await volumes()).find((v) => v.active)?.id).toBe(kept.overlay);
    expect(await snapshot(gone.sid)).toBeUndefined();
  });

  it('ends a delete that stopped: illegal when a merge had begun, ok when none had', async () => {
    const db = t.t.db;
    const s = await sql<{ id: string }>`
      INSERT INTO snapshots (vm_id, state) VALUES (${vmId}, 'deleting') RETURNING id`.execute(db);
    const sid = s.rows[0]?.id ?? '';
    await sql`INSERT INTO snapshot_volumes (snapshot_id, disk_id, volume_id) VALUES (${sid}, ${diskId}, ${frozen})`.execute(
      db,
    );
    const top = await sql<{ id: string }>`
      INSERT INTO volumes (disk_id, parent_id, format, size_bytes, active, on_storage, state)
      VALUES (${diskId}, ${frozen}, 'qcow2', 1, false, true, 'ok') RETURNING id`.execute(db);
    const topId = top.rows[0]?.id ?? '';
    await db.updateTable('volumes').set({ active: false }).where('id', '=', frozen).execute();
    await db.updateTable('volumes').set({ active: true }).where('id', '=', topId).execute();
    const opId = await insertOp('snapshot.delete', 'cancelled', sid);
    expect((await reconciler.pass()).get(sid)).toBe('delete_ended');
    expect(await snapshot(sid)).toMatchObject({ state: 'ok' });

    await db.updateTable('snapshots').set({ state: 'deleting' }).where('id', '=', sid).execute();
    await db.updateTable('volumes').set({ state: 'merging' }).where('id', 'in', [frozen, topId]).execute();
    await setOpState(opId, 'running');
    expect((await reconciler.pass()).size).toBe(0);
    await setOpState(opId, 'failed');
    expect((await reconciler.pass()).get(sid)).toBe('delete_ended');
    expect(await snapshot(sid)).toMatchObject({ state: 'illegal' });
    expect((await volumes()).map((v) => v.state)).toEqual(['illegal', 'illegal']);
    expect(hub.calls).toEqual([]);
  });
});
