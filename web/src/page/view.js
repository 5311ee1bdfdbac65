/**
 * What the page shows of its state: the mode, the status line and pills, the controls, the object list, the stats
 * panel and a file's progress bar.
 */
import { OBJECT_COLORS } from '../labels.js';
import { renderObjects } from '../ui/objects.js';
import { $, annotator, app, banner, stage, stats } from './state.js';

const modeListeners = [];

/** Call `listener(mode)` after every mode switch. */
export function onModeChange(listener) {
  modeListeners.push(listener);
}

/** Switch the page mode (idle, live, annotating, tracking, paused) and what shows it. */
export function setMode(mode) {
  app.mode = mode;
  stage.dataset.mode = mode;
  document.body.dataset.mode = mode;
  renderObjectList();
  const hint =
    { annotating: 'Frozen: mark the objects (paint, box or click), then press Track', paused: 'Paused' }[mode] || '';
  setStatus(hint);
  renderStats(true);
  for (const listener of modeListeners) listener(mode);
}

/** The status line over the video (hidden when empty). */
export function setStatus(text) {
  const el = $('#stage-status');
  el.textContent = text;
  el.hidden = !text;
}

/** A pill in the header: its text and kind (ok, warn, bad). */
export function setPill(selector, text, kind = '') {
  const el = $(selector);
  el.textContent = text;
  el.className = `pill ${kind}`;
}

/** Enable and label the buttons for the current mode. */
export function updateControls() {
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
  // a model without a prompt head (the Fast one) cannot mask from clicks: say so on the tool rather than fail on use
  const click = $('[data-tool=click]');
  click.disabled = app.ready && !app.model?.prompt;
  click.dataset.title ??= click.title;
  click.title = click.disabled
    ? 'This model has no prompt head: choose the Accurate model in Settings'
    : click.dataset.title;
  $('#btn-upload-mask').disabled = mode === 'idle';
  $('#btn-record').disabled = !(mode === 'tracking' || mode === 'paused' || app.recorder);
  $('#btn-download-masks').disabled = !app.trackedObjects;
}

/** The object list (colours, areas; editable while annotating), the object count and the controls. */
export function renderObjectList() {
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

/** Paint object `id` next. */
export function selectObject(id) {
  if (!app.objects.length) app.objects = ['Object 1'];
  app.active = Math.min(id, app.objects.length);
  annotator.active = app.active;
  annotator.render(); // the click tool shows the selected object's clicks
  renderObjectList();
}

/** Remove object `id`; the later objects move down one id. */
export function removeObject(id) {
  annotator.removeObject(id);
  app.objects.splice(id - 1, 1);
  app.objects = app.objects.map((_, i) => `Object ${i + 1}`);
  selectObject(Math.min(app.active, Math.max(1, app.objects.length)));
}

/** One more object to paint, unless the model or the colour table is full. */
export function addObject() {
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

let lastStatsRender = 0;

/** The stats panel, at most every 250 ms unless `force`d (and the object areas while tracking). */
export function renderStats(force = false) {
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

/** Progress of a file: frames done of the whole video and the expected time left (`index` = last frame shown). */
export function showFileProgress(index) {
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
