import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostCapabilitiesSchema, HostStatsSchema } from '@vireo/agent-protocol';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDevCa, DEV_CA_FILES } from '../cli/dev-ca';
import { type RunningAgent, startAgent } from '../cli/serve';
import { loadConfig } from '../config';
import { AgentRpcClient } from '../rpc/client';
import { silentLogger } from '../util/log';
import { createHostFacts, resolveAccelerator } from '.';

// The host module as `vireo-agent serve` wires it, answered over the real mTLS JSON-RPC server.
describe('host.capabilities and host.stats over RPC', () => {
  let stateDir: string;
  let agent: RunningAgent | undefined;
  let client: AgentRpcClient | undefined;

  beforeAll(async () => {
    stateDir = await mkdtemp(join(tmpdir(), 'vah-'));
    await createDevCa(join(stateDir, 'tls'));
    const config = loadConfig({ 'state-dir': stateDir, listen: '127.0.0.1:0', accel: 'tcg' }, {});
    const accel = await resolveAccelerator(config.accel, { stateDir, qemuBinary: config.qemuBinary });
    agent = await startAgent(config, silentLogger(), {
      host: createHostFacts({ qemuBinary: config.qemuBinary, accel }),
      resolveAccel: async () => accel.accel,
    });
    const tls = join(stateDir, 'tls');
    client = await AgentRpcClient.connect({
      address: agent.address,
      ca: await readFile(join(tls, DEV_CA_FILES.ca), 'utf8'),
      cert: await readFile(join(tls, DEV_CA_FILES.clientCert), 'utf8'),
      key: await readFile(join(tls, DEV_CA_FILES.clientKey), 'utf8'),
      client: 'host-test',
    });
  });

  afterAll(async () => {
    client?.close();
    await agent?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  it('advertises and answers both methods with wire-valid results', async () => {
    expect(client!.hello.capabilities).toContain('host.stats');
    const caps = await client!.call('host.capabilities', {});
    expect([...Value.Errors(HostCapabilitiesSchema, caps)]).toEqual([]);
    expect(caps.hostname).toBe(hostname());
    // The agent runs with TCG by setting: KVM is reported as not probed, never as working.
    expect(caps.accelerators.find((a) => a.name === 'kvm')).toMatchObject({ usable: false });
    expect(caps.accelerators.find((a) => a.name === 'tcg')).toMatchObject({ usable: true });

    const stats = await client!.call('host.stats', {});
    expect([...Value.Errors(HostStatsSchema, stats)]).toEqual([]);
    expect(stats.memory.total_bytes).toBe(caps.memory_total_bytes);
  });
});
