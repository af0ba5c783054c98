import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseListen } from './config';

describe('agent config', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vac-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('layers defaults < file < environment < flags', () => {
    const file = join(dir, 'agent.json');
    writeFileSync(
      file,
      JSON.stringify({ state_dir: '/srv/a', listen: '0.0.0.0:1000', accel: 'kvm', stats_interval_s: 30 }),
    );
    const fromFile = loadConfig({ config: file }, {});
    expect(fromFile).toMatchObject({
      stateDir: '/srv/a',
      listen: { host: '0.0.0.0', port: 1000 },
      accel: 'kvm',
    });
    expect(fromFile.statsIntervalS).toBe(30);
    // TLS files and image directory default under the state directory.
    expect(fromFile.tls.ca).toBe('/srv/a/tls/ca.pem');
    expect(fromFile.imageDirs).toEqual(['/srv/a/images']);

    const env = { VIREO_AGENT_LISTEN: '127.0.0.1:2000', VIREO_AGENT_IMAGE_DIRS: '/img/a:/img/b' };
    expect(loadConfig({ config: file }, env)).toMatchObject({
      stateDir: '/srv/a',
      listen: { port: 2000 },
      imageDirs: ['/img/a', '/img/b'],
    });
    expect(loadConfig({ config: file, listen: '127.0.0.1:3000', accel: 'tcg' }, env)).toMatchObject({
      listen: { port: 3000 },
      accel: 'tcg',
    });
  });

  it('names what is wrong', () => {
    expect(() => loadConfig({ accel: 'hvf' }, {})).toThrow(ConfigError);
    expect(() => loadConfig({ accel: 'hvf' }, {})).toThrow(/accel must be auto, kvm or tcg/);
    expect(() => loadConfig({ listen: 'localhost' }, {})).toThrow(/HOST:PORT/);
    expect(() => loadConfig({}, { VIREO_AGENT_VNC_PORTS: '5000-5100' })).toThrow(/5900/);
    expect(() => loadConfig({ 'stats-interval': '0' }, {})).toThrow(/stats interval/);
    expect(() => loadConfig({}, { VIREO_AGENT_SANDBOX: 'maybe' })).toThrow(/true\/false/);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ state_dir: '/x', listne: '1:2' }));
    expect(() => loadConfig({ config: bad }, {})).toThrow(/unknown key "listne"/);
    expect(() => loadConfig({ config: join(dir, 'missing.json') }, {})).toThrow(/does not exist/);
  });

  it('parses IPv4, names and bracketed IPv6 listen addresses', () => {
    expect(parseListen('127.0.0.1:54321')).toEqual({ host: '127.0.0.1', port: 54321 });
    expect(parseListen('agent.example:1')).toEqual({ host: 'agent.example', port: 1 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(() => parseListen('::1:80')).toThrow(ConfigError);
    expect(() => parseListen('host:70000')).toThrow(ConfigError);
  });
});
