/**
 * Tracking: the annotate call, then every frame of a file in order (up to `depth` in the worker at once) or the
 * camera's frames as they come (dropped while the worker is full); results drawn as they arrive; pause and stop.
 */
import { FrameLoop } from '../ui/frame-loop.js';
import { Banner } from '../ui/messages.js';
import { MARKS, markOnce } from './marks.js';
import { showModelSize } from './model.js';
import { config } from './settings.js';
import { annotator, app, banner, stats, video, view, viewCtx } from './state.js';
import { renderStats, setMode, setStatus, showFileProgress } from './view.js';

const loop = new FrameLoop(video, onVideoFrame);

/** Track button: annotate the frozen frame and start tracking, or resume a paused track. */
export async function track() {
  if (app.mode === 'paused') return resumeTracking();
  if (app.mode !== 'annotating' || !app.ready) return;
  const areas = annotator.areas(app.objects.length);
  const empty = areas.findIndex((a) => a === 0);
  if (!areas.length || empty >= 0) {
    return banner.show('empty-annotation', {
      kind: 'warn',
      detail: areas.length > 1 && empty >= 0 ? `Object ${empty + 1} has no pixels: draw it or remove it.` : '',
    });
  }
  if (banner.code !== 'mask-scaled') banner.hide();
  markOnce(MARKS.trackStart, { objects: app.objects.length });
  setStatus('annotating…');
  const { index, time } = app.frozen;
  try {
    // everything that can fail ends in the banner: the page never stays in 'annotating…' without a word
    const bitmap = await createImageBitmap(app.frozen.bitmap);
    const reply = await app.worker.request(
      'annotate',
      {
        frame: bitmap,
        labels: annotator.labels.slice(),
        width: annotator.width,
        height: annotator.height,
        numObjects: app.objects.length,
        index,
        time,
      },
      [bitmap],
    );
    if (reply.model) showModelSize(reply.model);
    drawResult(reply.frame, reply.overlay, { index, time, labels: annotator.labels.slice() });
    markOnce(MARKS.annotated, { capacity: reply.capacity, prepared: reply.prepared ?? null, timings: reply.timings });
  } catch (error) {
    setStatus('');
    return banner.show(failureCode(error), { detail: error.message });
  }
  setStatus('');
  app.trackedObjects = app.objects.length;
  app.next = index + 1;
  startTracking();
}

/** The banner for a failed annotate or track call: the worker's own code where it has a message, else generic. */
function failureCode(error) {
  return Banner.knows(error.code) ? error.code : 'tracking-failed';
}

/** Track from `app.next` (a file) or the camera's next frame. */
export function startTracking() {
  stats.resume();
  setMode('tracking');
  if (app.file) trackFile();
  else loop.start();
}

/**
 * A file: decode and track every frame from `app.next` to the end, in order, with up to `config.depth` frames in the
 * worker at a time; ends at the last frame, on a pause or re-annotation (a new pass), or with a message on an error.
 */
async function trackFile() {
  const { file } = app;
  const run = ++app.run;
  const current = () => app.mode === 'tracking' && run === app.run && file === app.file;
  const pending = new Set();
  showFileProgress(app.next - 1);
  try {
    if (app.next < file.count) {
      for await (const frame of file.frames(app.next)) {
        if (!current()) {
          frame.bitmap.close();
          break;
        }
        const done = sendStep(frame.bitmap, frame.index, frame.time);
        pending.add(done);
        done.finally(() => pending.delete(done));
        app.next = frame.index + 1;
        if (pending.size >= config.depth) await Promise.race(pending);
      }
    }
    await Promise.all(pending);
  } catch (error) {
    if (!current()) return;
    pauseTracking();
    return banner.show(error.code === 'video-unreadable' ? error.code : failureCode(error), {
      detail: `Tracking stopped at frame ${app.next}: ${error.message}`,
    });
  }
  if (current() && app.next >= file.count) {
    pauseTracking(
      `Done: every frame from ${app.frozen?.index ?? 0} to ${file.count - 1} is tracked. Masks (.zip) saves them.`,
    );
  }
}

/** A camera frame (requestVideoFrameCallback): tracked unless the worker is full, then listed as skipped. */
async function onVideoFrame(now, time, index) {
  if (app.mode !== 'tracking') return;
  if (app.inFlight >= config.depth) {
    app.skipped.push({ index, time });
    return stats.drop();
  }
  let bitmap;
  try {
    bitmap = await createImageBitmap(video);
  } catch (error) {
    // the camera went away (unplugged, or stopped by the system)
    pauseTracking();
    return banner.show('camera-failed', {
      detail: `Tracking stopped: the camera frame could not be read (${error.message}).`,
    });
  }
  sendStep(bitmap, index, time, app.skipped.splice(0)).catch(() => {}); // failures are shown by sendStep
}

/** Send one frame to the worker and show its result; resolves when it is drawn (a failure pauses with a message). */
async function sendStep(bitmap, index, time, skipped = []) {
  app.inFlight += 1;
  const t0 = performance.now();
  const worker = app.worker;
  try {
    const reply = await worker.request('step', { frame: bitmap, index, time, skipped }, [bitmap]);
    if ((app.mode !== 'tracking' && app.mode !== 'paused') || worker !== app.worker) {
      reply.frame.close();
      reply.overlay.close();
      return;
    }
    const drawMs = drawResult(reply.frame, reply.overlay, reply);
    if (reply.model) showModelSize(reply.model); // Auto moved the input while tracking
    markOnce(MARKS.firstMask, { index, areas: reply.areas, sentAt: t0, timings: reply.timings });
    if (app.recorder?.add) await app.recorder.add(index, time);
    app.areas = reply.areas;
    stats.add({ ...reply.timings, draw: drawMs, latency: performance.now() - t0 });
    if (!reply.recorded) banner.show('recording-full', { kind: 'warn' });
    if (config.debug) app.debugFrames.push({ index, time, timings: reply.timings, model: reply.model });
    if (app.file) showFileProgress(index);
    renderStats();
  } catch (error) {
    if (error.code !== 'cancelled') {
      pauseTracking();
      banner.show(failureCode(error), { detail: `Tracking stopped: ${error.message}` });
    }
    throw error;
  } finally {
    app.inFlight -= 1;
  }
}

/** Draw a frame and its overlay (both at the frame's size); returns the drawing time in ms. Keeps the frame for re-annotation. */
function drawResult(frame, overlay, { index, time, labels }) {
  const t0 = performance.now();
  if (view.width !== frame.width || view.height !== frame.height) {
    view.width = frame.width;
    view.height = frame.height;
  }
  viewCtx.drawImage(frame, 0, 0);
  viewCtx.drawImage(overlay, 0, 0);
  overlay.close();
  if (app.lastFrame) app.lastFrame.close();
  Object.assign(app, { lastFrame: frame, lastIndex: index, lastTime: time, lastLabels: labels });
  return performance.now() - t0;
}

/** Stop sending frames; `why` is shown in the status line. */
export function pauseTracking(why = '') {
  if (app.mode !== 'tracking') return;
  loop.stop();
  app.run += 1; // a file's pass ends; the frames already in the worker are still drawn
  setMode('paused');
  if (why) setStatus(why);
}

async function resumeTracking() {
  if (app.mode !== 'paused' || (app.file && app.next >= app.file.count)) return;
  setStatus('');
  startTracking();
}

/** Stop sending frames and wait (at most 2 s) for those in the worker. */
export async function stopTracking() {
  loop.stop();
  app.run += 1;
  for (let i = 0; i < 200 && app.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 10));
}
