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
