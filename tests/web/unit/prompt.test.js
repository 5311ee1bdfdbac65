/**
 * Click to mask in JavaScript: the prompt maps against the cases Python reproduces (tests/prompt_maps_cases.json), the
 * frame -> model mapping of a letterboxed frame, and the head's parity with the export's prompt fixtures (the features
 * of the student graph or of the head's own encoder graph, the maps, the chain of previous masks) through
 * onnxruntime-web's WASM backend, for the tests' model and every shipped model with a click head.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { test } from 'node:test';

import * as ort from 'onnxruntime-web';

import { letterbox } from '../../../web/src/geometry.js';
import { validateManifest } from '../../../web/src/manifest.js';
import { checkGraphBytes } from '../../../web/src/model-loader.js';
import { runPromptParity } from '../../../web/src/parity.js';
import { frameToModel, PromptHead, promptMaps } from '../../../web/src/prompt.js';
import { MODELS } from '../../../web/src/shipped-models.js';
import { Tracker } from '../../../web/src/tracker.js';
import { modelDir, readManifest, REPO } from '../helpers/models.js';

const cases = JSON.parse(readFileSync(join(REPO, 'tests/prompt_maps_cases.json'), 'utf8'));

for (const c of cases.cases) {
  test(`prompt maps: ${c.name}`, () => {
    const maps = promptMaps(
      c.clicks.map(([y, x, positive]) => ({ y, x, positive })),
      c.box && { y0: c.box[0], x0: c.box[1], y1: c.box[2], x1: c.box[3] },
      c.previous && Float32Array.from(c.previous.flat()),
      c.size,
      c.sigma,
      c.scale,
    );
    const expected = c.expected.flat(2);
    assert.equal(maps.length, expected.length);
    let worst = 0;
    for (let i = 0; i < maps.length; i++) worst = Math.max(worst, Math.abs(maps[i] - expected[i]));
    assert.ok(worst <= cases.tolerance, `max |diff| ${worst}`);
  });
}

test('a letterboxed frame maps clicks and boxes like a resize plus the bars', () => {
  // 640x360 (16:9) into 320x240: scale 0.5, content 320x180 at y = 30
  const box = letterbox(640, 360, 320, 240);
  assert.deepEqual(box, { x: 0, y: 30, width: 320, height: 180 });
  const { clicks, box: rect } = frameToModel(
    [
      { y: 0, x: 0, positive: true },
      { y: 359, x: 639, positive: false },
    ],
    { y0: 10, x0: 20, y1: 19, x1: 39 },
    640,
    360,
    box,
  );
  // pixel centres: (0 + 0.5) * 0.5 - 0.5 = -0.25, then + 30 down
  assert.deepEqual(clicks, [
    { y: 29.75, x: -0.25, positive: true },
    { y: 209.25, x: 319.25, positive: false },
  ]);
  // inclusive rows 10..19 of the frame = [10, 20) -> [5, 10) + 30: model rows 35..39
  assert.deepEqual(rect, { y0: 35, x0: 10, y1: 39, x1: 19 });
  const maps = promptMaps(clicks, rect, null, [240, 320], 5);
  const plane = 240 * 320;
  const rows = [];
  for (let y = 0; y < 240; y++) if (maps[2 * plane + y * 320 + 15] === 1) rows.push(y);
  assert.deepEqual([rows[0], rows.at(-1)], [35, 39]);
});

// The tests' model, and every shipped model with a click head (the Balanced one's head reads its own encoder graph).
const promptExports = [
  ...new Set([modelDir(), ...Object.keys(MODELS).map((name) => join(REPO, 'web/public/models', name))]),
].filter((dir) => existsSync(join(dir, 'manifest.json')) && readManifest(dir).prompt);

for (const dir of promptExports) {
  test(`the head on onnxruntime-web WASM reproduces the Python prompt fixtures (features, maps, previous masks): ${basename(dir)}`, async (t) => {
    await promptParity(t, dir);
  });
}

async function promptParity(t, dir) {
  const manifest = validateManifest(readManifest(dir));
  const index = JSON.parse(readFileSync(join(dir, manifest.fixtures), 'utf8'));
  assert.ok(manifest.prompt && index.prompt, 'the export has a prompt head and its fixtures');
  t.diagnostic(`features from ${index.prompt.graph}`);
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const loadModel = async (entry) => {
    const bytes = new Uint8Array(readFileSync(join(dir, entry.file)));
    const problem = await checkGraphBytes(entry, bytes);
    if (problem) throw new Error(problem);
    return bytes;
  };
  const tracker = new Tracker(ort, manifest, { backend: 'wasm', variant: index.variant, loadModel });
  const head = new PromptHead(ort, manifest, { backend: 'wasm', loadModel });
  try {
    const rows = await runPromptParity(
      tracker,
      head,
      index,
      async (name) => new Uint8Array(readFileSync(join(dir, 'fixtures', name))),
    );
    assert.equal(rows.length, index.prompt.steps.length);
    for (const row of rows) {
      t.diagnostic(
        `step ${row.step}: max |diff| ${row.maxAbs.toExponential(2)}, ${row.maskPixelsDiffering} mask pixels differ`,
      );
      assert.equal(row.outside, 0, `step ${row.step}: ${row.outside} of ${row.count} values outside tolerance`);
      assert.equal(row.maskPixelsDiffering, 0);
    }
  } finally {
    await Promise.all([tracker.release(), head.release()]);
  }
}

test('a manifest without a prompt head gives a clear error, not a crash', () => {
  const manifest = JSON.parse(readFileSync(join(modelDir(), 'manifest.json'), 'utf8'));
  delete manifest.prompt;
  assert.throws(
    () => new PromptHead(ort, validateManifest(manifest), { backend: 'wasm', loadModel: async () => new Uint8Array() }),
    (e) => e.code === 'no-prompt-head' && /no prompt head/.test(e.message),
  );
});
