import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { certificateInfo } from '@vireo/pki';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EngineCa } from './engine-ca';
import { EngineIdentity, engineCertificateDue, engineCertValidityFromEnv } from './engine-identity';

const DAY = 86_400_000;

describe('engine identity: the engine renews its own certificates while running', () => {
  let dir: string;
  let ca: EngineCa;
  let paths: { pkiDir: string; secretsDir: string; serverCert: string; serverKey: string };
  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-identity-'));
    paths = {
      pkiDir: path.join(dir, 'pki'),
      secretsDir: path.join(dir, 'secrets'),
      serverCert: path.join(dir, 'pki', 'engine.pem'),
      serverKey: path.join(dir, 'secrets', 'engine.key'),
    };
    ca = await EngineCa.create(
      { caCert: path.join(paths.pkiDir, 'ca.pem'), caKey: path.join(paths.secretsDir, 'ca.key') },
      { organization: 'test' },
    );
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('is due with a third of its life left, at most 30 days before the end, or when longer than configured', async () => {
    const year = await ca.issueServerCertificate(['localhost']);
    const notAfter = certificateInfo(year.certPem).notAfter.getTime();
    expect(engineCertificateDue(year.certPem, notAfter - 31 * DAY)).toBe(false);
    expect(engineCertificateDue(year.certPem, notAfter - 29 * DAY)).toBe(true);
    expect(engineCertificateDue(year.certPem, Date.now(), 60_000)).toBe(true);
    const short = await ca.issueServerCertificate(['localhost'], undefined, 30_000);
    const end = certificateInfo(short.certPem).notAfter.getTime();
    expect(engineCertificateDue(short.certPem, end - 11_000, 30_000)).toBe(false);
    expect(engineCertificateDue(short.certPem, end - 9_000, 30_000)).toBe(true);
  });

  it('renews both certificates when due: files rewritten, listeners told, client TLS swapped', async () => {
    const identity = await EngineIdentity.load({
      ca,
      paths,
      serverNames: ['localhost', '127.0.0.1'],
      validityMs: 30_000,
      log: pino({ level: 'silent' }),
    });
    const server = identity.server;
    const client = identity.clientTls();
    expect(server && certificateInfo(server.certPem).altNames).toEqual(['localhost', '127.0.0.1']);
    expect(await identity.renewDue()).toEqual([]);
    const seen: string[] = [];
    identity.onServerRenewed((pair) => seen.push(certificateInfo(pair.certPem).serial));

    const end = certificateInfo(server?.certPem ?? '').notAfter.getTime();
    expect(await identity.renewDue(end - 5_000)).toEqual(['engine', 'engine_client']);
    const renewed = identity.server?.certPem ?? '';
    expect(seen).toEqual([certificateInfo(renewed).serial]);
    expect(fs.readFileSync(paths.serverCert, 'utf8')).toBe(renewed);
    expect(identity.clientTls().cert).not.toBe(client.cert);
    expect(fs.readFileSync(path.join(paths.pkiDir, 'engine-client.pem'), 'utf8')).toBe(
      identity.clientTls().cert,
    );
    expect(ca.issued(identity.clientTls().cert)).toBe(true);
    expect((fs.statSync(paths.serverKey).mode & 0o777).toString(8)).toBe('600');
  });

  it('validates the validity knob', () => {
    expect(engineCertValidityFromEnv({})).toBeUndefined();
    expect(engineCertValidityFromEnv({ VIREO_ENGINE_CERT_VALIDITY_MS: '20000' })).toBe(20_000);
    expect(() => engineCertValidityFromEnv({ VIREO_ENGINE_CERT_VALIDITY_MS: '5' })).toThrow(/at least 10000/);
  });
});
