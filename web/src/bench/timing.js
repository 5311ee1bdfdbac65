/**
 * The timed loop of one configuration. Per frame, one frame in flight (so every stage is timed alone): capture (an
 * ImageBitmap copy of the decoded source frame, as the app grabs a video frame) -> transfer to the worker ->
 * pre-processing -> inference -> post-processing (the page's pipeline, web/src/frame-pipeline.js) -> back to the page
 * -> drawing (frame + overlay on a canvas). e2e = capture start to drawn; transfer = the round trip minus the worker's
 * stages. Scoring and memory samples happen between frames, untimed.
 */
import { labelsToPng } from '../mask-encoding.js';
import { decodeAll } from './clip.js';
import { measureAgentMemory, heapNow } from './device.js';
import { remap } from './masks.js';
import { $, hook, predicted, status } from './state.js';
import { ALL_STAGES, flatness, pingPong, round, summarize } from './stats.js';

const now = () => performance.now();

/** The timed loop of one configuration. */
export async function timeRun(run, worker, settings, prepared, life) {
  const single = prepared.length === 1;
  const total = single ? settings.frames : prepared.reduce((n, p) => n + p.frames.length - 1, 0);
  const per = Object.fromEntries([...ALL_STAGES, 'run'].map((s) => [s, new Float32Array(total)]));
  const memory = [];
  const agent = [];
  const moves = []; // Auto's moves while tracking: {frame (timed frames before it), size, reason, carryMs}
  const view = $('#view');
  const ctx = view.getContext('2d');
  const runStore = { sequences: [] };
  predicted.push(runStore);
  let i = 0; // frames timed so far
  const t0 = now();
  const sampleMemory = async (frame) => {
    if (settings.gc && typeof window.gc === 'function') window.gc();
    const { sample } = await worker.request('sample', { gc: Boolean(settings.gc) });
    const heap = heapNow();
    memory.push({
      frame,
      t: round(now() - t0, 1),
      heapUsed: heap?.used ?? null,
      heapTotal: heap?.total ?? null,
      ...sample,
    });
  };
  // The whole page's memory: asked for without waiting (the browser may answer only at its next GC, up to ~20 s
  // later, unless Chromium runs with --enable-blink-features=ForceEagerMeasureMemory as scripts/bench.mjs does).
  const pendingAgent = [];
  const sampleAgent = (frame) => {
    if (!settings.agentmemory || hook.agentMemoryOff) return;
    const requestedMs = round(now() - t0, 1);
    pendingAgent.push(
      measureAgentMemory(20000).then((m) => {
        if (!m) {
          hook.agentMemoryOff = true;
          return;
        } // unavailable: not cross-origin isolated, or not Chromium
        agent.push({
          frame,
          requestedMs,
          answeredMs: round(now() - t0, 1),
          ...m,
          ...(life.stopped ? { afterWorkerStopped: true } : {}),
        });
      }),
    );
  };

  for (const [k, p] of prepared.entries()) {
    const bitmaps = p.bitmaps ?? (await decodeAll(p.seq));
    if (view.width !== p.width || view.height !== p.height) Object.assign(view, { width: p.width, height: p.height });
    const annotate = async (bitmap) => {
      const frame = await createImageBitmap(bitmap);
      const r = await worker.request(
        'annotate',
        { frame, labels: p.trackerLabels, width: p.width, height: p.height, numObjects: p.ids.length },
        [frame],
      );
      r.frame.close();
      r.overlay.close();
    };
    if (k === 0) {
      // warm-up steps on frame 1, then annotate again (the memory is reset), as `mobilevos bench` does
      await annotate(bitmaps[0]);
      for (let w = 0; w < settings.warmup; w++) {
        const frame = await createImageBitmap(bitmaps[Math.min(1, bitmaps.length - 1)]);
        const r = await worker.request('step', { frame }, [frame]);
        r.frame.close();
        r.overlay.close();
      }
    }
    await annotate(bitmaps[0]);
    if (k === 0) {
      await sampleMemory(0);
      sampleAgent(0);
    }
    const steps = single ? settings.frames : p.frames.length - 1;
    const seqStore = {
      name: p.name,
      width: p.width,
      height: p.height,
      numFrames: Math.min(p.frames.length, steps + 1),
      pngs: new Map([[0, labelsToPng(p.first, p.width, p.height)]]),
    };
    runStore.sequences.push(seqStore);
    for (let s = 1; s <= steps; s++, i++) {
      const index = single ? pingPong(s, bitmaps.length) : s;
      const a = now();
      const frame = await createImageBitmap(bitmaps[index]);
      const b = now();
      const reply = await worker.request('step', { frame }, [frame]);
      const c = now();
      if (reply.model) {
        const { height, width, sizeReason: reason, carryMs } = reply.model;
        moves.push({ frame: i + 1, size: [height, width], reason, carryMs });
      }
      ctx.drawImage(reply.frame, 0, 0, view.width, view.height);
      ctx.drawImage(reply.overlay, 0, 0, view.width, view.height);
      reply.frame.close();
      reply.overlay.close();
      const d = now();
      const t = reply.timings;
      per.capture[i] = b - a;
      per.pre[i] = t.pre;
      per.infer[i] = t.infer;
      per.post[i] = t.post;
      per.run[i] = t.run ?? NaN;
      per.transfer[i] = c - b - t.pre - t.infer - t.post;
      per.draw[i] = d - c;
      per.e2e[i] = d - a;
      if (settings.score && s < p.frames.length && s === index) {
        // first pass: keep the mask at the annotation's size
        const { labels } = await worker.request('labels', { width: p.width, height: p.height });
        seqStore.pngs.set(s, labelsToPng(remap(labels, p.ids), p.width, p.height));
      }
      const n = i + 1;
      if (n % settings.sample === 0 || n === total) await sampleMemory(n);
      if (settings.long && n % 1000 === 0) sampleAgent(n);
      if (n % 10 === 0 || n === total) {
        hook.progress.frame = n;
        hook.progress.frames = total;
        hook.progress.fps =
          1000 / (per.e2e.subarray(Math.max(0, n - 10), n).reduce((x, y) => x + y, 0) / Math.min(10, n));
        status(
          `${hook.progress.config}/${hook.progress.configs} ${hook.progress.label}: frame ${n}/${total}, ` +
            `${hook.progress.fps.toFixed(1)} FPS`,
        );
      }
    }
    if (!p.bitmaps) bitmaps.forEach((bm) => bm.close());
  }
  run.wallMs = now() - t0;
  sampleAgent(total);
  await Promise.race([Promise.all(pendingAgent), new Promise((r) => setTimeout(r, 5000))]);
  agent.sort((x, y) => x.frame - y.frame);
  run.frames = total;
  run.stages = Object.fromEntries(ALL_STAGES.map((s) => [s, roundStats(summarize(per[s]))]));
  if (per.run.some(Number.isFinite)) run.stages.run = roundStats(summarize(per.run.filter(Number.isFinite)));
  run.fps = 1000 / run.stages.e2e.mean;
  run.perFrame = Object.fromEntries([...ALL_STAGES].map((s) => [s, Array.from(per[s], (v) => round(v, 3))]));
  run.memory = memory;
  run.agentMemory = agent;
  run.moves = moves;
  // Memory growth from the first sample after the first pass over the clip (whose masks are kept for J&F) to the
  // last; the frame-0 sample (annotation only: the bank's slots share one entry) is left out.
  const firstPass = single ? prepared[0].frames.length - 1 : total;
  const steady = memory.filter((m) => m.frame >= firstPass);
  const compared = steady.length >= 2 ? steady : memory.slice(1);
  run.flatness = flatness(
    { e2e: per.e2e, infer: per.infer },
    compared.map((m) => ({
      frame: m.frame,
      heapUsed: m.heapUsed,
      workerHeapUsed: m.workerHeapUsed,
      bankBytes: m.bankBytes,
      bankTensors: m.bankTensors,
    })),
  );
  run.flatness.memoryFrom = compared[0]?.frame ?? null;
  // at each input size (Auto may move it while tracking: run.moves), the bank holds the same bytes and tensors
  const firstAt = new Map(); // size -> its first sample
  for (const m of memory.slice(1)) if (!firstAt.has(m.size)) firstAt.set(m.size, m);
  run.bankConstant =
    memory.length > 1 &&
    memory.slice(1).every((m) => {
      const first = firstAt.get(m.size);
      return m.bankBytes === first.bankBytes && m.bankTensors === first.bankTensors;
    });
}

const roundStats = (s) => Object.fromEntries(Object.entries(s).map(([k, v]) => [k, k === 'n' ? v : round(v, 3)]));
