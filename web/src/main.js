/**
 * The page: wiring between the video source, the annotation layer, the inference worker and the controls.
 * Modes: idle (no source) -> live (video playing) -> annotating (frozen frame, editing) -> tracking <-> paused;
 * Freeze from tracking/paused re-annotates the current frame starting from its predicted mask.
 *
 * Two kinds of source: a video file (or the sample clip) is decoded frame by frame (ui/video-file.js) and every frame
 * is tracked in order, as fast as the device allows, with a progress bar; a camera is live, so frames that arrive
 * while the worker is busy are dropped (and listed as not tracked in masks.json).
 *
 * URL parameters (unknown ones are reported): backend=auto|webgpu|wasm, variant=auto|fp32|fp16|int8, threads=N,
 * depth=1|2 (frames in flight), models=URL (folder with manifest.json), wasm=URL (onnxruntime-web files),
 * nowebgpu=1 (act as if WebGPU were missing), debug=1 (record per-frame signatures for tests), sw=0 (no service worker).
 */
import { Annotator } from './ui/annotator.js';
import { OBJECT_COLORS } from './labels.js';
import { FrameLoop } from './ui/frame-loop.js';
import { Banner } from './ui/messages.js';
import { renderObjects } from './ui/objects.js';
import { captureFrame, Source } from './ui/source.js';
import { Stats } from './ui/stats.js';
import { OverlayVideo } from './ui/overlay-video.js';
import { VideoFile } from './ui/video-file.js';
import { WorkerClient } from './ui/worker-client.js';
import { maskFit } from './geometry.js';
import { decodePng, labelsFromPng, MaskError } from './mask-encoding.js';
import { nativeSignature } from './preprocess.js';
import { registerServiceWorker } from './sw-register.js';

const $ = (selector) => document.querySelector(selector);
const $$ = (selector) => [...document.querySelectorAll(selector)];

// ---------------------------------------------------------------- configuration
const PARAMS = ['backend', 'variant', 'threads', 'depth', 'models', 'wasm', 'nowebgpu', 'debug', 'sw'];
const query = new URLSearchParams(location.search);
const stored = JSON.parse(localStorage.getItem('mobilevos-settings') || '{}');
const config = {
  backend: query.get('backend') || stored.backend || 'auto',
  variant: query.get('variant') || stored.variant || 'auto',
  threads: Number(query.get('threads') ?? stored.threads ?? 0),
  depth: Math.min(2, Math.max(1, Number(query.get('depth') || 2))),
  models: new URL(query.get('models') || 'models/student/', document.baseURI).href,
  wasm: new URL(query.get('wasm') || 'ort/', document.baseURI).href,
  nowebgpu: query.get('nowebgpu') === '1',
  debug: query.get('debug') === '1',
  sw: query.get('sw') !== '0',
};
const unknownParams = [...query.keys()].filter((k) => !PARAMS.includes(k));

// ---------------------------------------------------------------- state
const video = $('#video');
const view = $('#view');
const viewCtx = view.getContext('2d');
const stage = $('#stage');
const banner = new Banner($('#banner'));
const source = new Source(video);
const stats = new Stats();
const annotator = new Annotator($('#annot'), { onChange: () => renderObjectList() });
const app = {
  mode: 'idle', // idle | live | annotating | tracking | paused
  worker: null,
  ready: false,
  info: null,
  model: null,
  objects: ['Object 1'],
  active: 1,
  file: null, // VideoFile of a file or the sample clip (null for the camera)
  next: 0, // file: index of the next frame to track
  run: 0, // file: id of the current tracking pass (a pause or re-annotation ends it)
  skipped: [], // camera: frames dropped since the last one sent, {index, time}
  frozen: null, // {bitmap, index, time}
  lastFrame: null, // last displayed tracked frame (ImageBitmap) and its index and time
  lastIndex: 0,
  lastTime: 0,
  lastLabels: null, // its labels at native size
  areas: [],
  inFlight: 0,
  trackedObjects: 0,
  recorder: null, // {stop()} of the overlay video being recorded; a file's also has add(index, time)
  debugFrames: [],
  annotationSignature: null,
};
annotator.colors = OBJECT_COLORS;
const loop = new FrameLoop(video, onVideoFrame);

