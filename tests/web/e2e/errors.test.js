/**
 * The page's error messages, each provoked for real in headless Chromium: camera denied, no camera, neither backend
 * working, model files missing or corrupt (sha256 mismatch), an unreadable video file, an image that is no mask, and
 * a Track press whose graph cannot be fetched (the page says so, stays usable, and Track works once it can).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { collectLogs, launch, preview, waitReady } from '../helpers/browser.js';
import { ensureWebcam } from '../helpers/clip.js';
import { modelDir, REPO } from '../helpers/models.js';

const SHOTS = process.env.MOBILEVOS_SCREENSHOTS; // folder for screenshots of the messages (optional)

let server;
let models;
before(async () => {
  models = modelDir();
  server = await preview(models);
});
after(() => server?.stop());

/** Open the page in a fresh browser with `flags`; returns {page, logs, close}. */
async function open(query, flags = [], setup = async () => {}) {
  const browser = await launch(flags);
  const page = await browser.context.newPage();
  const logs = collectLogs(page);
  await setup(page);
  await page.goto(`${server.url}?sw=0&${query}`);
  return { page, logs, close: browser.close };
}

async function bannerFor(page, code) {
  await page.waitForFunction((c) => window.__mobilevos?.error?.code === c, code, { timeout: 60000 });
  return page.evaluate(() => window.__mobilevos.error.text);
}

test('camera denied: says so and what to do', { timeout: 120000 }, async () => {
  const { y4m } = ensureWebcam();
  const flags = [
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-video-capture=${y4m}`,
    '--deny-permission-prompts',
  ];
  const { page, logs, close } = await open('backend=wasm', flags);
  try {
    await waitReady(page, logs);
    await page.click('.placeholder [data-source=camera]');
    const text = await bannerFor(page, 'camera-denied');
    assert.match(text, /denied/);
    assert.match(text, /Allow the camera/);
    assert.equal(await page.evaluate(() => window.__mobilevos.mode), 'idle');
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'error-camera-denied.png') });
  } finally {
    await close();
  }
});

test('no camera: says so', { timeout: 120000 }, async () => {
  // Real devices only (no fake device): the test machine has no camera.
  const { page, logs, close } = await open('backend=wasm', ['--use-fake-ui-for-media-stream']);
  try {
    await waitReady(page, logs);
    await page.click('.placeholder [data-source=camera]');
    await page.waitForFunction(
      () => ['no-camera', 'camera-failed', 'camera-busy'].includes(window.__mobilevos?.error?.code),
      null,
      { timeout: 30000 },
    );
    const error = await page.evaluate(() => window.__mobilevos.error);
    assert.equal(error.code, 'no-camera', error.text);
  } finally {
    await close();
  }
});

test('neither backend works: WebGPU disabled and the WASM runtime missing', { timeout: 120000 }, async () => {
  const { page, close } = await open('nowebgpu=1&wasm=./no-runtime-here/');
  try {
    const text = await bannerFor(page, 'no-backend');
    assert.match(text, /Neither WebGPU nor WASM/);
    assert.match(await page.textContent('#pill-backend'), /no backend/);
    assert.ok(await page.isDisabled('#btn-track'));
    if (SHOTS) await page.screenshot({ path: join(SHOTS, 'error-no-backend.png') });
  } finally {
    await close();
  }
});

test('model files missing', { timeout: 120000 }, async () => {
  const { page, close } = await open('backend=wasm&models=./models/none/');
  try {
    const text = await bannerFor(page, 'model-missing');
    assert.match(text, /python -m export/);
  } finally {
    await close();
  }
});

test('model file corrupt: sha256 mismatch with the manifest', { timeout: 120000 }, async () => {
  const manifest = JSON.parse(readFileSync(join(models, 'manifest.json'), 'utf8'));
  const graph = manifest.graphs.find((g) => g.variant === 'fp32' && g.capacity === manifest.objects.capacities[0]);
  const bytes = readFileSync(join(models, graph.file));
  bytes[bytes.length >> 1] ^= 0xff; // same size, different content
  const { page, close } = await open('backend=wasm&variant=fp32', [], (p) =>
    p.route(`**/${graph.file}`, (route) => route.fulfill({ body: bytes })),
  );
  try {
    const text = await bannerFor(page, 'model-corrupt');
    assert.match(text, /sha256/);
    assert.match(text, new RegExp(graph.file.replace('.', '\\.')));
  } finally {
    await close();
  }
});

test('unreadable video file and a photo uploaded as a mask', { timeout: 120000 }, async () => {
  // The sample's own mask arrives late: it must not replace (or hide the banner of) the mask the visitor uploads.
  const { page, logs, close } = await open('backend=wasm', [], (p) =>
    p.route('**/sample/sample-mask.png', async (route) => {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      await route.continue();
    }),
  );
  try {
    await waitReady(page, logs);
    await page.setInputFiles('#file-video', {
      name: 'holiday.mp4',
      mimeType: 'video/mp4',
      buffer: Buffer.from('this is not a video'),
    });
    assert.match(await bannerFor(page, 'video-unreadable'), /cannot be read/);
    await page.click('.placeholder [data-source=sample]');
    await page.waitForFunction(() => window.__mobilevos.mode === 'annotating');
    await page.setInputFiles('#file-mask', join(REPO, 'tests/web/unit/fixtures/png/rgb.png'));
    assert.match(await bannerFor(page, 'mask-not-flat'), /flat colour per object/);
    await page.waitForTimeout(2000); // past the sample mask's delay: the banner stays
    assert.equal(await page.evaluate(() => window.__mobilevos.error?.code), 'mask-not-flat');
  } finally {
    await close();
  }
});

test(
  'Track fails when its graph cannot be fetched: a message, no stuck status, and Track works again after',
  { timeout: 180000 },
  async () => {
    const manifest = JSON.parse(readFileSync(join(models, 'manifest.json'), 'utf8'));
    // The sample has two objects: the smallest capacity that holds them is loaded only when Track is pressed.
    const capacity = manifest.objects.capacities.find((k) => k >= 2);
    const pattern = `**/student_k${capacity}*.onnx`;
    let refused = 0;
    const { page, logs, close } = await open('backend=wasm&variant=fp32', [], (p) =>
      p.route(pattern, (route) => {
        refused += 1;
        return route.fulfill({ status: 503, body: 'down for maintenance' });
      }),
    );
    try {
      await waitReady(page, logs);
      await page.click('.placeholder [data-source=sample]');
      await page.waitForFunction(() => document.querySelectorAll('#objects li[data-object]').length === 2);
      await page.click('#btn-track');
      await page.waitForFunction(() => window.__mobilevos.error !== null, null, { timeout: 60000 });
      const error = await page.evaluate(() => window.__mobilevos.error);
      assert.ok(refused >= 1, 'the graph was requested');
      assert.match(error.code, /^model-/, error.text);
      assert.match(error.text, new RegExp(`student_k${capacity}`));
      assert.equal(await page.evaluate(() => window.__mobilevos.mode), 'annotating', 'the annotation is kept');
      assert.doesNotMatch(await page.textContent('#stage-status'), /annotating…/);
      assert.ok(!(await page.isDisabled('#btn-track')));

      await page.unroute(pattern);
      await page.click('#btn-track');
      await page.waitForFunction(() => window.__mobilevos.mode === 'tracking', null, { timeout: 90000 });
    } finally {
      await close();
    }
  },
);
