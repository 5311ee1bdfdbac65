/**
 * Video files are processed exactly, in headless Chromium on WASM: a DAVIS clip with known masks
 * (scripts/make_file_clip.py) is opened as a file, annotated with its first-frame mask and tracked to the end while
 * two busy-loop processes load both CPU cores. Every frame must be tracked; the zip's files must be named by frame
 * index, at the file's native size; and its J&F (`mobilevos eval --pred`) must be within JF_MARGIN of `mobilevos eval`
 * tracking the same decoded frames in PyTorch at the same input (a 4:3 640x480 file: 240x320, the page's letterbox
 * without bars). A 16:9 WebM tracked twice gives byte-identical masks at 854x480. Masks of the wrong shape are
 * refused with both sizes, masks of the same shape and another size are scaled with a notice.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { launch, preview } from '../helpers/browser.js';
import { clickFrame, downloadZip, mobilevosEval, openWasmPage, trackWholeFile, writePred } from '../helpers/files.js';
import { modelDir, readManifest, REPO } from '../helpers/models.js';
import { decodePng } from '../../../web/src/mask-encoding.js';

const CLIP = join(REPO, 'tests/web/.artifacts/file-clip');
const DAVIS = join(REPO, '../shared/data/davis16-val');
const SEQUENCE = 'blackswan';
const JF_MARGIN = 0.5;

let server;
let browser;
let models;
let clip;

before(async () => {
  models = modelDir();
  if (!existsSync(join(CLIP, 'clip.json'))) {
    execFileSync(
      'python3',
      [
        join(REPO, 'scripts/make_file_clip.py'),
        '--data',
        DAVIS,
        '--sequence',
        SEQUENCE,
        '--frames',
        '30',
        '--out',
        CLIP,
      ],
      { stdio: 'inherit', cwd: REPO },
    );
  }
  clip = JSON.parse(readFileSync(join(CLIP, 'clip.json'), 'utf8'));
  server = await preview(models);
  browser = await launch([]);
});

after(async () => {
  await browser?.close();
  server?.stop();
});

/** One busy-looping process per core until stop() is called: the CPU the page competes with. */
function loadCpu(cores = 2) {
  const children = Array.from({ length: cores }, () =>
    spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }),
  );
  return () => children.forEach((c) => c.kill('SIGKILL'));
}

/** `mobilevos eval` summary on a DAVIS folder: of `pred` masks, or tracking with the shipped checkpoint at
 * `shortSide`. */
function evaluate(data, { pred = null, out, shortSide = 240 }) {
  const checkpoint = join(REPO, readManifest(models).checkpoint.path);
  const what = pred ? ['--pred', pred] : ['--model', checkpoint, '--short-side', String(shortSide), '--threads', '2'];
  return mobilevosEval(data, out, what).summary;
}