// ---------------------------------------------------------------- worker and model
async function startWorker() {
  app.worker?.terminate();
  app.ready = false;
  setPill('#pill-backend', 'loading model…');
  $('#pill-variant').hidden = true;
  const worker = new WorkerClient(
    new Worker(new URL('./worker.js', import.meta.url), { type: 'module', name: 'mobilevos-inference' }),
    { onProgress: (p) => showProgress(p) },
  );
  app.worker = worker;
  try {
    const ready = await worker.request('load', {
      modelBase: config.models,
      wasmBase: config.wasm,
      backend: config.backend,
      noWebgpu: config.nowebgpu,
      variant: config.variant,
      threads: config.threads,
      debug: config.debug,
    });
    if (app.worker !== worker) return;
    app.ready = true;
    app.info = ready;
    app.model = ready.model;
    showBackend(ready);
    fillVariantChoices(ready.model.variants);
    banner.hide('no-backend');
    if (ready.notice) banner.show('backend-notice', { kind: 'info', detail: ready.notice });
    else if (ready.backend === 'wasm' && !ready.isolated) banner.show('not-isolated', { kind: 'warn' });
    setStatus('');
  } catch (error) {
    if (app.worker !== worker) return;
    setPill('#pill-backend', error.code === 'no-backend' ? 'no backend' : 'model error', 'bad');
    setStatus('');
    banner.show(error.code || 'no-backend', { detail: error.message, actions: [['Retry', () => startWorker()]] });
  }
  updateControls();
}

function showProgress({ message, loaded, total }) {
  const pct = total ? ` ${Math.round((100 * loaded) / total)}%` : '';
  setStatus(`${message}${pct}`);
}

function showBackend(info) {
  const label = info.backend === 'webgpu' ? 'WebGPU' : `WASM · ${info.threads} thread${info.threads === 1 ? '' : 's'}`;
  setPill('#pill-backend', label, info.backend === 'wasm' && !info.isolated ? 'warn' : 'ok');
  $('#pill-backend').title =
    info.backend === 'webgpu'
      ? `WebGPU: ${info.adapter}${info.shaderF16 ? ' (shader-f16)' : ''}`
      : `WASM, ${info.threads} thread(s)${info.isolated ? '' : ' — page not cross-origin isolated'}; WebGPU: ${info.webgpu}`;
  const variant = $('#pill-variant');
  variant.hidden = false;
  variant.textContent = info.variant;
  variant.title = `model variant ${info.variant}: ${info.variantReason}`;
  const m = info.model;
  $('#model-info').textContent =
    `${m.name}: ${m.width}×${m.height} input, up to ${m.maxObjects} objects, variants ` +
    `${m.variants.join(', ')}.` +
    (info.adapter ? ` GPU: ${info.adapter}.` : '');
}

function fillVariantChoices(variants) {
  const select = $('#set-variant');
  select.replaceChildren(new Option('Auto', 'auto'), ...variants.map((v) => new Option(v, v)));
  select.value = variants.includes(config.variant) ? config.variant : 'auto';
}

// ---------------------------------------------------------------- sources
async function openSource(kind) {
  banner.hide();
  if (kind === 'file') return $('#file-video').click();
  await stopTracking();
  closeFile();
  try {
    if (kind === 'camera') await source.camera();
    else {
      const url = new URL('sample/sample.mp4', document.baseURI).href;
      const response = await fetch(url);
      if (!response.ok)
        throw Object.assign(new Error(`sample clip: HTTP ${response.status}`), { code: 'video-unreadable' });
      app.file = await VideoFile.open(await response.blob());
      await source.sample(url);
    }
  } catch (error) {
    closeFile();
    setMode(source.kind === 'none' ? 'idle' : 'live');
    return banner.show(error.code || 'video-unreadable', {
      detail: error.code === 'camera-failed' || error.code === 'video-unreadable' ? error.message : '',
      actions: error.code?.startsWith('camera')
        ? [
            ['Open a video', () => openSource('file')],
            ['Sample clip', () => openSource('sample')],
          ]
        : [],
    });
  }
  afterSourceOpened();
  if (kind === 'sample') await annotateSampleStart();
}

