/**
 * Encrypted disks (issue 5 item 7): does a VM with an encrypted disk start within 1.5× the time of
 * one without? The same VM — the test guest booting from its data disk — is started N times with a
 * plain and with an encrypted copy of that disk, through the API, alternating; a start counts until
 * the guest printed its ready marker (firmware, bootloader, kernel and initramfs all read through
 * LUKS on the encrypted disk). Beside it: creating an empty encrypted vs plain 1 GiB disk through the
 * API (operation done). Run with `npx tsx bench/disk-encryption.bench.ts` or `npm run bench`;
 * appends to bench/RESULTS.md. `BENCH_ENC_STARTS` sets N (default 7), `BENCH_ENC_CREATES` the disks
 * of each kind (default 5).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LUKS_ITER_TIME_MS } from '../packages/agent/src/storage/volumes/encryption';
import { appendResults, median, report, runUnderSourceCondition } from './engine-lib';

const STARTS = Number(process.env.BENCH_ENC_STARTS ?? 7);
const CREATES = Number(process.env.BENCH_ENC_CREATES ?? 5);
const TARGET_RATIO = 1.5;
const CHILD_FLAG = 'VIREO_BENCH_DISK_ENCRYPTION_CHILD';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers
type Json = Record<string, any>;

/** Waits until `file` contains `text` (QEMU truncates the serial log at each start). */
async function waitForText(file: string, text: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (fs.existsSync(file) && fs.readFileSync(file, 'utf8').includes(text)) return;
    await sleep(20);
  }
  throw new Error(`${file} did not show ${JSON.stringify(text)} within ${timeoutMs} ms`);
}

