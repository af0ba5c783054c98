import { lstat, realpath } from 'node:fs/promises';
import { isAbsolute, relative, sep } from 'node:path';
import { StorageError } from './errors';
import { detectFormatMagic, HeaderError, readQcow2Header, readVmdkHeader } from './image-header';
import {
  checkImage,
  type ImageFormat,
  type ImageInfo,
  escapeOptValue,
  imageOpts,
  METADATA_LIMITS,
  runQemuImg,
} from './qemu-img';

export interface InspectOptions {
  /** The format the image was declared as. It is opened as exactly that, never probed. */
  expectedFormat: ImageFormat;
  /** Largest accepted virtual (guest-visible) size in bytes. */
  maxVirtualSize: number;
  /** The image must be a regular file inside this directory (after resolving symlinks). */
  allowedDir: string;
}

/** What the gate learnt about an image it accepted. */
export interface InspectedImage {
  /** The canonical path (symlinks resolved). */
  path: string;
  format: ImageFormat;
  virtualSize: number;
  actualSize?: number;
  clusterSize?: number;
  encrypted: boolean;
  /** Leaked clusters (wasted space, harmless); corruptions are refused. */
  leakedClusters: number;
}

const fail = (
  code: ConstructorParameters<typeof StorageError>[0],
  message: string,
  details: Record<string, unknown>,
) => new StorageError(code, message, details);

/**
 * The hostile-image gate: run it on every image that came from outside (upload, import, copy from
 * another domain) before anything else opens it. In order:
 * 1. the file is a regular file under `allowedDir` (no symlink games);
 * 2. its header is parsed by our own code: a qcow2 naming a backing file, an external data file or a
 *    `json:` pseudo-file is refused before any QEMU tool could follow the name; a `raw` image that
 *    carries another format's magic is refused, because anything that ever probes it would not
 *    treat it as raw;
 * 3. the virtual size is checked against the limit (a header can claim exabytes);
 * 4. `qemu-img info` opens it as `expectedFormat` exactly (`--image-opts`, under CPU/memory limits),
 *    and its report is cross-checked;
 * 5. `qemu-img check` (qcow2) finds no corruption.
 * Throws `StorageError` with an `image_*` code (or `path_outside_domain`, `image_not_found`).
 */
export async function inspectUntrustedImage(path: string, options: InspectOptions): Promise<InspectedImage> {
  const canonical = await confineToDir(path, options.allowedDir);
  const details = { path: canonical, expectedFormat: options.expectedFormat };

  let declaredSize: number | undefined;
  if (options.expectedFormat === 'qcow2') {
    declaredSize = await checkQcow2Header(canonical, details);
  } else {
    const magic = await detectFormatMagic(canonical);
    if (magic) {
      throw fail('image_format_mismatch', `image declared raw but has a ${magic} header`, {
        ...details,
        detected: magic,
      });
    }
  }
  if (declaredSize !== undefined) checkSize(declaredSize, options.maxVirtualSize, details);

  let info: ImageInfo;
  try {
    const { stdout } = await runQemuImg(
      ['info', '--output=json', '--image-opts', imageOpts(canonical, options.expectedFormat)],
      { limits: METADATA_LIMITS },
    );
    info = JSON.parse(stdout) as ImageInfo;
  } catch (error) {
    const stderr = error instanceof StorageError ? String(error.details.stderr ?? '') : '';
    if (/not in \w+ format|Image is not in/i.test(stderr)) {
      throw new StorageError(
        'image_format_mismatch',
        `image is not a valid ${options.expectedFormat} image`,
        details,
        {
          cause: error,
        },
      );
    }
    throw new StorageError('image_corrupt', `image cannot be opened as ${options.expectedFormat}`, details, {
      cause: error,
    });
  }

  // Defence in depth: QEMU's own reading must agree with ours.
  if (info.format !== options.expectedFormat) {
    throw fail('image_format_mismatch', `qemu-img reports format ${info.format}`, {
      ...details,
      detected: info.format,
    });
  }
  const backing = info['backing-filename'] ?? info['full-backing-filename'];
  if (backing !== undefined) refuseBacking(backing, details);
  const dataFile = info['format-specific']?.data['data-file'];
  if (dataFile !== undefined) refuseDataFile(String(dataFile), details);
  checkSize(info['virtual-size'], options.maxVirtualSize, details);

  let leakedClusters = 0;
  if (options.expectedFormat === 'qcow2') {
    const report = await checkImage(canonical, { format: 'qcow2', imageOptions: true }).catch(
      (error: unknown) => {
        throw new StorageError('image_corrupt', 'qemu-img check could not read the image', details, {
          cause: error,
        });
      },
    );
    if ((report.corruptions ?? 0) > 0 || report['check-errors'] > 0) {
      throw fail('image_corrupt', `image metadata is corrupt (${report.corruptions ?? 0} corruptions)`, {
        ...details,
        corruptions: report.corruptions ?? 0,
        checkErrors: report['check-errors'],
      });
    }
    leakedClusters = report.leaks ?? 0;
  }

  return {
    path: canonical,
    format: options.expectedFormat,
    virtualSize: info['virtual-size'],
    actualSize: info['actual-size'],
    clusterSize: info['cluster-size'],
    encrypted: info.encrypted ?? false,
    leakedClusters,
  };
}