async function openFile(file) {
  await stopTracking();
  closeFile();
  try {
    app.file = await VideoFile.open(file);
    await source.file(file);
  } catch (error) {
    closeFile();
    source.stop();
    setMode('idle');
    return banner.show(error.code || 'video-unreadable', { detail: `(${file.name}: ${error.message})` });
  }
  afterSourceOpened();
}

function closeFile() {
  app.file?.close();
  app.file = null;
  app.next = 0;
  showFileProgress(null);
}

function afterSourceOpened() {
  video.playbackRate = 1;
  stage.style.setProperty('--aspect', `${source.width} / ${source.height}`);
  stage.style.setProperty('--aspect-num', String(source.width / source.height));
  view.width = source.width;
  view.height = source.height;
  const kind = source.kind === 'camera' ? 'Camera' : source.kind === 'sample' ? 'Sample clip' : 'File';
  $('#source-info').textContent =
    `${kind}: ${source.label} (${source.width}×${source.height}` +
    (app.file
      ? `, ${app.file.count} frames). Processed frame by frame: every frame is tracked, as fast as this ` +
        'device allows, so the preview may run slower or faster than the video.'
      : '). Live: frames that arrive while ' + 'the model is busy are skipped.');
  resetAnnotation();
  setMode('live');
}
/** The sample clip opens frozen on its first frame with its mask loaded: press Track. */
async function annotateSampleStart() {
  await freeze();
  try {
    const response = await fetch(new URL('sample/sample-mask.png', document.baseURI));
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    applyMask(new Uint8Array(await response.arrayBuffer()));
  } catch (error) {
    // the sample works without its mask: say so, and the visitor paints one
    console.warn('sample mask not loaded:', error);
    setStatus('Sample mask not loaded: paint the object, then press Track');
  }
}

// ---------------------------------------------------------------- annotating
function resetAnnotation() {
  app.objects = ['Object 1'];
  app.active = 1;
  annotator.active = 1;
  if (app.frozen) app.frozen.bitmap.close();
  app.frozen = null;
  renderObjectList();
}

/**
 * Freeze a frame to annotate: while tracking or paused, the last tracked frame with its predicted mask; else a file's
 * frame on screen (decoded exactly, by its index) or the camera's next frame (its capture index and time).
 */
