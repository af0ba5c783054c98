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
import { appendResults, freePort, median, report, rssMiB, wrk } from './engine-lib';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONNECTIONS = 50;
const START_RUNS = 5;

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

function postgresRssMiB(dataDir: string): number {
  let total = 0;
  const cluster = path.join(dataDir, 'postgresql');
  const main = Number(fs.readFileSync(path.join(cluster, 'postmaster.pid'), 'utf8').split('\n')[0]);
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (Number(pid) === main || ppid === main) total += rssMiB(Number(pid));
    } catch {}
  }
  return total;
}

async function startHello(e: EngineProcess): Promise<{ port: number; stop(): Promise<void> }> {
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

    // 2. Throughput and latency beside the floor, same certificate, same machine, same run.
    const hello = await startHello(engine);
    let floor: ReturnType<typeof wrk>;
    try {
      const helloUrl = `https://127.0.0.1:${hello.port}/hello`;
      wrk(helloUrl, { connections: CONNECTIONS, seconds: 2 });
      floor = wrk(helloUrl, { connections: CONNECTIONS, seconds: SECONDS });
    } finally {
      await hello.stop();
    }
    const dcUrl = `${engine.url}/api/v1/datacenters/${dcId}`;
    const headers = { authorization: `Bearer ${token}` };
    wrk(dcUrl, { connections: CONNECTIONS, seconds: 2, headers });
    const api = wrk(dcUrl, { connections: CONNECTIONS, seconds: SECONDS, headers });
    if (api.errors) console.log(`  wrk reported: ${api.errors}`);
    const ratio = api.requestsPerSec / floor.requestsPerSec;
    report(
      'bare Fastify hello-world (HTTPS) req/s',
      floor.requestsPerSec.toFixed(0),
      `p99 ${floor.p99Ms.toFixed(2)} ms (floor)`,
    );
    report(
      'GET /api/v1/datacenters/{id} (auth, HTTPS) req/s',
      api.requestsPerSec.toFixed(0),
      `ratio ${ratio.toFixed(3)} (target ≥ 0.25: ${ratio >= 0.25 ? 'ok' : 'MISSED'})`,
    );
    report(
      '  p50 / p99 latency',
      `${api.p50Ms.toFixed(2)} / ${api.p99Ms.toFixed(2)} ms`,
      `p99 target ≤ 20 ms: ${api.p99Ms <= 20 ? 'ok' : 'MISSED'}`,
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
          `bare Fastify hello-world over HTTPS, ${CONNECTIONS} conns`,
          `${floor.requestsPerSec.toFixed(0)} req/s, p99 ${floor.p99Ms.toFixed(2)} ms`,
          'floor',
        ],
        [
          `authenticated GET /api/v1/datacenters/{id} over HTTPS, ${CONNECTIONS} conns`,
          `${api.requestsPerSec.toFixed(0)} req/s, p50 ${api.p50Ms.toFixed(2)} ms, p99 ${api.p99Ms.toFixed(2)} ms`,
          `ratio ${ratio.toFixed(3)} (≥ 0.25); p99 ≤ 20 ms`,
        ],
        ['engine RSS after the load run', `${loadedRss.toFixed(1)} MiB`, 'information'],
        [
          'start to healthy, existing data directory',
          `median ${startMedian.toFixed(2)} s, max ${startMax.toFixed(2)} s`,
          '≤ 3 s',
        ],
      ],
      [
        `load generator: wrk, 2 threads, ${SECONDS} s after a 2 s warm-up, on the same machine as the server`,
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
