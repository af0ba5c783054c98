import { readFile, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECOMMENDED_NODE_FLAGS } from '../src/cli/serve';
import {
  type AgentProcess,
  ensureAgentBinary,
  runAgentCommand,
  spawnAgent,
  stopProcess,
} from './support/binary';

/** The bundle's own file plus every chunk it imports statically (what `serve` loads up front). */
async function staticGraph(entry: string): Promise<string> {
  const seen = new Set<string>();
  let text = '';
  const visit = async (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = await readFile(file, 'utf8');
    text += source;
    for (const m of source.matchAll(/^import\s[^;]*?from\s*"(\.[^"]+)"|^import\s*"(\.[^"]+)"/gm)) {
      await visit(join(dirname(file), m[1] ?? m[2]!));
    }
  };
  await visit(entry);
  return text;
}

describe('the bundled vireo-agent binary', () => {
  let bin: string;
  let dir: string;
  let agent: AgentProcess | undefined;

  beforeAll(async () => {
    bin = await ensureAgentBinary();
    dir = await mkdtemp(join(tmpdir(), 'vireo-agent-bin-'));
  });
  afterAll(async () => {
    if (agent) await stopProcess(agent.proc, 'SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('is executable and names the recommended Node flags in its shebang', async () => {
    const firstLine = (await readFile(bin, 'utf8')).split('\n', 1)[0];
    expect(firstLine).toBe(`#!/usr/bin/env -S node ${RECOMMENDED_NODE_FLAGS.join(' ')}`);
    expect((await stat(bin)).mode & 0o111).toBe(0o111);
  });

  it('keeps the certificate library out of what serve loads up front', async () => {
    const upFront = await staticGraph(bin);
    expect(upFront).not.toContain('@peculiar/x509');
    // …while dev-ca still finds it in its on-demand chunk.
    await runAgentCommand(['dev-ca', '--state-dir', dir]);
    await expect(stat(join(dir, 'tls', 'ca.pem'))).resolves.toBeTruthy();
  });

  it('serve run directly gets the flags from the shebang', async () => {
    agent = await spawnAgent(['--state-dir', dir, '--listen', '127.0.0.1:0', '--accel', 'tcg'], 'shebang');
    const cmdline = (await readFile(`/proc/${agent.proc.pid}/cmdline`, 'utf8')).split('\0');
    expect(cmdline[0]).toMatch(/node$/);
    expect(cmdline).toEqual(expect.arrayContaining([...RECOMMENDED_NODE_FLAGS, bin, 'serve']));
    // Exit 0 means the SIGTERM handler ran and the agent closed cleanly. The TERM goes out the
    // moment the "listening" line is read, which on a loaded machine can be before the agent runs
    // another instruction: its handlers must already be in place by then.
    const running = agent;
    expect(await stopProcess(running.proc, 'SIGTERM'), running.stderr()).toBe(0);
    agent = undefined;
  });
});
