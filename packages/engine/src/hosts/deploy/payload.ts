import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { cp, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
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
   * The `node_modules` the bundle's third-party imports resolve from. With `packages`, only those
   * packages and their dependencies (`dependencies`, installed `optionalDependencies`) are copied:
   * a self-contained payload for any host. With `link: true` a symbolic link is stored instead:
   * only valid when the host sees the engine's filesystem (the all-on-one-machine set-up).
   */
  nodeModules: { path: string; packages: string[] } | { path: string; link: true };
  /** Where the tarball is written. */
  outFile: string;
}

/** Builds the agent payload tarball (GNU tar, which every Debian host also has to unpack it). */
export async function createAgentPayload(opts: CreatePayloadOptions): Promise<AgentPayload> {
  const stage = await mkdtemp(join(tmpdir(), 'vireo-payload-'));
  try {
    await cp(opts.agentDist, stage, { recursive: true });
    if ('link' in opts.nodeModules) await symlink(opts.nodeModules.path, join(stage, 'node_modules'));
    else {
      for (const name of await dependencyClosure(opts.nodeModules.path, opts.nodeModules.packages)) {
        await cp(join(opts.nodeModules.path, name), join(stage, 'node_modules', name), {
          recursive: true,
          dereference: true,
        });
      }
    }
    await promisify(execFile)('tar', ['-czf', opts.outFile, '--owner=0', '--group=0', '-C', stage, '.'], {
      timeout: 300_000,
    });
  } finally {
    await rm(stage, { recursive: true, force: true });
  }
  return { tarball: opts.outFile, sha256: await sha256File(opts.outFile), entry: 'vireo-agent.js' };
}

/**
 * The third-party packages the agent bundle imports at run time: its package.json `dependencies`
 * minus the workspace packages (`@vireo/*`), which the bundler inlines.
 */
export function agentRuntimePackages(agentPackageJson: { dependencies?: Record<string, string> }): string[] {
  return Object.keys(agentPackageJson.dependencies ?? {}).filter((name) => !name.startsWith('@vireo/'));
}

/**
 * `roots` and everything they depend on, as top-level package names under `nodeModules` (npm's
 * hoisted layout; a package's own nested `node_modules` travels inside its directory). A missing
 * optional dependency is skipped; a missing required one is an error, caught here rather than by
 * the agent failing to start on the host.
 */
export async function dependencyClosure(nodeModules: string, roots: string[]): Promise<string[]> {
  const seen = new Set<string>();
  const queue = roots.map((name) => ({ name, optional: false }));
  while (queue.length > 0) {
    const next = queue.shift();
    if (!next || seen.has(next.name)) continue;
    let manifest: { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    try {
      manifest = JSON.parse(await readFile(join(nodeModules, next.name, 'package.json'), 'utf8'));
    } catch (err) {
      if (next.optional) continue;
      throw new Error(`the agent payload needs ${next.name}, which is not installed in ${nodeModules}`, {
        cause: err,
      });
    }
    seen.add(next.name);
    for (const dep of Object.keys(manifest.dependencies ?? {})) queue.push({ name: dep, optional: false });
    for (const dep of Object.keys(manifest.optionalDependencies ?? {}))
      queue.push({ name: dep, optional: true });
  }
  return [...seen].sort();
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
