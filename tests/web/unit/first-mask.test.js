/**
 * The page's start marks (web/src/page/marks.js: each once, with its measures) and the first-mask bench's numbers
 * (web/src/bench/first-mask.js: times and details from the marks, missing and out-of-order marks, the worker's share,
 * median/min/max over loads, the 2 s verdict and the markdown).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  FIRST_MASK_GOAL_MS,
  startupMarkdown,
  startupProblems,
  startupTimes,
  summarizeStartup,
  workerDurations,
  workerTimes,
} from '../../../web/src/bench/first-mask.js';
import { MARKS, markOnce, markWorker } from '../../../web/src/page/marks.js';
import { onTimeline, WorkerMarks } from '../../../web/src/worker-marks.js';

const clear = () => {
  performance.clearMarks();
  performance.clearMeasures();
};

test('markOnce marks the first time only, and ends its measure', () => {
  clear();
  assert.equal(markOnce(MARKS.interactive), true);
  assert.equal(markOnce(MARKS.modelReady, { backend: 'wasm' }), true);
  assert.equal(markOnce(MARKS.modelReady, { backend: 'webgpu' }), false, 'a reload does not move it');
  const ready = performance.getEntriesByName(MARKS.modelReady, 'mark');
  assert.equal(ready.length, 1);
  assert.deepEqual(ready[0].detail, { backend: 'wasm' });
  const [load] = performance.getEntriesByName('mobilevos:model-load', 'measure');
  const [interactive] = performance.getEntriesByName(MARKS.interactive, 'mark');
  assert.equal(load.startTime, interactive.startTime);
  assert.ok(Math.abs(load.startTime + load.duration - ready[0].startTime) < 1e-6);
  // no start mark: no measure (and no throw)
  markOnce(MARKS.firstMask, { index: 1, areas: [5] });
  assert.equal(performance.getEntriesByName('mobilevos:first-track', 'measure').length, 0);
  clear();
});

test("the worker's marks: recorded in epoch ms, handed over once, placed on the page's timeline once each", () => {
  clear();
  // a worker whose clock started 1,000 ms after the page's
  const pageOrigin = 1.7e12;
  const clock = { now: 0 };
  const perf = { timeOrigin: pageOrigin + 1000, now: () => clock.now, mark: (name) => seen.push(name) };
  const seen = [];
  const marks = new WorkerMarks(perf);
  clock.now = 30;
  marks.mark('script');
  clock.now = 250.5;
  marks.mark('graph', { file: 'k2.onnx' });
  assert.deepEqual(seen, ['mobilevos:worker:script', 'mobilevos:worker:graph'], "marked in the worker's timeline");
  const handed = marks.take();
  assert.deepEqual(
    handed.map((e) => [e.name, e.at - pageOrigin]),
    [
      ['started', 1000],
      ['script', 1030],
      ['graph', 1250.5],
    ],
  );
  assert.deepEqual(marks.take(), [], 'taken once');
  assert.deepEqual(onTimeline(handed, pageOrigin)[2], {
    name: 'mobilevos:worker:graph',
    startTime: 1250.5,
    detail: { file: 'k2.onnx' },
  });

  // on this (node's) page timeline: at the same instants, once each
  const here = handed.map((e) => ({ ...e, at: e.at - pageOrigin + performance.timeOrigin }));
  markWorker(here);
  markWorker(here.map((e) => ({ ...e, at: e.at + 5 })));
  const placed = performance.getEntriesByType('mark').filter((m) => m.name.startsWith('mobilevos:worker:'));
  assert.deepEqual(
    placed.map((m) => [m.name, Math.round(m.startTime * 10) / 10]),
    [
      ['mobilevos:worker:started', 1000],
      ['mobilevos:worker:script', 1030],
      ['mobilevos:worker:graph', 1250.5],
    ],
  );
  assert.deepEqual(placed[2].detail, { file: 'k2.onnx' });
  clear();
});

test('workerTimes: each worker mark once, in time order, with the step from the one before', () => {
  const w = (name, startTime) => ({ name: `mobilevos:worker:${name}`, startTime, detail: null });
  const times = workerTimes([
    { name: MARKS.interactive, startTime: 100 },
    w('started', 90),
    w('script', 400),
    w('graph', 700), // read while the runtime started
    w('runtime', 650),
    w('graph', 2000), // a later one (another graph) is ignored
  ]);
  assert.deepEqual(Object.keys(times), ['started', 'script', 'runtime', 'graph']);
  assert.deepEqual(times.started, { at: 90, step: 90 });
  assert.deepEqual(times.runtime, { at: 650, step: 250 });
  assert.deepEqual(times.graph, { at: 700, step: 50 });
  assert.deepEqual(workerTimes([{ name: MARKS.interactive, startTime: 1 }]), {});
});

const entries = (times, details = {}) =>
  Object.entries(times).map(([key, startTime]) => ({ name: MARKS[key], startTime, detail: details[key] ?? null }));

const ORDERED = {
  interactive: 80,
  modelReady: 900,
  sampleReady: 300,
  trackStart: 905,
  annotated: 1300,
  firstMask: 1400,
};

test('startupTimes: the first entry of each mark, null when missing; problems: missing or out of order', () => {
  const marks = [
    ...entries(ORDERED, { firstMask: { index: 1, areas: [10, 20] } }),
    { name: MARKS.firstMask, startTime: 5000, detail: null }, // a later one is ignored
    { name: 'other', startTime: 1 },
  ];
  const { times, details } = startupTimes(marks);
  assert.deepEqual(times, ORDERED);
  assert.deepEqual(details.firstMask, { index: 1, areas: [10, 20] });
  assert.deepEqual(startupProblems(times), [], 'the sample may open before the model is ready');

  const { times: partial } = startupTimes(entries({ interactive: 80, modelReady: 900 }));
  assert.equal(partial.firstMask, null);
  assert.deepEqual(startupProblems(partial), [
    `no ${MARKS.sampleReady}`,
    `no ${MARKS.trackStart}`,
    `no ${MARKS.annotated}`,
    `no ${MARKS.firstMask}`,
  ]);
  assert.deepEqual(startupProblems({ ...ORDERED, modelReady: 950 }), [
    `${MARKS.modelReady} (950.0 ms) after ${MARKS.trackStart} (905.0 ms)`,
  ]);
});

test("workerDurations: load's sessions and warm-up, and the annotation's graph when annotate made it", () => {
  const details = {
    modelReady: { timings: { sessionMs: 200, warmupMs: 300, stepMs: 50, runsMs: [120, 80, 50, 45] } },
    annotated: { capacity: 2, prepared: { sessionMs: 150, warmupMs: 250, stepMs: 60, readMs: 40, createMs: 110 } },
  };
  details.annotated.timings = { pre: 2, infer: 90, post: 3 };
  details.firstMask = { index: 1, areas: [5], sentAt: 1340, timings: { pre: 2, infer: 50, post: 3 } };
  assert.deepEqual(workerDurations(details, { annotated: 1300, firstMask: 1400 }), {
    sessionMs: 200,
    warmupMs: 300,
    warmupAnnotateMs: 120,
    warmupStep1Ms: 80,
    warmupStep2Ms: 50,
    warmupStep3Ms: 45,
    annotateGraphMs: 400,
    annotateReadMs: 40,
    annotateCreateMs: 110,
    annotateInferMs: 90,
    firstFrameMs: 40,
    firstStepMs: 60,
    firstInferMs: 50,
  });
  assert.deepEqual(workerDurations({ annotated: { capacity: 1, prepared: null } }), {
    sessionMs: null,
    warmupMs: null,
    warmupAnnotateMs: null,
    warmupStep1Ms: null,
    warmupStep2Ms: null,
    warmupStep3Ms: null,
    annotateGraphMs: null,
    annotateReadMs: null,
    annotateCreateMs: null,
    annotateInferMs: null,
    firstFrameMs: null,
    firstStepMs: null,
    firstInferMs: null,
  });
});

test('summarizeStartup: median/min/max of each mark over the loads, the verdict on the median first mask', () => {
  const load = (firstMask, annotateGraphMs = null) => ({
    times: { ...ORDERED, firstMask },
    durations: { sessionMs: 100, warmupMs: 200, annotateGraphMs },
    worker: { script: { at: 300, step: firstMask / 10 }, ready: { at: 890, step: 20 } },
  });
  const s = summarizeStartup([load(1500), load(2500, 400), load(1900, 600)]);
  assert.equal(s.goalMs, FIRST_MASK_GOAL_MS);
  assert.deepEqual(s.marks.firstMask, { n: 3, median: 1900, min: 1500, max: 2500 });
  assert.deepEqual(s.marks.interactive, { n: 3, median: 80, min: 80, max: 80 });
  assert.deepEqual(s.durations.annotateGraphMs, { n: 2, median: 500, min: 400, max: 600 });
  assert.deepEqual([s.loads, s.within, s.pass], [3, 2, true]);
  assert.deepEqual(Object.keys(s.worker), ['script', 'ready'], "the worker's marks in their order");
  assert.deepEqual(s.worker.script.step, { n: 3, median: 190, min: 150, max: 250 });

  const slow = summarizeStartup([load(2100), load(2500), load(1900)]);
  assert.deepEqual([slow.within, slow.pass], [1, false]);
  const missing = summarizeStartup([load(1500), { times: { ...ORDERED, firstMask: null } }]);
  assert.equal(missing.pass, false, 'a load without a first mask fails the goal');
  assert.equal(summarizeStartup([]).pass, false);

  const md = startupMarkdown(s);
  assert.match(md, /\| first mask drawn \(`mobilevos:first-mask`\) \| 1,900 \| 1,500 \| 2,500 \|/);
  assert.match(md, /annotation's graph created and warmed up \| 500 \| 400 \| 600 \|/);
  assert.match(md, /\| script: worker script evaluated \| 300 \| 190 \| 150 \| 250 \|/);
  assert.match(md, /median 1,900 ms over 3 warm load\(s\), 2 of 3 within 2,000 ms: \*\*PASS\*\*/);
  assert.match(startupMarkdown(slow), /\*\*FAIL\*\*/);
});
