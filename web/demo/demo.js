// The Kite demo page: loads the default model (or one picked or dropped), streams answers, and
// shows which backend runs and how fast. Everything heavy happens in the package's worker.
// URL parameters: ?model=URL (default ../models/stories260K.kite), ?backend=auto|webgpu|wasm,
// ?threads=N, ?nocache=1.
import { load, capabilities, webgpuAdapter, clearCache } from '../dist/index.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const defaultModelUrl = new URL(params.get('model') ?? '../models/stories260K.kite', location.href).href;

const state = {
  model: null,
  conversation: [],   // chat messages, for models with a chat template
  stream: null,
  lastResult: null,
  source: defaultModelUrl,
};
// For tests and the console.
window.kiteDemo = state;

function setState(s) {
  document.body.dataset.state = s;
}

function notice(kind, text, id) {
  let el = id ? document.getElementById(id) : null;
  if (!el) {
    el = document.createElement('div');
    if (id) el.id = id;
    $('notices').append(el);
  }
  el.className = `notice ${kind}`;
  el.textContent = text;
  return el;
}

function clearNotice(id) {
  document.getElementById(id)?.remove();
}

function formatBytes(n) {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(0)} KiB`;
  return `${n} B`;
}

function setBadge(info, stats) {
  const badge = $('badge');
  if (!info) {
    badge.className = 'badge';
    badge.textContent = 'no model';
    return;
  }
  const backend = info.backend === 'webgpu' ? `WebGPU${info.kvFormat ? ` · ${info.kvFormat} KV` : ''}`
    : `wasm SIMD${info.threads > 1 ? ` · ${info.threads} threads` : ' · 1 thread'}`;
  const speed = stats ? ` · ${stats.decodeTokensPerSecond.toFixed(1)} tok/s` : '';
  badge.className = `badge ${info.backend}`;
  badge.textContent = backend + speed;
  badge.dataset.backend = info.backend;
  if (stats) badge.dataset.tokensPerSecond = stats.decodeTokensPerSecond.toFixed(2);
}

// ---- what the browser offers ------------------------------------------------------------------

async function showCapabilities() {
  const caps = capabilities();
  const parts = [`SIMD ${caps.simd ? 'yes' : 'no'}`, `threads ${caps.threads ? 'yes' : 'no'}`,
    `cores ${caps.hardwareConcurrency}`];
  if (!caps.simd) notice('error', 'This browser lacks WebAssembly SIMD, which Kite needs.', 'no-simd');
  if (!caps.threads) {
    notice('warn', caps.crossOriginIsolated
      ? 'Threads are unavailable (no SharedArrayBuffer): wasm runs on one thread.'
      : 'Threads are unavailable: the page is not cross-origin isolated (the server must send COOP/COEP ' +
        'headers), so SharedArrayBuffer is off and wasm runs on one thread.', 'no-threads');
  }
  let adapter = null;
  if (caps.webgpu) {
    try {
      adapter = await webgpuAdapter();
    } catch {
      adapter = null;
    }
  }
  if (!adapter) {
    notice('warn', caps.webgpu
      ? 'WebGPU is present but gave no adapter (disabled or unsupported GPU): using wasm.'
      : 'This browser has no WebGPU: using wasm.', 'no-webgpu');
  }
  parts.push(`WebGPU ${adapter ?? 'no'}`);
  $('caps').textContent = parts.join(' · ');
}

// ---- loading --------------------------------------------------------------------------------

async function loadModel(source) {
  state.stream?.result.catch(() => {});
  if (state.model) {
    state.model.abort();
    await state.model.unload().catch(() => {});
    state.model = null;
  }
  state.source = source;
  state.conversation = [];
  $('transcript').textContent = '';
  $('send').disabled = true;
  setBadge(null);
  clearNotice('load-error');
  clearNotice('backend-note');
  setState('loading');
  const name = typeof source === 'string' ? decodeURIComponent(source.split('/').pop()) : source.name;
  $('model-name').textContent = name;
  $('progress').value = 0;
  $('progress').removeAttribute('value'); // indeterminate until the first byte count
  $('progress-text').textContent = 'starting…';
  const threads = params.has('threads') ? Number(params.get('threads')) : undefined;
  try {
    const model = await load(source, {
      backend: $('backend').value,
      threads,
      cache: !params.has('nocache'),
      onProgress(p) {
        if (p.phase === 'init') {
          $('progress-text').textContent = 'building the engine…';
          return;
        }
        const verb = { download: 'downloading', cache: 'reading from cache', read: 'reading' }[p.phase];
        if (p.totalBytes > 0) {
          $('progress').value = p.loadedBytes / p.totalBytes;
          $('progress-text').textContent = `${verb} ${formatBytes(p.loadedBytes)} / ${formatBytes(p.totalBytes)}`;
        } else {
          $('progress-text').textContent = `${verb} ${formatBytes(p.loadedBytes)}`;
        }
      },
    });
    state.model = model;
    model.onToolCall = (call) => notice('info', `tool call: ${call.name}(${JSON.stringify(call.arguments)})`);
    const info = model.info;
    $('progress').value = 1;
    $('progress-text').textContent =
      `${formatBytes(info.sizeBytes)} ${info.source === 'cache' ? 'from cache' : `from ${info.source}`} in ${info.loadMs.toFixed(0)} ms`;
    $('model-name').textContent = `${name} · ${info.architecture}`;
    if (info.backendNote) notice('info', `Backend: ${info.backendNote}`, 'backend-note');
    $('mode').textContent = info.hasChatTemplate
      ? 'Chat: the model\'s chat template formats the conversation.'
      : 'This model has no chat template: it continues the text you give it.';
    $('prompt').placeholder = info.hasChatTemplate ? 'Ask something' : 'Once upon a time';
    setBadge(info);
    $('send').disabled = false;
    setState('ready');
  } catch (e) {
    $('progress').value = 0;
    $('progress-text').textContent = 'failed';
    notice('error', `Could not load ${name}: ${e.message}`, 'load-error');
    setState('error');
  }
}

// ---- asking ---------------------------------------------------------------------------------

function addMessage(role, text) {
  const el = document.createElement('div');
  el.className = `msg ${role}`;
  const body = document.createElement('span');
  body.className = 'text';
  body.textContent = text;
  el.append(body);
  $('transcript').append(el);
  return el;
}

async function ask(text) {
  const model = state.model;
  if (!model || state.stream) return;
  const options = {
    maxTokens: Number($('max-tokens').value) || 96,
    temperature: Number($('temperature').value),
  };
  let stream;
  if (model.info.hasChatTemplate) {
    state.conversation.push({ role: 'user', content: text });
    addMessage('user', text);
    stream = model.chat(state.conversation, options);
  } else {
    stream = model.generate(text, options);
  }
  const reply = addMessage('assistant', model.info.hasChatTemplate ? '' : text);
  const body = reply.querySelector('.text');
  state.stream = stream;
  $('send').disabled = true;
  $('stop').disabled = false;
  setState('generating');
  try {
    for await (const piece of stream) {
      body.textContent += piece;
      $('transcript').scrollTop = $('transcript').scrollHeight;
    }
    const result = await stream.result;
    state.lastResult = result;
    if (model.info.hasChatTemplate) state.conversation.push({ role: 'assistant', content: result.text });
    const s = result.stats;
    const stats = document.createElement('span');
    stats.className = 'stats';
    stats.textContent = `${s.generatedTokens} tokens · prompt ${s.promptTokens} tokens at ` +
      `${s.prefillTokensPerSecond.toFixed(1)} tok/s · decode ${s.decodeTokensPerSecond.toFixed(1)} tok/s · ` +
      `${s.finishReason}`;
    reply.append(stats);
    setBadge(model.info, s);
    setState('done');
  } catch (e) {
    notice('error', `Generation failed: ${e.message}`);
    setState('error');
  } finally {
    state.stream = null;
    $('send').disabled = false;
    $('stop').disabled = true;
  }
}

// ---- wiring ---------------------------------------------------------------------------------

$('ask').addEventListener('submit', (e) => {
  e.preventDefault();
  const text = $('prompt').value;
  if (text.trim()) ask(text);
});
$('prompt').addEventListener('keydown', (e) => {
  if (e.key === 'Enter' && !e.shiftKey) {
    e.preventDefault();
    $('ask').requestSubmit();
  }
});
$('stop').addEventListener('click', () => state.model?.abort());
$('reload').addEventListener('click', () => loadModel(state.source));
$('backend').addEventListener('change', () => loadModel(state.source));
$('clear-cache').addEventListener('click', async () => {
  const removed = await clearCache();
  notice('info', removed ? 'Cached models removed.' : 'Nothing was cached.', 'cache-note');
});
$('file').addEventListener('change', () => {
  const f = $('file').files?.[0];
  if (f) loadModel(f);
});
for (const type of ['dragenter', 'dragover']) {
  document.addEventListener(type, (e) => {
    e.preventDefault();
    document.body.classList.add('dragging');
  });
}
document.addEventListener('dragleave', (e) => {
  if (e.target === document.documentElement || e.target === document.body) document.body.classList.remove('dragging');
});
document.addEventListener('drop', (e) => {
  e.preventDefault();
  document.body.classList.remove('dragging');
  const f = e.dataTransfer?.files?.[0];
  if (!f) return;
  if (!f.name.endsWith('.kite')) notice('warn', `${f.name} does not end in .kite; trying it anyway.`);
  loadModel(f);
});

// The heartbeat moves on every frame: if it stops while a model loads or answers, the page froze.
window.kiteFrames = 0;
(function beat() {
  window.kiteFrames++;
  $('heartbeat').style.opacity = String(0.35 + 0.65 * Math.abs(Math.sin(window.kiteFrames / 20)));
  requestAnimationFrame(beat);
})();

if (params.get('backend')) $('backend').value = params.get('backend');
showCapabilities();
loadModel(defaultModelUrl);
