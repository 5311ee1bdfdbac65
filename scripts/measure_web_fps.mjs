/**
 * End-to-end frame rate of the page in headless Chromium with a fake webcam, per backend / threads / variant /
 * object count: the numbers the page itself shows (FPS and per-stage latency), averaged over the last 30 frames.
 *
 *   node scripts/measure_web_fps.mjs [--models DIR] [--seconds 12] [--configs wasm:1:fp32:1,wasm:2:int8:2,webgpu:0:fp32:1]
 *
 * A config is backend:threads:variant:objects. Needs the fake-webcam clip (made on first use) and a built site (built
 * here). Leave the machine otherwise idle while measuring: numbers on a loaded 2-core machine say little.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { decodePng, labelsToPng } from '../web/src/mask-encoding.js';
import {
  collectLogs,
  FAKE_CAMERA_FLAGS,
  launch,
  preview,
  SWIFTSHADER_WEBGPU_FLAGS,
  waitReady,
} from '../tests/web/helpers/browser.js';
import { ensureWebcam } from '../tests/web/helpers/clip.js';
import { modelDir } from '../tests/web/helpers/models.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const models = opt('--models', null) ? opt('--models') : modelDir();
const seconds = Number(opt('--seconds', 12));
const configs = opt('--configs', 'wasm:1:fp32:1,wasm:2:fp32:1,wasm:1:int8:1,wasm:2:int8:1,wasm:2:fp32:2,wasm:2:int8:2')
  .split(',')
  .map((c) => {
    const [backend, threads, variant, objects] = c.split(':');
    return { backend, threads: Number(threads), variant, objects: Number(objects) };
  });

const clip = ensureWebcam();
const server = await preview(models);
const rows = [];
// Masks of frame 0 with the first N objects.
const gt = decodePng(readFileSync(join(clip.info.annotations, '00000.png')));
const maskFor = (n) => {
  const path = join(tmpdir(), `mobilevos-mask-${n}.png`);
  writeFileSync(
    path,
    labelsToPng(
      gt.samples.map((v) => (v <= n ? v : 0)),
      gt.width,
      gt.height,
    ),
  );
  return path;
};
try {
  for (const c of configs) {
    const flags = [...FAKE_CAMERA_FLAGS(clip.y4m), ...(c.backend === 'webgpu' ? SWIFTSHADER_WEBGPU_FLAGS : [])];
    const browser = await launch(flags);
    const page = await browser.context.newPage();
    const logs = collectLogs(page);
    try {
      await page.goto(`${server.url}?backend=${c.backend}&threads=${c.threads}&variant=${c.variant}&sw=0`);
      const { info, error } = await waitReady(page, logs, 300000);
      if (error) throw new Error(JSON.stringify(error));
      await page.click('.placeholder [data-source=camera]');
      await page.waitForFunction(() => window.__mobilevos.mode === 'live');
      await page.click('#btn-freeze');
      await page.waitForFunction(() => window.__mobilevos.mode === 'annotating');
      await page.setInputFiles('#file-mask', maskFor(c.objects));
      await page.click('#btn-track');
      await page.waitForFunction(() => window.__mobilevos.stats.frames >= 3, null, { timeout: 300000 });
      await page.waitForTimeout(seconds * 1000);
      const s = await page.evaluate(() => window.__mobilevos.stats);
      const w = await page.evaluate(() => window.__mobilevos.request('stats'));
      rows.push({ ...c, variant: info.variant, threads: info.threads, capacity: w.stats.capacity, ...s });
      console.log(JSON.stringify(rows.at(-1)));
    } catch (e) {
      console.log(`${JSON.stringify(c)} failed: ${e.message}`);
    } finally {
      await browser.close();
    }
  }
} finally {
  server.stop();
}
console.log(
  '\n| backend | threads | variant | objects (K) | FPS | pre ms | inference ms | post ms | draw ms | latency ms | frames | dropped |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of rows) {
  const f = (v) => v.toFixed(v < 10 ? 1 : 0);
  console.log(
    `| ${r.backend} | ${r.threads || '–'} | ${r.variant} | ${r.objects} (${r.capacity}) | ${f(r.fps)} | ${f(r.pre)} | ${f(r.infer)} | ${f(r.post)} | ${r.draw.toFixed(2)} | ${f(r.latency)} | ${r.frames} | ${r.dropped} |`,
  );
}
