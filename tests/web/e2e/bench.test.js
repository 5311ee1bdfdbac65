/**
 * The bench page (web/bench.html) in headless Chromium on WASM, and its J&F against `mobilevos eval`.
 *
 * 1. The bundled clip, FRAMES frames: every stage is timed on every frame, memory is sampled and the memory bank stays
 *    constant, the compute probe and the device are reported. The page's predicted masks (index PNGs at the clip's
 *    size) are written into a DAVIS-layout folder next to the first FRAMES + 1 ground-truth frames, and
 *    `mobilevos eval --data GT --pred PRED` must give the page's Pyodide J&F (metrics_core.py) to 1e-9: every summary
 *    figure, and J&F, J and F of every sequence and object.
 * 2. A DAVIS folder picked through the page's <input webkitdirectory> (two sequences, palette PNG masks, a void
 *    region), `sequence=all`: the same parity over both sequences.
 * 3. `rounds=2` over two thread counts: the runs alternate (1, 2, 2, 1), each round has its own probe, and the rounds
 *    table gives each configuration's FPS ratio to the first one within rounds.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

import { collectLogs, launch, preview } from '../helpers/browser.js';
import { modelDir, REPO } from '../helpers/models.js';
import { markdownTable } from '../../../web/src/bench/report.js';
import { decodePng, labelsToPng } from '../../../web/src/mask-encoding.js';

const FRAMES = 20;
const TOL = 1e-9;
const CLIP = join(REPO, 'web/public/bench/clip');
const SETTINGS = 'sw=0&backends=wasm&threads=1&variants=fp32&probe=256&proberuns=2&warmup=2&sample=10';

let server;
let browser;
let page;
let logs;
let tmp;

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'mobilevos-bench-'));
  server = await preview(modelDir());
  browser = await launch(['--enable-precise-memory-info', '--enable-blink-features=ForceEagerMeasureMemory']);
  page = await browser.context.newPage();
  logs = collectLogs(page);
});

after(async () => {
  await browser?.close();
  server?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

async function waitDone() {
  await page
    .waitForFunction(() => ['done', 'error'].includes(window.__mobilevosBench?.state), null, {
      timeout: 110000,
      polling: 250,
    })
    .catch((e) => {
      throw new Error(`${e.message}\n${logs.slice(-30).join('\n')}`);
    });
  const { state, error, results } = await page.evaluate(() => window.__mobilevosBench);
  assert.equal(state, 'done', `bench failed: ${JSON.stringify(error)}\n${logs.slice(-30).join('\n')}`);
  return results;
}

/** The page's masks of run `r` into PRED/<seq>/<frame>.png (frame names of the clip: 00000.png, ...). */
async function writePredictions(r, dir) {
  const preds = await page.evaluate((i) => window.__mobilevosBench.predictions(i), r);
  for (const seq of preds.sequences) {
    mkdirSync(join(dir, seq.name), { recursive: true });
    for (const [t, b64] of Object.entries(seq.frames)) {
      writeFileSync(join(dir, seq.name, `${String(t).padStart(5, '0')}.png`), Buffer.from(b64, 'base64'));
    }
  }
  return preds;
}

/** `mobilevos eval --data GT --pred PRED --out JSON` (the CLI, in Python). */
function cliEval(gt, pred) {
  const out = join(tmp, `eval-${Date.now()}.json`);
  const argv = ['eval', '--data', gt, '--pred', pred, '--out', out];
  const options = { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] };
  try {
    execFileSync('mobilevos', argv, options);
  } catch (error) {
    if (error.code !== 'ENOENT') throw new Error(`mobilevos eval failed: ${error.stderr}`, { cause: error });
    execFileSync('python3', ['-c', 'import sys; from mobilevos.cli import main; sys.exit(main())', ...argv], options);
  }
  return JSON.parse(readFileSync(out, 'utf8'));
}

function assertSameJF(page_, cli, t) {
  const close = (a, b, what) => assert.ok(Math.abs(a - b) <= TOL, `${what}: page ${a} vs mobilevos eval ${b}`);
  assert.deepEqual(Object.keys(page_.summary).sort(), Object.keys(cli.summary).sort());
  for (const [k, v] of Object.entries(cli.summary)) close(page_.summary[k], v, `summary ${k}`);
  assert.deepEqual(Object.keys(page_.sequences).sort(), Object.keys(cli.sequences).sort());
  for (const [name, seq] of Object.entries(cli.sequences)) {
    for (const k of ['J&F', 'J', 'F']) close(page_.sequences[name][k], seq[k], `${name} ${k}`);
    assert.deepEqual(Object.keys(page_.sequences[name].objects).sort(), Object.keys(seq.objects).sort());
    for (const [obj, row] of Object.entries(seq.objects)) {
      for (const [k, v] of Object.entries(row))
        close(page_.sequences[name].objects[obj][k], v, `${name} object ${obj} ${k}`);
    }
  }
  t.diagnostic(
    `J&F ${cli.summary['J&F'].toFixed(6)} (J ${cli.summary.J.toFixed(4)}, F ${cli.summary.F.toFixed(4)}): page ` +
      `(${page_.scorer}) = mobilevos eval to ${TOL}`,
  );
}

