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

/** Whether `ifname` is an existing Linux bridge (sysfs has `bridge/` only for bridges). */
export async function isBridge(ifname: string): Promise<boolean> {
  try {
    await access(`/sys/class/net/${ifname}/bridge`);
    return true;
  } catch {
    return false;
  }
}

/** Refuses a spec whose NICs name a bridge the host does not have, before anything is created. */
async function checkBridges(spec: VmSpec): Promise<void> {
  for (const [i, nic] of spec.nics.entries()) {
    if (nic.backend.type !== 'tap' || nic.backend.bridge === undefined) continue;
    const bridge = nic.backend.bridge;
    if (!(await isBridge(bridge))) {
      throw new AgentError('bridge_not_found', `this host has no bridge named ${bridge}`, {
        details: { field: `/nics/${i}/backend/bridge`, bridge, nic_id: nic.id },
      });
    }
  }
}

/**
 * Makes sure every tap the spec names exists. Missing ones are created as persistent taps and
 * brought up, with IPv6 off first so the host never addresses or solicits on a VM's wire; a tap
 * with a bridge becomes a port of it. Returns the taps it created (only those are removed later);
 * each gets an undo on `revert`.
 */
export async function ensureTaps(spec: VmSpec, revert: Reverter): Promise<string[]> {
  await checkBridges(spec);
  const created: string[] = [];
  for (const nic of spec.nics) {
    if (nic.backend.type !== 'tap') continue;
    const name = nic.backend.ifname;
    const exists = await linkExists(name);
    if (!exists) {
      await ip(['tuntap', 'add', 'dev', name, 'mode', 'tap']);
      created.push(name);
      revert.add(() => removeTap(name), `remove tap ${name}`);
      await writeFile(`/proc/sys/net/ipv6/conf/${name}/disable_ipv6`, '1').catch(() => undefined);
    }
    // Attached before it is up, so a new tap never carries frames outside its bridge.
    if (nic.backend.bridge !== undefined)
      await ip(['link', 'set', 'dev', name, 'master', nic.backend.bridge]);
    if (!exists) await ip(['link', 'set', 'dev', name, 'up']);
  }
  return created;
}

/** Removes a tap the agent created; a tap already gone is fine. */
export async function removeTap(name: string): Promise<void> {
  if (!(await linkExists(name))) return;
  await ip(['link', 'delete', 'dev', name]);
}
