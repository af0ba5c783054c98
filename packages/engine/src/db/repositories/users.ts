import { sql } from 'kysely';
import type { Executor } from '../schema';
import type { UserRow } from '../tables/auth';

/** Finds a user by (lower-case) name and domain. */
export async function findUserByName(
  ex: Executor,
  domain: string,
  name: string,
): Promise<UserRow | undefined> {
  return ex
    .selectFrom('users')
    .selectAll()
    .where('domain', '=', domain)
    .where('name', '=', name)
    .executeTakeFirst();
}

/**
 * Creates the user or replaces its password hash (and makes sure it is enabled). Returns the
 * user's id and whether it was created.
 */
export async function upsertUserPassword(
  ex: Executor,
  user: { domain: string; name: string; passwordHash: string; isAdmin: boolean },
): Promise<{ id: string; created: boolean }> {
  const row = await ex
    .insertInto('users')
    .values({
      domain: user.domain,
      name: user.name,
      password_hash: user.passwordHash,
      is_admin: user.isAdmin,
    })
    .onConflict((oc) =>
      oc.constraint('users_domain_name_key').doUpdateSet({
        password_hash: user.passwordHash,
        is_admin: user.isAdmin,
        disabled: false,
        version: sql`users.version + 1`,
        updated_at: sql`now()`,
      }),
    )
    // xmax = 0 only for a freshly inserted row: the usual way to tell insert from update.
    .returning(['id', sql<boolean>`(xmax = 0)`.as('created')])
    .executeTakeFirstOrThrow();
  return { id: row.id, created: row.created };
}
