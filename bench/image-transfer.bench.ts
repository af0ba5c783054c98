/**
 * Image upload throughput through the engine (issue 5 item 3), beside its floor in the same run:
 * `cp` of the same file into the same storage domain directory, followed by `sync` of that file
 * (an upload fsyncs what it received, so the floor does too). The upload is the real path: the
 * client helper → engine over HTTPS → agent over mTLS → staging file → finalize (gate, move).
 * Figures: MiB/s of the copy, of the upload without a client-side checksum (the floor's
 * equivalent), and of the upload including `finalize` (the agent's SHA-256 of the stream and the
 * hostile-image gate). Run with `npx tsx bench/image-transfer.bench.ts` or `npm run bench`;
 * prints the figures and appends them to bench/RESULTS.md. `BENCH_TRANSFER_MIB` sets the size.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runUnderSourceCondition } from './engine-lib';

const MIB = 1024 * 1024;
const SIZE_MIB = Number(process.env.BENCH_TRANSFER_MIB ?? 512);
const RUNS = 3;
const CHILD_FLAG = 'VIREO_BENCH_IMAGE_TRANSFER_CHILD';

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  // Workspace sources load only in the child that has the `vireo-source` export condition.
  const { uploadImage } = await import('@vireo/client');
  const { startAllInOne } = await import('./all-in-one');
  const aio = await startAllInOne('vireo-bench-transfer-', 'bench-data');
  const { client, work, domain, domainDir } = aio;
  try {
    const file = path.join(work, 'image.raw');
    const fd = fs.openSync(file, 'w');
    for (let i = 0; i < SIZE_MIB; i++) fs.writeSync(fd, randomBytes(MIB));
    fs.closeSync(fd);
    const bytes = SIZE_MIB * MIB;
    const rate = (ms: number) => bytes / MIB / (ms / 1000);

    const copyMs: number[] = [];
    const uploadMs: number[] = [];
    const uploadFinalMs: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const target = path.join(domainDir, domain.id, `copy-${run}`);
      let t0 = performance.now();
      execFileSync('cp', [file, target]);
      execFileSync('sync', ['-d', target]);
      copyMs.push(performance.now() - t0);
      fs.rmSync(target);

      let dataDone = 0;
      t0 = performance.now();
      const done = await uploadImage(client, {
        file,
        storageDomainId: domain.id,
        format: 'raw',
        diskName: `bench-${run}`,
        checksum: false,
        onProgress: (n, total) => {
          // The last report of every byte comes when the last PUT returned (the host holds them).
          if (n === total) dataDone = performance.now() - t0;
        },
      });
      uploadFinalMs.push(performance.now() - t0);
      uploadMs.push(dataDone);
      if (done.state !== 'finished') throw new Error(`upload ended ${done.state}`);
      await client.request('DELETE', `/disks/${done.disk_id}`).catch(() => undefined);
    }

    const cp = rate(median(copyMs));
    const up = rate(median(uploadMs));
    const upFinal = rate(median(uploadFinalMs));
    const rows = [
      ['`cp` + `sync` of the file into the domain directory, median of 3', `${cp.toFixed(0)} MiB/s`, 'floor'],
      [
        'upload through the engine (HTTPS → engine → mTLS → agent, fsync), bytes only, median of 3',
        `${up.toFixed(0)} MiB/s`,
        `ratio ${(up / cp).toFixed(2)} (information: no target set)`,
      ],
      [
        'the same upload including finalize (SHA-256 of the stream, gate, move)',
        `${upFinal.toFixed(0)} MiB/s`,
        `ratio ${(upFinal / cp).toFixed(2)} (information)`,
      ],
    ];
    const load = os.loadavg().map((l) => l.toFixed(2));
    const cpu = os.cpus();
    const when = new Date().toISOString().slice(0, 16).replace('T', ' ');
    const section = [
      '',
      `## Image upload through the engine (bench/image-transfer.bench.ts) — ${when} UTC`,
      '',
      `Machine: ${os.type()} ${os.release()}, ${cpu.length} × ${cpu[0]?.model ?? 'CPU'}, ${Math.round(os.totalmem() / 1024 ** 3)} GiB, Node ${process.version}`,
      '',
      `Load average when the section was written: ${load.join(' / ')} (1/5/15 min; other work on the machine skews figures)`,
      '',
      '| measure | value | target / ratio |',
      '| --- | --- | --- |',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
      '',
      `- one raw image of ${SIZE_MIB} MiB of random bytes; the engine, its agent and the domain directory on one machine`,
      '- upload: `uploadImage` from @vireo/client (64 MiB per PUT, no client-side checksum pass), a new disk per run',
      '',
    ].join('\n');
    process.stdout.write(section);
    fs.appendFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), 'RESULTS.md'), section);
  } finally {
    await aio.stop();
  }
}

runUnderSourceCondition(CHILD_FLAG, import.meta.url, main);
