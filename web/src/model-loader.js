/**
 * Fetching the manifest and graph bytes: Cache Storage first (works offline once loaded), every file checked against
 * the size and sha256 the manifest records. Errors carry a `code` the UI turns into a message:
 * 'model-missing' (HTTP 404 / no manifest), 'model-corrupt' (size or sha256 mismatch), 'model-invalid' (bad
 * manifest), 'model-offline' (network down and nothing cached).
 */
import { ManifestError, promptGraphs, validateManifest } from './manifest.js';

/** The Cache Storage cache of the graphs' bytes (tests look into it by this name). */
export const MODEL_CACHE = 'mobilevos-models-v1';

class ModelError extends Error {
  constructor(message, code) {
    super(message);
    this.name = 'ModelError';
    this.code = code;
  }
}

const cacheStorage = () => (typeof caches !== 'undefined' ? caches : null);

/** A 404, or an HTML page served instead of the file (hosts that answer unknown paths with index.html). */
const missing = (response) => !response.ok || /text\/html/.test(response.headers.get('content-type') || '');

/** Hex sha256 of bytes (WebCrypto: browsers in secure contexts, workers, node). */
export async function sha256Hex(bytes) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Fetch and validate manifest.json from `baseUrl` (network first, the cached copy when offline). */
export async function fetchManifest(baseUrl, { fetchFn = fetch } = {}) {
  const url = new URL('manifest.json', baseUrl).href;
  const store = cacheStorage() && (await caches.open(MODEL_CACHE));
  let text;
  try {
    const response = await fetchFn(url, { cache: 'no-cache' });
    if (missing(response)) {
      throw new ModelError(
        `no model manifest at ${url} (HTTP ${response.status}): export the model with ` +
          '`python -m export --checkpoint models/NAME.safetensors --out web/public/models/NAME`',
        'model-missing',
      );
    }
    text = await response.text();
    if (store) await store.put(url, new Response(text, { headers: { 'content-type': 'application/json' } }));
  } catch (e) {
    const cached = store && (await store.match(url));
    if (!cached) {
      if (e instanceof ModelError) throw e;
      throw new ModelError(`cannot fetch ${url} (${e.message}) and no copy is cached`, 'model-offline');
    }
    text = await cached.text();
  }
  let manifest;
  try {
    manifest = JSON.parse(text);
  } catch (e) {
    throw new ModelError(`${url} is not valid JSON (${e.message})`, 'model-invalid');
  }
  try {
    return validateManifest(manifest);
  } catch (e) {
    if (e instanceof ManifestError) throw new ModelError(`${url}: ${e.message}`, 'model-invalid');
    throw e;
  }
}

/** Does `bytes` match the graph's recorded size and sha256? Returns a reason string, or '' when it does. */
export async function checkGraphBytes(graph, bytes) {
  if (bytes.byteLength !== graph.bytes)
    return `${graph.file} is ${bytes.byteLength} bytes, the manifest says ${graph.bytes}`;
  const digest = await sha256Hex(bytes);
  if (digest !== graph.sha256)
    return `${graph.file}: sha256 ${digest.slice(0, 12)}… does not match the manifest's ${graph.sha256.slice(0, 12)}…`;
  return '';
}

/** A graph's key in MODEL_CACHE: its URL under `baseUrl` and its sha256, so that a new export is fetched anew. */
export const cacheKey = (baseUrl, graph) => `${new URL(graph.file, baseUrl).href}?sha256=${graph.sha256}`;

// Loads in progress by cache key. Two callers may want one graph at once (the click head: prepared when the page is
// idle, and cached for offline use after load); they share one download and one cache write, because a second write
// of the same key replaces the entry, and a page closed during that write would leave the graph uncached.
const inFlight = new Map();

/**
 * The bytes of one graph, checked. Cached copies are keyed by URL and sha256, so a new export is fetched anew; a cached
 * copy that fails the check is dropped and fetched again. `onProgress(loaded, total)` follows the download; a caller
 * that joins a load already under way hears only its end, and gets its own copy of the bytes.
 */
