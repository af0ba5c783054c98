import { PassThrough } from 'node:stream';
import { type Operation, type VireoClient, VireoClientError } from '@vireo/client';
import { describe, expect, it } from 'vitest';
import { ConfigStore } from '../../config/store';
import { Session } from '../../framework/session';
import type { CommandContext } from '../../framework/spec';
import { NoPrompter } from '../../io/prompt';
import { followOperation, parseSet, parseTimeout } from './mutation';

describe('parseSet', () => {
  it('parses JSON values, keeps other text as strings and nests dotted fields', () => {
    expect(
      parseSet([
        'cpus=2',
        'ha=true',
        'name=web 1',
        'tags=["a"]',
        'console.kind=vnc',
        'console.port=5900',
        'x=',
      ]),
    ).toEqual({
      cpus: 2,
      ha: true,
      name: 'web 1',
      tags: ['a'],
      console: { kind: 'vnc', port: 5900 },
      x: '',
    });
    expect(parseSet(undefined)).toEqual({});
  });

  it('rejects malformed assignments as usage errors', () => {
    for (const bad of ['novalue', '=x', 'Bad=1', 'a..b=1']) {
      expect(() => parseSet([bad])).toThrow(expect.objectContaining({ exitCode: 2 }));
    }
    expect(() => parseSet(['a=1', 'a.b=2'])).toThrow(/already a value/);
  });

  it('validates --timeout', () => {
    expect(parseTimeout('1.5')).toBe(1500);
    expect(parseTimeout(undefined)).toBeUndefined();
    expect(() => parseTimeout('soon')).toThrow(/positive number/);
  });
});

describe('followOperation', () => {
  function ctxWith(stderr: PassThrough): CommandContext {
    const session = new Session({
      io: { stdin: new PassThrough(), stdout: new PassThrough(), stderr },
      store: new ConfigStore('/nonexistent'),
      env: {},
      prompter: new NoPrompter(),
    });
    return { session, args: [], opts: {} };
  }

  it('turns a failed operation into exit 5 with its error code, after plain progress lines', async () => {
    const base = { id: 'op-1', type: 'vm.start', progress: 0, target: null } as unknown as Operation;
    const fake = {
      async waitForOperation(_id: string, o: { onProgress?: (op: Operation) => void }) {
        o.onProgress?.({ ...base, state: 'running', progress: 0.5 });
        const failed = {
          ...base,
          state: 'failed',
          progress: 0.5,
          error: { code: 'no_host', message: 'no host fits' },
        };
        o.onProgress?.(failed as Operation);
        return failed as Operation;
      },
    } as unknown as VireoClient;
    const stderr = new PassThrough();
    let text = '';
    stderr.on('data', (c) => {
      text += c;
    });
    const err = await followOperation(ctxWith(stderr), fake, { ...base, state: 'pending' }).catch((e) => e);
    expect(err).toMatchObject({
      code: 'no_host',
      exitCode: 5,
      message: 'operation op-1 (vm.start) failed: no host fits',
    });
    expect(text).toBe('operation vm.start op-1: running 50%\noperation vm.start op-1: failed 50%\n');
  });

  it('turns Ctrl-C into exit 130 and says the operation goes on', async () => {
    const fake = {
      waitForOperation: async () => {
        throw new VireoClientError('aborted', 'aborted');
      },
    } as unknown as VireoClient;
    const err = await followOperation(ctxWith(new PassThrough()), fake, { id: 'op-2' } as Operation).catch(
      (e) => e,
    );
    expect(err).toMatchObject({ exitCode: 130 });
    expect(err.message).toContain('vireo operation wait op-2');
  });
});
