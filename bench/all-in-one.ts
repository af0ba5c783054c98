/**
 * An all-in-one platform for benchmarks: the engine binary with its supervised local agent (TCG),
 * a logged-in client, and a local data domain attached to Default and active. Imported only from a
 * benchmark's child process (see `runUnderSourceCondition`), where workspace sources resolve.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VireoClient } from '@vireo/client';
import { agentPids, ensureAgentBinary } from '../packages/agent/test/support/binary';
import { type EngineProcess, makeDataDir, removeDataDir, startEngine } from '../test/support/engine';
import { freePort } from '../test/support/net';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, read field by field
type Json = Record<string, any>;

export interface AllInOne {
  engine: EngineProcess;
  client: VireoClient;
  /** A scratch directory removed by `stop()`. */
  work: string;
  /** The local data domain and the directory it lives under (`<dir>/<domain id>/images/…`). */
  domain: Json;
  domainDir: string;
  /** Throws unless operation `id` succeeds within `timeoutMs`. */
  waitOp(id: string, what: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startAllInOne(prefix: string, domainName: string): Promise<AllInOne> {
  await ensureAgentBinary();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const dataDir = makeDataDir();
  const port = await freePort();
  const engine = await startEngine({
    dataDir,
    env: { VIREO_LOCAL_HOST: '1', VIREO_LOCAL_AGENT_PORT: String(port), VIREO_LOCAL_AGENT_ACCEL: 'tcg' },
  });
  const client = new VireoClient({ baseUrl: engine.url, ca: engine.caPem });
  const stop = async () => {
    await client.close();
    await engine.stop();
    // The local agent outlives the engine by design (its VMs keep running): end it here.
    for (const pid of agentPids(path.join(dataDir, 'local-agent'))) process.kill(pid, 'SIGKILL');
    await removeDataDir(dataDir);
    fs.rmSync(work, { recursive: true, force: true });
  };
  const waitOp = async (id: string, what: string, timeoutMs = 600_000) => {
    const op = await client.waitForOperation(id, { timeoutMs });
    if (op.state !== 'succeeded') throw new Error(`${what} failed: ${JSON.stringify(op.error)}`);
  };
  try {
    await client.login('admin@internal', engine.adminPassword as string);
    let host: Json | undefined;
    for (let i = 0; i < 300 && !host; i++) {
      host = ((await client.request<Json>('GET', '/hosts')).body.items as Json[]).find(
        (h) => h.state === 'up',
      );
      if (!host) await sleep(200);
    }
    if (!host) throw new Error('the local host never came up');
    const dc = ((await client.request<Json>('GET', '/datacenters')).body.items as Json[]).find(
      (d) => d.name === 'Default',
    );
    const domainDir = path.join(work, 'domain');
    fs.mkdirSync(domainDir);
    const domain = (
      await client.request<Json>('POST', '/storage-domains', {
        body: { name: domainName, kind: 'data', backend: 'local', host_id: host.id, path: domainDir },
      })
    ).body;
    for (const [action, body] of [
      ['attach', { datacenter_id: dc?.id }],
      ['activate', undefined],
    ] as const) {
      const res = await client.request<Json>('POST', `/storage-domains/${domain.id}/${action}`, {
        ...(body ? { body } : {}),
      });
      await waitOp(res.body.operation.id, action, 60_000);
    }
    return { engine, client, work, domain, domainDir, waitOp, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
