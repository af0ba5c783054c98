import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { HostMachineType } from '@vireo/agent-protocol';
import { AgentError } from '../util/errors';

const run = promisify(execFile);

/** What a QEMU binary says about itself. */
export interface QemuInfo {
  binary: string;
  /** `major.minor.micro`. */
  version: string;
  /** The distribution's package version, when the build names one. */
  package: string | null;
  machineTypes: HostMachineType[];
  /** Accelerators compiled into the binary (`-accel help`); whether they work is the probe's job. */
  accelerators: string[];
}

/** `QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)` → version and package. */
export function parseQemuVersion(text: string): { version: string; package: string | null } {
  const match = /QEMU emulator version (\d+\.\d+(?:\.\d+)?)(?:\s*\(([^)\n]*)\))?/.exec(text);
  if (!match) throw new Error(`unrecognised QEMU version output: "${text.split('\n')[0]}"`);
  return { version: match[1]!, package: match[2]?.trim() || null };
}

/**
 * `-machine help` → machine types. Lines are `NAME  DESCRIPTION`, where the description may end in
 * `(alias of X)`, `(default)` or `(deprecated)` markers; the header line is skipped.
 */
export function parseMachineHelp(text: string): HostMachineType[] {
  const types: HostMachineType[] = [];
  for (const line of text.split('\n')) {
    const match = /^(\S+)\s+(.+)$/.exec(line.trimEnd());
    if (!match || line.startsWith('Supported machines')) continue;
    let description = match[2]!;
    let aliasOf: string | null = null;
    let isDefault = false;
    let deprecated = false;
    // Markers come last, in any order; peel them off one by one.
    for (;;) {
      const marker = /\s*\((alias of (\S+)|default|deprecated)\)$/.exec(description);
      if (!marker) break;
      if (marker[2]) aliasOf = marker[2];
      else if (marker[1] === 'default') isDefault = true;
      else deprecated = true;
      description = description.slice(0, marker.index);
    }
    types.push({ name: match[1]!, description, alias_of: aliasOf, is_default: isDefault, deprecated });
  }
  return types;
}

/** `-accel help` → accelerator names (the header line is skipped). */
export function parseAccelHelp(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^[a-z][a-z0-9_-]*$/.test(line));
}

// Three runs of QEMU cost ≈ 100 ms and the answers only change when the package is upgraded (the
// agent restarts then), so each binary is asked once per process.
const cache = new Map<string, Promise<QemuInfo>>();

/** Version, machine types and built-in accelerators of `binary`, asked once per agent process. */
export function readQemuInfo(binary = 'qemu-system-x86_64'): Promise<QemuInfo> {
  let info = cache.get(binary);
  if (!info) {
    info = askQemu(binary);
    // A failure (binary missing, being upgraded) is not remembered: the next call asks again.
    info.catch(() => cache.delete(binary));
    cache.set(binary, info);
  }
  return info;
}

async function askQemu(binary: string): Promise<QemuInfo> {
  const ask = async (args: string[]) => {
    try {
      const { stdout } = await run(binary, args, { timeout: 10_000, maxBuffer: 1024 * 1024 });
      return stdout;
    } catch (cause) {
      throw new AgentError('qemu_failed', `running ${binary} ${args.join(' ')} failed`, {
        cause,
        details: { binary },
      });
    }
  };
  const [versionText, machineText, accelText] = await Promise.all([
    ask(['--version']),
    ask(['-machine', 'help']),
    ask(['-accel', 'help']),
  ]);
  let version: ReturnType<typeof parseQemuVersion>;
  try {
    version = parseQemuVersion(versionText);
  } catch (cause) {
    throw new AgentError('qemu_failed', `${binary} is not a QEMU system emulator`, {
      cause,
      details: { binary },
    });
  }
  return {
    binary,
    ...version,
    machineTypes: parseMachineHelp(machineText),
    accelerators: parseAccelHelp(accelText),
  };
}
