import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostNumaNode } from '@vireo/agent-protocol';
import { parseCpuList, parseMeminfo } from './procfs';

/**
 * NUMA nodes from sysfs: each `nodeN` with its CPUs and memory. Empty when the kernel has no NUMA
 * support (no `/sys/devices/system/node`): treat the host as one node then.
 */
export async function readNumaNodes(root = '/sys/devices/system/node'): Promise<HostNumaNode[]> {
  let entries: string[];
  try {
    entries = await readdir(root);
  } catch {
    return [];
  }
  const ids = entries
    .map((entry) => /^node(\d+)$/.exec(entry)?.[1])
    .filter((id): id is string => id !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
  return Promise.all(
    ids.map(async (id) => {
      const dir = join(root, `node${id}`);
      const [cpulist, meminfo] = await Promise.all([
        readFile(join(dir, 'cpulist'), 'utf8').catch(() => ''),
        readFile(join(dir, 'meminfo'), 'utf8').catch(() => ''),
      ]);
      return {
        id,
        cpus: parseCpuList(cpulist),
        memory_total_bytes: parseMeminfo(meminfo).get('MemTotal') ?? 0,
      };
    }),
  );
}
