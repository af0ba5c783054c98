import { AGENT_RPC_PATH, PROTOCOL_VERSION } from '@vireo/agent-protocol';
import { createCa, issueCertificate, type KeyPair } from '@vireo/pki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AgentRpcClient, AgentRpcError } from '../src/rpc/client';
import type { MethodHandlers } from '../src/rpc/handlers';
import { AgentRpcServer } from '../src/rpc/server';
import { silentLogger } from '../src/util/log';

/**
 * The RPC boundary on its own: real TLS 1.3 with client certificates, real WebSockets, and
 * handlers that stand in for the VM runtime (which has its own tests against QEMU).
 */
describe('agent RPC server', () => {
  let ca: KeyPair;
  let client: KeyPair;
  let otherCaClient: KeyPair;
  let server: AgentRpcServer;
  let address: string;
  const slowCalls: (() => void)[] = [];
  const releaseSlow = () => {
    for (const release of slowCalls.splice(0)) release();
  };

  const handlers: MethodHandlers = {
    'vm.list': () => ({ vms: [], external: [] }),
    'vm.get': (p) => {
      throw Object.assign(new Error(`no VM ${p.vm_id}`), { code: 'vm_not_found' });
    },
    'vm.pause': () =>
      new Promise((resolve) => {
        slowCalls.push(() => resolve({ vm: null as never }));
      }),
    'vm.start': () => {
      throw new Error('must not be reached with invalid params');
    },
  };

  const connect = (pair: KeyPair = client, events = false) =>
    AgentRpcClient.connect({
      address,
      ca: ca.certPem,
      cert: pair.certPem,
      key: pair.keyPem,
      events,
      timeoutMs: 5000,
    });

  beforeAll(async () => {
    ca = await createCa({ commonName: 'agent test CA' });
    const serverPair = await issueCertificate({
      ca,
      commonName: 'agent',
      altNames: ['127.0.0.1'],
      usage: 'server',
    });
    client = await issueCertificate({ ca, commonName: 'engine-1', usage: 'client' });
    const otherCa = await createCa({ commonName: 'somebody else' });
    otherCaClient = await issueCertificate({ ca: otherCa, commonName: 'intruder', usage: 'client' });
    server = new AgentRpcServer({
      host: '127.0.0.1',
      port: 0,
      tls: { ca: ca.certPem, cert: serverPair.certPem, key: serverPair.keyPem },
      handlers,
      hello: { agent_version: 'test', agent_id: 'agent-1', hostname: 'h', capabilities: ['vm.lifecycle'] },
      log: silentLogger(),
      maxInFlight: 2,
    });
    address = `127.0.0.1:${(await server.listen()).port}`;
  });

  afterAll(async () => {
    releaseSlow();
    await server?.close();
  });

  it('exchanges versions and capabilities on connect', async () => {
    const c = await connect();
    expect(c.hello).toMatchObject({
      protocol_version: PROTOCOL_VERSION,
      agent_id: 'agent-1',
      capabilities: ['vm.lifecycle'],
    });
    await expect(c.call('vm.list', {})).resolves.toEqual({ vms: [], external: [] });
    c.close();
  });

  it('refuses a client without a certificate', async () => {
    const ws = new WebSocket(`wss://${address}${AGENT_RPC_PATH}`, { ca: ca.certPem, minVersion: 'TLSv1.3' });
    const outcome = await new Promise<string>((resolve) => {
      ws.on('open', () => resolve('open'));
      ws.on('error', (err) => resolve(`error: ${err.message}`));
    });
    expect(outcome).toMatch(/^error: /);
    expect(server.connectionCount).toBe(0);
  });

  it('refuses a client whose certificate another CA signed', async () => {
    await expect(connect(otherCaClient)).rejects.toThrow();
    expect(server.connectionCount).toBe(0);
  });

  it('refuses plain HTTP requests without a certificate too (health included)', async () => {
    const https = await import('node:https');
    const result = await new Promise<string>((resolve) => {
      const req = https.get(`https://${address}/health`, { ca: ca.certPem }, (res) =>
        resolve(`status ${res.statusCode}`),
      );
      req.on('error', (err) => resolve(`error: ${err.message}`));
    });
    expect(result).toMatch(/^error: /);
  });

  it('answers nothing but agent.hello before the hello', async () => {
    const ws = new WebSocket(`wss://${address}${AGENT_RPC_PATH}`, {
      ca: ca.certPem,
      cert: client.certPem,
      key: client.keyPem,
    });
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const reply = new Promise<Record<string, unknown>>((resolve) =>
      ws.once('message', (d) => resolve(JSON.parse(String(d)))),
    );
    ws.send(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'vm.list', params: {} }));
    expect(await reply).toMatchObject({ id: 1, error: { code: -32000, data: { code: 'hello_required' } } });
    ws.close();
  });

  it('refuses another protocol major version', async () => {
    const c = await connect();
    await expect(
      c.callUntyped('agent.hello', { protocol_version: '2.0', client: 'future-engine' }),
    ).rejects.toMatchObject({ code: 'protocol_mismatch' });
    c.close();
  });

  it('codes malformed messages: parse errors, non-requests, unknown methods, bad params', async () => {
    const c = await connect();
    const unattributed = new Promise<Record<string, unknown>>((resolve) =>
      c.once('event', (_n, p) => resolve(p)),
    );
    c.sendRaw('{not json');
    expect(await unattributed).toMatchObject({ error: { code: -32700, data: { code: 'parse_error' } } });

    await expect(c.callUntyped('no.such.method', {})).rejects.toMatchObject({
      code: 'method_not_found',
      rpcCode: -32601,
    });
    await expect(c.callUntyped('vm.get', { vm_id: 'not-a-uuid' })).rejects.toMatchObject({
      code: 'invalid_params',
      rpcCode: -32602,
      details: { path: '/vm_id' },
    });
    await expect(
      c.callUntyped('vm.get', { vm_id: '6f1c1a52-9d6a-4c51-a0a2-000000000001', extra: 1 }),
    ).rejects.toMatchObject({
      code: 'invalid_params',
    });
    // A bad VM spec gets its own code and a path relative to the spec.
    await expect(c.callUntyped('vm.start', { spec: { id: 'x' } })).rejects.toMatchObject({
      code: 'invalid_vm_spec',
      details: { path: expect.stringMatching(/^\//) },
    });
    // A handler's coded error travels in error.data.code.
    const err = await c.call('vm.get', { vm_id: '6f1c1a52-9d6a-4c51-a0a2-000000000001' }).catch((e) => e);
    expect(err).toBeInstanceOf(AgentRpcError);
    expect(err).toMatchObject({ code: 'vm_not_found', rpcCode: -32000 });
    c.close();
  });

  it('limits requests in flight per connection', async () => {
    const c = await connect();
    const id = '6f1c1a52-9d6a-4c51-a0a2-000000000001';
    const slow = [c.call('vm.pause', { vm_id: id }), c.call('vm.pause', { vm_id: id })];
    await expect(c.call('vm.list', {})).rejects.toMatchObject({ code: 'too_many_requests' });
    releaseSlow();
    await Promise.allSettled(slow);
    c.close();
  });

  it('sends events to one receiver; a newer receiver replaces the older, which keeps working', async () => {
    const first = await connect(client, true);
    expect(first.hello.events).toBe(true);
    const firstEvents: string[] = [];
    first.on('event', (name) => firstEvents.push(name));
    const localTool = await connect(client, false);
    expect(localTool.hello.events).toBe(false);
    const toolEvents: string[] = [];
    localTool.on('event', (name) => toolEvents.push(name));

    const state = {
      vm_id: '6f1c1a52-9d6a-4c51-a0a2-000000000001',
      state: 'up',
      reason: 'started',
      at: new Date().toISOString(),
    } as const;
    server.emit('vm.state', state);
    await expect.poll(() => firstEvents).toEqual(['vm.state']);

    const second = await connect(client, true);
    const secondEvents: string[] = [];
    second.on('event', (name) => secondEvents.push(name));
    await expect.poll(() => firstEvents).toEqual(['vm.state', 'agent.events_revoked']);
    server.emit('vm.state', state);
    await expect.poll(() => secondEvents).toEqual(['vm.state']);
    // The revoked connection still answers calls; the local tool never saw an event.
    await expect(first.call('vm.list', {})).resolves.toEqual({ vms: [], external: [] });
    expect(firstEvents).toEqual(['vm.state', 'agent.events_revoked']);
    expect(toolEvents).toEqual([]);

    second.close();
    await second.closed();
    await expect.poll(() => server.hasEventReceiver).toBe(false);
    first.close();
    localTool.close();
  });
});
