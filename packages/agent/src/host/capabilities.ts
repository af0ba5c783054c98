import { readFile } from 'node:fs/promises';
import { hostname, release, version } from 'node:os';
import type { HostCapabilities, HostCpu, HostOs } from '@vireo/agent-protocol';
import { AgentError } from '../util/errors';
import { type AccelResolution, describeAccelerators } from './accel';
import { readHostNics } from './nics';
import { readNumaNodes } from './numa';
import { parseCpuInfo, parseMeminfo, parseOsRelease } from './procfs';
import { readQemuInfo } from './qemu-info';

export interface CapabilitiesOptions {
  /** The QEMU binary the agent launches (default `qemu-system-x86_64`). */
  qemuBinary?: string;
  /**
   * The agent's accelerator decision (from `resolveAccelerator`): KVM's usability is reported from
   * it, so reading capabilities never starts a probe of its own. Without it KVM is "not probed".
   */
  accel?: AccelResolution;
}

/** Where the facts are read from; tests point these at fixture trees. */
export interface HostFactSources {
  cpuinfo: string;
  meminfo: string;
  osRelease: string[];
  numaRoot: string;
  sysClassNet: string;
}

const SYSTEM_SOURCES: HostFactSources = {
  cpuinfo: '/proc/cpuinfo',
  meminfo: '/proc/meminfo',
  // os-release(5): /etc first, /usr/lib as the fallback.
  osRelease: ['/etc/os-release', '/usr/lib/os-release'],
  numaRoot: '/sys/devices/system/node',
  sysClassNet: '/sys/class/net',
};

/**
 * What this host can run: CPU, memory, NUMA, QEMU (version, machine types, accelerators that work),
 * NICs and bridges, OS. QEMU's answers are cached per binary (`readQemuInfo`); the NICs are read
 * afresh each call because bridges and taps change while the agent runs.
 */
export async function readHostCapabilities(
  options: CapabilitiesOptions = {},
  sources: HostFactSources = SYSTEM_SOURCES,
): Promise<HostCapabilities> {
  const [cpu, memory, os, numa, nics, qemu] = await Promise.all([
    readFile(sources.cpuinfo, 'utf8').then(parseCpuInfo, (cause) =>
      fail<HostCpu>('CPU', sources.cpuinfo, cause),
    ),
    readFile(sources.meminfo, 'utf8').then(parseMeminfo, (cause) =>
      fail<Map<string, number>>('memory', sources.meminfo, cause),
    ),
    readOsRelease(sources.osRelease),
    readNumaNodes(sources.numaRoot),
    readHostNics(sources.sysClassNet),
    readQemuInfo(options.qemuBinary),
  ]);
  return {
    hostname: hostname(),
    kernel: { release: release(), version: version() },
    os,
    cpu,
    memory_total_bytes: memory.get('MemTotal') ?? 0,
    numa_nodes: numa,
    qemu: {
      binary: qemu.binary,
      version: qemu.version,
      package: qemu.package,
      machine_types: qemu.machineTypes,
    },
    accelerators: describeAccelerators(qemu.accelerators, options.accel),
    nics,
    collected_at: new Date().toISOString(),
  };
}

async function readOsRelease(paths: string[]): Promise<HostOs> {
  for (const path of paths) {
    try {
      return parseOsRelease(await readFile(path, 'utf8'));
    } catch {
      // try the next location
    }
  }
  return { id: 'linux', version_id: '', pretty_name: 'Linux' };
}

function fail<T>(what: string, path: string, cause: unknown): T {
  throw new AgentError('internal_error', `reading the host's ${what} facts from ${path} failed`, { cause });
}
