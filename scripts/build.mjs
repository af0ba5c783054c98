// Bundles each binary into one ESM file. Workspace packages are inlined from source;
// third-party packages stay external and load from node_modules at run time.
import { build } from 'esbuild';

const binaries = [
  { entry: 'packages/engine/src/main.ts', out: 'packages/engine/dist/vireo-engine.js' },
  { entry: 'packages/agent/src/main.ts', out: 'packages/agent/dist/vireo-agent.js' },
  { entry: 'packages/cli/src/main.ts', out: 'packages/cli/dist/vireo.js' },
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

const { existsSync } = await import('node:fs');
for (const { entry, out } of binaries) {
  if (!existsSync(entry)) continue;
  await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    sourcemap: true,
    conditions: ['vireo-source'],
    banner: { js: '#!/usr/bin/env node' },
    plugins: [externalizeThirdParty],
    logLevel: 'warning',
  });
  console.log(`built ${out}`);
}
