/**
 * The typed message protocol between the page and the inference worker (after sam2's VideoWorkerTypes and the
 * transformers.js worker examples): requests carry an `action`, replies a `status`; both carry the `requestId` of the
 * request they answer (progress and errors included). Types are JSDoc so editors check them without a build step.
 * The bench's worker (bench/bench-worker.js) speaks it too: its own `load`, the same `annotate` and `step`, and the
 * bench-only actions listed at the end. Both workers serve with `serveRequests`, the page and the bench ask with
 * ui/worker-client.js.
 *
 * @typedef {'auto'|'webgpu'|'wasm'} BackendChoice
 * @typedef {'auto'|'fp32'|'fp16'|'int8'} VariantChoice
 *
 * Requests (page -> worker):
 * @typedef {{action: 'load', requestId: number, modelBase: string, wasmBase: string, backend: BackendChoice,
 *            variant: VariantChoice, threads: number, objects?: number, debug?: boolean}} LoadRequest
 *     fetch manifest + graphs (cached, sha256-checked), pick backend and variant, create the session of the graph
 *     for `objects` (the objects the page expects to annotate first; default 1), warm it up
 * @typedef {{action: 'annotate', requestId: number, frame: ImageBitmap, labels: Uint8Array, width: number,
 *            height: number, numObjects: number, index: number, time: number}} AnnotateRequest
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
 *     tests and bench: replay the export's parity fixtures on this backend; replies rows of max |diff| (`rows`, and
 *     `promptRows` for the prompt head's steps when the export has one)
 * @typedef {{action: 'offline', requestId: number}} OfflineRequest
 *     tests: wait until the graphs load did not read (the smallest capacity's, the click graphs) are written to the
 *     model cache for offline use; replies a Done with `cached`, the files written or found there
 * @typedef {{action: 'prepare-prompt', requestId: number}} PreparePromptRequest
 *     click to mask: create and warm up the prompt head (and the features' graph) now, not at load (the page asks
 *     when the Click tool is chosen or it is idle); replies a Done with `prompt` (false: the export has no head) and
 *     `ms`. `prompt-image` prepares it too when it was not
 * @typedef {{action: 'prompt-image', requestId: number, frame: ImageBitmap}} PromptImageRequest
 *     click to mask: encode a frozen frame (native size, letterboxed) once for its clicks; forgets the previous
 *     frame's prompts. Replies a Done with `encodeMs` (and `rgba`, the model input, with debug)
 * @typedef {{click: {x: number, y: number, positive: boolean}} | {box: {x0: number, y0: number, x1: number,
 *            y1: number}}} Prompt
 *     frame pixels; a box's bounds are inclusive
 * @typedef {{action: 'prompt', requestId: number, object: number, prompts: Prompt[]}} PromptRequest
 *     one object's mask from its prompts in order (each prediction feeds the next one's previous mask); replies a
 *     Done with `object`, `mask` (Uint8Array 0/1 at the frame's size), `width`, `height`, `ms` ({total, head, maps,
 *     post}) and, with debug, `prob` (the head's output at model size)
 *
 * Replies (worker -> page):
 * @typedef {{status: 'progress', requestId: number, message: string, loaded?: number, total?: number}} Progress
 * @typedef {{status: 'ready', requestId: number, backend: 'webgpu'|'wasm', variant: string, variantReason: string,
 *            threads: number, isolated: boolean, adapter: string|null, shaderF16: boolean, notice: string,
 *            model: object, timings: object}} Ready
 * @typedef {{status: 'annotated', requestId: number, capacity: number, prepared: object|null, frame: ImageBitmap,
 *            overlay: ImageBitmap, timings: object, model: object|null}} Annotated
 *     `prepared`: the timings of the capacity's graph ({sessionMs, warmupMs, stepMs}) when this call created it;
 *     `model`: Auto's input size for this annotation ({height, width, sizeReason}; null when a size was asked for)
 * @typedef {{status: 'result', requestId: number, index: number, time: number, frame: ImageBitmap,
 *            overlay: ImageBitmap, labels: Uint8Array, areas: number[], recorded: boolean,
 *            timings: {pre: number, infer: number, post: number, run: number}, model: object|null}} Result
 *     overlay and labels at the frame's native size; `recorded` false once the mask store is full; `model`: the
 *     input size Auto moved to after this frame ({height, width, sizeReason, carryMs}), else null
 * @typedef {{status: 'done', requestId: number, [key: string]: any}} Done
 * @typedef {{status: 'error', requestId: number, code: string, message: string}} ErrorReply
 *     codes: model-missing, model-corrupt, model-invalid, model-offline, no-backend, webgpu-unavailable,
 *     too-many-objects, not-annotated, no-prompt-head, internal
 *
 * Bench-only requests (bench/bench-worker.js), each answered by a Done:
 * @typedef {{action: 'load', requestId: number, modelBase: string, wasmBase: string, backend: 'webgpu'|'wasm',
 *            variant: string, threads: number, numObjects: number}} BenchLoadRequest
 *     exactly this configuration, no fallback: error code `skipped` when it cannot run here; replies `info`
 * @typedef {{action: 'probe', requestId: number, n: number, chain: number, runs: number}} ProbeRequest
 *     compute peak: a chain of n×n MatMuls on the same backend; replies `probe` (GFLOP/s)
 * @typedef {{action: 'labels', requestId: number, width: number, height: number}} LabelsRequest
 *     the last step's mask at another size, as the Python trackers resize it (for J&F; not a timed stage)
 * @typedef {{action: 'sample'|'release', requestId: number, gc?: boolean}} BenchSimpleRequest
 *     memory sample (the tracker's bank, the worker's heap) | release the sessions
 */

/** An error as it crosses the worker boundary (Error objects lose their fields when cloned). */
export function errorReply(requestId, error) {
  return { status: 'error', requestId, code: error?.code || 'internal', message: String(error?.message || error) };
}

/**
 * The worker's side: runs each request through `actions[request.action](request, reply)`, one at a time and in order
 * (a step must see the memory the previous step left). `reply(body, transfer)` posts `{status: 'done', requestId,
 * ...body}`; an action may reply more than once (progress) and go on working after its reply. A throw becomes the
 * ErrorReply, and a frame the request carried is closed.
 */
export function serveRequests(actions) {
  let queue = Promise.resolve();
  self.onmessage = ({ data: request }) => {
    queue = queue.then(() => serve(actions, request));
  };
}

async function serve(actions, request) {
  const reply = (body = {}, transfer = []) =>
    self.postMessage({ status: 'done', requestId: request.requestId, ...body }, transfer);
  try {
    if (!Object.hasOwn(actions, request.action)) {
      throw Object.assign(new Error(`unknown action ${request.action}`), { code: 'internal' });
    }
    await actions[request.action](request, reply);
  } catch (error) {
    if (typeof request.frame?.close === 'function') request.frame.close();
    self.postMessage(errorReply(request.requestId, error));
  }
}
