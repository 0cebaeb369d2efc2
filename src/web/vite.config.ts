/**
 * Builds the web console: `vite build src/web` (scripts/setup runs `npm run build:web`) writes
 * src/web/dist, which the controller serves at /. `vite src/web` serves it for development,
 * passing the API through to a controller on DROVER_URL (default http://127.0.0.1:7700).
 */
import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

const controller = process.env.DROVER_URL ?? 'http://127.0.0.1:7700';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    // noVNC uses top-level await.
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 800,
  },
  server: { proxy: { '/api': { target: controller, ws: true } } },
});
