/**
 * What the bench ran on: browser, CPU threads, memory, cross-origin isolation and the WebGPU adapter (adapter.info,
 * or requestAdapterInfo() on older browsers), so results from different machines can be told apart and compared.
 */

import { requestAdapter } from '../backend.js';

const LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
];

/** Plain-object copy of a GPUAdapterInfo (its fields are getters on the prototype). */
function adapterInfo(info) {
  const out = {};
  for (const key of [
    'vendor',
    'architecture',
    'device',
    'description',
    'subgroupMinSize',
    'subgroupMaxSize',
    'isFallbackAdapter',
  ])
    if (info && info[key] !== undefined) out[key] = info[key];
  return out;
}

/** WebGPU: the adapter the page would get, or why there is none. */
async function webgpuInfo(gpu = navigator.gpu) {
  const { adapter, reason } = await requestAdapter(gpu);
  if (!adapter) return { available: false, reason };
  let info = adapter.info;
  if (!info && typeof adapter.requestAdapterInfo === 'function')
    info = await adapter.requestAdapterInfo().catch(() => null);
  const limits = {};
  for (const k of LIMITS) if (adapter.limits?.[k] !== undefined) limits[k] = adapter.limits[k];
  const described = adapterInfo(info);
  return {
    available: true,
    ...described,
    isFallbackAdapter: Boolean(described.isFallbackAdapter || adapter.isFallbackAdapter),
    features: [...adapter.features].sort(),
    shaderF16: adapter.features.has('shader-f16'),
    limits,
  };
}

/** Everything about the machine and browser the bench can see from the page. */
export async function deviceInfo() {
  const nav = navigator;
  let uaData = null;
  if (nav.userAgentData?.getHighEntropyValues) {
    uaData = await nav.userAgentData
      .getHighEntropyValues(['platform', 'platformVersion', 'architecture', 'bitness', 'model', 'fullVersionList'])
      .catch(() => null);
  }
  return {
    userAgent: nav.userAgent,
    userAgentData: uaData,
    platform: uaData?.platform || nav.platform || '',
    hardwareConcurrency: nav.hardwareConcurrency ?? null,
    deviceMemoryGiB: nav.deviceMemory ?? null,
    crossOriginIsolated: Boolean(globalThis.crossOriginIsolated),
    sharedArrayBuffer: typeof SharedArrayBuffer !== 'undefined',
    wasmSimd: wasmSimd(),
    performanceMemory: Boolean(performance.memory),
    measureUserAgentSpecificMemory:
      typeof performance.measureUserAgentSpecificMemory === 'function' && Boolean(globalThis.crossOriginIsolated),
    devicePixelRatio: globalThis.devicePixelRatio ?? 1,
    webgpu: await webgpuInfo(),
  };
}

/** Does this engine validate a tiny WASM SIMD module (v128 const)? */
function wasmSimd() {
  try {
    return WebAssembly.validate(
      new Uint8Array([
        0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 11,
      ]),
    );
  } catch {
    return false;
  }
}

/** JS heap of this thread (performance.memory: Chromium; precise with --enable-precise-memory-info). */
export function heapNow() {
  const m = performance.memory;
  return m ? { used: m.usedJSHeapSize, total: m.totalJSHeapSize } : null;
}

/**
 * The whole page's memory (main thread, workers, WebAssembly) via performance.measureUserAgentSpecificMemory: only
 * when cross-origin isolated (null otherwise); the browser may answer late (at its next GC, unless Chromium runs with
 * --enable-blink-features=ForceEagerMeasureMemory), so this gives up after `timeoutMs` ({timedOut: true}).
 */
export async function measureAgentMemory(timeoutMs = 20000) {
  if (typeof performance.measureUserAgentSpecificMemory !== 'function' || !globalThis.crossOriginIsolated) return null;
  const timeout = new Promise((resolve) => setTimeout(() => resolve(null), timeoutMs));
  try {
    const result = await Promise.race([performance.measureUserAgentSpecificMemory(), timeout]);
    if (!result) return { timedOut: true };
    const byType = {};
    for (const b of result.breakdown) {
      const type = b.types.join('+') || 'other';
      byType[type] = (byType[type] || 0) + b.bytes;
    }
    return { bytes: result.bytes, byType };
  } catch (e) {
    return { error: e.message };
  }
}
