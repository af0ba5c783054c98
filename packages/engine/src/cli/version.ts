import pkg from '../../package.json' with { type: 'json' };

/** The engine's version (packages/engine/package.json), inlined into the bundle at build time. */
export const ENGINE_VERSION: string = pkg.version;
