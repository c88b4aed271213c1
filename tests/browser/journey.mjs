// A real browser through the hoclieu web pages: a teacher searches, narrows, previews and downloads;
// a curator uploads a large file across a dropped connection and submits it; a reviewer approves
// it; a teacher then finds it. Run by crates/hoclieu/tests/browser.rs.
//
// Environment: BASE_URL, CURATOR_LOGIN, REVIEWER_LOGIN, PASSWORD (of both), BIG_FILE (the file to
// upload), SCREENSHOTS (a directory), EXPECT_FIRST (the title expected first for the teacher's
// query), CHROMIUM (the browser executable). Prints "ok – <step>" per step; on the first failure
// prints why, saves SCREENSHOTS/failure.png and exits with status 1.
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

// Evaluated through the DevTools protocol, which the pages' Content-Security-Policy does not
// govern (an injected <script> would be refused, as it should be).
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

function need(name) {
  if (!process.env[name]) {
    console.error(`journey.mjs: the environment variable ${name} is not set`);
    process.exit(2);
  }
  return process.env[name];
}
const BASE = need('BASE_URL').replace(/\/+$/, '');
const [CURATOR, REVIEWER, PASSWORD] = [need('CURATOR_LOGIN'), need('REVIEWER_LOGIN'), need('PASSWORD')];
const [BIG_FILE, SHOTS, CHROMIUM] = [need('BIG_FILE'), need('SCREENSHOTS'), need('CHROMIUM')];
const EXPECT_FIRST = tidy(need('EXPECT_FIRST'));
const QUERY = 'giao an toan 10 tap hop';
const TITLE = `Bài kiểm tra trình duyệt ${Date.now()}`;
const DESKTOP = { viewport: { width: 1280, height: 800 }, locale: 'vi-VN' };
const PHONE = { viewport: { width: 360, height: 740 }, isMobile: true, hasTouch: true, locale: 'vi-VN' };
// Until the connection is cut the upload is slowed to this, so that the cut lands mid-upload
// however fast the server takes chunks over loopback (unslowed, 50 MB go up in well under a second).
const SLOWED_UPLOAD = { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 16 << 20 };

let browser = null;
let current = null; // the page a failure is photographed on
let running = 'starting';
const pageErrors = [];

/** Reports a failure, photographs the current page and exits. */
async function fail(name, error) {
  // eslint-disable-next-line no-control-regex
  console.error(`FAILED – ${name}: ${String(error?.message ?? error).replace(/\x1b\[[0-9;]*m/g, '')}`);
  if (current && !current.isClosed()) {
    console.error(`  page: ${current.url()}`);
    await current.screenshot({ path: join(SHOTS, 'failure.png'), fullPage: true, timeout: 10_000 }).catch(() => {});
    console.error(`  screenshot: ${join(SHOTS, 'failure.png')}`);
  }
  if (pageErrors.length) console.error(`  errors in the pages:\n    ${pageErrors.join('\n    ')}`);
  await browser?.close().catch(() => {});
  process.exit(1);
}

/** Runs one step: "ok – name" when it passes; otherwise the failure ends the journey. */
async function step(name, body) {
  const started = Date.now();
  running = name;
  await body().catch((e) => fail(name, e));
  console.log(`ok – ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
}
function same(actual, expected, what) {
  check(actual === expected, `${what}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(actual)}`);
}
function tidy(s) {
  return (s ?? '').replace(/\s+/g, ' ').trim().normalize('NFC');
}

/** Polls `probe` every `every` ms until it returns true; else fails with what it returned last. */
async function until(what, seconds, probe, every = 500) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const seen = await probe().catch((e) => e.message.split('\n')[0]);
    if (seen === true) return;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${seconds} s (last seen: ${JSON.stringify(seen)})`);
    await new Promise((resolve) => setTimeout(resolve, every));
  }
}

/** Waits until one of the elements `locator` matches contains `want`. */
function waitText(locator, want, what, seconds = 15) {
  return until(`${what} containing “${want}”`, seconds, async () => {
    const texts = (await locator.allTextContents()).map(tidy);
    return texts.some((t) => t.includes(want)) || texts.join(' | ') || '(no such element)';
  });
}

