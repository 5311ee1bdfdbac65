/**
 * The inference worker's start, marked inside the worker: where the time between the page's interactive and model
 * ready marks goes. Each step is a `performance.mark('mobilevos:worker:<name>')` in the worker (DevTools shows it on
 * the worker's thread) and travels to the page with the `ready` reply, which marks it again on the page's own timeline
 * at the same instant (page/marks.js `markWorker`), where `npm run bench -- --first-mask` reads it. Times cross the
 * thread as epoch ms (performance.timeOrigin + performance.now()): the worker's clock starts when the worker is
 * created, the page's at navigation start.
 */

/** The worker's marks in the order a load passes them (some may run side by side), each with what it ends. */
export const WORKER_MARKS = [
  ['started', 'worker created (its clock starts)'],
  ['script', 'worker script evaluated'],
  ['load', 'load request taken'],
  ['backend', 'backend picked'],
  ['manifest', 'manifest fetched and validated'],
  ['runtime', "onnxruntime-web's build for the backend imported, its WASM runtime started"],
  ['graph', 'graph bytes read and sha256-checked'],
  ['session', 'session created'],
  ['warm-up', 'session warmed up (an annotate call, one to three track calls)'],
  ['size', 'model size chosen'],
  ['ready', 'ready sent'],
];

export const WORKER_MARK_PREFIX = 'mobilevos:worker:';

/** Records the worker's marks; `take()` hands them over (epoch ms) and starts a new list. */
export class WorkerMarks {
  constructor(perf = performance) {
    this.perf = perf;
    this.entries = [{ name: 'started', at: perf.timeOrigin, detail: null }];
  }

  /** Mark `name` now (in the worker's timeline too); `detail` must be structured-cloneable. */
  mark(name, detail = null) {
    this.perf.mark(WORKER_MARK_PREFIX + name, { detail });
    this.entries.push({ name, at: this.perf.timeOrigin + this.perf.now(), detail });
  }

  take() {
    const entries = this.entries;
    this.entries = [];
    return entries;
  }
}

/** The worker's entries ({name, at} epoch ms) as marks of a timeline whose origin is `timeOrigin` (epoch ms). */
export function onTimeline(entries, timeOrigin) {
  return entries.map(({ name, at, detail = null }) => ({
    name: WORKER_MARK_PREFIX + name,
    startTime: at - timeOrigin,
    detail,
  }));
}
