import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { workerPortEnv } from '../../../../test/support/worker-ports';
import { loadConfig } from '../../src/config';
import { createDevCa, DEV_CA_FILES } from '../../src/cli/dev-ca';
import { type RunningAgent, startAgent } from '../../src/cli/serve';
import { AgentRpcClient } from '../../src/rpc/client';
import { type Logger, silentLogger } from '../../src/util/log';
import { testGuest } from './guest';

export interface AgentFixture {
  stateDir: string;
  /** Directory tests may put images in (allowed, with the test guest's directory). */
  imageDir: string;
  agent: RunningAgent;
  /** A new mTLS client with the dev CA's client certificate. */
  connect(options?: { events?: boolean }): Promise<AgentRpcClient>;
  /** Stops this agent (VMs keep running) and starts a new one on the same state directory. */
  restart(): Promise<RunningAgent>;
  /** Stops the agent and removes the state directory. QEMUs must be gone before. */
  dispose(): Promise<void>;
}

/**
 * An agent in this process with the real RPC server over mTLS, the real runtime and QEMU (TCG),
 * in a fresh state directory under /tmp (short: VM sockets must fit 108 bytes).
 */
export async function startTestAgent(
  options: { statsIntervalS?: number; logger?: Logger } = {},
): Promise<AgentFixture> {
  const stateDir = await mkdtemp(join(tmpdir(), 'vat-'));
  const imageDir = join(stateDir, 'images');
  await createDevCa(join(stateDir, 'tls'));
  const config = loadConfig(
    {
      'state-dir': stateDir,
      listen: '127.0.0.1:0',
      accel: 'tcg',
      'image-dir': [imageDir, testGuest().dir],
      ...(options.statsIntervalS ? { 'stats-interval': String(options.statsIntervalS) } : {}),
    },
    workerPortEnv(),
  );
  await mkdir(imageDir, { recursive: true });
  const tls = join(stateDir, 'tls');
  const creds = {
    ca: await readFile(join(tls, DEV_CA_FILES.ca), 'utf8'),
    cert: await readFile(join(tls, DEV_CA_FILES.clientCert), 'utf8'),
    key: await readFile(join(tls, DEV_CA_FILES.clientKey), 'utf8'),
  };
  const clients: AgentRpcClient[] = [];
  const fixture: AgentFixture = {
    stateDir,
    imageDir,
    agent: await startAgent(config, options.logger ?? silentLogger()),
    async connect(connectOptions = {}) {
      const client = await AgentRpcClient.connect({
        address: fixture.agent.address,
        ...creds,
        client: 'agent-test',
        events: connectOptions.events ?? false,
      });
      clients.push(client);
      return client;
    },
    async restart() {
      await fixture.agent.close();
      fixture.agent = await startAgent(config, options.logger ?? silentLogger());
      return fixture.agent;
    },
    async dispose() {
      for (const c of clients) c.close();
      await fixture.agent.close();
      await rm(stateDir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/** Collects the events a client receives. */
export function recordEvents(client: AgentRpcClient): { name: string; params: Record<string, unknown> }[] {
  const events: { name: string; params: Record<string, unknown> }[] = [];
  client.on('event', (name, params) => events.push({ name, params }));
  return events;
}
