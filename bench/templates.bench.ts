/**
 * Thin clones from a template through the API (issue 5 item 5), beside a floor in the same run:
 * 100 `qemu-img create -f qcow2 -b <base>` overlays, one after another, in the same domain
 * directory. The clone path is the real one: POST /templates/{id}/vms over HTTPS → the VM, its
 * disk rows and a `vm.clone` operation in one transaction → the operation runner → the agent over
 * mTLS → `volume.create` with a backing volume (qemu-img under prlimit). A clone counts once its
 * operation succeeded, i.e. its overlay exists on storage. Figures: VMs/s until every overlay
 * exists (target 20), the API answer alone (VMs/s accepted), and the floor's overlays/s.
 * Then, for information, thin clones of an encrypted template (`BENCH_ENC_CLONES`, default 10) beside
 * the same number of LUKS overlays made by qemu-img one per core.
 * Run with `npx tsx bench/templates.bench.ts` or `npm run bench`; appends to bench/RESULTS.md.
 * `BENCH_CLONES` sets the count (default 100), `BENCH_CLONE_CONCURRENCY` the requests in flight (8).
 */
import { execFile, execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { runUnderSourceCondition } from './engine-lib';

const CLONES = Number(process.env.BENCH_CLONES ?? 100);
const CONCURRENCY = Number(process.env.BENCH_CLONE_CONCURRENCY ?? 8);
const ENC_CLONES = Number(process.env.BENCH_ENC_CLONES ?? 10);
const TARGET_VMS_PER_S = 20;
const execFileAsync = promisify(execFile);
const CHILD_FLAG = 'VIREO_BENCH_TEMPLATES_CHILD';

// biome-ignore lint/suspicious/noExplicitAny: JSON answers
type Json = Record<string, any>;

async function main(): Promise<void> {
  // Workspace sources load only in the child that has the `vireo-source` export condition.
  const { startAllInOne } = await import('./all-in-one');
  const aio = await startAllInOne('vireo-bench-templates-', 'bench-tpl');
  const { client, domain, domainDir, waitOp } = aio;
  try {
    const cluster = ((await client.request<Json>('GET', '/clusters')).body.items as Json[]).find(
      (c) => c.name === 'Default',
    );
    const vm = (
      await client.request<Json>('POST', '/vms', {
        body: {
          name: 'bench-tpl-src',
          cluster_id: cluster?.id,
          memory_mib: 128,
          // Plain: this pass measures the clone path itself (the target); an encrypted
          // template's clones are measured below, each needing a LUKS header of its own.
          disks: [{ size_gib: 1, storage_domain_id: domain.id, encrypted: false }],
        },
      })
    ).body;
    const made = (
      await client.request<Json>('POST', '/templates', { body: { vm_id: vm.id, name: 'bench-tpl' } })
    ).body;
    await waitOp(made.operation.id, 'template.create');
    const template = made.template as Json;
    const base = template.disks[0] as Json;
    const baseFile = path.join(domainDir, domain.id, 'images', base.disk_id, base.volume_id);
    if (!fs.existsSync(baseFile)) throw new Error(`the template volume ${baseFile} is missing`);

    // The clones through the API: CONCURRENCY requests in flight; each waits for its operation.
    let next = 0;
    let acceptedAt = 0;
    const opIds: string[] = [];
    const started = performance.now();
    const worker = async () => {
      while (next < CLONES) {
        const i = next++;
        const res = await client.request<Json>('POST', `/templates/${template.id}/vms`, {
          body: { name: `bench-clone-${i}`, clone: 'thin' },
        });
        opIds.push(res.body.operation.id);
        if (opIds.length === CLONES) acceptedAt = performance.now();
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    for (const id of opIds) await waitOp(id, 'vm.clone');
    const cloneS = (performance.now() - started) / 1000;
    const acceptS = (acceptedAt - started) / 1000;
    const overlays = fs
      .readdirSync(path.join(domainDir, domain.id, 'images'))
      .filter((d) => d !== base.disk_id && d !== vm.disks[0].id);
    if (overlays.length !== CLONES)
      throw new Error(`expected ${CLONES} clone disks, found ${overlays.length}`);

    // The floor: the same overlays made directly with qemu-img, one after another.
    const floorDir = path.join(domainDir, domain.id, 'images', 'floor');
    fs.mkdirSync(floorDir);
    const floorStart = performance.now();
    for (let i = 0; i < CLONES; i++) {
      execFileSync('qemu-img', [
        'create',
        '-q',
        '-f',
        'qcow2',
        '-F',
        base.format,
        '-b',
        `../${base.disk_id}/${base.volume_id}`,
        path.join(floorDir, `overlay-${i}`),
      ]);
    }
    const floorS = (performance.now() - floorStart) / 1000;

    const enc = await encryptedPass(aio, cluster?.id as string);

    const vmsPerS = CLONES / cloneS;
    const floorPerS = CLONES / floorS;
    const rows = [
      [
        'thin clones via the API, until every overlay exists',
        `${vmsPerS.toFixed(1)} VMs/s`,
        `${cloneS.toFixed(2)} s`,
        `target ${TARGET_VMS_PER_S} VMs/s (ratio ${(vmsPerS / TARGET_VMS_PER_S).toFixed(2)})`,
      ],
      [
        'API answers only (VM + disks + operation queued)',
        `${(CLONES / acceptS).toFixed(1)} VMs/s`,
        `${acceptS.toFixed(2)} s`,
        '',
      ],
      [
        'floor: `qemu-img create -b` overlays, sequential',
        `${floorPerS.toFixed(1)} overlays/s`,
        `${floorS.toFixed(2)} s`,
        `clones at ${(vmsPerS / floorPerS).toFixed(2)} of the floor`,
      ],
      [
        `encrypted template: ${ENC_CLONES} thin clones via the API (each a new LUKS overlay under its own key)`,
        `${(ENC_CLONES / enc.cloneS).toFixed(2)} VMs/s`,
        `${enc.cloneS.toFixed(2)} s`,
        'information',
      ],
      [
        `floor: ${ENC_CLONES} LUKS overlays by qemu-img, ${enc.parallel} at a time (one per core, as the agent runs them)`,
        `${(ENC_CLONES / enc.floorS).toFixed(2)} overlays/s`,
        `${enc.floorS.toFixed(2)} s`,
        `clones at ${(enc.floorS / enc.cloneS).toFixed(2)} of the floor`,
      ],
    ];
    const section = [
      '',
      `## Templates: ${CLONES} thin clones (${new Date().toISOString()})`,
      '',
      '| what | rate | time | against |',
      '| --- | --- | --- | --- |',
      ...rows.map((r) => `| ${r.join(' | ')} |`),
      '',
      `- ${os.cpus().length} cores; engine, local agent and a local data domain on one machine; ${CONCURRENCY} requests in flight`,
      '- a clone is done when its `vm.clone` operation succeeded (its qcow2 overlay exists, backed by the template volume)',
      '- the first template is made from a VM whose disk is explicitly plain; disks are encrypted by default, and a template made from an encrypted disk gives encrypted clones: QEMU 7.2 spends ≈ 2 s of CPU calibrating PBKDF2 for every new LUKS header, whatever the iter-time',
      '',
    ].join('\n');
    process.stdout.write(section);
    fs.appendFileSync(path.join(path.dirname(new URL(import.meta.url).pathname), 'RESULTS.md'), section);
  } finally {
    await aio.stop();
  }
}

/**
 * Thin clones of an encrypted template, beside their floor: the same number of encrypted overlays
 * made by qemu-img directly, as many at a time as the agent allows (one per core).
 */
async function encryptedPass(
  aio: Awaited<ReturnType<typeof import('./all-in-one').startAllInOne>>,
  clusterId: string,
): Promise<{ cloneS: number; floorS: number; parallel: number }> {
  const { client, domain, domainDir, waitOp } = aio;
  const vm = (
    await client.request<Json>('POST', '/vms', {
      body: {
        name: 'bench-tpl-enc-src',
        cluster_id: clusterId,
        memory_mib: 128,
        disks: [{ size_gib: 1, storage_domain_id: domain.id, encrypted: true }],
      },
    })
  ).body;
  const made = (
    await client.request<Json>('POST', '/templates', { body: { vm_id: vm.id, name: 'bench-tpl-enc' } })
  ).body;
  await waitOp(made.operation.id, 'template.create');
  const template = made.template as Json;
  const base = template.disks[0] as Json;
  const started = performance.now();
  const opIds: string[] = [];
  for (let i = 0; i < ENC_CLONES; i++) {
    const res = await client.request<Json>('POST', `/templates/${template.id}/vms`, {
      body: { name: `bench-enc-clone-${i}`, clone: 'thin' },
    });
    opIds.push(res.body.operation.id);
  }
  for (const id of opIds) await waitOp(id, 'vm.clone');
  const cloneS = (performance.now() - started) / 1000;

  const floorDir = path.join(domainDir, domain.id, 'images', 'floor-enc');
  fs.mkdirSync(floorDir);
  const keyFile = path.join(floorDir, 'key');
  fs.writeFileSync(keyFile, crypto.randomBytes(32).toString('base64'), { mode: 0o600 });
  const parallel = Math.max(1, os.availableParallelism());
  const overlay = async (i: number) => {
    // The calibration sometimes gives up at once ("Unable to get accurate CPU usage"): try again.
    for (let attempt = 1; ; attempt++) {
      try {
        await execFileAsync('qemu-img', [
          'create',
          '-q',
          '-f',
          'qcow2',
          '--object',
          `secret,id=k,format=raw,file=${keyFile}`,
          '-o',
          'encrypt.format=luks,encrypt.key-secret=k,encrypt.iter-time=1',
          '-F',
          base.format,
          '-b',
          `../${base.disk_id}/${base.volume_id}`,
          path.join(floorDir, `overlay-${i}`),
        ]);
        return;
      } catch (err) {
        fs.rmSync(path.join(floorDir, `overlay-${i}`), { force: true });
        if (attempt >= 20 || !String((err as { stderr?: unknown }).stderr).includes('accurate CPU'))
          throw err;
      }
    }
  };
  const floorStart = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < ENC_CLONES) await overlay(next++);
    }),
  );
  const floorS = (performance.now() - floorStart) / 1000;
  return { cloneS, floorS, parallel };
}

runUnderSourceCondition(CHILD_FLAG, import.meta.url, main);
