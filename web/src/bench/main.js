/**
 * The bench page (web/bench.html): tracks a fixed clip with the exported student for N frames per configuration
 * (backend × WASM threads × variant × model resolution) and reports FPS and per-stage latency percentiles, memory
 * over time, a compute-peak probe, J&F (metrics_core.py in Pyodide) and the device, as a table, plots and a JSON file.
 *
 * Per frame, one frame in flight (so every stage is timed alone): capture (an ImageBitmap copy of the decoded source
 * frame, as the app grabs a video frame) -> transfer to the worker -> pre-processing (draw at model size +
 * getImageData) -> inference (Tracker.step: feeds, session.run, prob, memory update) -> post-processing (argmax +
 * overlay bitmap) -> back to the page -> drawing (frame + overlay on a canvas). e2e = capture start to drawn;
 * transfer = the round trip minus the worker's stages. Scoring and memory samples happen between frames, untimed.
 *
 * window.__mobilevosBench: {state, progress, results, error, run(), predictions(runIndex)} for scripts/bench.mjs and
 * the tests.
 */
import { labelsToPng, zipFiles, decodePng } from '../mask-encoding.js';
import { fetchManifest } from '../model-loader.js';
import { pickCapacity } from '../manifest.js';
import { registerServiceWorker } from '../sw-register.js';
import { WorkerClient } from '../ui/worker-client.js';
import { bundledClip, decodeFrame, decodeMask, folderClip, objectIds } from './clip.js';
import { DEFAULTS, expandConfigs, parseSettings, stepFlops } from './config.js';
import { deviceInfo, heapNow, measureAgentMemory } from './device.js';
import { charts, configLabel, markdownTable, TABLE_COLUMNS, tableRows } from './report.js';
import { scoringSession } from './scoring.js';
import { ALL_STAGES, flatness, pingPong, round, summarize } from './stats.js';

const $ = (s) => document.querySelector(s);
const now = () => performance.now();
const SCHEMA = 'mobilevos-bench-web/1';

const { settings: initial, unknown } = parseSettings(location.search);
const hook = {
  state: 'idle',
  progress: null,
  results: null,
  error: null,
  device: null,
  run: () => start(),
  predictions,
};
window.__mobilevosBench = hook;
let pickedClip = null;
let store = []; // per run: {sequences: [{name, width, height, numFrames, pngs: Map(t -> Uint8Array)}]}

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

function status(text) {
  $('#status').textContent = text;
}