/** Resolves `path` and requires a regular file inside `dir` (both canonicalised). */
async function confineToDir(path: string, dir: string): Promise<string> {
  if (!isAbsolute(path)) throw fail('path_outside_domain', 'image path must be absolute', { path });
  let canonical: string;
  let root: string;
  try {
    [canonical, root] = await Promise.all([realpath(path), realpath(dir)]);
  } catch (error) {
    throw new StorageError('image_not_found', `image ${path} does not exist`, { path }, { cause: error });
  }
  const rel = relative(root, canonical);
  if (rel === '' || rel.startsWith(`..${sep}`) || rel === '..' || isAbsolute(rel)) {
    throw fail('path_outside_domain', 'image is outside the allowed directory', { path, allowedDir: dir });
  }
  const stat = await lstat(canonical);
  if (!stat.isFile()) throw fail('image_unsupported', 'image is not a regular file', { path });
  return canonical;
}

/** Parses the qcow2 header; returns the virtual size it claims. */
async function checkQcow2Header(path: string, details: Record<string, unknown>): Promise<number> {
  let header: Awaited<ReturnType<typeof readQcow2Header>>;
  try {
    header = await readQcow2Header(path);
  } catch (error) {
    if (error instanceof HeaderError) {
      throw new StorageError('image_corrupt', `malformed qcow2 header: ${error.message}`, details, {
        cause: error,
      });
    }
    throw error;
  }
  if (!header) {
    const magic = await detectFormatMagic(path);
    throw fail('image_format_mismatch', `image declared qcow2 but is ${magic ?? 'not qcow2'}`, {
      ...details,
      detected: magic ?? 'raw',
    });
  }
  if (header.backingFile !== undefined) refuseBacking(header.backingFile, details);
  if (header.dataFile !== undefined) refuseDataFile(header.dataFile, details);
  if (header.hasExternalData) refuseDataFile('', details);
  if (header.cryptMethod === 1) {
    throw fail('image_unsupported', 'legacy qcow2 AES encryption is insecure and not accepted', details);
  }
  if (header.virtualSize > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw fail('image_too_large', 'image claims an impossible virtual size', {
      ...details,
      virtualSize: header.virtualSize.toString(),
    });
  }
  return Number(header.virtualSize);
}

function refuseBacking(name: string, details: Record<string, unknown>): never {
  if (name.startsWith('json:')) {
    throw fail('image_json_filename', 'image names a json: pseudo-file as its backing file', details);
  }
  throw fail('image_has_backing_file', 'image depends on a backing file', { ...details, backingFile: name });
}

function refuseDataFile(name: string, details: Record<string, unknown>): never {
  if (name.startsWith('json:')) {
    throw fail('image_json_filename', 'image names a json: pseudo-file as its data file', details);
  }
  throw fail('image_has_data_file', 'image keeps its data in an external data file', {
    ...details,
    dataFile: name,
  });
}

function checkSize(size: number, max: number, details: Record<string, unknown>): void {
  if (size > max) {
    throw fail('image_too_large', `virtual size ${size} exceeds the limit of ${max} bytes`, {
      ...details,
      virtualSize: size,
      maxVirtualSize: max,
    });
  }
}

/** VMDK kinds accepted from other platforms: one file holding header, descriptor and grains. */
const VMDK_SINGLE_FILE = new Set(['streamOptimized', 'monolithicSparse']);

/** What `qemu-img info` reports for a VMDK (the part the gate cross-checks). */
interface VmdkInfo extends ImageInfo {
  'format-specific'?: {
    type: string;
    data: { 'create-type'?: string; extents?: { filename?: string; 'virtual-size'?: number }[] } & Record<
      string,
      unknown
    >;
  };
}

