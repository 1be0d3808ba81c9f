// Collects check results in the page; run.mjs reads window.__kite when window.__kite.done.

export const results = { done: false, failures: 0, checks: 0, lines: [] };
globalThis.__kite = results;

export function log(line) {
  results.lines.push(line);
  console.log(line);
}

/** Records one comparison: ok when value <= limit. */
export function check(name, value, limit, extra = '') {
  results.checks += 1;
  const ok = value <= limit;  // NaN fails
  if (!ok) results.failures += 1;
  log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${typeof value === 'number' ? value.toExponential(2) : value} (limit ${limit})${extra ? ` ${extra}` : ''}`);
  return ok;
}

export function fail(name, error) {
  results.checks += 1;
  results.failures += 1;
  log(`FAIL ${name}: ${error && error.stack ? error.stack : error}`);
}

export async function runSuite(fn) {
  try {
    await fn();
  } catch (e) {
    fail('suite', e);
  } finally {
    results.done = true;
  }
}

/** A GPU storage buffer initialized from a typed array (or zeros of n floats). */
export function gpuBuffer(device, dataOrFloats, label = 'test') {
  const isArray = typeof dataOrFloats !== 'number';
  const bytes = isArray ? dataOrFloats.byteLength : dataOrFloats * 4;
  const buffer = device.createBuffer({ label, size: Math.max(16, Math.ceil(bytes / 4) * 4),
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, mappedAtCreation: isArray });
  if (isArray) {
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(dataOrFloats.buffer, dataOrFloats.byteOffset, dataOrFloats.byteLength));
    buffer.unmap();
  }
  return buffer;
}

export async function readFloats(device, buffer, n) {
  const staging = device.createBuffer({ size: Math.max(16, n * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const enc = device.createCommandEncoder();
  enc.copyBufferToBuffer(buffer, 0, staging, 0, Math.max(16, n * 4));
  device.queue.submit([enc.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const out = new Float32Array(staging.getMappedRange().slice(0, n * 4));
  staging.unmap();
  staging.destroy();
  return out;
}

/** n IEEE halves from a storage buffer, as a Float16Array. */
export async function readHalves(device, buffer, n) {
  const words = await readFloats(device, buffer, Math.ceil(n / 2));
  return new Float16Array(words.buffer, 0, n);
}

/** Runs ops (each {encode(pass, n)}) in one pass with the step set to (pos, nTokens). */
export function runOps(device, ops, opList, pos, nTokens) {
  ops.setStep(pos, nTokens);
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  for (const op of opList) op.encode(pass, nTokens);
  pass.end();
  device.queue.submit([enc.finish()]);
}
