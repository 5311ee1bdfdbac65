import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { pickBackend, threadCount } from '../../../web/src/backend.js';
import {
  ManifestError,
  atSize,
  chooseSize,
  chooseVariant,
  findGraph,
  loadCapacity,
  pickCapacity,
  validateManifest,
} from '../../../web/src/manifest.js';
import { cacheGraph, checkGraphBytes, fetchManifest, loadGraph, sha256Hex } from '../../../web/src/model-loader.js';
import { REPO, readManifest } from '../helpers/models.js';
import { DEFAULT_MODEL, MODELS } from '../../../web/src/shipped-models.js';

const real = readManifest();
const clone = () => structuredClone(real);

test('the exported manifest validates and names everything the app needs', () => {
  const m = validateManifest(clone());
  assert.equal(m.schema_version, 3);
  assert.equal(m.frame.layout, 'NHWC');
  assert.equal(m.frame.shape[3], 4);
  for (const v of Object.keys(m.variants)) {
    assert.equal(
      m.graphs.filter((g) => g.variant === v).length,
      m.objects.capacities.length,
      `one ${v} graph per capacity`,
    );
  }
  for (const k of m.objects.capacities) {
    const graph = findGraph(m, k, 'fp32');
    const names = graph.inputs.map((t) => t.name);
    for (const slot of m.memory.slots) assert.ok(names.includes(slot.key) && names.includes(slot.value));
    for (const name of [m.objects.valid_input, m.objects.masks_input, m.calls.input])
      assert.ok(names.includes(name), name);
    assert.deepEqual(graph.inputs.find((t) => t.name === m.calls.input).shape, [1]);
  }
  assert.deepEqual([m.calls.annotate.value, m.calls.track.value], [1, 0]);
  assert.deepEqual(m.memory.update, {
    annotate: m.memory.slots.map((s) => s.name),
    track: [m.memory.slots.at(-1).name],
  });
});

// The same broken manifests the Python runtime must reject (tests/test_runtime.py), applied to the shipped manifest.
const SHIPPED = JSON.parse(readFileSync(join(REPO, 'web/public/models/student/manifest.json'), 'utf8'));
const { cases: CASES } = JSON.parse(readFileSync(join(REPO, 'tests/manifest_cases.json'), 'utf8'));

/** The container and key (an index for lists; '-' is the end) that a JSON pointer's last part addresses. */
function parent(doc, pointer) {
  const parts = pointer
    .split('/')
    .slice(1)
    .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
  for (const part of parts.slice(0, -1)) doc = doc[Array.isArray(doc) ? Number(part) : part];
  const last = parts.at(-1);
  return [doc, !Array.isArray(doc) ? last : last === '-' ? doc.length : Number(last)];
}

/** A copy of `doc` with a JSON Patch applied: add, remove, replace and copy, as tests/test_runtime.py applies them. */
function applyPatch(doc, patch) {
  doc = structuredClone(doc);
  for (const op of patch) {
    if (op.path === '') {
      doc = structuredClone(op.value);
      continue;
    }
    const [container, key] = parent(doc, op.path);
    if (!['add', 'remove', 'replace', 'copy'].includes(op.op)) throw new Error(`unsupported JSON Patch op ${op.op}`);
    const list = Array.isArray(container);
    if (op.op === 'remove') {
      if (list) container.splice(key, 1);
      else delete container[key];
      continue;
    }
    const [source, sourceKey] = op.op === 'copy' ? parent(doc, op.from) : [op, 'value'];
    const value = structuredClone(source[sourceKey]);
    if (list && op.op !== 'replace') container.splice(key, 0, value);
    else container[key] = value;
  }
  return doc;
}

test("every shipped model (the page's Model setting) has an export whose manifest passes the shared checks", () => {
  assert.ok(Object.hasOwn(MODELS, DEFAULT_MODEL), `the default ${DEFAULT_MODEL} is one of ${Object.keys(MODELS)}`);
  for (const name of Object.keys(MODELS)) {
    const manifest = JSON.parse(readFileSync(join(REPO, 'web/public/models', name, 'manifest.json'), 'utf8'));
    assert.equal(validateManifest(manifest).schema_version, 3, name);
  }
});

