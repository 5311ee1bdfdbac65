/**
 * The banner: one clear message at a time, keyed by an error code, with what to do about it.
 */
const MESSAGES = {
  'camera-denied': [
    'Camera access was denied.',
    "Allow the camera for this site (the camera icon in the address bar, or the browser's site settings) and press " +
      'Camera again. You can also open a video file or try the sample clip.',
  ],
  'no-camera': [
    'No camera was found.',
    'Connect a camera and press Camera again, or open a video file or the sample clip.',
  ],
  'camera-busy': [
    'The camera is in use by another application.',
    'Close the other application (or browser tab) that uses it and press Camera again.',
  ],
  'camera-insecure': ['The camera needs a secure page.', 'Open the app over https:// or on localhost / 127.0.0.1.'],
  'camera-failed': ['The camera could not be started.', ''],
  'video-unreadable': [
    'This video file cannot be read.',
    'The browser cannot decode it. Try an MP4 (H.264) or WebM (VP8/VP9) file.',
  ],
  'model-missing': [
    'The model files are missing.',
    'Export them with `python -m export --checkpoint models/NAME.safetensors --out web/public/models/NAME` (NAME: the model in Settings) and reload.',
  ],
  'model-corrupt': [
    'The model files are corrupt.',
    'A file does not match the sha256 in manifest.json. Re-run `python -m export` and reload.',
  ],
  'model-invalid': ['The model manifest is not valid.', 'Re-run `python -m export` and reload.'],
  'model-offline': [
    'You are offline and the model is not cached yet.',
    'Load the page once while online; it then works offline.',
  ],
  'no-backend': [
    'Neither WebGPU nor WASM can run the model in this browser.',
    'Use a current Chrome, Edge, Firefox or Safari. WASM needs WebAssembly with SIMD; WebGPU needs a supported GPU.',
  ],
  'tracking-failed': ['Tracking failed.', 'Press Track to try again; if it keeps failing, reload the page.'],
  'mask-unreadable': [
    'This mask image cannot be read.',
    'Upload a PNG: an index mask (grey or palette, value = object id) or one flat colour per object.',
  ],
  'mask-not-flat': ['This image is not a mask.', ''],
  'mask-wrong-size': ['This mask does not fit the frame.', ''],
  'mask-scaled': ['The mask was scaled to the frame.', ''],
  'recording-full': [
    'The mask store is full.',
    'Later frames are tracked but their masks are not kept: save the masks (.zip) and press Reset.',
  ],
  'no-prompt-head': [
    'This model cannot mask from clicks.',
    'Its export has no prompt head (the Fast model has none): mark the objects with the brush or box, or choose the ' +
      'Accurate model in Settings.',
  ],
  'prompt-failed': ['The click could not be turned into a mask.', 'Mark the object with the brush or box instead.'],
  'mask-empty': [
    'The mask has no object.',
    'Index masks need values 1, 2, …; colour masks a non-black colour per object.',
  ],
  'too-many-objects': ['Too many objects.', ''],
  'empty-annotation': [
    'Mark an object first.',
    'Paint over the object with the brush (or draw a box, or upload a mask), then press Track.',
  ],
  'unknown-model': ['Unknown model.', ''],
  'not-isolated': ['WASM runs on one thread.', 'The page is not cross-origin isolated, so multi-threading is off.'],
};

export class Banner {
  constructor(root) {
    this.root = root;
    this.title = root.querySelector('#banner-title');
    this.detail = root.querySelector('#banner-detail');
    this.actions = root.querySelector('#banner-actions');
    this.code = '';
    root.querySelector('#banner-close').addEventListener('click', () => this.hide());
  }

  /** Is there a stock message for `code`? */
  static knows(code) {
    return Object.hasOwn(MESSAGES, code);
  }

  /**
   * Show the message for `code` ('error' look unless `kind` says 'warn' or 'info'); `detail` replaces or extends the
   * stock text; `actions` are [label, handler] buttons.
   */
  show(code, { detail = '', kind = 'error', actions = [] } = {}) {
    const [title, stock] = MESSAGES[code] || [code, ''];
    this.code = code;
    this.root.dataset.kind = kind;
    this.root.dataset.code = code;
    this.title.textContent = title;
    this.detail.textContent = [stock, detail].filter(Boolean).join(' ');
    this.actions.replaceChildren(
      ...actions.map(([label, handler]) => {
        const b = document.createElement('button');
        b.textContent = label;
        b.addEventListener('click', () => {
          this.hide();
          handler();
        });
        return b;
      }),
    );
    this.root.hidden = false;
  }

  hide(code = null) {
    if (code && code !== this.code) return;
    this.root.hidden = true;
    this.code = '';
    delete this.root.dataset.code;
  }
}

/** getUserMedia errors -> message codes. */
export function cameraErrorCode(error) {
  switch (error?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
    case 'PermissionDeniedError':
      return 'camera-denied';
    case 'NotFoundError':
    case 'OverconstrainedError':
    case 'DevicesNotFoundError':
      return 'no-camera';
    case 'NotReadableError':
    case 'TrackStartError':
    case 'AbortError':
      return 'camera-busy';
    default:
      return 'camera-failed';
  }
}
