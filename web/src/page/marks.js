/**
 * The page's start as User Timing marks (`performance.mark`, times in ms since navigation start,
 * `performance.timeOrigin`): cheap, visible in DevTools' performance panel, and what `npm run bench -- --first-mask`
 * reads. Each is marked once, when it first happens on the page (a model reloaded after a settings change does not
 * move them):
 *
 *   interactive    the page's script has run: controls wired, the inference worker started
 *   modelReady     the worker's `load` replied: manifest, graph bytes (Cache Storage when warm), the session of the
 *                  graph for the expected object count created and warmed up, the auto size measured (size-fit.js);
 *                  the click head is prepared later (page/model.js warmClickHead); detail: backend, threads, variant,
 *                  model input and the worker's timings
 *   sampleReady    the sample clip is open and frozen on its first frame with its own mask
 *   trackStart     Track pressed on a valid annotation (the annotate call is sent)
 *   annotated      the annotate call's result drawn (includes creating the graph of the annotation's object count when
 *                  load did not: detail.prepared); detail.timings: the worker's stages of the call (pre, infer, post)
 *   firstMask      the first tracked mask (a track call's prediction) drawn on the overlay; detail: frame index,
 *                  pixels per object, `sentAt` (when the frame went to the worker) and the worker's stages (timings)
 *
 * and two measures over them: `mobilevos:model-load` (interactive → modelReady) and `mobilevos:first-track`
 * (trackStart → firstMask). The inference worker's own marks of its load (worker-marks.js: worker started, script
 * evaluated, manifest, runtime, graph bytes, session, warm-up, ...) come with its ready reply and are marked here as
 * `mobilevos:worker:<name>` at the instants they happened (`markWorker`).
 */
import { onTimeline } from '../worker-marks.js';

export const MARKS = {
  interactive: 'mobilevos:interactive',
  modelReady: 'mobilevos:model-ready',
  sampleReady: 'mobilevos:sample-ready',
  trackStart: 'mobilevos:track-start',
  annotated: 'mobilevos:annotated',
  firstMask: 'mobilevos:first-mask',
};
/** The measures, by the mark that ends them: [name, start mark]. */
const MEASURES = {
  [MARKS.modelReady]: ['mobilevos:model-load', MARKS.interactive],
  [MARKS.firstMask]: ['mobilevos:first-track', MARKS.trackStart],
};

/** Mark `name` (one of MARKS) unless it was marked already; `detail` must be structured-cloneable; `startTime`: when
 * it happened, if not now. */
export function markOnce(name, detail = null, startTime = undefined) {
  if (performance.getEntriesByName(name, 'mark').length) return false;
  performance.mark(name, startTime === undefined ? { detail } : { detail, startTime });
  const [measure, start] = MEASURES[name] ?? [];
  if (measure && performance.getEntriesByName(start, 'mark').length) performance.measure(measure, start, name);
  return true;
}

/** The worker's marks of its load (its `ready` reply's `marks`: epoch ms) on the page's timeline, each once. */
export function markWorker(entries = []) {
  for (const { name, startTime, detail } of onTimeline(entries, performance.timeOrigin))
    markOnce(name, detail, startTime);
}
