/** Most ids one batched query carries; a larger batch is split (keeps the array parameter small). */
export const MAX_BATCH = 100;

// The canonical text form PostgreSQL prints for a uuid. Only ids in this form are batched: any
// other spelling (or garbage) takes the caller's single-row query, so it behaves exactly as before
// and can never fail the reads it would otherwise have shared a statement with.
const CANONICAL_UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface Waiter<Row> {
  resolve(row: Row | undefined): void;
  reject(err: unknown): void;
}

/**
 * Reads one row by id; concurrent reads are coalesced into one `id = ANY($1)` query per
 * event-loop turn.
 */
export type BatchedRead<Row> = (id: string) => Promise<Row | undefined>;

/**
 * Coalesces single-row reads by primary key that arrive in the same event-loop turn into one query.
 *
 * Why: on this platform every database round trip costs a socket write and a cross-process
 * wake-up, which profiling showed to be the largest share of the engine's CPU on `GET …/{id}` under
 * load (more than TLS). Requests whose bytes arrive in the same poll phase each ask for a row;
 * flushing on `setImmediate` (the check phase, after the poll phase has handed every ready socket
 * its data) sends them as one statement. Each read is still a real read issued after its request
 * arrived, so a client sees every write that committed before it asked — the same guarantee as
 * one query per request; nothing is cached between turns.
 *
 * @param fetchMany runs the batched query; must return the rows that exist among `ids` (lowercase
 *   canonical uuids), each with its `id` in canonical form, as PostgreSQL returns a uuid.
 * @param fetchOne the single-row query, for ids not in canonical uuid form.
 */
export function batchedRead<Row extends { id: string }>(
  fetchMany: (ids: string[]) => Promise<Row[]>,
  fetchOne: (id: string) => Promise<Row | undefined>,
): BatchedRead<Row> {
  let pending = new Map<string, Waiter<Row>[]>();
  let scheduled = false;

  function settle(batch: Map<string, Waiter<Row>[]>, ids: string[]): void {
    fetchMany(ids).then(
      (rows) => {
        const byId = new Map<string, Row>();
        for (const row of rows) byId.set(row.id, row);
        for (const id of ids) for (const w of batch.get(id) ?? []) w.resolve(byId.get(id));
      },
      (err: unknown) => {
        for (const id of ids) for (const w of batch.get(id) ?? []) w.reject(err);
      },
    );
  }

  function flush(): void {
    scheduled = false;
    const batch = pending;
    pending = new Map();
    const ids = [...batch.keys()];
    for (let i = 0; i < ids.length; i += MAX_BATCH) settle(batch, ids.slice(i, i + MAX_BATCH));
  }

  return (id) => {
    if (!CANONICAL_UUID_RE.test(id)) return fetchOne(id);
    const key = id.toLowerCase();
    return new Promise<Row | undefined>((resolve, reject) => {
      const waiters = pending.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else pending.set(key, [{ resolve, reject }]);
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
  };
}