async function freeze() {
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

function addObject() {
  const max = app.model?.maxObjects ?? OBJECT_COLORS.length;
  if (app.objects.length >= Math.min(max, OBJECT_COLORS.length)) {
    return banner.show('too-many-objects', {
      kind: 'warn',
      detail: `This model tracks at most ${max} objects at once.`,
    });
  }
  app.objects.push(`Object ${app.objects.length + 1}`);
  selectObject(app.objects.length);
}

function removeObject(id) {
  annotator.removeObject(id);
  app.objects.splice(id - 1, 1);
  app.objects = app.objects.map((_, i) => `Object ${i + 1}`);
  selectObject(Math.min(app.active, Math.max(1, app.objects.length)));
}

function selectObject(id) {
  if (!app.objects.length) app.objects = ['Object 1'];
  app.active = Math.min(id, app.objects.length);
  annotator.active = app.active;
  renderObjectList();
}

/**
 * An uploaded mask replaces the annotation when it fits the frozen frame: the same size, or the same aspect ratio
 * (scaled, and the user is told); a mask of another aspect ratio would not line up with the objects and is refused.
 */
function applyMask(bytes) {
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
  annotator.setLabels(mask.labels, mask.width, mask.height);
  if (fit === 'scaled') banner.show('mask-scaled', { kind: 'info', detail: `${sizes} (same aspect ratio).` });
  else banner.hide();
  renderObjectList();
}

async function uploadMask(file) {
  if (app.mode !== 'annotating') await freeze();
  applyMask(new Uint8Array(await file.arrayBuffer()));
}

function renderObjectList() {
  const editing = app.mode === 'annotating';
  const areas = editing ? annotator.areas(app.objects.length) : app.areas;
  renderObjects($('#objects'), {
    objects: app.objects,
    active: app.active,
    colors: OBJECT_COLORS,
    areas,
    areaUnit: ' px',
    editable: editing,
    onSelect: (id) => selectObject(id),
    onRemove: (id) => removeObject(id),
  });
  $('#object-count').textContent = `${app.objects.length}/${app.model?.maxObjects ?? '–'}`;
  updateControls();
}

// ---------------------------------------------------------------- tracking
async function track() {
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
    drawResult(reply.frame, reply.overlay, { index, time, labels: annotator.labels.slice() });
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

function startTracking() {
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
    if (app.recorder?.add) await app.recorder.add(index, time);
    app.areas = reply.areas;
    stats.add({ ...reply.timings, draw: drawMs, latency: performance.now() - t0 });
    if (!reply.recorded) banner.show('recording-full', { kind: 'warn' });
    if (config.debug) app.debugFrames.push({ index, time, timings: reply.timings });
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

/** Progress of a file: frames done of the whole video and the expected time left (`index` = last frame shown). */
function showFileProgress(index) {
  const box = $('#file-progress');
  box.hidden = index === null || !app.file;
  if (box.hidden) return;
  const { count } = app.file;
  const done = index + 1;
  $('#progress-bar').value = done / count;
  const left = count - done;
  const fps = app.mode === 'tracking' ? stats.fps : 0;
  const eta = left && fps ? ` · about ${formatDuration(left / fps)} left` : '';
  $('#progress-text').textContent = `frame ${index} of ${count - 1}${eta}`;
}

function formatDuration(seconds) {
  const s = Math.ceil(seconds);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
}

function pauseTracking(why = '') {
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
async function stopTracking() {
  loop.stop();
  app.run += 1;
  for (let i = 0; i < 200 && app.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 10));
}

async function reset() {
  await stopTracking();
  await app.worker?.request('reset').catch(() => {});
  resetAnnotation();
  app.areas = [];
  app.trackedObjects = 0;
  app.next = 0;
  app.skipped = [];
  showFileProgress(null);
  stats.reset();
  renderStats();
  setStatus('');
  if (source.kind !== 'none') {
    setMode('live');
    if (source.live) video.play().catch(() => {});
  } else setMode('idle');
}

// ---------------------------------------------------------------- saving
async function downloadMasks() {
  const reply = await app.worker.request('masks', {
    kind: source.kind,
    name: source.kind === 'file' ? source.label : source.kind,
    times: app.file?.times ?? null,
    skipped: app.skipped.splice(0), // camera frames dropped after the last one sent
  });
  if (!reply.count) return banner.show('no masks yet', { kind: 'info', detail: 'Track a few frames first.' });
  save(new Blob([reply.zip], { type: 'application/zip' }), 'mobilevos-masks.zip');
}

/**
 * Record the overlay video (frame + masks at the source's size): a file's tracked frames are encoded at their own
 * timestamps (OverlayVideo: plays at the video's speed), a camera is recorded live with MediaRecorder.
 */
async function toggleRecording() {
  if (app.recorder) return app.recorder.stop();
  const button = $('#btn-record');
  const done = (blob) => {
    app.recorder = null;
    button.classList.remove('recording');
    button.textContent = '● Record video';
    if (blob) save(blob, `mobilevos-overlay.${blob.type.includes('mp4') ? 'mp4' : 'webm'}`);
  };
  if (app.file) {
    let video;
    try {
      video = await OverlayVideo.create(view);
    } catch (error) {
      return banner.show('recording unavailable', { kind: 'warn', detail: error.message });
    }
    const file = app.file;
    app.recorder = {
      add: (index, time) => video.add(time, file.duration(index)),
      // detached before finishing: a frame drawn while the file is written belongs to no video
      stop: () => {
        app.recorder = null;
        return video.finish().then(done, (error) => {
          done(null);
          banner.show('recording unavailable', {
            kind: 'warn',
            detail: `The overlay video was not saved: ${error.message}.`,
          });
        });
      },
    };
  } else {
    if (typeof MediaRecorder === 'undefined' || !view.captureStream) {
      return banner.show('recording unavailable', { kind: 'warn', detail: 'This browser cannot record a canvas.' });
    }
    const type = ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm', 'video/mp4'].find((t) =>
      MediaRecorder.isTypeSupported(t),
    );
    const recorder = new MediaRecorder(view.captureStream(30), type ? { mimeType: type } : {});
    const chunks = [];
    recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
    recorder.onstop = () => done(new Blob(chunks, { type: recorder.mimeType || 'video/webm' }));
    recorder.start(1000);
    app.recorder = { stop: () => recorder.stop() };
  }
  button.classList.add('recording');
  button.textContent = '■ Stop & save video';
}

function save(blob, name) {
  const a = Object.assign(document.createElement('a'), { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ---------------------------------------------------------------- view
function setMode(mode) {
  app.mode = mode;
  stage.dataset.mode = mode;
  document.body.dataset.mode = mode;
  renderObjectList();
  const hint = { annotating: 'Frozen: paint the objects, then press Track', paused: 'Paused' }[mode] || '';
  setStatus(hint);
  renderStats(true);
}

function setStatus(text) {
  const el = $('#stage-status');
  el.textContent = text;
  el.hidden = !text;
}

function setPill(selector, text, kind = '') {
  const el = $(selector);
  el.textContent = text;
  el.className = `pill ${kind}`;
}

function updateControls() {
  const { mode } = app;
  $('#btn-freeze').disabled = mode === 'idle' || mode === 'annotating';
  $('#btn-freeze').textContent = mode === 'tracking' || mode === 'paused' ? 'Freeze & edit' : 'Freeze & annotate';
  const finished = mode === 'paused' && app.file && app.next >= app.file.count;
  $('#btn-track').disabled = !app.ready || !(mode === 'annotating' || mode === 'paused') || finished;
  $('#btn-track').textContent = mode === 'paused' ? 'Resume' : 'Track';
  $('#btn-pause').disabled = mode !== 'tracking';
  $('#btn-reset').disabled = mode === 'idle';
  const editing = mode === 'annotating';
  $('#card-tools').classList.toggle('disabled', !editing);
  $('#btn-add-object').disabled = !editing;
  $('#btn-upload-mask').disabled = mode === 'idle';
  $('#btn-record').disabled = !(mode === 'tracking' || mode === 'paused' || app.recorder);
  $('#btn-download-masks').disabled = !app.trackedObjects;
}

let lastStatsRender = 0;
function renderStats(force = false) {
  const t = performance.now();
  if (!force && t - lastStatsRender < 250) return;
  lastStatsRender = t;
  const s = stats.snapshot();
  const fmt = (v) => (s.frames ? v.toFixed(v < 10 ? 1 : 0) : '—');
  $('#stat-fps').textContent = fmt(s.fps);
  $('#stat-pre').textContent = fmt(s.pre);
  $('#stat-infer').textContent = fmt(s.infer);
  $('#stat-post').textContent = fmt(s.post);
  $('#stat-draw').textContent = fmt(s.draw);
  $('#stat-latency').textContent = fmt(s.latency);
  $('#stat-frames').textContent = String(s.frames);
  $('#stat-dropped').textContent = String(s.dropped);
  $('#pill-fps').textContent = s.frames && app.mode === 'tracking' ? `${s.fps.toFixed(1)} FPS` : '— FPS';
  if (app.mode === 'tracking') renderObjectList();
}

// ---------------------------------------------------------------- wiring
for (const b of $$('[data-source]')) b.addEventListener('click', () => openSource(b.dataset.source));
$('#file-video').addEventListener('change', (e) => {
  const f = e.target.files[0];
  e.target.value = '';
  if (f) openFile(f);
});
$('#btn-freeze').addEventListener('click', () => freeze());
$('#btn-track').addEventListener('click', () => track());
$('#btn-pause').addEventListener('click', () => pauseTracking());
$('#btn-reset').addEventListener('click', () => reset());
$('#btn-add-object').addEventListener('click', () => addObject());
$('#btn-upload-mask').addEventListener('click', () => $('#file-mask').click());
$('#file-mask').addEventListener('change', (e) => {
  const f = e.target.files[0];
  e.target.value = '';
  if (f) uploadMask(f);
});
$('#btn-clear-object').addEventListener('click', () => annotator.clearObject(app.active));
$('#btn-clear-all').addEventListener('click', () => annotator.clearAll());
$('#btn-download-masks').addEventListener('click', () => downloadMasks());
$('#btn-record').addEventListener('click', () => toggleRecording());
for (const b of $$('[data-tool]')) b.addEventListener('click', () => selectTool(b.dataset.tool));
$('#brush-size').addEventListener('input', (e) => {
  annotator.size = Number(e.target.value);
  $('#brush-size-out').value = e.target.value;
});

function selectTool(tool) {
  annotator.tool = tool;
  for (const b of $$('[data-tool]')) b.setAttribute('aria-checked', String(b.dataset.tool === tool));
}

for (const [id, key] of [
  ['#set-backend', 'backend'],
  ['#set-variant', 'variant'],
  ['#set-threads', 'threads'],
]) {
  const select = $(id);
  select.value = String(config[key]);
  select.addEventListener('change', async () => {
    config[key] = key === 'threads' ? Number(select.value) : select.value;
    localStorage.setItem(
      'mobilevos-settings',
      JSON.stringify({ backend: config.backend, variant: config.variant, threads: config.threads }),
    );
    await stopTracking();
    if (app.mode === 'tracking' || app.mode === 'paused') setMode('live');
    startWorker();
  });
}

document.addEventListener('keydown', (e) => {
  if (e.target.closest('input, select, textarea') || e.metaKey || e.ctrlKey || e.altKey) return;
  const key = e.key.toLowerCase();
  if (key === 'f') freeze();
  else if (key === ' ') {
    e.preventDefault();
    if (app.mode === 'tracking') pauseTracking();
    else track();
  } else if (key === 'b') selectTool('brush');
  else if (key === 'e') selectTool('eraser');
  else if (key === 'r') selectTool('box');
  else if (/^[1-8]$/.test(key) && app.mode === 'annotating' && Number(key) <= app.objects.length)
    selectObject(Number(key));
});

// Debug hook: stats for the page, the tests and the bench (which can also import web/src/tracker.js directly).
window.__mobilevos = {
  config,
  get mode() {
    return app.mode;
  },
  get ready() {
    return app.ready;
  },
  get info() {
    return app.info;
  },
  get stats() {
    return stats.snapshot();
  },
  get error() {
    return $('#banner').hidden ? null : { code: $('#banner').dataset.code, text: $('#banner').textContent.trim() };
  },
  get frames() {
    return app.debugFrames;
  },
  get annotationSignature() {
    return app.annotationSignature;
  },
  request: (action, payload) => app.worker.request(action, payload),
};

if (unknownParams.length)
  banner.show('unknown URL parameter', {
    kind: 'warn',
    detail: `${unknownParams.join(', ')} (known: ${PARAMS.join(', ')})`,
  });
if (config.sw) registerServiceWorker();
selectTool('brush');
setMode('idle');
startWorker();