async function firstHit(page) {
  const link = page.locator('article.hit h2 a').first();
  return (await link.count()) ? tidy(await link.textContent()) : '(no hits)';
}

async function context(options) {
  const c = await browser.newContext(options);
  c.setDefaultTimeout(15_000);
  c.setDefaultNavigationTimeout(30_000);
  return c;
}

/** Checks a page with axe-core (WCAG 2 A and AA rules): serious or critical violations fail. */
async function accessible(page, what) {
  await page.evaluate(AXE);
  const found = await page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: ['wcag2a', 'wcag2aa'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')}`);
  });
  check(found.length === 0, `accessibility of ${what}:\n    ${found.join('\n    ')}`);
}

async function open(ctx) {
  const page = await ctx.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${page.url()}: ${e.message}`));
  // Anything the pages' own Content-Security-Policy blocks is a bug of the pages.
  page.on('console', (m) => {
    if (m.type() === 'error' && m.text().includes('Content Security Policy')) pageErrors.push(`${page.url()}: ${m.text()}`);
  });
  page.on('dialog', (d) => d.accept()); // an "are you sure?" is answered yes
  current = page;
  return page;
}

const shot = (page, name) => page.screenshot({ path: join(SHOTS, name), fullPage: true });
const path = (page) => new URL(page.url()).pathname;

function sha256(file) {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('error', reject)
      .on('data', (d) => hash.update(d))
      .on('end', () => resolve(hash.digest('hex')));
  });
}

async function search(page, query) {
  await page.goto(`${BASE}/`);
  await page.fill('input#q', query);
  await Promise.all([page.waitForURL((u) => u.searchParams.has('q')), page.press('input#q', 'Enter')]);
  same(tidy(new URL(page.url()).searchParams.get('q')), query, 'the q of the results page');
}

async function signIn(ctx, login) {
  const page = await open(ctx);
  await page.goto(`${BASE}/dang-nhap`);
  await page.fill('input[name=login]', login);
  await page.fill('input[name=password]', PASSWORD);
  const left = page.waitForURL((u) => u.pathname !== '/dang-nhap').then(() => true, () => false);
  await page.click('button[type=submit]');
  if (!(await left)) {
    const said = tidy(await page.textContent('body')).slice(0, 300);
    throw new Error(`signing in as ${login} stays on /dang-nhap, which says “${said}”`);
  }
  return page;
}

// ---------------------------------------------------------------------------------------------

mkdirSync(SHOTS, { recursive: true });
rmSync(join(SHOTS, 'failure.png'), { force: true });
setTimeout(() => fail(running, new Error('the journey has run for 10 minutes; stopped')), 600_000).unref();
const [BIG_SIZE, BIG_SHA] = [statSync(BIG_FILE).size, await sha256(BIG_FILE)];
let desktop, phone, teacher, id;

await step('chromium starts headless', async () => {
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  [desktop, phone] = [await context(DESKTOP), await context(PHONE)];
});

await step('suggestions appear while typing', async () => {
  teacher = await open(desktop);
  await teacher.goto(`${BASE}/`);
  await teacher.locator('input#q').pressSequentially('tap ho', { delay: 30 });
  await until('suggestions for “tap ho”', 10, async () => {
    const values = await teacher.locator('#goi-y option').evaluateAll((os) => os.map((o) => o.value));
    return values.some((v) => tidy(v).toLowerCase().includes('tập hợp')) || values;
  });
});

await step(`a teacher searches “${QUERY}” on a desktop`, async () => {
  await search(teacher, QUERY);
  same(await firstHit(teacher), EXPECT_FIRST, 'the first hit');
  await shot(teacher, 'search-desktop.png');
  await accessible(teacher, 'the search page');
});

await step('the same search on a phone, without scrolling sideways', async () => {
  const page = await open(phone);
  await search(page, QUERY);
  same(await firstHit(page), EXPECT_FIRST, 'the first hit on the phone');
  await shot(page, 'search-phone.png');
  await accessible(page, 'the search page on a phone');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 360, `the phone page is ${width} px wide: it scrolls sideways (viewport 360 px)`);
  const folded = await page.evaluate(() => !document.getElementById('facet-box').open);
  check(folded, 'on a phone the facets are folded so that results come first');
});

await step('the results narrow by grade', async () => {
  current = teacher;
  const facet = teacher.locator('nav#facets a[data-facet="grade"]').first();
  await Promise.all([teacher.waitForURL((u) => u.searchParams.has('grade')), facet.click()]);
  check((await teacher.locator('article.hit').count()) >= 1, 'no article.hit after narrowing by grade');
});

await step('the material page: its title, JSON-LD and a preview image', async () => {
  const hit = teacher.locator('article.hit h2 a').first();
  await Promise.all([teacher.waitForURL((u) => u.pathname.startsWith('/tai-lieu/')), hit.click()]);
  await teacher.locator('h1').first().waitFor({ state: 'visible' });
  same(tidy(await teacher.locator('h1').first().textContent()), EXPECT_FIRST, 'the h1 (the first hit once narrowed)');
  const ld = await teacher.locator('script[type="application/ld+json"]').first().textContent();
  let data;
  try {
    data = JSON.parse(ld);
  } catch (e) {
    throw new Error(`the JSON-LD does not parse (${e.message}): ${ld.slice(0, 200)}`);
  }
  check([].concat(data['@type']).includes('LearningResource'), `JSON-LD @type: ${JSON.stringify(data['@type'])}`);
  // Previews are derived in the background: reload until the page has one.
  const deadline = Date.now() + 60_000;
  while ((await teacher.locator('#preview img.page').count()) === 0) {
    check(Date.now() < deadline, 'no preview image (#preview img.page) after reloading for 60 s');
    await teacher.waitForTimeout(3000);
    await teacher.reload();
  }
  const img = teacher.locator('#preview img.page').first();
  await img.scrollIntoViewIfNeeded();
  const wait = { timeout: Math.max(5000, deadline - Date.now()) };
  const loaded = (el) => el.complete && el.naturalWidth > 0;
  const done = await teacher.waitForFunction(loaded, await img.elementHandle(), wait).then(() => true, () => false);
  check(done, `the preview image ${await img.getAttribute('src')} did not load`);
  await shot(teacher, 'material-desktop.png');
  await accessible(teacher, 'the material page');
  const page = await open(phone);
  await page.goto(teacher.url());
  await shot(page, 'material-phone.png');
  await accessible(page, 'the material page on a phone');
  current = teacher;
});

await step('the download is the file its SHA-256 names', async () => {
  const link = teacher.locator('a.download').first();
  const expected = (await link.getAttribute('data-sha256'))?.toLowerCase();
  check(/^[0-9a-f]{64}$/.test(expected ?? ''), `a.download has no hex SHA-256 in data-sha256 (${expected})`);
  const [download] = await Promise.all([teacher.waitForEvent('download'), link.click()]);
  const failure = await download.failure();
  check(!failure, `the download of ${download.url()} failed: ${failure}`);
  same(await sha256(await download.path()), expected, `the SHA-256 of ${download.suggestedFilename()}`);
});

const curator = await context(DESKTOP);
let mine;
await step(`a curator uploads ${(BIG_SIZE / 1048576).toFixed(0)} MB through a dropped connection`, async () => {
  mine = await signIn(curator, CURATOR);
  same(path(mine), '/cua-toi', 'the page after signing in');
  await mine.goto(`${BASE}/tai-len`);
  await mine.fill('input[name=title]', TITLE);
  await mine.selectOption('select[name=subject]', 'toan');
  await mine.selectOption('select[name=grade]', '10');
  await mine.selectOption('select[name=resource_type]', 'bai-giang');
  await mine.setInputFiles('input#file', BIG_FILE);
  await accessible(mine, 'the upload form');
  const slowing = await curator.newCDPSession(mine);
  await slowing.send('Network.emulateNetworkConditions', SLOWED_UPLOAD);
  await mine.click('button#upload-start');
  const progress = () => {
    const p = document.querySelector('progress#upload-progress');
    return p && p.max > 0 && p.value > 0.2 * p.max;
  };
  await mine.waitForFunction(progress, null, { timeout: 120_000, polling: 50 });
  // Conditions set from two DevTools sessions do not combine (the slowing would carry the upload
  // on through the cut): end the slowing session, then cut the connection.
  await slowing.detach();
  await curator.setOffline(true);
  await mine.waitForTimeout(2000);
  const state = await mine.getAttribute('#upload-status', 'data-state');
  const said = await mine.textContent('#upload-status');
  await shot(mine, 'upload-retrying.png');
  same(state, 'retrying', `#upload-status data-state two seconds into the cut (it says “${tidy(said)}”)`);
  await curator.setOffline(false);
  const ended = () => ['done', 'error'].includes(document.querySelector('#upload-status')?.dataset.state);
  await mine.waitForFunction(ended, null, { timeout: 300_000, polling: 250 });
  const end = `the upload's end (it says “${tidy(await mine.textContent('#upload-status'))}”)`;
  same(await mine.getAttribute('#upload-status', 'data-state'), 'done', end);
  const href = await mine.getAttribute('#upload-result a', 'href');
  id = new URL(href, BASE).pathname.match(/^\/tai-lieu\/([^/]+)$/)?.[1];
  check(id, `#upload-result a points to ${href}, not to /tai-lieu/{id}`);
  await shot(mine, 'upload-done.png');
});

