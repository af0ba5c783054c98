import { dirname } from 'node:path';
import type { ExportCheckVolumeParams } from '@vireo/agent-protocol';
import { toAgentError } from '../../util/errors';
import { StorageError } from '../errors';
import { detectFormatMagic, HeaderError, readQcow2Header } from '../image-header';
import { inspectUntrustedImage } from '../inspect';
import { CHECK_LIMITS, type CheckResult, type ImageInfo, METADATA_LIMITS, runQemuImg } from '../qemu-img';
import { idSegment } from '../volumes/layout';
import type { DomainTree } from './tree';
import { withLocalHead } from './tree';

export interface CheckedVolume {
  virtual_size: number;
  actual_size: number;
}

/**
 * `export.check_volume`: the hostile-image gate on an exported volume (`images/<disk>/<volume>` of
 * the export domain). A directory domain runs {@link inspectUntrustedImage} on the file; a
 * userspace-mode nfs domain gets the same rules in the same order with the header parsed from a
 * local copy of the file's start (so no QEMU tool opens an image naming a backing or data file)
 * and qemu-img reading the rest through its nfs driver.
 */
export async function checkExportedVolume(
  tree: DomainTree,
  p: ExportCheckVolumeParams,
  /** A directory domain's volume, already resolved inside the domain (`DomainLayout.volume`). */
  localPath?: string,
): Promise<CheckedVolume> {
  const rel = `images/${idSegment(p.disk_id, 'disk_id')}/${idSegment(p.volume_id, 'volume_id')}`;
  try {
    if (tree.kind === 'local') {
      const path = localPath ?? tree.pathOf(rel);
      const inspected = await inspectUntrustedImage(path, {
        expectedFormat: p.format,
        maxVirtualSize: p.max_virtual_size,
        allowedDir: dirname(path),
      });
      return { virtual_size: inspected.virtualSize, actual_size: inspected.actualSize ?? 0 };
    }
    return await checkRemote(tree, rel, p);
  } catch (err) {
    throw toAgentError(err, `exported volume ${p.volume_id} refused`);
  }
}

async function checkRemote(
  tree: DomainTree,
  rel: string,
  p: ExportCheckVolumeParams,
): Promise<CheckedVolume> {
  const details = { path: tree.pathOf(rel), expectedFormat: p.format };
  const st = await tree.stat(rel);
  if (!st) throw new StorageError('image_not_found', `${rel} does not exist`, details);
  if (st.type !== 'file')
    throw new StorageError('path_outside_domain', `${rel} is not a regular file`, details);
  const declared = await withLocalHead(tree, rel, async (head, size) => {
    if (p.format === 'raw') {
      const magic = await detectFormatMagic(head);
      if (magic)
        throw new StorageError('image_format_mismatch', `image declared raw but has a ${magic} header`, {
          ...details,
          detected: magic,
        });
      return size;
    }
    let h: Awaited<ReturnType<typeof readQcow2Header>>;
    try {
      h = await readQcow2Header(head);
    } catch (err) {
      if (err instanceof HeaderError)
        throw new StorageError('image_corrupt', `malformed qcow2 header: ${err.message}`, details, {
          cause: err,
        });
      throw err;
    }
    if (!h) throw new StorageError('image_format_mismatch', 'image declared qcow2 but is not qcow2', details);
    const json = (name: string | undefined) => name?.startsWith('json:') === true;
    if (h.backingFile !== undefined) {
      if (json(h.backingFile))
        throw new StorageError(
          'image_json_filename',
          'image names a json: pseudo-file as its backing file',
          details,
        );
      throw new StorageError('image_has_backing_file', 'image depends on a backing file', details);
    }
    if (h.dataFile !== undefined || h.hasExternalData) {
      if (json(h.dataFile))
        throw new StorageError(
          'image_json_filename',
          'image names a json: pseudo-file as its data file',
          details,
        );
      throw new StorageError('image_has_data_file', 'image keeps its data in an external data file', details);
    }
    if (h.cryptMethod === 1)
      throw new StorageError('image_unsupported', 'legacy qcow2 AES encryption is not accepted', details);
    if (h.virtualSize > BigInt(Number.MAX_SAFE_INTEGER))
      throw new StorageError('image_too_large', 'image claims an impossible virtual size', details);
    return Number(h.virtualSize);
  });
  const tooLarge = (size: number) => {
    if (size > p.max_virtual_size)
      throw new StorageError(
        'image_too_large',
        `virtual size ${size} exceeds the limit of ${p.max_virtual_size} bytes`,
        details,
      );
  };
  tooLarge(declared);
  // Opened as exactly the declared format; `backing=` keeps even a raced-in backing name closed.
  const opts = tree.imageOpts(rel, p.format, p.format === 'qcow2' ? ['backing='] : []);
  let info: ImageInfo;
  try {
    const { stdout } = await runQemuImg(['info', '--output=json', '-U', '--image-opts', opts], {
      limits: METADATA_LIMITS,
    });
    info = JSON.parse(stdout) as ImageInfo;
  } catch (err) {
    throw new StorageError('image_corrupt', `image cannot be opened as ${p.format}`, details, { cause: err });
  }
  if (info.format !== p.format)
    throw new StorageError('image_format_mismatch', `qemu-img reports format ${info.format}`, details);
  if (info['format-specific']?.data['data-file'] !== undefined)
    throw new StorageError('image_has_data_file', 'image keeps its data in an external data file', details);
  tooLarge(info['virtual-size']);
  if (p.format === 'qcow2') {
    const { stdout } = await runQemuImg(['check', '--output=json', '-U', '--image-opts', opts], {
      limits: CHECK_LIMITS,
      okExitCodes: [0, 2, 3],
    });
    const report = JSON.parse(stdout) as CheckResult;
    if ((report.corruptions ?? 0) > 0 || report['check-errors'] > 0)
      throw new StorageError('image_corrupt', 'image metadata is corrupt', details);
  }
  return { virtual_size: info['virtual-size'], actual_size: info['actual-size'] ?? 0 };
}