for (const { name, patch, where } of CASES) {
  test(`shared broken-manifest case: ${name}`, () => {
    const broken = applyPatch(SHIPPED, patch);
    assert.notDeepEqual(broken, SHIPPED);
    assert.throws(
      () => validateManifest(broken),
      (e) => {
        assert.ok(e instanceof ManifestError && e.code === 'model-invalid', String(e));
        assert.ok(e.where === where || e.where.startsWith(`${where}/`), `reported at ${e.where}: ${e.message}`);
        assert.ok(e.message.startsWith(`${e.where || '/'}: `), e.message);
        return true;
      },
    );
  });
}

test('applyPatch follows JSON Patch', () => {
  const doc = { a: [1, 2], b: { c: 3 } };
  assert.deepEqual(applyPatch(doc, [{ op: 'copy', from: '/a/0', path: '/a/1' }]).a, [1, 1, 2]);
  assert.deepEqual(applyPatch(doc, [{ op: 'add', path: '/a/-', value: 9 }]).a, [1, 2, 9]);
  assert.deepEqual(applyPatch(doc, [{ op: 'replace', path: '/a/1', value: 5 }]).a, [1, 5]);
  assert.deepEqual(applyPatch(doc, [{ op: 'remove', path: '/b/c' }]), { a: [1, 2], b: {} });
  assert.deepEqual(doc, { a: [1, 2], b: { c: 3 } });
});

test('capacity: the smallest exported K that holds the objects', () => {
  const caps = real.objects.capacities;
  assert.equal(pickCapacity(real, 1), caps[0]);
  assert.equal(pickCapacity(real, caps.at(-1)), caps.at(-1));
  assert.throws(
    () => pickCapacity(real, caps.at(-1) + 1),
    (e) => e.code === 'too-many-objects',
  );
});

test("load's capacity: the graph for the objects the page expects, else the smallest", () => {
  const m = { objects: { capacities: [1, 2, 4] } };
  assert.equal(loadCapacity(m, 1), 1);
  assert.equal(loadCapacity(m, 2), 2, "the sample's two objects");
  assert.equal(loadCapacity(m, 3), 4);
  assert.equal(loadCapacity(m, 4), 4);
  assert.equal(loadCapacity(m, 5), 1, 'more than the model tracks: annotate says so, load does not fail');
  for (const unknown of [undefined, null, 0, -1, 1.5, '2']) assert.equal(loadCapacity(m, unknown), 1, String(unknown));
  assert.equal(loadCapacity({ objects: { capacities: [2, 4] } }, 1), 2);
});

test('variant choice: fp16 only with shader-f16 on WebGPU, int8 by default on WASM, fp32 otherwise', () => {
  const m = {
    variants: {
      fp32: { targets: ['webgpu', 'wasm'] },
      fp16: { targets: ['webgpu'] },
      int8: { targets: ['wasm'] },
    },
  };
  assert.equal(chooseVariant(m, 'webgpu', { shaderF16: true }).variant, 'fp16');
  assert.equal(chooseVariant(m, 'webgpu', { shaderF16: false }).variant, 'fp32');
  assert.equal(chooseVariant(m, 'wasm').variant, 'fp32'); // int8 measured slower on WASM: only on request
  assert.equal(chooseVariant(m, 'wasm', { requested: 'int8' }).variant, 'int8');
  assert.equal(chooseVariant(m, 'wasm', { requested: 'fp32' }).variant, 'fp32');
  const f16 = chooseVariant(m, 'webgpu', { requested: 'fp16', shaderF16: false });
  assert.equal(f16.variant, 'fp32');
  assert.match(f16.reason, /shader-f16/);
  assert.match(chooseVariant(m, 'wasm', { requested: 'fp16' }).reason, /not meant for wasm/);
  const only32 = { variants: { fp32: { targets: ['webgpu', 'wasm'] } } };
  assert.equal(chooseVariant(only32, 'wasm').variant, 'fp32');
  assert.equal(chooseVariant(only32, 'webgpu', { shaderF16: true }).variant, 'fp32');
  assert.match(chooseVariant(only32, 'wasm', { requested: 'int8' }).reason, /not exported/);
});

