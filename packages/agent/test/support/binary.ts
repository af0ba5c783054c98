import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RECOMMENDED_NODE_FLAGS } from '../../src/cli/serve';
import { REPO_ROOT } from './guest';

export const AGENT_BIN = join(REPO_ROOT, 'packages/agent/dist/vireo-agent.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.ts')) continue;
    newest = Math.max(newest, statSync(join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/**
 * The bundled `vireo-agent` that `npm test` builds before the tests. When run alone (`npx vitest
 * run …`) and the bundle is missing or older than the sources, it is rebuilt with
 * scripts/build.mjs so the test never exercises stale code.
 */
export async function ensureAgentBinary(): Promise<string> {
  let built = 0;
  try {
    built = statSync(AGENT_BIN).mtimeMs;
  } catch {
    // not built yet
  }
  const sources = Math.max(
    newestMtime(join(REPO_ROOT, 'packages/agent/src')),
    newestMtime(join(REPO_ROOT, 'packages/agent-protocol/src')),
  );
  if (built < sources) {
    // The same build npm test runs (shebang with the Node flags, on-demand chunks).
    await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'scripts/build.mjs'), 'agent'], {
      cwd: REPO_ROOT,
      timeout: 120_000,
    });
  }
  return AGENT_BIN;
}

/** Runs a one-shot `vireo-agent` command; resolves with stdout (rejects on a non-zero exit). */
export async function runAgentCommand(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [AGENT_BIN, ...args], { timeout: 120_000 });
  return stdout;
}

export interface AgentProcess {
  proc: ChildProcess;
  address: string;
  stderr(): string;
}

/**
 * Starts `vireo-agent serve` the way it is deployed (with the recommended Node flags) and resolves
 * once it listens (it prints its address). `'shebang'` executes the bundle itself, so its first line
 * chooses Node and the flags.
 */
export function spawnAgent(
  args: string[],
  nodeFlags: readonly string[] | 'shebang' = RECOMMENDED_NODE_FLAGS,
): Promise<AgentProcess> {
  const [command, argv] =
    nodeFlags === 'shebang'
      ? [AGENT_BIN, ['serve', ...args]]
      : [process.execPath, [...nodeFlags, AGENT_BIN, 'serve', ...args]];
  const proc = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr?.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  return new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`vireo-agent did not start in time:\n${stderr.slice(-2000)}`));
    }, 30_000);
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`vireo-agent exited with ${code}:\n${stderr.slice(-2000)}`));
    });
    proc.stdout?.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      const match = /listening on (\S+)/.exec(stdout);
      if (match?.[1]) {
        clearTimeout(timer);
        proc.removeAllListeners('exit');
        resolve({ proc, address: match[1], stderr: () => stderr });
      }
    });
  });
}

/** Sends `signal` and resolves with the exit code (or signal name). */
export function stopProcess(proc: ChildProcess, signal: NodeJS.Signals): Promise<number | string> {
  if (proc.exitCode !== null || proc.signalCode !== null)
    return Promise.resolve(proc.exitCode ?? proc.signalCode!);
  return new Promise((resolve) => {
    proc.once('exit', (code, sig) => resolve(code ?? sig ?? -1));
    proc.kill(signal);
  });
}

/**
 * PIDs of every `vireo-agent serve` whose command line names `stateDir` — e.g. the local agent an
 * all-in-one engine supervises, which by design outlives the engine (its VMs keep running).
 */
export function agentPids(stateDir: string): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (cmd.includes('serve') && cmd.includes(stateDir)) out.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
