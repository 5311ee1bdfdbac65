/** The bench page's views of the results: the device table, the results table, charts and summaries (report.js). */
import { charts, markdownTable, runLabel, TABLE_COLUMNS, tableRows } from './report.js';
import { $, predicted } from './state.js';

/** The device table (browser, CPUs, memory, isolation, SIMD, WebGPU adapter, heap measurement). */
export function renderDevice(d) {
  const gpu = d.webgpu.available
    ? `${[d.webgpu.vendor, d.webgpu.architecture, d.webgpu.description].filter(Boolean).join(' ') || 'adapter'}` +
      `${d.webgpu.isFallbackAdapter ? ' (fallback)' : ''}, shader-f16 ${d.webgpu.shaderF16}`
    : d.webgpu.reason;
  $('#device').innerHTML = '';
  for (const [k, v] of [
    ['browser', d.userAgent],
    ['logical CPUs', d.hardwareConcurrency],
    ['device memory', d.deviceMemoryGiB ? `${d.deviceMemoryGiB} GiB` : '–'],
    ['cross-origin isolated', d.crossOriginIsolated],
    ['WASM SIMD', d.wasmSimd],
    ['WebGPU', gpu],
    [
      'heap measurement',
      [
        d.performanceMemory && 'performance.memory',
        d.measureUserAgentSpecificMemory && 'measureUserAgentSpecificMemory',
      ]
        .filter(Boolean)
        .join(', ') || 'none',
    ],
  ]) {
    const row = document.createElement('tr');
    row.innerHTML = '<th></th><td></td>';
    row.children[0].textContent = k;
    row.children[1].textContent = String(v);
    $('#device').append(row);
  }
}

/** The results table, one row per configuration. */
export function renderTable(results) {
  const table = $('#results');
  table.innerHTML = '';
  const head = document.createElement('tr');
  for (const c of TABLE_COLUMNS) head.append(Object.assign(document.createElement('th'), { textContent: c }));
  table.append(head);
  for (const row of tableRows(results)) {
    const tr = document.createElement('tr');
    for (const cell of row) tr.append(Object.assign(document.createElement('td'), { textContent: cell }));
    table.append(tr);
  }
}

/** Everything: table, charts, probes, J&F, flatness, the markdown table, download buttons. */
export function render(results) {
  renderTable(results);
  const c = charts(results);
  $('#charts').innerHTML = [c.fps, c.latency, c.infer, c.memory].join('');
  const probes = Object.entries(results.probes).map(
    ([k, p]) =>
      `${k}: ${p.gflops.toFixed(1)} GFLOP/s ` +
      `(median of ${p.runs} runs of ${p.chain}×MatMul ${p.n}×${p.n} fp32, best ${p.bestGflops.toFixed(1)})`,
  );
  $('#probes').textContent = probes.join('; ') || 'probe off';
  const jf = results.runs
    .filter((r) => r.jf?.summary)
    .map(
      (r) =>
        `${runLabel(r)}: J&F ${r.jf.summary['J&F'].toFixed(3)} ` +
        `(J ${r.jf.summary.J.toFixed(3)}, F ${r.jf.summary.F.toFixed(3)}; ${r.jf.scoredFrames} frames)`,
    );
  $('#jf').textContent = jf.length
    ? `${jf.join('; ')} — ${results.runs.find((r) => r.jf?.scorer).jf.scorer}`
    : 'not scored';
  const long = results.runs
    .filter((r) => r.status === 'ok')
    .map((r) => {
      const f = r.flatness;
      const heap = f.memory.heapUsed
        ? `, page heap ${(f.memory.heapUsed.growth / 2 ** 20).toFixed(2)} MiB growth from frame ${f.memoryFrom}`
        : '';
      return (
        `${runLabel(r)}: e2e median first ${f.window} frames ${f.latency.e2e.first.toFixed(1)} ms, last ${f.window} ` +
        `${f.latency.e2e.last.toFixed(1)} ms (×${f.latency.e2e.ratio.toFixed(2)})${heap}, memory bank ${r.bankConstant ? 'constant' : 'changed'}`
      );
    });
  $('#flatness').textContent = long.join('; ');
  $('#markdown').textContent = markdownTable(results);
  $('#btn-json').disabled = false;
  $('#btn-masks').disabled = !predicted.some((s) => s.sequences.length);
}
