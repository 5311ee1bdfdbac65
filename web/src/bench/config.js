/**
 * The bench's settings (URL parameters, also the form's fields) and the list of configurations they expand to.
 *
 *   frames=200        tracked frames per configuration (the clip is looped forth and back: no jump)
 *   warmup=5          steps run and discarded before the timed frames (after the sessions' own warm-up)
 *   backends=wasm     comma list of wasm, webgpu
 *   threads=1,2       WASM thread counts (needs cross-origin isolation above 1)
 *   variants=auto     comma list of fp32, fp16, int8; auto = every exported variant meant for the backend
 *   models=models/student/   comma list of exported model folders (default: the page's, DEFAULT_MODEL)
 *   sizes=auto        model input sizes: auto (the page's choice: the backend's default size, measured, and the step
 *                     down or up its measurement calls for, size-fit.js), first (the export's WASM default), all, or
 *                     a comma list of HxW and auto (auto,240x320: the page's choice against a forced size)
 *   revisit=1         with auto, the size also moves while tracking as the page's does (size-fit.js SizeRevisit; the
 *                     run lists its moves); 0: the load's choice only
 *   clip=bench/clip/clip.json  the bundled clip (a picked DAVIS folder replaces it)
 *   sequence=         sequence of a picked folder (default: the first; `all` tracks every sequence once)
 *   objects=0         track only the annotation's first N objects, the others scored as background (0 = all): a
 *                     webcam visitor marks one object, which runs the one-object graph (K=1)
 *   probe=1024        compute-peak probe: n of the n×n MatMuls (0 = off); probechain=4, proberuns=5
 *   rounds=1          run the configurations this many times, in alternating order (A B, B A, A B, ...), each
 *                     round with its own probe: ratios between configurations are then taken within a round, on a
 *                     host whose speed drifts by more than they differ
 *   sample=100        memory sample every this many frames
 *   score=1           J&F of the first pass with metrics_core.py in Pyodide (0 = off)
 *   long=1            long run: 10,000 frames (unless frames= is given), one configuration, gc before samples
 *   gc=1              call gc() before memory samples (needs --js-flags=--expose-gc)
 *   agentmemory=1     performance.measureUserAgentSpecificMemory() at the start and end of each configuration
 *   autorun=1         start at once (scripts/bench.mjs)   sw=0  no service worker
 */
import { atSize } from '../manifest.js';
import { DEFAULT_MODEL, modelFolder } from '../shipped-models.js';

export const DEFAULTS = {
  frames: 200,
  warmup: 5,
  backends: 'wasm',
  threads: '1,2',
  variants: 'auto',
  models: modelFolder(DEFAULT_MODEL),
  sizes: 'auto',
  wasm: 'ort/',
  clip: 'bench/clip/clip.json',
  sequence: '',
  objects: 0,
  probe: 1024,
  probechain: 4,
  proberuns: 5,
  sample: 100,
  score: 1,
  long: 0,
  gc: 0,
  agentmemory: 1,
  autorun: 0,
  sw: 1,
  rounds: 1,
  revisit: 1,
};
const LONG_FRAMES = 10000;
const NUMERIC = [
  'objects',
  'revisit',
  'frames',
  'warmup',
  'probe',
  'probechain',
  'proberuns',
  'sample',
  'score',
  'long',
  'gc',
  'agentmemory',
  'autorun',
  'sw',
  'rounds',
];

/** Settings from URL parameters over the defaults; `unknown` lists parameters the bench does not know. */
export function parseSettings(search) {
  const query = new URLSearchParams(search);
  const settings = { ...DEFAULTS };
  const unknown = [];
  for (const [key, value] of query) {
    if (!(key in DEFAULTS)) unknown.push(key);
    else settings[key] = NUMERIC.includes(key) ? Number(value) : value;
  }
  if (settings.long && !query.has('frames')) settings.frames = LONG_FRAMES;
  return { settings, unknown };
}

const list = (text) =>
  String(text)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** The model sizes [height, width] a `sizes` setting names in `manifest` ('first', 'all' or "HxW,..."), 'auto'
 * among them standing for the page's choice (the bench worker makes it as the page does). */
