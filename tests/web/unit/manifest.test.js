import assert from 'node:assert/strict';
import { test } from 'node:test';

import { pickBackend, threadCount } from '../../../web/src/backend.js';
import { ManifestError, chooseVariant, findGraph, pickCapacity, validateManifest } from '../../../web/src/manifest.js';
import { checkGraphBytes, fetchManifest, loadGraph, sha256Hex } from '../../../web/src/model-loader.js';
import { readManifest } from '../helpers/models.js';

const real = readManifest();
const clone = () => structuredClone(real);

test('the exported manifest validates and names everything the app needs', () => {
  const m = validateManifest(clone());
  assert.equal(m.schema_version, 2);
  assert.equal(m.frame.layout, 'NHWC');
  assert.equal(m.frame.shape[3], 4);
  for (const v of Object.keys(m.variants)) {
    assert.equal(m.graphs.filter((g) => g.variant === v).length, m.objects.capacities.length, `one ${v} graph per capacity`);
  }
  for (const k of m.objects.capacities) {
    const graph = findGraph(m, k, 'fp32');
    const names = graph.inputs.map((t) => t.name);
    for (const slot of m.memory.slots) assert.ok(names.includes(slot.key) && names.includes(slot.value));
    for (const name of [m.objects.valid_input, m.objects.masks_input, m.calls.input]) assert.ok(names.includes(name), name);
    assert.deepEqual(graph.inputs.find((t) => t.name === m.calls.input).shape, [1]);
  }
  assert.deepEqual([m.calls.annotate.value, m.calls.track.value], [1, 0]);
  assert.deepEqual(m.memory.update, { annotate: m.memory.slots.map((s) => s.name), track: [m.memory.slots.at(-1).name] });
});

test('broken manifests are rejected with a clear message', () => {
  const cases = [
    [(m) => { delete m.memory; }, /lacks memory/],
    [(m) => { m.schema_version = 99; }, /schema_version 99/],
    [(m) => { m.frame.layout = 'NCHW'; }, /frame format/],
    [(m) => { m.objects.capacities = [4, 1]; }, /increasing/],
    [(m) => { m.memory.slots[0].key = 'nope'; }, /lacks the inputs nope/],
    [(m) => { m.memory.update.track = ['elsewhere']; }, /no or unknown slots/],
    [(m) => { m.graphs = m.graphs.filter((g) => !(g.capacity === m.objects.capacities[0] && g.variant === 'fp32')); }, /no graph for capacity/],
    [(m) => { m.schema_version = 1; }, /schema_version 1 is not 2/],
    [(m) => { delete m.calls; }, /lacks calls/],
    [(m) => { m.calls.input = 'flag'; }, /lacks the inputs flag/],
    [(m) => { m.calls.annotate.masks = 'prob'; }, /calls.annotate.masks/],
    [(m) => { m.calls.track.value = 1; }, /same annotate value/],
    [(m) => { m.memory.update.annotate = [m.memory.slots[0].name]; }, /refill every slot/],
    [(m) => { delete m.memory.update.track; }, /exactly the calls/],
    [(m) => { m.graphs.push(structuredClone(m.graphs[0])); }, /duplicate/],
  ];
  for (const [mutate, message] of cases) {
    const m = clone();
    mutate(m);
    assert.throws(() => validateManifest(m), (e) => e instanceof ManifestError && message.test(e.message), String(message));
  }
});

test('capacity: the smallest exported K that holds the objects', () => {
  const caps = real.objects.capacities;
  assert.equal(pickCapacity(real, 1), caps[0]);
  assert.equal(pickCapacity(real, caps.at(-1)), caps.at(-1));
  assert.throws(() => pickCapacity(real, caps.at(-1) + 1), (e) => e.code === 'too-many-objects');
});

test('variant choice: fp16 only with shader-f16 on WebGPU, int8 by default on WASM, fp32 otherwise', () => {
  const m = {
    variants: {
      fp32: { targets: ['webgpu', 'wasm'] }, fp16: { targets: ['webgpu'] }, int8: { targets: ['wasm'] },
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
  assert.deepEqual(pickBackend('webgpu', none), { backend: 'wasm', notice: 'WebGPU unavailable (no adapter); running on WASM' });
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
  assert.equal(await sha256Hex(new TextEncoder().encode('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(await checkGraphBytes(graph, bytes), '');
  const base = 'http://models.test/student/';
  assert.deepEqual(await loadGraph(base, graph, { fetchFn: fakeFetch({ 'g.onnx': bytes }) }), bytes);
  const tampered = bytes.slice();
  tampered[0] ^= 1;
  await assert.rejects(loadGraph(base, graph, { fetchFn: fakeFetch({ 'g.onnx': tampered }) }),
    (e) => e.code === 'model-corrupt' && /sha256/.test(e.message));
  await assert.rejects(loadGraph(base, graph, { fetchFn: fakeFetch({ 'g.onnx': bytes.slice(1) }) }),
    (e) => e.code === 'model-corrupt' && /bytes/.test(e.message));
  await assert.rejects(loadGraph(base, graph, { fetchFn: fakeFetch({}) }), (e) => e.code === 'model-missing');
  await assert.rejects(loadGraph(base, graph, { fetchFn: async () => { throw new TypeError('Failed to fetch'); } }),
    (e) => e.code === 'model-offline');
});

test('manifest fetch: missing, invalid JSON and invalid content are told apart', async () => {
  const base = 'http://models.test/student/';
  await assert.rejects(fetchManifest(base, { fetchFn: fakeFetch({}) }), (e) => e.code === 'model-missing');
  await assert.rejects(fetchManifest(base, { fetchFn: fakeFetch({ 'manifest.json': '{oops' }) }), (e) => e.code === 'model-invalid');
  await assert.rejects(fetchManifest(base, { fetchFn: fakeFetch({ 'manifest.json': '{}' }) }), (e) => e.code === 'model-invalid');
  const ok = await fetchManifest(base, { fetchFn: fakeFetch({ 'manifest.json': JSON.stringify(real) }) });
  assert.equal(ok.name, real.name);
});

test('an HTML page served in place of a model file (SPA fallback) counts as missing', async () => {
  const html = async () => new Response('<!doctype html><title>app</title>', { headers: { 'content-type': 'text/html' } });
  await assert.rejects(fetchManifest('http://models.test/student/', { fetchFn: html }), (e) => e.code === 'model-missing');
  await assert.rejects(loadGraph('http://models.test/student/', { file: 'g.onnx', bytes: 4, sha256: '0'.repeat(64) }, { fetchFn: html }),
    (e) => e.code === 'model-missing');
});
