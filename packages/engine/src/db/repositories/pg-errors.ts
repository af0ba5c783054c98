/** PostgreSQL SQLSTATE codes the repositories translate into domain errors. */
const UNIQUE_VIOLATION = '23505';
const FOREIGN_KEY_VIOLATION = '23503';

interface PgError {
  code?: string;
  constraint?: string;
}

function asPg(err: unknown): PgError | null {
  return typeof err === 'object' && err !== null ? (err as PgError) : null;
}

/** True when `err` is a unique violation (of `constraint`, when given). */
export function isUniqueViolation(err: unknown, constraint?: string): boolean {
  const e = asPg(err);
  return e?.code === UNIQUE_VIOLATION && (constraint === undefined || e.constraint === constraint);
}

/** True when `err` is a foreign-key violation (of `constraint`, when given). */
export function isForeignKeyViolation(err: unknown, constraint?: string): boolean {
  const e = asPg(err);
  return e?.code === FOREIGN_KEY_VIOLATION && (constraint === undefined || e.constraint === constraint);
}

// Connection-level failures: the server is down, restarting, overloaded or unreachable. Retrying
// later can succeed, so they answer 503 rather than 500.
const UNAVAILABLE_SQLSTATES = new Set([
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '08000',
  '08001',
  '08003',
  '08006',
]);
const UNAVAILABLE_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOENT',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
]);

/** True when `err` says the database cannot be reached right now (as opposed to a bad query). */
export function isDatabaseUnavailable(err: unknown): boolean {
  const e = asPg(err);
  if (!e) return false;
  if (e.code && (UNAVAILABLE_SQLSTATES.has(e.code) || UNAVAILABLE_NODE_CODES.has(e.code))) return true;
  const message = err instanceof Error ? err.message : '';
  // pg-pool and pg report these without a code.
  return /timeout exceeded when trying to connect|Connection terminated|connection error/i.test(message);
}