export function pickSizes(sizes, manifest) {
  const all = manifest.model.sizes.map((s) => [s.height, s.width]);
  if (sizes === 'first') return all.slice(0, 1);
  if (sizes === 'all') return all;
  return list(sizes).map((text) => {
    if (text === 'auto') return 'auto';
    const size = all.find(([h, w]) => `${h}x${w}` === text);
    if (!size) throw new Error(`size ${text} is not exported (${all.map(([h, w]) => `${h}x${w}`).join(', ')})`);
    return size;
  });
}

/**
 * Configurations to run: every model folder × model size × backend × (thread count, WASM only) × variant. `manifests` maps a
 * model folder to its manifest. Variants not exported or not meant for a backend are left out when `auto`, and kept
 * (to be reported as skipped) when asked for by name. A long run keeps the first configuration only; `rounds` > 1
 * repeats the list, every other round reversed, each configuration tagged with its `round` (1, 2, ...).
 */
export function expandConfigs(settings, manifests) {
  const configs = [];
  const folders = list(settings.models);
  for (const models of folders) {
    // several folders: each configuration names its model (the folder's last part, e.g. student_pruned)
    const model = folders.length > 1 ? { model: models.replace(/\/+$/, '').split('/').pop() } : {};
    const manifest = manifests[models];
    for (const size of manifest ? pickSizes(settings.sizes, manifest) : [null]) {
      const resolution = size === 'auto' ? 'auto' : size ? `${size[0]}x${size[1]}` : '?';
      for (const backend of list(settings.backends)) {
        const threads = backend === 'wasm' ? list(settings.threads).map(Number) : [0];
        const exported = manifest ? Object.keys(manifest.variants) : [];
        const meant = (v) => {
          const targets = manifest?.variants[v]?.targets;
          return Array.isArray(targets)
            ? targets.includes(backend)
            : v === 'fp32' || (v === 'fp16') === (backend === 'webgpu');
        };
        const variants = settings.variants === 'auto' ? exported.filter(meant) : list(settings.variants);
        for (const t of threads)
          for (const variant of variants)
            configs.push({ models, ...model, size, resolution, backend, threads: t, variant });
      }
    }
  }
  if (settings.long) return configs.slice(0, 1);
  const rounds = Math.max(1, Math.floor(settings.rounds) || 1);
  if (rounds === 1) return configs;
  // alternating order: a drift during the run favours no configuration
  return Array.from({ length: rounds }, (_, r) =>
    (r % 2 ? [...configs].reverse() : configs).map((c) => ({ ...c, round: r + 1 })),
  ).flat();
}

/**
 * FLOPs of one tracking step for an object capacity and variant, from the manifest (graphs record `flops`, 2 per
 * multiply-add). Falls back to the fp32 graph (quantisation does not change the arithmetic's count).
 */
export function stepFlops(manifest, capacity, variant) {
  const graphs = manifest.graphs.filter((g) => g.capacity === capacity);
  for (const v of [variant, 'fp32']) {
    const candidates = graphs.filter((g) => g.variant === v);
    const g = candidates.find((x) => x.kind === 'step') ?? candidates[0];
    if (!g) continue;
    const flops = g.flops_step ?? g.flops?.step ?? (typeof g.flops === 'number' ? g.flops : null);
    if (flops) return { flops, graph: g.file, fromVariant: v };
  }
  return null;
}

/**
 * The manifest FLOPs of one step of `run`, averaged over its frames at each input size (Auto's moves while tracking,
 * run.moves: {frame, size}; one size without them): {flops, graph}, or null when the manifest has none.
 */
export function meanStepFlops(run, manifest, capacity, variant) {
  const segments = [{ frame: 0, size: [run.info.model.height, run.info.model.width] }, ...run.moves];
  let total = 0;
  let graph = null;
  for (const [k, { frame, size }] of segments.entries()) {
    const flops = stepFlops(atSize(manifest, size), capacity, variant);
    if (!flops) return null;
    total += flops.flops * ((segments[k + 1]?.frame ?? run.frames) - frame);
    graph = flops.graph;
  }
  return { flops: total / run.frames, graph };
}
