import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from './args';
import { joinEngine, normaliseFingerprint, readToken } from './join';

describe('vireo-agent join helpers', () => {
  it('compares CA fingerprints whatever their spelling', () => {
    expect(normaliseFingerprint('ab:cd:EF')).toBe(normaliseFingerprint('ABCDef'));
    expect(normaliseFingerprint('AB:CD')).not.toBe(normaliseFingerprint('AB:CE'));
  });

  it('reads the token from exactly one source, trimmed', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vireo-join-'));
    try {
      const file = join(dir, 'token');
      await writeFile(file, 'vjt_abc\n', { mode: 0o600 });
      expect(readToken({ file })).toBe('vjt_abc');
      expect(readToken({ value: ' vjt_x ' })).toBe('vjt_x');
      expect(() => readToken({ file, value: 'vjt_x' })).toThrow(UsageError);
      expect(() => readToken({})).toThrow(UsageError);
      await writeFile(file, '  \n');
      expect(() => readToken({ file })).toThrow(/empty/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('refuses a plain-HTTP engine URL and a missing way to trust the engine before any network use', async () => {
    const tls = { ca: '/nonexistent/ca.pem', cert: '/nonexistent/agent.pem', key: '/nonexistent/key.pem' };
    const base = { token: 'vjt_x', name: 'h', address: '127.0.0.1' };
    await expect(joinEngine({ ...base, engine: 'http://127.0.0.1:1' }, tls, 54321)).rejects.toThrow(/https/);
    await expect(joinEngine({ ...base, engine: 'https://127.0.0.1:1' }, tls, 54321)).rejects.toThrow(
      /--ca-fingerprint or --ca-file/,
    );
  });
});
