import { upsertUserPassword } from '../db/repositories/users';
import type { Executor } from '../db/schema';
import { InvalidInput } from '../errors';
import { hashPassword } from './passwords';

export const ADMIN_DOMAIN = 'internal';
export const ADMIN_NAME = 'admin';
/** Shortest admin password setup accepts. */
export const ADMIN_PASSWORD_MIN_LENGTH = 8;

/**
 * Creates `admin@internal` or replaces its password (and re-enables it). Used by `vireo-engine
 * setup`. Never log the password.
 *
 * @throws InvalidInput `invalid_input` when the password is too short or too long.
 */
export async function setAdminPassword(db: Executor, password: string): Promise<{ userId: string }> {
  if (password.length < ADMIN_PASSWORD_MIN_LENGTH || password.length > 1024) {
    throw new InvalidInput(
      'invalid_input',
      `the admin password must be ${ADMIN_PASSWORD_MIN_LENGTH} to 1024 characters long`,
      { details: { field: 'password', min_length: ADMIN_PASSWORD_MIN_LENGTH } },
    );
  }
  const passwordHash = await hashPassword(password);
  const { id } = await upsertUserPassword(db, {
    domain: ADMIN_DOMAIN,
    name: ADMIN_NAME,
    passwordHash,
    isAdmin: true,
  });
  return { userId: id };
}
