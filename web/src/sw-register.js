/**
 * Registers web/public/sw.js (it caches the app's files, listed by the build, when it installs, so one visit is enough
 * to work offline; model bytes are cached separately, by the inference worker; it adds the cross-origin isolation
 * headers on hosts that do not send them). When the page is not isolated and the worker has just taken control,
 * reload once so that multi-threaded WASM becomes available; a session flag prevents reload loops.
 */
export async function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext || import.meta.env.DEV) return null;
  try {
    const registration = await navigator.serviceWorker.register(new URL('sw.js', document.baseURI), { scope: './' });
    await navigator.serviceWorker.ready;
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
