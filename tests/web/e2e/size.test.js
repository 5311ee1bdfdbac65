/**
 * The model size follows the backend and the user: WASM picks the manifest's first size, and `?size=480x640` runs the
 * same (dynamic) graphs at 480x640, memory included. A 640x480 video file whose one object covers ~1.4% of the frame
 * (scripts/make_small_object_clip.py) is tracked at that size; its J&F must be within JF_MARGIN of `mobilevos eval`
 * tracking the same decoded frames in PyTorch at short side 480, and the object must be found in every frame.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { launch, preview } from '../helpers/browser.js';
import { downloadZip, mobilevosEval, openWasmPage, trackWholeFile, writePred } from '../helpers/files.js';
import { modelDir, readManifest, REPO } from '../helpers/models.js';

const CLIP = join(REPO, 'tests/web/.artifacts/small-object-clip');
const OUT = join(REPO, 'tests/web/.artifacts/e2e-size');
const JF_MARGIN = 0.5;

let server;
let browser;
let models;
let clip;

before(async () => {
  models = modelDir();
  if (!existsSync(join(CLIP, 'clip.json'))) {
    execFileSync('python3', [join(REPO, 'scripts/make_small_object_clip.py'), '--out', CLIP], {
      stdio: 'inherit',
      cwd: REPO,
    });
  }
  clip = JSON.parse(readFileSync(join(CLIP, 'clip.json'), 'utf8'));
  server = await preview(models);
  browser = await launch([]);
});

after(async () => {
  await browser?.close();
  server?.stop();
});

test('WASM measures its default size and keeps it (no CPU runs 480x640 at 30 FPS); an unknown ?size= falls back and says why', async (t) => {
  const manifest = readManifest(models);
  const [height, width] = manifest.model.default_size.wasm;
  const { page, info } = await openWasmPage(browser, server, t);
  t.diagnostic(`size: ${info.model.sizeReason}`);
  assert.deepEqual([info.model.height, info.model.width], [height, width]);
  assert.match(
    info.model.sizeReason,
    new RegExp(`^default for wasm; auto: ${height}x${width} measured \\d+ ms a frame \\(480x640 predicted \\d+ ms\\)`),
  );
  assert.match(await page.textContent('#model-info'), /auto: 240x320 measured/);
  const bad = await openWasmPage(browser, server, t, '&size=100x100');
  assert.deepEqual([bad.info.model.height, bad.info.model.width], [height, width]);
  assert.match(bad.info.model.sizeReason, /100x100 is not an exported size/);
  assert.match(await bad.page.textContent('#model-info'), /100x100 is not an exported size/);
});

test(
  '?size=480x640 tracks a small object in a file at 480x640, as PyTorch does at short side 480',
  { timeout: 600000 },
  async (t) => {
    const { page, logs, info } = await openWasmPage(browser, server, t, '&size=480x640');
    assert.deepEqual([info.model.height, info.model.width], [480, 640]);
    assert.equal(info.model.sizeReason, 'requested');
    assert.equal(await page.inputValue('#set-size'), '480x640');

    await page.setInputFiles('#file-video', join(CLIP, 'clip.mp4'));
    await page.waitForFunction(() => window.__mobilevos.mode === 'live', null, { timeout: 30000 });
    const stats = await trackWholeFile(page, join(CLIP, 'mask.png'));
    assert.equal(stats.frames, clip.frames - 1, 'every frame after the annotated one is tracked');
    // the memory bank holds two entries of the 30x40 grid (first frame and previous), as at any other frame
    const { stats: tracker } = await page.evaluate(() => window.__mobilevos.request('stats'));
    const { key_dim: ck, value_dim: cv } = readManifest(models).model;
    assert.equal(tracker.memoryBytes, 2 * (ck + cv) * 30 * 40 * 4);
    t.diagnostic(
      `${stats.frames} frames at 480x640: inference ${stats.infer.toFixed(0)} ms, memory ${tracker.memoryBytes} B`,
    );

    const { pngs } = await downloadZip(page);
    const pred = join(OUT, 'pred');
    writePred(pngs, pred, clip.sequence);
    const data = join(CLIP, 'davis');
    const ours = mobilevosEval(data, join(OUT, 'page.json'), ['--pred', pred]);
    const checkpoint = join(REPO, readManifest(models).checkpoint.path);
    const reference = ['--model', checkpoint, '--short-side', '480', '--threads', '2'];
    const python = mobilevosEval(data, join(OUT, 'python.json'), reference);
    const [a, b] = [ours.summary['J&F'], python.summary['J&F']];
    t.diagnostic(
      `object ${(100 * clip.object_area).toFixed(2)}% of the frame; J&F page ${a.toFixed(2)}, ` +
        `mobilevos eval at 480 ${b.toFixed(2)}`,
    );
    assert.ok(Math.abs(a - b) <= JF_MARGIN, `page ${a} vs Python ${b}`);
    assert.equal(Object.values(ours.sequences)[0].objects['1']['J-recall'], 100, 'the object is found in every frame');
    assert.equal(logs.filter((l) => l.startsWith('[pageerror]')).join('\n'), '');
  },
);
