/**
 * onnxruntime-web's build for a backend. WASM gets the WASM-only build (its runtime 14 MB against 28 MB): it starts
 * several hundred milliseconds sooner on the way to the first mask and tracks at the same speed (measured in the app's
 * first-mask bench and the FPS bench). WebGPU needs the JSEP build, which also runs WASM, so a WebGPU load that falls
 * back to WASM keeps the module it has. The bundler makes each build its own chunk, fetched only when imported.
 */
export function importRuntime(backend) {
  return backend === 'wasm' ? import('onnxruntime-web/wasm') : import('onnxruntime-web');
}