await step('the stored file has the size and SHA-256 of the one chosen', async () => {
  const response = await curator.request.get(`${BASE}/api/v1/materials/${id}`);
  check(response.ok(), `GET /api/v1/materials/${id}: HTTP ${response.status()} ${await response.text()}`);
  const file = (await response.json()).files?.[0];
  same(file?.size, BIG_SIZE, 'files[0].size');
  same(file?.sha256, BIG_SHA, 'files[0].sha256');
});

await step('the curator submits the draft for review', async () => {
  current = mine;
  await mine.goto(`${BASE}/cua-toi`);
  const status = mine.locator(`tr[data-id="${id}"] .status`);
  await waitText(status, 'Bản nháp', `the status of ${id} on /cua-toi`, 5);
  await mine.locator(`tr[data-id="${id}"] button[name=step][value=submit]`).click();
  await waitText(status, 'Chờ thẩm định', `the status of ${id} once submitted`);
  await accessible(mine, '“my materials”');
});

await step('a reviewer approves it', async () => {
  const page = await signIn(await context(DESKTOP), REVIEWER);
  await page.goto(`${BASE}/tham-dinh`);
  const row = page.locator(`tr[data-id="${id}"]`);
  check((await row.count()) === 1, `/tham-dinh has no row tr[data-id="${id}"]`);
  await accessible(page, 'the review queue');
  await Promise.all([page.waitForURL((u) => u.pathname === `/tham-dinh/${id}`), row.locator('a').first().click()]);
  await accessible(page, 'the review page');
  await page.click('button[name=step][value=approve]');
  await waitText(page.locator('.status'), 'Đã xuất bản', 'the status once approved');
  await shot(page, 'review-approved.png');
});

