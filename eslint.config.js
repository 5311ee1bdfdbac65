/**
 * ESLint flat config (`npm run lint`): @eslint/js's recommended rules, with the globals of where each folder runs.
 * Formatting is prettier's (.prettierrc), not ESLint's.
 */
import js from '@eslint/js';
import globals from 'globals';

const WORKERS = ['web/src/worker.js', 'web/src/bench/bench-worker.js'];

export default [
  // Not ours: build output, dependencies (the .venv's packages carry JavaScript too), exported models, test artefacts.
  { ignores: ['**/dist/', '**/node_modules/', '.venv/', 'runs/', 'results/', 'web/public/models/', 'tests/web/.*/'] },
  js.configs.recommended,
  // The web app: modules of the page; the inference and bench workers and the service worker have no DOM.
  { files: ['web/src/**/*.js'], ignores: WORKERS, languageOptions: { globals: globals.browser } },
  { files: WORKERS, languageOptions: { globals: globals.worker } },
  { files: ['web/public/sw.js'], languageOptions: { globals: globals.serviceworker } },
  // Node: the Vite config, scripts and tests (their page.evaluate callbacks run in the browser, hence its globals).
  {
    files: ['web/vite.config.js', 'eslint.config.js', 'scripts/**/*.mjs', 'tests/**/*.{js,mjs}'],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
];