// ------------------------------------------------------------------ the run
async function start() {
  if (hook.state === 'running') return hook.done;
  hook.state = 'running';
  hook.error = null;
  $('#btn-run').disabled = true;
  hook.done = runAll(readForm())
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

async function runAll(settings) {
  const created = new Date().toISOString();
  const device = hook.device ?? (hook.device = await deviceInfo());
  renderDevice(device);
  status('reading the model manifests');
  const manifests = {};
  for (const models of settings.models
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    manifests[models] = await fetchManifest(new URL(models, document.baseURI).href);
  }
  const clip = pickedClip ?? (await bundledClip(new URL(settings.clip, document.baseURI).href));
  const sequences = chooseSequences(clip, settings.sequence);
  const configs = expandConfigs(settings, manifests);
  if (!configs.length) throw new Error('no configuration to run: check backends, threads, variants and models');
  status(`decoding the clip (${sequences.map((s) => s.name).join(', ')})`);
  const prepared = await prepareSequences(sequences, settings.long || sequences.length > 1);
  const results = {
    schema: SCHEMA,
    created,
    url: location.href,
    settings,
    unknownParams: unknown,
    device,
    models: Object.fromEntries(
      Object.entries(manifests).map(([k, m]) => [
        k,
        {
          name: m.name,
          schema_version: m.schema_version,
          resolution: [m.model.height, m.model.width],
          capacities: m.objects.capacities,
          variants: Object.keys(m.variants),
          checkpoint: m.checkpoint ?? null,
          versions: m.versions ?? null,
        },
      ]),
    ),
    clip: {
      name: clip.name,
      source: clip.source,
      seed: clip.info?.seed ?? null,
      generator: clip.info?.generator ?? null,
      order: sequences.length > 1 ? 'each sequence once' : 'ping-pong (0..T-1, T-2..0, ...): no jump',
      sequences: prepared.map((p) => ({
        name: p.name,
        frames: p.frames.length,
        width: p.width,
        height: p.height,
        objects: p.ids,
        annotated: p.annotations.size,
      })),
    },
    probes: {},
    runs: [],
  };
  store = [];
  hook.results = results;
  for (let i = 0; i < configs.length; i++) {
    const config = configs[i];
    hook.progress = {
      config: i + 1,
      configs: configs.length,
      label: configLabel(config),
      frame: 0,
      frames: settings.frames,
    };
    status(`${i + 1}/${configs.length} ${configLabel(config)}: loading`);
    const run = await runConfig(config, settings, manifests[config.models], prepared, results.probes);
    results.runs.push(run);
    renderTable(results);
  }
  if (settings.score) await scoreRuns(results, prepared);
  for (const p of prepared) p.bitmaps?.forEach((b) => b.close());
  return results;
}

function chooseSequences(clip, wanted) {
  if (wanted === 'all') return clip.sequences;
  if (wanted) {
    const s = clip.sequences.find((x) => x.name === wanted || x.key === wanted);
    if (!s) throw new Error(`no sequence ${wanted} (have ${clip.sequences.map((x) => x.name).join(', ')})`);
    return [s];
  }
  return [clip.sequences[0]];
}

/** First-frame annotation and size of each sequence; frames decoded up front for a single sequence. */
async function prepareSequences(sequences, lazy) {
  const out = [];
  for (const seq of sequences) {
    const first = await decodeMask(await seq.annotations.get(0)());
    const ids = objectIds(first.labels);
    if (!ids.length) throw new Error(`sequence ${seq.name}: the first frame's annotation has no object`);
    const lut = new Uint8Array(256); // annotation id -> tracker slot 1..N (void and unknown ids -> background)
    ids.forEach((id, i) => {
      lut[id] = i + 1;
    });
    const trackerLabels = first.labels.map((v) => lut[v]);
    const p = {
      name: seq.name,
      seq,
      frames: seq.frames,
      annotations: seq.annotations,
      width: first.width,
      height: first.height,
      first: first.labels,
      trackerLabels,
      ids,
      bitmaps: null,
    };
    if (!lazy) p.bitmaps = await decodeAll(seq);
    out.push(p);
  }
  return out;
}

async function decodeAll(seq) {
  const bitmaps = [];
  for (const f of seq.frames) bitmaps.push(await decodeFrame(await f.load()));
  return bitmaps;
}

async function runConfig(config, settings, manifest, prepared, probes) {
  const run = { config, status: 'ok', reason: '', frames: 0, warmup: settings.warmup };
  const worker = new WorkerClient(
    new Worker(new URL('./bench-worker.js', import.meta.url), { type: 'module', name: 'mobilevos-bench' }),
  );
  const life = { stopped: false }; // a whole-page measurement answered after this is not this configuration's
  const modelBase = new URL(config.models, document.baseURI).href;
  try {
    const numObjects = Math.max(...prepared.map((p) => p.ids.length));
    const { info } = await worker.request('load', {
      modelBase,
      wasmBase: new URL(settings.wasm, document.baseURI).href,
      backend: config.backend,
      variant: config.variant,
      threads: config.threads,
      numObjects,
    });
    run.info = info;
    const probeKey = `${config.backend}/${info.threads}`;
    if (settings.probe > 0 && !probes[probeKey]) {
      status(`${hook.progress.config}/${hook.progress.configs} ${configLabel(config)}: compute-peak probe`);
      probes[probeKey] = (
        await worker.request('probe', { n: settings.probe, chain: settings.probechain, runs: settings.proberuns })
      ).probe;
    }
    await timeRun(run, worker, settings, prepared, life);
    const capacity = pickCapacity(manifest, numObjects);
    const flops = stepFlops(manifest, capacity, config.variant);
    const peak = probes[probeKey];
    const student = flops ? flops.flops / run.stages.infer.p50 / 1e6 : NaN;
    run.compute = {
      capacity,
      stepFlops: flops?.flops ?? null,
      flopsFrom: flops?.graph ?? null,
      studentGflops: student,
      peakGflops: peak?.gflops ?? null,
      ofPeak: peak ? student / peak.gflops : null,
      note: 'student GFLOP/s = manifest FLOPs of one step / inference p50 (which includes feeds, read-back, memory update)',
    };
  } catch (error) {
    run.status = error.code === 'skipped' ? 'skipped' : 'error';
    run.reason = error.message;
    if (run.status === 'error') console.error(configLabel(config), error);
  } finally {
    await worker.request('release').catch(() => {});
    life.stopped = true;
    worker.terminate();
  }
  return run;
}

/** The timed loop of one configuration. */
async function timeRun(run, worker, settings, prepared, life) {
  const single = prepared.length === 1;
  const total = single ? settings.frames : prepared.reduce((n, p) => n + p.frames.length - 1, 0);
  const per = Object.fromEntries([...ALL_STAGES, 'run'].map((s) => [s, new Float32Array(total)]));
  const memory = [];
  const agent = [];
  const view = $('#view');
  const ctx = view.getContext('2d');
  const runStore = { sequences: [] };
  store.push(runStore);
  let i = 0; // frames timed so far
  const t0 = now();
  const sampleMemory = async (frame) => {
    if (settings.gc && typeof window.gc === 'function') window.gc();
    const { sample } = await worker.request('sample', { gc: Boolean(settings.gc) });
    const heap = heapNow();
    memory.push({
      frame,
      t: round(now() - t0, 1),
      heapUsed: heap?.used ?? null,
      heapTotal: heap?.total ?? null,
      ...sample,
    });
  };
  // The whole page's memory: asked for without waiting (the browser may answer only at its next GC, up to ~20 s
  // later, unless Chromium runs with --enable-blink-features=ForceEagerMeasureMemory as scripts/bench.mjs does).
  const pendingAgent = [];
  const sampleAgent = (frame) => {
    if (!settings.agentmemory || hook.agentMemoryOff) return;
    const requestedMs = round(now() - t0, 1);
    pendingAgent.push(
      measureAgentMemory(20000).then((m) => {
        if (!m) {
          hook.agentMemoryOff = true;
          return;
        } // unavailable: not cross-origin isolated, or not Chromium
        agent.push({
          frame,
          requestedMs,
          answeredMs: round(now() - t0, 1),
          ...m,
          ...(life.stopped ? { afterWorkerStopped: true } : {}),
        });
      }),
    );
  };

  for (const [k, p] of prepared.entries()) {
    const bitmaps = p.bitmaps ?? (await decodeAll(p.seq));
    if (view.width !== p.width || view.height !== p.height) Object.assign(view, { width: p.width, height: p.height });
    const annotate = async (bitmap) => {
      const frame = await createImageBitmap(bitmap);
      const r = await worker.request(
        'annotate',
        { frame, labels: p.trackerLabels, width: p.width, height: p.height, numObjects: p.ids.length },
        [frame],
      );
      r.frame.close();
      r.overlay.close();
    };
    if (k === 0) {
      // warm-up steps on frame 1, then annotate again (the memory is reset), as `mobilevos bench` does
      await annotate(bitmaps[0]);
      for (let w = 0; w < settings.warmup; w++) {
        const frame = await createImageBitmap(bitmaps[Math.min(1, bitmaps.length - 1)]);
        const r = await worker.request('step', { frame }, [frame]);
        r.frame.close();
        r.overlay.close();
      }
    }
    await annotate(bitmaps[0]);
    if (k === 0) {
      await sampleMemory(0);
      sampleAgent(0);
    }
    const steps = single ? settings.frames : p.frames.length - 1;
    const seqStore = {
      name: p.name,
      width: p.width,
      height: p.height,
      numFrames: Math.min(p.frames.length, steps + 1),
      pngs: new Map([[0, labelsToPng(p.first, p.width, p.height)]]),
    };
    runStore.sequences.push(seqStore);
    for (let s = 1; s <= steps; s++, i++) {
      const index = single ? pingPong(s, bitmaps.length) : s;
      const a = now();
      const frame = await createImageBitmap(bitmaps[index]);
      const b = now();
      const reply = await worker.request('step', { frame }, [frame]);
      const c = now();
      ctx.drawImage(reply.frame, 0, 0, view.width, view.height);
      ctx.drawImage(reply.overlay, 0, 0, view.width, view.height);
      reply.frame.close();
      reply.overlay.close();
      const d = now();
      const t = reply.timings;
      per.capture[i] = b - a;
      per.pre[i] = t.pre;
      per.infer[i] = t.infer;
      per.post[i] = t.post;
      per.run[i] = t.run ?? NaN;
      per.transfer[i] = c - b - t.pre - t.infer - t.post;
      per.draw[i] = d - c;
      per.e2e[i] = d - a;
      if (settings.score && s < p.frames.length && s === index) {
        // first pass: keep the mask at the annotation's size
        const { labels } = await worker.request('labels', { width: p.width, height: p.height });
        seqStore.pngs.set(s, labelsToPng(remap(labels, p.ids), p.width, p.height));
      }
      const n = i + 1;
      if (n % settings.sample === 0 || n === total) await sampleMemory(n);
      if (settings.long && n % 1000 === 0) sampleAgent(n);
      if (n % 10 === 0 || n === total) {
        hook.progress.frame = n;
        hook.progress.frames = total;
        hook.progress.fps =
          1000 / (per.e2e.subarray(Math.max(0, n - 10), n).reduce((x, y) => x + y, 0) / Math.min(10, n));
        status(
          `${hook.progress.config}/${hook.progress.configs} ${hook.progress.label}: frame ${n}/${total}, ` +
            `${hook.progress.fps.toFixed(1)} FPS`,
        );
      }
    }
    if (!p.bitmaps) bitmaps.forEach((bm) => bm.close());
  }
  run.wallMs = now() - t0;
  sampleAgent(total);
  await Promise.race([Promise.all(pendingAgent), new Promise((r) => setTimeout(r, 5000))]);
  agent.sort((x, y) => x.frame - y.frame);
  run.frames = total;
  run.stages = Object.fromEntries(ALL_STAGES.map((s) => [s, roundStats(summarize(per[s]))]));
  if (per.run.some(Number.isFinite)) run.stages.run = roundStats(summarize(per.run.filter(Number.isFinite)));
  run.fps = 1000 / run.stages.e2e.mean;
  run.perFrame = Object.fromEntries([...ALL_STAGES].map((s) => [s, Array.from(per[s], (v) => round(v, 3))]));
  run.memory = memory;
  run.agentMemory = agent;
  // Memory growth from the first sample after the first pass over the clip (whose masks are kept for J&F) to the
  // last; the frame-0 sample (annotation only: the bank's slots share one entry) is left out.
  const firstPass = single ? prepared[0].frames.length - 1 : total;
  const steady = memory.filter((m) => m.frame >= firstPass);
  const compared = steady.length >= 2 ? steady : memory.slice(1);
  run.flatness = flatness(
    { e2e: per.e2e, infer: per.infer },
    compared.map((m) => ({
      frame: m.frame,
      heapUsed: m.heapUsed,
      workerHeapUsed: m.workerHeapUsed,
      bankBytes: m.bankBytes,
      bankTensors: m.bankTensors,
    })),
  );
  run.flatness.memoryFrom = compared[0]?.frame ?? null;
  run.bankConstant =
    memory.length > 1 &&
    memory.slice(1).every((m) => m.bankBytes === memory[1].bankBytes && m.bankTensors === memory[1].bankTensors);
}

const roundStats = (s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'n' ? v : round(v, 3)]));

