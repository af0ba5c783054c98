import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerDiskOperations } from '../../src/controllers/disk-operations';
import { masterKeyFrom } from '../../src/secrets/master-key';
import { createOpsApp, type OpsApp } from '../operations/support';
import { FakeHub } from '../vms/fake-hub';
import { insertDataDomain, insertUpHost } from './support';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers and recorded RPC params
type Json = Record<string, any>;
const MiB = 1024 ** 2;

/**
 * Encrypted disks through the API with encryption on by default: which keys the engine hands the
 * agent for create, copy, move and extend (a recorded fake hub stands in for the agent).
 */
describe('encrypted disks over HTTP (keys on the wire)', () => {
  let t: OpsApp;
  let hub: FakeHub;
  let domA: string;
  let domB: string;
  const masterKey = masterKeyFrom(randomBytes(32));

  beforeAll(async () => {
    hub = new FakeHub();
    t = await createOpsApp({
      register: (ops, ctx) => registerDiskOperations(ops.registry, { ...ctx, hub: hub.asHub(), masterKey }),
      encryption: { masterKey, encryptByDefault: true },
    });
    const clusterId = (
      await t.t.db.selectFrom('clusters').select('id').where('name', '=', 'Default').executeTakeFirstOrThrow()
    ).id;
    const host = await insertUpHost(t.t.db, { name: 'enc-host', clusterId });
    hub.connected.add(host);
    domA = await insertDataDomain(t.t.db, { name: 'enc-a', path: '/srv/enc-a', hostId: host });
    domB = await insertDataDomain(t.t.db, { name: 'enc-b', path: '/srv/enc-b', hostId: host });
  });
  afterAll(async () => {
    await t?.close();
  });
  beforeEach(() => {
    hub.calls.length = 0;
    hub.handlers.set('volume.create', () => ({}));
    hub.handlers.set('volume.delete', () => ({ deleted: true }));
    hub.handlers.set('volume.copy', () => ({}));
    hub.handlers.set('volume.resize', () => ({}));
    hub.handlers.set('volume.info', () => ({}));
  });

  const req = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: unknown, headers = {}) =>
    t.app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { ...t.auth(), ...headers },
      ...(payload ? { payload } : {}),
    });
  async function settle(res: { statusCode: number; body: string; json(): Json }): Promise<Json> {
    expect(res.statusCode, res.body).toBe(202);
    const op = (await req('GET', `/operations/${res.json().operation.id}?wait=10`)).json();
    expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
    return res.json();
  }
  const params = (method: string) =>
    hub.calls.filter((c) => c.method === method).map((c) => c.params as Json);
  const keyRows = async () =>
    (await sql<{ n: number }>`SELECT count(*)::int AS n FROM disk_keys`.execute(t.t.db)).rows[0]?.n;

  it('defaults, create, copy under a new key, move under the same key, offline extend with the key', async () => {
    expect((await req('GET', '/disks/defaults')).json()).toEqual({ encrypted: true });
    const made = await settle(
      await req('POST', '/disks', { name: 'e1', storage_domain_id: domA, size_bytes: 16 * MiB }),
    );
    const id = made.disk.id as string;
    expect(made.disk.encrypted).toBe(true);
    const createKey = params('volume.create')[0]?.encryption?.secret as string;
    expect(createKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    // A raw disk stays plain by default.
    const raw = await settle(
      await req('POST', '/disks', {
        name: 'r1',
        storage_domain_id: domA,
        size_bytes: 16 * MiB,
        format: 'raw',
      }),
    );
    expect(raw.disk.encrypted).toBe(false);
    expect(params('volume.create')[1]).not.toHaveProperty('encryption');

    // Copy: the source opens with its key, the target is written under the copy's own new key.
    const copy = await settle(
      await req('POST', `/disks/${id}/copy`, { storage_domain_id: domB, name: 'e1c' }),
    );
    expect(copy.disk.encrypted).toBe(true);
    const copied = params('volume.copy')[0] as Json;
    expect(copied.source_encryption).toEqual({ secret: createKey });
    expect(copied.target_encryption.secret).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(copied.target_encryption.secret).not.toBe(createKey);
    // Never into a plain copy; `encrypted` is not a move's business.
    expect(
      (await req('POST', `/disks/${id}/copy`, { storage_domain_id: domB, encrypted: false })).statusCode,
    ).toBe(400);
    expect(
      (await req('POST', `/disks/${id}/move`, { storage_domain_id: domB, encrypted: true })).statusCode,
    ).toBe(400);

    // Move: the same disk, the same key on both sides.
    hub.calls.length = 0;
    await settle(await req('POST', `/disks/${id}/move`, { storage_domain_id: domB }));
    const moved = params('volume.copy')[0] as Json;
    expect(moved.source_encryption).toEqual({ secret: createKey });
    expect(moved.target_encryption).toEqual({ secret: createKey });

    // Extend while down: qemu-img opens the LUKS header, so the key goes along.
    await settle(await req('PATCH', `/disks/${id}`, { size_bytes: 32 * MiB }, { 'if-match': '*' }));
    expect(params('volume.resize')[0]).toMatchObject({
      size_bytes: 32 * MiB,
      encryption: { secret: createKey },
    });

    // A plain raw disk copied with encrypted: true is refused (LUKS needs qcow2); keys: e1 and e1c only.
    expect(
      (await req('POST', `/disks/${raw.disk.id}/copy`, { storage_domain_id: domB, encrypted: true }))
        .statusCode,
    ).toBe(400);
    expect(await keyRows()).toBe(2);
    // Keys never appear in the answers.
    const all = JSON.stringify((await req('GET', '/disks?limit=50')).json());
    expect(all).not.toContain(createKey);
  });
});
