/**
 * Annotating: freezing a frame (with its predicted mask when tracking), loading an uploaded mask into it, and the
 * click tool (click to mask: the worker encodes the frozen frame once, then runs the prompt head per click).
 */
import { OBJECT_COLORS } from '../labels.js';
import { maskFit } from '../geometry.js';
import { decodePng, labelsFromPng, MaskError } from '../mask-encoding.js';
import { nativeSignature } from '../preprocess.js';
import { captureFrame } from '../ui/source.js';
import { config } from './settings.js';
import { $, annotator, app, banner, source, video, view, viewCtx } from './state.js';
import { stopTracking } from './tracking.js';
import { renderObjectList, setMode, showFileProgress } from './view.js';

/** Back to one empty object, nothing frozen. */
export function resetAnnotation() {
  app.objects = ['Object 1'];
  app.active = 1;
  annotator.active = 1;
  if (app.frozen) app.frozen.bitmap.close();
  app.frozen = null;
  forgetPrompts();
  renderObjectList();
}

/**
 * Freeze a frame to annotate: while tracking or paused, the last tracked frame with its predicted mask; else a file's
 * frame on screen (decoded exactly, by its index) or the camera's next frame (its capture index and time).
 */
export async function freeze() {
  if (!source.width) return;
  let frozen;
  let labels = null;
  if ((app.mode === 'tracking' || app.mode === 'paused') && app.lastFrame) {
    // re-annotate from the current prediction
    await stopTracking();
    frozen = { bitmap: await createImageBitmap(app.lastFrame), index: app.lastIndex, time: app.lastTime };
    labels = app.lastLabels;
  } else {
    await stopTracking();
    if (app.file) {
      video.pause();
      const index = app.file.indexAt(video.currentTime);
      try {
        frozen = { bitmap: await app.file.bitmap(index), index, time: app.file.times[index] };
      } catch (error) {
        return banner.show(error.code || 'video-unreadable', { detail: error.message });
      }
    } else frozen = await captureFrame(video);
  }
  if (app.frozen) app.frozen.bitmap.close();
  app.frozen = frozen;
  forgetPrompts();
  const { bitmap } = frozen;
  view.width = bitmap.width;
  view.height = bitmap.height;
  viewCtx.drawImage(bitmap, 0, 0);
  annotator.begin(bitmap.width, bitmap.height, labels);
  if (config.debug) app.annotationSignature = nativeSignature(bitmap);
  if (app.file) showFileProgress(frozen.index);
  setMode('annotating');
  renderObjectList();
}

/**
 * An uploaded mask replaces the annotation when it fits the frozen frame: the same size, or the same aspect ratio
 * (scaled, and the user is told); a mask of another aspect ratio would not line up with the objects and is refused.
 * Returns true when the mask was applied (else a banner says why not).
 */
export function applyMask(bytes) {
  let mask;
  try {
    mask = labelsFromPng(decodePng(bytes), { knownColours: OBJECT_COLORS });
  } catch (error) {
    return banner.show(error instanceof MaskError ? error.code : 'mask-unreadable', { detail: error.message });
  }
  const sizes = `The mask is ${mask.width}×${mask.height}, the frame ${annotator.width}×${annotator.height}`;
  const fit = maskFit(mask.width, mask.height, annotator.width, annotator.height);
  if (fit === 'other-aspect') {
    return banner.show('mask-wrong-size', {
      detail:
        `${sizes}: another aspect ratio, so it would not line up with the ` +
        "objects. Upload a mask of the frame's size, or of its aspect ratio (it is then scaled).",
    });
  }
  if (!mask.count) return banner.show('mask-empty');
  const max = Math.min(app.model?.maxObjects ?? OBJECT_COLORS.length, OBJECT_COLORS.length);
  if (mask.count > max)
    return banner.show('too-many-objects', {
      detail: `The mask has ${mask.count} objects; this model tracks at most ${max}.`,
    });
  app.objects = Array.from({ length: mask.count }, (_, i) => `Object ${i + 1}`);
  app.active = 1;
  annotator.active = 1;
  annotator.prompts.clear(); // the uploaded masks replace what the clicks made
  annotator.setLabels(mask.labels, mask.width, mask.height);
  if (fit === 'scaled') banner.show('mask-scaled', { kind: 'info', detail: `${sizes} (same aspect ratio).` });
  else banner.hide();
  renderObjectList();
  return true;
}

/** A mask file from the visitor: freezes the frame first when not annotating. */
export async function uploadMask(file) {
  if (app.mode !== 'annotating') await freeze();
  applyMask(new Uint8Array(await file.arrayBuffer()));
}

/** A new frozen frame (or none): no prompts, and the worker's encoding is stale. */
function forgetPrompts() {
  annotator.prompts.clear();
  app.promptFrame = null;
}

/** The click tool's prompt (a click or a box) for the selected object: the model's mask replaces the object's. */
export function addPrompt(prompt) {
  if (app.mode !== 'annotating' || !app.frozen) return;
  const id = app.active;
  annotator.prompts.set(id, [...(annotator.prompts.get(id) ?? []), prompt]);
  return runPrompts(id);
}

/** Undo the selected object's last click or box (its mask goes back to the one before; none left: no mask). */
export function undoPrompt() {
  const prompts = annotator.prompts.get(app.active)?.slice(0, -1);
  if (!prompts) return;
  if (prompts.length) {
    annotator.prompts.set(app.active, prompts); // a new list: a reply for the old one is stale
    return runPrompts(app.active);
  }
  annotator.prompts.delete(app.active);
  annotator.clearObject(app.active);
}

/** Clear object `id`'s mask and clicks, or every object's when `id` is undefined. */
export function clearPrompts(id) {
  if (id === undefined) {
    annotator.prompts.clear();
    return annotator.clearAll();
  }
  annotator.prompts.delete(id);
  annotator.clearObject(id);
}

/** Ask the worker for object `id`'s mask from its prompts (encoding the frozen frame first if it is new). */
async function runPrompts(id) {
  const frozen = app.frozen;
  const info = $('#click-info');
  try {
    const t0 = performance.now();
    let encodeMs = 0;
    if (app.promptFrame !== frozen) {
      const copy = await createImageBitmap(frozen.bitmap); // the worker closes its copy
      const encoded = await app.worker.request('prompt-image', { frame: copy }, [copy]);
      encodeMs = encoded.encodeMs;
      app.promptInput = encoded.rgba ?? null; // debug: the model input the clicks are on
      app.promptFrame = frozen;
    }
    const prompts = annotator.prompts.get(id) ?? [];
    const reply = await app.worker.request('prompt', { object: id, prompts });
    if (app.frozen !== frozen || annotator.prompts.get(id) !== prompts) return; // superseded by a newer prompt
    annotator.setObjectMask(id, reply.mask);
    const total = performance.now() - t0;
    app.lastPrompt = { ...reply.ms, encodeMs, pageMs: total, prob: reply.prob ?? null };
    info.textContent =
      `Mask in ${Math.round(total)} ms (head ${Math.round(reply.ms.head)} ms` +
      (encodeMs ? `, frame encoded once in ${Math.round(encodeMs)} ms` : '') +
      '). Left click adds, right click or Alt-click removes, a drag boxes the whole object; brush and eraser edit.';
  } catch (error) {
    if (app.frozen === frozen) app.promptFrame = null; // encode again next time
    banner.show(error.code || 'prompt-failed', { detail: error.message });
  }
}
