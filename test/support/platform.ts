/**
 * One real platform for cross-process tests: the engine binary (embedded PostgreSQL, HTTPS), an agent
 * enrolled by join token on loopback, and an authenticated API helper. Every e2e test that needs
 * "an engine with a host" starts it here, so the enrolment dance and the request helpers live once.
 */
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch } from 'undici';
import {
  type AgentProcess,
  ensureAgentBinary,
  runAgentCommand,
  spawnAgent,
  stopProcess,
} from '../../packages/agent/test/support/binary';
import { type EngineProcess, startEngine } from './engine';
import { freePort } from './net';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the assertions
export type Json = Record<string, any>;
export interface ApiAnswer {
  status: number;
  json: Json;
}

/**
 * Polls `fn` until it returns something truthy and returns that; throws naming `what` after
 * `timeoutMs`. Tests wait on conditions, never on fixed sleeps (CI has 2 loaded cores).
 */
export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

/** The engine's REST API as `admin@internal`, trusting only the engine's own CA. */
export class EngineApi {
  readonly dispatcher: Agent;
  private token = '';

  constructor(public engine: EngineProcess) {
    this.dispatcher = new Agent({ connect: { ca: engine.caPem } });
  }

  async login(password = this.engine.adminPassword): Promise<string> {
    const res = await this.call('POST', '/auth/login', { username: 'admin@internal', password });
    if (res.status !== 200) throw new Error(`login failed: ${res.status} ${JSON.stringify(res.json)}`);
    this.token = res.json.token;
    return this.token;
  }

  get bearer(): string {
    return this.token;
  }

  async call(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiAnswer> {
    const h: Record<string, string> = { ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(`${this.engine.url}/api/v1${path}`, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      dispatcher: this.dispatcher,
    });
    const text = await res.text();
    return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Json };
  }

  /** The operation a 202 answer started, once it has ended (up to `waitS` seconds). */
  async operationOf(res: ApiAnswer, waitS = 90): Promise<Json> {
    if (res.status !== 202) throw new Error(`expected 202, got ${res.status}: ${JSON.stringify(res.json)}`);
    const end = Date.now() + waitS * 1000;
    let op: Json;
    do {
      op = (await this.call('GET', `/operations/${res.json.operation.id}?wait=30`)).json;
    } while ((op.state === 'pending' || op.state === 'running') && Date.now() < end);
    return op;
  }

  /** Like `operationOf`, and throws unless the operation succeeded. */
  async settled(res: ApiAnswer, waitS = 90): Promise<Json> {
    const op = await this.operationOf(res, waitS);
    if (op.state !== 'succeeded')
      throw new Error(`operation ${op.type} ${op.state}: ${JSON.stringify(op.error)}`);
    return op;
  }

