// The dashboard's build: `vite build --config web/vite.config.mjs` (npm run build:web) writes
// dist/web/, which the daemon serves at `/` when started with --http. Everything is bundled; the
// page loads nothing from elsewhere. `vite --config web/vite.config.mjs` serves it for development
// with /v1 and /graphql proxied to the daemon at SPACEDRIVE_HTTP (default 127.0.0.1:7780).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const daemon = `http://${process.env.SPACEDRIVE_HTTP ?? '127.0.0.1:7780'}`;

export default defineConfig({
  root: here,
  base: '/',
  plugins: [preact({ prefreshEnabled: false, devToolsEnabled: false })],
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
    target: 'es2022',
    assetsInlineLimit: 0,
  },
  server: {
    // The daemon accepts only its own Host and Origin (against DNS rebinding and cross-site
    // writes): the proxied requests say they are for it.
    proxy: Object.fromEntries(
      ['/v1', '/graphql'].map((path) => [
        path,
        {
          target: daemon,
          changeOrigin: true,
          ws: path === '/graphql',
          configure: (proxy) => proxy.on('proxyReq', (req) => req.getHeader('origin') && req.setHeader('origin', daemon)),
        },
      ]),
    ),
  },
});