export async function loadGraph(baseUrl, graph, { fetchFn = fetch, onProgress = () => {} } = {}) {
  const key = cacheKey(baseUrl, graph);
  const pending = inFlight.get(key);
  if (pending) {
    const bytes = (await pending).slice();
    onProgress(graph.bytes, graph.bytes, false);
    return bytes;
  }
  const load = readOrFetchGraph(baseUrl, graph, key, fetchFn, onProgress);
  inFlight.set(key, load);
  try {
    return await load;
  } finally {
    inFlight.delete(key);
  }
}

async function readOrFetchGraph(baseUrl, graph, key, fetchFn, onProgress) {
  const url = new URL(graph.file, baseUrl).href;
  const store = cacheStorage() && (await caches.open(MODEL_CACHE));
  if (store) {
    const cached = await store.match(key);
    if (cached) {
      const bytes = new Uint8Array(await cached.arrayBuffer());
      if (!(await checkGraphBytes(graph, bytes))) {
        onProgress(graph.bytes, graph.bytes, true);
        return bytes;
      }
      await store.delete(key);
    }
  }
  let response;
  try {
    response = await fetchFn(url);
  } catch (e) {
    throw new ModelError(`cannot fetch ${url} (${e.message}) and it is not cached`, 'model-offline');
  }
  if (missing(response)) {
    throw new ModelError(
      `model file ${graph.file} is missing (HTTP ${response.status} for ${url}): re-run ` + '`python -m export`',
      'model-missing',
    );
  }
  const bytes = await readWithProgress(response, graph.bytes, onProgress);
  const problem = await checkGraphBytes(graph, bytes);
  if (problem) throw new ModelError(`model file is corrupt: ${problem}; re-run \`python -m export\``, 'model-corrupt');
  if (store) await store.put(key, new Response(bytes, { headers: { 'content-type': 'application/octet-stream' } }));
  return bytes;
}

/**
 * A graph the page does not need yet (the smallest capacity's when load made another, the click head's) put in the
 * model cache for offline use, as loadGraph would (fetched, checked), without reading it when it is there already.
 * Resolves once the entry is written; true when it was cached already (or there is no Cache Storage: nothing to do).
 */
export async function cacheGraph(baseUrl, graph, { fetchFn = fetch } = {}) {
  const key = cacheKey(baseUrl, graph);
  const store = cacheStorage() && (await caches.open(MODEL_CACHE));
  const cached = store && (await store.match(key));
  // Chromium shows an entry while its write is still under way (and drops it if the page closes then): a load of
  // this graph in flight is waited for, so that resolving means written.
  const pending = inFlight.get(key);
  if (pending) {
    await pending;
    return false;
  }
  if (!store || cached) return true;
  await loadGraph(baseUrl, graph, { fetchFn });
  return false;
}

async function readWithProgress(response, expected, onProgress) {
  if (!response.body || !response.body.getReader) return new Uint8Array(await response.arrayBuffer());
  const reader = response.body.getReader();
  const chunks = [];
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress(loaded, expected, false);
  }
  const bytes = new Uint8Array(loaded);
  let o = 0;
  for (const c of chunks) {
    bytes.set(c, o);
    o += c.length;
  }
  return bytes;
}

/** Remove cached graphs (the click graphs included) that the current manifest no longer lists (older exports). */
export async function pruneCache(baseUrl, manifest) {
  const store = cacheStorage() && (await caches.open(MODEL_CACHE));
  if (!store) return 0;
  const files = [...manifest.graphs, ...promptGraphs(manifest)];
  const keep = new Set(files.map((g) => cacheKey(baseUrl, g)));
  keep.add(new URL('manifest.json', baseUrl).href);
  let removed = 0;
  for (const request of await store.keys()) {
    if (request.url.startsWith(new URL('.', baseUrl).href) && !keep.has(request.url)) {
      await store.delete(request);
      removed += 1;
    }
  }
  return removed;
}
