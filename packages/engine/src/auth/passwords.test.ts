import { describe, expect, it } from 'vitest';
import { hashPassword, verifyAgainstDummy, verifyPassword } from './passwords';

describe('password hashes', () => {
  it('verifies the right password only, with a fresh salt each time and parameters stored', async () => {
    const a = await hashPassword('correct horse');
    const b = await hashPassword('correct horse');
    expect(a).toMatch(/^scrypt\$15\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(a).not.toBe(b);
    expect(await verifyPassword('correct horse', a)).toBe(true);
    expect(await verifyPassword('correct horse ', a)).toBe(false);
    expect(await verifyPassword('', a)).toBe(false);
  });

  it('treats Unicode compositions as the same password', async () => {
    const h = await hashPassword('caf\u00e9');
    expect(await verifyPassword('cafe\u0301', h)).toBe(true);
  });

  it('never matches a malformed or tampered hash, and refuses costly parameters', async () => {
    const h = await hashPassword('pw');
    const parts = h.split('$');
    const flipped = [...parts.slice(0, 5), `${parts[5]!.startsWith('A') ? 'B' : 'A'}${parts[5]!.slice(1)}`];
    for (const bad of [
      '',
      'plain',
      'scrypt$15$8$1$$',
      flipped.join('$'),
      h.replace('scrypt$15', 'scrypt$30'),
    ]) {
      expect(await verifyPassword('pw', bad), bad).toBe(false);
    }
    expect(await verifyAgainstDummy('pw')).toBe(false);
  });
});
