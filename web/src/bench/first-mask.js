/**
 * The first-mask bench (`npm run bench -- --first-mask`): how long after a visitor opens the app page the first
 * tracked mask is drawn, on a warm cache, from the page's own start marks (page/marks.js). Pure functions of the
 * marks, shared by scripts/bench-first-mask.mjs and the node tests.
 */
import { MARKS } from '../page/marks.js';
import { WORKER_MARK_PREFIX, WORKER_MARKS } from '../worker-marks.js';
import { summarize } from './stats.js';

/** The goal: the first mask drawn ≤ 2 s after the page is opened (localhost, warm cache). */
export const FIRST_MASK_GOAL_MS = 2000;

/** The marks in the order a load passes them, with their labels in the table. */
export const STARTUP_MARKS = [
  ['interactive', 'page interactive'],
  ['modelReady', 'model ready'],
  ['sampleReady', 'sample open with its mask'],
  ['trackStart', 'Track pressed'],
  ['annotated', 'annotation drawn'],
  ['firstMask', 'first mask drawn'],
];

/** What must come before what (the sample opens while the model loads, so those two are not ordered). */
const ORDER = [
  ['interactive', 'modelReady'],
  ['interactive', 'sampleReady'],
  ['modelReady', 'trackStart'],
  ['sampleReady', 'trackStart'],
  ['trackStart', 'annotated'],
  ['annotated', 'firstMask'],
];

/**
 * The page's marks ({name, startTime, detail} entries, as `performance.getEntriesByType('mark')` gives them) as ms
 * since navigation start and details by key: {times: {interactive, ...}, details: {interactive, ...}}; a missing
 * mark is null in both.
 */
export function startupTimes(entries) {
  const first = (key) => entries.find((e) => e.name === MARKS[key]) ?? null;
  const pick = (field) => Object.fromEntries(STARTUP_MARKS.map(([key]) => [key, first(key)?.[field] ?? null]));
  return { times: pick('startTime'), details: pick('detail') };
}

/**
 * The inference worker's marks of its load (`mobilevos:worker:<name>`, worker-marks.js) in one load's entries:
 * {name: {at, step}}, `at` in ms since navigation start, `step` the ms since the worker mark before it in time (the
 * first: since navigation start), so the steps add up to the last mark. Names with no mark are absent.
 */
export function workerTimes(entries) {
  const seen = new Map();
  for (const e of entries) {
    if (!e.name.startsWith(WORKER_MARK_PREFIX)) continue;
    const name = e.name.slice(WORKER_MARK_PREFIX.length);
    if (!seen.has(name)) seen.set(name, e.startTime);
  }
  const ordered = [...seen].sort((a, b) => a[1] - b[1]);
  return Object.fromEntries(ordered.map(([name, at], i) => [name, { at, step: at - (i ? ordered[i - 1][1] : 0) }]));
}

/** What is wrong with one load's times: missing marks and marks out of order (an empty list when none). */
export function startupProblems(times) {
  const problems = STARTUP_MARKS.filter(([key]) => !Number.isFinite(times[key])).map(([key]) => `no ${MARKS[key]}`);
  for (const [a, b] of ORDER) {
    if (Number.isFinite(times[a]) && Number.isFinite(times[b]) && times[a] > times[b])
      problems.push(`${MARKS[a]} (${times[a].toFixed(1)} ms) after ${MARKS[b]} (${times[b].toFixed(1)} ms)`);
  }
  return problems;
}

/**
 * Where the model's time goes inside the worker, from the marks' details (ms): the graph's session created and warmed
 * up (incl. the auto size's measurement) by `load`; the annotation's graph when `annotate` had to create it (its
 * bytes, its session) and the annotate call's inference; after the annotation, the wait for the next frame (decoded
 * on the page) and its round trip to the drawn mask (`times`: the load's mark times), with the track call's inference.
 */
export function workerDurations(details, times = {}) {
  const load = details.modelReady?.timings ?? {};
  const first = details.firstMask;
  const [annotatedAt, firstAt] = [times.annotated ?? null, times.firstMask ?? null];
  const prepared = details.annotated?.prepared ?? null;
  return {
    sessionMs: load.sessionMs ?? null,
    warmupMs: load.warmupMs ?? null,
    warmupAnnotateMs: load.runsMs?.[0] ?? null,
    warmupStep1Ms: load.runsMs?.[1] ?? null,
    warmupStep2Ms: load.runsMs?.[2] ?? null,
    warmupStep3Ms: load.runsMs?.[3] ?? null,
    annotateGraphMs: prepared ? prepared.sessionMs + prepared.warmupMs : null,
    annotateReadMs: prepared?.readMs ?? null,
    annotateCreateMs: prepared?.createMs ?? null,
    annotateInferMs: details.annotated?.timings?.infer ?? null,
    firstFrameMs: first?.sentAt != null && annotatedAt != null ? first.sentAt - annotatedAt : null,
    firstStepMs: first?.sentAt != null && firstAt != null ? firstAt - first.sentAt : null,
    firstInferMs: first?.timings?.infer ?? null,
  };
}