test(
  'an mp4 file: every frame tracked under CPU load, named by frame index, native size, J&F as mobilevos eval',
  { timeout: 600000 },
  async (t) => {
    const { page, logs } = await openWasmPage(browser, server, t);
    const file = clip.files['4x3'];
    await page.setInputFiles('#file-video', join(CLIP, file.file));
    await page.waitForFunction(() => window.__mobilevos.mode === 'live', null, { timeout: 30000 });
    assert.match(
      await page.textContent('#source-info'),
      new RegExp(`${file.width}×${file.height}, ${clip.frames} frames\\). Processed frame by frame`),
    );

    // masks that do not fit: another aspect is refused with both sizes, the same aspect at half size is scaled
    await page.click('#btn-freeze');
    await page.waitForFunction(() => window.__mobilevos.mode === 'annotating');
    await page.setInputFiles('#file-mask', join(CLIP, 'mask-other-aspect.png'));
    await page.waitForFunction(() => window.__mobilevos.error?.code === 'mask-wrong-size');
    const refused = await page.textContent('#banner');
    assert.match(refused, /854×480/);
    assert.match(refused, /640×480/);
    assert.equal(await page.textContent('#objects .area'), 'empty', 'the refused mask changed nothing');
    await page.setInputFiles('#file-mask', join(CLIP, 'mask-half.png'));
    await page.waitForFunction(() => window.__mobilevos.error?.code === 'mask-scaled');
    assert.match(await page.textContent('#banner'), /320×240, the frame 640×480 \(same aspect ratio\)/);
    t.diagnostic(`refused: ${refused.replace(/\s+/g, ' ').trim()}`);

    const stopLoad = loadCpu();
    let stats;
    const started = Date.now();
    try {
      stats = await trackWholeFile(page, join(CLIP, file.davis, 'Annotations', SEQUENCE, '00000.png'));
    } finally {
      stopLoad();
    }
    t.diagnostic(
      `${stats.frames} frames tracked in ${((Date.now() - started) / 1000).toFixed(1)} s under load ` +
        `(${stats.fps.toFixed(1)} FPS, inference ${stats.infer.toFixed(0)} ms), ${stats.dropped} dropped`,
    );
    assert.equal(stats.frames, clip.frames - 1, 'every frame after the annotated one is tracked');
    assert.equal(stats.dropped, 0);

    const { pngs, index } = await downloadZip(page);
    const expected = Array.from({ length: clip.frames }, (_, i) => `clip-4x3/${String(i).padStart(5, '0')}.png`);
    assert.deepEqual(Object.keys(pngs).sort(), expected, 'one mask per frame, named by its index');
    for (const [name, bytes] of Object.entries(pngs)) {
      const png = decodePng(bytes);
      assert.deepEqual([png.width, png.height, png.colorType], [640, 480, 3], `${name}: native size, palette`);
    }
    assert.deepEqual(
      index.frames.map((f) => f.index),
      expected.map((_, i) => i),
    );
    assert.ok(
      index.frames.every(
        (f, i) => Math.abs(f.time - i / clip.fps) < 1e-3 && f.tracked === i > 0 && f.annotated === (i === 0),
      ),
    );
    assert.deepEqual([index.source.width, index.source.height, index.source.frames], [640, 480, clip.frames]);

    const out = join(REPO, 'tests/web/.artifacts/e2e-file');
    writePred(pngs, join(out, 'pred'), SEQUENCE);
    const data = join(CLIP, file.davis);
    const page_ = evaluate(data, { pred: join(out, 'pred'), out: join(out, 'page.json') });
    const python = evaluate(data, { out: join(out, 'python.json') });
    t.diagnostic(
      `J&F: page ${page_['J&F'].toFixed(2)} (J ${page_.J.toFixed(2)}, F ${page_.F.toFixed(2)}), ` +
        `mobilevos eval at 240x320 ${python['J&F'].toFixed(2)} (J ${python.J.toFixed(2)}, F ${python.F.toFixed(2)})`,
    );
    assert.ok(Math.abs(page_['J&F'] - python['J&F']) <= JF_MARGIN, `page ${page_['J&F']} vs Python ${python['J&F']}`);
    assert.equal(logs.filter((l) => l.startsWith('[pageerror]')).join('\n'), '');
  },
);

test(
  'a 16:9 WebM file tracked twice: identical masks at 854x480, the letterbox undone',
  { timeout: 600000 },
  async (t) => {
    const { page } = await openWasmPage(browser, server, t);
    const file = clip.files['16x9'];
    const mask = join(CLIP, file.davis, 'Annotations', SEQUENCE, '00000.png');
    await page.setInputFiles('#file-video', join(CLIP, file.file));
    await page.waitForFunction(() => window.__mobilevos.mode === 'live', null, { timeout: 30000 });
    const runs = [];
    for (let run = 0; run < 2; run++) {
      if (run) {
        await page.click('#btn-reset');
        await page.waitForFunction(() => window.__mobilevos.mode === 'live');
      }
      const stats = await trackWholeFile(page, mask);
      assert.equal(stats.frames, clip.frames - 1);
      runs.push(await downloadZip(page));
    }
    const [a, b] = runs.map((r) => r.pngs);
    assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
    const differing = Object.keys(a).filter((name) => Buffer.compare(Buffer.from(a[name]), Buffer.from(b[name])) !== 0);
    assert.deepEqual(differing, [], 'the same file tracked twice gives the same masks');
    const png = decodePng(a['clip-16x9/00029.png']);
    assert.deepEqual([png.width, png.height], [854, 480]);

    const out = join(REPO, 'tests/web/.artifacts/e2e-file-16x9');
    writePred(a, join(out, 'pred'), SEQUENCE);
    const score = evaluate(join(CLIP, file.davis), { pred: join(out, 'pred'), out: join(out, 'page.json') });
    t.diagnostic(`J&F of the letterboxed 16:9 run (model sees 320x180 + bars): ${score['J&F'].toFixed(2)}`);
    assert.ok(score['J&F'] > 70, `J&F ${score['J&F']}: masks line up with the objects`);
  },
);