await step('a teacher finds the new material first by its title', async () => {
  const page = await open(await context(DESKTOP));
  const probe = async () => {
    await page.goto(`${BASE}/?q=${encodeURIComponent(TITLE)}`);
    const first = await firstHit(page);
    return first === TITLE || first;
  };
  await until(`“${TITLE}” as the first hit`, 30, probe, 1000);
  await shot(page, 'search-new.png');
});

await step('the author edits the published material into a proposed version and submits it', async () => {
  current = mine;
  await mine.goto(`${BASE}/cua-toi`);
  await Promise.all([
    mine.waitForURL((u) => u.pathname === `/cua-toi/${id}/sua`),
    mine.locator(`tr[data-id="${id}"] a[href$="/sua"]`).click(),
  ]);
  same(await mine.inputValue('input[name=title]'), TITLE, 'the edit form starts from the published title');
  await accessible(mine, 'the edit form');
  await mine.fill('input[name=title]', `${TITLE} (bản 2)`);
  await mine.click('button#edit-save');
  await until('the version saved', 30, async () => (await mine.getAttribute('#upload-status', 'data-state')) === 'done' || (await mine.textContent('#upload-status')));
  await Promise.all([mine.waitForURL((u) => u.pathname.startsWith(`/tham-dinh/${id}/phien-ban/`)), mine.click('#upload-result a')]);
  await mine.click('button[name=step][value=submit]');
  await waitText(mine.locator('.status'), 'Chờ thẩm định', 'the proposed version once submitted');
  await shot(mine, 'version-submitted.png');
});

await browser.close();
console.log('ok – the whole journey');
