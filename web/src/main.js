/**
 * The page: wiring between the video source, the annotation layer, the inference worker and the controls.
 * Modes: idle (no source) -> live (video playing) -> annotating (frozen frame, editing) -> tracking <-> paused;
 * Freeze from tracking/paused re-annotates the current frame starting from its predicted mask.
 *
 * URL parameters (unknown ones are reported): backend=auto|webgpu|wasm, variant=auto|fp32|fp16|int8, threads=N,
 * depth=1|2 (frames in flight), models=URL (folder with manifest.json), wasm=URL (onnxruntime-web files),
 * nowebgpu=1 (act as if WebGPU were missing), debug=1 (record per-frame signatures for tests), sw=0 (no service worker),
 * everyframe=0 (play video files in real time, dropping frames, instead of slowing them to the tracker's pace).
 */
import { Annotator } from './ui/annotator.js';
import { OBJECT_COLORS } from './ui/colors.js';
import { FrameLoop } from './ui/frame-loop.js';
import { Banner } from './ui/messages.js';
import { renderObjects } from './ui/objects.js';
import { grabFrame, Source } from './ui/source.js';
import { Stats } from './ui/stats.js';
import { WorkerClient } from './ui/worker-client.js';
import { decodePng, labelsFromPng, MaskError } from './mask-encoding.js';
import { resizeLabelsNearest } from './preprocess.js';
import { frameSignature } from './postprocess.js';
import { registerServiceWorker } from './sw-register.js';

const $ = (selector) => document.querySelector(selector);
const $$ = (selector) => [...document.querySelectorAll(selector)];

