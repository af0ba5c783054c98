import { execFile } from 'node:child_process';
import { access, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import type { VmSpec } from '@vireo/agent-protocol';
import { AgentError } from '../util/errors';
import type { Reverter } from '../util/reverter';

const run = promisify(execFile);

async function ip(args: string[]): Promise<void> {
  try {
    await run('ip', args, { timeout: 10_000 });
  } catch (err) {
    const stderr = String((err as { stderr?: unknown }).stderr ?? '').trim();
    throw new AgentError('network_failed', `ip ${args.join(' ')} failed${stderr ? `: ${stderr}` : ''}`, {
      cause: err,
    });
  }
}

export async function linkExists(ifname: string): Promise<boolean> {
  try {
    await access(`/sys/class/net/${ifname}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * Makes sure every tap the spec names exists. Missing ones are created as persistent taps and
 * brought up, with IPv6 off first so the host never addresses or solicits on a VM's wire. Returns
 * the taps it created (only those are removed later); each gets an undo on `revert`.
 */
export async function ensureTaps(spec: VmSpec, revert: Reverter): Promise<string[]> {
  const created: string[] = [];
  for (const nic of spec.nics) {
    if (nic.backend.type !== 'tap') continue;
    const name = nic.backend.ifname;
    if (await linkExists(name)) continue;
    await ip(['tuntap', 'add', 'dev', name, 'mode', 'tap']);
    created.push(name);
    revert.add(() => removeTap(name), `remove tap ${name}`);
    await writeFile(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1').catch(() => undefined);
    await ip(['link', 'set', 'dev', name, 'up']);
  }
  return created;
}

/** Removes a tap the agent created; a tap already gone is fine. */
export async function removeTap(name: string): Promise<void> {
  if (!(await linkExists(name))) return;
  await ip(['link', 'delete', 'dev', name]);
}