/**
 * The hostile-image gate for a VMDK brought from another platform (a foreign OVA). A VMDK can be a
 * text descriptor naming extent files anywhere (`monolithicFlat`, split or delta disks): opening it
 * would read those files, so only single-file `streamOptimized` / `monolithicSparse` images are
 * accepted. In order:
 * 1. a regular file under `allowedDir`;
 * 2. our own parse of the sparse header and its embedded descriptor: a text descriptor file, a
 *    capacity of 0 (QEMU then follows the descriptor's extent names), another create type, more
 *    than one extent, a non-sparse extent or a parent are refused before QEMU opens anything;
 * 3. the virtual size against the limit;
 * 4. `qemu-img info` (as vmdk exactly, under limits) must report one extent, this very file, no
 *    backing file, and the same size.
 * Throws `StorageError` (`image_external_extent`, `image_has_backing_file`, `image_too_large`,
 * `image_format_mismatch`, `image_corrupt`, `image_unsupported`).
 */
export async function inspectUntrustedVmdk(
  path: string,
  options: Omit<InspectOptions, 'expectedFormat'>,
): Promise<{ path: string; virtualSize: number; actualSize?: number }> {
  const canonical = await confineToDir(path, options.allowedDir);
  const details = { path: canonical, expectedFormat: 'vmdk' };
  const magic = await detectFormatMagic(canonical);
  if (magic !== 'vmdk') {
    throw fail('image_format_mismatch', `image declared vmdk but is ${magic ?? 'not vmdk'}`, {
      ...details,
      detected: magic ?? 'raw',
    });
  }
  const header = await readVmdkHeader(canonical).catch((err: unknown) => {
    throw wrapHeader(err, details);
  });
  // The vmdk magic without a sparse header: a text descriptor, which only ever names other files.
  if (!header) {
    throw fail('image_external_extent', 'a VMDK descriptor file names its data in other files', details);
  }
  if (header.hasParent) refuseBacking('(the VMDK descriptor names a parent disk)', details);
  if (!VMDK_SINGLE_FILE.has(header.createType)) {
    throw fail(
      'image_external_extent',
      `VMDK create type ${JSON.stringify(header.createType.slice(0, 40))} is not a single-file image`,
      {
        ...details,
        createType: header.createType.slice(0, 40),
      },
    );
  }
  if (header.extents.length !== 1 || header.extents[0]?.type !== 'SPARSE') {
    throw fail('image_external_extent', 'a VMDK must hold exactly one sparse extent, itself', {
      ...details,
      extents: header.extents.length,
    });
  }
  if (header.virtualSize > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw fail('image_too_large', 'image claims an impossible virtual size', details);
  }
  checkSize(Number(header.virtualSize), options.maxVirtualSize, details);

  let info: VmdkInfo;
  try {
    const opts = ['driver=vmdk', 'file.driver=file', `file.filename=${escapeOptValue(canonical)}`].join(',');
    const { stdout } = await runQemuImg(['info', '--output=json', '--image-opts', opts], {
      limits: METADATA_LIMITS,
    });
    info = JSON.parse(stdout) as VmdkInfo;
  } catch (error) {
    throw new StorageError('image_corrupt', 'image cannot be opened as vmdk', details, { cause: error });
  }
  if (info.format !== 'vmdk') {
    throw fail('image_format_mismatch', `qemu-img reports format ${info.format}`, {
      ...details,
      detected: info.format,
    });
  }
  const backing = info['backing-filename'] ?? info['full-backing-filename'];
  if (backing !== undefined) refuseBacking(backing, details);
  const extents = info['format-specific']?.data.extents ?? [];
  if (extents.length !== 1 || extents[0]?.filename !== canonical) {
    throw fail('image_external_extent', 'qemu-img sees a VMDK extent that is not the image itself', {
      ...details,
      extents: extents.length,
    });
  }
  if (info['virtual-size'] !== Number(header.virtualSize)) {
    throw fail('image_corrupt', 'the VMDK header and qemu-img disagree on the size', details);
  }
  checkSize(info['virtual-size'], options.maxVirtualSize, details);
  return { path: canonical, virtualSize: info['virtual-size'], actualSize: info['actual-size'] };
}

function wrapHeader(err: unknown, details: Record<string, unknown>): unknown {
  if (err instanceof HeaderError) {
    return new StorageError('image_corrupt', `malformed vmdk: ${err.message}`, details, { cause: err });
  }
  return err;
}
