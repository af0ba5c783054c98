/**
 * VMs through the engine (issue 4), each beside its floor in the same run:
 *  - API create + start → VM `up` (the operation succeeded, QMP says running) against a bare QEMU
 *    spawn (`-daemonize`, the argv the agent builds for a like spec) until QMP answers: ratio ≤ 3.0;
 *  - 50 VMs created and started through the API at once → all `up`, against 50 bare spawns at once;
 *  - then 50 headless API VMs (console "serial": no VGA, no USB, no VNC) at once, against the bare
 *    spawns that have the same devices (the "running" floor).
 * The engine binary (embedded PostgreSQL, HTTPS) and one agent enrolled by join token are real;
 * the VMs are tiny (64 MiB, no disk, a blank CD-ROM image so the guests idle in the firmware, TCG).
 * Run with `npm run bench`; prints the figures (and, for the burst, where each VM's time went) and
 * appends them to bench/RESULTS.md.
 *
 * The bare spawn imports the agent's argv builder from source, which needs Node's `vireo-source`
 * export condition: without it this file re-runs itself in a child Node that has it.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runUnderSourceCondition } from './engine-lib';

const SINGLE_RUNS = Number(process.env.BENCH_VM_RUNS ?? 5);
const BURST = Number(process.env.BENCH_VM_BURST ?? 50);
const TARGET_RATIO = 3.0;
const CHILD_FLAG = 'VIREO_BENCH_ENGINE_VMS_CHILD';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers
type Json = Record<string, any>;

/** PIDs of QEMU processes whose command line names `id` (from /proc). */
function qemuPids(id: string): number[] {
  const out: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmd.includes('qemu-system') && cmd.includes(id)) out.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return out;
}

