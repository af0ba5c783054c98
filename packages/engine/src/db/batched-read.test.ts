import { randomUUID } from 'node:crypto';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { batchedRead, MAX_BATCH } from './batched-read';

interface Row {
  id: string;
  n: number;
}

/** A fake table behind the two fetchers, recording every call. */
function table(rows: Row[]) {
  const many: string[][] = [];
  const one: string[] = [];
  let failMany: Error | undefined;
  const read = batchedRead<Row>(
    async (ids) => {
      many.push(ids);
      if (failMany) throw failMany;
      return rows.filter((r) => ids.includes(r.id));
    },
    async (id) => {
      one.push(id);
      return rows.find((r) => r.id === id);
    },
  );
  return {
    read,
    many,
    one,
    failNext(err: Error) {
      failMany = err;
    },
  };
}

describe('batchedRead', () => {
  const a = { id: randomUUID(), n: 1 };
  const b = { id: randomUUID(), n: 2 };

  it('answers reads made in the same turn with one query, each with its own row', async () => {
    const t = table([a, b]);
    const missing = randomUUID();
    const got = await Promise.all([t.read(a.id), t.read(b.id), t.read(missing), t.read(a.id)]);
    expect(got).toEqual([a, b, undefined, a]);
    expect(t.many).toEqual([[a.id, b.id, missing]]);
    expect(t.one).toEqual([]);
  });

  it('matches an upper-case id to the canonical row id', async () => {
    const t = table([a]);
    expect(await t.read(a.id.toUpperCase())).toEqual(a);
    expect(t.many).toEqual([[a.id]]);
  });

  it('sends ids that are not canonical uuids through the single-row query, apart from the batch', async () => {
    const t = table([a]);
    const [odd, good] = await Promise.all([t.read('not-a-uuid'), t.read(a.id)]);
    expect(odd).toBeUndefined();
    expect(good).toEqual(a);
    expect(t.one).toEqual(['not-a-uuid']);
    expect(t.many).toEqual([[a.id]]);
  });

  it('reads again in a later turn (nothing is cached)', async () => {
    const t = table([a]);
    expect(await t.read(a.id)).toEqual(a);
    await turn();
    expect(await t.read(a.id)).toEqual(a);
    expect(t.many).toEqual([[a.id], [a.id]]);
  });

  it('rejects every read of a failed batch with the query error', async () => {
    const t = table([a, b]);
    const boom = new Error('connection lost');
    t.failNext(boom);
    const results = await Promise.allSettled([t.read(a.id), t.read(b.id)]);
    expect(results).toEqual([
      { status: 'rejected', reason: boom },
      { status: 'rejected', reason: boom },
    ]);
  });

  it(`splits a turn with more than ${MAX_BATCH} distinct ids into several queries`, async () => {
    const rows = Array.from({ length: MAX_BATCH + 5 }, (_, n) => ({ id: randomUUID(), n }));
    const t = table(rows);
    const got = await Promise.all(rows.map((r) => t.read(r.id)));
    expect(got).toEqual(rows);
    expect(t.many.map((ids) => ids.length)).toEqual([MAX_BATCH, 5]);
  });
});
