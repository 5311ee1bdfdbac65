/**
 * What a visitor does, in headless Chromium on WASM: open the sample clip (it opens frozen with its mask), draw with
 * the brush, add and remove objects, track, pause, re-annotate a later frame from its prediction, resume, download the
 * masks zip and the overlay video; and the same page on a phone-sized touch screen. With MOBILEVOS_SCREENSHOTS=DIR the
 * main states are saved as PNGs there.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { unzipSync } from 'fflate';
import { ALL_FORMATS, BufferSource, EncodedPacketSink, Input } from 'mediabunny';

import { collectLogs, launch, preview, waitReady } from '../helpers/browser.js';
import { modelDir, readManifest } from '../helpers/models.js';
import { promptGraphs } from '../../../web/src/manifest.js';
import { cacheKey, MODEL_CACHE } from '../../../web/src/model-loader.js';
import { DEFAULT_MODEL } from '../../../web/src/shipped-models.js';

const SHOTS = process.env.MOBILEVOS_SCREENSHOTS;
const shot = (page, name) => (SHOTS ? page.screenshot({ path: join(SHOTS, name) }) : null);

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

const hook = (page, expr) => page.evaluate(expr);
const objectRows = (page) =>
  page.$$eval('#objects li[data-object]', (rows) =>
    rows.map((r) => ({
      id: Number(r.dataset.object),
      area: r.querySelector('.area').textContent,
      active: r.classList.contains('active'),
    })),
  );

/** Drag the mouse across the stage from (x0, y0) to (x1, y1), in fractions of the annotation canvas. */
async function stroke(page, [x0, y0], [x1, y1]) {
  const box = await page.locator('#annot').boundingBox();
  await page.mouse.move(box.x + x0 * box.width, box.y + y0 * box.height);
  await page.mouse.down();
  for (let i = 1; i <= 8; i++) {
    await page.mouse.move(
      box.x + (x0 + ((x1 - x0) * i) / 8) * box.width,
      box.y + (y0 + ((y1 - y0) * i) / 8) * box.height,
    );
  }
  await page.mouse.up();
}

