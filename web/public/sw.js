/**
 * MobileVOS service worker (our own, small):
 *  1. offline: on install it caches every file of the app listed in precache.json (written by the build: HTML,
 *     scripts including the inference worker's, styles, onnxruntime-web's runtime, the sample clip), so one visit is
 *     enough to work offline; it also keeps a copy of the same-origin GETs it serves, and answers from Cache Storage
 *     when the network fails. Content-hashed assets and the runtime are served cache-first, everything else
 *     network-first. Model graphs are cached by the inference worker itself (sha256-checked), so they pass through
 *     here untouched.
 *  2. cross-origin isolation: adds COOP/COEP/CORP headers to the responses it serves, so that multi-threaded WASM works
 *     on static hosts that cannot send those headers.
 */
const CACHE = 'mobilevos-shell-v2';
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      await precacheBuild();
      await self.skipWaiting();
    })(),
  );
});

// The build's file list; missing (a dev server) means nothing to precache. A listed file that cannot be fetched
// fails the install, so a broken build is never half-cached; the page keeps working online and reports it.
async function precacheBuild() {
  const listing = await fetch('precache.json', { cache: 'no-cache' });
  if (listing.status === 404) return;
  if (!listing.ok) throw new Error(`precache.json: HTTP ${listing.status}`);
  const cache = await caches.open(CACHE);
  await cache.addAll((await listing.json()).map((file) => new Request(file, { cache: 'no-cache' })));
}
self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys())
        if (name.startsWith('mobilevos-shell-') && name !== CACHE) await caches.delete(name);
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== 'GET' || url.origin !== self.location.origin) return;
  if (request.cache === 'only-if-cached' && request.mode !== 'same-origin') return;
  if (/\/models\//.test(url.pathname)) return; // the worker caches model files itself
  const immutable = /\/assets\/|\/ort\//.test(url.pathname);
  event.respondWith(immutable ? cacheFirst(request) : networkFirst(request));
});

async function cacheFirst(request) {
  const cached = await caches.match(request, { ignoreVary: true });
  if (cached) return isolate(cached);
  return networkFirst(request);
}

async function networkFirst(request) {
  try {
    const response = await fetch(request);
    if (response.status === 200 && response.type === 'basic' && !request.headers.has('range')) {
      const copy = response.clone();
      caches
        .open(CACHE)
        .then((cache) => cache.put(request, copy))
        .catch((error) => console.warn(`service worker: could not cache ${request.url}:`, error));
    }
    return isolate(response);
  } catch (error) {
    const cached = await caches.match(request, { ignoreVary: true, ignoreSearch: request.mode === 'navigate' });
    if (cached) return isolate(cached);
    throw error;
  }
}

function isolate(response) {
  if (response.status === 0 || response.type === 'opaque') return response;
  const headers = new Headers(response.headers);
  for (const [k, v] of Object.entries(ISOLATION)) headers.set(k, v);
  return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
}
