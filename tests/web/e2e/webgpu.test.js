/**
 * The WebGPU path in headless Chromium on SwiftShader (software WebGPU: no shader-f16, seconds per frame, so only a
 * few frames): the worker's own Tracker replays the export's parity fixtures on WebGPU with the memory entries kept
 * on the GPU ('gpu-buffer' outputs fed back as inputs) and must match Python's outputs; then the page tracks a few
 * fake-webcam frames on WebGPU.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';

import {
  collectLogs,
  FAKE_CAMERA_FLAGS,
  launch,
  preview,
  SWIFTSHADER_WEBGPU_FLAGS,
  waitReady,
} from '../helpers/browser.js';
import { ensureWebcam } from '../helpers/clip.js';
import { modelDir, wasmSizeQuery } from '../helpers/models.js';

const FP32_MAX_ABS_PROB = 1e-3;
const FRAMES = Number(process.env.MOBILEVOS_WEBGPU_FRAMES || 3);

let server;
let browser;
let clip;
before(async () => {
  clip = ensureWebcam();
  server = await preview(modelDir());
  browser = await launch([...SWIFTSHADER_WEBGPU_FLAGS, ...FAKE_CAMERA_FLAGS(clip.y4m)]);
});
after(async () => {
  await browser?.close();
  server?.stop();
});

test(
  'WebGPU (SwiftShader): parity with Python (tracking and the prompt head), memory on the GPU, and a few tracked frames',
  { timeout: 900000 },
  async (t) => {
    const page = await browser.context.newPage();
    const logs = collectLogs(page);
    await page.goto(`${server.url}?backend=webgpu&debug=1&sw=0${wasmSizeQuery()}`);
    const { info, error } = await waitReady(page, logs, 300000);
    assert.equal(error, null, JSON.stringify(error));
    assert.equal(info.backend, 'webgpu', `fell back: ${info.notice}`);
    assert.match(info.adapter, /swiftshader/i);
    assert.equal(info.variant, info.shaderF16 ? 'fp16' : 'fp32', info.variantReason);
    t.diagnostic(
      `adapter ${info.adapter}, shader-f16 ${info.shaderF16}, variant ${info.variant}; sessions ${info.timings.sessionMs.toFixed(0)} ms, warm-up ${info.timings.warmupMs.toFixed(0)} ms`,
    );

    if (info.variant === 'fp32') {
      const parity = await page.evaluate(() => window.__mobilevos.request('parity', { capacities: [1] }));
      for (const row of parity.rows) {
        t.diagnostic(
          `${row.graph} frame ${row.frame} ${row.output}: max |diff| ${row.maxAbs.toExponential(2)}, ${row.outside}/${row.count} outside tolerance` +
            (row.maskPixelsDiffering !== undefined ? `, ${row.maskPixelsDiffering} decisive mask pixels differ` : ''),
        );
        assert.ok(row.sizeMatches);
        assert.equal(row.outside, 0, `${row.graph} ${row.output} outside the fixture tolerance`);
        if (row.output === 'prob') {
          assert.ok(row.maxAbs <= FP32_MAX_ABS_PROB, `prob max |diff| ${row.maxAbs}`);
          assert.equal(row.maskPixelsDiffering, 0);
        }
      }
      assert.equal(parity.promptRows.length, 3, 'the prompt head replays its three fixture steps');
      for (const row of parity.promptRows) {
        t.diagnostic(`prompt step ${row.step}: max |diff| ${row.maxAbs.toExponential(2)}, ${row.outside} outside`);
        assert.equal(row.outside, 0, `prompt step ${row.step} outside the fixture tolerance`);
        assert.equal(row.maskPixelsDiffering, 0);
      }
      t.diagnostic(`parity run ${parity.ms.toFixed(0)} ms`);
    }

    await page.click('.placeholder [data-source=camera]');
    await page.waitForFunction(() => window.__mobilevos.mode === 'live', null, { timeout: 30000 });
    await page.click('#btn-freeze');
    await page.waitForFunction(() => window.__mobilevos.mode === 'annotating');
    await page.setInputFiles('#file-mask', `${clip.info.annotations}/00000.png`);
    await page.click('#btn-track');
    await page.waitForFunction((n) => window.__mobilevos.stats.frames >= n, FRAMES, { timeout: 600000, polling: 500 });
    await page.click('#btn-pause');
    const stats = await page.evaluate(() => window.__mobilevos.stats);
    const worker = await page.evaluate(() => window.__mobilevos.request('stats'));
    t.diagnostic(
      `tracked ${stats.frames} frames: inference ${stats.infer.toFixed(0)} ms, pre ${stats.pre.toFixed(1)}, post ${stats.post.toFixed(1)}, draw ${stats.draw.toFixed(2)}; FPS ${stats.fps.toFixed(2)}`,
    );
    assert.deepEqual(worker.stats.memoryLocations, ['gpu-buffer'], 'memory entries stay on the GPU');
    assert.equal(worker.stats.memoryTensors, 4);
    await page.close();
  },
);
