/**
 * The bench's results as a table (markdown for files and terminals, rows for the page) and as plots (inline SVG, no
 * chart library). Pure functions of the results JSON, shared by the page and scripts/bench.mjs.
 */
import { downsample, median as medianOf } from './stats.js';

const f1 = (v) => (Number.isFinite(v) ? v.toFixed(v >= 100 ? 0 : 1) : '–');
const f2 = (v) => (Number.isFinite(v) ? v.toFixed(2) : '–');
const pct = (v) => (Number.isFinite(v) ? `${(100 * v).toFixed(0)}%` : '–');
const mib = (bytes) => (Number.isFinite(bytes) ? (bytes / 2 ** 20).toFixed(1) : '–');

/** Short label of a run's configuration: "wasm 2t fp32 240x320". */
export function configLabel(c) {
  const model = c.model ? `${c.model} ` : ''; // set when the run benches several model folders
  const round = c.round ? ` r${c.round}` : '';
  return `${model}${c.backend}${c.backend === 'wasm' ? ` ${c.threads}t` : ''} ${c.variant} ${c.resolution}${round}`;
}

/** The size a run's worker chose ("208x272") when its configuration's is `auto`, with the sizes it moved to while
 * tracking ("240x320→208x272"), else null. */
const chosenSize = ({ config, info, moves = [] }) =>
  config.resolution === 'auto' && info?.model
    ? [[info.model.height, info.model.width], ...moves.map((m) => m.size)].map(([h, w]) => `${h}x${w}`).join('→')
    : null;

/** A run's label, with the size its worker chose when the configuration's is `auto`: "wasm 2t fp32 auto 208x272 r1"
 * ("auto 240x320→208x272" when it moved while tracking). */
export function runLabel(r) {
  const chosen = chosenSize(r);
  return configLabel(chosen ? { ...r.config, resolution: `auto ${chosen}` } : r.config);
}

/** A run's FPS, with the size chosen when the configuration's is `auto` ("30.8 @208x272"). */
const fpsAt = (r) => (chosenSize(r) ? `${f1(r.fps)} @${chosenSize(r)}` : f1(r.fps));

/**
 * With rounds (config.js `rounds`): per configuration, its FPS and share of the MatMul peak in every round, their
 * medians, and the median over rounds of its FPS divided by the first configuration's in the same round — the
 * ratio a drifting host leaves alone. Empty when the run has one round.
 */
export function roundsTable(results) {
  const ok = results.runs.filter((r) => r.status === 'ok' && r.config.round);
  if (!ok.length) return '';
  const key = (c) => configLabel({ ...c, round: 0 });
  const groups = new Map();
  for (const r of ok) groups.set(key(r.config), [...(groups.get(key(r.config)) ?? []), r]);
  const baseKey = key(results.runs[0].config);
  const baseFps = new Map((groups.get(baseKey) ?? []).map((r) => [r.config.round, r.fps]));
  const median = (values) => medianOf(values.filter(Number.isFinite)); // a round without its baseline is left out
  const lines = [
    `| configuration (rounds, alternated) | FPS per round | median FPS | median share of peak | FPS / ${baseKey}, median of rounds |`,
    '| --- | --- | --- | --- | --- |',
  ];
  for (const [name, runs] of groups) {
    const ratios = runs.map((r) => r.fps / baseFps.get(r.config.round));
    lines.push(
      `| ${name} | ${runs.map(fpsAt).join(', ')} | ${f1(median(runs.map((r) => r.fps)))} | ` +
        `${pct(median(runs.map((r) => r.compute?.ofPeak)))} | ${f2(median(ratios))} |`,
    );
  }
  return lines.join('\n');
}

export const TABLE_COLUMNS = [
  'config',
  'FPS',
  'e2e p50 / p95 / p99 ms',
  'capture',
  'pre',
  'infer p50 / p95 / p99',
  'post',
  'transfer',
  'draw',
  'student GFLOP/s',
  'peak GFLOP/s',
  '% of peak',
  'J&F',
  'heap MiB first → last',
  'bank MiB (tensors)',
];

