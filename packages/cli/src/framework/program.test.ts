import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigStore } from '../config/store';
import { NoPrompter } from '../io/prompt';
import { runArgv, type Registry } from './program';
import { Session } from './session';
import type { CommandContext } from './spec';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function harness() {
  const dir = mkdtempSync(join(tmpdir(), 'vireo-cli-'));
  dirs.push(dir);
  const out = new PassThrough();
  const err = new PassThrough();
  const text = { out: '', err: '' };
  out.on('data', (c) => (text.out += c));
  err.on('data', (c) => (text.err += c));
  const session = new Session({
    io: { stdin: new PassThrough(), stdout: out, stderr: err },
    store: new ConfigStore(join(dir, 'vireo')),
    env: {},
    prompter: new NoPrompter(),
  });
  const seen: CommandContext[] = [];
  const registry: Registry = {
    nouns: [{ name: 'thing', aliases: ['th'], summary: 'things' }],
    commands: [
      {
        path: ['thing', 'make'],
        summary: 'make a thing',
        args: [{ name: 'name', description: 'n', required: true }],
        options: [
          { flags: '--set <field=value>', description: 's', repeatable: true },
          { flags: '--wait', description: 'w' },
          { flags: '--size <n>', description: 's', choices: ['s', 'm'] },
        ],
        async run(ctx) {
          seen.push(ctx);
          return ctx.args[0] === 'fail' ? 5 : 0;
        },
      },
    ],
  };
  return { session, registry, seen, text };
}

describe('runArgv', () => {
  it('parses noun aliases, repeatable options and global options placed after the command', async () => {
    const h = harness();
    const code = await runArgv(
      ['th', 'make', 'x', '--set', 'a=1', '--set', 'b=2', '-o', 'json', '--wait'],
      h.session,
      h.registry,
    );
    expect(code).toBe(0);
    expect(h.seen[0]?.args).toEqual(['x']);
    expect(h.seen[0]?.opts).toMatchObject({ set: ['a=1', 'b=2'], output: 'json', wait: true });
  });

  it('returns the command exit code', async () => {
    const h = harness();
    expect(await runArgv(['thing', 'make', 'fail'], h.session, h.registry)).toBe(5);
  });

  it('reports usage errors as exit 2 with "Error [usage_error]"', async () => {
    for (const argv of [
      ['thing', 'make'],
      ['thing', 'make', 'x', '--bogus'],
      ['thing', 'make', 'x', '--size', 'xl'],
      ['nothing'],
      ['thing'],
    ]) {
      const h = harness();
      expect(await runArgv(argv, h.session, h.registry)).toBe(2);
      if (argv.length > 1 || argv[0] !== 'thing') expect(h.text.err).toMatch(/^Error \[usage_error\]: /m);
      expect(h.seen).toHaveLength(0);
    }
  });

  it('prints help on stdout with exit 0', async () => {
    const h = harness();
    expect(await runArgv(['thing', 'make', '--help'], h.session, h.registry)).toBe(0);
    expect(h.text.out).toContain('Usage: vireo thing make [options] <name>');
  });
});