/** Tracker slots 1..N back to the annotation's object ids. */
function remap(labels, ids) {
  if (ids.every((id, i) => id === i + 1)) return labels;
  const lut = new Uint8Array(256);
  ids.forEach((id, i) => {
    lut[i + 1] = id;
  });
  return labels.map((v) => lut[v]);
}

/** J&F of every run's first pass, with metrics_core.py in Pyodide (after all timing, so it disturbs none). */
async function scoreRuns(results, prepared) {
  const gtCache = new Map();
  const gtOf = async (p, numFrames) => {
    const key = `${p.name}/${numFrames}`;
    if (!gtCache.has(key)) {
      const gt = new Map();
      for (const [t, load] of p.annotations) if (t < numFrames) gt.set(t, (await decodeMask(await load())).labels);
      gtCache.set(key, gt);
    }
    return gtCache.get(key);
  };
  for (const [r, run] of results.runs.entries()) {
    if (run.status !== 'ok') continue;
    status(`J&F of ${configLabel(run.config)} (metrics_core.py in Pyodide)`);
    try {
      const session = await scoringSession();
      for (const seq of store[r].sequences) {
        const p = prepared.find((x) => x.name === seq.name);
        const pred = new Map([...seq.pngs].map(([t, png]) => [t, decodePng(png).samples]));
        if (seq.numFrames < 3) throw new Error('J&F needs at least 3 frames (the first and last are not scored)');
        session.add(seq.name, seq.width, seq.height, await gtOf(p, seq.numFrames), pred, seq.numFrames);
      }
      run.jf = session.finish();
      run.jf.loadMs = session.scorer.loadMs;
    } catch (error) {
      run.jf = { error: error.message };
    }
  }
}

