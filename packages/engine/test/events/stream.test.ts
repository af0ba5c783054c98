import { VireoClient } from '@vireo/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOpsApp, type OpsApp, until } from '../operations/support';
import { type EventStreamReader, openEventStream } from './support';

const ids = (s: EventStreamReader) => s.messages.map((m) => Number(m.id));

describe('event stream (Server-Sent Events, real PostgreSQL)', () => {
  let s: OpsApp;
  let base: string;
  beforeAll(async () => {
    s = await createOpsApp();
    base = await s.listen();
  });
  afterAll(async () => s?.close());

  it('delivers live events, then exactly the missed ones after a reconnect with Last-Event-ID', async () => {
    const a = await openEventStream(base, '/api/v1/events/stream?kind=test.live', s.auth());
    expect(a.status).toBe(200);
    expect(a.headers['content-type']).toMatch(/^text\/event-stream/);
    const first = [await s.record({ kind: 'test.live.one' }), await s.record({ kind: 'test.live.two' })];
    await until('two live events', () => a.messages.length === 2);
    expect(ids(a)).toEqual(first);
    expect(a.messages[0]!.event).toBe('test.live.one');
    const data = JSON.parse(a.messages[1]!.data);
    expect(data).toMatchObject({ id: String(first[1]), kind: 'test.live.two', severity: 'info' });

    // Disconnect; three events happen while nobody listens.
    a.close();
    await a.ended;
    await until('the subscription to end', () => s.events.notifier.subscriberCount === 0);
    const missed = [
      await s.record({ kind: 'test.live.three' }),
      await s.record({ kind: 'test.other' }), // filtered out
      await s.record({ kind: 'test.live.four' }),
      await s.record({ kind: 'test.live.five' }),
    ];

    const b = await openEventStream(base, '/api/v1/events/stream?kind=test.live', {
      ...s.auth(),
      'last-event-id': String(first[1]),
    });
    await until('the missed events', () => b.messages.length === 3);
    expect(ids(b)).toEqual([missed[0], missed[2], missed[3]]);
    // ...then live ones, without a repeat.
    const later = await s.record({ kind: 'test.live.six' });
    await until('the live event', () => b.messages.length === 4);
    expect(ids(b)).toEqual([missed[0], missed[2], missed[3], later]);
    b.close();
    await b.ended;
  });

  it('filters by severity and object, and resumes from ?last_event_id', async () => {
    const obj = '0b5a8ac2-7f4e-4d55-9e8f-5b1d9c6a0e11';
    const start = await s.record({ kind: 'test.filter.start' });
    const st = await openEventStream(
      base,
      `/api/v1/events/stream?severity=error&object_id=${obj}&last_event_id=${start}`,
      s.auth(),
    );
    const want = await s.record({
      kind: 'test.filter.hit',
      severity: 'error',
      object: { kind: 'vm', id: obj, name: 'web1' },
    });
    await s.record({ kind: 'test.filter.miss', severity: 'info', object: { kind: 'vm', id: obj } });
    await s.record({ kind: 'test.filter.miss', severity: 'error' });
    const want2 = await s.record({
      kind: 'test.filter.hit',
      severity: 'error',
      object: { kind: 'vm', id: obj },
    });
    await until('two matching events', () => st.messages.length === 2);
    expect(ids(st)).toEqual([want, want2]);
    expect(JSON.parse(st.messages[0]!.data)).toMatchObject({
      object_kind: 'vm',
      object_id: obj,
      object_name: 'web1',
    });
    st.close();
  });

  it('replays from ?since and keeps order when transactions commit out of id order', async () => {
    const since = new Date().toISOString();
    const st = await openEventStream(
      base,
      `/api/v1/events/stream?kind=test.order&since=${encodeURIComponent(since)}`,
      s.auth(),
    );
    const c1 = await s.t.pool.connect();
    try {
      // The first transaction takes the lower id but commits last.
      await c1.query('BEGIN');
      const low = await c1.query(
        "INSERT INTO events (kind, severity, message) VALUES ('test.order.slow', 'info', 'slow') RETURNING id",
      );
      await c1.query(`SELECT pg_notify('vireo_events', '')`);
      const high = await s.record({ kind: 'test.order.fast' });
      expect(high).toBeGreaterThan(Number(low.rows[0].id));
      await new Promise((r) => setTimeout(r, 300));
      // The higher id is held back while the lower one may still commit.
      expect(st.messages).toHaveLength(0);
      await c1.query('COMMIT');
      // Normally at once (the commit's NOTIFY). Any other transaction open in this database when
      // the notifier noticed the gap also holds it, until it ends or the 60 s gap timeout: on a
      // loaded CI machine that once took longer than 10 s, so the wait covers the timeout.
      await until('both events', () => st.messages.length === 2, 70_000);
      expect(ids(st)).toEqual([Number(low.rows[0].id), high]);

      // A rolled-back id never arrives and does not hold the stream up.
      await c1.query('BEGIN');
      await c1.query(
        "INSERT INTO events (kind, severity, message) VALUES ('test.order.gone', 'info', 'gone')",
      );
      const after = await s.record({ kind: 'test.order.after' });
      await c1.query('ROLLBACK');
      await until('the event after the rollback', () => st.messages.length === 3, 70_000);
      expect(ids(st).at(-1)).toBe(after);
    } finally {
      c1.release();
      st.close();
    }
  }, 180_000);

  it('a stream opened with ?since while a lower id is still committing gets that event too', async () => {
    const c1 = await s.t.pool.connect();
    // Just before the slow transaction begins: earlier tests' events are older, both new ones newer.
    const since = new Date().toISOString();
    let st: Awaited<ReturnType<typeof openEventStream>> | undefined;
    try {
      await c1.query('BEGIN');
      const low = await c1.query(
        "INSERT INTO events (kind, severity, message) VALUES ('test.late.slow', 'info', 'slow') RETURNING id",
      );
      await c1.query(`SELECT pg_notify('vireo_events', '')`);
      const high = await s.record({ kind: 'test.late.fast' });
      // The stream starts while the lower id is invisible and the higher one committed: its first
      // event at or after `since` is the higher one, yet the lower one must not be skipped.
      st = await openEventStream(
        base,
        `/api/v1/events/stream?kind=test.late&since=${encodeURIComponent(since)}`,
        s.auth(),
      );
      const stream = st;
      await until('the stream is open', () => stream.comments.some((c) => c.includes('stream open')));
      await c1.query('COMMIT');
      await until('both events', () => stream.messages.length === 2, 70_000);
      expect(ids(stream)).toEqual([Number(low.rows[0].id), high]);
    } finally {
      c1.release();
      st?.close();
    }
  }, 180_000);

  it('sends heartbeat comments', async () => {
    const saved = s.events.stream.heartbeatMs;
    s.events.stream.heartbeatMs = 100;
    try {
      const st = await openEventStream(base, '/api/v1/events/stream', s.auth());
      await until(
        'two heartbeats',
        () => st.comments.filter((c) => c.includes('heartbeat')).length >= 2,
        3000,
      );
      st.close();
    } finally {
      s.events.stream.heartbeatMs = saved;
    }
  });

  it('disconnects a client that does not read instead of buffering without bound', async () => {
    const saved = s.events.stream.maxBufferedBytes;
    s.events.stream.maxBufferedBytes = 64 * 1024;
    try {
      const st = await openEventStream(base, '/api/v1/events/stream?kind=test.flood', s.auth());
      st.res.pause(); // stop reading: the kernel buffers fill, then the server's
      const before = s.events.notifier.subscriberCount;
      expect(before).toBeGreaterThan(0);
      const big = 'x'.repeat(3000);
      for (let i = 0; i < 400; i++) {
        await s.t.db.transaction().execute(async (trx) => {
          for (let j = 0; j < 25; j++)
            await s.events.audit.record(trx, { kind: 'test.flood', severity: 'info', message: big });
        });
        if (s.events.notifier.subscriberCount < before) break;
      }
      await until('the slow client to be dropped', () => s.events.notifier.subscriberCount < before, 10_000);
      st.res.resume();
      await st.ended;
    } finally {
      s.events.stream.maxBufferedBytes = saved;
    }
  });

  it('refuses missing credentials and a malformed Last-Event-ID', async () => {
    const anon = await openEventStream(base, '/api/v1/events/stream', {});
    expect(anon.status).toBe(401);
    anon.close();
    const bad = await openEventStream(base, '/api/v1/events/stream', { ...s.auth(), 'last-event-id': 'abc' });
    expect(bad.status).toBe(400);
    bad.close();
    const badQuery = await openEventStream(base, '/api/v1/events/stream?kind=Bad%20Kind', s.auth());
    expect(badQuery.status).toBe(400);
    badQuery.close();
  });

  it('works with the typed client, which resumes across a dropped connection', async () => {
    const client = new VireoClient({ baseUrl: base, token: s.token });
    const ac = new AbortController();
    const seen: string[] = [];
    let reconnects = 0;
    const reading = (async () => {
      const options = {
        kinds: ['test.client'],
        signal: ac.signal,
        retryMs: 50,
        onReconnect: () => reconnects++,
      };
      for await (const ev of client.events.stream(options)) {
        seen.push(ev.kind);
        if (seen.length === 3) ac.abort();
      }
    })();
    await until('the client to subscribe', () => s.events.notifier.subscriberCount > 0);
    await s.record({ kind: 'test.client.a' });
    await until('the first event', () => seen.length === 1);
    // Drop the connection from the server side; b happens while the client is away.
    s.app.server.closeAllConnections();
    await until('the subscription to end', () => s.events.notifier.subscriberCount === 0);
    await s.record({ kind: 'test.client.b' });
    await until('the client to reconnect', () => s.events.notifier.subscriberCount > 0);
    await s.record({ kind: 'test.client.c' });
    await reading;
    expect(reconnects).toBeGreaterThanOrEqual(1);
    expect(seen).toEqual(['test.client.a', 'test.client.b', 'test.client.c']);
  });
});