test('backend choice and WASM threads', () => {
  const gpu = { available: true, adapter: 'nvidia', software: false };
  const soft = { available: true, adapter: 'google swiftshader', software: true };
  const none = { available: false, reason: 'no adapter' };
  assert.equal(pickBackend('auto', gpu).backend, 'webgpu');
  assert.equal(pickBackend('auto', soft).backend, 'wasm');
  assert.match(pickBackend('auto', soft).notice, /software/);
  assert.equal(pickBackend('auto', none).backend, 'wasm');
  assert.equal(pickBackend('webgpu', soft).backend, 'webgpu');
  assert.deepEqual(pickBackend('webgpu', none), {
    backend: 'wasm',
    notice: 'WebGPU unavailable (no adapter); running on WASM',
  });
  assert.equal(pickBackend('wasm', gpu).backend, 'wasm');
  assert.equal(threadCount(0, { isolated: true, cores: 2 }), 2);
  assert.equal(threadCount(0, { isolated: true, cores: 16 }), 4);
  assert.equal(threadCount(2, { isolated: false, cores: 8 }), 1);
  assert.equal(threadCount(1, { isolated: true, cores: 8 }), 1);
});

// A fetch that serves a fake model folder from memory.
function fakeFetch(files) {
  return async (url) => {
    const name = new URL(url).pathname.split('/').pop();
    if (!(name in files)) return new Response('not found', { status: 404 });
    return new Response(files[name]);
  };
}

