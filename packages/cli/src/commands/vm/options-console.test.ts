import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigStore } from '../../config/store';
import { runArgv } from '../../framework/program';
import { Session } from '../../framework/session';
import { NoPrompter } from '../../io/prompt';
import { applyHardware, HARDWARE_OPTIONS } from './options';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Parses argv with the real option specs and returns the request body `applyHardware` builds. */
async function bodyOf(
  argv: string[],
): Promise<{ code: number; body?: Record<string, unknown>; err: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'vireo-cli-console-'));
  dirs.push(dir);
  const err = new PassThrough();
  let errText = '';
  err.on('data', (c) => {
    errText += c;
  });
  const session = new Session({
    io: { stdin: new PassThrough(), stdout: new PassThrough(), stderr: err },
    store: new ConfigStore(join(dir, 'vireo')),
    env: {},
    prompter: new NoPrompter(),
  });
  let body: Record<string, unknown> | undefined;
  const code = await runArgv(['vm', 'make', ...argv], session, {
    nouns: [{ name: 'vm', aliases: [], summary: 'VMs' }],
    commands: [
      {
        path: ['vm', 'make'],
        summary: 'hardware flags only',
        args: [],
        options: [...HARDWARE_OPTIONS],
        async run(ctx) {
          body = {};
          applyHardware(ctx, body);
          return 0;
        },
      },
    ],
  });
  return { code, ...(body ? { body } : {}), err: errText };
}

describe('vm --console', () => {
  it('sends console "serial" or "vnc" when given, nothing when not', async () => {
    expect((await bodyOf(['--console', 'serial'])).body).toEqual({ console: 'serial' });
    expect((await bodyOf(['--console', 'vnc', '--cpus', '2'])).body).toEqual({ console: 'vnc', cpus: 2 });
    expect((await bodyOf(['--memory', '256'])).body).toEqual({ memory_mib: 256 });
  });

  it('refuses other console types as a usage error (exit 2), before any request', async () => {
    const res = await bodyOf(['--console', 'spice']);
    expect(res.code).toBe(2);
    expect(res.body).toBeUndefined();
    expect(res.err).toMatch(/usage_error/);
  });
});
