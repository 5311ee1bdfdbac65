/**
 * Replaying the export's parity fixtures (fixtures/index.json, written by export/fixtures.py) through a Tracker:
 * the annotate call on frame 0 with the annotation, then track calls fed by the memory bank (each fixture call names
 * its call, 'annotate' or 'track', as the manifest's `calls` does), each output compared with what Python's
 * onnxruntime produced. Shared by the node unit test (WASM) and the worker's debug 'parity' action (WebGPU in the
 * browser), so both check the app's own code path. `runPromptParity` replays the click-to-mask steps (`prompt` in
 * index.json, when the export has a prompt head) through the tracker's features and a PromptHead.
 */
import { decodePng } from './mask-encoding.js';
import { promptMaps } from './prompt.js';

/** IEEE half floats (little-endian bytes) -> Float32Array. */
function float16ToFloat32(bytes) {
  const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 1);
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) {
    const h = halves[i];
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    out[i] =
      exp === 0
        ? sign * 2 ** -14 * (frac / 1024)
        : exp === 31
          ? frac
            ? NaN
            : sign * Infinity
          : sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }
  return out;
}

/** An RGB(A) PNG -> the RGBA bytes a canvas would give (alpha 255). */
export function pngToRgba(bytes) {
  const png = decodePng(bytes);
  const rgba = new Uint8ClampedArray(png.width * png.height * 4).fill(255);
  for (let p = 0; p < png.width * png.height; p++) {
    for (let c = 0; c < 3; c++) rgba[p * 4 + c] = png.samples[p * png.channels + (png.channels >= 3 ? c : 0)];
  }
  return rgba;
}

/** Gap between the largest and second-largest channel at pixel p (below ~2 tolerances, argmax is a coin flip). */
function margin(prob, channels, plane, p) {
  let a = -Infinity;
  let b = -Infinity;
  for (let c = 0; c < channels; c++) {
    const v = prob[c * plane + p];
    if (v > a) {
      b = a;
      a = v;
    } else if (v > b) b = v;
  }
  return a - b;
}

/**
 * Run every fixture call of the runs whose capacity is in `capacities` (all by default).
 * @param tracker  a Tracker of the fixtures' variant
 * @param index  fixtures/index.json
 * @param {(name: string) => Promise<Uint8Array>} read  bytes of a file in the fixtures folder
 * @returns {Promise<{graph, frame, output, maxAbs, outside, count, maskPixelsDiffering}[]>}
 */
export async function runParity(tracker, index, read, { capacities = null } = {}) {
  const { manifest } = tracker;
  const frames = await Promise.all(index.frames.map(async (name) => pngToRgba(await read(name))));
  const annotation = decodePng(await read(index.annotation)).samples;
  const { atol, rtol } = index.tolerance;
  const rows = [];
  for (const run of index.runs) {
    if (capacities && !capacities.includes(run.capacity)) continue;
    const labels = annotation.map((v) => run.objects.indexOf(v) + 1);
    for (const call of run.calls) {
      let outputs;
      if (call.call === 'annotate') {
        await tracker.start(frames[call.frame], labels, run.objects.length, run.capacity);
        const feeds = tracker.memory.feeds();
        const first = manifest.memory.slots[0];
        const [key, value] = await Promise.all(
          [feeds[first.key], feeds[first.value]].map((t) => (t.location === 'cpu' ? t.data : t.getData())),
        );
        outputs = { [manifest.memory.entry.key]: key, [manifest.memory.entry.value]: value };
      } else {
        outputs = { [manifest.output.name]: (await tracker.step(frames[call.frame])).prob };
      }
      for (const [name, spec] of Object.entries(call.outputs)) {
        const expected = float16ToFloat32(await read(spec.file));
        const actual = outputs[name];
        let maxAbs = 0;
        let outside = 0;
        for (let i = 0; i < expected.length; i++) {
          const d = Math.abs(actual[i] - expected[i]);
          if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : d;
          if (!(d <= atol + rtol * Math.abs(expected[i]))) outside += 1;
        }
        const row = {
          capacity: run.capacity,
          graph: call.graph,
          call: call.call,
          frame: call.frame,
          output: name,
          maxAbs,
          outside,
          count: expected.length,
          sizeMatches: actual.length === expected.length,
        };
        if (name === manifest.output.name) {
          const channels = run.objects.length + 1;
          const plane = expected.length / (run.capacity + 1);
          let differing = 0;
          for (let p = 0; p < plane; p++) {
            if (
              argmax(actual, channels, plane, p) !== argmax(expected, channels, plane, p) &&
              margin(expected, channels, plane, p) > 2 * (atol + rtol)
            )
              differing += 1;
          }
          row.maskPixelsDiffering = differing;
        }
        rows.push(row);
      }
    }
  }
  tracker.reset();
  return rows;
}

/**
 * The prompt steps of `index.prompt` on its frame: the features once (`head.features`), then per step the maps
 * (`promptMaps`, model coordinates) with the previous step's prob or none, the head's prob compared with Python's.
 * @param tracker  a Tracker of the fixtures' variant (its smallest capacity's graph gives the features)
 * @param {import('./prompt.js').PromptHead} head
 * @returns {Promise<{step, maxAbs, outside, count, maskPixelsDiffering}[]>}
 */
export async function runPromptParity(tracker, head, index, read) {
  const { prompt } = index;
  const features = await head.features(pngToRgba(await read(index.frames[prompt.frame])), tracker);
  const { atol, rtol } = index.tolerance;
  const size = index.size;
  const rows = [];
  let previous = null;
  for (const [i, step] of prompt.steps.entries()) {
    const clicks = step.clicks.map(([y, x, positive]) => ({ y, x, positive }));
    const box = step.box && { y0: step.box[0], x0: step.box[1], y1: step.box[2], x1: step.box[3] };
    const maps = promptMaps(clicks, box, step.previous === 'chain' ? previous : null, size, head.prompt.click_sigma);
    const actual = await head.run(features, maps);
    previous = actual;
    for (const spec of Object.values(step.outputs)) {
      const expected = float16ToFloat32(await read(spec.file));
      let maxAbs = 0;
      let outside = 0;
      let differing = 0;
      for (let p = 0; p < expected.length; p++) {
        const d = Math.abs(actual[p] - expected[p]);
        if (!(d <= maxAbs)) maxAbs = Number.isNaN(d) ? Infinity : d;
        if (!(d <= atol + rtol * Math.abs(expected[p]))) outside += 1;
        if (actual[p] > 0.5 !== expected[p] > 0.5 && Math.abs(expected[p] - 0.5) > 2 * (atol + rtol)) differing += 1;
      }
      rows.push({ step: i, maxAbs, outside, count: expected.length, maskPixelsDiffering: differing });
    }
  }
  return rows;
}

function argmax(prob, channels, plane, p) {
  let best = 0;
  for (let c = 1; c < channels; c++) if (prob[c * plane + p] > prob[best * plane + p]) best = c;
  return best;
}