test('graph bytes are checked against size and sha256; missing and corrupt files have their own codes', async () => {
  const bytes = new TextEncoder().encode('pretend onnx');
  const graph = { file: 'g.onnx', bytes: bytes.length, sha256: await sha256Hex(bytes) };
  assert.equal(
    await sha256Hex(new TextEncoder().encode('abc')),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
  assert.equal(await checkGraphBytes(graph, bytes), '');
  const base = 'http://models.test/student/';
  assert.deepEqual(await loadGraph(base, graph, { fetchFn: fakeFetch({ 'g.onnx': bytes }) }), bytes);
  const tampered = bytes.slice();
  tampered[0] ^= 1;
  await assert.rejects(
    loadGraph(base, graph, { fetchFn: fakeFetch({ 'g.onnx': tampered }) }),
    (e) => e.code === 'model-corrupt' && /sha256/.test(e.message),
  );
  await assert.rejects(
    loadGraph(base, graph, { fetchFn: fakeFetch({ 'g.onnx': bytes.slice(1) }) }),
    (e) => e.code === 'model-corrupt' && /bytes/.test(e.message),
  );
  await assert.rejects(loadGraph(base, graph, { fetchFn: fakeFetch({}) }), (e) => e.code === 'model-missing');
  await assert.rejects(
    loadGraph(base, graph, {
      fetchFn: async () => {
        throw new TypeError('Failed to fetch');
      },
    }),
    (e) => e.code === 'model-offline',
  );
});

/**
 * A Cache Storage for the worker's model cache, as the browser's (by request URL), installed for one test. With
 * `putDone`, a put shows its entry at once and resolves only when `putDone` does, as Chromium's does while it writes.
 */
function fakeModelCache(t, { putDone = null } = {}) {
  const stored = new Map();
  const reads = [];
  const puts = [];
  const store = {
    match: async (key) => {
      if (!stored.has(key)) return undefined;
      const bytes = stored.get(key);
      return { arrayBuffer: async () => (reads.push(key), bytes.buffer.slice(0)) };
    },
    put: async (key, response) => {
      puts.push(key);
      stored.set(key, new Uint8Array(await response.arrayBuffer()));
      await putDone;
    },
    delete: async (key) => stored.delete(key),
  };
  globalThis.caches = { open: async () => store };
  t.after(() => delete globalThis.caches);
  return { stored, reads, puts };
}

test('cacheGraph: a graph not needed yet is fetched, checked and cached once; a cached one is not read', async (t) => {
  const { stored, reads } = fakeModelCache(t);

  const bytes = new TextEncoder().encode('pretend head');
  const graph = { file: 'head.onnx', bytes: bytes.length, sha256: await sha256Hex(bytes) };
  const base = 'http://models.test/student/';
  const fetched = [];
  const fetchFn = async (url) => (fetched.push(url), fakeFetch({ 'head.onnx': bytes })(url));
  assert.equal(await cacheGraph(base, graph, { fetchFn }), false, 'fetched');
  assert.deepEqual([...stored.keys()], [`${base}head.onnx?sha256=${graph.sha256}`]);
  assert.equal(await cacheGraph(base, graph, { fetchFn }), true, 'cached already');
  assert.deepEqual([fetched.length, reads.length], [1, 0], 'fetched once, the cached copy not read');
  assert.deepEqual(await loadGraph(base, graph, { fetchFn }), bytes, 'loadGraph finds it');
  assert.deepEqual([fetched.length, reads.length], [1, 1]);

  const other = { ...graph, file: 'k1.onnx' };
  await assert.rejects(cacheGraph(base, other, { fetchFn }), (e) => e.code === 'model-missing');
  const offline = async () => {
    throw new TypeError('Failed to fetch');
  };
  await assert.rejects(cacheGraph(base, other, { fetchFn: offline }), (e) => e.code === 'model-offline');
  assert.equal(await cacheGraph(base, graph, { fetchFn: offline }), true, 'cached: no network needed');
});

test('loadGraph: callers that want one graph at once share one download and one cache write', async (t) => {
  const { puts } = fakeModelCache(t);
  const bytes = new TextEncoder().encode('pretend head');
  const graph = { file: 'head.onnx', bytes: bytes.length, sha256: await sha256Hex(bytes) };
  const base = 'http://models.test/student/';
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  const fetched = [];
  const slowFetch = async (url) => (fetched.push(url), await gate, fakeFetch({ 'head.onnx': bytes })(url));
  const first = loadGraph(base, graph, { fetchFn: slowFetch });
  const later = cacheGraph(base, graph, { fetchFn: slowFetch });
  const progress = [];
  const third = loadGraph(base, graph, { fetchFn: slowFetch, onProgress: (...a) => progress.push(a) });
  release();
  const [a, cachedBefore, c] = await Promise.all([first, later, third]);
  assert.deepEqual([fetched.length, puts.length], [1, 1], 'one download, one cache write');
  assert.equal(cachedBefore, false, 'it was not cached when cacheGraph asked');
  assert.deepEqual([a, c], [bytes, bytes]);
  assert.notEqual(a.buffer, c.buffer, 'each caller has its own bytes');
  assert.deepEqual(progress, [[bytes.length, bytes.length, false]], 'a joining caller hears the end');

  // A shared load that fails fails for every caller, and the next call tries again.
  const other = { ...graph, file: 'k1.onnx' };
  let fail;
  const failing = new Promise((resolve) => (fail = resolve));
  const offline = async () => {
    await failing;
    throw new TypeError('Failed to fetch');
  };
  const both = [loadGraph(base, other, { fetchFn: offline }), loadGraph(base, other, { fetchFn: offline })];
  fail();
  for (const p of both) await assert.rejects(p, (e) => e.code === 'model-offline');
  const k1 = new TextEncoder().encode('pretend head');
  assert.deepEqual(await loadGraph(base, other, { fetchFn: fakeFetch({ 'k1.onnx': k1 }) }), k1, 'tried again');
});

test('cacheGraph resolves once a write under way is done, though its entry already shows', async (t) => {
  let finishPut;
  const { stored, puts } = fakeModelCache(t, { putDone: new Promise((resolve) => (finishPut = resolve)) });
  const bytes = new TextEncoder().encode('pretend head');
  const graph = { file: 'head.onnx', bytes: bytes.length, sha256: await sha256Hex(bytes) };
  const base = 'http://models.test/student/';
  const fetchFn = fakeFetch({ 'head.onnx': bytes });
  const first = loadGraph(base, graph, { fetchFn });
  while (!stored.size) await new Promise((resolve) => setTimeout(resolve, 1));
  let written = false;
  const later = cacheGraph(base, graph, { fetchFn }).then(() => (written = true));
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(written, false, 'the entry shows, but its write is not done');
  finishPut();
  await Promise.all([first, later]);
  assert.equal(written, true);
  assert.equal(puts.length, 1, 'one write');
});

test('manifest fetch: missing, invalid JSON and invalid content are told apart', async () => {
  const base = 'http://models.test/student/';
  await assert.rejects(fetchManifest(base, { fetchFn: fakeFetch({}) }), (e) => e.code === 'model-missing');
  await assert.rejects(
    fetchManifest(base, { fetchFn: fakeFetch({ 'manifest.json': '{oops' }) }),
    (e) => e.code === 'model-invalid',
  );
  await assert.rejects(
    fetchManifest(base, { fetchFn: fakeFetch({ 'manifest.json': '{}' }) }),
    (e) => e.code === 'model-invalid',
  );
  const ok = await fetchManifest(base, { fetchFn: fakeFetch({ 'manifest.json': JSON.stringify(real) }) });
  assert.equal(ok.name, real.name);
});

test('an HTML page served in place of a model file (SPA fallback) counts as missing', async () => {
  const html = async () =>
    new Response('<!doctype html><title>app</title>', { headers: { 'content-type': 'text/html' } });
  await assert.rejects(
    fetchManifest('http://models.test/student/', { fetchFn: html }),
    (e) => e.code === 'model-missing',
  );
  await assert.rejects(
    loadGraph('http://models.test/student/', { file: 'g.onnx', bytes: 4, sha256: '0'.repeat(64) }, { fetchFn: html }),
    (e) => e.code === 'model-missing',
  );
});

test('atSize rewrites every size-dependent shape; chooseSize picks per backend and says why', () => {
  const m = validateManifest(clone());
  const area = (s) => s.height * s.width;
  const [small, large] = [m.model.sizes[0], m.model.sizes.reduce((a, b) => (area(b) > area(a) ? b : a))];
  assert.ok(large.height > small.height, 'the export has a larger size than the first');
  const big = atSize(m, [large.height, large.width]);
  const graph = findGraph(big, 1, 'fp32');
  const shape = (name) => graph.inputs.concat(graph.outputs).find((t) => t.name === name).shape;
  assert.deepEqual(big.frame.shape, [1, large.height, large.width, 4]);
  assert.deepEqual(shape(m.objects.masks_input), [1, 1, large.height, large.width]);
  assert.deepEqual(shape(m.memory.slots[0].key), [1, m.model.key_dim, large.memory_height, large.memory_width]);
  assert.deepEqual(shape(m.memory.slots[1].value), [1, 1, m.model.value_dim, large.memory_height, large.memory_width]);
  assert.deepEqual(shape(m.output.name), [1, 2, large.height, large.width]);
  assert.deepEqual(shape(m.calls.input), [1], 'size-independent inputs are left alone');
  assert.deepEqual(shape('feat8'), [1, shape('feat8')[1], large.height / 8, large.width / 8], 'the head features');
  const head = (name) => big.prompt.inputs.concat(big.prompt.outputs).find((t) => t.name === name).shape;
  assert.deepEqual(head(m.prompt.prompts_input), [1, m.prompt.channels.length, large.height, large.width]);
  assert.deepEqual(head('feat4'), shape('feat4'), "the head's inputs are the graphs' outputs at every size");
  assert.deepEqual(head(m.prompt.output), [1, 1, large.height, large.width]);
  assert.equal(graph.flops, large.flops['1'], 'FLOPs of the size');
  assert.ok(graph.flops > 3 * findGraph(m, 1, 'fp32').flops);
  assert.deepEqual([big.model.height, big.model.memory_width], [large.height, large.memory_width]);
  assert.deepEqual(atSize(m, [small.height, small.width]).frame.shape, m.frame.shape);
  assert.throws(() => atSize(m, [100, 100]), /100x100 was not exported/);

  assert.deepEqual(chooseSize(m, 'wasm'), { size: m.model.default_size.wasm, reason: 'default for wasm' });
  assert.deepEqual(chooseSize(m, 'webgpu').size, [large.height, large.width]);
  assert.deepEqual(chooseSize(m, 'webgpu', 'auto', { software: true }), {
    size: m.model.default_size.wasm,
    reason: 'software WebGPU: the WASM size',
  });
  assert.deepEqual(chooseSize(m, 'wasm', `${large.height}x${large.width}`), {
    size: [large.height, large.width],
    reason: 'requested',
  });
  const bad = chooseSize(m, 'wasm', '999x999');
  assert.deepEqual(bad.size, m.model.default_size.wasm);
  assert.match(bad.reason, /999x999 is not an exported size/);
});