/** One table row (strings) per run. */
export function tableRows(results) {
  return results.runs.map((r) => {
    if (r.status !== 'ok')
      return [configLabel(r.config), `${r.status}: ${r.reason}`, ...Array(TABLE_COLUMNS.length - 2).fill('')];
    const s = r.stages;
    const mem = r.flatness?.memory || {};
    const heap = mem.heapUsed ? `${mib(mem.heapUsed.first)} → ${mib(mem.heapUsed.last)}` : '–';
    const bank = r.memory?.length ? `${mib(r.memory.at(-1).bankBytes)} (${r.memory.at(-1).bankTensors})` : '–';
    return [
      runLabel(r),
      f1(r.fps),
      `${f1(s.e2e.p50)} / ${f1(s.e2e.p95)} / ${f1(s.e2e.p99)}`,
      f2(s.capture.p50),
      f2(s.pre.p50),
      `${f1(s.infer.p50)} / ${f1(s.infer.p95)} / ${f1(s.infer.p99)}`,
      f2(s.post.p50),
      f2(s.transfer.p50),
      f2(s.draw.p50),
      f2(r.compute?.studentGflops),
      f2(r.compute?.peakGflops),
      pct(r.compute?.ofPeak),
      r.jf?.summary ? r.jf.summary['J&F'].toFixed(2) : r.jf?.error ? 'error' : '–',
      heap,
      bank,
    ];
  });
}

/** `bench 50×432x240, 2 objects tracked`: a sequence of the results' clip (older results have no object list). */
const sequenceLabel = (s) =>
  `${s.name} ${s.frames}×${s.width}x${s.height}` +
  (s.objects ? `, ${s.objects.length} object${s.objects.length === 1 ? '' : 's'} tracked` : '');

/** The results as a markdown table plus a line on the machine and the clip. */
export function markdownTable(results) {
  const lines = [`| ${TABLE_COLUMNS.join(' | ')} |`, `|${TABLE_COLUMNS.map(() => ' --- ').join('|')}|`];
  for (const row of tableRows(results)) lines.push(`| ${row.join(' | ')} |`);
  const d = results.device || {};
  const clip = results.clip || {};
  const frames = results.runs.find((r) => r.status === 'ok')?.frames ?? results.settings.frames;
  lines.push(
    '',
    `${frames} frames per configuration (after ${results.settings.warmup} warm-up steps), ` +
      `p50 in ms unless noted; clip ${clip.name} (${(clip.sequences || []).map(sequenceLabel).join(', ')}); ` +
      `${d.hardwareConcurrency} logical CPUs, cross-origin isolated: ${d.crossOriginIsolated}; ${d.userAgent}` +
      (d.webgpu?.available
        ? `; WebGPU: ${[d.webgpu.vendor, d.webgpu.architecture, d.webgpu.description].filter(Boolean).join(' ')}`
        : ''),
  );
  if (results.runs.some((r) => r.jf?.summary))
    lines.push(`J&F: ${results.runs.find((r) => r.jf?.scorer)?.jf.scorer}, first pass over the clip.`);
  const rounds = roundsTable(results);
  if (rounds) lines.push('', rounds);
  return lines.join('\n');
}

const esc = (s) => String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const PALETTE = ['#ff5d73', '#40c4ff', '#ffc440', '#78dc78', '#be78ff', '#ff8c3c', '#9aa5b1', '#f0f0f0'];

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  return [1, 2, 2.5, 5, 10].map((m) => m * p).find((m) => m >= v);
}

