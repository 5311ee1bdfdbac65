/**
 * MobileVOS service worker (our own, small):
 *  1. offline: keeps a copy of every same-origin GET it serves (app shell, assets, onnxruntime-web's files) in Cache
 *     Storage and answers from it when the network fails. Content-hashed assets and the runtime are served cache-first,
 *     everything else network-first. Model graphs are cached by the inference worker itself (sha256-checked), so they
 *     pass through here untouched.
 *  2. cross-origin isolation: adds COOP/COEP/CORP headers to the responses it serves, so that multi-threaded WASM works
 *     on static hosts that cannot send those headers.
 */
const CACHE = 'mobilevos-shell-v1';
const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name.startsWith('mobilevos-shell-') && name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

// The page sends the URLs it loaded before this worker controlled it (sw-register.js).
self.addEventListener('message', (event) => {
  if (event.data?.type !== 'precache') return;
  event.waitUntil((async () => {
    const cache = await caches.open(CACHE);
    for (const url of event.data.urls) {
      if (new URL(url).origin !== self.location.origin || await cache.match(url, { ignoreVary: true })) continue;
      try {
        const response = await fetch(url, { cache: 'no-cache' });
        if (response.ok) await cache.put(url, response);
      } catch { /* offline already: nothing to add */ }
    }
  })());
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
      caches.open(CACHE).then((cache) => cache.put(request, copy)).catch(() => {});
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
