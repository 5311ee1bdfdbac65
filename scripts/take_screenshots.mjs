/**
 * Screenshots of the page's main states for the README (docs/screenshots/web-*.png, palette-quantised to stay small):
 * start, annotating (sample clip with its mask), tracking, an error message, a phone-sized viewport, and the click
 * tool in use (the sample's objects marked by clicks and a box), and the settings panel open while the Balanced
 * model tracks the sample.
 *
 *   node scripts/take_screenshots.mjs [--models DIR] [--out docs/screenshots] [--track-ms 2500] [--only web-click]
 *
 * --only NAME,...: only these screenshots (the others' files are left as they are).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
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
const only = opt('--only', null)?.split(',');
const want = (...names) => !only || names.some((n) => only.includes(n));
mkdirSync(out, { recursive: true });

const server = await preview(models);
const browser = await launch([]);
const shots = [];
const shot = async (page, name, options = {}) => {
  const path = join(out, name);
  await page.screenshot({ path, ...options });
  shots.push(path);
};
try {
  if (want('web-start', 'web-annotating', 'web-tracking')) await mainStates();
  if (want('web-error')) await errorState();
  if (want('web-phone')) await phoneState();
  if (want('web-click')) await clickState();
  if (want('web-settings')) await settingsState();
} finally {
  await browser.close();
  server.stop();
}

async function mainStates() {
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
}

async function errorState() {
  const error = await browser.context.newPage();
  await error.setViewportSize({ width: 1200, height: 800 });
  await error.goto(`${server.url}?sw=0&nowebgpu=1&wasm=./no-runtime-here/`);
  await error.waitForFunction(() => window.__mobilevos?.error?.code === 'no-backend', null, { timeout: 60000 });
  await shot(error, 'web-error.png');
  await error.close();
}

async function phoneState() {
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
}

/** The Balanced model (Settings → Model) tracking the sample, the settings panel open with the model hint. */
async function settingsState() {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1200, height: 900 });
  const logs = collectLogs(page);
  await page.goto(`${server.url}?backend=wasm&sw=0&model=student_pruned`);
  await waitReady(page, logs);
  await page.click('.placeholder [data-source=sample]');
  await page.waitForFunction(() => window.__mobilevos.mode === 'annotating');
  await page.click('#btn-track');
  await page.waitForFunction(() => window.__mobilevos.stats.frames >= 3, null, { timeout: 120000 });
  await page.waitForTimeout(trackMs);
  await page.click('#btn-pause');
  await page.click('#card-settings summary');
  await shot(page, 'web-settings.png', { fullPage: true });
  await page.close();
}

/** The sample's mask cleared, object 2 marked by a box drag (its tight box), object 1 by three clicks (the NoC
 * protocol, as tests/web/e2e/click.test.js) and a negative click on the background: object 1 selected, its click
 * markers and the last click's timing in the tools card. */
async function clickState() {
  const page = await browser.context.newPage();
  await page.setViewportSize({ width: 1200, height: 800 });
  const logs = collectLogs(page);
  await page.goto(`${server.url}?backend=wasm&sw=0&debug=1`);
  await waitReady(page, logs);
  await page.click('.placeholder [data-source=sample]');
  await page.waitForFunction(() => document.querySelectorAll('#objects li[data-object]').length === 2);
  await page.click('#btn-clear-all');
  await page.click('[data-tool=click]');
  const rect = await page.locator('#annot').boundingBox();
  const scale = Math.min(rect.width / 640, rect.height / 480); // the sample is 640x480, shown with object-fit: contain
  const at = (x, y) => [
    rect.x + (rect.width - 640 * scale) / 2 + (x + 0.5) * scale,
    rect.y + (rect.height - 480 * scale) / 2 + (y + 0.5) * scale,
  ];
  const prompted = async (act) => {
    const before = await page.evaluate(() => window.__mobilevos.lastPrompt);
    await act();
    await page.waitForFunction((b) => window.__mobilevos.lastPrompt !== b, before, { timeout: 60000 });
  };
  const reference = (...a) =>
    JSON.parse(execFileSync('python3', [join(REPO, 'scripts/e2e_prompt_reference.py'), ...a], { cwd: REPO }));
  const objects = reference('clicks');
  const [b0, a0, b1, a1] = objects[2].box;
  await page.keyboard.press('2');
  await prompted(async () => {
    await page.mouse.move(...at(a0, b0));
    await page.mouse.down();
    await page.mouse.move(...at(a1, b1), { steps: 6 });
    await page.mouse.up();
  });
  await page.keyboard.press('1');
  let click = { y: objects[1].centre[0], x: objects[1].centre[1], positive: true };
  const labels = join(mkdtempSync(join(tmpdir(), 'mobilevos-shot-')), 'labels.json');
  for (let n = 0; n < 3 && click; n++) {
    const { x, y, positive } = click;
    await prompted(() => page.mouse.click(...at(x, y), { button: positive ? 'left' : 'right' }));
    writeFileSync(labels, JSON.stringify(await page.evaluate(() => window.__mobilevos.annotation)));
    ({ click } = reference('next', '--labels', labels, '--object', '1'));
  }
  await prompted(() => page.mouse.click(...at(70, 170), { button: 'right' }));
  await page.waitForTimeout(300);
  await shot(page, 'web-click.png');
  await page.close();
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