// ---------------------------------------------------------------- configuration
const PARAMS = ['backend', 'variant', 'threads', 'depth', 'models', 'wasm', 'nowebgpu', 'debug', 'sw', 'everyframe'];
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
  everyFrame: query.get('everyframe') !== '0',
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
  frozen: null, // {bitmap, mediaTime}
  lastFrame: null, // last displayed tracked frame (ImageBitmap)
  lastLabels: null, // its labels at model resolution
  areas: [],
  inFlight: 0,
  frameId: 0,
  trackedObjects: 0,
  recorder: null,
  lastMediaTime: 0,
  frameDuration: 1 / 24,
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
  const worker = new WorkerClient({ onProgress: (p) => showProgress(p) });
  app.worker = worker;
  try {
    const ready = await worker.request('load', {
      modelBase: config.models, wasmBase: config.wasm, backend: config.backend, noWebgpu: config.nowebgpu,
      variant: config.variant, threads: config.threads, debug: config.debug,
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
  $('#pill-backend').title = info.backend === 'webgpu' ? `WebGPU: ${info.adapter}${info.shaderF16 ? ' (shader-f16)' : ''}`
    : `WASM, ${info.threads} thread(s)${info.isolated ? '' : ' — page not cross-origin isolated'}; WebGPU: ${info.webgpu}`;
  const variant = $('#pill-variant');
  variant.hidden = false;
  variant.textContent = info.variant;
  variant.title = `model variant ${info.variant}: ${info.variantReason}`;
  const m = info.model;
  $('#model-info').textContent = `${m.name}: ${m.width}×${m.height} input, up to ${m.maxObjects} objects, variants ` +
    `${m.variants.join(', ')}.` + (info.adapter ? ` GPU: ${info.adapter}.` : '');
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
  try {
    if (kind === 'camera') await source.camera();
    else await source.sample(new URL('sample/sample.mp4', document.baseURI).href);
  } catch (error) {
    setMode(source.kind === 'none' ? 'idle' : 'live');
    return banner.show(error.code, {
      detail: error.code === 'camera-failed' ? error.message : '',
      actions: error.code?.startsWith('camera') ? [['Open a video', () => openSource('file')], ['Sample clip', () => openSource('sample')]] : [],
    });
  }
  afterSourceOpened();
  if (kind === 'sample') await annotateSampleStart();
}

async function openFile(file) {
  await stopTracking();
  try {
    await source.file(file);
  } catch (error) {
    setMode('idle');
    return banner.show(error.code || 'video-unreadable', { detail: `(${file.name})` });
  }
  afterSourceOpened();
}

function afterSourceOpened() {
  video.playbackRate = 1;
  app.frameDuration = 1 / 24;
  stage.style.setProperty('--aspect', `${source.width} / ${source.height}`);
  stage.style.setProperty('--aspect-num', String(source.width / source.height));
  view.width = source.width;
  view.height = source.height;
  $('#source-info').textContent = `${source.kind === 'camera' ? 'Camera' : source.kind === 'sample' ? 'Sample clip' : 'File'}: ` +
    `${source.label} (${source.width}×${source.height})`;
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
  } catch (error) { // the sample works without its mask: say so, and the visitor paints one
    console.warn('sample mask not loaded:', error);
    setStatus('Sample mask not loaded: paint the object, then press Track');
  }
}

video.addEventListener('ended', () => {
  if (app.mode === 'tracking') pauseTracking('End of the video: Resume plays it again');
});

// ---------------------------------------------------------------- annotating
function resetAnnotation() {
  app.objects = ['Object 1'];
  app.active = 1;
  annotator.active = 1;
  if (app.frozen) app.frozen.bitmap.close();
  app.frozen = null;
  renderObjectList();
}

async function freeze() {
  if (!source.width) return;
  let labels = null;
  let bitmap;
  if (app.mode === 'tracking' || app.mode === 'paused') { // re-annotate from the current prediction
    await stopTracking();
    if (app.lastFrame) {
      bitmap = await createImageBitmap(app.lastFrame);
      labels = app.lastLabels;
    }
  }
  if (!bitmap) {
    if (!source.live) video.pause();
    bitmap = await grabFrame(video);
  }
  if (!source.live) video.pause();
  if (app.frozen) app.frozen.bitmap.close();
  app.frozen = { bitmap, mediaTime: video.currentTime };
  view.width = bitmap.width;
  view.height = bitmap.height;
  viewCtx.drawImage(bitmap, 0, 0);
  const model = app.model;
  annotator.begin(bitmap.width, bitmap.height, labels, model?.width, model?.height);
  if (config.debug) app.annotationSignature = signatureOf(bitmap);
  setMode('annotating');
  renderObjectList();
}

function addObject() {
  const max = app.model?.maxObjects ?? OBJECT_COLORS.length;
  if (app.objects.length >= Math.min(max, OBJECT_COLORS.length)) {
    return banner.show('too-many-objects', { kind: 'warn', detail: `This model tracks at most ${max} objects at once.` });
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

function applyMask(bytes) {
  let mask;
  try {
    mask = labelsFromPng(decodePng(bytes), { knownColours: OBJECT_COLORS });
  } catch (error) {
    return banner.show(error instanceof MaskError ? error.code : 'mask-unreadable', { detail: error.message });
  }
  if (!mask.count) return banner.show('mask-empty');
  const max = Math.min(app.model?.maxObjects ?? OBJECT_COLORS.length, OBJECT_COLORS.length);
  if (mask.count > max) return banner.show('too-many-objects', { detail: `The mask has ${mask.count} objects; this model tracks at most ${max}.` });
  app.objects = Array.from({ length: mask.count }, (_, i) => `Object ${i + 1}`);
  app.active = 1;
  annotator.active = 1;
  annotator.setLabels(mask.labels, mask.width, mask.height);
  banner.hide();
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
    objects: app.objects, active: app.active, colors: OBJECT_COLORS, areas, areaUnit: editing ? ' px' : ' px',
    editable: editing, onSelect: (id) => selectObject(id), onRemove: (id) => removeObject(id),
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
    return banner.show('empty-annotation', { kind: 'warn', detail: areas.length > 1 && empty >= 0 ? `Object ${empty + 1} has no pixels: draw it or remove it.` : '' });
  }
  banner.hide();
  setStatus('annotating…');
  let reply;
  try { // everything that can fail ends in the banner: the page never stays in 'annotating…' without a word
    const bitmap = await createImageBitmap(app.frozen.bitmap);
    reply = await app.worker.request('annotate', {
      frame: bitmap, labels: annotator.labels.slice(), width: annotator.width, height: annotator.height,
      numObjects: app.objects.length, colors: OBJECT_COLORS, frameId: app.frameId, mediaTime: app.frozen.mediaTime,
    }, [bitmap]);
    drawResult(reply.frame, reply.overlay);
    app.lastLabels = null;
  } catch (error) {
    setStatus('');
    return banner.show(failureCode(error), { detail: error.message });
  }
  setStatus('');
  app.trackedObjects = app.objects.length;
  stats.resume();
  if (!source.live && config.everyFrame && !stats.frames) { // first guess of the pace from the annotate call's time
    setPlaybackRate(0.8 * (1000 / (1.5 * reply.timings.infer)) * app.frameDuration);
  }
  setMode('tracking');
  if (!source.live) await video.play().catch(() => {});
  loop.start();
}

/** The banner for a failed annotate or track call: the worker's own code where it has a message, else generic. */
function failureCode(error) {
  return Banner.knows(error.code) ? error.code : 'tracking-failed';
}

// Chromium throws on playback rates below 1/16 (a slow device or a busy CPU asks for less): clamp to what it plays.
const MIN_PLAYBACK_RATE = 0.0625;

function setPlaybackRate(rate) {
  video.playbackRate = Math.min(1, Math.max(MIN_PLAYBACK_RATE, rate));
}

/**
 * Video files: slow playback down to the tracker's pace so that (nearly) every frame is tracked; live cameras can't
 * wait and simply drop frames. The frame duration is the smallest media-time step seen.
 */
function pace(mediaTime) {
  if (source.live || !config.everyFrame) return;
  const step = mediaTime - app.lastMediaTime;
  app.lastMediaTime = mediaTime;
  if (step > 1e-4 && step < app.frameDuration) app.frameDuration = step;
  if (stats.frames % 5 !== 0) return;
  const capacity = stats.capacity; // means over the window: only every 5th frame, when the rate may change
  if (capacity > 0) {
    const rate = 0.9 * capacity * app.frameDuration;
    if (Math.abs(rate - video.playbackRate) > 0.02) setPlaybackRate(rate);
  }
}

async function onVideoFrame(now, mediaTime) {
  if (app.mode !== 'tracking') return;
  pace(mediaTime);
  if (app.inFlight >= config.depth) return stats.drop();
  app.inFlight += 1;
  const frameId = ++app.frameId;
  const t0 = performance.now();
  let bitmap;
  try {
    bitmap = await createImageBitmap(video);
  } catch {
    app.inFlight -= 1;
    return;
  }
  const capture = performance.now() - t0;
  const worker = app.worker;
  worker.request('step', { frame: bitmap, frameId, mediaTime }, [bitmap])
    .then((reply) => {
      if (app.mode !== 'tracking' || worker !== app.worker) {
        reply.frame.close();
        reply.overlay.close();
        return;
      }
      const drawMs = drawResult(reply.frame, reply.overlay, reply.labels);
      app.areas = reply.areas;
      stats.add({ ...reply.timings, pre: reply.timings.pre + capture, draw: drawMs, latency: performance.now() - t0 });
      if (stats.frames === 1) setStatus('');
      if (config.debug) app.debugFrames.push({ frameId, mediaTime, timings: reply.timings });
      renderStats();
    })
    .catch((error) => {
      if (error.code !== 'cancelled') {
        pauseTracking();
        banner.show(failureCode(error), { detail: `Tracking stopped: ${error.message}` });
      }
    })
    .finally(() => { app.inFlight -= 1; });
}

/** Draw a tracked frame and its overlay; returns the drawing time in ms. Keeps the frame for re-annotation. */
function drawResult(frame, overlay, labels = null) {
  const t0 = performance.now();
  if (view.width !== frame.width || view.height !== frame.height) {
    view.width = frame.width;
    view.height = frame.height;
  }
  viewCtx.drawImage(frame, 0, 0);
  viewCtx.imageSmoothingEnabled = true;
  viewCtx.drawImage(overlay, 0, 0, view.width, view.height);
  overlay.close();
  if (app.lastFrame) app.lastFrame.close();
  app.lastFrame = frame;
  if (labels) app.lastLabels = labels;
  return performance.now() - t0;
}

function pauseTracking(why = '') {
  if (app.mode !== 'tracking') return;
  loop.stop();
  if (!source.live) video.pause();
  setMode('paused');
  if (why) setStatus(why);
}

async function resumeTracking() {
  if (app.mode !== 'paused') return;
  setStatus('');
  stats.resume();
  setMode('tracking');
  if (!source.live) {
    if (video.ended) video.currentTime = 0; // replay a finished file; the memory carries on
    await video.play().catch(() => {});
  }
  loop.start();
}

async function stopTracking() {
  loop.stop();
  for (let i = 0; i < 200 && app.inFlight > 0; i++) await new Promise((r) => setTimeout(r, 10));
}

async function reset() {
  await stopTracking();
  await app.worker?.request('reset').catch(() => {});
  resetAnnotation();
  app.areas = [];
  app.trackedObjects = 0;
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
  const reply = await app.worker.request('masks');
  if (!reply.count) return banner.show('no masks yet', { kind: 'info', detail: 'Track a few frames first.' });
  save(new Blob([reply.zip], { type: 'application/zip' }), 'mobilevos-masks.zip');
}

function toggleRecording() {
  if (app.recorder) {
    app.recorder.stop();
    return;
  }
  if (typeof MediaRecorder === 'undefined' || !view.captureStream) {
    return banner.show('recording unavailable', { kind: 'warn', detail: 'This browser cannot record a canvas.' });
  }
  const type = ['video/webm;codecs=vp9', 'video/webm;codecs=vp8', 'video/webm', 'video/mp4'].find((t) => MediaRecorder.isTypeSupported(t));
  const recorder = new MediaRecorder(view.captureStream(30), type ? { mimeType: type } : {});
  const chunks = [];
  recorder.ondataavailable = (e) => e.data.size && chunks.push(e.data);
  recorder.onstop = () => {
    app.recorder = null;
    $('#btn-record').classList.remove('recording');
    $('#btn-record').textContent = '● Record video';
    const blob = new Blob(chunks, { type: recorder.mimeType || 'video/webm' });
    save(blob, `mobilevos-overlay.${blob.type.includes('mp4') ? 'mp4' : 'webm'}`);
  };
  recorder.start(1000);
  app.recorder = recorder;
  $('#btn-record').classList.add('recording');
  $('#btn-record').textContent = '■ Stop & save video';
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
  $('#btn-track').disabled = !app.ready || !(mode === 'annotating' || mode === 'paused');
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

function signatureOf(bitmap) {
  const { width, height } = app.model;
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0, width, height);
  return frameSignature(ctx.getImageData(0, 0, width, height).data, width, height);
}

// ---------------------------------------------------------------- wiring
for (const b of $$('[data-source]')) b.addEventListener('click', () => openSource(b.dataset.source));
$('#file-video').addEventListener('change', (e) => { const f = e.target.files[0]; e.target.value = ''; if (f) openFile(f); });
$('#btn-freeze').addEventListener('click', () => freeze());
$('#btn-track').addEventListener('click', () => track());
$('#btn-pause').addEventListener('click', () => pauseTracking());
$('#btn-reset').addEventListener('click', () => reset());
$('#btn-add-object').addEventListener('click', () => addObject());
$('#btn-upload-mask').addEventListener('click', () => $('#file-mask').click());
$('#file-mask').addEventListener('change', (e) => { const f = e.target.files[0]; e.target.value = ''; if (f) uploadMask(f); });
$('#btn-clear-object').addEventListener('click', () => annotator.clearObject(app.active));
$('#btn-clear-all').addEventListener('click', () => annotator.clearAll());
$('#btn-download-masks').addEventListener('click', () => downloadMasks());
$('#btn-record').addEventListener('click', () => toggleRecording());
for (const b of $$('[data-tool]')) b.addEventListener('click', () => selectTool(b.dataset.tool));
$('#brush-size').addEventListener('input', (e) => { annotator.size = Number(e.target.value); $('#brush-size-out').value = e.target.value; });

function selectTool(tool) {
  annotator.tool = tool;
  for (const b of $$('[data-tool]')) b.setAttribute('aria-checked', String(b.dataset.tool === tool));
}

for (const [id, key] of [['#set-backend', 'backend'], ['#set-variant', 'variant'], ['#set-threads', 'threads']]) {
  const select = $(id);
  select.value = String(config[key]);
  select.addEventListener('change', async () => {
    config[key] = key === 'threads' ? Number(select.value) : select.value;
    localStorage.setItem('mobilevos-settings', JSON.stringify({ backend: config.backend, variant: config.variant, threads: config.threads }));
    await stopTracking();
    if (app.mode === 'tracking' || app.mode === 'paused') setMode('live');
    startWorker();
  });
}

document.addEventListener('keydown', (e) => {
  if (e.target.closest('input, select, textarea') || e.metaKey || e.ctrlKey || e.altKey) return;
  const key = e.key.toLowerCase();
  if (key === 'f') freeze();
  else if (key === ' ') { e.preventDefault(); if (app.mode === 'tracking') pauseTracking(); else track(); }
  else if (key === 'b') selectTool('brush');
  else if (key === 'e') selectTool('eraser');
  else if (key === 'r') selectTool('box');
  else if (/^[1-8]$/.test(key) && app.mode === 'annotating' && Number(key) <= app.objects.length) selectObject(Number(key));
});

// Debug hook: stats for the page, the tests and the bench (which can also import web/src/tracker.js directly).
window.__mobilevos = {
  config,
  get mode() { return app.mode; },
  get ready() { return app.ready; },
  get info() { return app.info; },
  get stats() { return stats.snapshot(); },
  get error() { return $('#banner').hidden ? null : { code: $('#banner').dataset.code, text: $('#banner').textContent.trim() }; },
  get frames() { return app.debugFrames; },
  get annotationSignature() { return app.annotationSignature; },
  request: (action, payload) => app.worker.request(action, payload),
};

if (unknownParams.length) banner.show('unknown URL parameter', { kind: 'warn', detail: `${unknownParams.join(', ')} (known: ${PARAMS.join(', ')})` });
if (config.sw) registerServiceWorker();
selectTool('brush');
setMode('idle');
startWorker();
