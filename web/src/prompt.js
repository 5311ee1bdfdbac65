/**
 * Click to mask: the prompt maps and the head's session (the manifest's `prompt` section). No DOM: the worker, node's
 * tests and the e2e tests use it.
 *
 *   const head = new PromptHead(ort, manifest, { backend: 'wasm', loadModel });
 *   const features = await head.features(rgba, tracker);         // once per frozen frame (an encoder run)
 *   const maps = promptMaps(clicks, box, previous, [H, W], manifest.prompt.click_sigma);
 *   const prob = await head.run(features, maps);                 // Float32Array H*W, the object where prob > 0.5
 *
 * `promptMaps` is `mobilevos.prompts.prompt_maps` (Python) line for line; tests/prompt_maps_cases.json holds cases
 * both must reproduce. A click is {y, x, positive} and a box {y0, x0, y1, x1} (inclusive bounds), in the coordinates
 * `scale` maps to the model input; `frameToModel` gives model coordinates for a letterboxed frame (scale 1 after).
 */
import { tensorSpec } from './manifest.js';
import { frameData } from './preprocess.js';

/**
 * The head's prompt maps Float32Array [4, H, W] (positive, negative, box, previous) at `size` [H, W]. Click and box
 * coordinates are multiplied by `scale` [sy, sx] first; `previous` is a probability map at `size` (or null).
 */
export function promptMaps(clicks, box, previous, size, sigma, scale = [1, 1]) {
  const [h, w] = size;
  const plane = h * w;
  const maps = new Float32Array(4 * plane);
  const denominator = 2 * sigma * sigma;
  for (const c of clicks) {
    const cy = (c.y + 0.5) * scale[0] - 0.5;
    const cx = (c.x + 0.5) * scale[1] - 0.5;
    const base = c.positive ? 0 : plane;
    for (let y = 0; y < h; y++) {
      const dy2 = (y - cy) ** 2;
      for (let x = 0; x < w; x++) {
        const g = Math.exp(-(dy2 + (x - cx) ** 2) / denominator);
        const i = base + y * w + x;
        if (g > maps[i]) maps[i] = g;
      }
    }
  }
  if (box) {
    const r0 = Math.max(0, Math.floor(box.y0 * scale[0]));
    const r1 = Math.min(h, Math.ceil((box.y1 + 1) * scale[0]));
    const c0 = Math.max(0, Math.floor(box.x0 * scale[1]));
    const c1 = Math.min(w, Math.ceil((box.x1 + 1) * scale[1]));
    for (let y = r0; y < r1; y++) maps.fill(1, 2 * plane + y * w + c0, 2 * plane + y * w + Math.max(c0, c1));
  }
  if (previous) maps.set(previous.subarray(0, plane), 3 * plane);
  return maps;
}

/**
 * Clicks and a box in a frame's pixels -> the model input's pixels when the frame is letterboxed into `box`
 * (geometry.js `letterbox`) from a frameWidth x frameHeight frame: the same continuous mapping as the frame's
 * resize (pixel centres at +0.5), so `promptMaps(..., scale = [1, 1])` builds what Python builds for a resized frame.
 */
export function frameToModel(clicks, rect, frameWidth, frameHeight, letterboxBox) {
  const sx = letterboxBox.width / frameWidth;
  const sy = letterboxBox.height / frameHeight;
  const px = (x) => (x + 0.5) * sx - 0.5 + letterboxBox.x;
  const py = (y) => (y + 0.5) * sy - 0.5 + letterboxBox.y;
  return {
    clicks: clicks.map((c) => ({ y: py(c.y), x: px(c.x), positive: c.positive })),
    // an inclusive box keeps its edges: [y0, y1 + 1) in frame pixels -> [y0', y1' + 1) in model pixels
    box: rect && {
      y0: rect.y0 * sy + letterboxBox.y,
      x0: rect.x0 * sx + letterboxBox.x,
      y1: (rect.y1 + 1) * sy + letterboxBox.y - 1,
      x1: (rect.x1 + 1) * sx + letterboxBox.x - 1,
    },
  };
}

/**
 * The head graph's session: one run per click, on the features of the frozen frame; and, when the export has one
 * (`prompt.encoder`: the key encoder of the student the head was trained on, where the tracking student's is another),
 * the session of the graph that gives those features.
 */
export class PromptHead {
  /**
   * @param {any} ort  the onnxruntime-web module
   * @param {object} manifest  a validated manifest with a `prompt` section (at the model size in use)
   * @param {{backend: 'wasm'|'webgpu', loadModel: (entry: object) => Promise<Uint8Array>, sessionOptions?: object}} options
   */
  constructor(ort, manifest, { backend, loadModel, sessionOptions = {} }) {
    if (!manifest.prompt) {
      throw Object.assign(new Error('this model has no prompt head (re-export it with `python -m export`)'), {
        code: 'no-prompt-head',
      });
    }
    this.ort = ort;
    this.manifest = manifest;
    this.prompt = manifest.prompt;
    const create = (entry) =>
      loadModel(entry).then((bytes) =>
        ort.InferenceSession.create(bytes, {
          executionProviders: [backend],
          graphOptimizationLevel: 'all',
          ...sessionOptions,
        }),
      );
    this.session = create(this.prompt);
    this.encoder = this.prompt.encoder ? create(this.prompt.encoder) : null;
  }

  /**
   * The head's features (CPU tensors by name) of a frame, RGBA bytes at the model size: from the head's own encoder
   * graph when the export has one, else from the tracker's student graph (`Tracker.features`).
   */
  async features(rgba, tracker) {
    if (!this.encoder) return tracker.features(rgba);
    const session = await this.encoder;
    const { encoder } = this.prompt;
    const input = encoder.inputs[0];
    const frame = new this.ort.Tensor(input.dtype, frameData(rgba, this.manifest), input.shape);
    return session.run({ [input.name]: frame }, this.prompt.features.outputs);
  }

  /** The object's probability (Float32Array, H*W at the model size) for the prompt maps [4, H, W]. */
  async run(features, maps) {
    const session = await this.session;
    const spec = tensorSpec({ inputs: this.prompt.inputs, name: this.prompt.name }, this.prompt.prompts_input);
    const feeds = { ...features, [this.prompt.prompts_input]: new this.ort.Tensor('float32', maps, spec.shape) };
    const outputs = await session.run(feeds, [this.prompt.output]);
    const prob = outputs[this.prompt.output];
    const data = prob.location === 'cpu' ? prob.data : await prob.getData(true);
    return data;
  }

  async release() {
    const sessions = await Promise.allSettled([this.session, this.encoder].filter(Boolean));
    await Promise.all(sessions.filter((s) => s.status === 'fulfilled').map((s) => s.value.release()));
  }
}
