import { mkdir, mkdtemp, open, rm } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { AgentError } from '../../util/errors';
import { imageInfo } from '../qemu-img';
import type { NfsChainLayer } from './chains';
import type { NfsClient } from './client';
import { ensureStagingRoom } from './memory-state';

/**
 * A backing chain of a userspace-mode nfs domain copied verbatim into a private local directory
 * (ADR 027 decision 12): QEMU's nfs driver cannot follow the relative backing names the agent
 * writes, but a local copy laid out like the domain (`<staging>/images/<disk>/<volume>`) lets
 * qemu-img resolve them as it does for a local domain, so the one copy runner reads the staged top.
 */
export interface StagedChain {
  /** The staged active layer (local path). */
  top: string;
  /** Removes the staging directory and everything in it. */
  remove(): Promise<void>;
}

const PIECE = 1024 * 1024;

/**
 * Stages `layers` (as {@link walkNfsChain} returned them, top first) of the domain directory
 * `domainDir` under a new directory inside `stagingParent`. Room for the sum of the layer sizes is
 * checked first. After the copy the staged chain is checked again with qemu-img (every layer must
 * be a staged file: the server could have changed a header since the walk).
 */
export async function stageNfsChain(
  c: NfsClient,
  domainDir: string,
  layers: NfsChainLayer[],
  stagingParent: string,
): Promise<StagedChain> {
  await mkdir(stagingParent, { recursive: true, mode: 0o700 });
  const dir = await mkdtemp(join(stagingParent, 'chain-'));
  const remove = () => rm(dir, { recursive: true, force: true });
  try {
    const opened: Array<{ layer: NfsChainLayer; fh: Buffer; size: number }> = [];
    for (const layer of layers) {
      const f = await c.openFile(`${domainDir}/${layer.rel}`);
      if (!f) throw new AgentError('image_not_found', `image ${layer.rel} vanished while staging`);
      opened.push({ layer, fh: f.fh, size: f.attr.size });
    }
    await ensureStagingRoom(
      dir,
      opened.reduce((n, o) => n + o.size, 0),
    );
    for (const o of opened) {
      const local = join(dir, o.layer.rel);
      await mkdir(dirname(local), { recursive: true, mode: 0o700 });
      const handle = await open(local, 'wx', 0o600);
      try {
        for (let offset = 0; offset < o.size; ) {
          const data = await c.readAt(o.fh, offset, PIECE, o.layer.rel);
          if (data.length === 0)
            throw new AgentError('image_invalid', `${o.layer.rel} ended before its size`);
          await handle.write(data, 0, data.length, offset);
          offset += data.length;
        }
      } finally {
        await handle.close();
      }
    }
    const top = join(dir, layers[0]?.rel ?? '');
    await checkStaged(dir, top, layers);
    return { top, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** The staged chain must be exactly the walked one, every layer inside the staging directory. */
async function checkStaged(dir: string, top: string, layers: NfsChainLayer[]): Promise<void> {
  const top0 = layers[0];
  if (!top0) throw new AgentError('image_invalid', 'an empty chain cannot be staged');
  const chain = await imageInfo(top, { format: top0.format, backingChain: true, forceShare: true });
  const names = chain.map((l) => relative(dir, resolve(dirname(top), l.filename)));
  const want = layers.map((l) => l.rel);
  if (names.length !== want.length || names.some((n, i) => n !== want[i])) {
    throw new AgentError('image_invalid', 'the staged chain differs from the chain walked over NFS', {
      details: { walked: want, staged: names },
    });
  }
}
