import http from 'node:http';
import type { OperationProgressFrame } from '@vireo/api';
import { SseParser } from '@vireo/client';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvents } from '../../src/events';
import type { EventNotifier } from '../../src/events/notifier';
import { parseProgressFrame, progressFrameText, type ProgressSubscriber } from '../../src/events/progress';
import { serveEventStream } from '../../src/events/stream';
import type { OperationHandler } from '../../src/operations';
import { createOpsApp, type OpsApp, until } from '../operations/support';
import { type EventStreamReader, openEventStream } from './support';

/** Opens an event stream that must answer 200. */
async function open(base: string, path: string, headers: Record<string, string>) {
  const s = await openEventStream(base, path, headers);
  if (s.status !== 200) throw new Error(`stream answered ${s.status}`);
  return s;
}

/** A handler that reports the steps the test hands it, one at a time, and ends on `null`. */
class Stepper {
  readonly steps: (number | null)[] = [];
  #wake: (() => void) | undefined;
  push(step: number | null) {
    this.steps.push(step);
    this.#wake?.();
  }
  handler(): OperationHandler {
    return {
      resumable: false,
      run: async ({ progress, signal }) => {
        for (;;) {
          const step = this.steps.shift();
          if (step === null) return { done: true };
          if (step !== undefined) await progress(step, `step ${step}`);
          else await new Promise<void>((r) => (this.#wake = r));
          signal.throwIfAborted();
        }
      },
    };
  }
}

const VM = '1d7c0b7e-3d0a-4a51-9d0e-6f1f0b9a2c33';
const progressOf = (s: EventStreamReader) => s.messages.filter((m) => m.event === 'operation.progress');

describe('live operation progress (ephemeral stream frames, real PostgreSQL)', () => {
  let s: OpsApp;
  let base: string;
  const stepper = new Stepper();

  beforeAll(async () => {
    s = await createOpsApp({
      types: ['test.stepped'],
      register: (ops) => ops.registry.register('test.stepped', stepper.handler()),
    });
    base = await s.listen();
  });
  afterAll(async () => s?.close());

  it('streams id-less progress frames live; a resume with Last-Event-ID replays none', async () => {
    const before = await s.record({ kind: 'test.progress.before' });
    const all = await open(base, '/api/v1/events/stream', s.auth());
    const onlyTests = await open(base, '/api/v1/events/stream?kind=test.', s.auth());
    const other = `/api/v1/events/stream?kind=operation.progress&object_id=${VM.replace('1d', '2d')}`;
    const otherObject = await open(base, other, s.auth());
    // A second engine on the same database hears the first one's progress through NOTIFY.
    const log = pino({ level: 'silent' });
    const second = createEvents({ db: s.t.db, pool: s.t.pool, log });
    const heardBySecond: OperationProgressFrame[] = [];
    second.progress.subscribe((f) => heardBySecond.push(f));
    await second.start();
    try {
      await until('streams subscribed', () => s.events.progress.subscriberCount >= 3);
      const op = await s.t.db.transaction().execute((trx) =>
        s.operations.create(trx, {
          type: 'test.stepped',
          createdBy: null,
          input: {},
          target: { kind: 'vm', id: VM },
        }),
      );
      for (const step of [0.1, 0.5, 0.9]) {
        stepper.push(step);
        await until(
          `progress ${step} on the stream`,
          () => progressOf(all).some((m) => JSON.parse(m.data).progress === step),
          30_000,
        );
      }
      stepper.push(null);
      await until(
        'the operation to succeed on the stream',
        () => all.messages.some((m) => m.event === 'operation.succeeded'),
        30_000,
      );
      await until('the second engine to hear the last step', () =>
        heardBySecond.some((f) => f.progress === 0.9),
      );

      const frames = progressOf(all);
      for (const m of frames) {
        expect(m.id).toBeUndefined();
        expect(JSON.parse(m.data)).toMatchObject({
          id: op.id,
          type: 'test.stepped',
          target_kind: 'vm',
          target_id: VM,
        });
      }
      expect(frames.map((m) => JSON.parse(m.data).progress)).toEqual([0.1, 0.5, 0.9]);
      expect(JSON.parse(frames[1]!.data).message).toBe('step 0.5');
      // The resume id is still an audit event's, never an operation id.
      const audit = all.messages.filter((m) => m.id !== undefined);
      expect(all.parser.lastEventId).toBe(audit.at(-1)!.id);
      expect(audit.map((m) => m.event)).toContain('operation.started');
      // Filters apply: a kind filter without them and another object's stream get none.
      expect(progressOf(onlyTests)).toEqual([]);
      expect(otherObject.messages).toEqual([]);
      expect(heardBySecond.map((f) => f.id)).toEqual([op.id, op.id, op.id]);

      // Reconnect after `before`: every audit event since is replayed, no progress frame is.
      const resumed = await open(base, '/api/v1/events/stream', {
        ...s.auth(),
        'last-event-id': String(before),
      });
      await until('the replay up to the final event', () =>
        resumed.messages.some((m) => m.event === 'operation.succeeded'),
      );
      // (`all` may have started a little before `before` while the notifier caught up.)
      const since = audit.filter((m) => Number(m.id) > before).map((m) => m.id);
      expect(resumed.messages.map((m) => m.id)).toEqual(since);
      expect(progressOf(resumed)).toEqual([]);
      resumed.close();
      await resumed.ended;
    } finally {
      await second.stop();
      for (const st of [all, onlyTests, otherObject]) st.close();
    }
  });

  it('coalesces a burst to the first and the latest frame (≤ 4 a second per operation)', async () => {
    const log = pino({ level: 'silent' });
    const feed = createEvents({ db: s.t.db, pool: s.t.pool, log });
    const heard: OperationProgressFrame[] = [];
    s.events.progress.subscribe((f) => f.type === 'test.burst' && heard.push(f));
    await feed.start();
    try {
      const id = '5e0f3c1a-9b7d-4e2f-8a6c-3d1b0e9f7a55';
      for (let i = 1; i <= 50; i++) {
        feed.progress.publish({
          id,
          type: 'test.burst',
          target_kind: null,
          target_id: null,
          progress: i / 50,
          message: `${i}`,
        });
      }
      await until('the trailing frame', () => heard.some((f) => f.progress === 1), 20_000);
      expect(heard.map((f) => f.message)).toEqual(['1', '50']);
    } finally {
      await feed.stop();
    }
  });

  it('rejects malformed notifications and frames never carry an id line', () => {
    expect(parseProgressFrame('{')).toBeUndefined();
    expect(parseProgressFrame(JSON.stringify({ id: 'x', type: 't', progress: 0.5 }))).toBeUndefined();
    const ok = { id: VM, type: 'vm.start', target_kind: 'vm', target_id: VM, progress: 3, message: null };
    expect(parseProgressFrame(JSON.stringify(ok))).toMatchObject({ progress: 1 });
    expect(parseProgressFrame(JSON.stringify({ ...ok, progress: 'half' }))).toBeUndefined();
    const text = progressFrameText({ ...ok, message: 'line\nbreak' });
    expect(text.split('\n').filter((l) => l.startsWith('id:'))).toEqual([]);
    expect(new SseParser().push(text)).toEqual([
      { event: 'operation.progress', data: JSON.stringify({ ...ok, message: 'line\nbreak' }) },
    ]);
  });
});

describe('progress frames on one stream (no database: nothing to replay)', () => {
  it('sends a frame only when the reader may read its target and the filters match', async () => {
    const subscribers = new Set<ProgressSubscriber>();
    const feed = {
      subscribe(fn: ProgressSubscriber) {
        subscribers.add(fn);
        return () => subscribers.delete(fn);
      },
    };
    const notifier = { watermark: 0, subscribe: () => () => {} } as unknown as EventNotifier;
    const hidden = '3f2e1d0c-9b8a-4765-8432-10fedcba9876';
    const server = http.createServer((req, res) => {
      const objectId = new URL(req.url ?? '/', 'http://x').searchParams.get('object_id') ?? undefined;
      void serveEventStream(
        res,
        { db: undefined as never, notifier, progress: feed, log: pino({ level: 'silent' }) },
        {
          filter: objectId ? { objectId } : {},
          visible: () => true,
          visibleProgress: (f) => f.target_id !== hidden,
          heartbeatMs: 60_000,
          maxBufferedBytes: 1024 * 1024,
        },
      );
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const all = await open(base, '/', {});
    const one = await open(base, `/?object_id=${VM}`, {});
    try {
      await until('both streams subscribed', () => subscribers.size === 2);
      const frame = (target_id: string, progress: number): OperationProgressFrame => ({
        id: VM,
        type: 'vm.start',
        target_kind: 'vm',
        target_id,
        progress,
        message: null,
      });
      for (const f of [frame(hidden, 0.1), frame(VM, 0.2), frame(hidden.replace('3f', '4f'), 0.3)]) {
        for (const fn of subscribers) fn(f);
      }
      await until('the visible frames', () => all.messages.length === 2 && one.messages.length === 1);
      expect(all.messages.map((m) => JSON.parse(m.data).progress)).toEqual([0.2, 0.3]);
      expect(one.messages.map((m) => JSON.parse(m.data).progress)).toEqual([0.2]);
      expect([...all.messages, ...one.messages].every((m) => m.id === undefined)).toBe(true);
    } finally {
      all.close();
      one.close();
      await Promise.all([all.ended, one.ended]);
      await until('the streams to unsubscribe', () => subscribers.size === 0);
      await new Promise<void>((r) => server.close(() => r()));
    }
  });
});
