import type { HostCapabilities, HostStats } from '@vireo/agent-protocol';
import type { AccelResolution } from './accel';
import { readHostCapabilities } from './capabilities';
import { HostStatsSampler } from './stats';

export {
  type AccelResolution,
  DEFAULT_PROBE_TIMEOUT_MS,
  describeAccelerators,
  type KvmVerdict,
  type ProbeOptions,
  type ProbeResult,
  probeAccelerator,
  probeBootSector,
  type ResolveOptions,
  resolveAccelerator,
} from './accel';
export { type CapabilitiesOptions, type HostFactSources, readHostCapabilities } from './capabilities';
export { readHostNics } from './nics';
export { readNumaNodes } from './numa';
export { type QemuInfo, readQemuInfo } from './qemu-info';
export { computeCpuStats, HostStatsSampler, memoryStats } from './stats';

/** The host facts the agent's `host.capabilities` and `host.stats` methods answer with. */
export interface HostFacts {
  capabilities(): Promise<HostCapabilities>;
  /** One sample; CPU shares cover the time since the previous call. */
  stats(): Promise<HostStats>;
}

/**
 * The host module as the agent's composition root wires it: `accel` is the agent's accelerator
 * decision (`resolveAccelerator(config.accel, …)`), reported as-is in the capabilities.
 */
export function createHostFacts(options: { qemuBinary: string; accel: AccelResolution }): HostFacts {
  const sampler = new HostStatsSampler();
  return {
    capabilities: () => readHostCapabilities({ qemuBinary: options.qemuBinary, accel: options.accel }),
    stats: () => sampler.sample(),
  };
}
