/**
 * Choosing where inference runs: WebGPU (when an adapter is there, and not a software one unless asked for) or WASM
 * with as many threads as cross-origin isolation allows. Pure functions plus one probe, so the choice is testable.
 */

/**
 * The high-performance WebGPU adapter, or why there is none: `{adapter}` or `{adapter: null, reason}`. The app's probe
 * and the bench's device report both start here, so they always describe the same adapter.
 */
export async function requestAdapter(gpu = globalThis.navigator?.gpu) {
  if (!gpu) return { adapter: null, reason: 'this browser has no WebGPU (navigator.gpu is missing)' };
  try {
    const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    return adapter ? { adapter } : { adapter: null, reason: 'no WebGPU adapter (GPU blocklisted or disabled)' };
  } catch (e) {
    return { adapter: null, reason: `requestAdapter failed: ${e.message}` };
  }
}

/** What the WebGPU adapter offers. `software` flags SwiftShader/fallback adapters (slower than WASM). */
export async function probeWebGPU(gpu = globalThis.navigator?.gpu) {
  const { adapter, reason } = await requestAdapter(gpu);
  if (!adapter) return { available: false, reason };
  const info = adapter.info || {};
  const description = [info.vendor, info.architecture, info.description].filter(Boolean).join(' ') || 'WebGPU adapter';
  const software =
    Boolean(info.isFallbackAdapter || adapter.isFallbackAdapter) ||
    /swiftshader|llvmpipe|software|microsoft basic/i.test(description);
  return { available: true, adapter: description, shaderF16: adapter.features.has('shader-f16'), software };
}

/**
 * The backend for a choice: 'wasm' and 'webgpu' are honoured when possible (WebGPU falls back to WASM with a notice),
 * 'auto' takes a hardware WebGPU adapter, else WASM.
 * @returns {{backend: 'webgpu'|'wasm', notice: string}}
 */
export function pickBackend(choice, probe) {
  if (choice === 'wasm') return { backend: 'wasm', notice: '' };
  if (choice === 'webgpu') {
    return probe.available
      ? { backend: 'webgpu', notice: '' }
      : { backend: 'wasm', notice: `WebGPU unavailable (${probe.reason}); running on WASM` };
  }
  if (probe.available && !probe.software) return { backend: 'webgpu', notice: '' };
  return {
    backend: 'wasm',
    notice: probe.available ? `WebGPU adapter is software (${probe.adapter}): WASM is faster` : '',
  };
}

/** WASM threads: multi-threading needs cross-origin isolation (SharedArrayBuffer); 0 = auto (all cores, at most 4). */
export function threadCount(requested, { isolated, cores }) {
  if (!isolated) return 1;
  if (requested > 0) return requested;
  return Math.max(1, Math.min(4, cores || 1));
}
