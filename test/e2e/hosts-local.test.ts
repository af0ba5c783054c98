import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch } from 'undici';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureAgentBinary, agentPids } from '../../packages/agent/test/support/binary';
import { type EngineProcess, makeDataDir, removeDataDir, startEngine } from '../support/engine';
import { freePort } from '../support/net';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
type Json = Record<string, any>;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Pids of `vireo-agent serve` processes whose command line names this state directory. */
/** `npm start` mode: the engine enrolls and supervises this machine's own agent. */
describe('hosts: the local host in all-in-one mode (VIREO_LOCAL_HOST=1)', () => {
  const dataDir = makeDataDir();
  let engine: EngineProcess | undefined;
  afterAll(async () => {
    await engine?.stop();
    for (const pid of agentPids(path.join(dataDir, 'local-agent'))) process.kill(pid, 'SIGKILL');
    await removeDataDir(dataDir);
  });

  it('adds this machine to the Default cluster, keeps it across restarts, and stops its agent with the engine', async () => {
    await ensureAgentBinary();
    const port = await freePort();
    const env = {
      VIREO_LOCAL_HOST: '1',
      VIREO_LOCAL_AGENT_PORT: String(port),
      VIREO_LOCAL_AGENT_ACCEL: 'tcg',
      VIREO_HOST_HEARTBEAT_MS: '300',
    };
    engine = await startEngine({ dataDir, env });
    const dispatcher = new Agent({ connect: { ca: engine.caPem } });
    try {
      const api = async (method: string, p: string, body?: unknown, token?: string) => {
        const res = await fetch(`${engine!.url}/api/v1${p}`, {
          method,
          headers: {
            ...(body ? { 'content-type': 'application/json' } : {}),
            ...(token ? { authorization: `Bearer ${token}` } : {}),
          },
          body: body ? JSON.stringify(body) : undefined,
          dispatcher,
        });
        return (await res.json()) as Json;
      };
      const password = engine.adminPassword!;
      const waitUp = async () => {
        const token = (await api('POST', '/auth/login', { username: 'admin@internal', password })).token;
        const end = Date.now() + 30_000;
        while (Date.now() < end) {
          const hosts = (await api('GET', '/hosts', undefined, token)).items as Json[];
          const up = hosts.find((h) => h.state === 'up');
          if (up) return { hosts, up };
          await sleep(200);
        }
        throw new Error('the local host never came up');
      };

      const first = await waitUp();
      expect(first.hosts).toHaveLength(1);
      const token = (await api('POST', '/auth/login', { username: 'admin@internal', password })).token;
      const defaultCluster = (await api('GET', '/clusters', undefined, token)).items.find(
        (c: Json) => c.name === 'Default',
      );
      expect(first.up).toMatchObject({
        name: 'local',
        address: '127.0.0.1',
        port,
        cluster_id: defaultCluster.id,
      });
      const stateDir = path.join(dataDir, 'local-agent');
      expect(fs.statSync(path.join(stateDir, 'tls', 'agent-key.pem')).mode & 0o777).toBe(0o600);
      const [pid] = agentPids(stateDir);
      expect(pid).toBeGreaterThan(0);

      engine = await engine.restart('SIGTERM', { env });
      expect(alive(pid!)).toBe(false);
      const second = await waitUp();
      // Enrolled once: the same host, not a second one.
      expect(second.hosts.map((h) => h.id)).toEqual([first.up.id]);
    } finally {
      await dispatcher.close();
    }
  }, 120_000);
});
