import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { cp, mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * What the deploy copies to a host: a gzip tarball that unpacks into the agent's install
 * directory, holding `vireo-agent.js` (and its chunks) and the `node_modules` its bundle imports.
 */
export interface AgentPayload {
  /** Local path of the tarball. */
  tarball: string;
  /** SHA-256 (hex) of the tarball: checked on the host after the copy. */
  sha256: string;
  /** The entry script inside the tarball, relative to the install directory. */
  entry: string;
}

export interface CreatePayloadOptions {
  /** The agent's build output (`packages/agent/dist`): copied whole (the bundle loads chunks on demand). */
  agentDist: string;
  /**
   * The `node_modules` the bundle's third-party imports resolve from. `link: true` stores a
   * symbolic link instead of the files: only valid when the host sees the engine's filesystem
   * (the all-on-one-machine set-up and the tests).
   */
  nodeModules: { path: string; link: boolean };
  /** Where the tarball is written. */
  outFile: string;
}

/** Builds the agent payload tarball (GNU tar, which every Debian host also has to unpack it). */
export async function createAgentPayload(opts: CreatePayloadOptions): Promise<AgentPayload> {
  const stage = await mkdtemp(join(tmpdir(), 'vireo-payload-'));
  try {
    await cp(opts.agentDist, stage, { recursive: true });
    if (opts.nodeModules.link) await symlink(opts.nodeModules.path, join(stage, 'node_modules'));
    else await cp(opts.nodeModules.path, join(stage, 'node_modules'), { recursive: true });
    await promisify(execFile)('tar', ['-czf', opts.outFile, '--owner=0', '--group=0', '-C', stage, '.'], {
      timeout: 300_000,
    });
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
  return { tarball: opts.outFile, sha256: await sha256File(opts.outFile), entry: 'vireo-agent.js' };
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
