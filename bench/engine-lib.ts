import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Helpers shared by the engine benchmarks (not a benchmark itself). */

export const RESULTS = fileURLToPath(new URL('./RESULTS.md', import.meta.url));

/** One line describing the machine, for RESULTS.md. */
export function machine(): string {
  const cpu = os.cpus()[0]?.model.replace(/\s+/g, ' ').trim() ?? 'unknown CPU';
  const mem = `${Math.round(os.totalmem() / 2 ** 30)} GiB`;
  let distro = os.type();
  try {
    distro = /PRETTY_NAME="([^"]+)"/.exec(fs.readFileSync('/etc/os-release', 'utf8'))?.[1] ?? distro;
  } catch {}
  return `${distro}, ${os.cpus().length} × ${cpu}, ${mem}, Linux ${os.release()}, Node ${process.version}`;
}

/** Appends one section to bench/RESULTS.md (creating the file's header if needed). */
export function appendResults(
  title: string,
  rows: Array<[string, string, string]>,
  notes: string[] = [],
): void {
  if (!fs.existsSync(RESULTS)) {
    fs.writeFileSync(
      RESULTS,
      '# Benchmark results\n\nAppended by `npm run bench` (scripts/bench.sh). Newest last.\n',
    );
  }
  const lines = [
    '',
    `## ${title} — ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${machine()}`,
    '',
    `Load average when the section was written: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ')} (1/5/15 min; other work on the machine skews figures)`,
    '',
    '| measure | value | target / ratio |',
    '| --- | --- | --- |',
    ...rows.map(([a, b, c]) => `| ${a} | ${b} | ${c} |`),
    ...(notes.length ? ['', ...notes.map((n) => `- ${n}`)] : []),
    '',
  ];
  fs.appendFileSync(RESULTS, lines.join('\n'));
}

/** Prints a figure with its target verdict. */
export function report(name: string, value: string, verdict: string): void {
  console.log(`${name.padEnd(52)} ${value.padStart(14)}   ${verdict}`);
}

/** Resident set size of a process, in MiB (from /proc, like `ps`). */
export function rssMiB(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? Number.NaN);
  return kb / 1024;
}

/**
 * CPU seconds (user + system) used so far by the processes `pids` names, from /proc. Beside req/s it
 * gives CPU per request, which other work on the machine skews far less than throughput.
 */
export function cpuSeconds(pids: number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {}
  }
  return ticks / 100; // USER_HZ is 100 on Linux
}

/** A TCP port that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** GET over HTTPS trusting `ca`; resolves with the status (0 when nothing answered). */
export function httpsStatus(url: string, ca: string, timeoutMs = 1000): Promise<number> {
  return new Promise((resolve) => {
    const req = https.get(url, { ca, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface WrkResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  errors: string | undefined;
}

/**
 * Runs wrk (Debian package) against `url` with `connections` connections. Headers come from a Lua
 * script in a 0600 file, so a bearer token never appears on a command line.
 */
export function wrk(
  url: string,
  opts: { connections: number; seconds: number; headers?: Record<string, string> },
): WrkResult {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vireo-wrk-'));
  try {
    const script = path.join(dir, 'headers.lua');
    const lua = Object.entries(opts.headers ?? {})
      .map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`)
      .join('\n');
    fs.writeFileSync(script, `${lua}\n`, { mode: 0o600 });
    const r = spawnSync(
      'wrk',
      ['-t', '2', '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--latency', '-s', script, url],
      { encoding: 'utf8' },
    );
    if (r.status !== 0) throw new Error(`wrk failed: ${r.stderr || r.error}`);
    const out = r.stdout;
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
    const pct = (p: string) => toMs(new RegExp(`^\\s+${p}%\\s+([\\d.]+)(us|ms|s)`, 'm').exec(out));
    const errors = /(Socket errors:.*|Non-2xx or 3xx responses:.*)/g;
    const found = out.match(errors);
    return {
      requestsPerSec: rps,
      p50Ms: pct('50'),
      p99Ms: pct('99'),
      errors: found ? found.join('; ') : undefined,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function toMs(m: RegExpExecArray | null): number {
  if (!m) return Number.NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 's' ? v * 1000 : v;
}

/**
 * Runs `main` in a child Node with the `vireo-source` condition and tsx, so a benchmark imports the
 * workspace packages from their sources exactly as the tests do (plain `npx tsx` has no custom
 * conditions). The child is recognised by `childFlag` in its environment.
 */
export function runUnderSourceCondition(childFlag: string, selfUrl: string, main: () => Promise<void>): void {
  if (process.env[childFlag]) {
    main().catch((err) => {
      console.error(err);
      process.exitCode = 1;
    });
    return;
  }
  const result = spawnSync(
    process.execPath,
    ['--conditions=vireo-source', '--import', 'tsx', fileURLToPath(selfUrl)],
    {
      stdio: 'inherit',
      env: { ...process.env, [childFlag]: '1' },
    },
  );
  process.exitCode = result.status ?? 1;
}
