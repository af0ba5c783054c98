// Bundles each binary into ESM. Workspace packages are inlined from source; third-party packages
// stay external and load from node_modules at run time.
// `node scripts/build.mjs [engine|agent|cli|web …]` builds the named binaries and the web portal
// (default: all).
import { chmod, readdir, readFile, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import { existsSync } from 'node:fs';
import { build } from 'esbuild';

// The agent's Node flags (cut its resident memory by ~20 MiB; see RECOMMENDED_NODE_FLAGS in
// packages/agent/src/cli/serve.ts, which is the source of truth) go into its shebang, so the
// executable bundle runs with them without a wrapper. Debian 12's env (coreutils 9.1) has -S.
async function agentNodeFlags() {
  const source = await readFile('packages/agent/src/cli/serve.ts', 'utf8');
  const match = /RECOMMENDED_NODE_FLAGS = \[([^\]]*)\]/.exec(source);
  if (!match) throw new Error('RECOMMENDED_NODE_FLAGS not found in packages/agent/src/cli/serve.ts');
  const flags = [...match[1].matchAll(/'([^']+)'/g)].map((m) => m[1]);
  if (flags.some((f) => !/^--[a-z0-9-]+(=[a-z0-9]+)?$/.test(f))) throw new Error(`odd Node flag in ${flags}`);
  return flags;
}

const binaries = [
  { name: 'engine', entry: 'packages/engine/src/main.ts', dir: 'packages/engine/dist', file: 'vireo-engine' },
  {
    name: 'agent',
    entry: 'packages/agent/src/main.ts',
    dir: 'packages/agent/dist',
    file: 'vireo-agent',
    nodeFlags: await agentNodeFlags(),
    // Code only some commands need (dev-ca's certificate library) goes into chunks loaded on
    // demand, so `serve` does not keep it resident.
    splitting: true,
  },
  { name: 'cli', entry: 'packages/cli/src/main.ts', dir: 'packages/cli/dist', file: 'vireo' },
];

const externalizeThirdParty = {
  name: 'externalize-third-party',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) => {
      if (args.path.startsWith('@vireo/')) return undefined;
      return { path: args.path, external: true };
    });
  },
};

const wanted = process.argv.slice(2);
for (const name of wanted) {
  if (name !== 'web' && !binaries.some((b) => b.name === name)) throw new Error(`unknown binary "${name}"`);
}
for (const { name, entry, dir, file, nodeFlags, splitting } of binaries) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  if (!existsSync(entry)) continue;
  const shebang = nodeFlags ? `#!/usr/bin/env -S node ${nodeFlags.join(' ')}` : '#!/usr/bin/env node';
  const out = `${dir}/${file}.js`;
  const result = await build({
    metafile: true,
    entryPoints: { [file]: entry },
    outdir: dir,
    splitting: splitting ?? false,
    chunkNames: 'chunks/[name]-[hash]',
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    conditions: ['vireo-source'],
    // The banner goes on chunks too; there it is only a comment line Node skips.
    banner: { js: shebang },
    plugins: [externalizeThirdParty],
    logLevel: 'warning',
  });
  await chmod(out, 0o755);
  if (splitting) {
    // Chunk names carry content hashes: drop earlier builds' chunks, or they pile up (and get
    // deployed). Only after the new ones are written, so a running agent never misses one.
    const written = new Set(Object.keys(result.metafile.outputs).map((o) => resolve(o)));
    for (const name of await readdir(`${dir}/chunks`)) {
      const path = resolve(dir, 'chunks', name);
      if (!written.has(path)) await rm(path, { force: true });
    }
  }
  console.log(`built ${out}`);
}

// The web portal (packages/web/dist, served by the engine at /): Vite, pre-compressed.
if (wanted.length === 0 || wanted.includes('web')) {
  const { buildWeb } = await import('./build-web.mjs');
  await buildWeb();
}
