import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The portal's catch-all route: left out of the 404-or-405 decision (plugins/errors.ts). */
    portalFallback?: boolean;
  }
}

/**
 * The portal's Content-Security-Policy: only the engine's own scripts, styles, fonts and images
 * (PatternFly's CSS uses `data:` images), API calls and console WebSockets to the same origin (CSP
 * level 3 `'self'` covers `wss:` on the same host), never framed, no plugins, no `<base>`.
 */
export const PORTAL_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.ttf': 'font/ttf',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** Hashed build output (`index-BPFJ5VHG.js`): its content never changes under that name. */
const HASHED = /-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/;
const IMMUTABLE = 'public, max-age=31536000, immutable';

type Encoding = 'br' | 'gzip' | 'identity';

interface WebFile {
  type: string;
  etag: string;
  cacheControl: string;
  bodies: Partial<Record<Encoding, Buffer>>;
}

/**
 * The portal's files, read once at start: the build is a few MB, and serving from memory means a
 * rebuild on disk never mixes an old index.html with missing new assets in one running engine.
 */
export class WebBundle {
  readonly files = new Map<string, WebFile>();

  private constructor(readonly root: string) {}

  /** Loads `root` (the Vite output); undefined when there is no built portal there. */
  static load(root: string): WebBundle | undefined {
    if (!fs.existsSync(path.join(root, 'index.html'))) return undefined;
    const bundle = new WebBundle(root);
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(full);
        else if (entry.isFile() && !/\.(br|gz)$/.test(entry.name)) bundle.add(full);
      }
    };
    walk(root);
    return bundle;
  }

  private add(full: string) {
    const rel = `/${path.relative(this.root, full).split(path.sep).join('/')}`;
    const identity = fs.readFileSync(full);
    const bodies: WebFile['bodies'] = { identity };
    // Pre-compressed siblings written by scripts/build-web.mjs.
    for (const [enc, ext] of [
      ['br', '.br'],
      ['gzip', '.gz'],
    ] as const) {
      if (fs.existsSync(full + ext)) bodies[enc] = fs.readFileSync(full + ext);
    }
    const ext = path.extname(full).toLowerCase();
    this.files.set(rel, {
      type: TYPES[ext] ?? 'application/octet-stream',
      etag: `"${createHash('sha256').update(identity).digest('base64url').slice(0, 27)}"`,
      cacheControl: HASHED.test(rel) && rel.startsWith('/assets/') ? IMMUTABLE : 'no-cache',
      bodies,
    });
  }
}

/** Picks the best encoding the client accepts among those available (br, then gzip). */
export function negotiateEncoding(
  acceptEncoding: string | undefined,
  available: readonly Encoding[],
): Encoding {
  const q = new Map<string, number>();
  for (const part of (acceptEncoding ?? '').split(',')) {
    const [name, ...params] = part.trim().toLowerCase().split(';');
    if (!name) continue;
    const qp = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    const value = qp ? Number(qp.slice(2)) : 1;
    q.set(name, Number.isFinite(value) ? value : 0);
  }
  const weight = (enc: string) => q.get(enc) ?? q.get('*') ?? 0;
  for (const enc of ['br', 'gzip'] as const) {
    if (available.includes(enc) && weight(enc) > 0) return enc;
  }
  return 'identity';
}

/**
 * Where the built portal is by default: `packages/web/dist` of the tree the engine runs from —
 * beside the bundle (`packages/engine/dist/vireo-engine.js`) or the sources (tests, tsx).
 * `VIREO_WEB_ROOT` overrides it.
 */
export function resolveWebRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.VIREO_WEB_ROOT) return path.resolve(env.VIREO_WEB_ROOT);
  const here = path.dirname(fileURLToPath(import.meta.url));
  const candidates = [
    path.resolve(here, '../../web/dist'), // packages/engine/dist/vireo-engine.js
    path.resolve(here, '../../../../web/dist'), // packages/engine/src/http/plugins/web.ts
    path.resolve(here, 'web'), // an install that copied the portal next to the bundle
  ];
  return candidates.find((c) => fs.existsSync(path.join(c, 'index.html'))) ?? candidates[0]!;
}

const NOT_BUILT = (root: string) =>
  [
    'Vireo engine: the web portal is not built.',
    '',
    `No index.html in ${root}.`,
    'Build it with `npm run build` (or `node scripts/build.mjs web`) in the Vireo source tree,',
    'or point VIREO_WEB_ROOT at a built portal, then restart the engine.',
    '',
    'The REST API is at /api/v1 (documentation at /api/docs).',
    '',
  ].join('\n');

/**
 * Serves the portal at `/`: its files (long-cached when hashed, revalidated otherwise), brotli or
 * gzip when the client takes them, the portal's CSP, and index.html for every other non-API path
 * so the browser router can show deep links. Paths under `/api/` never fall back: they stay JSON
 * 404s. Without a built portal, `/` explains how to build it and the engine runs as usual.
 */
export function registerWeb(app: FastifyInstance, opts: { root: string }): void {
  const bundle = WebBundle.load(opts.root);
  if (!bundle) app.log.warn({ webRoot: opts.root }, 'the web portal is not built; / says how to build it');

  const send = (request: FastifyRequest, reply: FastifyReply, file: WebFile) => {
    const available = Object.keys(file.bodies) as Encoding[];
    reply.header('content-security-policy', PORTAL_CSP);
    reply.header('cache-control', file.cacheControl);
    reply.header('vary', 'accept-encoding');
    reply.header('etag', file.etag);
    reply.type(file.type);
    if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
    const enc = negotiateEncoding(request.headers['accept-encoding'], available);
    if (enc !== 'identity') reply.header('content-encoding', enc);
    return reply.send(file.bodies[enc]);
  };

  app.get(
    '/*',
    { config: { public: true, portalFallback: true }, schema: { hide: true } },
    async (request, reply) => {
      const urlPath = (request.url.split('?')[0] ?? '/').replace(/\/+$/, '') || '/';
      if (urlPath === '/api' || urlPath.startsWith('/api/')) return reply.callNotFound();
      if (!bundle) {
        reply.header('content-security-policy', "default-src 'none'; frame-ancestors 'none'");
        return reply.code(503).type('text/plain; charset=utf-8').send(NOT_BUILT(opts.root));
      }
      let decoded: string;
      try {
        decoded = decodeURIComponent(urlPath);
      } catch {
        return reply.callNotFound();
      }
      const file = bundle.files.get(decoded);
      if (file && decoded !== '/index.html') return send(request, reply, file);
      // A missing asset is a 404, not the HTML page (a script tag would otherwise parse HTML as JS).
      if (decoded.startsWith('/assets/') || /\.[a-z0-9]{1,8}$/i.test(decoded)) {
        return reply.code(404).type('text/plain; charset=utf-8').send('not found\n');
      }
      return send(request, reply, bundle.files.get('/index.html')!);
    },
  );
}