  /** The Default cluster (with its data center id). */
  async defaultCluster(): Promise<Json> {
    return (await this.call('GET', '/clusters')).json.items.find((c: Json) => c.name === 'Default');
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

export interface PlatformOptions {
  /** Temp directory prefix (the agent's state dir lives inside it). */
  prefix: string;
  hostName: string;
  engineEnv?: Record<string, string>;
  /** Extra `serve` arguments (`--accel tcg` is always given). */
  agentArgs?: string[];
  /** Directories the agent may open images from (VIREO_AGENT_IMAGE_DIRS), e.g. the test guest's. */
  agentImageDirs?: string[];
}

export interface Platform {
  engine: EngineProcess;
  api: EngineApi;
  agent: AgentProcess;
  hostId: string;
  cluster: Json;
  /** The agent's state dir; VMs' serial sockets and logs are in `<dir>/vms/<id>/`. */
  dir: string;
  /** Arguments that restart the same agent with `spawnAgent` (after a kill, say). */
  serveArgs: string[];
  /** Restarts the engine process (same data directory) and logs the API helper in again. */
  restartEngine(signal: 'SIGTERM' | 'SIGKILL'): Promise<EngineProcess>;
  /** A local data domain on the host, attached to Default and active. */
  addLocalDataDomain(name: string): Promise<{ id: string; parent: string }>;
  /** A local domain of any kind on the agent's host, attached to the cluster's data center and active. */
  addLocalDomain(name: string, kind: 'data' | 'iso' | 'export'): Promise<{ id: string; parent: string }>;
  stop(): Promise<void>;
}

/** Starts the engine, enrols one agent on loopback by join token, and waits for the host to be `up`. */
export async function startPlatform(opts: PlatformOptions): Promise<Platform> {
  await ensureAgentBinary();
  const dir = await mkdtemp(join(tmpdir(), opts.prefix));
  let engine: EngineProcess | undefined;
  let api: EngineApi | undefined;
  let agent: AgentProcess | undefined;
  const savedImageDirs = process.env.VIREO_AGENT_IMAGE_DIRS;
  const restoreEnv = () => {
    if (savedImageDirs === undefined) delete process.env.VIREO_AGENT_IMAGE_DIRS;
    else process.env.VIREO_AGENT_IMAGE_DIRS = savedImageDirs;
  };
  const stop = async () => {
    if (agent) await stopProcess(agent.proc, 'SIGKILL');
    restoreEnv();
    await api?.close();
    await engine?.stop();
    await rm(dir, { recursive: true, force: true });
  };
  const engineEnvAll = { VIREO_HOST_HEARTBEAT_MS: '300', ...opts.engineEnv };
  try {
    const port = await freePort();
    engine = await startEngine({ env: engineEnvAll });
    api = new EngineApi(engine);
    await api.login();
    const cluster = await api.defaultCluster();
    const joinToken = await api.call('POST', '/hosts/join-tokens', { cluster_id: cluster.id });
    const tokenFile = join(dir, 'join-token');
    fs.writeFileSync(tokenFile, joinToken.json.token, { mode: 0o600 });
    const common = ['--state-dir', dir, '--listen', `127.0.0.1:${port}`];
    const out = await runAgentCommand([
      'join',
      '--engine',
      engine.url,
      '--token-file',
      tokenFile,
      '--ca-fingerprint',
      joinToken.json.ca_fingerprint,
      '--address',
      '127.0.0.1',
      '--name',
      opts.hostName,
      ...common,
    ]);
    const hostId = /joined as host ([0-9a-f-]{36})/.exec(out)?.[1];
    if (!hostId) throw new Error(`agent join printed no host id: ${out}`);
    if (opts.agentImageDirs) process.env.VIREO_AGENT_IMAGE_DIRS = opts.agentImageDirs.join(':');
    const serveArgs = [...common, '--accel', 'tcg', ...(opts.agentArgs ?? [])];
    agent = await spawnAgent(serveArgs);
    const theApi = api;
    await until(
      'the host up',
      async () => (await theApi.call('GET', `/hosts/${hostId}`)).json.state === 'up',
    );
    const platform: Platform = {
      get engine() {
        return engine as EngineProcess;
      },
      set engine(e: EngineProcess) {
        engine = e;
      },
      api,
      get agent() {
        return agent as AgentProcess;
      },
      set agent(a: AgentProcess) {
        agent = a;
      },
      hostId,
      cluster,
      dir,
      serveArgs,
      async restartEngine(signal) {
        engine = await (engine as EngineProcess).restart(signal, { env: engineEnvAll });
        theApi.engine = engine;
        await theApi.login();
        return engine;
      },
      addLocalDataDomain(name) {
        return platform.addLocalDomain(name, 'data');
      },
      async addLocalDomain(name, kind) {
        const parent = join(dir, `domain-${name}`);
        fs.mkdirSync(parent);
        const sd = await theApi.call('POST', '/storage-domains', {
          name,
          kind,
          backend: 'local',
          host_id: hostId,
          path: parent,
        });
        if (sd.status !== 201)
          throw new Error(`storage domain ${name}: ${sd.status} ${JSON.stringify(sd.json)}`);
        const id = sd.json.id as string;
        await theApi.settled(
          await theApi.call('POST', `/storage-domains/${id}/attach`, {
            datacenter_id: cluster.datacenter_id,
          }),
        );
        await theApi.settled(await theApi.call('POST', `/storage-domains/${id}/activate`, {}));
        await until(
          `domain ${name} active`,
          async () => (await theApi.call('GET', `/storage-domains/${id}`)).json.state === 'active',
        );
        return { id, parent };
      },
      stop,
    };
    return platform;
  } catch (err) {
    await stop();
    throw err;
  }
}
