import { PassThrough } from 'node:stream';
import type { Host, VireoClient } from '@vireo/client';
import { describe, expect, it } from 'vitest';
import { ConfigStore } from '../../config/store';
import { Session } from '../../framework/session';
import { NoPrompter } from '../../io/prompt';
import { hostShow } from './show';

const KERNEL = { nfs: { mode: 'kernel', reason: 'kernel NFS client and mount.nfs present' } };
const USERSPACE = {
  nfs: { mode: 'userspace', reason: 'the kernel has no NFS client' },
  seal: { available: false, reason: 'no seal appliance found: run scripts/build-seal-appliance.sh' },
};

const host = (capabilities: Record<string, unknown> | null) =>
  ({
    id: '6f1c2b1e-0000-4000-8000-000000000001',
    name: 'h1',
    address: '10.0.0.1',
    port: 54321,
    state: 'up',
    state_reason: '',
    capabilities,
  }) as unknown as Host;

/**
 * Runs `host show h1 [-o FORMAT]` against a client that only resolves names (the boundary this
 * test cuts at; test/cli/vm-host.test.ts runs the CLI against a real engine).
 */
async function show(h: Host, output?: string): Promise<string> {
  const stdout = new PassThrough();
  let text = '';
  stdout.on('data', (c) => {
    text += c;
  });
  const session = new Session({
    io: { stdin: new PassThrough(), stdout, stderr: new PassThrough() },
    store: new ConfigStore('/nonexistent'),
    env: {},
    prompter: new NoPrompter(),
  });
  const client = {
    hosts: {
      async resolve(nameOrId: string) {
        if (nameOrId !== h.name) throw new Error(`unexpected ${nameOrId}`);
        return h;
      },
    },
  } as unknown as VireoClient;
  session.connect = async () => ({ client, profile: undefined as never });
  const code = await hostShow.run({ session, args: ['h1'], opts: output ? { output } : {} });
  expect(code).toBe(0);
  return text;
}

const lineOf = (text: string, label: string) => text.split('\n').find((l) => l.startsWith(label));

describe('vireo host show: storage abilities', () => {
  it('a host with the kernel client, from an agent that reports no sealing', async () => {
    const text = await show(host({ hostname: 'h1', storage: KERNEL }));
    expect(text).toMatch(/^name\s+h1$/m);
    expect(lineOf(text, 'NFS access:')).toMatch(
      /^NFS access:\s+kernel client — kernel NFS client and mount\.nfs present$/,
    );
    expect(lineOf(text, 'Template sealing:')).toMatch(/^Template sealing:\s+—$/);
  });

  it('a userspace host that cannot seal says why', async () => {
    const text = await show(host({ storage: USERSPACE }));
    expect(lineOf(text, 'NFS access:')).toMatch(
      /^NFS access:\s+QEMU's built-in NFS driver \(userspace\) — the kernel has no NFS client$/,
    );
    expect(lineOf(text, 'Template sealing:')).toMatch(
      /^Template sealing:\s+unavailable: no seal appliance found: run scripts\/build-seal-appliance\.sh$/,
    );
    const sealing = await show(
      host({ storage: { ...USERSPACE, seal: { available: true, reason: 'in /x' } } }),
    );
    expect(lineOf(sealing, 'Template sealing:')).toMatch(/^Template sealing:\s+available — in \/x$/);
  });

  it('a host whose agent reported nothing (or nonsense) shows dashes', async () => {
    for (const caps of [null, { hostname: 'h1' }, { storage: { nfs: { mode: 'fuse', reason: 1 } } }]) {
      const text = await show(host(caps));
      expect(lineOf(text, 'NFS access:'), JSON.stringify(caps)).toMatch(/^NFS access:\s+—$/);
      expect(lineOf(text, 'Template sealing:')).toMatch(/^Template sealing:\s+—$/);
    }
  });

  it('escapes control characters an agent put in a reason', async () => {
    const text = await show(host({ storage: { nfs: { mode: 'kernel', reason: 'a\u001b[2Jb' } } }));
    expect(text).not.toContain('\u001b');
    expect(lineOf(text, 'NFS access:')).toContain('a\\x1b[2Jb');
  });

  it('-o json and -o yaml print the object alone, capabilities included', async () => {
    const h = host({ storage: USERSPACE });
    const json = await show(h, 'json');
    expect(JSON.parse(json)).toEqual(JSON.parse(JSON.stringify(h)));
    expect(json).not.toContain('NFS access:');
    expect(await show(h, 'yaml')).not.toContain('Template sealing:');
  });
});
