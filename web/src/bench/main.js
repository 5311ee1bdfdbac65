/**
 * The bench page (web/bench.html): tracks a fixed clip with the exported student for N frames per configuration
 * (backend × WASM threads × variant × model resolution) and reports FPS and per-stage latency percentiles, memory
 * over time, a compute-peak probe, J&F (metrics_core.py in Pyodide) and the device, as a table, plots and a JSON file.
 *
 * This module: the form, the Run button and the downloads. The runs: runner.js and timing.js; the views: render.js;
 * the hook that scripts/bench.mjs and the tests read: state.js.
 */
import { zipFiles } from '../mask-encoding.js';
import { registerServiceWorker } from '../sw-register.js';
import { saveFile } from '../ui/save-file.js';
import { folderClip } from './clip.js';
import { DEFAULTS } from './config.js';
import { deviceInfo } from './device.js';
import { predictions } from './masks.js';
import { render, renderDevice } from './render.js';
import { configLabel } from './report.js';
import { runAll } from './runner.js';
import { $, hook, initial, predicted, status, unknown } from './state.js';

Object.assign(hook, { run: () => start(), predictions });
let pickedClip = null;

// ------------------------------------------------------------------ form
function fillForm(s) {
  for (const [key, value] of Object.entries(s)) {
    const el = document.querySelector(`[name="${key}"]`);
    if (!el) continue;
    if (el.type === 'checkbox') el.checked = Boolean(value);
    else el.value = value;
  }
}

function readForm() {
  const s = { ...initial };
  for (const key of Object.keys(DEFAULTS)) {
    const el = document.querySelector(`[name="${key}"]`);
    if (!el) continue;
    const value = el.type === 'checkbox' ? (el.checked ? 1 : 0) : el.value;
    s[key] = typeof DEFAULTS[key] === 'number' ? Number(value) : value;
  }
  return s;
}

// ------------------------------------------------------------------ the run
async function start() {
  if (hook.state === 'running') return hook.done;
  hook.state = 'running';
  hook.error = null;
  $('#btn-run').disabled = true;
  hook.done = runAll(readForm(), pickedClip)
    .then((results) => {
      hook.results = results;
      hook.state = 'done';
      render(results);
      status(
        `done: ${results.runs.filter((r) => r.status === 'ok').length} of ${results.runs.length} configurations ran`,
      );
      return results;
    })
    .catch((error) => {
      console.error(error);
      hook.error = { message: error.message, stack: String(error.stack || '') };
      hook.state = 'error';
      status(`error: ${error.message}`);
    })
    .finally(() => {
      $('#btn-run').disabled = false;
    });
  return hook.done;
}

// ------------------------------------------------------------------ wiring
fillForm(initial);
$('#btn-run').addEventListener('click', () => start());
$('#btn-json').addEventListener('click', () => {
  const r = hook.results;
  saveFile(
    new Blob([JSON.stringify(r)], { type: 'application/json' }),
    `mobilevos-bench-${r.created.replace(/[:.]/g, '-')}.json`,
  );
});
$('#btn-masks').addEventListener('click', () => {
  const files = {};
  predicted.forEach((runStore, r) => {
    const label = configLabel(hook.results.runs[r].config).replace(/\s+/g, '_');
    for (const s of runStore.sequences)
      for (const [t, png] of s.pngs) files[`${label}/${s.name}/${String(t).padStart(5, '0')}.png`] = png;
  });
  saveFile(new Blob([zipFiles(files)], { type: 'application/zip' }), 'mobilevos-bench-masks.zip');
});
$('#folder').addEventListener('change', (event) => {
  try {
    pickedClip = folderClip([...event.target.files]);
    const names = pickedClip.sequences.map((s) => s.name);
    $('#clip-name').textContent = `${pickedClip.name}: ${names.length} sequence(s) with a first-frame annotation`;
    const options = $('#sequences');
    options.innerHTML = '';
    for (const value of ['all', ...names]) options.append(Object.assign(document.createElement('option'), { value }));
    hook.picked = { name: pickedClip.name, sequences: names };
  } catch (error) {
    pickedClip = null;
    $('#clip-name').textContent = error.message;
    hook.picked = { error: error.message };
  }
});
$('#btn-bundled').addEventListener('click', () => {
  pickedClip = null;
  $('#folder').value = '';
  $('#clip-name').textContent = 'bundled clip';
});
if (unknown.length) status(`unknown URL parameters ignored: ${unknown.join(', ')}`);
if (initial.sw) registerServiceWorker();
deviceInfo().then((d) => {
  hook.device = d;
  renderDevice(d);
  if (initial.autorun) start();
});