test('annotate, track, pause, re-annotate, resume, download masks and video', { timeout: 600000 }, async (t) => {
  const page = await browser.context.newPage();
  t.after(() => page.close().catch(() => {}));
  const logs = collectLogs(page);
  await page.goto(`${server.url}?backend=wasm&sw=0`);
  await waitReady(page, logs);
  await shot(page, 'start.png');

  await page.click('.placeholder [data-source=sample]');
  await page.waitForFunction(() => window.__mobilevos.mode === 'annotating');
  await page.waitForFunction(() => document.querySelectorAll('#objects li[data-object]').length === 2);
  let rows = await objectRows(page);
  assert.ok(
    rows.every((r) => /\d+ px/.test(r.area)),
    'the sample mask fills both objects',
  );

  // brush on a third object, then remove it again
  await page.click('#btn-add-object');
  rows = await objectRows(page);
  assert.equal(rows.length, 3);
  assert.ok(rows[2].active);
  assert.equal(rows[2].area, 'empty');
  await stroke(page, [0.1, 0.1], [0.3, 0.2]);
  rows = await objectRows(page);
  assert.match(rows[2].area, /^\d+ px$/);
  await shot(page, 'annotating.png');
  await page.click('#btn-track'); // fine: all three have pixels
  await page.waitForFunction(() => window.__mobilevos.mode === 'tracking');
  await page.click('#btn-pause');
  await page.click('#btn-freeze');
  await page.waitForFunction(() => window.__mobilevos.mode === 'annotating');
  rows = await objectRows(page);
  assert.equal(rows.length, 3, 're-annotation starts from the predicted objects');
  await page.click('#objects li[data-object="3"] .remove');
  assert.equal((await objectRows(page)).length, 2);

  // an empty object blocks tracking with a message
  await page.click('#btn-add-object');
  await page.click('#btn-track');
  await page.waitForFunction(() => window.__mobilevos.error?.code === 'empty-annotation');
  await page.click('#objects li[data-object="3"] .remove');
  // the brush paints the active object, the eraser takes pixels away (the untrained dev model may lose objects, so
  // make sure both have pixels before tracking on)
  for (const [id, y] of [
    [1, 0.4],
    [2, 0.7],
  ]) {
    await page.click(`#objects li[data-object="${id}"]`);
    await stroke(page, [0.2, y], [0.8, y]);
  }
  const area = async (id) => Number((await objectRows(page))[id - 1].area.replace(/\D/g, '') || 0);
  const painted = await area(2);
  await page.click('[data-tool=eraser]');
  await stroke(page, [0.5, 0.6], [0.5, 0.8]);
  await page.click('[data-tool=brush]');
  assert.ok((await area(2)) < painted, 'the eraser removed pixels');

  await page.click('#btn-track');
  await page.waitForFunction(() => window.__mobilevos.mode === 'tracking');
  await page.waitForFunction(() => window.__mobilevos.stats.frames >= 12, null, { timeout: 240000, polling: 300 });
  await page.click('#btn-record');
  await page.waitForTimeout(1500);
  await shot(page, 'tracking.png');
  const videoDownload = page.waitForEvent('download');
  await page.click('#btn-record');
  const video = await videoDownload;
  assert.match(video.suggestedFilename(), /mobilevos-overlay\.(webm|mp4)/);
  const videoBytes = readFileSync(await video.path());
  // a file's overlay video: one frame per tracked frame at its own time (30 fps), at the clip's 640x480
  const input = new Input({ source: new BufferSource(videoBytes), formats: ALL_FORMATS });
  const track = await input.getPrimaryVideoTrack();
  const times = [];
  for await (const p of new EncodedPacketSink(track).packets(undefined, undefined, { metadataOnly: true }))
    times.push(p.timestamp);
  times.sort((a, b) => a - b);
  assert.deepEqual([track.displayWidth, track.displayHeight], [640, 480]);
  assert.ok(times.length >= 2, `${times.length} frames in the overlay video`);
  assert.ok(
    times.every((x, i) => Math.abs(x - i / 30) < 1e-3),
    `frames 1/30 s apart: ${times.slice(0, 5)}`,
  );

  if ((await hook(page, () => window.__mobilevos.mode)) === 'tracking') await page.click('#btn-pause'); // else the clip ended
  assert.equal(await hook(page, () => window.__mobilevos.mode), 'paused');
  const tracked = await hook(page, () => window.__mobilevos.stats.frames);
  await page.click('#btn-track'); // Resume
  await page.waitForFunction((n) => window.__mobilevos.stats.frames >= n + 3, tracked, { timeout: 120000 });
  if ((await hook(page, () => window.__mobilevos.mode)) === 'tracking') await page.click('#btn-pause');

  const zipDownload = page.waitForEvent('download');
  await page.click('#btn-download-masks');
  const zip = unzipSync(readFileSync(await (await zipDownload).path()));
  const pngs = Object.keys(zip).filter((n) => n.endsWith('.png'));
  const index = JSON.parse(new TextDecoder().decode(zip['masks.json']));
  assert.ok(pngs.length >= tracked + 3, `${pngs.length} masks in the zip`);
  assert.equal(index.frames.length, 150, 'masks.json lists every frame of the sample clip');
  assert.deepEqual(
    index.frames
      .filter((f) => f.file)
      .map((f) => f.file)
      .sort(),
    pngs.sort(),
  );
  assert.ok(
    pngs.every((n) => /^sample\/\d{5}\.png$/.test(n)),
    'masks named by frame index',
  );
  assert.ok(
    index.frames[0].annotated && index.frames.filter((f) => f.annotated).length <= 2,
    'the annotations are in the zip',
  );
  t.diagnostic(`zip: ${pngs.length} masks; overlay video ${videoBytes.length} bytes, ${times.length} frames`);

  await page.click('#btn-reset');
  await page.waitForFunction(() => window.__mobilevos.mode === 'live');
  assert.equal(logs.filter((l) => l.startsWith('[pageerror]')).join('\n'), '');
  await page.close();
});

