import { sql } from 'kysely';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StatsHistory } from '../../src/stats/history';
import { createTestApp, type TestApp } from '../support/app';

interface History {
  samples: Record<string, number | string | null>[];
  retention_s: number;
}

function hostStats(percent: number) {
  return {
    at: new Date().toISOString(),
    cpu: {
      percent,
      user_percent: percent,
      system_percent: 0,
      iowait_percent: 0,
      steal_percent: 0,
      interval_s: 5,
      logical_cpus: 2,
    },
    memory: {
      total_bytes: 8e9,
      available_bytes: 6e9,
      used_bytes: 2e9,
      free_bytes: 5e9,
      swap_total_bytes: 0,
      swap_free_bytes: 0,
    },
    load: { one: 0, five: 0, fifteen: 0 },
    uptime_s: 10,
  };
}

describe('stats history over HTTP', () => {
  let t: TestApp;
  let now = Date.parse('2026-05-01T10:00:00.000Z');
  const stats = new StatsHistory(
    pino({ level: 'silent' }),
    { retentionMs: 3_600_000, maxSamples: 720 },
    () => now,
  );
  let hostId: string;
  let vmId: string;

  beforeAll(async () => {
    t = await createTestApp({ app: { stats } });
    const cluster = await t.db.db
      .selectFrom('clusters')
      .select('id')
      .where('name', '=', 'Default')
      .executeTakeFirstOrThrow();
    const { rows } = await sql<{ id: string }>`
      INSERT INTO hosts (name, address, cluster_id, state) VALUES ('h1', 'h1.test', ${cluster.id}, 'up') RETURNING id`.execute(
      t.db.db,
    );
    hostId = rows[0]?.id ?? '';
    const res = await t.app.inject({
      method: 'POST',
      url: '/api/v1/vms',
      headers: t.auth(),
      payload: {
        name: 'graphs',
        cluster_id: cluster.id,
        cpus: 2,
        memory_mib: 256,
        boot_order: ['cdrom'],
        cdrom: { image: 'x.iso' },
      },
    });
    expect(res.statusCode, res.body).toBe(201);
    vmId = (res.json() as { id: string }).id;
  });
  afterAll(async () => {
    await t?.close();
  });

  const get = (url: string, headers: Record<string, string> = t.auth()) =>
    t.app.inject({ method: 'GET', url: `/api/v1${url}`, headers });

  it('serves a host history oldest first, and only newer points with ?since', async () => {
    expect((await get(`/hosts/${hostId}/stats/history`)).json()).toEqual({ samples: [], retention_s: 3600 });
    stats.onAgentEvent(hostId, 'host.stats', hostStats(12.5));
    now += 15_000;
    stats.onAgentEvent(hostId, 'host.stats', hostStats(40));
    const res = await get(`/hosts/${hostId}/stats/history`);
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as History;
    expect(body.samples).toEqual([
      {
        at: '2026-05-01T10:00:00.000Z',
        cpu_percent: 12.5,
        memory_used_bytes: 2e9,
        memory_total_bytes: 8e9,
        net_rx_bps: null,
        net_tx_bps: null,
        disk_read_bps: null,
        disk_write_bps: null,
      },
      expect.objectContaining({ at: '2026-05-01T10:00:15.000Z', cpu_percent: 40 }),
    ]);
    const since = (
      await get(`/hosts/${hostId}/stats/history?since=2026-05-01T10:00:00.000Z`)
    ).json() as History;
    expect(since.samples.map((s) => s.cpu_percent)).toEqual([40]);
  });

  it('serves VM rates with CPU per vCPU and the configured memory as total', async () => {
    const at0 = Date.parse('2026-05-01T10:00:00.000Z');
    const sample = (agentAt: number, cpuMs: number, rd: number, rx: number) => ({
      at: new Date(agentAt).toISOString(),
      vms: [
        {
          vm_id: vmId,
          cpu_time_ms: cpuMs,
          rss_bytes: 100 * 1024 * 1024,
          block: [{ device: `disk-x`, rd_bytes: rd, wr_bytes: 0, rd_operations: 0, wr_operations: 0 }],
          nics: [
            {
              ifname: 'vt0',
              rx_bytes: rx,
              tx_bytes: 0,
              rx_packets: 0,
              tx_packets: 0,
              rx_dropped: 0,
              tx_dropped: 0,
            },
          ],
        },
      ],
    });
    stats.onAgentEvent(hostId, 'vm.stats', sample(at0, 0, 0, 0));
    // 10 s later: 10 s of CPU time over 2 vCPUs = 50 %; 1 MB read = 100 kB/s; 20 kB in = 2 kB/s.
    stats.onAgentEvent(hostId, 'vm.stats', sample(at0 + 10_000, 10_000, 1_000_000, 20_000));
    const body = (await get(`/vms/${vmId}/stats/history`)).json() as History;
    expect(body.samples).toHaveLength(2);
    expect(body.samples[0]).toMatchObject({ cpu_percent: null, memory_total_bytes: 256 * 1024 * 1024 });
    expect(body.samples[1]).toMatchObject({
      cpu_percent: 50,
      memory_used_bytes: 100 * 1024 * 1024,
      memory_total_bytes: 256 * 1024 * 1024,
      disk_read_bps: 100_000,
      disk_write_bps: 0,
      net_rx_bps: 2000,
    });
  });

  it('answers 404 for unknown objects, 400 for a bad ?since, 401 without credentials', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    const h = await get(`/hosts/${missing}/stats/history`);
    expect(h.statusCode).toBe(404);
    const v = await get(`/vms/${missing}/stats/history`);
    expect(v.statusCode).toBe(404);
    const bad = await get(`/vms/${vmId}/stats/history?since=yesterday`);
    expect(bad.statusCode).toBe(400);
    expect((bad.json() as { error: { code: string } }).error.code).toBe('invalid_input');
    expect((await get(`/vms/${vmId}/stats/history`, {})).statusCode).toBe(401);
  });

  it('streams the history first, then each new point, and ends when the app closes', async () => {
    const address = await t.app.listen({ host: '127.0.0.1', port: 0 });
    const abort = new AbortController();
    const res = await fetch(`${address}/api/v1/hosts/${hostId}/stats/stream`, {
      headers: t.auth(),
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (needle: string) => {
      while (!text.includes(needle)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`stream ended before ${needle}: ${text}`);
        text += decoder.decode(value, { stream: true });
      }
    };
    try {
      await readUntil('event: history');
      await readUntil('\n\n');
      const history = JSON.parse(/event: history\ndata: (.*)\n/.exec(text)?.[1] ?? '{}') as History;
      expect(history.samples.map((s) => s.cpu_percent)).toEqual([12.5, 40]);
      now += 15_000;
      stats.onAgentEvent(hostId, 'host.stats', hostStats(77.25));
      await readUntil('event: sample');
      await readUntil('77.25');
      await readUntil('\n\n');
      const sample = JSON.parse(/event: sample\ndata: (.*)\n/.exec(text)?.[1] ?? '{}') as Record<
        string,
        unknown
      >;
      expect(sample).toMatchObject({ cpu_percent: 77.25, at: '2026-05-01T10:00:30.000Z' });
    } finally {
      abort.abort();
    }
  });
});
