import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import tls from 'node:tls';
import { Agent, fetch } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureAgentBinary } from '../../packages/agent/test/support/binary';
import { killQemusOf, qemuPidsFor } from '../../packages/agent/test/support/guest';
import {
  type EngineProcess,
  makeDataDir,
  removeDataDir,
  runEngineCommand,
  startEngine,
} from '../support/engine';
import { freePort } from '../support/net';
import { assertTestGuestBuilt, testGuest } from '../support/test-guest';

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

/** The serial of the HTTPS certificate the engine serves to a new handshake. */
function engineServerSerial(url: string, caPem: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: hostname, port: Number(port), ca: caPem, servername: 'localhost' });
    socket.once('secureConnect', () => {
      const serial = socket.getPeerCertificate().serialNumber;
      socket.end();
      resolve(serial);
    });
    socket.once('error', reject);
  });
}

const serialOf = (pemFile: string) => new crypto.X509Certificate(fs.readFileSync(pemFile)).serialNumber;

/**
 * Host and engine certificates renew while everything runs: the host's over its live connection,
 * the engine's HTTPS certificate by swapping the server's secure context, and its agent-client
 * certificate for new connections only. Nothing is dropped: no host state change, the VM keeps
 * running in the same QEMU.
 */
describe('hosts: certificate renewal while connected', () => {
  const dataDir = makeDataDir();
  let engine: EngineProcess | undefined;
  let vmId: string | undefined;
  afterAll(async () => {
    await engine?.stop();
    if (vmId) await killQemusOf([vmId]);
    await removeDataDir(dataDir);
  });

  it('renews short-lived host and engine certificates while a VM runs; the connection and the VM stay up', async () => {
    assertTestGuestBuilt();
    await ensureAgentBinary();
    const port = await freePort();
    engine = await startEngine({
      dataDir,
      env: {
        VIREO_LOCAL_HOST: '1',
        VIREO_LOCAL_AGENT_PORT: String(port),
        VIREO_LOCAL_AGENT_ACCEL: 'tcg',
        VIREO_ISO_DIR: testGuest.dir,
        VIREO_HOST_HEARTBEAT_MS: '300',
        VIREO_HOST_CERT_VALIDITY_MS: '12000',
        VIREO_ENGINE_CERT_VALIDITY_MS: '20000',
        VIREO_PKI_RENEW_CHECK_MS: '500',
      },
    });
    const dispatcher = new Agent({ connect: { ca: engine.caPem } });
    try {
      const api = async (p: string, body?: unknown, token?: string): Promise<Json> => {
        // A new connection per request: each handshake must see the current server certificate.
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
      const clientCert = path.join(dataDir, 'pki', 'engine-client.pem');
      const firstServerNotAfter = new Date(
        new crypto.X509Certificate(fs.readFileSync(path.join(dataDir, 'pki', 'engine.pem'))).validTo,
      ).getTime();
      const firstClientNotAfter = new Date(
        new crypto.X509Certificate(fs.readFileSync(clientCert)).validTo,
      ).getTime();
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

      const cluster = (await api('/clusters', undefined, token)).items.find(
        (c: Json) => c.name === 'Default',
      );
      const created = await api(
        '/vms',
        {
          name: 'renewal-vm',
          cluster_id: cluster.id,
          memory_mib: 128,
          boot_order: ['cdrom'],
          cdrom: { image: 'test-guest.iso' },
        },
        token,
      );
      vmId = created.id as string;
      const started = await api(`/vms/${vmId}/start`, {}, token);
      const op = await api(`/operations/${started.operation.id}?wait=60`, undefined, token);
      expect(op.state, JSON.stringify(op.error)).toBe('succeeded');
      const pids = await qemuPidsFor(vmId);
      expect(pids).toHaveLength(1);

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

      // The engine's own certificates: a new HTTPS handshake gets a renewed server certificate, the
      // file new agent connections use holds a renewed client certificate; each renewal is audited.
      const renewedSerials = async (kind: string) =>
        ((await api('/events?kind=engine.certificate_renewed&limit=100', undefined, token)).items as Json[])
          .filter((e) => e.details.certificate === kind)
          .map((e) => e.details.serial as string);
      const endRenewals = Date.now() + 40_000;
      for (;;) {
        // Renewed certificates are installed first, then recorded: poll until both sides agree.
        const served = await engineServerSerial(engine.url, engine.caPem);
        const onDisk = serialOf(clientCert);
        const [servers, clients] = [await renewedSerials('engine'), await renewedSerials('engine_client')];
        if (servers.includes(served) && clients.includes(onDisk)) break;
        if (Date.now() > endRenewals) {
          throw new Error(
            `engine certificates not renewed: served ${served} of [${servers}], client ${onDisk} of [${clients}]`,
          );
        }
        await sleep(200);
      }
      const status = JSON.parse(
        (await runEngineCommand(['pki', 'status', '--json', '--data-dir', dataDir])).stdout,
      ) as Json;
      // Listed by `pki status`: later ends than the first ones (further renewals may follow).
      for (const cert of [status.server, status.agentClient]) expect(cert.state).not.toBe('expired');
      expect(new Date(status.server.notAfter).getTime()).toBeGreaterThan(firstServerNotAfter);
      expect(new Date(status.agentClient.notAfter).getTime()).toBeGreaterThan(firstClientNotAfter);

      // The agent connection outlives the client certificate it was opened with: heartbeats still
      // succeed after that certificate's end, and the host never left `up`.
      const beatAfter = await waitFor(
        (h) => new Date(h.last_heartbeat_at).getTime() > firstClientNotAfter + 1000,
        'a heartbeat after the first client certificate expired',
      );
      expect(beatAfter.state).toBe('up');
      const allChanges = (
        await api(`/events?object_id=${first.id}&kind=host.state_changed&limit=50`, undefined, token)
      ).items as Json[];
      expect(allChanges.map((e) => e.details.to)).toEqual(['up']);
      // The VM never noticed: still up, same QEMU process.
      expect((await api(`/vms/${vmId}`, undefined, token)).state).toBe('up');
      expect(await qemuPidsFor(vmId)).toEqual(pids);

      const stopped = await api(`/vms/${vmId}/stop`, {}, token);
      const stopOp = await api(`/operations/${stopped.operation.id}?wait=60`, undefined, token);
      expect(stopOp.state, JSON.stringify(stopOp.error)).toBe('succeeded');
    } finally {
      await dispatcher.close();
    }
  }, 150_000);
});
