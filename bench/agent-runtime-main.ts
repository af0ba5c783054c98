/**
 * vireo-agent benchmarks (not tests; `npm run bench` runs them through agent-runtime.bench.ts):
 * figures printed beside the floor measured in the same run, then appended to bench/RESULTS.md.
 *
 * 1. `vm.start` RPC until QMP says `running`, against a bare QEMU spawn (same argv, `-daemonize`)
 *    until QMP answers: ratio ≤ 2.0.
 * 2. 20 `vm.start` at once, against 20 bare spawns at once: ratio ≤ 1.5, measured like with like
 *    (both until the guests run, and both until QMP answers with the guests paused); running guests
 *    execute firmware and slow the starts still under way, which is not the agent's cost.
 * 3. Agent RSS while supervising 50 paused VMs (≤ 60 MiB) and its idle CPU (≤ 1 % of a core),
 *    with an engine-like client connected (events on, so stats sampling runs).
 *
 * The agent runs as its real binary, in its own process, over mTLS. VMs are tiny (64 MiB, no disk,
 * no kernel): the agent's overhead is the subject, not guest boot.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VmSpec } from '@vireo/agent-protocol';
import { buildQemuArgv } from '../packages/agent/src/qemu/argv';
import { readPidfile } from '../packages/agent/src/qemu/process/spawn';
import { readProcStat } from '../packages/agent/src/qemu/process/proc';
import { QmpClient } from '../packages/agent/src/qemu/qmp';
import { RECOMMENDED_NODE_FLAGS } from '../packages/agent/src/cli/serve';
import { AgentRpcClient } from '../packages/agent/src/rpc/client';
import {
  ensureAgentBinary,
  runAgentCommand,
  spawnAgent,
  stopProcess,
} from '../packages/agent/test/support/binary';
import { killQemusOf } from '../packages/agent/test/support/guest';
import { appendResults, median, report, rssMiB } from './engine-lib';

const SINGLE_ROUNDS = 10;
const BURST = 20;
const BURST_ROUNDS = 3;
const SUPERVISED = 50;
const IDLE_WINDOW_S = 20;

const uuid = (group: number, n: number) =>
  `be${group.toString(16).padStart(6, '0')}-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;

function tinySpec(id: string, name: string): VmSpec {
  return {
    id,
    name,
    machine: 'q35',
    cpu: { model: 'qemu64', sockets: 1, cores: 1, threads: 1 },
    memory_mib: 64,
    disks: [],
    boot_order: [],
    nics: [],
    display: { vnc: false },
    serial: true,
  };
}

/** Bare QEMU: spawn the same argv the agent would build, wait for the daemon, connect QMP, query. */
async function bareSpawn(root: string, spec: VmSpec, cont = false): Promise<{ ms: number; pid: number }> {
  const dir = join(root, spec.id);
  await mkdir(dir, { recursive: true });
  const paths = {
    qmpSocket: join(dir, 'qmp.sock'),
    serialSocket: join(dir, 'serial.sock'),
    serialLog: join(dir, 'serial.log'),
    pidfile: join(dir, 'qemu.pid'),
  };
  const argv = buildQemuArgv({ spec, accel: 'tcg', paths, sandbox: true, hotplugPorts: 4 });
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const child = spawn('qemu-system-x86_64', argv, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`QEMU exited ${code}`))));
  });
  const qmp = await QmpClient.connect(paths.qmpSocket, { timeoutMs: 10_000 });
  await qmp.execute('query-status');
  if (cont) await qmp.execute('cont');
  const ms = performance.now() - started;
  await qmp.close();
  const pid = (await readPidfile(paths.pidfile)) ?? 0;
  return { ms, pid };
}

async function killBare(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readProcStat(pid);
  return stat ? (stat.utimeTicks + stat.stimeTicks) / 100 : Number.NaN;
}

