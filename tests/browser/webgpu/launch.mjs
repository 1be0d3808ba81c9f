// launchWithAdapter: a headless Chromium whose pages get a WebGPU adapter, for the tests that need one.
//
// Once in CI (2026-11-29, the lavapipe pass of run.mjs, the first launch after the Chromium copy was
// made) a fresh browser gave the ops suite no adapter at all; 16 launches here, cold and under load,
// never did. The tests still fail on a missing adapter; this only keeps one bad GPU-process start
// from deciding the run, and prints chrome://gpu's view of WebGPU and Vulkan when it happens.

// chrome://gpu's WebGPU and Vulkan status lines and any error it lists, on one line.
async function gpuReport(browser) {
  try {
    const page = await browser.newPage();
    await page.goto('chrome://gpu');
    await page.waitForTimeout(1000);
    const text = await page.evaluate(() => document.querySelector('info-view')?.shadowRoot?.textContent || '');
    // The feature list's entries start with '*'.
    const report = text.slice(Math.max(0, text.indexOf('Graphics Feature Status')));
    const keep = report.split(/\*|\n/).map((l) => l.trim())
      .filter((l) => /^(WebGPU|Vulkan):|GPU process|[Cc]rash|[Ee]rror|[Ff]ail/.test(l));
    return keep.slice(0, 20).map((l) => l.slice(0, 160)).join(' | ') || 'chrome://gpu gave nothing';
  } catch (e) {
    return `chrome://gpu unreadable: ${e.message}`;
  }
}

/**
 * Launches Chromium and asks a page on probeUrl (a page of the test server, so a secure context)
 * for an adapter three times over two seconds; without one, closes it and launches again.
 * @returns {Promise<{browser, page}>}  the page is on probeUrl; the last launch is returned even
 *   without an adapter, so the test itself reports the failure
 */
export async function launchWithAdapter(chromium, launchOptions, probeUrl, { launches = 3, log = console.log } = {}) {
  for (let attempt = 1; ; ++attempt) {
    const browser = await chromium.launch(launchOptions);
    const page = await browser.newPage();
    const found = await page.goto(probeUrl).then(() => page.evaluate(async () => {
      for (let i = 0; i < 3; ++i) {
        if (i) await new Promise((r) => setTimeout(r, 1000));
        if (await navigator.gpu?.requestAdapter()) return true;
      }
      return false;
    })).catch(() => false);
    if (found || attempt === launches) return { browser, page };
    log(`  note: launch ${attempt} of Chromium gave no WebGPU adapter (3 requests over 2 s); launching again. ` +
      `chrome://gpu: ${await gpuReport(browser)}`);
    await browser.close();
  }
}
