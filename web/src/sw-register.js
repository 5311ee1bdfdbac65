/**
 * Registers web/public/sw.js (app shell cache for offline use; adds the cross-origin isolation headers on hosts that
 * do not send them) and hands it the URLs this page has loaded so far, so one visit is enough to work offline (model
 * bytes are cached separately, by the worker). When the page is not isolated and the worker has just taken control,
 * reload once so that multi-threaded WASM becomes available; a session flag prevents reload loops.
 */
const ORT_FILES = ['ort-wasm-simd-threaded.jsep.mjs', 'ort-wasm-simd-threaded.jsep.wasm'];

export async function registerServiceWorker({ wasmBase }) {
  if (!('serviceWorker' in navigator) || !window.isSecureContext || import.meta.env.DEV) return null;
  try {
    const registration = await navigator.serviceWorker.register(new URL('sw.js', document.baseURI), { scope: './' });
    const ready = await navigator.serviceWorker.ready;
    const urls = new Set([location.href.split('#')[0], ...ORT_FILES.map((f) => new URL(f, wasmBase).href)]);
    for (const entry of performance.getEntriesByType('resource')) {
      const url = new URL(entry.name);
      if (url.origin === location.origin && !url.pathname.includes('/models/')) urls.add(url.href);
    }
    ready.active?.postMessage({ type: 'precache', urls: [...urls] });
    if (!window.crossOriginIsolated && !sessionStorage.getItem('mobilevos-coi-reload')) {
      sessionStorage.setItem('mobilevos-coi-reload', '1');
      if (navigator.serviceWorker.controller) location.reload();
      else navigator.serviceWorker.addEventListener('controllerchange', () => location.reload(), { once: true });
    }
    return registration;
  } catch (error) {
    console.warn('service worker not registered:', error);
    return null;
  }
}
