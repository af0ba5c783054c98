/** Who is making a request, as established by the auth plugin from a token. */
export interface Principal {
  userId: string;
  /** `name@domain`, e.g. `admin@internal`. */
  username: string;
  isAdmin: boolean;
  /** The token the request presented (so logout can revoke exactly it). */
  tokenId: string;
  expiresAt: Date;
  /** How the token arrived: cookie-authenticated unsafe requests need the CSRF header. */
  via: 'bearer' | 'cookie';
}

/** Splits `name@domain`; a bare `name` means the built-in `internal` domain. */
export function parseUsername(username: string): { name: string; domain: string } {
  const at = username.lastIndexOf('@');
  if (at < 0) return { name: username.toLowerCase(), domain: 'internal' };
  return { name: username.slice(0, at).toLowerCase(), domain: username.slice(at + 1).toLowerCase() };
}
