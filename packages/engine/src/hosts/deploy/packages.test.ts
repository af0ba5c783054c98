import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HOST_DEB_PACKAGES } from './packages';
import { fingerprintOf, normalizeFingerprint, sh } from './ssh';

describe('host packages', () => {
  it('are all in scripts/lib.sh, the list this machine and CI install', () => {
    const lib = readFileSync(new URL('../../../../../scripts/lib.sh', import.meta.url), 'utf8');
    const block = /VIREO_DEB_PACKAGES=\(([\s\S]*?)\n\)/.exec(lib)?.[1] ?? '';
    const listed = block
      .split('\n')
      .map((l) => l.replace(/#.*$/, ''))
      .join(' ')
      .split(/\s+/)
      .filter(Boolean);
    for (const p of HOST_DEB_PACKAGES) expect(listed).toContain(p);
  });
});

describe('SSH helpers', () => {
  it('prints fingerprints the way OpenSSH does and accepts either spelling back', () => {
    const fp = fingerprintOf(Buffer.from('key blob'));
    expect(fp).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(normalizeFingerprint(fp.slice('SHA256:'.length))).toBe(fp);
    expect(normalizeFingerprint(`${fp}=`)).toBe(fp);
  });

  it('quotes shell words so no character escapes', () => {
    expect(sh("a b'c$d")).toBe(`'a b'\\''c$d'`);
  });
});