const DURATIONS = [
  ['sessionMs', 'model ready: sessions created'],
  ['warmupMs', 'model ready: warm-up and size measurement'],
  ['warmupAnnotateMs', "model ready: the warm-up's annotate call"],
  ['warmupStep1Ms', 'model ready: its first track call'],
  ['warmupStep2Ms', 'model ready: its second track call'],
  ['warmupStep3Ms', 'model ready: its third track call'],
  ['annotateGraphMs', "annotation drawn: the annotation's graph created and warmed up"],
  ['annotateReadMs', "annotation drawn: of which the graph's bytes read and checked"],
  ['annotateCreateMs', 'annotation drawn: of which its session created'],
  ['annotateInferMs', 'annotation drawn: the annotate call'],
  ['firstFrameMs', 'first mask: annotation drawn → next frame decoded and sent'],
  ['firstStepMs', 'first mask: frame sent → its mask drawn'],
  ['firstInferMs', 'first mask: of which the track call'],
];

/**
 * Median, min and max of every mark over the warm loads (`runs`: [{times, durations}]), and the goal: `pass` when the
 * median first mask is within `goalMs`; `within`: how many loads were.
 */
export function summarizeStartup(runs, goalMs = FIRST_MASK_GOAL_MS) {
  const stat = (values) => {
    const s = summarize(values.filter(Number.isFinite));
    return { n: s.n, median: s.p50, min: s.min, max: s.max };
  };
  const marks = Object.fromEntries(STARTUP_MARKS.map(([key]) => [key, stat(runs.map((r) => r.times[key]))]));
  const durations = Object.fromEntries(DURATIONS.map(([key]) => [key, stat(runs.map((r) => r.durations?.[key]))]));
  const worker = Object.fromEntries(
    WORKER_MARKS.filter(([name]) => runs.some((r) => r.worker?.[name])).map(([name]) => [
      name,
      { at: stat(runs.map((r) => r.worker?.[name]?.at)), step: stat(runs.map((r) => r.worker?.[name]?.step)) },
    ]),
  );
  const firstMask = marks.firstMask;
  return {
    goalMs,
    loads: runs.length,
    within: runs.filter((r) => r.times.firstMask <= goalMs).length,
    pass: runs.length > 0 && firstMask.n === runs.length && firstMask.median <= goalMs,
    marks,
    durations,
    worker,
  };
}

const ms = (v) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '–');

/** The summary as markdown: the marks (ms since navigation start), the worker's share, and the verdict. */
export function startupMarkdown(summary) {
  const row = (label, s) => `| ${label} | ${ms(s.median)} | ${ms(s.min)} | ${ms(s.max)} |`;
  const lines = ['| mark (ms since navigation start) | median | min | max |', '| --- | --- | --- | --- |'];
  for (const [key, label] of STARTUP_MARKS) lines.push(row(`${label} (\`${MARKS[key]}\`)`, summary.marks[key]));
  const inWorker = DURATIONS.filter(([key]) => summary.durations[key].n);
  if (inWorker.length) {
    lines.push('', '| where the time goes (ms) | median | min | max |', '| --- | --- | --- | --- |');
    for (const [key, label] of inWorker) lines.push(row(label, summary.durations[key]));
  }
  const worker = WORKER_MARKS.filter(([name]) => summary.worker?.[name]);
  if (worker.length) {
    lines.push(
      '',
      "| the worker's load, by mark (`mobilevos:worker:*`) | median ms since navigation start | median step from " +
        'the mark before | min step | max step |',
      '| --- | --- | --- | --- | --- |',
    );
    for (const [name, label] of worker) {
      const { at, step } = summary.worker[name];
      lines.push(`| ${name}: ${label} | ${ms(at.median)} | ${ms(step.median)} | ${ms(step.min)} | ${ms(step.max)} |`);
    }
  }
  const f = summary.marks.firstMask;
  lines.push(
    '',
    `First mask drawn: median ${ms(f.median)} ms over ${summary.loads} warm load(s), ${summary.within} of ` +
      `${summary.loads} within ${ms(summary.goalMs)} ms: **${summary.pass ? 'PASS' : 'FAIL'}** ` +
      `(goal: median ≤ ${ms(summary.goalMs)} ms).`,
  );
  return lines.join('\n');
}
