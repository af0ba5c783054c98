// Builds the web portal (packages/web → packages/web/dist) with Vite and writes a `.br` and a `.gz`
// beside every compressible file, so the engine serves compressed assets without compressing per
// request. `node scripts/build-web.mjs` alone, or `node scripts/build.mjs web` (part of the default).
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const COMPRESSIBLE = /\.(js|mjs|css|html|svg|json|txt|map|ttf)$/;

async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else yield path;
  }
}

/** Runs `vite build` for packages/web and pre-compresses the output; returns the output directory. */
export async function buildWeb({ quiet = false } = {}) {
  const root = resolve(fileURLToPath(new URL('../packages/web', import.meta.url)));
  const { build } = await import('vite');
  await build({ root, configFile: join(root, 'vite.config.ts'), logLevel: quiet ? 'error' : 'warn' });
  const outDir = join(root, 'dist');
  let files = 0;
  for await (const path of walk(outDir)) {
    if (!COMPRESSIBLE.test(path)) continue;
    const data = await readFile(path);
    // Tiny files gain nothing and cost a second lookup.
    if ((await stat(path)).size < 512) continue;
    await writeFile(
      `${path}.br`,
      brotliCompressSync(data, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: 11,
          [constants.BROTLI_PARAM_SIZE_HINT]: data.length,
        },
      }),
    );
    await writeFile(`${path}.gz`, gzipSync(data, { level: 9 }));
    files++;
  }
  console.log(`built ${outDir} (${files} files pre-compressed)`);
  return outDir;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildWeb();
}
