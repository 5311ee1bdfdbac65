/**
 * Headless Chromium for the browser tests (playwright-core driving the system's /usr/bin/chromium: no browser
 * download), and the built site served by `vite preview`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';

import { chromium } from 'playwright-core';

import { REPO } from './models.js';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const BASE_FLAGS = [
  '--no-sandbox',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-gpu-sandbox',
];
export const FAKE_CAMERA_FLAGS = (y4m) => [
  '--use-fake-ui-for-media-stream',
  '--use-fake-device-for-media-stream',
  `--use-file-for-fake-video-capture=${y4m}`,
];
export const SWIFTSHADER_WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-unsafe-swiftshader',
  '--use-webgpu-adapter=swiftshader',
];

/** A fresh browser with its own profile; `close()` removes the profile too. */
export async function launch(flags = [], { headless = true } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'mobilevos-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless,
    args: [...BASE_FLAGS, ...flags],
    viewport: { width: 1280, height: 860 },
    acceptDownloads: true,
  });
  const close = async () => {
    await context.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

/** `vite build` once per process (skipped with MOBILEVOS_SKIP_BUILD=1). */
let built = null;
function buildSite() {
  if (process.env.MOBILEVOS_SKIP_BUILD === '1') return Promise.resolve();
  built ??= run('npx', ['vite', 'build', '--config', 'web/vite.config.js', '--logLevel', 'warn']);
  return built;
}

function run(cmd, args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: REPO,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`))));
  });
}

/** `vite preview` of web/dist on a free port, serving `models` as the default model's folder. Returns {url, stop}. */
export async function preview(models) {
  await buildSite();
  const port = await freePort();
  const child = spawn('npx', ['vite', 'preview', '--config', 'web/vite.config.js', '--strictPort'], {
    cwd: REPO,
    env: { ...process.env, MOBILEVOS_MODELS: models, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stdout.on('data', (d) => {
    log += d;
  });
  child.stderr.on('data', (d) => {
    log += d;
  });
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    try {
      if ((await fetch(url)).ok) break;
    } catch {
      /* not up yet */
    }
    if (child.exitCode !== null) throw new Error(`vite preview exited: ${log}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    stop: () => {
      try {
        process.kill(-child.pid);
      } catch {
        /* gone */
      }
    },
  };
}

/** Console messages and page errors of a page, for failure reports. */
export function collectLogs(page) {
  const logs = [];
  page.on('console', (m) => logs.push(`[${m.type()}] ${m.text()}`));
  page.on('pageerror', (e) => logs.push(`[pageerror] ${e.message}`));
  page.on('worker', (w) => w.on('console', (m) => logs.push(`[worker ${m.type()}] ${m.text()}`)));
  return logs;
}

/** Wait for the model to load (or an error banner); returns the hook's info or throws with the page's logs. */
export async function waitReady(page, logs, timeout = 120000) {
  await page
    .waitForFunction(() => window.__mobilevos?.ready || window.__mobilevos?.error?.code, null, {
      timeout,
      polling: 200,
    })
    .catch((e) => {
      throw new Error(`${e.message}\n${logs.join('\n')}`);
    });
  const state = await page.evaluate(() => ({ info: window.__mobilevos.info, error: window.__mobilevos.error }));
  return state;
}