/** Predicted masks of run `r` as base64 index PNGs (tests and downloads). */
function predictions(r) {
  const b64 = (bytes) => {
    let s = '';
    for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));
    return btoa(s);
  };
  return {
    sequences: (store[r]?.sequences || []).map((s) => ({
      name: s.name,
      width: s.width,
      height: s.height,
      numFrames: s.numFrames,
      frames: Object.fromEntries([...s.pngs].map(([t, png]) => [t, b64(png)])),
    })),
  };
}

// ------------------------------------------------------------------ rendering
function renderDevice(d) {
  const gpu = d.webgpu.available
    ? `${[d.webgpu.vendor, d.webgpu.architecture, d.webgpu.description].filter(Boolean).join(' ') || 'adapter'}` +
      `${d.webgpu.isFallbackAdapter ? ' (fallback)' : ''}, shader-f16 ${d.webgpu.shaderF16}`
    : d.webgpu.reason;
  $('#device').innerHTML = '';
  for (const [k, v] of [
    ['browser', d.userAgent],
    ['logical CPUs', d.hardwareConcurrency],
    ['device memory', d.deviceMemoryGiB ? `${d.deviceMemoryGiB} GiB` : '–'],
    ['cross-origin isolated', d.crossOriginIsolated],
    ['WASM SIMD', d.wasmSimd],
    ['WebGPU', gpu],
    [
      'heap measurement',
      [
        d.performanceMemory && 'performance.memory',
        d.measureUserAgentSpecificMemory && 'measureUserAgentSpecificMemory',
      ]
        .filter(Boolean)
        .join(', ') || 'none',
    ],
  ]) {
    const row = document.createElement('tr');
    row.innerHTML = '<th></th><td></td>';
    row.children[0].textContent = k;
    row.children[1].textContent = String(v);
    $('#device').append(row);
  }
}

