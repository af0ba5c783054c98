import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newDiskKey, unwrapDiskKey, wrapDiskKey } from './disk-keys';
import { loadOrCreateMasterKey, MASTER_KEY_FILE } from './master-key';

describe('disk key wrapping under the engine master key', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-secrets-'));
    dirs.push(d);
    return d;
  };
  afterEach(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('creates a 0600 master key once and loads the same key afterwards', () => {
    const dir = tmp();
    const a = loadOrCreateMasterKey(dir);
    const st = fs.statSync(path.join(dir, MASTER_KEY_FILE));
    expect(st.mode & 0o777).toBe(0o600);
    expect(a.key.length).toBe(32);
    const b = loadOrCreateMasterKey(dir);
    expect(b.key.equals(a.key)).toBe(true);
    expect(b.id).toBe(a.id);
    expect(loadOrCreateMasterKey(tmp()).id).not.toBe(a.id);
  });

  it('refuses a world-readable or truncated master key instead of replacing it', () => {
    const dir = tmp();
    loadOrCreateMasterKey(dir);
    const file = path.join(dir, MASTER_KEY_FILE);
    fs.chmodSync(file, 0o644);
    expect(() => loadOrCreateMasterKey(dir)).toThrow(/unusable/);
    fs.chmodSync(file, 0o600);
    fs.writeFileSync(file, Buffer.alloc(16).toString('base64'));
    expect(() => loadOrCreateMasterKey(dir)).toThrow(/unusable/);
  });

  it('round-trips a disk key; another disk id, master key or a flipped bit fails', () => {
    const master = loadOrCreateMasterKey(tmp());
    const other = loadOrCreateMasterKey(tmp());
    const diskId = randomUUID();
    const key = newDiskKey();
    const wrapped = wrapDiskKey(master, diskId, key);
    expect(wrapped.ciphertext.includes(key)).toBe(false);
    expect(unwrapDiskKey(master, diskId, wrapped).equals(key)).toBe(true);
    // Two wraps of the same key differ (fresh IV).
    expect(wrapDiskKey(master, diskId, key).ciphertext.equals(wrapped.ciphertext)).toBe(false);
    expect(() => unwrapDiskKey(master, randomUUID(), wrapped)).toThrow(/does not decrypt/);
    expect(() => unwrapDiskKey(other, diskId, wrapped)).toThrow(/another master key/);
    expect(() => unwrapDiskKey({ id: master.id, key: other.key }, diskId, wrapped)).toThrow(
      /does not decrypt/,
    );
    const tampered = { ...wrapped, ciphertext: Buffer.from(wrapped.ciphertext) };
    tampered.ciphertext[0] = (tampered.ciphertext[0] ?? 0) ^ 1;
    expect(() => unwrapDiskKey(master, diskId, tampered)).toThrow(/does not decrypt/);
  });
});