/** A DAVIS-layout copy of frames [from, from + count) of the bundled clip as sequence `name` (renumbered from 0). */
function copyClip(root, name, from, count, edit = null) {
  mkdirSync(join(root, 'JPEGImages', name), { recursive: true });
  mkdirSync(join(root, 'Annotations', name), { recursive: true });
  for (let t = 0; t < count; t++) {
    const src = String(from + t).padStart(5, '0');
    const dst = String(t).padStart(5, '0');
    copyFileSync(join(CLIP, 'JPEGImages/bench', `${src}.jpg`), join(root, 'JPEGImages', name, `${dst}.jpg`));
    const png = readFileSync(join(CLIP, 'Annotations/bench', `${src}.png`));
    if (edit) {
      const { width, height, samples } = decodePng(png);
      writeFileSync(
        join(root, 'Annotations', name, `${dst}.png`),
        labelsToPng(edit(t, samples, width, height), width, height),
      );
    } else {
      writeFileSync(join(root, 'Annotations', name, `${dst}.png`), png);
    }
  }
}

test(
  `bench page, bundled clip, ${FRAMES} frames on WASM: stages, memory, probe, and J&F = mobilevos eval`,
  { timeout: 180000 },
  async (t) => {
    await page.goto(`${server.url}bench.html?autorun=1&frames=${FRAMES}&${SETTINGS}`);
    const results = await waitDone();
    assert.equal(results.schema, 'mobilevos-bench-web/1');
    assert.equal(results.runs.length, 1);
    const run = results.runs[0];
    assert.equal(run.status, 'ok', run.reason);
    assert.deepEqual(
      { backend: run.config.backend, threads: run.info.threads, variant: run.info.variant },
      { backend: 'wasm', threads: 1, variant: 'fp32' },
    );
    assert.equal(run.frames, FRAMES);
    for (const stage of ['capture', 'pre', 'infer', 'post', 'transfer', 'draw', 'e2e']) {
      const s = run.stages[stage];
      assert.equal(s.n, FRAMES, stage);
      assert.equal(run.perFrame[stage].length, FRAMES, stage);
      assert.ok(s.p50 <= s.p95 && s.p95 <= s.p99 && s.p99 <= s.max, `${stage} percentiles ordered`);
    }
    assert.ok(run.stages.infer.p50 > 0 && run.stages.e2e.p50 >= run.stages.infer.p50, 'e2e includes inference');
    assert.ok(Math.abs(run.fps - 1000 / run.stages.e2e.mean) < 1e-6);
    t.diagnostic(
      `${run.fps.toFixed(1)} FPS; p50 ms: pre ${run.stages.pre.p50}, infer ${run.stages.infer.p50}, post ` +
        `${run.stages.post.p50}, draw ${run.stages.draw.p50}, e2e ${run.stages.e2e.p50}`,
    );

    assert.deepEqual(
      run.memory.map((m) => m.frame),
      [0, 10, 20],
    );
    assert.ok(run.bankConstant, 'the memory bank holds the same bytes and tensors at every sample');
    assert.ok(
      run.memory.every((m) => m.bankBytes > 0 && m.bankTensors > 0 && m.bankLocations.includes('cpu')),
      JSON.stringify(run.memory),
    );
    assert.ok(
      run.memory.every((m) => m.heapUsed > 0),
      'performance.memory is sampled',
    );
    assert.deepEqual(
      run.agentMemory.map((m) => m.frame),
      [0, FRAMES],
      'measureUserAgentSpecificMemory at start and end',
    );
    assert.ok(
      run.agentMemory.every((m) => m.bytes > 0),
      JSON.stringify(run.agentMemory),
    );

    const probe = results.probes['wasm/1'];
    assert.ok(probe.gflops > 0 && probe.n === 256 && probe.ms.length === 2);
    assert.ok(run.compute.stepFlops > 0 && run.compute.studentGflops > 0 && run.compute.ofPeak > 0);
    t.diagnostic(
      `probe ${probe.gflops.toFixed(1)} GFLOP/s; student ${run.compute.studentGflops.toFixed(1)} GFLOP/s ` +
        `(${(100 * run.compute.ofPeak).toFixed(0)}% of peak)`,
    );
    assert.equal(results.device.crossOriginIsolated, true);
    assert.ok(results.device.hardwareConcurrency >= 1 && /Chrome/.test(results.device.userAgent));
    assert.ok(results.clip.sequences[0].frames === 50 && results.clip.seed > 0);

    // J&F parity: the page's masks, scored by the CLI against the same ground truth frames.
    assert.ok(run.jf?.summary, `page J&F: ${JSON.stringify(run.jf)}`);
    assert.equal(run.jf.scoredFrames, FRAMES - 1); // frames 1 .. n-2 of n = FRAMES + 1
    const gt = join(tmp, 'gt-bundled');
    copyClip(gt, 'bench', 0, FRAMES + 1);
    const pred = join(tmp, 'pred-bundled');
    const preds = await writePredictions(0, pred);
    assert.equal(Object.keys(preds.sequences[0].frames).length, FRAMES + 1);
    assertSameJF(run.jf, cliEval(gt, pred), t);
  },
);