async function main(): Promise<void> {
  const { uploadImage } = await import('@vireo/client');
  const { testGuest } = await import('../test/support/test-guest');
  const { startAllInOne } = await import('./all-in-one');
  const aio = await startAllInOne('vireo-bench-enc-', 'bench-enc');
  const { client, domain, waitOp } = aio;
  const post = async (p: string, body?: Json) =>
    (await client.request<Json>('POST', p, body === undefined ? {} : { body })).body;
  try {
    const cluster = ((await client.request<Json>('GET', '/clusters')).body.items as Json[]).find(
      (c) => c.name === 'Default',
    );
    // The test guest as a plain disk (uploaded), and an encrypted copy of it (its own key).
    const uploaded = await uploadImage(client, {
      file: testGuest.qcow2,
      storageDomainId: domain.id,
      format: 'qcow2',
      diskName: 'bench-enc-plain',
      checksum: false,
    });
    const plainId = uploaded.disk_id as string;
    const copy = await post(`/disks/${plainId}/copy`, {
      storage_domain_id: domain.id,
      name: 'bench-enc-luks',
      encrypted: true,
    });
    await waitOp(copy.operation.id, 'disk.copy');
    const encryptedId = copy.disk.id as string;
    if ((await client.request<Json>('GET', `/disks/${encryptedId}`)).body.encrypted !== true)
      throw new Error('the copy is not encrypted');

    const vms: Record<'plain' | 'encrypted', string> = { plain: '', encrypted: '' };
    for (const [kind, diskId] of [
      ['plain', plainId],
      ['encrypted', encryptedId],
    ] as const) {
      const vm = await post('/vms', {
        name: `bench-enc-${kind}`,
        cluster_id: cluster?.id,
        memory_mib: 128,
        // A VM must name something bootable when created; the disk is attached right after. If the
        // disk did not boot, PXE would fail and no ready marker would come.
        boot_order: ['disk', 'network'],
        nics: [{ type: 'user' }],
        console: 'serial',
      });
      vms[kind] = vm.id;
      const att = await client.request<Json>('POST', `/vms/${vm.id}/disk-attachments`, {
        body: { disk_id: diskId, bootable: true },
      });
      if (att.status !== 201) throw new Error(`attaching ${kind}: ${JSON.stringify(att.body)}`);
    }
    const serialLog = (vmId: string) =>
      path.join(aio.engine.dataDir, 'local-agent', 'vms', vmId, 'serial.log');

    const times: Record<'plain' | 'encrypted', number[]> = { plain: [], encrypted: [] };
    const upTimes: Record<'plain' | 'encrypted', number[]> = { plain: [], encrypted: [] };
    // One unmeasured start each first (page cache, the agent's first QEMU), then alternate.
    for (let round = -1; round < STARTS; round++) {
      for (const kind of round % 2 === 0
        ? (['plain', 'encrypted'] as const)
        : (['encrypted', 'plain'] as const)) {
        const vmId = vms[kind];
        const t0 = performance.now();
        const started = await post(`/vms/${vmId}/start`);
        await waitOp(started.operation.id, `start ${kind}`, 180_000);
        const up = performance.now() - t0;
        await waitForText(serialLog(vmId), testGuest.marker, 180_000);
        const booted = performance.now() - t0;
        if (round >= 0) {
          times[kind].push(booted);
          upTimes[kind].push(up);
        }
        const stopped = await post(`/vms/${vmId}/stop`);
        await waitOp(stopped.operation.id, `stop ${kind}`, 120_000);
      }
    }

    // Disk creation: empty 1 GiB qcow2 disks, one after another, operation done.
    const create: Record<'plain' | 'encrypted', number[]> = { plain: [], encrypted: [] };
    for (let i = 0; i < CREATES; i++) {
      for (const kind of ['plain', 'encrypted'] as const) {
        const t0 = performance.now();
        const made = await post('/disks', {
          name: `bench-enc-new-${kind}-${i}`,
          storage_domain_id: domain.id,
          size_gib: 1,
          encrypted: kind === 'encrypted',
        });
        await waitOp(made.operation.id, `create ${kind}`);
        create[kind].push(performance.now() - t0);
      }
    }

    const m = (xs: number[]) => median(xs);
    const ratio = m(times.encrypted) / m(times.plain);
    const upRatio = m(upTimes.encrypted) / m(upTimes.plain);
    const rows: Array<[string, string, string]> = [
      [
        `start → guest booted from its disk, plain (${STARTS} starts)`,
        `median ${m(times.plain).toFixed(0)} ms`,
        'baseline',
      ],
      [
        `start → guest booted from its disk, encrypted (${STARTS} starts)`,
        `median ${m(times.encrypted).toFixed(0)} ms`,
        `${ratio <= TARGET_RATIO ? 'met' : 'MISSED'} (≤ ${TARGET_RATIO}× plain); ratio ${ratio.toFixed(2)}`,
      ],
      [
        'start operation succeeded (QEMU running), plain / encrypted',
        `median ${m(upTimes.plain).toFixed(0)} / ${m(upTimes.encrypted).toFixed(0)} ms`,
        `ratio ${upRatio.toFixed(2)}`,
      ],
      [
        `create an empty 1 GiB qcow2 disk, plain (${CREATES})`,
        `median ${m(create.plain).toFixed(0)} ms`,
        'baseline',
      ],
      [
        `create an empty 1 GiB qcow2 disk, encrypted (${CREATES})`,
        `median ${m(create.encrypted).toFixed(0)} ms`,
        `ratio ${(m(create.encrypted) / m(create.plain)).toFixed(1)} (once per disk)`,
      ],
    ];
    for (const [a, b, c] of rows) report(a, b, c);
    appendResults('Disk encryption (bench/disk-encryption.bench.ts)', rows, [
      `${os.cpus().length} cores; engine, local agent (TCG) and a local data domain on one machine; VMs 1 vCPU, 128 MiB, serial console, the test guest (${path.basename(testGuest.qcow2)}) booting from a virtio disk`,
      `the encrypted disk is \`POST /disks/{id}/copy {encrypted: true}\` of the uploaded plain one: the same bytes under LUKS (AES-XTS, PBKDF2 iter-time ${LUKS_ITER_TIME_MS} ms)`,
      'a start: POST /vms/{id}/start → operation succeeded → the guest prints its ready marker on the serial console; plain and encrypted alternate, after one unmeasured start each',
      `all times: ${JSON.stringify({ boot: times, up: upTimes, create })}`,
    ]);
  } finally {
    await aio.stop();
  }
}

runUnderSourceCondition(CHILD_FLAG, import.meta.url, main);