test(
  'a 16:9 file in Auto: clicks and tracking at a 16:9 input of no more FLOPs than the measured one, J&F as mobilevos eval at its short side',
  { timeout: 600000 },
  async (t) => {
    const manifest = readManifest(models);
    const { page, info } = await openWasmPage(browser, server, t, '&size=auto&debug=1');
    const file = clip.files['16x9'];
    const mask = join(CLIP, file.davis, 'Annotations', SEQUENCE, '00000.png');
    await page.setInputFiles('#file-video', join(CLIP, file.file));
    await page.waitForFunction(() => window.__mobilevos.mode === 'live', null, { timeout: 30000 });
    // a click on the swan before Track: the frame is encoded at the input of its shape, and the mask is on the swan
    await page.click('#btn-freeze');
    await page.waitForFunction(() => window.__mobilevos.mode === 'annotating');
    await page.click('[data-tool=click]');
    const truth = decodePng(readFileSync(mask));
    assert.equal(truth.channels, 1, 'a palette mask: one index per pixel');
    const inside = [];
    truth.samples.forEach((v, p) => v && inside.push(p));
    const centre = inside[inside.length >> 1]; // a pixel of the swan's middle row
    const clicked = await clickFrame(page, centre % truth.width, Math.floor(centre / truth.width));
    const { labels } = await page.evaluate(() => window.__mobilevos.annotation);
    const both = inside.filter((p) => labels[p] === 1).length;
    const iou = both / (inside.length + labels.filter((v) => v === 1).length - both);
    const wide = manifest.model.sizes.filter((s) => s.width / s.height > 1.7).map((s) => s.width * s.height);
    t.diagnostic(`one click: IoU ${iou.toFixed(3)} with the swan, ${clicked.prob.length} model pixels`);
    assert.ok(wide.includes(clicked.prob.length), `the click's input is 16:9 (${clicked.prob.length} pixels)`);
    // one click's IoU on one object is a coin: PyTorch gave 0.21-0.66 for clicks near here at four input sizes (a
    // one-off check with mobilevos.prompts.PromptSegmenter; the head's first click averages 0.67 on the 39 selection
    // objects, at 16:9 inputs as at 4:3), so this asks only that the mask lands on the swan
    assert.ok(iou > 0.1, `one click masks part of the swan (IoU ${iou})`);
    const stats = await trackWholeFile(page, mask);
    assert.equal(stats.frames, clip.frames - 1);
    const model = await page.evaluate(() => window.__mobilevos.info.model);
    t.diagnostic(
      `load ${info.model.width}x${info.model.height}; tracked at ${model.width}x${model.height}: ${model.sizeReason}`,
    );
    // the 4:3 size Auto measured and kept (the load's, or the one it kept on looking again at Track), before the shape
    const fitReason = model.sizeReason.replace(/; \d+x\d+ for this .*$/, '');
    const moved = fitReason.match(/; (but )?(\d+x\d+) measured \d+ ms(, so it stays)?$/);
    const kept = moved && !moved[1] ? moved[2] : manifest.model.default_size.wasm.join('x');
    const sized = (text) => manifest.model.sizes.find((s) => `${s.height}x${s.width}` === text);
    const [measured, chosen] = [sized(kept), sized(`${model.height}x${model.width}`)];
    assert.ok(chosen.width / chosen.height > 1.7, 'a 16:9 input for a 16:9 frame');
    assert.ok(chosen.flops['1'] <= measured.flops['1'], 'at no more FLOPs than the size Auto measured');
    assert.match(model.sizeReason, new RegExp(`; ${model.height}x${model.width} for this 854×480 frame`));
    assert.match(await page.textContent('#model-info'), /for this 854×480 frame/);

    const { pngs } = await downloadZip(page);
    const out = join(REPO, 'tests/web/.artifacts/e2e-file-16x9-auto');
    writePred(pngs, join(out, 'pred'), SEQUENCE);
    const data = join(CLIP, file.davis);
    const ours = evaluate(data, { pred: join(out, 'pred'), out: join(out, 'page.json') });
    const python = evaluate(data, { out: join(out, 'python.json'), shortSide: model.height });
    t.diagnostic(`J&F page ${ours['J&F'].toFixed(2)}, mobilevos eval at ${model.height} ${python['J&F'].toFixed(2)}`);
    // the page letterboxes 854x480 into the input (a few columns of bars) where PyTorch stretches it, and at 176 rows
    // such a difference can send the two on different paths (PyTorch's run of this clip drifted, J decay 14, where
    // the page's did not): the page must track the objects and do no worse than PyTorch at the same input
    assert.ok(ours['J&F'] > 85, `J&F ${ours['J&F']}: the masks line up with the object`);
    assert.ok(ours['J&F'] >= python['J&F'] - 1.0, `page ${ours['J&F']} vs Python ${python['J&F']}`);
  },
);