async function creds(dir: string): Promise<{ ca: string; cert: string; key: string }> {
  const tls = join(dir, 'tls');
  return {
    ca: await readFile(join(tls, 'ca.pem'), 'utf8'),
    cert: await readFile(join(tls, 'client.pem'), 'utf8'),
    key: await readFile(join(tls, 'client-key.pem'), 'utf8'),
  };
}

/** Starts `SUPERVISED` paused VMs, waits, measures the agent's RSS and idle CPU, removes the VMs. */
async function supervise(
  client: AgentRpcClient,
  pid: number,
  start: (spec: VmSpec, paused: boolean) => Promise<number>,
  remove: (id: string) => Promise<void>,
  group: number,
): Promise<{ rss: number; idleCpu: number; pausedCount: number }> {
  const specs = Array.from({ length: SUPERVISED }, (_, i) => tinySpec(uuid(group, i), `idle-${group}-${i}`));
  for (let i = 0; i < specs.length; i += 10)
    await Promise.all(specs.slice(i, i + 10).map((s) => start(s, true)));
  await new Promise((r) => setTimeout(r, 5000));
  const cpu0 = await cpuSeconds(pid);
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_WINDOW_S * 1000));
  const idleCpu = ((await cpuSeconds(pid)) - cpu0) / ((performance.now() - t0) / 1000);
  const rss = rssMiB(pid);
  const { vms } = await client.call('vm.list', { include_external: false });
  const pausedCount = vms.filter((v) => v.state === 'paused').length;
  for (let i = 0; i < specs.length; i += 10)
    await Promise.all(specs.slice(i, i + 10).map((s) => remove(s.id)));
  return { rss, idleCpu, pausedCount };
}

