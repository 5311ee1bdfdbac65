/**
 * What the video-file tests share: a WASM page, a file tracked to its end from an uploaded first-frame mask, the
 * sample clip tracked for a few frames, a click on the frozen frame, the masks zip, and `mobilevos eval` on DAVIS
 * folders (the Python reference the page's J&F is held to).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { unzipSync } from 'fflate';

import { collectLogs, waitReady } from './browser.js';
import { REPO, wasmSizeQuery } from './models.js';

/**
 * A new page of `server` on WASM with 2 threads (plus `query`), ready; closed when test `t` ends. Pinned at WASM's
 * default model size (wasmSizeQuery) unless `query` names a size (`&size=auto` for the page's own choice).
 */
export async function openWasmPage(browser, server, t, query = '') {
  const page = await browser.context.newPage();
  t.after(() => page.close().catch(() => {}));
  const logs = collectLogs(page);
  const size = /[?&]size=/.test(query) ? '' : wasmSizeQuery();
  await page.goto(`${server.url}?backend=wasm&threads=2&sw=0${size}${query}`);
  const { info, error } = await waitReady(page, logs);
  assert.equal(error, null, `page error: ${JSON.stringify(error)}\n${logs.join('\n')}`);
  return { page, logs, info };
}

/** Freeze the file's first frame (unless frozen already), upload `mask`, track to the end; returns the stats. */
export async function trackWholeFile(page, mask) {
  if ((await page.evaluate(() => window.__mobilevos.mode)) !== 'annotating') await page.click('#btn-freeze');
  await page.waitForFunction(() => window.__mobilevos.mode === 'annotating');
  await page.setInputFiles('#file-mask', mask);
  await page.waitForFunction(
    () => Number(document.querySelector('#objects .area')?.textContent.replace(/\D/g, '')) > 0,
  );
  await page.click('#btn-track');
  await page.waitForFunction(
    () => window.__mobilevos.mode === 'paused' && /^Done/.test(document.querySelector('#stage-status').textContent),
    null,
    { timeout: 300000, polling: 250 },
  );
  return page.evaluate(() => window.__mobilevos.stats);
}

/** Open the sample clip with its mask (two objects), track at least `frames` frames and pause; returns the objects'
 * areas as the object list shows them ("12345 px"). */
export async function trackSample(page, frames) {
  await page.click('.placeholder [data-source=sample]');
  await page.waitForFunction(() => window.__mobilevos.mode === 'annotating' && window.__mobilevos.ready);
  await page.waitForFunction(() => document.querySelectorAll('#objects li[data-object]').length === 2);
  await page.click('#btn-track');
  await page.waitForFunction((n) => window.__mobilevos.stats.frames >= n, frames, { timeout: 120000 });
  await page.click('#btn-pause');
  await page.waitForFunction(() => window.__mobilevos.mode === 'paused');
  return page.$$eval('#objects li[data-object] .area', (cells) => cells.map((c) => c.textContent));
}

/** Download the masks zip: {pngs: {name: bytes}, index: masks.json}. */
export async function downloadZip(page) {
  const download = page.waitForEvent('download');
  await page.click('#btn-download-masks');
  const zip = unzipSync(readFileSync(await (await download).path()));
  const index = JSON.parse(new TextDecoder().decode(zip['masks.json']));
  delete zip['masks.json'];
  return { pngs: zip, index };
}

/** The zip's masks as a prediction folder for `mobilevos eval --pred`: DIR/<sequence>/<frame>.png. */
export function writePred(pngs, dir, sequence) {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, sequence), { recursive: true });
  for (const [name, bytes] of Object.entries(pngs)) writeFileSync(join(dir, sequence, name.split('/').pop()), bytes);
}

/** `mobilevos eval --data DATA ARGS --out OUT`; its JSON (stderr, the progress bars, shows only in a failure). */
export function mobilevosEval(data, out, args) {
  execFileSync('python3', ['-m', 'mobilevos.cli', 'eval', '--data', data, ...args, '--out', out], {
    cwd: REPO,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  return JSON.parse(readFileSync(out, 'utf8'));
}

/** Click the annotation canvas at frame pixel (x, y) (the canvas is shown with object-fit: contain). */
export async function clickFrame(page, x, y, { button = 'left', drag = null } = {}) {
  const rect = await page.locator('#annot').boundingBox();
  const { width, height } = await page.evaluate(() => window.__mobilevos.annotation);
  const scale = Math.min(rect.width / width, rect.height / height);
  const at = (fx, fy) => [
    rect.x + (rect.width - width * scale) / 2 + (fx + 0.5) * scale,
    rect.y + (rect.height - height * scale) / 2 + (fy + 0.5) * scale,
  ];
  const before = await page.evaluate(() => window.__mobilevos.lastPrompt);
  await page.mouse.move(...at(x, y));
  await page.mouse.down({ button });
  if (drag) await page.mouse.move(...at(...drag), { steps: 5 });
  await page.mouse.up({ button });
  await page.waitForFunction((b) => window.__mobilevos.lastPrompt !== b || window.__mobilevos.error, before);
  const error = await page.evaluate(() => window.__mobilevos.error);
  assert.equal(error, null, `page error: ${JSON.stringify(error)}`);
  return page.evaluate(() => window.__mobilevos.lastPrompt);
}
