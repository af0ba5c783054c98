import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// The portal is served by the engine at `/`; assets get content hashes so the engine can cache them
// for a year, and index.html is never cached.
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  plugins: [react()],
  resolve: {
    // Workspace packages are bundled from their TypeScript sources, as the binaries are.
    conditions: ['vireo-source', 'browser', 'module', 'import', 'default'],
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    // The strict CSP forbids inline scripts and styles: never inline assets as data: scripts.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1500,
    rollupOptions: {
      // @vireo/client loads undici only in Node (for a private CA); the browser never reaches it.
      external: ['undici'],
    },
  },
});
