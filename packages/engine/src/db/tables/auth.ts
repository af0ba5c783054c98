import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

/** `users` (migrations/0002_auth.sql). */
export interface UsersTable {
  id: Generated<string>;
  domain: Generated<string>;
  name: string;
  password_hash: string | null;
  is_admin: Generated<boolean>;
  disabled: Generated<boolean>;
  version: Generated<number>;
  created_at: ColumnType<Date, never, never>;
  updated_at: ColumnType<Date, never, Date>;
}

/** `auth_tokens`: only the SHA-256 of each token. */
export interface AuthTokensTable {
  id: Generated<string>;
  token_hash: Buffer;
  user_id: string;
  created_at: ColumnType<Date, never, never>;
  expires_at: Date;
  revoked_at: Date | null;
  client_address: string | null;
}

/** `login_throttle`: failed logins per username / client address. */
export interface LoginThrottleTable {
  scope: 'username' | 'address';
  key: string;
  failures: number;
  last_failure_at: Date;
  locked_until: Date | null;
}

export interface AuthTables {
  users: UsersTable;
  auth_tokens: AuthTokensTable;
  login_throttle: LoginThrottleTable;
}

export type UserRow = Selectable<UsersTable>;
export type NewUser = Insertable<UsersTable>;
export type UserUpdate = Updateable<UsersTable>;
export type AuthTokenRow = Selectable<AuthTokensTable>;