/** A line chart: series [{name, points: [[x, y], ...]}] as an SVG string. */
function lineChart({ title, series, xLabel, yLabel, width = 560, height = 240 }) {
  const pad = { l: 52, r: 12, t: 26, b: 36 };
  const all = series.flatMap((s) => s.points);
  const xMax = Math.max(1, ...all.map((p) => p[0]));
  const yMax = niceMax(Math.max(...all.map((p) => p[1]).filter(Number.isFinite), 0));
  const X = (x) => pad.l + (x / xMax) * (width - pad.l - pad.r);
  const Y = (y) => height - pad.b - (y / yMax) * (height - pad.t - pad.b);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#10161c"/>`,
    `<text x="${pad.l}" y="16" fill="#e6edf3" font-size="12">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const y = (yMax * i) / 4;
    parts.push(
      `<line x1="${pad.l}" x2="${width - pad.r}" y1="${Y(y)}" y2="${Y(y)}" stroke="#2a333d"/>`,
      `<text x="${pad.l - 4}" y="${Y(y) + 4}" fill="#9aa5b1" text-anchor="end">${+y.toPrecision(3)}</text>`,
    );
  }
  parts.push(
    `<text x="${(width + pad.l) / 2}" y="${height - 6}" fill="#9aa5b1" text-anchor="middle">${esc(xLabel)} (0 – ${xMax.toFixed(0)})</text>`,
    `<text x="12" y="${(height - pad.b + pad.t) / 2}" fill="#9aa5b1" text-anchor="middle" transform="rotate(-90 12 ${(height - pad.b + pad.t) / 2})">${esc(yLabel)}</text>`,
  );
  series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const d = s.points
      .filter((p) => Number.isFinite(p[1]))
      .map((p, k) => `${k ? 'L' : 'M'}${X(p[0]).toFixed(1)},${Y(p[1]).toFixed(1)}`)
      .join('');
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
    parts.push(
      `<text x="${width - pad.r}" y="${pad.t + 12 * i}" fill="${color}" text-anchor="end">${esc(s.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

/** Horizontal bars: [{name, value}] as an SVG string. */
function barChart({ title, bars, unit = '', width = 560 }) {
  const row = 20;
  const pad = { l: 190, r: 60, t: 26 };
  const height = pad.t + row * bars.length + 10;
  const max = niceMax(Math.max(...bars.map((b) => b.value).filter(Number.isFinite), 0));
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#10161c"/>`,
    `<text x="8" y="16" fill="#e6edf3" font-size="12">${esc(title)}</text>`,
  ];
  bars.forEach((b, i) => {
    const y = pad.t + i * row;
    const w = Number.isFinite(b.value) ? (b.value / max) * (width - pad.l - pad.r) : 0;
    parts.push(
      `<text x="${pad.l - 6}" y="${y + 13}" fill="#9aa5b1" text-anchor="end">${esc(b.name)}</text>`,
      `<rect x="${pad.l}" y="${y + 3}" width="${w.toFixed(1)}" height="${row - 6}" fill="${PALETTE[i % PALETTE.length]}"/>`,
      `<text x="${pad.l + w + 4}" y="${y + 13}" fill="#e6edf3">${Number.isFinite(b.value) ? b.value.toFixed(1) : '–'}${unit}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('');
}

/** The bench's plots: FPS per configuration, end-to-end and inference latency over the run, memory over the run. */
export function charts(results) {
  const ok = results.runs.filter((r) => r.status === 'ok');
  return {
    fps: barChart({
      title: 'frames per second (end to end, one frame in flight)',
      unit: ' FPS',
      bars: ok.map((r) => ({ name: runLabel(r), value: r.fps })),
    }),
    latency: lineChart({
      title: 'end-to-end latency over the run (block medians)',
      xLabel: 'frame',
      yLabel: 'ms',
      series: ok.map((r) => ({ name: runLabel(r), points: downsample(r.perFrame.e2e, 200) })),
    }),
    infer: lineChart({
      title: 'inference latency over the run (block medians)',
      xLabel: 'frame',
      yLabel: 'ms',
      series: ok.map((r) => ({ name: runLabel(r), points: downsample(r.perFrame.infer, 200) })),
    }),
    memory: lineChart({
      title: "memory over the run: page JS heap and the tracker's memory bank",
      xLabel: 'frame',
      yLabel: 'MiB',
      series: ok
        .flatMap((r) => [
          {
            name: `${runLabel(r)} heap`,
            points: r.memory.filter((m) => m.heapUsed != null).map((m) => [m.frame, m.heapUsed / 2 ** 20]),
          },
          { name: `${runLabel(r)} bank`, points: r.memory.map((m) => [m.frame, (m.bankBytes ?? NaN) / 2 ** 20]) },
        ])
        .filter((s) => s.points.length),
    }),
  };
}
