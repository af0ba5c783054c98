/**
 * vireo-engine foundation benchmarks (issue 2), each beside its floor or target:
 *  - idle RSS of the engine process after start, PostgreSQL not counted (target ≤ 150 MiB);
 *  - authenticated GET /api/v1/datacenters/{id} at 50 connections over HTTPS vs a bare Fastify
 *    hello-world over HTTPS with the same certificate, same run (ratio ≥ 0.25, p99 ≤ 20 ms);
 *  - start to healthy with an existing data directory (≤ 3 s).
 * Run with `npm run bench`; prints the figures and appends them to bench/RESULTS.md.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Agent, fetch } from 'undici';
import { type EngineProcess, makeDataDir, removeDataDir, startEngine } from '../test/support/engine';
import {
  appendResults,
  cpuSeconds,
  freePort,
  median,
  report,
  rssMiB,
  type WrkResult,
  wrk,
} from './engine-lib';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 50;
const START_RUNS = 5;
// Floor and API runs alternate this many times, so a change in the machine's other load between
// runs skews both sides rather than only one.
const ROUNDS = 2;

async function loginAndCreateDc(e: EngineProcess): Promise<{ token: string; dcId: string }> {
  const dispatcher = new Agent({ connect: { ca: e.caPem } });
  try {
    const post = async (p: string, body: unknown, token?: string) => {
      const res = await fetch(`${e.url}/api/v1${p}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify(body),
        dispatcher,
      });
      if (!res.ok) throw new Error(`POST ${p}: ${res.status} ${await res.text()}`);
      return (await res.json()) as Record<string, string>;
    };
    const { token } = await post('/auth/login', { username: 'admin@internal', password: e.adminPassword });
    const dc = await post('/datacenters', { name: 'bench-dc', description: 'benchmark' }, token);
    return { token: token!, dcId: dc.id! };
  } finally {
    await dispatcher.close();
  }
}

/** The embedded PostgreSQL's processes: the postmaster and its children. */
function postgresPids(dataDir: string): number[] {
  const cluster = path.join(dataDir, 'postgresql');
  const main = Number(fs.readFileSync(path.join(cluster, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const pids: number[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (Number(pid) === main || ppid === main) pids.push(Number(pid));
    } catch {}
  }
  return pids;
}

function postgresRssMiB(dataDir: string): number {
  let total = 0;
  for (const pid of postgresPids(dataDir)) {
    try {
      total += rssMiB(pid);
    } catch {}
  }
  return total;
}

interface LoadRun extends WrkResult {
  /** CPU of the server process per answered request, in µs. */
  serverUsPerReq: number;
  /** CPU of PostgreSQL per answered request, in µs (0 for the floor). */
  dbUsPerReq: number;
}

/** One measured wrk run, with the CPU the server (and PostgreSQL) spent on it. */
function measured(
  url: string,
  serverPid: number,
  dbPids: () => number[],
  headers?: Record<string, string>,
): LoadRun {
  const server0 = cpuSeconds([serverPid]);
  const db0 = cpuSeconds(dbPids());
  const r = wrk(url, { connections: CONNECTIONS, seconds: SECONDS, headers });
  const requests = r.requestsPerSec * SECONDS;
  return {
    ...r,
    serverUsPerReq: ((cpuSeconds([serverPid]) - server0) * 1e6) / requests,
    dbUsPerReq: ((cpuSeconds(dbPids()) - db0) * 1e6) / requests,
  };
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

async function startHello(e: EngineProcess): Promise<{ port: number; pid: number; stop(): Promise<void> }> {
  const script = fileURLToPath(new URL('./engine-hello-server.mjs', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] });
  const keyPem = fs.readFileSync(path.join(e.dataDir, 'secrets', 'engine.key'), 'utf8');
  const certPem = fs.readFileSync(path.join(e.dataDir, 'pki', 'engine.pem'), 'utf8');
  child.stdin.end(JSON.stringify({ certPem, keyPem }));
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  for (let i = 0; i < 500 && !/listening \d+/.test(out); i++) await sleep(20);
  const port = Number(/listening (\d+)/.exec(out)?.[1]);
  if (!port) throw new Error('the hello-world server did not start');
  return {
    port,
    pid: child.pid!,
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

async function main(): Promise<void> {
  const dataDir = makeDataDir();
  const logFile = path.join(os.tmpdir(), `vireo-bench-engine-${process.pid}.log`);
  let engine: EngineProcess | undefined;
  try {
    console.log(`vireo-engine benchmarks (${SECONDS} s per load run, ${CONNECTIONS} connections)\n`);
    // First start runs setup; its cost is not what "start with an existing data directory" means.
    engine = await startEngine({ dataDir, logFile });
    const { token, dcId } = await loginAndCreateDc(engine);

    // 1. Idle RSS: let start-up garbage settle, then read the engine process only.
    await sleep(5000);
    const idleRss = rssMiB(engine.pid);
    const pgRss = postgresRssMiB(dataDir);
    report(
      'engine idle RSS (without PostgreSQL)',
      `${idleRss.toFixed(1)} MiB`,
      `target ≤ 150 MiB: ${idleRss <= 150 ? 'ok' : 'MISSED'}`,
    );
    report('  (embedded PostgreSQL, all processes)', `${pgRss.toFixed(1)} MiB`, 'for information');

    // 2. Throughput and latency beside the floor, same certificate, same machine, same run. The
    //    two servers take turns (floor, API, floor, API) and the ratio compares their means.
    const hello = await startHello(engine);
    const floors: LoadRun[] = [];
    const apis: LoadRun[] = [];
    const dcUrl = `${engine.url}/api/v1/datacenters/${dcId}`;
    const headers = { authorization: `Bearer ${token}` };
    try {
      const helloUrl = `https://127.0.0.1:${hello.port}/hello`;
      wrk(helloUrl, { connections: CONNECTIONS, seconds: 2 });
      wrk(dcUrl, { connections: CONNECTIONS, seconds: 2, headers });
      for (let round = 0; round < ROUNDS; round++) {
        floors.push(measured(helloUrl, hello.pid, () => []));
        apis.push(measured(dcUrl, engine.pid, () => postgresPids(dataDir), headers));
      }
    } finally {
      await hello.stop();
    }
    for (const api of apis) if (api.errors) console.log(`  wrk reported: ${api.errors}`);
    const floorRps = mean(floors.map((f) => f.requestsPerSec));
    const apiRps = mean(apis.map((a) => a.requestsPerSec));
    const ratio = apiRps / floorRps;
    const floorP99 = Math.max(...floors.map((f) => f.p99Ms));
    const apiP50 = Math.max(...apis.map((a) => a.p50Ms));
    const apiP99 = Math.max(...apis.map((a) => a.p99Ms));
    const rounds = (runs: LoadRun[]) => runs.map((r) => r.requestsPerSec.toFixed(0)).join(' / ');
    const perRoundRatios = apis
      .map((a, i) => (a.requestsPerSec / floors[i]!.requestsPerSec).toFixed(3))
      .join(' / ');
    const floorUs = mean(floors.map((f) => f.serverUsPerReq));
    const engineUs = mean(apis.map((a) => a.serverUsPerReq));
    const dbUs = mean(apis.map((a) => a.dbUsPerReq));
    report(
      'bare Fastify hello-world (HTTPS) req/s',
      floorRps.toFixed(0),
      `runs ${rounds(floors)}; worst p99 ${floorP99.toFixed(2)} ms (floor)`,
    );
    report(
      'GET /api/v1/datacenters/{id} (auth, HTTPS) req/s',
      apiRps.toFixed(0),
      `runs ${rounds(apis)}; ratio ${ratio.toFixed(3)} (per round ${perRoundRatios}; target ≥ 0.25: ${ratio >= 0.25 ? 'ok' : 'MISSED'})`,
    );
    report(
      '  worst p50 / p99 latency',
      `${apiP50.toFixed(2)} / ${apiP99.toFixed(2)} ms`,
      `p99 target ≤ 20 ms: ${apiP99 <= 20 ? 'ok' : 'MISSED'}`,
    );
    report(
      '  CPU per request: hello / engine + PostgreSQL',
      `${floorUs.toFixed(1)} / ${engineUs.toFixed(1)} + ${dbUs.toFixed(1)} µs`,
      'for information',
    );
    const loadedRss = rssMiB(engine.pid);
    report('engine RSS after the load run', `${loadedRss.toFixed(1)} MiB`, 'for information');
    await engine.stop();
    engine = undefined;

    // 3. Start to healthy with an existing data directory: spawn → `ready at`, which the engine
    //    prints only after its own health endpoint answered 200 over TLS.
    const times: number[] = [];
    for (let i = 0; i < START_RUNS; i++) {
      const port = await freePort();
      const t0 = performance.now();
      engine = await startEngine({ dataDir, logFile, env: { VIREO_LISTEN: `127.0.0.1:${port}` } });
      times.push(performance.now() - t0);
      await engine.stop();
      engine = undefined;
    }
    const startMedian = median(times) / 1000;
    const startMax = Math.max(...times) / 1000;
    report(
      'start to healthy, existing data dir (median of 5)',
      `${startMedian.toFixed(2)} s`,
      `max ${startMax.toFixed(2)} s; target ≤ 3 s: ${startMax <= 3 ? 'ok' : 'MISSED'}`,
    );

    appendResults(
      'vireo-engine foundation (bench/engine-foundation.bench.ts)',
      [
        ['engine idle RSS after start, without PostgreSQL', `${idleRss.toFixed(1)} MiB`, '≤ 150 MiB'],
        ['embedded PostgreSQL RSS (all its processes)', `${pgRss.toFixed(1)} MiB`, 'information'],
        [
          `bare Fastify hello-world over HTTPS, ${CONNECTIONS} conns (mean of ${ROUNDS} runs)`,
          `${floorRps.toFixed(0)} req/s (runs ${rounds(floors)}), worst p99 ${floorP99.toFixed(2)} ms`,
          'floor',
        ],
        [
          `authenticated GET /api/v1/datacenters/{id} over HTTPS, ${CONNECTIONS} conns (mean of ${ROUNDS} runs)`,
          `${apiRps.toFixed(0)} req/s (runs ${rounds(apis)}), worst p50 ${apiP50.toFixed(2)} ms, worst p99 ${apiP99.toFixed(2)} ms`,
          `ratio ${ratio.toFixed(3)} (per round ${perRoundRatios}; ≥ 0.25); p99 ≤ 20 ms`,
        ],
        [
          'CPU per request: hello-world / engine + its PostgreSQL',
          `${floorUs.toFixed(1)} µs / ${engineUs.toFixed(1)} µs + ${dbUs.toFixed(1)} µs`,
          'information',
        ],
        ['engine RSS after the load run', `${loadedRss.toFixed(1)} MiB`, 'information'],
        [
          'start to healthy, existing data directory',
          `median ${startMedian.toFixed(2)} s, max ${startMax.toFixed(2)} s`,
          '≤ 3 s',
        ],
      ],
      [
        `load generator: wrk, 2 threads, ${SECONDS} s per run after a 2 s warm-up of each server, on the same machine as the servers; floor and API runs alternate (${ROUNDS} rounds)`,
        'engine at its default log level (info: every request logged as JSON to a file)',
      ],
    );
  } finally {
    await engine?.stop();
    await removeDataDir(dataDir);
    fs.rmSync(logFile, { force: true });
  }
}

await main();
