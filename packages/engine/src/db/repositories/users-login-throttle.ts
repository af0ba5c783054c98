import { sql } from 'kysely';
import type { Executor } from '../schema';

export type ThrottleScope = 'username' | 'address';

/** Tuning of the failed-login throttle for one scope. */
export interface ThrottlePolicy {
  /** Failures before the first lock. */
  threshold: number;
  /** First lock length; doubles with every further failure. */
  baseLockMs: number;
  maxLockMs: number;
  /** A failure older than this no longer counts. */
  windowMs: number;
}

/**
 * The latest `locked_until` among the given keys that is still in the future, or null. Read
 * before checking a password so a locked account gives no password oracle.
 */
export async function activeLock(
  ex: Executor,
  keys: { scope: ThrottleScope; key: string }[],
): Promise<Date | null> {
  if (keys.length === 0) return null;
  const row = await ex
    .selectFrom('login_throttle')
    .select(sql<Date | null>`max(locked_until)`.as('until'))
    .where((eb) => eb.or(keys.map((k) => eb.and([eb('scope', '=', k.scope), eb('key', '=', k.key)]))))
    .where('locked_until', '>', sql<Date>`now()`)
    .executeTakeFirst();
  return row?.until ?? null;
}

/**
 * Counts one failure atomically (safe with several engines) and locks the key once the count
 * reaches the threshold: base × 2^(failures − threshold), capped. Returns the new state.
 */
export async function recordFailure(
  ex: Executor,
  scope: ThrottleScope,
  key: string,
  policy: ThrottlePolicy,
): Promise<{ failures: number; lockedUntil: Date | null }> {
  const window = `${Math.round(policy.windowMs)} milliseconds`;
  const failures = sql<number>`CASE WHEN login_throttle.last_failure_at < now() - ${window}::interval
    THEN 1 ELSE login_throttle.failures + 1 END`;
  // Parameters are untyped to PostgreSQL; cast them or `n - threshold` has no operator.
  const threshold = sql<number>`${policy.threshold}::int`;
  const lockFor = (n: typeof failures) =>
    sql<Date | null>`CASE WHEN ${n} >= ${threshold}
      THEN now() + least(${policy.maxLockMs}::float8,
                         ${policy.baseLockMs}::float8 * power(2, least(${n} - ${threshold}, 30)))
                   * interval '1 millisecond'
      ELSE NULL END`;
  const row = await ex
    .insertInto('login_throttle')
    .values({
      scope,
      key,
      failures: 1,
      last_failure_at: sql<Date>`now()`,
      locked_until: lockFor(sql<number>`1`),
    })
    .onConflict((oc) =>
      oc.columns(['scope', 'key']).doUpdateSet({
        failures,
        last_failure_at: sql<Date>`now()`,
        locked_until: lockFor(failures),
      }),
    )
    .returning(['failures', 'locked_until'])
    .executeTakeFirstOrThrow();
  return { failures: row.failures, lockedUntil: row.locked_until };
}

/** Forgets the failures of a key (after a successful login for that username). */
export async function clearFailures(ex: Executor, scope: ThrottleScope, key: string): Promise<void> {
  await ex.deleteFrom('login_throttle').where('scope', '=', scope).where('key', '=', key).execute();
}

/** Drops entries whose failures have aged out and that are not locked. */
export async function purgeStaleThrottle(ex: Executor, windowMs: number): Promise<void> {
  await ex
    .deleteFrom('login_throttle')
    .where('last_failure_at', '<', sql<Date>`now() - ${`${Math.round(windowMs)} milliseconds`}::interval`)
    .where((eb) => eb.or([eb('locked_until', 'is', null), eb('locked_until', '<', sql<Date>`now()`)]))
    .execute();
}
