/**
 * Gives each test worker its own slice of the agent's VNC and VNC-WebSocket port ranges.
 *
 * An agent picks a port by binding it for a moment and hands it to QEMU, which binds it again; two
 * agents of two workers (two test files running at once) can both see a port free and then race
 * for it, and one guest fails to start ("Address already in use"). Within one agent the allocator
 * already reserves ports, so disjoint slices per worker remove the race from the suite. Agents read
 * these variables (`VIREO_AGENT_VNC_PORTS`, `VIREO_AGENT_VNC_WEBSOCKET_PORTS`) through their config;
 * every way a test starts one passes them on.
 */
const SLICES = 4;
const SLICE = 250; // 1000 ports in each default range (5900-6899, 6900-7899)

const pool = Number(process.env.VITEST_POOL_ID ?? '1');
const slice = (Number.isInteger(pool) && pool > 0 ? pool - 1 : 0) % SLICES;
const range = (base: number) => `${base + slice * SLICE}-${base + (slice + 1) * SLICE - 1}`;

process.env.VIREO_AGENT_VNC_PORTS = range(5900);
process.env.VIREO_AGENT_VNC_WEBSOCKET_PORTS = range(6900);

/** The port settings above, for agents started with an explicit environment. */
export function workerPortEnv(): Record<string, string> {
  return {
    VIREO_AGENT_VNC_PORTS: process.env.VIREO_AGENT_VNC_PORTS ?? range(5900),
    VIREO_AGENT_VNC_WEBSOCKET_PORTS: process.env.VIREO_AGENT_VNC_WEBSOCKET_PORTS ?? range(6900),
  };
}
