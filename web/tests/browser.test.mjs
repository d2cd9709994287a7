// Browser tests of the account-security page in headless Chromium (Debian's
// /usr/bin/chromium) driven by playwright-core, with CDP's WebAuthn virtual
// authenticators standing in for security keys. Run by web/tests/run.sh,
// which starts a real keywardd and creates the account and devices with the
// real keyward CLI; this file drives the page and checks what it shows.
//
// Environment: KW_BASE (http://localhost:PORT), KW_NAME, KW_PASSWORD,
// KW_ARTIFACTS (screenshot directory), KW_CLI (path), KW_SERVER_URL,
// KW_PROFILE1 (trusted device), KW_PROFILE2 (second device).
// Output: cmocka-style lines; "[  PASSED  ] N test(s)." or
// "[  FAILED  ] N test(s)" and a non-zero exit.
import { chromium } from 'playwright-core';
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import http from 'node:http';
import assert from 'node:assert/strict';

const env = (k) => { const v = process.env[k]; if (!v) throw new Error(`${k} is not set`); return v; };
const BASE = env('KW_BASE');
const NAME = env('KW_NAME');
const PASSWORD = env('KW_PASSWORD');
const ARTIFACTS = env('KW_ARTIFACTS');
mkdirSync(ARTIFACTS, { recursive: true });

function cli(profile, args, { allowFail = false } = {}) {
  try {
    const out = execFileSync(env('KW_CLI'), ['--server', env('KW_SERVER_URL'), '--profile', profile, '--json', ...args],
                             { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000 });
    return { status: 0, out };
  } catch (e) {
    if (!allowFail) throw new Error(`keyward ${args.join(' ')} failed: ${e.stderr || e.message}`);
    return { status: e.status, out: e.stdout || '', err: e.stderr || '' };
  }
}

let browser, context, page, cdp;
const shots = [];
async function shot(name) {
  const path = `${ARTIFACTS}/${name}.png`;
  await page.screenshot({ path, fullPage: true });
  shots.push(path);
}

// ---------- virtual authenticators ----------

async function addAuthenticator() {
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'usb', hasResidentKey: false, hasUserVerification: false,
               isUserVerified: false, automaticPresenceSimulation: true },
  });
  return authenticatorId;
}
async function credentialsOf(id) { return (await cdp.send('WebAuthn.getCredentials', { authenticatorId: id })).credentials; }
async function removeAuthenticator(id) { await cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: id }); }
async function authenticatorWith(creds) {
  const id = await addAuthenticator();
  for (const credential of creds) await cdp.send('WebAuthn.addCredential', { authenticatorId: id, credential });
  return id;
}
async function overrideBits(id, bits) {
  await cdp.send('WebAuthn.setResponseOverrideBits', { authenticatorId: id, isBogusSignature: false, isBadUV: false,
                                                      isBadUP: false, ...bits });
}

// ---------- page helpers ----------

async function message() {
  const m = page.locator('#msg');
  await m.waitFor({ state: 'visible' });
  return { text: await m.textContent(), kind: await m.getAttribute('data-kind') };
}
async function waitIdle() { await page.locator('#busy').waitFor({ state: 'hidden', timeout: 30000 }); }
async function waitView(v, timeout = 30000) { await page.waitForFunction((x) => document.body.dataset.view === x, v, { timeout }); }

async function passwordStep(password = PASSWORD) {
  await page.goto(BASE + '/');
  await waitView('signin');
  await page.fill('#signin-name', NAME);
  await page.fill('#signin-password', password);
  await page.click('#signin-submit');
  await waitIdle();
}

async function keyStep() {
  await waitView('factor');
  await page.click('#factor-key-button');
  await waitIdle();
}

async function signOut() {
  await page.click('#signout');
  await waitView('signin');
}

async function keyRows() { return page.locator('#keys tr').count(); }

async function addKeyNamed(name) {
  await page.fill('#key-add-name', name);
  await page.click('#key-add');
  await waitIdle();
  return message();
}

// ---------- tests ----------

