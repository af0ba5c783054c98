import { describe, expect, it } from 'vitest';
import { REGISTRY } from '../commands/index';
import { type CompletionSources, complete } from './engine';

function sources(calls: { resource: string; prefix: string; profile?: string }[] = []): CompletionSources {
  return {
    async resourceNames(resource, prefix, profile) {
      calls.push({ resource, prefix, profile });
      const names: Record<string, string[]> = {
        datacenter: ['prod-east', 'prod-west', 'lab'],
        cluster: ['c1'],
      };
      return names[resource] ?? [];
    },
    profileNames: () => ['default', 'staging'],
  };
}

const c = (words: string[], current: string, inShell = false, s = sources()) =>
  complete(words, current, REGISTRY, s, inShell);

describe('complete', () => {
  it('offers nouns and top-level commands, aliases only when typed', async () => {
    const top = await c([], '');
    expect(top).toEqual(
      expect.arrayContaining(['datacenter', 'cluster', 'login', 'events', 'shell', 'completion']),
    );
    expect(top).not.toContain('dc');
    expect(top).not.toContain('__complete');
    expect(top).not.toContain('connect');
    expect(await c([], 'd')).toEqual(['datacenter', 'dc', 'disk']);
  });

  it('offers shell-only commands inside the shell and hides shell/completion there', async () => {
    const top = await c([], '', true);
    expect(top).toEqual(expect.arrayContaining(['connect', 'disconnect', 'exit']));
    expect(top).not.toContain('shell');
  });

  it('offers verbs of a noun, reached by name or alias', async () => {
    expect(await c(['dc'], '')).toEqual(['create', 'delete', 'list', 'show', 'update']);
    expect(await c(['operation'], 'c')).toEqual(['cancel']);
  });

  it('offers options of the command plus global ones', async () => {
    const opts = await c(['datacenter', 'create'], '--');
    expect(opts).toEqual(
      expect.arrayContaining([
        '--description',
        '--wait',
        '--timeout',
        '--set',
        '--output',
        '--profile',
        '--help',
      ]),
    );
    expect(opts).not.toContain('--search');
  });

  it('completes option values from choices, profiles and --opt=value', async () => {
    expect(await c(['dc', 'list', '-o'], '')).toEqual(['json', 'table', 'yaml']);
    expect(await c(['dc', 'list', '--output'], 'y')).toEqual(['yaml']);
    expect(await c(['dc', 'list'], '--output=j')).toEqual(['--output=json']);
    expect(await c(['--profile'], 's')).toEqual(['staging']);
    expect(await c(['completion'], '')).toEqual(['bash', 'zsh']);
  });

  it('completes object names live, for the right argument and profile', async () => {
    const calls: { resource: string; prefix: string; profile?: string }[] = [];
    expect(await c(['--profile', 'staging', 'datacenter', 'show'], 'prod', false, sources(calls))).toEqual([
      'prod-east',
      'prod-west',
    ]);
    expect(calls).toEqual([{ resource: 'datacenter', prefix: 'prod', profile: 'staging' }]);
    expect(await c(['cluster', 'create', 'c9', '--datacenter'], 'l')).toEqual(['lab']);
    expect(await c(['cluster', 'list', '--datacenter=prod-east'], '')).toEqual([]);
    // `show` takes one argument: nothing more to complete after it.
    expect(await c(['datacenter', 'show', 'lab'], '')).toEqual([]);
    expect(await c(['cluster', 'show'], '')).toEqual(['c1']);
  });
});
