import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pino from 'pino';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { VmRuntime } from '../runtime';
import { ImagePolicy } from '../images';
import { coldMerge } from './cold-merge';
import { type MergeMarker, readMarker, refusePendingMerges, writeMarker } from './marker';

const run = promisify(execFile);

/** The parts of the runtime a cold merge uses: the image policy, the VM list, the event sink. */
function stubRuntime(root: string, events: { name: string; params: unknown }[]): VmRuntime {
  return {
    images: new ImagePolicy([root]),
    vms: new Map(),
    log: pino({ level: 'silent' }),
    emit: (name: string, params: unknown) => events.push({ name, params }),
  } as unknown as VmRuntime;
}

async function qcow2(path: string, backing?: string): Promise<void> {
  const args = ['create', '-q', '-f', 'qcow2'];
  if (backing) args.push('-b', backing, '-F', 'qcow2');
  args.push(path, String(16 * 1024 * 1024));
  await run('qemu-img', args, { cwd: join(path, '..') });
}

async function backingOf(path: string): Promise<string | undefined> {
  const { stdout } = await run('qemu-img', ['info', '--output=json', '-f', 'qcow2', path]);
  return JSON.parse(stdout)['backing-filename'];
}

function marker(fields: Partial<MergeMarker>): MergeMarker {
  return {
    version: 1,
    kind: 'cold',
    vm_id: null,
    disk_id: null,
    top: 'v1',
    base: 'v0',
    child: null,
    phase: 'started',
    job_id: 'merge-test',
    started_at: new Date().toISOString(),
    ...fields,
  };
}

/**
 * The merge marker's rules without a VM: durable writes, the start guard, and the cold merge's
 * refusals (ambiguous live pivot, branching chains) and its finishing of a committed merge.
 */
describe('merge marker and cold merge rules (qemu-img, no VM)', () => {
  let root: string;
  let dir: string;
  let events: { name: string; params: unknown }[];
  let rt: VmRuntime;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'vmm-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });
  beforeEach(async () => {
    dir = join(root, `disk-${Math.random().toString(36).slice(2, 8)}`);
    await mkdir(dir);
    events = [];
    rt = stubRuntime(root, events);
  });

  it('writes the marker durably (0600, no temporary file left) and reads it back', async () => {
    await writeMarker(dir, marker({ phase: 'committed' }));
    expect(await readMarker(dir)).toMatchObject({ top: 'v1', base: 'v0', phase: 'committed' });
    expect((await stat(join(dir, 'merge.json'))).mode & 0o777).toBe(0o600);
    expect(await readdir(dir)).toEqual(['merge.json']);
  });

  it('refuses to start a disk on a marked chain, not one beside it', async () => {
    await writeMarker(dir, marker({ child: 'v2' }));
    const disk = (name: string) => ({
      disks: [
        {
          id: 'd',
          path: join(dir, name),
          format: 'qcow2' as const,
          interface: 'virtio' as const,
          bootable: false,
          readonly: false,
        },
      ],
    });
    for (const name of ['v0', 'v1', 'v2']) {
      await expect(refusePendingMerges(disk(name))).rejects.toMatchObject({ code: 'merge_pending' });
    }
    await expect(refusePendingMerges(disk('other'))).resolves.toBeUndefined();
  });

  it('refuses a cold finish of a live merge stopped while QEMU was switching to the base', async () => {
    await qcow2(join(dir, 'v0'));
    await qcow2(join(dir, 'v1'), 'v0');
    await writeMarker(dir, marker({ kind: 'live', phase: 'completing' }));
    await expect(
      coldMerge(rt, { top_path: join(dir, 'v1'), base_path: join(dir, 'v0') }),
    ).rejects.toMatchObject({
      code: 'merge_failed',
    });
    // Nothing touched: both volumes and the marker stay for a person to judge.
    expect(await readdir(dir)).toEqual(['merge.json', 'v0', 'v1']);
  });

  it('refuses to merge where the chain branches (a preview overlay beside the top)', async () => {
    await qcow2(join(dir, 'v0'));
    await qcow2(join(dir, 'v1'), 'v0');
    await qcow2(join(dir, 'p1'), 'v0');
    await expect(
      coldMerge(rt, { top_path: join(dir, 'v1'), base_path: join(dir, 'v0') }),
    ).rejects.toMatchObject({
      code: 'merge_failed',
    });
    expect(existsSync(join(dir, 'merge.json'))).toBe(false);
  });

  it('merges an inner volume cold: data into the base, the child rebased, the top gone', async () => {
    await qcow2(join(dir, 'v0'));
    await qcow2(join(dir, 'v1'), 'v0');
    await qcow2(join(dir, 'v2'), 'v1');
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x11 0 1M', join(dir, 'v1')]);
    await run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x22 1M 1M', join(dir, 'v2')]);
    const result = await coldMerge(rt, {
      top_path: join(dir, 'v1'),
      base_path: join(dir, 'v0'),
      job_id: 'merge-inner',
    });
    expect(result).toEqual({
      base_path: join(dir, 'v0'),
      removed_path: join(dir, 'v1'),
      rebased_path: join(dir, 'v2'),
      already_done: false,
    });
    expect(await readdir(dir)).toEqual(['v0', 'v2']);
    expect(await backingOf(join(dir, 'v2'))).toBe('v0');
    // v2's chain reads both patterns; v0 alone holds v1's.
    const whole = await run('qemu-io', [
      '-f',
      'qcow2',
      '-c',
      'read -P 0x11 0 1M',
      '-c',
      'read -P 0x22 1M 1M',
      join(dir, 'v2'),
    ]);
    expect(whole.stdout).toMatch(/read 1048576\/1048576 bytes/);
    expect(whole.stdout).not.toMatch(/Pattern verification failed/);
    const alone = await run('qemu-io', ['-f', 'qcow2', '-c', 'read -P 0x11 0 1M', join(dir, 'v0')]);
    expect(alone.stdout).not.toMatch(/Pattern verification failed/);
    expect(events.map((e) => (e.params as { state: string }).state)).toEqual(['running', 'succeeded']);
  });

  it('finishes a merge that was committed before a crash: only the rebase and the clean-up are left', async () => {
    await qcow2(join(dir, 'v0'));
    // As after a crash between the commit and the rebase: v1 already deleted, v2 still names it.
    await run('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-u',
      '-b',
      'v1',
      '-F',
      'qcow2',
      join(dir, 'v2'),
      '16M',
    ]);
    await writeMarker(dir, marker({ child: 'v2', phase: 'committed' }));
    const result = await coldMerge(rt, { top_path: join(dir, 'v1'), base_path: join(dir, 'v0') });
    expect(result).toMatchObject({ already_done: true, rebased_path: join(dir, 'v2') });
    expect(await backingOf(join(dir, 'v2'))).toBe('v0');
    expect(await readMarker(dir)).toBeUndefined();
    expect(await readdir(dir)).toEqual(['v0', 'v2']);
  });
});