async function main(): Promise<void> {
  await ensureAgentBinary();
  const dir = await mkdtemp(join(tmpdir(), 'vab-'));
  const bareDir = join(dir, 'bare');
  const ids: string[] = [];
  let agentProc: Awaited<ReturnType<typeof spawnAgent>> | undefined;
  try {
    await runAgentCommand(['dev-ca', '--state-dir', dir]);
    agentProc = await spawnAgent(['--state-dir', dir, '--listen', '127.0.0.1:0', '--accel', 'tcg']);
    const client = await AgentRpcClient.connect({
      ...(await creds(dir)),
      address: agentProc.address,
      client: 'agent-bench',
      events: true,
    });
    const agentStart = async (spec: VmSpec, paused = false) => {
      ids.push(spec.id);
      const t = performance.now();
      const { vm } = await client.call('vm.start', { spec, paused });
      if (vm.state !== (paused ? 'paused' : 'up')) throw new Error(`unexpected state ${vm.state}`);
      return performance.now() - t;
    };
    const agentRemove = async (id: string) => {
      await client.call('vm.stop', { vm_id: id });
      await client.call('vm.destroy', { vm_id: id });
    };

    // Warm-up: page cache, QEMU's first-run costs, JIT.
    const warm = await bareSpawn(bareDir, tinySpec(uuid(0, 1), 'warm-bare'));
    await killBare([warm.pid]);
    await agentStart(tinySpec(uuid(0, 2), 'warm-agent'));
    await agentRemove(uuid(0, 2));

    // 1. One start at a time, interleaved so drift in machine load hits both sides alike.
    const bare1: number[] = [];
    const agent1: number[] = [];
    for (let i = 0; i < SINGLE_ROUNDS; i++) {
      const b = await bareSpawn(bareDir, tinySpec(uuid(1, i), `bare-${i}`));
      bare1.push(b.ms);
      await killBare([b.pid]);
      agent1.push(await agentStart(tinySpec(uuid(2, i), `single-${i}`)));
      await agentRemove(uuid(2, i));
    }
    const single = { bare: median(bare1), agent: median(agent1) };

    // 2. Bursts of 20. Guests that run (after `cont`) execute their firmware and compete for the
    // CPU with the starts still under way, so each side is measured both to "running" and to
    // "paused, QMP answering": the ratio of like with like is the agent's own cost.
    const rounds = {
      bareReady: [] as number[],
      bareRunning: [] as number[],
      agentRunning: [] as number[],
      agentPaused: [] as number[],
    };
    const burstSpecs = (group: number, prefix: string) =>
      Array.from({ length: BURST }, (_, i) => tinySpec(uuid(group, i), `${prefix}-${i}`));
    let group = 100;
    for (let round = 0; round < BURST_ROUNDS; round++) {
      for (const cont of [false, true]) {
        const t = performance.now();
        const bare = await Promise.all(
          burstSpecs(group++, `bb${round}${cont}`).map((s) => bareSpawn(bareDir, s, cont)),
        );
        (cont ? rounds.bareRunning : rounds.bareReady).push(performance.now() - t);
        await killBare(bare.map((b) => b.pid));
      }
      for (const paused of [false, true]) {
        const specs = burstSpecs(group++, `burst${round}${paused}`);
        const t = performance.now();
        await Promise.all(specs.map((s) => agentStart(s, paused)));
        (paused ? rounds.agentPaused : rounds.agentRunning).push(performance.now() - t);
        await Promise.all(specs.map((s) => agentRemove(s.id)));
      }
    }
    const burst = {
      bareReady: median(rounds.bareReady),
      bareRunning: median(rounds.bareRunning),
      agentRunning: median(rounds.agentRunning),
      agentPaused: median(rounds.agentPaused),
    };

    // 3. 50 paused VMs under supervision, engine connected.
    const supervision = await supervise(client, agentProc.proc.pid!, agentStart, agentRemove, 20);
    client.close();
    // The same with Node's default flags, for comparison (a second agent process on its own state dir).
    await stopProcess(agentProc.proc, 'SIGTERM');
    agentProc = await spawnAgent(['--state-dir', dir, '--listen', '127.0.0.1:0', '--accel', 'tcg'], []);
    const plain = await AgentRpcClient.connect({
      ...(await creds(dir)),
      address: agentProc.address,
      events: true,
    });
    const plainStart = async (spec: VmSpec, paused = false) => {
      ids.push(spec.id);
      await plain.call('vm.start', { spec, paused });
      return 0;
    };
    const plainRemove = async (id: string) => {
      await plain.call('vm.stop', { vm_id: id });
      await plain.call('vm.destroy', { vm_id: id });
    };
    const defaults = await supervise(plain, agentProc.proc.pid!, plainStart, plainRemove, 30);
    plain.close();
    const { rss, idleCpu, pausedCount } = supervision;

    const r1 = single.agent / single.bare;
    const r2 = burst.agentRunning / burst.bareRunning;
    const r2paused = burst.agentPaused / burst.bareReady;
    const r2mixed = burst.agentRunning / burst.bareReady;
    const verdict = (ok: boolean) => (ok ? 'OK' : 'OVER');
    console.log('');
    report('bare QEMU spawn → QMP ready (median)', `${single.bare.toFixed(1)} ms`, 'floor');
    report(
      'vm.start RPC → running (median)',
      `${single.agent.toFixed(1)} ms`,
      `ratio ${r1.toFixed(2)} (≤ 2.0) ${verdict(r1 <= 2)}`,
    );
    report(
      `${BURST} bare spawns + cont at once → all running`,
      `${burst.bareRunning.toFixed(0)} ms`,
      'floor',
    );
    report(
      `${BURST} vm.start at once → all running`,
      `${burst.agentRunning.toFixed(0)} ms`,
      `ratio ${r2.toFixed(2)} (≤ 1.5) ${verdict(r2 <= 1.5)}`,
    );
    report(
      `${BURST} bare spawns at once → all QMP ready (paused)`,
      `${burst.bareReady.toFixed(0)} ms`,
      'floor',
    );
    report(
      `${BURST} vm.start paused at once → all paused`,
      `${burst.agentPaused.toFixed(0)} ms`,
      `ratio ${r2paused.toFixed(2)} (≤ 1.5) ${verdict(r2paused <= 1.5)}`,
    );
    report(`  ${BURST} vm.start → running vs bare → QMP ready`, `ratio ${r2mixed.toFixed(2)}`, 'information');
    report(
      `agent RSS supervising ${pausedCount} paused VMs`,
      `${rss.toFixed(1)} MiB`,
      `≤ 60 MiB ${verdict(rss <= 60)}`,
    );
    report(
      `agent idle CPU over ${IDLE_WINDOW_S} s`,
      `${(idleCpu * 100).toFixed(2)} %`,
      `≤ 1 % ${verdict(idleCpu <= 0.01)}`,
    );
    report(
      `  same with Node's default flags: RSS, ${defaults.pausedCount} VMs`,
      `${defaults.rss.toFixed(1)} MiB`,
      'information',
    );

    // VIREO_BENCH_NO_RECORD=1: print only (trial runs).
    if (process.env.VIREO_BENCH_NO_RECORD !== '1')
      appendResults(
        'vireo-agent runtime (bench/agent-runtime.bench.ts)',
        [
          ['bare QEMU spawn (-daemonize) → QMP ready, median of 10', `${single.bare.toFixed(1)} ms`, 'floor'],
          [
            'vm.start RPC over mTLS → QMP running, median of 10',
            `${single.agent.toFixed(1)} ms`,
            `ratio ${r1.toFixed(2)} (≤ 2.0)`,
          ],
          [
            `${BURST} bare spawns + \`cont\` at once → all running, median of ${BURST_ROUNDS}`,
            `${burst.bareRunning.toFixed(0)} ms`,
            'floor',
          ],
          [
            `${BURST} vm.start at once → all running, median of ${BURST_ROUNDS}`,
            `${burst.agentRunning.toFixed(0)} ms`,
            `ratio ${r2.toFixed(2)} (≤ 1.5)`,
          ],
          [
            `${BURST} bare spawns at once → all QMP ready (paused), median of ${BURST_ROUNDS}`,
            `${burst.bareReady.toFixed(0)} ms`,
            'floor',
          ],
          [
            `${BURST} vm.start (paused) at once → all paused, median of ${BURST_ROUNDS}`,
            `${burst.agentPaused.toFixed(0)} ms`,
            `ratio ${r2paused.toFixed(2)} (≤ 1.5)`,
          ],
          [
            `${BURST} vm.start → running against ${BURST} bare spawns → QMP ready`,
            `ratio ${r2mixed.toFixed(2)}`,
            "information (includes the guests' firmware CPU)",
          ],
          [`agent RSS supervising ${pausedCount} paused VMs`, `${rss.toFixed(1)} MiB`, '≤ 60 MiB'],
          [
            `agent idle CPU over ${IDLE_WINDOW_S} s (engine connected, stats every 15 s)`,
            `${(idleCpu * 100).toFixed(2)} %`,
            '≤ 1 % of a core',
          ],
          [
            `the same agent with Node's default flags: RSS supervising ${defaults.pausedCount} paused VMs`,
            `${defaults.rss.toFixed(1)} MiB`,
            'information',
          ],
        ],
        [
          'VMs: q35, 1 vCPU, 64 MiB, serial console, no disk, TCG; the bare spawn uses the argv the agent builds for the same spec',
          'the default-flags figure comes from a second agent that only ran the 50-VM phase (the first had also run the start phases, whose garbage a larger young generation would keep resident)',
          'agent: the bundled binary in its own process, run as deployed: node ' +
            RECOMMENDED_NODE_FLAGS.join(' ') +
            '; vm.start includes spec validation, state directory, argv, spawn, QMP, cont',
        ],
      );
  } finally {
    if (agentProc) await stopProcess(agentProc.proc, 'SIGTERM');
    await killQemusOf(ids);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
