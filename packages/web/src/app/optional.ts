import type { ComponentType } from 'react';
import { hasExtensionRoute } from './extensions';

/**
 * web-live's graphs for detail pages (`features/charts/index.ts`: `HostGraphs`, `VmGraphs`), when
 * that module is in; the detail pages leave out their Monitoring tab otherwise.
 */
const charts = import.meta.glob<{
  HostGraphs?: ComponentType<{ hostId: string }>;
  VmGraphs?: ComponentType<{ vmId: string }>;
}>('../features/charts/index.ts', { eager: true });
const chartsModule = Object.values(charts)[0];

export const HostGraphs = chartsModule?.HostGraphs;
export const VmGraphs = chartsModule?.VmGraphs;

/** The VNC console page's path for a VM, when web-live's consoles are in (`vms/:id/console`). */
export function consolePath(vmId: string): string | undefined {
  return hasExtensionRoute('vms/:id/console') ? `/vms/${vmId}/console` : undefined;
}

/** The serial console page's path for a VM, when web-live's consoles are in (`vms/:id/serial`). */
export function serialPath(vmId: string): string | undefined {
  return hasExtensionRoute('vms/:id/serial') ? `/vms/${vmId}/serial` : undefined;
}