test(
  'bench page, a picked DAVIS folder (two sequences, palette masks, void): J&F = mobilevos eval',
  { timeout: 180000 },
  async (t) => {
    const data = join(tmp, 'davis');
    copyClip(data, 'seq-a', 0, 8);
    copyClip(data, 'seq-b', 20, 10, (frame, labels, width) => {
      // a void band in frames 3.. of the ground truth
      if (frame >= 3) for (let y = 100; y < 110; y++) labels.fill(255, y * width, (y + 1) * width);
      return labels;
    });
    // Same page (Pyodide stays loaded): the form's fields set this run's settings.
    await page.fill('[name=probe]', '0');
    await page.fill('[name=sequence]', 'all');
    await page.setInputFiles('#folder', data);
    const picked = await page
      .waitForFunction(() => window.__mobilevosBench.picked, null, { timeout: 30000 })
      .then((h) => h.jsonValue());
    assert.deepEqual(picked.sequences, ['seq-a', 'seq-b']);
    await page.evaluate(() => {
      window.__mobilevosBench.run();
    });
    const results = await waitDone();
    const run = results.runs[0];
    assert.equal(run.status, 'ok', run.reason);
    assert.equal(results.clip.source, 'folder');
    assert.equal(run.frames, 7 + 9);
    assert.deepEqual(
      results.clip.sequences.map((s) => [s.name, s.frames, s.width, s.height]),
      [
        ['seq-a', 8, 432, 240],
        ['seq-b', 10, 432, 240],
      ],
    );
    const pred = join(tmp, 'pred-davis');
    await writePredictions(0, pred);
    assertSameJF(run.jf, cliEval(data, pred), t);
  },
);

test(
  'bench page, objects=1: the one-object graph on the first object, J&F = mobilevos eval on it alone',
  {
    timeout: 180000,
  },
  async (t) => {
    const frames = 8;
    await page.goto(`${server.url}bench.html?autorun=1&frames=${frames}&objects=1&${SETTINGS}&probe=0`);
    const results = await waitDone();
    const run = results.runs[0];
    assert.equal(run.status, 'ok', run.reason);
    const first = Math.min(...readFirstIds());
    assert.deepEqual(results.clip.sequences[0].objects, [first]);
    assert.equal(run.compute.capacity, 1, 'one object runs the K=1 graph');
    assert.match(markdownTable(results), /bench 50×432x240, 1 object tracked/);
    // the ground truth with only that object (the others background), written here, not by the page's code
    const gt = join(tmp, 'gt-one');
    copyClip(gt, 'bench', 0, frames + 1, (_, labels) => labels.map((v) => (v === first || v === 255 ? v : 0)));
    const pred = join(tmp, 'pred-one');
    const preds = await writePredictions(0, pred);
    for (const b64 of Object.values(preds.sequences[0].frames)) {
      const ids = new Set(decodePng(Buffer.from(b64, 'base64')).samples);
      assert.ok(
        [...ids].every((v) => v === 0 || v === first),
        `predicted ids ${[...ids]}`,
      );
    }
    assertSameJF(run.jf, cliEval(gt, pred), t);
  },
);

/** The object ids of the bundled clip's first annotation. */
function readFirstIds() {
  const { samples } = decodePng(readFileSync(join(CLIP, 'Annotations/bench/00000.png')));
  return [...new Set(samples)].filter((v) => v !== 0 && v !== 255);
}

test('bench page, two rounds: alternated runs, a probe per round, the rounds table', { timeout: 180000 }, async () => {
  await page.goto(`${server.url}bench.html?autorun=1&frames=5&score=0&rounds=2&${SETTINGS}&threads=1,2`);
  const results = await waitDone();
  const order = results.runs.map((r) => `${r.config.threads}t r${r.config.round} ${r.status}`);
  assert.deepEqual(order, ['1t r1 ok', '2t r1 ok', '2t r2 ok', '1t r2 ok']);
  assert.deepEqual(Object.keys(results.probes).sort(), ['wasm/1/r1', 'wasm/1/r2', 'wasm/2/r1', 'wasm/2/r2']);
  for (const run of results.runs) {
    const probe = results.probes[`wasm/${run.info.threads}/r${run.config.round}`];
    assert.ok(Math.abs(run.compute.ofPeak - run.compute.studentGflops / probe.gflops) < 1e-9, 'share of its own round');
  }
  // the 2-thread row of the rounds table: its FPS over the 1-thread run's, within each round, then the median (of two)
  const ratioRow = markdownTable(results)
    .split('\n')
    .find((l) => l.startsWith('| wasm 2t fp32') && !/ r\d \|/.test(l));
  const fps = (threads) => results.runs.filter((r) => r.config.threads === threads).map((r) => r.fps);
  const [one, two] = [fps(1), fps(2)];
  const ratio = ((two[0] / one[0] + two[1] / one[1]) / 2).toFixed(2);
  assert.ok(ratioRow?.endsWith(`| ${ratio} |`), `${ratioRow} ends with the median ratio ${ratio}`);
});