function killAll(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/**
 * Wall-clock start time (ms since the epoch) of a process, from /proc: its start in clock ticks
 * since boot against the uptime now (both to 10 ms; /proc/stat's btime is whole seconds).
 */
function processStartMs(pid: number): number {
  const now = Date.now();
  const uptimeMs = Number(fs.readFileSync('/proc/uptime', 'utf8').split(' ')[0]) * 1000;
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  // USER_HZ is 100 on Linux/x86_64.
  return now - (uptimeMs - ticks * 10);
}

type Mark = { t0: number; created: number; accepted: number; done: number; op: string };
type Call = (method: string, p: string, body?: unknown) => Promise<{ status: number; json: Json }>;

/** Per VM, what the agent's and the engine's JSON logs say about its start (ms since the epoch). */
interface LogMarks {
  /** The agent began `vm.start` (its `starting` transition, after the VM lock). */
  agentStarting?: number;
  /** The agent's `up` transition (after `cont`). */
  agentUp?: number;
  /** The agent's own split of the start: prepare, QEMU launch → QMP ready, QMP → running. */
  agentMs?: { prepare: number; launch_to_qmp: number; qmp_to_running: number };
  /** The engine's VM monitor recorded `up` (its debug line, written after the commit). */
  engineUp?: number;
}

/** Reads the per-VM marks out of the agent's log (stderr) and the engine's log file. */
function logMarks(agentLog: string, engineLog: string): Map<string, LogMarks> {
  const out = new Map<string, LogMarks>();
  const of = (id: string) => {
    const m = out.get(id) ?? {};
    out.set(id, m);
    return m;
  };
  const lines = (text: string) =>
    text.split('\n').flatMap((l) => {
      if (!l.startsWith('{')) return [];
      try {
        return [JSON.parse(l) as Json];
      } catch {
        return [];
      }
    });
  for (const l of lines(agentLog)) {
    if (typeof l.vm_id !== 'string') continue;
    if (l.msg === 'VM state' && l.state === 'starting') of(l.vm_id).agentStarting = l.time;
    if (l.msg === 'VM state' && l.state === 'up') of(l.vm_id).agentUp ??= l.time;
    if (l.msg === 'VM started' && l.ms) of(l.vm_id).agentMs = l.ms;
  }
  for (const l of lines(engineLog)) {
    if (l.msg === 'VM state' && l.state === 'up' && typeof l.vmId === 'string')
      of(l.vmId).engineUp ??= l.time;
  }
  return out;
}

/**
 * Where the time of each VM of the burst went, from the client's marks, the operation's own
 * timestamps, the QEMU process's start time and the agent's and engine's logs: one row per phase
 * with its median and maximum (ms), and when the last VM crossed each mark (ms after the burst
 * began; for the agent's own splits, the last VM's end of that split).
 */
async function phaseTable(
  marks: Map<string, Mark>,
  call: Call,
  logs: Map<string, LogMarks>,
): Promise<Array<[string, string, string]>> {
  const t0 = Math.min(...[...marks.values()].map((m) => m.t0));
  const per: Record<string, number[]> = {};
  const last: Record<string, number> = {};
  const add = (name: string, from: number | undefined, to: number | undefined) => {
    if (from === undefined || to === undefined || !Number.isFinite(from) || !Number.isFinite(to)) return;
    per[name] = [...(per[name] ?? []), to - from];
    last[name] = Math.max(last[name] ?? 0, to - t0);
  };
  for (const [vmId, m] of marks) {
    const op = (await call('GET', `/operations/${m.op}`)).json;
    const claimed = Date.parse(op.started_at);
    const finished = Date.parse(op.finished_at);
    const pid = qemuPids(vmId)[0];
    const spawned = pid ? processStartMs(pid) : Number.NaN;
    const l = logs.get(vmId) ?? {};
    const a = l.agentMs;
    const launched = a && l.agentStarting !== undefined ? l.agentStarting + a.prepare : undefined;
    const qmpReady = launched !== undefined && a ? launched + a.launch_to_qmp : undefined;
    add('POST /vms (create)', m.t0, m.created);
    add('POST /vms/{id}/start (placement, operation row)', m.created, m.accepted);
    add('operation pending → claimed by the runner', m.accepted, claimed);
    add('claimed → agent began vm.start (controller, RPC)', claimed, l.agentStarting);
    add('agent: prepare (checks, state dir, ports, argv)', l.agentStarting, launched);
    add('agent: QEMU spawn → QMP ready', launched, qmpReady);
    add('agent: QMP ready → running (cont)', qmpReady, l.agentUp);
    add('agent up → engine recorded up (event, DB write)', l.agentUp, l.engineUp);
    add('engine up → operation succeeded (controller, outcome row)', l.engineUp, finished);
    add('operation succeeded → client saw it (long poll)', finished, m.done);
    add('(claimed → QEMU process started, from /proc)', claimed, spawned);
  }
  return Object.entries(per).map(([name, xs]) => [
    `burst phase: ${name}`,
    `median ${median(xs).toFixed(0)} ms, max ${Math.max(...xs).toFixed(0)} ms`,
    `last VM done at ${last[name]?.toFixed(0)} ms`,
  ]);
}

/** PIDs of `pid` and all its descendants (from /proc). */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // ended meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

async function main(): Promise<void> {
  const { Agent, fetch } = await import('undici');
  const { buildQemuArgv } = await import('../packages/agent/src/qemu/argv');
  const { QmpClient } = await import('../packages/agent/src/qemu/qmp');
  const { ensureAgentBinary, runAgentCommand, spawnAgent, stopProcess } = await import(
    '../packages/agent/test/support/binary'
  );
  const { startEngine } = await import('../test/support/engine');
  const { appendResults, cpuSeconds, freePort, report } = await import('./engine-lib');

  const root = await mkdtemp(join(tmpdir(), 'vireo-bench-vms-'));
  // A CD with nothing to boot: the firmware finds no boot record and halts, so the guests use
  // little CPU once they run (but see the like-for-like floor below: with a USB tablet the
  // firmware first busy-waits on xHCI for ≈ 0.1 CPU-s per guest). Booting 50 test guests under TCG on 2 cores (2-3 CPU-seconds each) would
  // starve the engine, the agent and PostgreSQL while later VMs are still being started, and
  // `up` (QMP running) does not need a booted guest. Both sides of each ratio use it.
  const isoDir = join(root, 'iso');
  await mkdir(isoDir);
  const blankIso = join(isoDir, 'blank.iso');
  fs.writeFileSync(blankIso, Buffer.alloc(1024 * 1024));
  const bareIds: string[] = [];
  const apiIds: string[] = [];
  let engine: Awaited<ReturnType<typeof startEngine>> | undefined;
  let agent: Awaited<ReturnType<typeof spawnAgent>> | undefined;
  let dispatcher: InstanceType<typeof Agent> | undefined;
  try {
    let bareN = 0;
    /** Bare QEMU: the agent's argv for a tiny spec, `-daemonize`, until QMP answers query-status. */
    const bareSpawn = async (cont = false, vnc = false): Promise<number> => {
      const id = `bb${(bareN++).toString(16).padStart(6, '0')}-0000-4000-8000-${Date.now().toString(16).padStart(12, '0')}`;
      bareIds.push(id);
      const dir = join(root, 'bare', id);
      await mkdir(dir, { recursive: true });
      const paths = {
        qmpSocket: join(dir, 'qmp.sock'),
        serialSocket: join(dir, 'serial.sock'),
        serialLog: join(dir, 'serial.log'),
        pidfile: join(dir, 'qemu.pid'),
        // The API VM's display without a TCP port to pick: the same devices (VGA, USB tablet).
        ...(vnc ? { vncSocket: join(dir, 'vnc.sock') } : {}),
      };
      const spec = {
        id,
        name: `bare-${bareN}`,
        machine: 'q35' as const,
        cpu: { model: 'qemu64', sockets: 1, cores: 1, threads: 1 },
        memory_mib: 64,
        disks: [],
        boot_order: ['cdrom' as const],
        cdrom: { path: blankIso, interface: 'sata' as const },
        nics: [],
        display: { vnc },
        serial: true,
      };
      const argv = buildQemuArgv({ spec, accel: 'tcg', paths, sandbox: true, hotplugPorts: 4 } as never);
      const t0 = performance.now();
      await new Promise<void>((resolve, reject) => {
        const child = spawn('qemu-system-x86_64', argv, { stdio: 'ignore' });
        child.once('error', reject);
        child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`QEMU exited ${code}`))));
      });
      const qmp = await QmpClient.connect(paths.qmpSocket, { timeoutMs: 30_000 });
      await qmp.execute('query-status');
      if (cont) await qmp.execute('cont');
      const ms = performance.now() - t0;
      await qmp.close();
      return ms;
    };

    // Engine + one enrolled agent.
    await ensureAgentBinary();
    // Debug level for the VM monitor's per-VM 'VM state' line (the phase table's "engine recorded
    // up"); it adds one more line per request, which is noise next to a VM start.
    const engineLog = join(root, 'engine.log');
    // BENCH_VM_PROFILE=<preload script>: NODE_OPTIONS=--require it into the engine and the agent
    // (e.g. one starting the inspector's profiler; Node refuses --cpu-prof in NODE_OPTIONS).
    const profileDir = process.env.BENCH_VM_PROFILE;
    const profile = (_who: string) => `--require ${profileDir}`;
    engine = await startEngine({
      env: {
        VIREO_HOST_HEARTBEAT_MS: '1000',
        VIREO_ISO_DIR: isoDir,
        VIREO_LOG_LEVEL: 'debug',
        ...(profileDir ? { NODE_OPTIONS: profile('engine') } : {}),
      },
      logFile: engineLog,
    });
    dispatcher = new Agent({ connect: { ca: engine.caPem }, connections: 64 });
    const e = engine;
    const d = dispatcher;
    let token = '';
    const call = async (method: string, p: string, body?: unknown) => {
      const headers: Record<string, string> = { authorization: `Bearer ${token}` };
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${e.url}/api/v1${p}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        dispatcher: d,
      });
      const text = await res.text();
      return { status: res.status, json: (text ? JSON.parse(text) : undefined) as Json };
    };
    const login = await fetch(`${e.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'admin@internal', password: e.adminPassword }),
      dispatcher: d,
    });
    token = ((await login.json()) as Json).token;
    const clusterId = (await call('GET', '/clusters')).json.items.find((c: Json) => c.name === 'Default').id;
    const jt = await call('POST', '/hosts/join-tokens', { cluster_id: clusterId });
    const agentDir = join(root, 'agent');
    await mkdir(agentDir);
    const tokenFile = join(root, 'join-token');
    fs.writeFileSync(tokenFile, jt.json.token, { mode: 0o600 });
    const common = ['--state-dir', agentDir, '--listen', `127.0.0.1:${await freePort()}`];
    const joined = await runAgentCommand([
      'join',
      '--engine',
      e.url,
      '--token-file',
      tokenFile,
      '--ca-fingerprint',
      jt.json.ca_fingerprint,
      '--address',
      '127.0.0.1',
      '--name',
      'bench-host',
      ...common,
    ]);
    const hostId = /joined as host ([0-9a-f-]{36})/.exec(joined)![1]!;
    process.env.VIREO_AGENT_IMAGE_DIRS = isoDir;
    if (profileDir) process.env.NODE_OPTIONS = profile('agent');
    agent = await spawnAgent([...common, '--accel', 'tcg']);
    delete process.env.NODE_OPTIONS;
    for (let i = 0; ; i++) {
      if ((await call('GET', `/hosts/${hostId}`)).json.state === 'up') break;
      if (i > 300) throw new Error('the host never came up');
      await sleep(100);
    }

    let apiN = 0;
    /** Per-VM wall-clock marks (ms since the epoch) of the last API start, for the phase table. */
    const marks = new Map<
      string,
      { t0: number; created: number; accepted: number; done: number; op: string }
    >();
    /** API: POST /vms, POST /vms/{id}/start, long-poll the operation until succeeded (VM up). */
    const apiStart = async (consoleType: 'vnc' | 'serial' = 'vnc'): Promise<number> => {
      const t0 = performance.now();
      const wall0 = Date.now();
      const created = await call('POST', '/vms', {
        name: `bench-${apiN++}`,
        cluster_id: clusterId,
        cpus: 1,
        memory_mib: 64,
        boot_order: ['cdrom'],
        cdrom: { image: 'blank.iso' },
        nics: [],
        // Only the headless burst names it: the VNC runs keep the exact request they always sent.
        ...(consoleType === 'vnc' ? {} : { console: consoleType }),
      });
      if (created.status !== 201) throw new Error(`create: ${JSON.stringify(created.json)}`);
      apiIds.push(created.json.id);
      const wallCreated = Date.now();
      const started = await call('POST', `/vms/${created.json.id}/start`);
      if (started.status !== 202) throw new Error(`start: ${JSON.stringify(started.json)}`);
      const wallAccepted = Date.now();
      for (;;) {
        const op = (await call('GET', `/operations/${started.json.operation.id}?wait=60`)).json;
        if (op.state === 'succeeded') break;
        if (op.state !== 'pending' && op.state !== 'running') throw new Error(`start: ${JSON.stringify(op)}`);
      }
      const ms = performance.now() - t0;
      marks.set(created.json.id, {
        t0: wall0,
        created: wallCreated,
        accepted: wallAccepted,
        done: Date.now(),
        op: started.json.operation.id,
      });
      const vm = (await call('GET', `/vms/${created.json.id}`)).json;
      if (vm.state !== 'up') throw new Error(`VM ${vm.id} is ${vm.state} after its start succeeded`);
      return ms;
    };

    // Warm-up (page cache, first QEMU, first API paths), then alternate single runs.
    await bareSpawn();
    await apiStart();
    const bare: number[] = [];
    const api: number[] = [];
    for (let i = 0; i < SINGLE_RUNS; i++) {
      bare.push(await bareSpawn());
      api.push(await apiStart());
    }
    killAll(bareIds.flatMap(qemuPids));
    killAll(apiIds.flatMap(qemuPids));
    // Let the engine see the killed VMs before the burst, so they do not weigh on placement.
    await sleep(3000);

    const burst = async (fn: () => Promise<number>) => {
      const t0 = performance.now();
      await Promise.all(Array.from({ length: BURST }, fn));
      return performance.now() - t0;
    };
    // CPU seconds each party spent on a burst: on 2 cores, 50 starts are CPU-bound, so every
    // CPU-millisecond the platform spends per VM delays the last VM.
    const agentPid = agent.proc.pid!;
    const cpuNow = () => {
      const own = process.cpuUsage();
      return {
        engine: cpuSeconds([e.pid]),
        postgres: cpuSeconds(processTree(e.pid).filter((p) => p !== e.pid)),
        agent: cpuSeconds([agentPid]),
        client: (own.user + own.system) / 1e6,
      };
    };
    const loadBefore = os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ');
    const burstBare = await burst(() => bareSpawn());
    const bareQemuCpu = cpuSeconds(bareIds.flatMap(qemuPids));
    killAll(bareIds.flatMap(qemuPids));
    await sleep(2000);
    // Like with like for the API's "up": bare guests that run (and boot) while the others start.
    const burstBareRunning = await burst(() => bareSpawn(true));
    const bareRunningQemuCpu = cpuSeconds(bareIds.flatMap(qemuPids));
    killAll(bareIds.flatMap(qemuPids));
    await sleep(2000);
    // The API's VMs always have a VNC console, so their QEMUs also get a VGA adapter and a USB
    // tablet (xHCI), whose firmware set-up costs ≈ 0.1 CPU-s per guest under TCG right after
    // `cont`: this floor has exactly the devices the API VM has.
    const burstBareVnc = await burst(() => bareSpawn(true, true));
    const bareVncQemuCpu = cpuSeconds(bareIds.flatMap(qemuPids));
    killAll(bareIds.flatMap(qemuPids));
    await sleep(2000);
    marks.clear();
    const apiBefore = new Set(apiIds);
    const cpu0 = cpuNow();
    const window0 = Date.now();
    const burstApi = await burst(() => apiStart());
    const cpu1 = cpuNow();
    if (profileDir) console.log(`API burst window (ms since the epoch): ${window0} ${Date.now()}`);
    const apiQemuCpu = cpuSeconds(apiIds.filter((id) => !apiBefore.has(id)).flatMap(qemuPids));
    const phases = await phaseTable(
      marks,
      call,
      logMarks(agent.stderr(), fs.readFileSync(engineLog, 'utf8')),
    );
    const cpuLineOf = (qemu: number, c0: typeof cpu0, c1: typeof cpu0) =>
      [
        `QEMUs ${(qemu * 1000).toFixed(0)}`,
        ...(['engine', 'postgres', 'agent', 'client'] as const).map(
          (k) => `${k} ${((c1[k] - c0[k]) * 1000).toFixed(0)}`,
        ),
      ].join(', ');
    const cpuLine = cpuLineOf(apiQemuCpu, cpu0, cpu1);

    // The headless burst: the VNC burst's VMs go first (killed; the engine sees them down), then
    // 50 API VMs with console "serial", whose QEMUs have the devices of the "running" floor.
    const vncBurstIds = apiIds.filter((id) => !apiBefore.has(id));
    killAll(vncBurstIds.flatMap(qemuPids));
    await sleep(3000);
    marks.clear();
    const headlessBefore = new Set(apiIds);
    const loadBeforeHeadless = os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ');
    const cpu2 = cpuNow();
    const burstHeadless = await burst(() => apiStart('serial'));
    const cpu3 = cpuNow();
    const headlessIds = apiIds.filter((id) => !headlessBefore.has(id));
    const headlessQemuCpu = cpuSeconds(headlessIds.flatMap(qemuPids));
    // Every one of them really is headless: no VNC, VGA or USB in its QEMU's argv.
    for (const id of headlessIds) {
      for (const pid of qemuPids(id)) {
        const argv = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
        if (argv.some((a) => a === '-vnc' || /^(VGA|qemu-xhci|usb-tablet)\b/.test(a))) {
          throw new Error(`headless VM ${id} got display devices: ${argv.join(' ')}`);
        }
      }
    }
    const headlessPhases = (
      await phaseTable(marks, call, logMarks(agent.stderr(), fs.readFileSync(engineLog, 'utf8')))
    ).map(([name, value, when]): [string, string, string] => [
      name.replace('burst phase:', 'headless burst phase:'),
      value,
      when,
    ]);
    const headlessCpuLine = cpuLineOf(headlessQemuCpu, cpu2, cpu3);
    const cpuRows: Array<[string, string, string]> = [
      [
        `CPU of ${BURST} bare spawns (QEMUs), to QMP ready / to running`,
        `${(bareQemuCpu * 1000).toFixed(0)} / ${(bareRunningQemuCpu * 1000).toFixed(0)} ms`,
        'floor',
      ],
      [
        `CPU of ${BURST} bare spawns with the API VM's devices (VNC, VGA, USB tablet), to running`,
        `${(bareVncQemuCpu * 1000).toFixed(0)} ms`,
        'floor',
      ],
      [`CPU of the ${BURST} API starts, by process`, `${cpuLine} ms`, 'information'],
      [`CPU of the ${BURST} headless API starts, by process`, `${headlessCpuLine} ms`, 'information'],
    ];
    const load = os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' / ');

    const single = median(api) / median(bare);
    const burstRatio = burstApi / burstBare;
    const headlessRatio = burstHeadless / burstBareRunning;
    report('bare QEMU spawn → QMP ready (median)', `${median(bare).toFixed(0)} ms`, 'floor');
    report(
      'API create + start → VM up (median)',
      `${median(api).toFixed(0)} ms`,
      `ratio ${single.toFixed(2)}`,
    );
    report(`${BURST} bare spawns at once → all QMP ready`, `${burstBare.toFixed(0)} ms`, 'floor');
    report(`${BURST} bare spawns + cont at once → all running`, `${burstBareRunning.toFixed(0)} ms`, 'floor');
    report(`${BURST} bare spawns + cont, API VM's devices`, `${burstBareVnc.toFixed(0)} ms`, 'floor');
    report(
      `${BURST} API create + start at once → all up`,
      `${burstApi.toFixed(0)} ms`,
      `ratio ${burstRatio.toFixed(2)}`,
    );
    report(
      `${BURST} headless API create + start at once → all up`,
      `${burstHeadless.toFixed(0)} ms`,
      `ratio ${headlessRatio.toFixed(2)} to the same devices running`,
    );
    for (const [name, value, when] of [...cpuRows, ...phases, ...headlessPhases])
      console.log(`${name}: ${value} (${when})`);
    console.log(
      `load average before the bursts: ${loadBefore}; before the headless burst: ${loadBeforeHeadless}; after: ${load}`,
    );
    // BENCH_VM_RECORD=0: print only (experiments), RESULTS.md keeps the runs worth recording.
    if (process.env.BENCH_VM_RECORD !== '0')
      appendResults(
        'VMs through the engine (bench/engine-vms.bench.ts)',
        [
          [
            `bare QEMU spawn (-daemonize) → QMP ready, median of ${SINGLE_RUNS}`,
            `${median(bare).toFixed(0)} ms`,
            'floor',
          ],
          [
            `API POST /vms + POST /vms/{id}/start → operation succeeded, VM up, median of ${SINGLE_RUNS}`,
            `${median(api).toFixed(0)} ms`,
            `ratio ${single.toFixed(2)} (≤ ${TARGET_RATIO.toFixed(1)})`,
          ],
          [`${BURST} bare spawns at once → all QMP ready`, `${burstBare.toFixed(0)} ms`, 'floor'],
          [
            `${BURST} bare spawns + \`cont\` at once → all running`,
            `${burstBareRunning.toFixed(0)} ms`,
            'floor',
          ],
          [
            `${BURST} bare spawns + \`cont\` at once with the API VM's devices (VNC on a unix socket, VGA, USB tablet) → all running`,
            `${burstBareVnc.toFixed(0)} ms`,
            'floor',
          ],
          [
            `${BURST} API create + start at once → all up`,
            `${burstApi.toFixed(0)} ms`,
            `ratio ${burstRatio.toFixed(2)} to QMP ready, ${(burstApi / burstBareRunning).toFixed(2)} to running, ${(burstApi / burstBareVnc).toFixed(2)} to running with the same devices (information)`,
          ],
          [
            `${BURST} headless API create + start at once (console "serial": no VGA, USB or VNC) → all up`,
            `${burstHeadless.toFixed(0)} ms`,
            `ratio ${headlessRatio.toFixed(2)} to the bare spawns with the same devices running (the "+ \`cont\`" floor); ${(burstHeadless / burstBare).toFixed(2)} to QMP ready`,
          ],
          ...cpuRows,
          ...phases,
          ...headlessPhases,
        ],
        [
          'VMs: q35, 1 vCPU, 64 MiB, no disk, a blank 1 MiB CD-ROM image (nothing to boot: the firmware halts, after setting up its devices — with the USB tablet every API VM has, ≈ 0.1 CPU-s of busy-waiting on xHCI per guest under TCG, while the rest of the burst starts), TCG; the bare spawn uses the argv the agent builds for a like spec (the API VM also gets the engine defaults: a VNC display with a VGA adapter and a USB tablet), and the "API VM\'s devices" floor adds those',
          'the API figure includes HTTPS, validation, placement, the operation (PostgreSQL rows, NOTIFY, runner claim), the mTLS vm.start RPC and QEMU reaching `running`; the bare figure stops at QMP answering (paused, not running)',
          'one engine (embedded PostgreSQL) and one agent on the same machine as the QEMUs',
          "burst phases: per VM, from the client's marks, the operation's created/started/finished times and the QEMU process's start time (/proc); median and maximum over the 50 VMs, and when the last VM crossed each mark",
          `the headless burst runs after the VNC burst (whose VMs are killed first, 3 s before), so the database holds ${BURST} more VMs then; its VMs are the same but for console "serial"; load average before the bursts ${loadBefore}, before the headless burst ${loadBeforeHeadless}`,
        ],
      );
  } finally {
    killAll([...bareIds, ...apiIds].flatMap(qemuPids));
    // SIGTERM lets a profiled agent write its profile; it leaves the QEMUs (killed above) alone.
    if (agent) await stopProcess(agent.proc, process.env.BENCH_VM_PROFILE ? 'SIGTERM' : 'SIGKILL');
    await dispatcher?.close();
    await engine?.stop();
    await rm(root, { recursive: true, force: true });
  }
}

runUnderSourceCondition(CHILD_FLAG, import.meta.url, main);
