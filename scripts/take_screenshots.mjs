/**
 * Screenshots of the page's main states for the README (docs/screenshots/web-*.png, palette-quantised to stay small):
 * start, annotating (sample clip with its mask), tracking, an error message, and a phone-sized viewport.
 *
 *   node scripts/take_screenshots.mjs [--models DIR] [--out docs/screenshots] [--track-ms 2500]
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { collectLogs, launch, preview, waitReady } from '../tests/web/helpers/browser.js';
import { modelDir, REPO } from '../tests/web/helpers/models.js';

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const models = opt('--models', null) ?? modelDir();
const out = resolve(opt('--out', join(REPO, 'docs/screenshots')));
const trackMs = Number(opt('--track-ms', 2500));
mkdirSync(out, { recursive: true });

const server = await preview(models);
const browser = await launch([]);
const shots = [];
const shot = async (page, name) => {
  const path = join(out, name);
  await page.screenshot({ path });
  shots.push(path);
};
try {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1200, height: 800 });
  const logs = collectLogs(page);
  await page.goto(`${server.url}?backend=wasm&sw=0`);
  await waitReady(page, logs);
  await shot(page, 'web-start.png');
  await page.click('.placeholder [data-source=sample]');
  await page.waitForFunction(() => window.__mobilevos.mode === 'annotating');
  await page.waitForTimeout(300);
  await shot(page, 'web-annotating.png');
  await page.click('#btn-track');
  await page.waitForFunction(() => window.__mobilevos.stats.frames >= 3, null, { timeout: 120000 });
  await page.waitForTimeout(trackMs);
  await shot(page, 'web-tracking.png');
  await page.close();

  const error = await browser.context.newPage();
  await error.setViewportSize({ width: 1200, height: 800 });
  await error.goto(`${server.url}?sw=0&nowebgpu=1&wasm=./no-runtime-here/`);
  await error.waitForFunction(() => window.__mobilevos?.error?.code === 'no-backend', null, { timeout: 60000 });
  await shot(error, 'web-error.png');
  await error.close();

  const phone = await browser.context.newPage();
  await phone.setViewportSize({ width: 390, height: 844 });
  const phoneLogs = collectLogs(phone);
  await phone.goto(`${server.url}?backend=wasm&sw=0`);
  await waitReady(phone, phoneLogs);
  await phone.click('.placeholder [data-source=sample]');
  await phone.waitForFunction(() => window.__mobilevos.mode === 'annotating');
  await phone.click('#btn-track');
  await phone.waitForFunction(() => window.__mobilevos.stats.frames >= 3, null, { timeout: 120000 });
  await phone.waitForTimeout(1000);
  await shot(phone, 'web-phone.png');
} finally {
  await browser.close();
  server.stop();
}
// Quantise to 256 colours (Pillow): a few hundred KB -> well under 100 KB each.
execFileSync(
  'python3',
  [
    '-c',
    `
import sys
from PIL import Image
for p in sys.argv[1:]:
    Image.open(p).convert('RGB').quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(p, optimize=True)
`,
    ...shots,
  ],
  { stdio: 'inherit' },
);
console.log(`wrote ${shots.join(', ')}`);
