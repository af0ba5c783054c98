import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { Agent, fetch } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureAgentBinary } from '../../packages/agent/test/support/binary';
import {
  type EngineProcess,
  makeDataDir,
  removeDataDir,
  runEngineCommand,
  startEngine,
} from '../support/engine';
import { freePort } from '../support/net';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
type Json = Record<string, any>;

/** The serial of the certificate the agent presents to a new mTLS handshake (as the engine). */
function presentedSerial(dataDir: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      ca: fs.readFileSync(path.join(dataDir, 'pki', 'ca.pem')),
      cert: fs.readFileSync(path.join(dataDir, 'pki', 'engine-client.pem')),
      key: fs.readFileSync(path.join(dataDir, 'secrets', 'engine-client.key')),
      minVersion: 'TLSv1.3',
    });
    socket.once('secureConnect', () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}

/** Host certificates renew over the live connection, without dropping it. */
describe('hosts: certificate renewal while connected', () => {
  const dataDir = makeDataDir();
  let engine: EngineProcess | undefined;
  afterAll(async () => {
    await engine?.stop();
    await removeDataDir(dataDir);
  });

  it('renews a short-lived host certificate before it expires; the connection stays up', async () => {
    await ensureAgentBinary();
    const port = await freePort();
    engine = await startEngine({
      dataDir,
      env: {
        VIREO_LOCAL_HOST: '1',
        VIREO_LOCAL_AGENT_PORT: String(port),
        VIREO_LOCAL_AGENT_ACCEL: 'tcg',
        VIREO_HOST_HEARTBEAT_MS: '300',
        VIREO_HOST_CERT_VALIDITY_MS: '12000',
        VIREO_PKI_RENEW_CHECK_MS: '500',
      },
    });
    const dispatcher = new Agent({ connect: { ca: engine.caPem } });
    try {
      const api = async (p: string, body?: unknown, token?: string): Promise<Json> => {
        const res = await fetch(`${engine!.url}/api/v1${p}`, {
          method: body ? 'POST' : 'GET',
          headers: {
            ...(body ? { 'content-type': 'application/json' } : {}),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: body ? JSON.stringify(body) : undefined,
          dispatcher,
        });
        return (await res.json()) as Json;
      };
      const token = (await api('/auth/login', { username: 'admin@internal', password: engine.adminPassword }))
        .token as string;
      const waitFor = async (pred: (h: Json) => boolean, what: string): Promise<Json> => {
        const end = Date.now() + 30_000;
        while (Date.now() < end) {
          const h = (await api('/hosts', undefined, token)).items[0] as Json | undefined;
          if (h && pred(h)) return h;
          await sleep(200);
        }
        throw new Error(`timed out waiting for ${what}`);
      };

      const first = await waitFor((h) => h.state === 'up', 'the local host to be up');
      const firstSerial = first.certificate.serial as string;
      expect(await presentedSerial(dataDir, port)).toBe(firstSerial);

      // 12 s validity: due with 4 s left, i.e. about 8 s after issue.
      const renewed = await waitFor(
        (h) => h.certificate.serial !== firstSerial,
        'the certificate to be renewed',
      );
      expect(renewed.state).toBe('up');
      expect(new Date(renewed.certificate.not_after).getTime()).toBeGreaterThan(
        new Date(first.certificate.not_after).getTime(),
      );
      // New handshakes get the new certificate…
      expect(await presentedSerial(dataDir, port)).toBe(renewed.certificate.serial);
      // …and the engine's connection was never lost: the only state changes are the first connect.
      const changes = (
        await api(`/events?object_id=${first.id}&kind=host.state_changed&limit=50`, undefined, token)
      ).items as Json[];
      expect(changes.map((e) => e.details.to)).toEqual(['up']);
      const renewals = (
        await api(`/events?object_id=${first.id}&kind=host.certificate_renewed`, undefined, token)
      ).items as Json[];
      expect(renewals.length).toBeGreaterThanOrEqual(1);

      const pki = await runEngineCommand(['pki', 'status', '--data-dir', dataDir]);
      expect(pki.stdout).toContain(`host ${first.id}: `);
    } finally {
      await dispatcher.close();
    }
  }, 90_000);
});
