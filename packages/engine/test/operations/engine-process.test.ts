import { VireoClient, type VireoEvent } from '@vireo/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EngineProcess, startEngine } from '../../../../test/support/engine';
import { until } from './support';

/**
 * The built engine binary over real HTTPS, with the typed client the CLI uses: operations and the
 * event stream as wired by main.ts (LISTEN connection, notifier, runner).
 */
describe('operations and events in the engine process', () => {
  let engine: EngineProcess;
  let client: VireoClient;
  beforeAll(async () => {
    engine = await startEngine();
    client = new VireoClient({ baseUrl: engine.url, ca: engine.caPem });
    const { token } = await client.login('admin@internal', engine.adminPassword!);
    client.setToken(token);
  });
  afterAll(async () => {
    await client?.close();
    await engine?.stop();
  });

  it('runs events.purge to completion (202, ?wait) while the stream reports its operation events', async () => {
    const ac = new AbortController();
    const seen: VireoEvent[] = [];
    const reading = (async () => {
      for await (const ev of client.events.stream({ kinds: ['operation.', 'events.'], signal: ac.signal })) {
        seen.push(ev);
      }
    })();
    try {
      // Give the stream a moment to subscribe, then start the purge.
      await new Promise((r) => setTimeout(r, 300));
      const before = new Date(Date.now() - 7 * 24 * 3600 * 1000).toISOString();
      const res = await client.create('/events/purge', { before });
      expect(res.kind).toBe('accepted');
      if (res.kind !== 'accepted') return;
      const done = await client.waitForOperation(res.operation.id, { timeoutMs: 20_000 });
      expect(done).toMatchObject({ state: 'succeeded', type: 'events.purge', progress: 1 });
      await until(
        'the stream to show the operation finishing',
        () => seen.some((e) => e.kind === 'operation.succeeded' && e.operation_id === res.operation.id),
        10_000,
      );
      const mine = seen.filter((e) => e.operation_id === res.operation.id).map((e) => e.kind);
      expect(mine).toEqual([
        'operation.created',
        'operation.started',
        'events.purged',
        'operation.succeeded',
      ]);
      // Ids only grow along the stream.
      const ids = seen.map((e) => Number(e.id));
      expect([...ids].sort((a, b) => a - b)).toEqual(ids);

      const refused = await client
        .create('/events/purge', { before: new Date().toISOString() })
        .catch((e) => e);
      expect(refused).toMatchObject({ status: 400, code: 'purge_before_too_recent' });
    } finally {
      ac.abort();
      await reading;
    }
  });
});
