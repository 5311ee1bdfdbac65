/**
 * The page: wiring between the video source, the annotation layer, the inference worker and the controls (the
 * modules in page/). Modes: idle (no source) -> live (video playing) -> annotating (frozen frame, editing) ->
 * tracking <-> paused; Freeze from tracking/paused re-annotates the current frame starting from its predicted mask.
 *
 * Two kinds of source: a video file (or the sample clip) is decoded frame by frame (ui/video-file.js) and every frame
 * is tracked in order, as fast as the device allows, with a progress bar; a camera is live, so frames that arrive
 * while the worker is busy are dropped (and listed as not tracked in masks.json). URL parameters: page/settings.js.
 */
import { OBJECT_COLORS } from './labels.js';
import { decodePng, labelsFromPng } from './mask-encoding.js';
import { addPrompt, clearPrompts, freeze, undoPrompt, uploadMask } from './page/annotating.js';
import { MARKS, markOnce } from './page/marks.js';
import { startWorker, warmClickHead } from './page/model.js';
import { downloadMasks, toggleRecording } from './page/recording.js';
import { config, DEFAULT_MODEL, MODELS, PARAMS, saveSettings, unknownModel, unknownParams } from './page/settings.js';
import { openFile, openSource, reset, sampleMaskBytes } from './page/sources.js';
import { $, $$, annotator, app, banner, stats } from './page/state.js';
import { pauseTracking, stopTracking, track } from './page/tracking.js';
import { addObject, onModeChange, renderObjectList, selectObject, setMode } from './page/view.js';
import { registerServiceWorker } from './sw-register.js';

annotator.onChange = () => renderObjectList();
annotator.onPrompt = (p) => addPrompt(p);
onModeChange(() => warmClickHead()); // the click head, once the page is idle (not tracking)

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
$('#btn-clear-object').addEventListener('click', () => clearPrompts(app.active));
$('#btn-clear-all').addEventListener('click', () => clearPrompts());
$('#btn-undo-click').addEventListener('click', () => undoPrompt());
$('#btn-clear-clicks').addEventListener('click', () => clearPrompts(app.active));
$('#btn-download-masks').addEventListener('click', () => downloadMasks());
$('#btn-record').addEventListener('click', () => toggleRecording());
for (const b of $$('[data-tool]')) b.addEventListener('click', () => selectTool(b.dataset.tool));
$('#brush-size').addEventListener('input', (e) => {
  annotator.size = Number(e.target.value);
  $('#brush-size-out').value = e.target.value;
});

function selectTool(tool) {
  if (tool === 'click' && $('[data-tool=click]').disabled) {
    banner.show('no-prompt-head');
    return;
  }
  annotator.tool = tool;
  for (const b of $$('[data-tool]')) b.setAttribute('aria-checked', String(b.dataset.tool === tool));
  $('#click-tools').hidden = tool !== 'click';
  $('#click-info').hidden = tool !== 'click';
  if (tool === 'click') warmClickHead({ tool: true });
  annotator.render();
}

$('#set-model').replaceChildren(
  ...Object.entries(MODELS).map(([name, [label, title]]) => Object.assign(new Option(label, name), { title })),
);
if (config.modelsOverride) {
  $('#set-model').disabled = true;
  $('#set-model').title = `set by ?models=${new URL(config.models).pathname}`;
}
for (const [id, key] of [
  ['#set-model', 'model'],
  ['#set-backend', 'backend'],
  ['#set-variant', 'variant'],
  ['#set-size', 'size'],
  ['#set-threads', 'threads'],
]) {
  const select = $(id);
  select.value = String(config[key]);
  select.addEventListener('change', async () => {
    config[key] = key === 'threads' ? Number(select.value) : select.value;
    saveSettings();
    if (key === 'model' && annotator.tool === 'click') selectTool('brush'); // the other model may have no click head
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
  else if (key === 'c') selectTool('click');
  else if (key === 'z' && app.mode === 'annotating') undoPrompt();
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
  get lastPrompt() {
    return app.lastPrompt;
  },
  get promptInput() {
    return app.promptInput && Array.from(app.promptInput);
  },
  get annotation() {
    return { width: annotator.width, height: annotator.height, labels: Array.from(annotator.labels) };
  },
  request: (action, payload) => app.worker.request(action, payload),
};

if (unknownParams.length)
  banner.show('unknown URL parameter', {
    kind: 'warn',
    detail: `${unknownParams.join(', ')} (known: ${PARAMS.join(', ')})`,
  });
if (unknownModel)
  banner.show('unknown-model', {
    kind: 'warn',
    detail: `${unknownModel} is not a shipped model (${Object.keys(MODELS).join(', ')}); loading ${DEFAULT_MODEL}`,
  });
if (config.sw) registerServiceWorker();
selectTool('brush');
setMode('idle');
const loading = startWorker(config.start === 'sample' ? { objects: sampleObjects() } : {});
markOnce(MARKS.interactive);
if (config.start === 'sample') startWithSample(loading);

/**
 * ?start=sample: how many objects the sample's mask has, so that the worker loads that graph; 1 when the mask cannot
 * be read (opening the sample reads it again and says so).
 */
async function sampleObjects() {
  try {
    return labelsFromPng(decodePng(await sampleMaskBytes()), { knownColours: OBJECT_COLORS }).count;
  } catch {
    return 1;
  }
}

/** ?start=sample: the sample clip opens (frozen, with its mask) while the model loads; Track once both are done. */
async function startWithSample(loading) {
  app.autoTrack = true; // the click head waits (page/model.js warmClickHead)
  try {
    await Promise.all([openSource('sample'), loading]);
    if (app.mode === 'annotating') await track();
  } finally {
    app.autoTrack = false;
    warmClickHead(); // when Track did not start tracking
  }
}