test('phone-sized touch screen: layout fits and touch draws', { timeout: 300000 }, async (t) => {
  const page = await browser.context.newPage();
  t.after(() => page.close().catch(() => {}));
  await page.setViewportSize({ width: 390, height: 844 });
  const logs = collectLogs(page);
  await page.goto(`${server.url}?backend=wasm&sw=0`);
  await waitReady(page, logs);
  await page.click('.placeholder [data-source=sample]');
  await page.waitForFunction(() => window.__mobilevos.mode === 'annotating');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `no horizontal scrolling (${overflow}px too wide)`);
  const stage = await page.locator('#stage').boundingBox();
  assert.ok(stage.width <= 390 && stage.width > 300, `stage ${stage.width}px wide`);
  await page.click('#btn-add-object');
  const box = await page.locator('#annot').boundingBox();
  // a touch: pointer events with pointerType 'touch'
  await page.locator('#annot').dispatchEvent('pointerdown', {
    pointerId: 7,
    pointerType: 'touch',
    isPrimary: true,
    button: 0,
    clientX: box.x + 20,
    clientY: box.y + 20,
  });
  await page
    .locator('#annot')
    .dispatchEvent('pointermove', { pointerId: 7, pointerType: 'touch', clientX: box.x + 80, clientY: box.y + 40 });
  await page
    .locator('#annot')
    .dispatchEvent('pointerup', { pointerId: 7, pointerType: 'touch', clientX: box.x + 80, clientY: box.y + 40 });
  const rows = await objectRows(page);
  assert.match(rows[2].area, /^\d+ px$/, 'touch painted the new object');
  await page.evaluate(() => window.scrollTo(0, 0));
  await shot(page, 'phone.png');
  await page.close();
});

test('works offline once loaded (service worker + cached model)', { timeout: 300000 }, async (t) => {
  // A fresh profile: a first visit, with no service worker or HTTP cache left by the tests above.
  const own = await launch([]);
  t.after(() => own.close());
  const page = await own.context.newPage();
  const logs = collectLogs(page);
  await page.goto(`${server.url}?backend=wasm&variant=fp32`);
  await waitReady(page, logs);
  // The worker activates only after its install step cached the build's file list (precache.json).
  await page.waitForFunction(
    async () => (await navigator.serviceWorker.getRegistration())?.active?.state === 'activated',
    null,
    { timeout: 120000, polling: 250 },
  );
  const cached = await page.evaluate(async () =>
    (await (await caches.open('mobilevos-shell-v2')).keys()).map((r) => r.url),
  );
  const listed = await (await fetch(new URL('precache.json', server.url))).json();
  assert.ok(
    listed.some((f) => /^assets\/worker-.*\.js$/.test(f)) && listed.some((f) => f.endsWith('.wasm')),
    listed.join(),
  );
  for (const file of listed) assert.ok(cached.includes(new URL(file, server.url).href), `${file} is cached`);
  // The graphs load did not read (the click head's, and its encoder's where it has one) go into the model cache in the
  // background after ready (worker.js cacheForLater); a visitor who goes offline before that finishes gets them
  // fetched on use, so wait for the writes to be done (the `offline` request): Chromium lists an entry while it is
  // still being written, and a reload then, which ends the worker writing it, drops it.
  const manifest = readManifest();
  const graphs = [...promptGraphs(manifest), manifest.graphs.find((g) => g.capacity === 1 && g.variant === 'fp32')];
  const { cached: written } = await page.evaluate(() => window.__mobilevos.request('offline'));
  assert.deepEqual(written.sort(), graphs.map((g) => g.file).sort());
  const base = new URL(`models/${DEFAULT_MODEL}/`, server.url).href;
  const keys = await page.evaluate(
    async (name) => (await (await caches.open(name)).keys()).map((r) => r.url),
    MODEL_CACHE,
  );
  for (const g of graphs) assert.ok(keys.includes(cacheKey(base, g)), `${g.file} is in the model cache`);
  await own.context.setOffline(true);
  try {
    logs.push('--- reload offline ---');
    await page.reload();
    const { info, error } = await waitReady(page, logs);
    assert.equal(error, null, `${JSON.stringify(error)}\n${logs.join('\n')}`);
    assert.equal(info.backend, 'wasm');
    assert.ok(info.timings.sessionMs > 0, 'sessions were created from the cached model bytes');
  } finally {
    await own.context.setOffline(false);
  }
});
