import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  ConfigError,
  describeConfig,
  parseDuration,
  parseListen,
  readConfigFile,
  resolveConfig,
  settingsFromEnv,
  toConfigFile,
} from './config';
import { formatAnswers, parseAnswers } from './setup/answers';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-config-test-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('configuration precedence and validation', () => {
  it('flags beat the environment, which beats the file, which beats defaults', () => {
    const c = resolveConfig(
      [
        { source: 'flag', settings: { listen: '127.0.0.1:9000' } },
        {
          source: 'env',
          settings: settingsFromEnv({ VIREO_LISTEN: '127.0.0.1:9001', VIREO_LOG_LEVEL: 'debug' }),
        },
        { source: 'file', settings: { listen: '127.0.0.1:9002', logLevel: 'warn', organization: 'Acme' } },
      ],
      { env: {}, isRoot: false },
    );
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 9000 });
    expect(c.sources.listen).toBe('flag');
    expect(c.logLevel).toBe('debug');
    expect(c.sources.logLevel).toBe('env');
    expect(c.organization).toBe('Acme');
    expect(c.sources.organization).toBe('file');
    expect(c.tokenLifetimeMs).toBe(12 * 3_600_000);
    expect(c.sources.tokenLifetime).toBe('default');
    expect(c.database).toEqual({ kind: 'embedded' });
    expect(c.insecureHttp).toBe(false);
  });

  it('defaults the data directory to /var/lib/vireo for root and ~/.local/share/vireo otherwise', () => {
    expect(resolveConfig([], { env: {}, isRoot: true }).dataDir).toBe('/var/lib/vireo');
    expect(resolveConfig([], { env: {}, isRoot: false }).dataDir).toBe(
      path.join(os.homedir(), '.local/share/vireo'),
    );
  });

  it('reports every bad setting at once, naming where each came from', () => {
    const attempt = () =>
      resolveConfig(
        [
          { source: 'env', settings: { listen: 'nope', logLevel: 'loud' } },
          { source: 'flag', settings: { tokenLifetime: '1s' } },
        ],
        { env: {} },
      );
    expect(attempt).toThrow(ConfigError);
    const msg = (() => {
      try {
        attempt();
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(msg).toContain('VIREO_LISTEN (environment)');
    expect(msg).toContain('VIREO_LOG_LEVEL (environment)');
    expect(msg).toContain('--token-lifetime (command line): must be between 5m and 30d');
  });

  it('refuses a database password on the command line or in engine.conf, accepts it from the environment', () => {
    const url = 'postgresql://vireo:s3cret@db.example:5432/vireo';
    expect(() => resolveConfig([{ source: 'flag', settings: { databaseUrl: url } }], { env: {} })).toThrow(
      /must not carry a password on the command line/,
    );
    expect(() => resolveConfig([{ source: 'file', settings: { databaseUrl: url } }], { env: {} })).toThrow(
      /secrets\/database\.password/,
    );
    const c = resolveConfig([{ source: 'env', settings: { databaseUrl: url } }], { env: {} });
    expect(c.database).toEqual({ kind: 'external', url });
    // Neither the written file nor `config show` carries the password.
    expect(JSON.stringify(toConfigFile(c))).not.toContain('s3cret');
    expect(JSON.stringify(describeConfig(c))).not.toContain('s3cret');
    expect(describeConfig(c).database_url?.value).toBe('postgresql://vireo:***@db.example:5432/vireo');
  });

  it('fills an external URL without password from secrets/database.password', () => {
    const c = resolveConfig(
      [{ source: 'file', settings: { dataDir: '/srv/vireo', databaseUrl: 'postgresql://vireo@db/vireo' } }],
      {
        env: {},
        readSecret: (f) => (f === '/srv/vireo/secrets/database.password' ? 'p@ss:word' : undefined),
      },
    );
    expect(c.database.kind === 'external' && new URL(c.database.url).password).toBe('p%40ss%3Aword');
  });

  it('parses listen addresses and durations', () => {
    expect(parseListen('0.0.0.0:8443')).toEqual({ host: '0.0.0.0', port: 8443 });
    expect(parseListen('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListen(':8443')).toEqual({ host: '0.0.0.0', port: 8443 });
    expect(parseListen('engine.example.org:443')).toEqual({ host: 'engine.example.org', port: 443 });
    expect(() => parseListen('8443')).toThrow(/HOST:PORT/);
    expect(() => parseListen('1.2.3.4:70000')).toThrow(/out of range/);
    expect(() => parseListen('bad host:1')).toThrow();
    expect(parseDuration('90')).toBe(90_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(() => parseDuration('1w')).toThrow(/duration/);
  });

  it('rejects server names that are neither DNS names nor IPs', () => {
    expect(
      resolveConfig([{ source: 'env', settings: { serverNames: 'a.example, 10.0.0.1,a.example' } }])
        .serverNames,
    ).toEqual(['a.example', '10.0.0.1']);
    expect(() => resolveConfig([{ source: 'env', settings: { serverNames: 'bad_name!' } }])).toThrow(
      /neither a DNS name/,
    );
  });
});

describe('engine.conf', () => {
  it('round-trips through the file and rejects unknown keys and wrong types', () => {
    const c = resolveConfig([
      { source: 'flag', settings: { dataDir: tmp, organization: 'Acme', serverNames: 'e.example' } },
    ]);
    const file = path.join(tmp, 'engine.conf');
    fs.writeFileSync(file, JSON.stringify(toConfigFile(c)));
    const back = resolveConfig([
      { source: 'file', settings: readConfigFile(file)! },
      { source: 'flag', settings: { dataDir: tmp } },
    ]);
    expect(back.organization).toBe('Acme');
    expect(back.serverNames).toEqual(['e.example']);
    expect(back.listen).toEqual(c.listen);

    fs.writeFileSync(file, JSON.stringify({ ...toConfigFile(c), surprise: 1 }));
    expect(() => readConfigFile(file)).toThrow(/engine\.conf is invalid/);
    fs.writeFileSync(file, JSON.stringify({ ...toConfigFile(c), insecure_http: 'yes' }));
    expect(() => readConfigFile(file)).toThrow(/insecure_http/);
    fs.writeFileSync(file, '{ not json');
    expect(() => readConfigFile(file)).toThrow(/not valid JSON/);
    expect(readConfigFile(path.join(tmp, 'missing.conf'))).toBeUndefined();
  });
});

describe('answer files', () => {
  it('parses key=value lines, comments, "embedded", and keeps the password apart', () => {
    const a = parseAnswers(
      '# comment\n\nlisten = 127.0.0.1:8443\ndatabase_url=embedded\nADMIN_PASSWORD=correct horse\norganization=Acme Corp\n',
    );
    expect(a.settings).toEqual({ listen: '127.0.0.1:8443', databaseUrl: null, organization: 'Acme Corp' });
    expect(a.adminPassword).toBe('correct horse');
  });

  it('rejects unknown keys, duplicates and lines without "="', () => {
    expect(() => parseAnswers('lisen=1')).toThrow(/line 1: unknown key "lisen"/);
    expect(() => parseAnswers('listen=a:1\nlisten=b:2')).toThrow(/line 2: "listen" given twice/);
    expect(() => parseAnswers('\njust words')).toThrow(/line 2: expected key=value/);
  });

  it('writes what setup used, without secrets, and reads back to the same configuration', () => {
    const c = resolveConfig([
      {
        source: 'env',
        settings: {
          dataDir: '/srv/v',
          databaseUrl: 'postgresql://u:topsecret@db:5432/v',
          tokenLifetime: '90m',
        },
      },
    ]);
    const text = formatAnswers(c, { version: '1.2.3', date: new Date(0) });
    expect(text).not.toContain('topsecret');
    expect(text).not.toMatch(/admin_password/);
    const again = resolveConfig([{ source: 'answer-file', settings: parseAnswers(text).settings }]);
    expect(again.dataDir).toBe('/srv/v');
    expect(again.database).toEqual({ kind: 'external', url: 'postgresql://u@db:5432/v' });
    expect(again.tokenLifetimeMs).toBe(90 * 60_000);
  });
});
