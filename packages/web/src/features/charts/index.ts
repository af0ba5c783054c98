/**
 * Graphs for detail pages (web-live). Exports:
 * - `HostGraphs({ hostId })` — a host's CPU, memory, network and disk I/O over the last hour, live.
 * - `VmGraphs({ vmId })` — the same for a VM.
 * Both are lazy: uPlot and the chart code load with the first graph, not with the portal. Put them
 * in a "Monitoring" tab of the host and VM detail pages; they bring their own Suspense fallback.
 */
export { HostGraphs, VmGraphs } from './lazy';