function renderTable(results) {
  const table = $('#results');
  table.innerHTML = '';
  const head = document.createElement('tr');
  for (const c of TABLE_COLUMNS) head.append(Object.assign(document.createElement('th'), { textContent: c }));
  table.append(head);
  for (const row of tableRows(results)) {
    const tr = document.createElement('tr');
    for (const cell of row) tr.append(Object.assign(document.createElement('td'), { textContent: cell }));
    table.append(tr);
  }
}

function render(results) {
  renderTable(results);
  const c = charts(results);
  $('#charts').innerHTML = [c.fps, c.latency, c.infer, c.memory].join('');
  const probes = Object.entries(results.probes).map(
    ([k, p]) =>
      `${k}: ${p.gflops.toFixed(1)} GFLOP/s ` +
      `(median of ${p.runs} runs of ${p.chain}×MatMul ${p.n}×${p.n} fp32, best ${p.bestGflops.toFixed(1)})`,
  );
  $('#probes').textContent = probes.join('; ') || 'probe off';
  const jf = results.runs
    .filter((r) => r.jf?.summary)
    .map(
      (r) =>
        `${configLabel(r.config)}: J&F ${r.jf.summary['J&F'].toFixed(3)} ` +
        `(J ${r.jf.summary.J.toFixed(3)}, F ${r.jf.summary.F.toFixed(3)}; ${r.jf.scoredFrames} frames)`,
    );
  $('#jf').textContent = jf.length
    ? `${jf.join('; ')} — ${results.runs.find((r) => r.jf?.scorer).jf.scorer}`
    : 'not scored';
  const long = results.runs
    .filter((r) => r.status === 'ok')
    .map((r) => {
      const f = r.flatness;
      const heap = f.memory.heapUsed
        ? `, page heap ${(f.memory.heapUsed.growth / 2 ** 20).toFixed(2)} MiB growth from frame ${f.memoryFrom}`
        : '';
      return (
        `${configLabel(r.config)}: e2e median first ${f.window} frames ${f.latency.e2e.first.toFixed(1)} ms, last ${f.window} ` +
        `${f.latency.e2e.last.toFixed(1)} ms (×${f.latency.e2e.ratio.toFixed(2)})${heap}, memory bank ${r.bankConstant ? 'constant' : 'changed'}`
      );
    });
  $('#flatness').textContent = long.join('; ');
  $('#markdown').textContent = markdownTable(results);
  $('#btn-json').disabled = false;
  $('#btn-masks').disabled = !store.some((s) => s.sequences.length);
}

function download(name, blob) {
  const a = Object.assign(document.createElement('a'), { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

// ------------------------------------------------------------------ wiring
fillForm(initial);
$('#btn-run').addEventListener('click', () => start());
$('#btn-json').addEventListener('click', () => {
  const r = hook.results;
  download(
    `mobilevos-bench-${r.created.replace(/[:.]/g, '-')}.json`,
    new Blob([JSON.stringify(r)], { type: 'application/json' }),
  );
});
$('#btn-masks').addEventListener('click', () => {
  const files = {};
  store.forEach((runStore, r) => {
    const label = configLabel(hook.results.runs[r].config).replace(/\s+/g, '_');
    for (const s of runStore.sequences)
      for (const [t, png] of s.pngs) files[`${label}/${s.name}/${String(t).padStart(5, '0')}.png`] = png;
  });
  download('mobilevos-bench-masks.zip', new Blob([zipFiles(files)], { type: 'application/zip' }));
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
