/**
 * J&F in the page, computed by the project's own scorer: py/mobilevos/eval/metrics_core.py (pure standard-library Python,
 * the code behind `mobilevos eval`) running in Pyodide, which the site serves from ./pyodide/ (web/vite.config.js).
 * Exactly the calls its docstring and tests/pyodide/score.mjs make: evaluate_labels per sequence, then summarize.
 */
import metricsCoreSource from '../../../py/mobilevos/eval/metrics_core.py?raw';

let loading = null;

/** Load Pyodide and import metrics_core (once per page). Returns {pyodide, core, json, version, loadMs}. */
function loadScorer(indexURL = new URL('pyodide/', document.baseURI).href) {
  loading ??= (async () => {
    const t0 = performance.now();
    const { loadPyodide } = await import(/* @vite-ignore */ new URL('pyodide.mjs', indexURL).href);
    const pyodide = await loadPyodide({ indexURL });
    pyodide.FS.writeFile('/home/pyodide/metrics_core.py', metricsCoreSource);
    pyodide.runPython("import importlib, sys; sys.path.insert(0, '/home/pyodide'); importlib.invalidate_caches()");
    const core = pyodide.pyimport('metrics_core');
    const json = pyodide.pyimport('json');
    return {
      pyodide,
      core,
      json,
      version: pyodide.version,
      python: pyodide.runPython('sys.version.split()[0]'),
      loadMs: performance.now() - t0,
    };
  })();
  loading.catch(() => {
    loading = null;
  });
  return loading;
}

/**
 * A scoring session: `add(name, width, height, gt, pred, numFrames)` scores one sequence (gt/pred: Map frame index
 * -> Uint8Array H×W labels), `finish()` returns summarize()'s figures (percent) as plain JSON numbers — Python's
 * json.dumps writes every float exactly, so the page's figures are bit for bit those of the scorer.
 */
export async function scoringSession() {
  const scorer = await loadScorer();
  const { pyodide, core, json } = scorer;
  const results = pyodide.globals.get('dict')();
  let frames = 0;
  let ms = 0;
  return {
    scorer,
    add(name, width, height, gt, pred, numFrames) {
      const t0 = performance.now();
      const result = core.evaluate_labels.callKwargs(width, height, gt, pred, { num_frames: numFrames });
      frames += result.get('frames').length;
      results.set(name, result);
      result.destroy();
      ms += performance.now() - t0;
    },
    finish() {
      const summary = core.summarize(results);
      const out = JSON.parse(json.dumps(summary));
      summary.destroy();
      results.destroy();
      return {
        ...out,
        scoredFrames: frames,
        scoreMs: ms,
        scorer: `metrics_core.py in Pyodide ${scorer.version} ` + `(Python ${scorer.python})`,
      };
    },
  };
}
