// Browser tests of the page's "Data" view — web access under ADP — in
// headless Chromium (Debian /usr/bin/chromium, playwright-core), against a
// real keywardd that this file starts (and restarts with its clock moved
// ahead) and the real keyward CLI as the trusted device:
//   standard protection → the server opens a note for the page
//   (/v1/web/readable); under ADP only the interoperable mail;
//   web access off by default → the page's request is refused;
//   on → the page asks, shows "waiting for approval" and a code;
//   `keyward web approve --code CODE --category notes` releases one
//   category → the page lists and opens the notes (content equal to what
//   `keyward put` stored, records of two key generations) and gets nothing
//   of the other category (no key, and the server refuses its ciphertext);
//   a wrong code releases nothing; the server's clock 1 h ahead
//   (--test-faults, KEYWARD_TEST_TIME_OFFSET) → access is gone.
// Run by web/tests/run.sh. Environment: KW_BIN (directory of keywardd and
// keyward), KW_WEB_DIR, KW_ARTIFACTS, KW_TMP (scratch directory).
// Output: cmocka-style lines; non-zero exit on failure.
import { chromium } from 'playwright-core';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const BIN = env('KW_BIN');
const TMP = env('KW_TMP');
const ARTIFACTS = env('KW_ARTIFACTS');
mkdirSync(ARTIFACTS, { recursive: true });
const NAME = 'webdata' + process.pid;
const PASSWORD = 'web data password ' + process.pid;
const DATA = `${TMP}/data-adp`;
const PROFILE = `${TMP}/pdata`;
let port = 0, server = null, serverLog = '';

// ---------- keywardd ----------

