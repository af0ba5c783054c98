import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTlsFixture } from '../../../client/test/support/tls-fixture';
import { ConfigStore, defaultConfigDir } from './store';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('ConfigStore', () => {
  it('keeps tokens and CAs in 0600 files inside a 0700 directory', () => {
    const root = mkdtempSync(join(tmpdir(), 'vireo-cfg-'));
    dirs.push(root);
    const store = new ConfigStore(join(root, 'vireo'));
    const { caPem, caFingerprint } = makeTlsFixture();
    store.save(
      'prod',
      { url: 'https://e:8443/api/v1', username: 'admin@internal' },
      { caPem, token: 'secret-token' },
    );
    store.setCurrent('prod');
    const mode = (p: string) => statSync(p).mode & 0o777;
    expect(mode(store.dir)).toBe(0o700);
    expect(mode(join(store.dir, 'profiles', 'prod'))).toBe(0o700);
    for (const f of ['config.json', 'profiles/prod/token', 'profiles/prod/ca.pem'])
      expect(mode(join(store.dir, f))).toBe(0o600);
    expect(store.load('prod')).toMatchObject({ token: 'secret-token', ca_fingerprint: caFingerprint, caPem });
    expect(store.current()).toBe('prod');
    expect(store.findByUrl('https://e:8443/api/v1')).toBe('prod');

    store.forgetToken('prod');
    expect(store.load('prod')?.token).toBeUndefined();
    store.remove('prod');
    expect(store.names()).toEqual([]);
    expect(store.current()).toBeUndefined();
  });

  it('refuses profile names that could escape the directory', () => {
    const store = new ConfigStore('/nonexistent/vireo');
    for (const bad of ['..', '../x', 'a/b', '', '.hidden'])
      expect(() => store.load(bad)).toThrow(/invalid profile name/);
  });

  it('follows XDG_CONFIG_HOME', () => {
    expect(defaultConfigDir({ XDG_CONFIG_HOME: '/x/cfg', HOME: '/h' })).toBe('/x/cfg/vireo');
    expect(defaultConfigDir({ HOME: '/h' })).toBe('/h/.config/vireo');
  });
});
