// Runs the `vireo` CLI from source as a child process, with its own config directory.
import { type ChildProcess, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../..', import.meta.url));
/** argv that runs the CLI from source (no build step, so tests never see a stale bundle). */
export const CLI_ARGV = [
  process.execPath,
  '--conditions=vireo-source',
  '--import',
  'tsx',
  'packages/cli/src/main.ts',
];

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Environment for the CLI: no VIREO_* from the caller, config under `configHome`. */
export function cliEnv(configHome: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith('VIREO_') && k !== 'XDG_CONFIG_HOME') env[k] = v;
  return { ...env, XDG_CONFIG_HOME: configHome, ...extra };
}

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** Starts `vireo ARGS…`; the caller owns the process (see {@link runCli} for run-to-completion). */
export function spawnCli(args: string[], configHome: string, env: Record<string, string> = {}): ChildProcess {
  const child = spawn(CLI_ARGV[0]!, [...CLI_ARGV.slice(1), ...args], {
    cwd: REPO,
    env: cliEnv(configHome, env),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Runs `vireo ARGS…` to completion with `input` on stdin (not a terminal). */
export async function runCli(
  args: string[],
  configHome: string,
  opts: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<CliResult> {
  const child = spawnCli(args, configHome, opts.env);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    stderr += d;
  });
  child.stdin!.end(opts.input ?? '');
  const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/**
 * `vireo login` as admin@internal into `configHome`, pinning the engine's CA by its fingerprint
 * (the password goes on stdin, never on the command line).
 */
export async function loginCli(
  configHome: string,
  engine: { url: string; caPem: string; adminPassword: string | null | undefined },
): Promise<CliResult> {
  const fingerprint = new X509Certificate(engine.caPem).fingerprint256;
  return runCli(
    ['login', engine.url, '-u', 'admin@internal', '--password-stdin', '--accept-ca-fingerprint', fingerprint],
    configHome,
    { input: `${engine.adminPassword ?? ''}\n` },
  );
}