async function startServer(offset) {
  const portFile = `${TMP}/port-adp`;
  try { writeFileSync(portFile, ''); } catch (e) { /* first start */ }
  const e = { ...process.env, KEYWARD_TEST_FAULTS: '1' };
  if (offset) e.KEYWARD_TEST_TIME_OFFSET = String(offset);
  else delete e.KEYWARD_TEST_TIME_OFFSET;
  server = spawn(`${BIN}/keywardd`, ['--data', DATA, '--listen', `127.0.0.1:${port}`, '--port-file', portFile,
                                     '--threads', '4', '--quiet', '--test-faults', '--set', `web.dir=${env('KW_WEB_DIR')}`,
                                     '--set', 'web.session_ttl=86400'],
                 { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  server.on('error', (err) => { serverLog += `spawn failed: ${err}\n`; });
  server.stdout.on('data', (d) => { serverLog += d; });
  server.stderr.on('data', (d) => { serverLog += d; });
  for (let i = 0; i < 100; i++) {
    const p = existsSync(portFile) ? readFileSync(portFile, 'utf8').trim() : '';
    if (p) { port = Number(p); return; }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('keywardd did not start:\n' + serverLog);
}
async function stopServer() {
  if (!server || server.exitCode !== null) return;
  const done = new Promise((r) => server.once('exit', r));
  server.kill('SIGTERM');
  const t = setTimeout(() => server.kill('SIGKILL'), 5000);
  await done;
  clearTimeout(t);
}

function cli(args, { allowFail = false } = {}) {
  try {
    const out = execFileSync(`${BIN}/keyward`, ['--server', `http://127.0.0.1:${port}`, '--profile', PROFILE, '--json', ...args],
                             { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000,
                               env: { ...process.env, KEYWARD_PASSPHRASE: 'web-data-passphrase', KEYWARD_TEST_FAST_KDF: '1',
                                      KEYWARD_PASSWORD: PASSWORD } });
    return { status: 0, out, json: out.trim() ? JSON.parse(out) : null };
  } catch (e) {
    if (!allowFail) throw new Error(`keyward ${args.join(' ')} failed: ${e.stderr || e.message}`);
    return { status: e.status, out: e.stdout || '', err: e.stderr || '' };
  }
}

// ---------- page helpers ----------

let browser, page;
const shots = [];
async function shot(name) {
  const path = `${ARTIFACTS}/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  shots.push(path);
}
const base = () => `http://localhost:${port}`;
async function message() {
  const m = page.locator('#msg');
  await m.waitFor({ state: 'visible' });
  return { text: await m.textContent(), kind: await m.getAttribute('data-kind') };
}
async function waitIdle() { await page.locator('#busy').waitFor({ state: 'hidden', timeout: 30000 }); }
async function waitView(v) { await page.waitForFunction((x) => document.body.dataset.view === x, v, { timeout: 30000 }); }
async function waitAccess(s) { await page.waitForFunction((x) => document.body.dataset.access === x, s, { timeout: 30000 }); }
// A request from inside the page with its web session (what a script in
// the page could do).
async function pageGet(path) {
  return page.evaluate(async (p) => {
    const r = await fetch(p, { headers: { Authorization: 'Bearer ' + sessionStorage.getItem('keyward.web.token') } });
    let body = null;
    try { body = await r.json(); } catch (e) { body = null; }
    return { status: r.status, body };
  }, path);
}
async function ask(categories) {
  for (const c of categories) await page.check(`#data-cats input[data-category="${c}"]`);
  await page.click('#data-request');
  await waitIdle();
}

// ---------- tests ----------

const NOTE1 = 'first note, written in standard protection\n';
const NOTE2 = 'second note: Grüße from ADP ✓\n'.repeat(40);
const LETTER = 'Dear web page, mail is interoperable.\n';
const BIG = Array.from({ length: 40000 }, (_, i) => `line ${i} of a large note, ${(i * 7919) % 100003}\n`).join('');
const SECRET = 'drive secret that must not open on the page\n';
const st = {};

const tests = [
  ['setup: account in standard protection, a note and a letter', async () => {
    cli(['account', 'create', NAME, '--device-name', 'laptop']);
    writeFileSync(`${TMP}/note1.txt`, NOTE1);
    writeFileSync(`${TMP}/note2.txt`, NOTE2);
    writeFileSync(`${TMP}/secret.txt`, SECRET);
    writeFileSync(`${TMP}/letter.txt`, LETTER);
    cli(['put', 'notes', `${TMP}/note1.txt`, '--name', 'first.txt']);
    cli(['put', 'mail', `${TMP}/letter.txt`, '--name', 'letter.txt']);
  }],

  ['standard protection: the server opens the note for the page', async () => {
    await page.goto(base() + '/');
    await waitView('signin');
    await page.fill('#signin-name', NAME);
    await page.fill('#signin-password', PASSWORD);
    await page.click('#signin-submit');
    await waitIdle();
    await waitView('factor');
    await page.fill('#factor-code-input', cli(['approval-code']).json.code);
    await page.click('#factor-code-submit');
    await waitView('account');
    await waitIdle();
    assert.equal(await page.textContent('#st-adp'), 'off');
    const options = await page.locator('#readable-cat option').evaluateAll((os) => os.map((o) => o.value));
    assert.ok(options.includes('notes') && options.includes('mail'), 'offered: ' + options);
    await page.selectOption('#readable-cat', 'notes');
    await page.click('#readable-show');
    await waitIdle();
    await page.click('#readable-records tr[data-name="first.txt"] button');
    await waitIdle();
    assert.equal(await page.textContent('#data-content'), NOTE1);
    await shot('data-00-standard-protection');
    await page.click('#data-close');
  }],

  ['ADP on (a second note and a drive record after it); web access is off by default and the request is refused', async () => {
    cli(['recovery-key', 'create']);
    cli(['adp', 'status']);
    const on = cli(['adp', 'on']).json;
    assert.equal(on.adp, true);
    cli(['put', 'notes', `${TMP}/note2.txt`, '--name', 'second.txt']);
    cli(['put', 'drive', `${TMP}/secret.txt`, '--name', 'secret.txt']);
    // a large note (content in chunk storage, two pieces): the page fetches it piece by piece
    writeFileSync(`${TMP}/big.txt`, BIG);
    cli(['put', 'notes', `${TMP}/big.txt`, '--name', 'big.txt']);
    const ls = cli(['ls', 'notes']).json;
    assert.deepEqual(ls.records.map((r) => r.key_generation).sort(), [1, 2, 2], 'notes of two key generations');
    await page.reload();
    await waitView('account');
    await waitIdle();
    assert.equal(await page.textContent('#st-adp'), 'on');
    assert.equal(await page.textContent('#st-web'), 'off');
    assert.match(await page.textContent('#data-off'), /keyward web access on/);
    await ask(['notes']);
    const m = await message();
    assert.equal(m.kind, 'error');
    assert.match(m.text, /refused.*web access to end-to-end data is off/);
    assert.equal(await page.evaluate(() => document.body.dataset.access), 'none');
    await shot('data-01-web-access-off');
  }],

  ['under ADP the server still opens the interoperable categories, and only those', async () => {
    const options = await page.locator('#readable-cat option').evaluateAll((os) => os.map((o) => o.value));
    assert.ok(options.includes('mail') && !options.includes('notes'), 'offered: ' + options);
    await page.selectOption('#readable-cat', 'mail');
    await page.click('#readable-show');
    await waitIdle();
    await page.click('#readable-records tr[data-name="letter.txt"] button');
    await waitIdle();
    assert.equal(await page.textContent('#data-content'), LETTER);
    await shot('data-01b-readable-mail');
    const notes = await pageGet('/v1/web/readable/notes/default');
    assert.equal(notes.status, 409);
    assert.match(notes.body.error.message, /end-to-end/);
    await page.click('#data-close');
  }],

  ['web access on: the page asks and waits for a trusted device', async () => {
    cli(['web', 'access', 'on']);
    await page.reload();
    await waitView('account');
    await waitIdle();
    assert.equal(await page.textContent('#st-web'), 'on');
    await ask(['notes', 'drive']);
    await waitAccess('pending');
    assert.match(await page.textContent('#data-waiting'), /Waiting for approval on a trusted device/);
    st.code = (await page.textContent('#data-code')).trim();
    assert.match(st.code, /^[0-9]{6}$/);
    assert.equal(await page.textContent('#data-cmd'), `keyward web approve --code ${st.code}`);
    await shot('data-02-waiting');
  }],

  ['a wrong code releases nothing', async () => {
    const wrong = st.code === '000000' ? '000001' : '000000';
    const r = cli(['web', 'approve', '--code', wrong, '--category', 'notes']).json;
    assert.equal(r.releases.length, 0);
    await new Promise((res) => setTimeout(res, 2500));
    assert.equal(await page.evaluate(() => document.body.dataset.access), 'pending');
  }],

  ['the device approves notes only: the page lists and opens them', async () => {
    const r = cli(['web', 'approve', '--code', st.code, '--category', 'notes']).json;
    assert.equal(r.releases.length, 1);
    assert.deepEqual(r.releases[0].released.map((x) => x.category), ['notes']);
    st.releaseExpires = r.releases[0].expires_at;
    await waitAccess('approved');
    await page.locator('#data-records tr').nth(1).waitFor();
    assert.equal(await page.textContent('#st-release'), 'notes');
    assert.match(await page.textContent('#data-denied'), /Not released by the trusted device: drive/);
    assert.ok((await page.textContent('#data-expires')).length > 0);
    const names = await page.locator('#data-records tr').evaluateAll((rows) => rows.map((r) => [r.dataset.category, r.dataset.name]));
    assert.deepEqual(names.map((x) => x[1]).sort(), ['big.txt', 'first.txt', 'second.txt']);
    assert.ok(names.every((x) => x[0] === 'notes'), 'only notes listed');
    await shot('data-03-approved-list');
    for (const [name, want] of [['second.txt', NOTE2], ['first.txt', NOTE1]]) {
      await page.click(`#data-records tr[data-name="${name}"] button`);
      await waitIdle();
      await page.locator('#data-viewer').waitFor({ state: 'visible' });
      assert.equal(await page.textContent('#data-viewer-name'), name);
      assert.equal(await page.textContent('#data-content'), want, `content of ${name}`);
    }
    await shot('data-04-opened');
    await page.click('#data-records tr[data-name="big.txt"] button');
    await waitIdle();
    await page.waitForFunction(() => document.querySelector('#data-viewer-name').textContent === 'big.txt');
    assert.ok(Buffer.byteLength(BIG) > 1024 * 1024, 'big enough for two pieces');
    assert.equal(await page.getAttribute('#data-viewer', 'data-sha256'), createHash('sha256').update(BIG).digest('hex'));
    const preview = await page.textContent('#data-content');
    assert.ok(preview.length > 200000 && BIG.startsWith(preview), 'preview is the start of the note');
    assert.match(await page.textContent('#data-viewer-info'), /preview of the first 256 KiB/);
  }],

  ['the other category stays closed: no key, and the server refuses it', async () => {
    // the request id the page holds is in its URL calls; find it from the page's fetches
    const rid = await page.evaluate(async () => {
      const r = performance.getEntriesByType('resource').map((e) => e.name).find((n) => n.includes('/v1/web/records/'));
      return r ? new URL(r).pathname.split('/')[4] : null;
    });
    assert.ok(rid, 'request id seen');
    st.rid = rid;
    const drive = await pageGet(`/v1/web/records/${rid}/drive/default`);
    assert.equal(drive.status, 404);
    assert.match(drive.body.error.message, /not released/);
    const notes = await pageGet(`/v1/web/records/${rid}/notes/default`);
    assert.equal(notes.status, 200);
    // a record id of drive fetched under notes: not found (no cross-category read)
    const ls = cli(['ls', 'drive']).json;
    const did = ls.records[0].id;
    assert.equal((await pageGet(`/v1/web/records/${rid}/notes/default/${did}`)).status, 404);
    assert.equal((await pageGet(`/v1/web/records/${rid}/drive/default/${did}`)).status, 404);
    // another request id (made up) is nobody's
    assert.equal((await pageGet(`/v1/web/records/AAAAAAAAAAAAAAAAAAAAAA/notes/default`)).status, 404);
    // a device session cannot use the web route; no token at all: 401
    const anon = await page.evaluate(async (p) => (await fetch(p)).status, `/v1/web/records/${rid}/notes/default`);
    assert.equal(anon, 401);
  }],

  ['a record swapped or tampered by the server does not open in the page', async () => {
    const ls = cli(['ls', 'notes']).json.records;
    const first = ls.find((r) => r.name === 'first.txt').id, second = ls.find((r) => r.name === 'second.txt').id;
    const real = (await pageGet(`/v1/web/records/${st.rid}/notes/default/${second}`)).body;
    const flip = (b64, i) => { const c = b64.split(''); c[i] = c[i] === 'A' ? 'B' : 'A'; return c.join(''); };
    const own = (await pageGet(`/v1/web/records/${st.rid}/notes/default/${first}`)).body;
    const cases = [
      // second's ciphertext served as first: bound to its id, it does not open
      ['swap', { ...real, id: first }, /does not open/],
      // one content byte of first changed
      ['tamper', { ...own, content: flip(own.content, 60) }, /does not (open|authenticate)/],
    ];
    for (const [what, body, re] of cases) {
      await page.route(`**/v1/web/records/*/notes/default/${first}`,
                       (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify(body) }));
      await page.click('#data-records tr[data-name="first.txt"] button');
      await waitIdle();
      const m = await message();
      assert.equal(m.kind, 'error', what);
      assert.match(m.text, re, what);
      assert.equal(await page.locator('#data-viewer').isVisible(), false, what);
      await page.unroute(`**/v1/web/records/*/notes/default/${first}`);
    }
    await shot('data-05-tampered-refused');
    // the genuine one still opens
    await page.click('#data-records tr[data-name="first.txt"] button');
    await waitIdle();
    assert.equal(await page.textContent('#data-content'), NOTE1);
  }],

  ['after the hour the access is gone (server clock +3700 s)', async () => {
    await stopServer();
    await startServer(3700);
    const r = await pageGet(`/v1/web/records/${st.rid}/notes/default`);
    assert.equal(r.status, 409);
    assert.match(r.body.error.message, /expired/);
    const g = await pageGet(`/v1/adp/web/requests/${st.rid}`);
    assert.ok(g.status !== 200 || !g.body.grants || g.body.grants.length === 0, 'no grants after expiry');
    // the page, asked to open a record again, says so and forgets its keys
    await page.click('#data-records tr[data-name="first.txt"] button');
    await waitIdle();
    const m = await message();
    assert.match(m.text, /Web access ended: .*expired/);
    await waitAccess('none');
    assert.equal(await page.locator('#data-access').isVisible(), false);
    assert.equal(await page.textContent('#st-release'), 'nothing');
    await shot('data-06-expired');
  }],
];

async function main() {
  await startServer(0);
  browser = await chromium.launch({
    executablePath: process.env.KW_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
  const context = await browser.newContext({ viewport: { width: 1000, height: 1400 } });
  page = await context.newPage();
  page.setDefaultTimeout(30000);
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(m.text()); });

  let passed = 0, failed = 0, broken = false;
  console.log(`[==========] Running ${tests.length} test(s).`);
  for (const [name, fn] of tests) {
    console.log(`[ RUN      ] ${name}`);
    if (broken) {
      console.log(`[  FAILED  ] ${name} (not run: an earlier step failed)`);
      failed++;
      continue;
    }
    try {
      await fn();
      console.log(`[       OK ] ${name}`);
      passed++;
    } catch (e) {
      console.log(`[  ERROR   ] ${e && e.stack ? e.stack : e}`);
      try { await shot('data-failure-' + (passed + failed + 1)); } catch (e2) { /* no page */ }
      if (pageErrors.length) console.log('page errors:\n  ' + pageErrors.join('\n  '));
      console.log('--- keywardd log (tail)\n' + serverLog.split('\n').slice(-20).join('\n'));
      console.log(`[  FAILED  ] ${name}`);
      failed++;
      broken = true;
    }
  }
  await browser.close();
  await stopServer();
  if (/AddressSanitizer|runtime error:|LeakSanitizer/.test(serverLog)) {
    console.log('[  ERROR   ] keywardd reported a sanitizer error:\n' + serverLog);
    failed++;
  }
  console.log('screenshots:');
  for (const s of shots) console.log('  ' + s);
  console.log(`[==========] ${tests.length} test(s) run.`);
  if (passed) console.log(`[  PASSED  ] ${passed} test(s).`);
  if (failed) { console.log(`[  FAILED  ] ${failed} test(s), listed above.`); process.exit(1); }
}

main().catch(async (e) => {
  console.log(`[  ERROR   ] ${e && e.stack ? e.stack : e}`);
  console.log('[  FAILED  ] 1 test(s), listed above.');
  try { if (browser) await browser.close(); } catch (e2) { /* gone */ }
  await stopServer();
  process.exit(1);
});
