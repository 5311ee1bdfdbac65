/**
 * The Model setting, in headless Chromium on WASM: `?model=student_fast` loads the dense-key-encoder student from
 * models/student_fast/ (its own manifest), replays its export's fixtures within tolerance, tracks the sample clip, and
 * offers no click tool (it has no prompt head); choosing Accurate in Settings loads models/student/ (the full Lite0
 * student, with the click head), replays its fixtures and click steps, and is remembered on the next visit; Balanced
 * (the default: Lite0 pruned to half width) loads models/student_pruned/ with the click head and its encoder graph,
 * replays its fixtures and click steps too; an unknown ?model= says so and loads the default.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { collectLogs, launch, preview, waitReady } from '../helpers/browser.js';
import { trackSample } from '../helpers/files.js';
import { modelDir, readManifest, REPO, wasmSizeQuery } from '../helpers/models.js';
import { MODEL_CACHE } from '../../../web/src/model-loader.js';
import { DEFAULT_MODEL, MODELS } from '../../../web/src/shipped-models.js';

const FAST = join(REPO, 'web/public/models/student_fast');
const ACCURATE = join(REPO, 'web/public/models/student');

let server;
let browser;
before(async () => {
  server = await preview(modelDir());
  browser = await launch([]);
});
after(async () => {
  await browser?.close();
  server?.stop();
});

/** Replay the loaded model's export fixtures (capacities 1 and 2) in the page: every row within its tolerance. */
async function assertFixtureParity(page, t) {
  const parity = await page.evaluate(() => window.__mobilevos.request('parity', { capacities: [1, 2] }));
  assert.ok(parity.rows.length >= 4, JSON.stringify(parity.rows.length));
  for (const row of parity.rows) {
    assert.equal(row.outside, 0, `${row.graph} frame ${row.frame} ${row.output}: max |diff| ${row.maxAbs}`);
    if (row.output === 'prob') assert.equal(row.maskPixelsDiffering, 0, `${row.graph} frame ${row.frame}`);
  }
  const worst = (prob) => Math.max(...parity.rows.filter((r) => (r.output === 'prob') === prob).map((r) => r.maxAbs));
  t.diagnostic(`parity, ${parity.rows.length} rows: max |diff| prob ${worst(true)}, memory entries ${worst(false)}`);
  // with a click head, its fixture steps too (the Balanced model's features come from the head's own encoder graph)
  for (const row of parity.promptRows) {
    assert.equal(row.outside, 0, `prompt step ${row.step}: max |diff| ${row.maxAbs}`);
    assert.equal(row.maskPixelsDiffering, 0, `prompt step ${row.step}`);
  }
  return parity;
}

test(
  'the Fast model: its own graphs, fixture parity, tracking, no click tool; then Accurate and Balanced from Settings',
  {
    timeout: 300000,
  },
  async (t) => {
    for (const dir of [FAST, ACCURATE]) assert.ok(existsSync(join(dir, 'manifest.json')), `${dir} is exported`);
    const page = await browser.context.newPage();
    t.after(() => page.close().catch(() => {}));
    const logs = collectLogs(page);
    await page.goto(`${server.url}?backend=wasm&model=student_fast&debug=1&sw=0${wasmSizeQuery()}`);
    const { info, error } = await waitReady(page, logs);
    assert.equal(error, null, JSON.stringify(error));
    assert.equal(info.model.name, 'mobilevos-student-fast-e2');
    assert.match(info.model.checkpoint, /student_fast\.safetensors$/);
    assert.equal(info.model.prompt, false);
    assert.equal(await page.inputValue('#set-model'), 'student_fast');
    assert.equal(await page.isDisabled('[data-tool=click]'), true, 'no prompt head: the click tool is off');
    await assertFixtureParity(page, t);

    // the sample clip with its mask (two objects), tracked: both objects keep pixels
    const areas = await trackSample(page, 10);
    assert.equal(areas.length, 2);
    for (const area of areas) assert.ok(Number.parseInt(area, 10) > 100, `an object kept its pixels: ${areas}`);

    // Settings → Model: Accurate reloads models/student/ with the click head; its fixtures and click steps replay
    await page.click('#card-settings summary');
    await page.selectOption('#set-model', 'student');
    await page.waitForFunction(() => window.__mobilevos.ready && window.__mobilevos.info.model.prompt);
    const accurate = await page.evaluate(() => window.__mobilevos.info.model);
    assert.equal(accurate.name, 'mobilevos-student');
    assert.match(accurate.checkpoint, /models\/student\.safetensors$/);
    assert.equal(await page.isDisabled('[data-tool=click]'), false);
    assert.equal((await assertFixtureParity(page, t)).promptRows.length, 3, 'the click head replays its steps');
    // each model's load prunes only its own folder from the model cache: the Fast graphs stay for the way back
    await page.evaluate(() => window.__mobilevos.request('offline'));
    assert.ok((await cachedPaths(page)).includes('/models/student_fast/student_k2.onnx'));
    await page.goto(`${server.url}?backend=wasm&debug=1&sw=0${wasmSizeQuery()}`);
    const again = await waitReady(page, logs);
    assert.equal(again.info.model.name, 'mobilevos-student', 'the saved choice');
    assert.equal(await page.inputValue('#set-model'), 'student');

    // ... and Balanced, the default, loads models/student_pruned/: the click head with its own encoder graph (the
    // Accurate student's key encoder), both cached for offline use
    await page.click('#card-settings summary');
    await page.selectOption('#set-model', 'student_pruned');
    await page.waitForFunction(
      () => window.__mobilevos.ready && window.__mobilevos.info.model.name === 'mobilevos-student-pruned-0.5',
      null,
      { timeout: 120000 },
    );
    assert.equal(await page.isDisabled('[data-tool=click]'), false);
    const { promptRows } = await assertFixtureParity(page, t);
    assert.equal(promptRows.length, 3, 'the click steps replay through the encoder graph and the head');
    await page.evaluate(() => window.__mobilevos.request('offline'));
    const cached = await cachedPaths(page);
    for (const file of ['student_k1.onnx', 'prompt_head.onnx', 'prompt_encoder.onnx']) {
      assert.ok(cached.includes(`/models/student_pruned/${file}`), cached.join());
    }
  },
);

/** The paths in the page's model cache. */
const cachedPaths = (page) =>
  page.evaluate(
    async (name) => (await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname),
    MODEL_CACHE,
  );

test('an unknown ?model= says so and loads the default student', { timeout: 120000 }, async () => {
  const page = await browser.context.newPage();
  const logs = collectLogs(page);
  await page.goto(`${server.url}?backend=wasm&model=student_huge&sw=0`);
  await page.waitForFunction(() => window.__mobilevos?.ready, null, { timeout: 120000 });
  assert.equal(await page.evaluate(() => window.__mobilevos.info.model.name), readManifest().name);
  assert.equal(await page.inputValue('#set-model'), DEFAULT_MODEL);
  const banner = await page.evaluate(() => window.__mobilevos.error);
  assert.equal(banner?.code, 'unknown-model', logs.join('\n'));
  assert.ok(
    banner.text.includes(
      `student_huge is not a shipped model (${Object.keys(MODELS).join(', ')}); loading ${DEFAULT_MODEL}`,
    ),
    banner.text,
  );
  await page.close();
});
