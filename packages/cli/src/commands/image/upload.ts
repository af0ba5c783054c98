import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { uploadImage } from '@vireo/client';
import { CliError, ExitCode, usageError } from '../../framework/errors';
import type { CommandSpec } from '../../framework/spec';
import { printObject } from '../common/output';
import { progressBar } from './progress';
import { resolveByName } from './resolve';

const FORMATS = ['raw', 'qcow2', 'iso'] as const;

/**
 * Checks the local file before anything goes to the engine: a typo in the path should say so, not
 * surface as `internal_error: ENOENT …` after a transfer was opened.
 */
export async function assertUploadableFile(file: string): Promise<void> {
  let info: Awaited<ReturnType<typeof stat>>;
  try {
    info = await stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(code);
    throw new CliError('file_unreadable', `cannot read ${file}: ${why}`, ExitCode.usage, { cause: err });
  }
  if (!info.isFile()) throw new CliError('file_unreadable', `${file} is not a regular file`, ExitCode.usage);
}

/** The format a file name suggests; the user can always say otherwise with --format. */
function formatFromName(file: string): (typeof FORMATS)[number] | undefined {
  if (/\.iso$/i.test(file)) return 'iso';
  if (/\.qcow2$/i.test(file)) return 'qcow2';
  if (/\.(raw|img)$/i.test(file)) return 'raw';
  return undefined;
}

/**
 * Why an upload of this format cannot go to a domain of this kind (ISO files into ISO domains, disk
 * images into data domains), with what to do instead; undefined when it can. The engine refuses
 * too, but only with `storage_domain_state_invalid`.
 */
export function uploadTargetProblem(
  format: (typeof FORMATS)[number],
  domain: { name: string; kind?: string },
): string | undefined {
  if (domain.kind === undefined) return undefined;
  const a = /^[aeiou]/.test(domain.kind) ? 'an' : 'a';
  if (format === 'iso' && domain.kind !== 'iso') {
    return (
      `${domain.name} is ${a} ${domain.kind} domain: ISO files go to an ISO domain (vireo storage-domain list --kind iso); ` +
      'a disk image needs --format raw or qcow2'
    );
  }
  if (format !== 'iso' && domain.kind !== 'data') {
    return `${domain.name} is ${a} ${domain.kind} domain: disk images go to a data domain (vireo storage-domain list --kind data)`;
  }
  return undefined;
}

export const imageUpload: CommandSpec = {
  path: ['image', 'upload'],
  summary: 'upload an ISO or a disk image (streamed, checksummed, resumable with --resume)',
  args: [{ name: 'file', description: 'the local image file', required: true }],
  options: [
    {
      flags: '--storage-domain <name-or-id>',
      description: 'the ISO domain (ISO files) or data domain (disks)',
    },
    {
      flags: '--format <format>',
      description: 'raw, qcow2 or iso (default: from the file name)',
      choices: FORMATS,
    },
    { flags: '--disk-name <name>', description: 'upload into a new disk with this name' },
    { flags: '--disk <id>', description: 'upload into this existing disk (no VM may use it)' },
    { flags: '--iso-name <name>', description: 'file name in the ISO domain (default: the file name)' },
    {
      flags: '--resume <transfer-id>',
      description: 'continue an interrupted upload where the engine stopped',
    },
    { flags: '--no-checksum', description: 'skip computing the SHA-256 before sending' },
  ],
  async run(ctx) {
    const file = String(ctx.args[0]);
    await assertUploadableFile(file);
    const { client } = await ctx.session.connect(ctx.opts.profile);
    const signal = ctx.session.signal;
    const bar = progressBar(ctx.session.io.stderr, basename(file));
    const onProgress = (done: number, total: number) => bar.update(done, total);
    const onTransfer = (t: { id: string }) =>
      ctx.session.info(`transfer ${t.id} (resume with: vireo image upload ${file} --resume ${t.id})`);
    try {
      if (ctx.opts.resume) {
        printObject(
          ctx,
          await uploadImage(client, { file, resumeId: String(ctx.opts.resume), onProgress, signal }),
        );
        return ExitCode.ok;
      }
      const format = (ctx.opts.format as (typeof FORMATS)[number] | undefined) ?? formatFromName(file);
      if (!format) throw usageError('cannot tell the format from the file name; pass --format raw|qcow2|iso');
      if (!ctx.opts.storageDomain) throw usageError('--storage-domain is required');
      const domain = await resolveByName(client, 'storage-domains', String(ctx.opts.storageDomain), signal);
      const found = await client.get<{ name: string; kind?: string }>(`/storage-domains/${domain.id}`, {
        signal,
      });
      const problem = uploadTargetProblem(format, found);
      if (problem) throw usageError(problem, 'wrong_domain_kind');
      const target =
        format === 'iso'
          ? { isoFile: String(ctx.opts.isoName ?? basename(file)) }
          : ctx.opts.disk
            ? { diskId: String(ctx.opts.disk) }
            : {
                diskName: String(
                  ctx.opts.diskName ??
                    basename(file)
                      .replace(/\.[^.]*$/, '')
                      .slice(0, 64),
                ),
              };
      const transfer = await uploadImage(client, {
        file,
        storageDomainId: domain.id,
        format,
        ...target,
        checksum: ctx.opts.checksum !== false,
        onProgress,
        onTransfer,
        signal,
      });
      printObject(ctx, transfer);
      return ExitCode.ok;
    } finally {
      bar.finish();
    }
  },
};
