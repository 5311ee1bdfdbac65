/**
 * The bench's runs: the clip and its sequences prepared once, then each configuration (backend × WASM threads ×
 * variant × model) in a fresh worker (bench-worker.js): load, compute-peak probe, the timed loop (timing.js), and
 * finally J&F of every run (masks.js). The results object is what the page renders and the JSON download holds.
 */
import { fetchManifest } from '../model-loader.js';
import { pickCapacity } from '../manifest.js';
import { WorkerClient } from '../ui/worker-client.js';
import { bundledClip, decodeAll, decodeMask, keepObjects, trackedIds } from './clip.js';
import { expandConfigs, meanStepFlops } from './config.js';
import { deviceInfo } from './device.js';
import { scoreRuns } from './masks.js';
import { renderDevice, renderTable } from './render.js';
import { configLabel } from './report.js';
import { hook, predicted, status, unknown } from './state.js';
import { timeRun } from './timing.js';

const SCHEMA = 'mobilevos-bench-web/1';

/** Run every configuration of `settings` on `picked` (a folder's clip) or the bundled clip; returns the results. */
export async function runAll(settings, picked) {
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
  const clip = picked ?? (await bundledClip(new URL(settings.clip, document.baseURI).href));
  const sequences = chooseSequences(clip, settings.sequence);
  const configs = expandConfigs(settings, manifests);
  if (!configs.length) throw new Error('no configuration to run: check backends, threads, variants and models');
  status(`decoding the clip (${sequences.map((s) => s.name).join(', ')})`);
  const prepared = await prepareSequences(sequences, settings.long || sequences.length > 1, settings.objects);
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
          sizes: m.model.sizes.map((s) => [s.height, s.width]),
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
  predicted.length = 0;
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

/**
 * First-frame annotation and size of each sequence (its first `maxObjects` objects, 0 = all); frames decoded up front
 * for a single sequence.
 */
async function prepareSequences(sequences, lazy, maxObjects) {
  const out = [];
  for (const seq of sequences) {
    const first = await decodeMask(await seq.annotations.get(0)());
    const ids = trackedIds(first.labels, maxObjects);
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
      first: keepObjects(first.labels, ids), // the annotated frame as the run tracks it (its first mask)
      trackerLabels,
      ids,
      bitmaps: null,
    };
    if (!lazy) p.bitmaps = await decodeAll(seq);
    out.push(p);
  }
  return out;
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
      size: config.size,
      numObjects,
      revisit: settings.revisit !== 0,
    });
    run.info = info;
    // with rounds, a probe per round (`wasm/2/r3`): the host's speed drifts between rounds
    const probeKey = `${config.backend}/${info.threads}${config.round ? `/r${config.round}` : ''}`;
    if (settings.probe > 0 && !probes[probeKey]) {
      status(`${hook.progress.config}/${hook.progress.configs} ${configLabel(config)}: compute-peak probe`);
      probes[probeKey] = (
        await worker.request('probe', { n: settings.probe, chain: settings.probechain, runs: settings.proberuns })
      ).probe;
    }
    await timeRun(run, worker, settings, prepared, life);
    const capacity = pickCapacity(manifest, numObjects);
    const flops = meanStepFlops(run, manifest, capacity, config.variant);
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