const state = {};
const tests = [
  ['static files, content types, CSP and traversal', async () => {
    const r = await fetch(BASE + '/');
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type'), /^text\/html/);
    const csp = r.headers.get('content-security-policy');
    assert.ok(csp && csp.includes("default-src 'none'") && csp.includes("frame-ancestors 'none'"), 'CSP: ' + csp);
    const js = await fetch(BASE + '/web/app.js');
    assert.equal(js.status, 200);
    assert.match(js.headers.get('content-type'), /^text\/javascript/);
    // raw requests: fetch() would normalise the dot segments away
    const raw = (path) => new Promise((resolve, reject) => {
      const u = new URL(BASE);
      http.get({ host: '127.0.0.1', port: u.port, path }, (res) => { res.resume(); resolve(res.statusCode); })
        .on('error', reject);
    });
    for (const bad of ['/web/..%2F..%2Fetc%2Fpasswd', '/web/..', '/web/.gitignore', '/web/package.json.bak',
                       '/web/node_modules', '/web/%2e%2e', '/web/../server/main.c', '/web/..%2f..%2fMakefile',
                       '/web/app.js%2F..', '/web/tests'])
      assert.equal(await raw(bad), 404, bad);
    assert.equal(await raw('/web/style.css'), 200);
  }],

  ['wrong password is refused with a clear message', async () => {
    await passwordStep('not the password');
    const m = await message();
    assert.equal(m.kind, 'error');
    assert.match(m.text, /Wrong account name or password/);
    await shot('01-signin-wrong-password');
  }],

  ['sign in with password + approval code (no keys yet)', async () => {
    await passwordStep();
    await waitView('factor');
    assert.equal(await page.locator('#factor-code').isVisible(), true);
    assert.equal(await page.locator('#factor-key').isVisible(), false);
    await shot('02-factor-code');
    // a wrong code first
    await page.fill('#factor-code-input', '000000');
    await page.click('#factor-code-submit');
    await waitIdle();
    assert.match((await message()).text, /wrong, expired or used approval code/);
    const code = JSON.parse(cli(env('KW_PROFILE1'), ['approval-code']).out).code;
    await page.fill('#factor-code-input', code);
    await page.click('#factor-code-submit');
    await waitView('account');
    await waitIdle();
    assert.equal(await page.textContent('#who-name'), NAME);
    for (const id of ['#st-adp', '#st-ckv', '#st-keys']) assert.match(await page.textContent(id), /^(on|off)$/);
    assert.equal(await page.textContent('#st-keys'), 'off');
    await shot('03-account');
  }],

  ['register three keys (A, B, C), one authenticator at a time', async () => {
    const a = await addAuthenticator();
    assert.match((await addKeyNamed('key-a')).text, /added/);
    state.credA = await credentialsOf(a);
    await removeAuthenticator(a);
    const c = await addAuthenticator();
    assert.match((await addKeyNamed('key-c')).text, /added/);
    state.credC = await credentialsOf(c);
    await removeAuthenticator(c);
    state.b = await addAuthenticator();
    assert.match((await addKeyNamed('key-b')).text, /added/);
    state.credB = await credentialsOf(state.b);
    assert.equal(await keyRows(), 3);
    await shot('04-keys-registered');
  }],

  ['adding a key already registered is refused (excludeCredentials)', async () => {
    const m = await addKeyNamed('key-b-again');
    assert.equal(m.kind, 'error');
    assert.match(m.text, /already registered/);
    assert.equal(await keyRows(), 3);
    await shot('05-key-already-registered');
  }],

  ['remove key C', async () => {
    const row = page.locator('#keys tr', { hasText: 'key-c' });
    await row.locator('button').click();
    await waitIdle();
    assert.match((await message()).text, /removed/);
    assert.equal(await keyRows(), 2);
  }],

  ['turn the security-key policy on (with key B)', async () => {
    await page.click('#policy-on');
    await waitIdle();
    await page.waitForFunction(() => document.getElementById('st-keys').textContent === 'on');
    assert.equal(await page.locator('#policy-off').isVisible(), true);
    await shot('06-policy-on');
  }],

  ['sign out revokes the web session', async () => {
    const token = await page.evaluate(() => sessionStorage.getItem('keyward.web.token'));
    assert.ok(token);
    await signOut();
    const r = await fetch(BASE + '/v1/web/me', { headers: { Authorization: 'Bearer ' + token } });
    assert.equal(r.status, 401);
    assert.match((await r.json()).error.message, /revoked/);
    await shot('07-signed-out');
  }],

  ['sign in with password + security key B', async () => {
    await passwordStep();
    await waitView('factor');
    assert.equal(await page.locator('#factor-code').isVisible(), false, 'codes must not be offered under the policy');
    await shot('08-factor-security-key');
    await keyStep();
    await waitView('account');
    assert.equal(await page.textContent('#st-keys'), 'on');
    const counts = (await credentialsOf(state.b)).map((c) => c.signCount);
    assert.ok(counts[0] > state.credB[0].signCount, 'the key was used');
    await signOut();
  }],

  ['sign-in fails with the removed key C', async () => {
    state.credB = await credentialsOf(state.b); // current counters
    await removeAuthenticator(state.b);
    const c = await authenticatorWith(state.credC);
    await passwordStep();
    await keyStep();
    const m = await message();
    assert.equal(m.kind, 'error');
    assert.match(m.text, /not registered to the account|did not answer in time/);
    assert.equal(await page.evaluate(() => document.body.dataset.view), 'factor');
    await shot('09-removed-key-refused');
    await removeAuthenticator(c);
    state.b = await authenticatorWith(state.credB);
  }],

  ['sign-in fails with a bogus signature (isBogusSignature)', async () => {
    await overrideBits(state.b, { isBogusSignature: true });
    await passwordStep();
    await keyStep();
    const m = await message();
    assert.match(m.text, /not accepted: security key check failed: assertion signature invalid/);
    await shot('10-bogus-signature-refused');
  }],

  ['sign-in fails without user presence (isBadUP)', async () => {
    await overrideBits(state.b, { isBadUP: true });
    await page.click('#factor-key-button'); // same sign-in: a fresh challenge is fetched
    await waitIdle();
    const m = await message();
    assert.match(m.text, /not accepted: security key check failed: user presence flag missing/);
    await shot('11-bad-up-refused');
    await overrideBits(state.b, {});
  }],

  ['a key that does not answer times out with a clear message', async () => {
    state.credB = await credentialsOf(state.b);
    await removeAuthenticator(state.b);
    await page.click('#factor-key-button');
    await waitIdle();
    const m = await message();
    assert.match(m.text, /did not answer in time|cancelled/);
    await shot('12-key-timeout');
    state.b = await authenticatorWith(state.credB);
    await page.click('#factor-key-button');
    await waitView('account');
  }],

  ['list devices and remove the second device', async () => {
    await page.locator('#devices tr').first().waitFor();
    assert.equal(await page.locator('#devices tr').count(), 2);
    await shot('13-devices');
    const second = page.locator('#devices tr', { hasText: 'pending' }).first();
    await second.locator('button').click();
    await waitIdle();
    assert.match((await message()).text, /signed out.*trusted devices/);
    await page.locator('#devices .badge').waitFor();
    await shot('14-device-removal-requested');
    const st = cli(env('KW_PROFILE2'), ['session', 'list'], { allowFail: true });
    assert.notEqual(st.status, 0, 'the removed device must be signed out');
  }],
];

async function main() {
  browser = await chromium.launch({
    executablePath: process.env.KW_CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
           '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
  });
  context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(30000);
  cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable', { enableUI: false });
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
      try { await shot('failure-' + (passed + failed + 1)); } catch (e2) { /* no page */ }
      if (pageErrors.length) console.log('page errors:\n  ' + pageErrors.join('\n  '));
      console.log(`[  FAILED  ] ${name}`);
      failed++;
      broken = true;
    }
  }
  await browser.close();
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
  process.exit(1);
});
