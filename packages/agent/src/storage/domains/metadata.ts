import { randomBytes } from 'node:crypto';
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type StorageDomainMetadata, StorageDomainMetadataSchema } from '@vireo/agent-protocol';
import { Value } from '@sinclair/typebox/value';
import { AgentError } from '../../util/errors';

/** The layout version this agent writes and understands (ADR 017). */
export const DOMAIN_FORMAT_VERSION = 1;
/** Metadata is a few hundred bytes; a huge file is not ours (or is hostile). */
export const MAX_METADATA_BYTES = 64 * 1024;

export function metadataFile(root: string): string {
  return join(root, 'dom_md', 'metadata.json');
}

/** Reads `<root>/dom_md/metadata.json`; undefined when the file does not exist. */
export async function readMetadata(root: string): Promise<StorageDomainMetadata | undefined> {
  const file = metadataFile(root);
  let text: string;
  try {
    const fh = await open(file, 'r');
    try {
      const { size } = await fh.stat();
      if (size > MAX_METADATA_BYTES) throw invalid(file, `larger than ${MAX_METADATA_BYTES} bytes`);
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (err instanceof AgentError) throw err;
    throw new AgentError('storage_unreachable', `cannot read ${file}`, {
      cause: err,
      details: { path: file },
    });
  }
  return parseMetadata(text, file);
}

/** Checks metadata text read from anywhere (a local file, or over NFS in userspace mode). */
export function parseMetadata(text: string, file: string): StorageDomainMetadata {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw invalid(file, 'not JSON', err);
  }
  if (!Value.Check(StorageDomainMetadataSchema, parsed))
    throw invalid(file, 'does not match the metadata schema');
  const md = parsed as StorageDomainMetadata;
  if (md.format_version > DOMAIN_FORMAT_VERSION) {
    throw invalid(
      file,
      `format_version ${md.format_version} is newer than this agent's ${DOMAIN_FORMAT_VERSION}`,
    );
  }
  return { ...md, id: md.id.toLowerCase() };
}

/**
 * Writes the metadata atomically: a temporary file in the same directory, fsync, rename, fsync of
 * the directory. A crash leaves either the old or the new file, never half of one (an engine that
 * finds no metadata would take the domain for an empty directory).
 */
export async function writeMetadata(root: string, md: StorageDomainMetadata): Promise<void> {
  const file = metadataFile(root);
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    const fh = await open(tmp, 'wx', 0o644);
    try {
      await fh.writeFile(`${JSON.stringify(md, null, 2)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, file);
    const dir = await open(dirname(file), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw new AgentError('storage_unreachable', `cannot write ${file}`, {
      cause: err,
      details: { path: file },
    });
  }
}

function invalid(file: string, why: string, cause?: unknown): AgentError {
  return new AgentError('storage_metadata_invalid', `${file}: ${why}`, {
    ...(cause === undefined ? {} : { cause }),
    details: { path: file },
  });
}

/** Only for tests and tools: the raw file text. */
export async function readMetadataText(root: string): Promise<string> {
  return readFile(metadataFile(root), 'utf8');
}
