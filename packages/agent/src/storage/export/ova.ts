import { constants } from 'node:fs';
import { lstat, mkdir, open, readdir, rm, rmdir, statfs, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type {
  AgentEventName,
  AgentEventParams,
  ExportCheckVolumeParams,
  OvaExtractParams,
  OvaExtractResult,
  OvaPackParams,
  OvaPackResult,
  OvaReadParams,
  OvaReadResult,
  VolumeInfo,
} from '@vireo/agent-protocol';
import { DOMAIN_FILE_MAX_BYTES } from '@vireo/agent-protocol';
import type { Logger } from 'pino';
import { AgentError, toAgentError } from '../../util/errors';
import { Reverter } from '../../util/reverter';
import { HeaderError, readQcow2Header } from '../image-header';
import { inspectUntrustedImage, inspectUntrustedVmdk } from '../inspect';
import { escapeOptValue } from '../qemu-img';
import { startConvert } from '../volumes/copy';
import { writeSecretFiles } from '../volumes/encryption';
import { DomainLayout, type DomainRootResolver, idSegment } from '../volumes/layout';
import { sourceChainOpts } from '../volumes/service';
import type { UserspaceNfsDomain } from '../domains/service';
import { NfsTree } from '../nfs/tree';
import { runQemuImg } from '../qemu-img';
import { TAR_END, type TarMember, tarHeader, tarPadding } from './tar';
import { type CheckedVolume, checkExportedVolume } from './check-volume';
import { FOREIGN_MEMBER, invalid, OVA_NAME, readIndex } from './ova-index';
import { type DomainTree, LocalTree, type TreeReader, withLocalHead } from './tree';

type Emit = <E extends AgentEventName>(event: E, params: AgentEventParams<E>) => void;

const PROGRESS_INTERVAL_MS = 500;
const CHUNK = 1024 * 1024;

/** An OVA opened for reading: its reader and the checked member index (OVF first). */
interface OpenOva {
  fh: TreeReader;
  size: number;
  mtime: Date;
  members: TarMember[];
}

export interface OvaServiceOptions {
  /** The active userspace-mode nfs domain `id` (ADR 027), or undefined for a directory domain. */
  nfsDomain?: (id: string) => UserspaceNfsDomain | undefined;
  /**
   * A directory of this host for images on their way to or from an nfs domain (packing flattens
   * into it, extraction checks members in it before converting them onto the export).
   */
  stagingDir?: string;
}

/**
 * OVA archives on an export domain (`<domain root>/ova/<name>.ova`) and the image gate for exported
 * volumes. Packing flattens each volume to a temporary qcow2 (qemu-img convert, progress), then
 * streams OVF + images into a temporary tar that is renamed into place. Reading and extracting treat
 * the archive as hostile: strict ustar headers, only regular-file members with the names we write,
 * data inside the file, free space checked first, every image through the hostile-image gate, and
 * every volume written is removed again if anything fails.
 */
export class OvaService {
  constructor(
    private readonly resolveRoot: DomainRootResolver,
    private readonly emit: Emit,
    private readonly log: Logger,
    /** Where encrypted sources' keys are written (0600, removed after each member) for qemu-img. */
    private readonly secretsDir: string = join(tmpdir(), 'vireo-agent-secrets'),
    private readonly options: OvaServiceOptions = {},
  ) {}

  private get stagingDir(): string {
    return this.options.stagingDir ?? join(tmpdir(), 'vireo-agent-staging');
  }

  /**
   * Removes staging directories an earlier agent left behind (it stopped mid-pack or mid-extract);
   * called once at start. Only entries last changed before `before`: a job started since keeps
   * its own.
   */
  async cleanStaging(before: Date): Promise<void> {
    const names = await readdir(this.stagingDir).catch(() => [] as string[]);
    for (const name of names) {
      if (!/^(pack|extract)-[0-9a-f-]{36}$/.test(name)) continue;
      const st = await lstat(join(this.stagingDir, name)).catch(() => undefined);
      if (st?.isDirectory() && st.mtime < before) {
        await rm(join(this.stagingDir, name), { recursive: true, force: true });
        this.log.info({ dir: name }, 'removed a staging directory left by an earlier run');
      }
    }
  }

  /** A domain's files: its directory here, or its export through the NFS client. */
  private async tree(domainId: string): Promise<DomainTree> {
    const nfs = this.options.nfsDomain?.(idSegment(domainId, 'domain_id'));
    if (nfs) return new NfsTree(nfs);
    return new LocalTree((await DomainLayout.open(this.resolveRoot, domainId)).root);
  }

  /** The domain's `ova` directory exists (created when `create`): false when it is missing. */
  private async ovaDir(tree: DomainTree, create: boolean): Promise<boolean> {
    let st = await tree.stat('ova');
    if (!st && create) {
      await tree.mkdir('ova');
      st = await tree.stat('ova');
    }
    if (!st) return false;
    if (st.type !== 'directory')
      throw new AgentError('path_not_allowed', "the domain's ova entry is not a directory");
    return true;
  }

  /** A new staging directory of this host (0700) with at least `bytes` free. */
  private async staging(name: string, bytes: number): Promise<string> {
    await mkdir(this.stagingDir, { recursive: true, mode: 0o700 });
    const s = await statfs(this.stagingDir);
    const free = s.bavail * s.bsize;
    if (bytes > free) {
      throw new AgentError(
        'image_too_large',
        `staging the images needs ${bytes} bytes; ${this.stagingDir} has ${free} free`,
        { details: { needed_bytes: bytes, free_bytes: free, staging_dir: this.stagingDir } },
      );
    }
    const dir = join(this.stagingDir, name);
    await mkdir(dir, { mode: 0o700 });
    return dir;
  }

  private progress(
    jobId: string,
    kind: string,
  ): (state: 'running' | 'succeeded' | 'failed', p: number, err?: AgentError) => void {
    let lastAt = 0;
    return (state, progress, err) => {
      const now = Date.now();
      if (state === 'running' && now - lastAt < PROGRESS_INTERVAL_MS) return;
      lastAt = now;
      this.emit('job.progress', {
        job_id: jobId,
        kind,
        state,
        progress: Math.min(1, Math.max(0, progress)),
        ...(err ? { error: { code: err.code, message: err.message } } : {}),
      });
    };
  }

  /**
   * `export.ova_list`: names (without `.ova`) of the regular `.ova` files, sorted, and the `.ova`
   * files whose names are not accepted (reported, never opened).
   */
  async list(domainId: string): Promise<{ names: string[]; refused: string[] }> {
    const tree = await this.tree(domainId);
    if (!(await this.ovaDir(tree, false))) return { names: [], refused: [] };
    const items = await tree.list('ova');
    const ova = items.filter((i) => i.type === 'file' && i.name.endsWith('.ova'));
    return {
      names: ova
        .filter((i) => OVA_NAME.test(i.name.slice(0, -4)))
        .map((i) => i.name.slice(0, -4))
        .sort(),
      refused: ova
        .filter((i) => !OVA_NAME.test(i.name.slice(0, -4)))
        .map((i) => i.name.slice(0, 255))
        .sort()
        .slice(0, 100),
    };
  }

  /** `export.ova_pack`. */
  async pack(p: OvaPackParams): Promise<OvaPackResult> {
    const jobId = idSegment(p.job_id, 'job_id');
    if (!OVA_NAME.test(p.name)) throw new AgentError('invalid_params', 'invalid OVA name');
    if (Buffer.byteLength(p.ovf) > DOMAIN_FILE_MAX_BYTES)
      throw new AgentError('file_too_large', 'the OVF is too large');
    const tree = await this.tree(p.domain_id);
    await this.ovaDir(tree, true);
    const final = `ova/${p.name}.ova`;
    const existing = await tree.stat(final);
    if (existing && (!p.overwrite || existing.type !== 'file')) {
      throw new AgentError('image_exists', `OVA ${p.name} already exists`, { details: { name: p.name } });
    }
    const report = this.progress(jobId, 'export.ova_pack');
    const tmp = `ova/.${p.name}.ova.tmp-${jobId}`;
    const steps = p.disks.length * 2 + 1;
    let done = 0;
    // Flattened images: beside the archive on a directory domain, in this host's staging
    // directory for an nfs one (qemu-img writes there; the tar goes out through the NFS client).
    let work: string | undefined;
    let wroteTmp = false;
    try {
      const sources = [];
      for (const d of p.disks) {
        const from = await this.tree(d.from.domain_id);
        const rel = `images/${idSegment(d.from.disk_id, 'disk_id')}/${idSegment(d.from.volume_id, 'volume_id')}`;
        const source =
          from.kind === 'local'
            ? await (await DomainLayout.open(this.resolveRoot, d.from.domain_id)).volume(
                d.from.disk_id,
                d.from.volume_id,
              )
            : from.imageName(rel);
        if (from.kind === 'nfs' && (await from.stat(rel))?.type !== 'file') {
          throw new AgentError('image_not_found', `volume ${d.from.volume_id} does not exist`, {
            details: { domain_id: d.from.domain_id, disk_id: d.from.disk_id, volume_id: d.from.volume_id },
          });
        }
        if (from.kind === 'nfs') await refuseNfsBacking(from, rel, d.from.format, d.from.volume_id);
        sources.push({ d, from, rel, source });
      }
      if (tree.kind === 'local') {
        work = join(tree.pathOf('ova'), `.pack-${jobId}`);
        await mkdir(work, { mode: 0o700 });
      } else {
        let need = 0;
        for (const s of sources) need += await this.measure(s);
        work = await this.staging(`pack-${jobId}`, need);
      }
      const images: { member: string; path: string }[] = [];
      for (const [i, { d, from, rel, source }] of sources.entries()) {
        const target = join(work, `${i}.qcow2`);
        // An encrypted disk goes into the OVA decrypted: the keys only open the source chain.
        const keys = d.source_encryption
          ? await writeSecretFiles(this.secretsDir, {
              src: d.source_encryption.secret,
              ...(d.source_encryption.base_secret ? { base: d.source_encryption.base_secret } : {}),
            })
          : undefined;
        try {
          const encrypted = d.source_encryption
            ? from.kind === 'nfs'
              ? from.imageOpts(rel, d.from.format, ['encrypt.key-secret=vireo-src'])
              : await sourceChainOpts(source, d.from.format, d.source_encryption)
            : undefined;
          const job = startConvert({
            source,
            sourceFormat: d.from.format,
            target,
            targetFormat: 'qcow2',
            objects: Object.entries(keys?.files ?? {}).map(
              ([id, file]) => `secret,id=vireo-${id},format=raw,file=${escapeOptValue(file)}`,
            ),
            ...(encrypted ? { sourceImageOpts: encrypted } : {}),
            onProgress: (x) => report('running', (done + x) / steps),
          });
          await job.done;
        } finally {
          await keys?.remove();
        }
        done += 1;
        images.push({
          member: `${idSegment(d.member.disk_id, 'disk_id')}/${idSegment(d.member.volume_id, 'volume_id')}`,
          path: target,
        });
      }
      const members: { name: string; size_bytes: number }[] = [];
      const out = await tree.create(tmp);
      wroteTmp = true;
      try {
        const mtime = Date.now() / 1000;
        const ovf = Buffer.from(p.ovf, 'utf8');
        // One write per header+OVF: over NFS every WRITE is a synchronous round trip.
        await out.write(
          Buffer.concat([tarHeader(`${p.name}.ovf`, ovf.length, mtime), ovf, tarPadding(ovf.length)]),
        );
        members.push({ name: `${p.name}.ovf`, size_bytes: ovf.length });
        done += 1;
        for (const img of images) {
          const src = await open(img.path, constants.O_RDONLY | constants.O_NOFOLLOW);
          try {
            const { size } = await src.stat();
            await out.write(tarHeader(img.member, size, mtime));
            const buf = Buffer.alloc(CHUNK);
            let pos = 0;
            while (pos < size) {
              const { bytesRead } = await src.read(buf, 0, Math.min(CHUNK, size - pos), pos);
              if (bytesRead === 0) throw new AgentError('internal_error', `${img.path} shrank while packing`);
              await out.write(buf.subarray(0, bytesRead));
              pos += bytesRead;
              report('running', (done + pos / size) / steps);
            }
            await out.write(tarPadding(size));
            members.push({ name: img.member, size_bytes: size });
          } finally {
            await src.close();
          }
          done += 1;
        }
        await out.write(TAR_END);
        await out.sync();
      } finally {
        await out.close();
      }
      await tree.rename(tmp, final);
      wroteTmp = false;
      const size = (await tree.stat(final))?.size ?? 0;
      report('succeeded', 1);
      return { name: p.name, size_bytes: size, members };
    } catch (err) {
      const error = toAgentError(err, `packing OVA ${p.name}`);
      if (wroteTmp) await tree.remove(tmp).catch(() => undefined);
      report('failed', done / steps, error);
      this.log.warn({ err: error, job_id: jobId }, 'OVA pack failed');
      throw error;
    } finally {
      if (work) await rm(work, { recursive: true, force: true });
    }
  }

  /** Bytes a flattened qcow2 copy of a source needs (`qemu-img measure`), for the staging check. */
  private async measure(s: {
    d: OvaPackParams['disks'][number];
    from: DomainTree;
    rel: string;
    source: string;
  }): Promise<number> {
    const { d, from, rel, source } = s;
    const enc = d.source_encryption;
    const keys = enc
      ? await writeSecretFiles(this.secretsDir, {
          src: enc.secret,
          ...(enc.base_secret ? { base: enc.base_secret } : {}),
        })
      : undefined;
    try {
      const args = ['measure', '--output=json', '-O', 'qcow2'];
      for (const [id, file] of Object.entries(keys?.files ?? {}))
        args.push('--object', `secret,id=vireo-${id},format=raw,file=${escapeOptValue(file)}`);
      const opts =
        from.kind === 'nfs'
          ? from.imageOpts(rel, d.from.format, enc ? ['encrypt.key-secret=vireo-src'] : [])
          : enc
            ? await sourceChainOpts(source, d.from.format, enc)
            : undefined;
      if (opts) args.push('--image-opts', opts);
      else args.push('-f', d.from.format, source);
      const { stdout } = await runQemuImg(args);
      const m = JSON.parse(stdout) as { required?: unknown };
      return typeof m.required === 'number' ? m.required : 0;
    } finally {
      await keys?.remove();
    }
  }

  /** Opens `<name>.ova` and checks its index; the caller closes `fh`. */
  private async openOva(domainId: string, name: string): Promise<OpenOva> {
    if (!OVA_NAME.test(name)) throw new AgentError('invalid_params', 'invalid OVA name');
    const tree = await this.tree(domainId);
    const missing = () =>
      new AgentError('file_not_found', `OVA ${name} does not exist`, { details: { name } });
    if (!(await this.ovaDir(tree, false))) throw missing();
    const fh = await tree.openRead(`ova/${name}.ova`).catch((err: unknown) => {
      if (err instanceof AgentError && err.code === 'file_not_found') throw missing();
      if (err instanceof AgentError && err.code === 'path_not_allowed')
        throw new AgentError('path_not_allowed', `OVA ${name} is a symlink or not a regular file`, {
          cause: err,
        });
      throw err;
    });
    try {
      const members = await readIndex(fh, fh.size, name);
      return { fh, size: fh.size, mtime: fh.mtime, members };
    } catch (err) {
      await fh.close();
      throw err;
    }
  }

  /** `export.ova_read`: the OVF text and the member list (nothing else is read). */
  async read(p: OvaReadParams): Promise<OvaReadResult> {
    const ova = await this.openOva(p.domain_id, p.name);
    try {
      const first = ova.members[0] as TarMember;
      const buf = Buffer.alloc(first.size);
      if ((await ova.fh.read(buf, 0, first.size, first.offset)) !== first.size)
        throw invalid(p.name, 'the OVF member is truncated');
      let ovf: string;
      try {
        ovf = new TextDecoder('utf-8', { fatal: true }).decode(buf);
      } catch (err) {
        throw invalid(p.name, 'the OVF is not UTF-8 text', err);
      }
      return {
        name: p.name,
        ovf,
        members: ova.members.map((m) => ({ name: m.name, size_bytes: m.size })),
        size_bytes: ova.size,
        modified_at: ova.mtime.toISOString(),
      };
    } finally {
      await ova.fh.close();
    }
  }

  /** `export.ova_extract`: members to new volumes, each through the image gate; all or nothing. */
  async extract(p: OvaExtractParams): Promise<OvaExtractResult> {
    const jobId = idSegment(p.job_id, 'job_id');
    const report = this.progress(jobId, 'export.ova_extract');
    const ova = await this.openOva(p.domain_id, p.name);
    const r = new Reverter(this.log);
    let staging: string | undefined;
    try {
      const plan = [];
      for (const d of p.disks) {
        const foreign = 'file' in d.member ? d.member : undefined;
        const memberName =
          'file' in d.member
            ? d.member.file
            : `${idSegment(d.member.disk_id, 'disk_id')}/${idSegment(d.member.volume_id, 'volume_id')}`;
        if (foreign && !FOREIGN_MEMBER.test(foreign.file))
          throw new AgentError('invalid_params', 'invalid OVA member name');
        const member = ova.members.find((m, i) => i > 0 && m.name === memberName);
        if (!member) throw invalid(p.name, `it has no member ${memberName}`);
        if (d.to.format !== 'qcow2')
          throw new AgentError('invalid_params', 'OVA images are qcow2: extract to qcow2');
        // A member in another format is copied out, checked, then converted: room for both.
        const converted = foreign !== undefined && foreign.format !== 'qcow2';
        const tree = await this.tree(d.to.domain_id);
        plan.push({ d, member, sourceFormat: foreign?.format ?? 'qcow2', converted, tree });
      }
      // Free space per target domain, before writing anything.
      const need = new Map<string, { bytes: number; tree: DomainTree }>();
      let staged = 0;
      for (const { d, member, converted, tree } of plan) {
        // An nfs target receives a converted copy (at most the virtual size when converted).
        const bytes = member.size + (converted || tree.kind === 'nfs' ? d.max_virtual_size : 0);
        const key = d.to.domain_id.toLowerCase();
        need.set(key, { bytes: (need.get(key)?.bytes ?? 0) + bytes, tree });
        if (tree.kind === 'nfs') staged += member.size;
      }
      for (const [domainId, { bytes, tree }] of need) {
        const free = await tree.free();
        if (bytes > free) {
          throw new AgentError(
            'image_too_large',
            `the OVA's images need ${bytes} bytes; domain ${domainId} has ${free} free`,
            {
              details: { domain_id: domainId, needed_bytes: bytes, free_bytes: free },
            },
          );
        }
      }
      // Members bound for an nfs domain are copied out and checked on this host first: the image
      // gates read local files only, and qemu-img then writes the checked image onto the export.
      if (staged > 0) staging = await this.staging(`extract-${jobId}`, staged);
      const total = plan.reduce((a, x) => a + x.member.size, 0) || 1;
      let copied = 0;
      const volumes: VolumeInfo[] = [];
      for (const [i, { d, member, sourceFormat, converted, tree }] of plan.entries()) {
        const diskId = idSegment(d.to.disk_id, 'disk_id');
        const volumeId = idSegment(d.to.volume_id, 'volume_id');
        const rel = `images/${diskId}/${volumeId}`;
        let target: string;
        let copyTo: string;
        if (tree.kind === 'local') {
          const layout = await DomainLayout.open(this.resolveRoot, d.to.domain_id);
          target = await layout.newVolume(d.to.disk_id, d.to.volume_id);
          // A foreign image lands beside the volume first (same directory, so the gate confines it).
          copyTo = converted ? join(dirname(target), `.foreign-${jobId}`) : target;
          r.add(async () => {
            await unlink(target).catch(() => undefined);
            await unlink(copyTo).catch(() => undefined);
            await rmdirQuiet(dirname(target));
          }, `remove ${target}`);
        } else {
          await tree.mkdir('images');
          await tree.mkdir(`images/${diskId}`);
          if (await tree.stat(rel)) {
            throw new AgentError('image_exists', `volume ${volumeId} of disk ${diskId} already exists`, {
              details: { domain_id: d.to.domain_id, disk_id: diskId, volume_id: volumeId },
            });
          }
          target = tree.imageName(rel);
          copyTo = join(staging as string, `${i}`);
          r.add(async () => {
            await tree.remove(rel).catch(() => undefined);
            await tree.rmdir(`images/${diskId}`).catch(() => undefined);
          }, `remove ${rel}`);
        }
        const out = await open(
          copyTo,
          constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
          0o640,
        );
        try {
          const buf = Buffer.alloc(CHUNK);
          let pos = 0;
          while (pos < member.size) {
            const bytesRead = await ova.fh.read(
              buf,
              0,
              Math.min(CHUNK, member.size - pos),
              member.offset + pos,
            );
            if (bytesRead === 0) throw invalid(p.name, `member ${member.name} is truncated`);
            await out.write(buf.subarray(0, bytesRead));
            pos += bytesRead;
            report('running', ((copied + pos) / total) * 0.95);
          }
          await out.sync();
        } finally {
          await out.close();
        }
        copied += member.size;
        if (converted) {
          await retryOntoNfs(tree, rel, () =>
            this.convertForeign(copyTo, sourceFormat as 'vmdk' | 'raw', target, d.max_virtual_size),
          );
          await unlink(copyTo);
        }
        // The gate reads the local file: the volume itself, or the staged copy for an nfs target.
        const checkedPath = tree.kind === 'local' || converted ? target : copyTo;
        const inspected =
          tree.kind === 'nfs' && converted
            ? undefined
            : await inspectUntrustedImage(checkedPath, {
                expectedFormat: 'qcow2',
                maxVirtualSize: d.max_virtual_size,
                allowedDir: dirname(checkedPath),
              }).catch((err: unknown) => {
                throw toAgentError(err, `OVA ${p.name} member ${member.name} refused`);
              });
        if (tree.kind === 'nfs' && !converted) {
          // The checked qcow2 onto the export: its own metadata is rewritten, its data kept.
          await retryOntoNfs(
            tree,
            rel,
            () =>
              startConvert({
                source: copyTo,
                sourceFormat: 'qcow2',
                sourceImageOpts: `driver=qcow2,file.driver=file,file.filename=${escapeOptValue(copyTo)},backing=`,
                target,
                targetFormat: 'qcow2',
                onProgress: () => undefined,
              }).done,
          );
          await unlink(copyTo);
        }
        const virtualSize = inspected?.virtualSize ?? (await this.nfsVirtualSize(tree, rel));
        volumes.push({
          domain_id: d.to.domain_id.toLowerCase(),
          disk_id: diskId,
          volume_id: volumeId,
          path: tree.kind === 'local' ? (inspected?.path ?? target) : tree.pathOf(rel),
          format: 'qcow2',
          virtual_size: virtualSize,
          actual_size: inspected?.actualSize ?? member.size,
          backing: null,
        });
      }
      r.success();
      report('succeeded', 1);
      return { volumes };
    } catch (err) {
      const error = toAgentError(err, `extracting OVA ${p.name}`);
      await r.revert();
      report('failed', 0, error);
      this.log.warn({ err: error, job_id: jobId }, 'OVA extract failed');
      throw error;
    } finally {
      await ova.fh.close();
      if (staging) await rm(staging, { recursive: true, force: true });
    }
  }

  /** Virtual size of a qcow2 volume we just wrote onto an nfs domain (read back by qemu-img). */
  private async nfsVirtualSize(tree: DomainTree, rel: string): Promise<number> {
    const { stdout } = await runQemuImg([
      'info',
      '--output=json',
      '--image-opts',
      tree.imageOpts(rel, 'qcow2', ['backing=']),
    ]);
    const info = JSON.parse(stdout) as { 'virtual-size'?: unknown };
    if (typeof info['virtual-size'] !== 'number')
      throw new AgentError('image_invalid', `${tree.where}/${rel}: qemu-img reports no virtual size`);
    return info['virtual-size'];
  }

  /**
   * A VMDK or raw image from another tool's OVA: through its gate (for a VMDK: a single-file sparse
   * image and nothing else), then converted to qcow2 at `target` under the usual qemu-img limits.
   */
  private async convertForeign(
    source: string,
    format: 'vmdk' | 'raw',
    target: string,
    maxVirtualSize: number,
  ): Promise<void> {
    const gate = { maxVirtualSize, allowedDir: dirname(source) };
    const checked =
      format === 'vmdk'
        ? await inspectUntrustedVmdk(source, gate)
        : await inspectUntrustedImage(source, { ...gate, expectedFormat: 'raw' });
    const job = startConvert({
      source: checked.path,
      sourceFormat: 'raw',
      // Opened as exactly the declared format, never probed.
      sourceImageOpts: [
        `driver=${format}`,
        'file.driver=file',
        `file.filename=${escapeOptValue(checked.path)}`,
      ].join(','),
      target,
      targetFormat: 'qcow2',
      onProgress: () => undefined,
    });
    await job.done;
  }

  /** `export.check_volume`: the hostile-image gate on an exported volume. */
  async checkVolume(p: ExportCheckVolumeParams): Promise<CheckedVolume> {
    const tree = await this.tree(p.domain_id);
    // On a directory domain the layout resolves the volume and refuses one outside the domain
    // (a symlinked disk directory); the nfs client never follows links at all.
    const local =
      tree.kind === 'local'
        ? await (await DomainLayout.open(this.resolveRoot, p.domain_id)).volume(p.disk_id, p.volume_id)
        : undefined;
    return checkExportedVolume(tree, p, local);
  }
}

/**
 * Runs a qemu-img write onto an nfs domain (a no-op wrapper for a directory domain). libnfs's MOUNT
 * of a directory just made is sometimes refused (`MNT3ERR_ACCES`, seen with nfs-ganesha) while a
 * later one succeeds: the partial target is removed and the write tried again, up to three times.
 */
async function retryOntoNfs(tree: DomainTree, rel: string, write: () => Promise<void>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await write();
      return;
    } catch (err) {
      const transient = /MNT3ERR_ACCES/.test(String((err as Error)?.message ?? ''));
      if (tree.kind !== 'nfs' || !transient || attempt >= 3) throw err;
      await tree.remove(rel).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

/**
 * An nfs source must be a single image: qemu-img would follow a backing name through the nfs
 * driver — or, absolute, to a file of this host — so a chain is refused (`image_invalid`) as the
 * nfs copy path refuses it, before anything opens the image (ADR 027).
 */
async function refuseNfsBacking(
  tree: DomainTree,
  rel: string,
  format: string,
  volumeId: string,
): Promise<void> {
  if (format !== 'qcow2') return;
  const header = await withLocalHead(tree, rel, (head) => readQcow2Header(head)).catch((err: unknown) => {
    if (err instanceof HeaderError)
      throw new AgentError('image_invalid', `volume ${volumeId}: malformed qcow2 header: ${err.message}`);
    throw err;
  });
  if (header?.backingFile !== undefined || header?.dataFile !== undefined || header?.hasExternalData) {
    throw new AgentError(
      'image_invalid',
      `volume ${volumeId} on an nfs domain has a backing or data file: export its VM without snapshots`,
      { details: { volume_id: volumeId } },
    );
  }
}

async function rmdirQuiet(dir: string): Promise<void> {
  await rmdir(dir).catch(() => undefined);
}
