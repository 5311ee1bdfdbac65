/**
 * The typed message protocol between the page and the inference worker (after sam2's VideoWorkerTypes and the
 * transformers.js worker examples): requests carry an `action`, replies a `status`; both carry the `requestId` of the
 * request they answer (progress and errors included). Types are JSDoc so editors check them without a build step.
 *
 * @typedef {'auto'|'webgpu'|'wasm'} BackendChoice
 * @typedef {'auto'|'fp32'|'fp16'|'int8'} VariantChoice
 *
 * Requests (page -> worker):
 * @typedef {{action: 'load', requestId: number, modelBase: string, wasmBase: string, backend: BackendChoice,
 *            variant: VariantChoice, threads: number, debug?: boolean}} LoadRequest
 *     fetch manifest + graphs (cached, sha256-checked), pick backend and variant, create sessions, warm up
 * @typedef {{action: 'annotate', requestId: number, frame: ImageBitmap, labels: Uint8Array, width: number,
 *            height: number, numObjects: number, colors: number[][], index: number, time: number}} AnnotateRequest
 *     a frame at its native size and a label image of that size (0 background, 1..N objects); runs the graph's
 *     annotate call (memory reset). `index`: the frame's index in a video file, or a camera's capture index;
 *     `time`: its media time in seconds
 * @typedef {{action: 'step', requestId: number, frame: ImageBitmap, index: number, time: number,
 *            skipped?: {index: number, time: number}[]}} StepRequest
 *     one frame to track (native size, letterboxed into the model input); `skipped`: camera frames dropped since the
 *     last step, listed as not tracked. The frame bitmap comes back with the result (for synchronized drawing)
 * @typedef {{action: 'masks', requestId: number, kind: string, name: string, times: number[]|null,
 *            skipped?: {index: number, time: number}[]}} MasksRequest
 *     zip of the recorded masks (`<name>/00000.png`..., masks.json); `times`: a file's frame times, so that
 *     masks.json lists every frame of the video; `skipped`: camera frames dropped since the last step
 * @typedef {{action: 'reset'|'recording'|'stats', requestId: number}} SimpleRequest
 *     forget the annotation and recorded masks | recorded masks for tests | tracker stats
 * @typedef {{action: 'parity', requestId: number, capacities?: number[]}} ParityRequest
 *     tests and bench: replay the export's parity fixtures on this backend; replies rows of max |diff|
 *
 * Replies (worker -> page):
 * @typedef {{status: 'progress', requestId: number, message: string, loaded?: number, total?: number}} Progress
 * @typedef {{status: 'ready', requestId: number, backend: 'webgpu'|'wasm', variant: string, variantReason: string,
 *            threads: number, isolated: boolean, adapter: string|null, shaderF16: boolean, notice: string,
 *            model: object, timings: object}} Ready
 * @typedef {{status: 'annotated', requestId: number, capacity: number, frame: ImageBitmap, overlay: ImageBitmap,
 *            timings: object}} Annotated
 * @typedef {{status: 'result', requestId: number, index: number, time: number, frame: ImageBitmap,
 *            overlay: ImageBitmap, labels: Uint8Array, areas: number[], recorded: boolean,
 *            timings: {pre: number, infer: number, post: number}}} Result
 *     overlay and labels at the frame's native size; `recorded` false once the mask store is full
 * @typedef {{status: 'done', requestId: number, [key: string]: any}} Done
 * @typedef {{status: 'error', requestId: number, code: string, message: string}} ErrorReply
 *     codes: model-missing, model-corrupt, model-invalid, model-offline, no-backend, webgpu-unavailable,
 *     too-many-objects, not-annotated, internal
 */

/** An error as it crosses the worker boundary (Error objects lose their fields when cloned). */
export function errorReply(requestId, error) {
  return { status: 'error', requestId, code: error?.code || 'internal', message: String(error?.message || error) };
}
