/**
 * Vite config for the static site: `npm run dev` (dev server), `npm run build` (-> web/dist, servable by any static
 * host), `npm start` (build + preview on 127.0.0.1). Two pages: the app (index.html) and the bench (bench.html, which
 * also needs Pyodide's runtime, served from ./pyodide/). Both servers send the cross-origin isolation headers that
 * multi-threaded WASM needs; on hosts that cannot, web/public/sw.js adds them (see web/README.md).
 *
 * Environment: MOBILEVOS_MODELS=DIR serves DIR as the default model's folder (models/student/, shipped-models.js)
 * instead of the exported one in web/public/models/ (e.g. the
 * test export of scripts/make_dev_models.sh); PORT sets the port.
 */
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { DEFAULT_MODEL } from './src/shipped-models.js';

const WEB = dirname(fileURLToPath(import.meta.url));
const ORT_DIST = resolve(WEB, '../node_modules/onnxruntime-web/dist');
// Two builds, loaded from ./ort/ by onnxruntime-web (web/src/runtime.js picks one per backend): the WASM-only one
// (SIMD, threads) and the JSEP one (WASM and WebGPU in one binary, twice the size).
const ORT_FILES = [
  'ort-wasm-simd-threaded.mjs',
  'ort-wasm-simd-threaded.wasm',
  'ort-wasm-simd-threaded.jsep.mjs',
  'ort-wasm-simd-threaded.jsep.wasm',
];
// Pyodide (the bench page scores masks with py/mobilevos/eval/metrics_core.py in it): the core runtime only, no packages.
const PYODIDE_DIST = resolve(WEB, '../node_modules/pyodide');
const PYODIDE_FILES = ['pyodide.mjs', 'pyodide.asm.mjs', 'pyodide.asm.wasm', 'python_stdlib.zip', 'pyodide-lock.json'];
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};
const TYPES = {
  '.mjs': 'text/javascript',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.json': 'application/json',
  '.zip': 'application/zip',
  '.onnx': 'application/octet-stream',
  '.png': 'image/png',
  '.bin': 'application/octet-stream',
};

/** Serve `prefix` + relative path from `root` (no directory escapes). */
function serveFolder(prefix, root, only = null) {
  return (req, res, next) => {
    const path = decodeURIComponent((req.url || '').split('?')[0]);
    const at = path.indexOf(prefix);
    if (at < 0) return next();
    const rel = path.slice(at + prefix.length);
    if (only && !only.includes(rel)) return next();
    const file = normalize(join(root, rel));
    if (!file.startsWith(root + sep) || !existsSync(file) || !statSync(file).isFile()) return next();
    res.setHeader('Content-Type', TYPES[extname(file)] || 'application/octet-stream');
    res.setHeader('Content-Length', statSync(file).size);
    for (const [k, v] of Object.entries(ISOLATION)) res.setHeader(k, v);
    createReadStream(file).pipe(res);
  };
}

/** onnxruntime-web's runtime files, served from node_modules in dev and copied into dist/ort/ by the build. */
function ortRuntime() {
  return {
    name: 'mobilevos-ort-runtime',
    configureServer(server) {
      server.middlewares.use(serveFolder('/ort/', ORT_DIST, ORT_FILES));
    },
    async generateBundle() {
      for (const name of ORT_FILES) {
        this.emitFile({ type: 'asset', fileName: `ort/${name}`, source: await readFile(join(ORT_DIST, name)) });
      }
    },
  };
}

/** Pyodide's runtime for the bench page: served from node_modules in dev, copied into dist/pyodide/ by the build. */
function pyodideRuntime() {
  return {
    name: 'mobilevos-pyodide-runtime',
    configureServer(server) {
      server.middlewares.use(serveFolder('/pyodide/', PYODIDE_DIST, PYODIDE_FILES));
    },
    async generateBundle() {
      for (const name of PYODIDE_FILES) {
        this.emitFile({ type: 'asset', fileName: `pyodide/${name}`, source: await readFile(join(PYODIDE_DIST, name)) });
      }
    },
  };
}

/**
 * dist/precache.json: every file the app page needs offline (its HTML, scripts, styles, onnxruntime-web's runtime, the
 * sample clip), which the service worker caches when it installs. A list made at build time, rather than the resource
 * timings the page saw, also covers files the page never loaded itself (the inference worker's script and what it
 * imports). The bench page and Pyodide are left out; the models are not part of the bundle (they are public files,
 * cached by the inference worker with their sha256 checked against the manifest).
 */
function precacheManifest() {
  const offline = (name) => !/^(bench\.html|assets\/bench[-.]|pyodide\/)/.test(name);
  return {
    name: 'mobilevos-precache-manifest',
    enforce: 'post',
    generateBundle(_, bundle) {
      const sample = readdirSync(join(WEB, 'public/sample')).map((f) => `sample/${f}`);
      const files = ['./', ...Object.keys(bundle).filter(offline), ...sample].sort();
      this.emitFile({ type: 'asset', fileName: 'precache.json', source: `${JSON.stringify(files, null, 1)}\n` });
    },
  };
}

/** MOBILEVOS_MODELS=DIR: serve DIR at the default model's folder (dev and preview), ahead of the public folder. */
function modelsFolder() {
  const dir = process.env.MOBILEVOS_MODELS && resolve(process.env.MOBILEVOS_MODELS);
  const use = (server) => {
    if (dir) server.middlewares.use(serveFolder(`/models/${DEFAULT_MODEL}/`, dir));
  };
  return { name: 'mobilevos-models-folder', configureServer: use, configurePreviewServer: use };
}

const port = Number(process.env.PORT) || undefined;

export default defineConfig({
  root: WEB,
  base: './',
  publicDir: 'public',
  resolve: {
    // The non-bundled build: it imports its WASM glue from env.wasm.wasmPaths (./ort/), so the glue runs as its own
    // module and its pthread workers start from that file, not from our bundle.
    alias: [
      { find: /^onnxruntime-web$/, replacement: join(ORT_DIST, 'ort.min.mjs') },
      { find: /^onnxruntime-web\/wasm$/, replacement: join(ORT_DIST, 'ort.wasm.min.mjs') },
    ],
  },
  optimizeDeps: { exclude: ['onnxruntime-web'] },
  worker: { format: 'es' },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 1024,
    // Two pages: the app and the bench (web/bench.html, web/src/bench/).
    rollupOptions: { input: { main: resolve(WEB, 'index.html'), bench: resolve(WEB, 'bench.html') } },
  },
  server: { host: '127.0.0.1', port: port ?? 5173, strictPort: false, headers: ISOLATION },
  preview: { host: '127.0.0.1', port: port ?? 4173, strictPort: false, headers: ISOLATION },
  plugins: [ortRuntime(), pyodideRuntime(), modelsFolder(), precacheManifest()],
});
