import { sql } from 'kysely';
import type { Executor } from '../schema';

/** A live token joined with its user, as the auth plugin needs it on every request. */
export interface TokenSession {
  tokenId: string;
  expiresAt: Date;
  revokedAt: Date | null;
  userId: string;
  userName: string;
  userDomain: string;
  isAdmin: boolean;
  disabled: boolean;
}

export async function insertToken(
  ex: Executor,
  token: { hash: Buffer; userId: string; expiresAt: Date; clientAddress: string | null },
): Promise<{ id: string }> {
  return ex
    .insertInto('auth_tokens')
    .values({
      token_hash: token.hash,
      user_id: token.userId,
      expires_at: token.expiresAt,
      revoked_at: null,
      client_address: token.clientAddress,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
}

/** Looks a token up by its SHA-256. One indexed query: this runs on every authenticated request. */
export async function findTokenSession(ex: Executor, hash: Buffer): Promise<TokenSession | undefined> {
  return ex
    .selectFrom('auth_tokens as t')
    .innerJoin('users as u', 'u.id', 't.user_id')
    .select([
      't.id as tokenId',
      't.expires_at as expiresAt',
      't.revoked_at as revokedAt',
      'u.id as userId',
      'u.name as userName',
      'u.domain as userDomain',
      'u.is_admin as isAdmin',
      'u.disabled as disabled',
    ])
    .where('t.token_hash', '=', hash)
    .executeTakeFirst();
}

/** Marks a token revoked; true when it was live. */
export async function revokeToken(ex: Executor, tokenId: string): Promise<boolean> {
  const res = await ex
    .updateTable('auth_tokens')
    .set({ revoked_at: sql<Date>`now()` })
    .where('id', '=', tokenId)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return res.numUpdatedRows > 0n;
}

/** Deletes tokens that expired (or were revoked) more than `graceMs` ago. */
export async function purgeDeadTokens(ex: Executor, graceMs: number): Promise<number> {
  const cutoff = sql<Date>`now() - ${`${Math.round(graceMs)} milliseconds`}::interval`;
  const res = await ex
    .deleteFrom('auth_tokens')
    .where((eb) => eb.or([eb('expires_at', '<', cutoff), eb('revoked_at', '<', cutoff)]))
    .executeTakeFirst();
  return Number(res.numDeletedRows);
}
