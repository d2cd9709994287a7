// keyward account-security page: sign-in (OPAQUE + second factor), security
// keys, devices, protection status. Plain ES module, no framework. The only
// third-party code is the OPAQUE client (@serenity-kit/opaque, RFC 9807),
// copied to /web/opaque.js by scripts/deps.d/web.sh, and the crypto of web
// access under ADP (/web/kwcrypto.js, bundled from web/src/kwcrypto.mjs:
// HPKE + XChaCha20-Poly1305) with which the "Data" view opens records.
import * as opaque from '/web/opaque.js';
import * as kwc from '/web/kwcrypto.js';

// Our OPAQUE configuration (docs/api.md "Web page"): ristretto255, SHA-512,
// Argon2id t = 3, m = 64 MiB, p = 1, zero salt, 64-byte output; no
// identities; the web flow's application context is empty.
const KSF = { 'argon2id-custom': { iterations: 3, memory: 65536, parallelism: 1 } };
const TOKEN_KEY = 'keyward.web.token';

const $ = (id) => document.getElementById(id);
let factorToken = null;   // password proven, second factor owed
let factorState = null;   // the login/finish answer

// ---------- helpers ----------

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(method, path, body, token) {
  const headers = {};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const tok = token === undefined ? sessionStorage.getItem(TOKEN_KEY) : token;
  if (tok) headers.Authorization = 'Bearer ' + tok;
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body),
                              credentials: 'omit', cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', 'The server cannot be reached. Check your connection and try again.');
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const err = data && data.error ? data.error : { code: 'http', message: 'HTTP ' + res.status };
    throw new ApiError(res.status, err.code, err.message);
  }
  return data;
}

function b64uToBytes(s) {
  const b64 = s.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((s.length + 3) % 4);
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function bytesToB64u(buf) {
  const bytes = new Uint8Array(buf);
  let bin = '';
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function showMessage(text, kind) {
  const m = $('msg');
  m.textContent = text;
  m.className = 'msg ' + (kind || 'error');
  m.hidden = !text;
  m.dataset.kind = kind || 'error';
}
const clearMessage = () => showMessage('', 'info');

async function busy(fn) {
  $('busy').hidden = false;
  document.querySelectorAll('button').forEach((b) => { b.disabled = true; });
  try { return await fn(); } finally {
    $('busy').hidden = true;
    document.querySelectorAll('button').forEach((b) => { b.disabled = false; });
  }
}

function show(view) {
  for (const v of ['signin', 'factor', 'account']) $('view-' + v).hidden = v !== view;
  document.body.dataset.view = view;
}

const fmtTime = (t) => (t ? new Date(t * 1000).toLocaleString() : 'never');

// ---------- WebAuthn ----------

function requestOptions(o) {
  const pk = { ...o, challenge: b64uToBytes(o.challenge) };
  if (o.allowCredentials) pk.allowCredentials = o.allowCredentials.map((c) => ({ ...c, id: b64uToBytes(c.id) }));
  return pk;
}

function creationOptions(o) {
  const pk = { ...o, challenge: b64uToBytes(o.challenge), user: { ...o.user, id: b64uToBytes(o.user.id) } };
  if (o.excludeCredentials) pk.excludeCredentials = o.excludeCredentials.map((c) => ({ ...c, id: b64uToBytes(c.id) }));
  return pk;
}

// Explains a WebAuthn DOMException in words a user can act on.
function webauthnError(e, what, timeoutMs, startedAt) {
  const elapsed = Date.now() - startedAt;
  switch (e && e.name) {
    case 'NotAllowedError':
      if (timeoutMs && elapsed >= timeoutMs - 500)
        return `The security key did not answer in time (${Math.round(timeoutMs / 1000)} s). Try ${what} again.`;
      return `The security-key request was cancelled, or this security key is not registered to the account. Try ${what} again with one of your registered keys.`;
    case 'InvalidStateError':
      return 'This security key is already registered to the account. Use a different key.';
    case 'SecurityError':
      return 'The browser refused the security-key request for this address (the page must be opened at the configured site name).';
    case 'NotSupportedError':
      return 'This security key does not support any algorithm the server accepts.';
    case 'AbortError':
      return `The security-key request was aborted. Try ${what} again.`;
    default:
      return `The security-key request failed (${e && e.name ? e.name : 'unknown error'}).`;
  }
}

async function getAssertion(options, what) {
  if (!window.PublicKeyCredential) throw new Error('This browser does not support security keys (WebAuthn).');
  const started = Date.now();
  let cred;
  try {
    cred = await navigator.credentials.get({ publicKey: requestOptions(options) });
  } catch (e) {
    throw new Error(webauthnError(e, what, options.timeout, started));
  }
  if (!cred) throw new Error('No security key answered.');
  const r = cred.response;
  const out = {
    id: cred.id, rawId: bytesToB64u(cred.rawId), type: cred.type,
    response: { clientDataJSON: bytesToB64u(r.clientDataJSON), authenticatorData: bytesToB64u(r.authenticatorData),
                signature: bytesToB64u(r.signature) },
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
  };
  if (r.userHandle && r.userHandle.byteLength) out.response.userHandle = bytesToB64u(r.userHandle);
  return out;
}

async function createCredential(options) {
  if (!window.PublicKeyCredential) throw new Error('This browser does not support security keys (WebAuthn).');
  const started = Date.now();
  let cred;
  try {
    cred = await navigator.credentials.create({ publicKey: creationOptions(options) });
  } catch (e) {
    throw new Error(webauthnError(e, 'adding the key', options.timeout, started));
  }
  const r = cred.response;
  return {
    id: cred.id, rawId: bytesToB64u(cred.rawId), type: cred.type,
    response: { clientDataJSON: bytesToB64u(r.clientDataJSON), attestationObject: bytesToB64u(r.attestationObject) },
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
  };
}

// An assertion for an operation of the security-key API ("key-add", "policy", ...).
async function assertionFor(op, what) {
  const ch = await api('POST', '/v1/seckeys/challenge', { op });
  return getAssertion(ch.publicKey, what);
}

// Server refusals of an assertion, in plain words.
function keyRefusal(e) {
  if (e instanceof ApiError && e.status === 401)
    return 'The security key was not accepted: ' + e.message + '. Use one of your registered keys and touch it when it blinks.';
  return e.message;
}

// ---------- sign-in ----------

async function signIn(ev) {
  ev.preventDefault();
  clearMessage();
  const name = $('signin-name').value.trim();
  const password = $('signin-password').value;
  await busy(async () => {
    try {
      await opaque.ready;
      const start = opaque.client.startLogin({ password });
      const r1 = await api('POST', '/v1/web/login/start', { name, ke1: start.startLoginRequest }, null);
      const fin = opaque.client.finishLogin({ clientLoginState: start.clientLoginState, loginResponse: r1.ke2,
                                              password, keyStretching: KSF });
      if (!fin) {
        showMessage('Wrong account name or password.');
        return;
      }
      const r2 = await api('POST', '/v1/web/login/finish', { login_id: r1.login_id, ke3: fin.finishLoginRequest }, null);
      $('signin-password').value = '';
      factorToken = r2.token;
      factorState = r2;
      showFactor();
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) showMessage('Wrong account name or password.');
      else if (e instanceof ApiError && e.status === 429) showMessage('Too many attempts: ' + e.message);
      else showMessage(e.message);
    }
  });
}

function showFactor() {
  const f = factorState.factors || [];
  const keys = f.includes('security_key');
  const codes = f.filter((x) => x === 'approval' || x === 'totp');
  $('factor-intro').textContent = factorState.security_key_required
    ? 'This account requires a security key. Insert or touch one of your registered keys.'
    : keys ? 'Confirm with a security key, or enter a code.' : 'Enter a code to confirm it is you.';
  $('factor-key').hidden = !keys;
  $('factor-code').hidden = codes.length === 0;
  const sel = $('factor-code-type');
  sel.replaceChildren(...codes.map((c) => {
    const o = document.createElement('option');
    o.value = c;
    o.textContent = c === 'approval' ? 'Approval code from a trusted device' : 'Authenticator app (TOTP) code';
    return o;
  }));
  show('factor');
}

async function finishSignIn(result) {
  sessionStorage.setItem(TOKEN_KEY, result.token);
  factorToken = null;
  factorState = null;
  await loadAccount();
  showMessage('Signed in.', 'info');
}

async function factorKey() {
  clearMessage();
  await busy(async () => {
    try {
      let options = factorState.key_options;
      factorState.key_options = null; // a challenge is single use: fetch a new one next time
      if (!options) options = (await api('POST', '/v1/web/login/key-options', {}, factorToken)).key_options;
      const assertion = await getAssertion(options, 'signing in');
      const r = await api('POST', '/v1/web/login/factor', { type: 'security_key', assertion }, factorToken);
      await finishSignIn(r);
    } catch (e) {
      if (e instanceof ApiError && e.status === 401 && /start again|expired/.test(e.message)) {
        showMessage('The sign-in expired. Sign in again.');
        show('signin');
      } else {
        showMessage(keyRefusal(e));
      }
    }
  });
}

async function factorCode(ev) {
  ev.preventDefault();
  clearMessage();
  await busy(async () => {
    try {
      const r = await api('POST', '/v1/web/login/factor',
                          { type: $('factor-code-type').value, code: $('factor-code-input').value.trim() }, factorToken);
      $('factor-code-input').value = '';
      await finishSignIn(r);
    } catch (e) {
      showMessage(e instanceof ApiError && e.status === 400 ? 'A code is six digits.' : e.message);
    }
  });
}

async function signOut() {
  clearMessage();
  try { await api('POST', '/v1/web/logout', {}); } catch (e) { /* already gone */ }
  sessionStorage.removeItem(TOKEN_KEY);
  forgetAccess();
  $('who').hidden = true;
  show('signin');
  showMessage('Signed out.', 'info');
}

// ---------- the account ----------

function setFlag(id, on) {
  $(id).textContent = on ? 'on' : 'off';
  $(id).className = on ? 'on' : 'off';
}

async function loadAccount() {
  let me;
  try {
    me = await api('GET', '/v1/web/me');
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    show('signin');
    if (e instanceof ApiError && e.status === 401) showMessage('Your session ended (' + e.message + '). Sign in again.');
    else showMessage(e.message);
    return;
  }
  $('who-name').textContent = me.name;
  $('who').hidden = false;
  setFlag('st-adp', me.adp);
  setFlag('st-ckv', me.ckv);
  setFlag('st-keys', me.security_keys_required);
  show('account');
  await Promise.all([loadKeys(), loadDevices(), loadData(me)]);
}

async function loadKeys() {
  let data;
  try {
    data = await api('GET', '/v1/seckeys');
  } catch (e) {
    showMessage('Security keys: ' + e.message);
    return;
  }
  const tbody = $('keys');
  tbody.replaceChildren(...data.keys.map((k) => {
    const tr = document.createElement('tr');
    tr.dataset.keyId = String(k.id);
    for (const text of [k.name, fmtTime(k.created_at), fmtTime(k.last_used_at)]) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    const td = document.createElement('td');
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'danger';
    b.textContent = 'Remove';
    b.addEventListener('click', () => removeKey(k));
    td.append(b);
    tr.append(td);
    return tr;
  }));
  $('keys-empty').hidden = data.keys.length > 0;
  $('policy-on').hidden = data.policy;
  $('policy-off').hidden = !data.policy;
  $('policy-on').dataset.count = String(data.keys.length);
  document.body.dataset.policy = data.policy ? 'on' : 'off';
  setFlag('st-keys', data.policy);
}

async function addKey(ev) {
  ev.preventDefault();
  clearMessage();
  const name = $('key-add-name').value.trim();
  await busy(async () => {
    try {
      const start = await api('POST', '/v1/seckeys/register/start', {});
      const body = { name };
      if (start.assertion_required) {
        showMessage('First confirm with one of your registered keys, then touch the new key.', 'info');
        body.assertion = await assertionFor('key-add', 'adding the key');
      }
      body.credential = await createCredential(start.publicKey);
      await api('POST', '/v1/seckeys/register/finish', body);
      showMessage(`Security key "${name}" added.`, 'info');
    } catch (e) {
      showMessage(e instanceof ApiError && e.status === 409 ? e.message : keyRefusal(e));
    }
    await loadKeys();
  });
}

async function removeKey(k) {
  clearMessage();
  await busy(async () => {
    try {
      const body = {};
      if (document.body.dataset.policy === 'on') body.assertion = await assertionFor('key-remove', 'removing the key');
      await api('POST', `/v1/seckeys/${k.id}/remove`, body);
      showMessage(`Security key "${k.name}" removed.`, 'info');
    } catch (e) {
      showMessage(keyRefusal(e));
    }
    await loadKeys();
  });
}

async function setPolicy(enabled) {
  clearMessage();
  await busy(async () => {
    try {
      if (!enabled) {
        showMessage('Only a trusted device can stop requiring security keys: run "keyward key policy off" there.');
        return;
      }
      if (Number($('policy-on').dataset.count) < 2) {
        showMessage('Register at least two security keys before requiring them.');
        return;
      }
      const assertion = await assertionFor('policy', 'changing the requirement');
      await api('POST', '/v1/seckeys/policy', { enabled, assertion });
      showMessage(enabled ? 'Security keys are now required to sign in.' : 'Security keys are no longer required.', 'info');
    } catch (e) {
      showMessage(keyRefusal(e));
    }
    await loadAccount();
  });
}

async function loadDevices() {
  let data;
  try {
    data = await api('GET', '/v1/web/devices');
  } catch (e) {
    showMessage('Devices: ' + e.message);
    return;
  }
  $('devices').replaceChildren(...data.devices.map((d) => {
    const tr = document.createElement('tr');
    tr.dataset.deviceId = d.id;
    const name = document.createElement('td');
    name.textContent = d.name;
    const state = document.createElement('td');
    state.textContent = d.state;
    if (d.removal_requested) {
      const badge = document.createElement('span');
      badge.className = 'badge';
      badge.textContent = 'removal requested';
      state.append(' ', badge);
    }
    const seen = document.createElement('td');
    seen.textContent = fmtTime(d.last_seen_at);
    const act = document.createElement('td');
    if (d.state !== 'removed' && !d.removal_requested) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'danger';
      b.textContent = 'Remove';
      b.addEventListener('click', () => removeDevice(d));
      act.append(b);
    }
    tr.append(name, state, seen, act);
    return tr;
  }));
}

async function removeDevice(d) {
  clearMessage();
  await busy(async () => {
    try {
      await api('POST', `/v1/web/devices/${d.id}/remove`, {});
      showMessage(`"${d.name}" is signed out. Open keyward on one of your trusted devices to finish removing it.`, 'info');
    } catch (e) {
      showMessage(e.message);
    }
    await loadDevices();
  });
}

// ---------- data (web access under ADP) ----------
//
// The browser tab makes an ephemeral X25519 key pair, asks for categories
// (POST /v1/adp/web/requests) and shows the code a trusted device compares
// (`keyward web approve --code`). The device seals each service key of the
// approved categories to the tab's public key; the tab opens them, lists
// and opens records (ciphertext from /v1/web/records/...) and decrypts them
// here. Keys live only in this module's memory: sign-out, "Forget", expiry
// or a reload drop them.

const DEFAULT_CATEGORIES = ['notes', 'drive', 'photos', 'backup', 'reminders', 'bookmarks', 'voice-memos', 'wallet',
                            'mail', 'contacts', 'calendar'];
let me = null;        // the last /v1/web/me answer
let access = null;    // {eph, requestId, code, account, zone, categories, keys: Map cat → Map gen → key, expiresAt, state}
let pollTimer = null;
let viewerBlob = null;

function forgetAccess() {
  if (pollTimer) clearTimeout(pollTimer);
  pollTimer = null;
  if (access && access.keys) for (const m of access.keys.values()) for (const k of m.values()) kwc.wipe(k);
  access = null;
  viewerBlob = null;
  $('data-viewer').hidden = true;
  $('data-content').textContent = '';
}

function renderDataState() {
  const adp = !!(me && me.adp), web = !!(me && me.web_access);
  setFlag('st-web', adp && web);
  const rel = access && access.state === 'approved' ? [...access.keys.keys()].join(', ') : 'nothing';
  $('st-release').textContent = rel;
  $('data-off').hidden = adp && web;
  if (!adp) {
    $('data-off').textContent = 'Advanced Data Protection is off (standard protection): the server holds the keys of ' +
      'your categories (except the always end-to-end ones) and opens their records for this page above.';
  } else if (!web) {
    $('data-off').textContent = 'Web access to end-to-end data is off. To open records here, turn it on from a trusted ' +
      'device with "keyward web access on", then ask for access below.';
  }
  $('data-request-form').hidden = !adp || (access !== null && access.state !== 'expired');
  $('data-waiting').hidden = !(access && access.state === 'pending');
  $('data-access').hidden = !(access && access.state === 'approved');
  document.body.dataset.access = access ? access.state : 'none';
}

let classes = {};     // category → "adp" | "interop" (always-end-to-end ones left out)

async function loadCategories() {
  let cats = DEFAULT_CATEGORIES;
  classes = Object.fromEntries(DEFAULT_CATEGORIES.map((c) => [c, ['mail', 'contacts', 'calendar'].includes(c) ? 'interop' : 'adp']));
  try {
    const c = await api('GET', '/v1/records/classes');
    const list = Object.entries(c.classes || {}).filter(([, cls]) => cls !== 'always-e2e');
    if (list.length) { cats = list.map(([k]) => k); classes = Object.fromEntries(list); }
  } catch (e) { /* the records area is off: the built-in list */ }
  renderReadableCategories();
  const fs = $('data-cats');
  const legend = fs.querySelector('legend');
  fs.replaceChildren(legend, ...cats.map((cat) => {
    const l = document.createElement('label');
    const cb = document.createElement('input');
    cb.type = 'checkbox';
    cb.value = cat;
    cb.dataset.category = cat;
    l.append(cb, ' ' + cat);
    return l;
  }));
}

async function requestAccess(ev) {
  ev.preventDefault();
  clearMessage();
  const categories = [...document.querySelectorAll('#data-cats input:checked')].map((x) => x.value);
  const zone = $('data-zone').value.trim() || 'default';
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/.test(zone)) { showMessage('A zone is 1-64 letters, digits, ".", "_" or "-".'); return; }
  if (categories.length === 0) { showMessage('Choose at least one category.'); return; }
  if (categories.length > 16) { showMessage('Ask for at most 16 categories at a time.'); return; }
  await busy(async () => {
    forgetAccess();
    try {
      const eph = await kwc.newEphemeral();
      const r = await api('POST', '/v1/adp/web/requests', { ephemeral_pk: bytesToB64u(eph.publicKey), categories });
      const requestId = b64uToBytes(r.request_id);
      const code = await kwc.webCode(me.name, requestId, eph.publicKey);
      access = { eph, requestId, requestB64: r.request_id, code, account: me.name, zone, categories, keys: new Map(),
                 expiresAt: r.expires_at, state: 'pending' };
      $('data-code').textContent = code;
      $('data-cmd').textContent = `keyward web approve --code ${code}`;
      renderDataState();
      pollTimer = setTimeout(pollAccess, 1000);
    } catch (e) {
      access = null;
      if (e instanceof ApiError && e.status === 409) {
        showMessage('Access refused: ' + e.message);
        await refreshMe();
      } else {
        showMessage('Asking for access failed: ' + e.message);
      }
      renderDataState();
    }
  });
}

async function refreshMe() {
  try { me = await api('GET', '/v1/web/me'); } catch (e) { /* shown elsewhere */ }
  renderDataState();
}

async function pollAccess() {
  pollTimer = null;
  const a = access;
  if (!a || a.state !== 'pending') return;
  let r;
  try {
    r = await api('GET', `/v1/adp/web/requests/${a.requestB64}`);
  } catch (e) {
    if (access !== a) return;
    if (e instanceof ApiError && e.status === 401) { await loadAccount(); return; }
    a.state = 'expired';
    showMessage('The access request failed: ' + e.message);
    renderDataState();
    return;
  }
  if (access !== a) return;
  if (r.state === 'pending') {
    pollTimer = setTimeout(pollAccess, 1500);
    return;
  }
  if (r.state !== 'approved' || !Array.isArray(r.grants) || r.grants.length === 0) {
    a.state = 'expired';
    showMessage(r.state === 'approved' ? 'Web access expired. Ask again and approve on a trusted device.'
                                       : 'The access request expired without an approval. Ask again.');
    renderDataState();
    return;
  }
  try {
    for (const g of r.grants) {
      if (!a.categories.includes(g.category)) throw new Error(`the server sent a key for ${g.category}, which this page did not ask for`);
      const key = await kwc.openGrant(a.eph, a.account, a.requestId, g.category, g.generation, b64uToBytes(g.sealed));
      if (!a.keys.has(g.category)) a.keys.set(g.category, new Map());
      a.keys.get(g.category).set(g.generation, key);
    }
  } catch (e) {
    forgetAccess();
    showMessage('The released keys do not open: ' + e.message + '. Nothing was opened.');
    renderDataState();
    return;
  }
  a.state = 'approved';
  a.expiresAt = r.expires_at;
  $('data-access-cats').textContent = [...a.keys.keys()].join(', ');
  $('data-expires').textContent = fmtTime(r.expires_at);
  const denied = a.categories.filter((c) => !a.keys.has(c));
  $('data-denied').hidden = denied.length === 0;
  $('data-denied').textContent = denied.length ? 'Not released by the trusted device: ' + denied.join(', ') + '.' : '';
  showMessage('Access approved on a trusted device.', 'info');
  renderDataState();
  await listRecords();
}

// A refusal while reading records: expiry or a turned-off switch ends access.
function accessRefused(e) {
  if (e instanceof ApiError && e.status === 409) {
    forgetAccess();
    showMessage('Web access ended: ' + e.message);
    refreshMe();
    return true;
  }
  if (e instanceof ApiError && e.status === 401) { forgetAccess(); loadAccount(); return true; }
  return false;
}

async function listRecords() {
  const a = access;
  if (!a || a.state !== 'approved') return;
  const rows = [];
  const problems = [];
  for (const cat of a.keys.keys()) {
    let r;
    try {
      r = await api('GET', `/v1/web/records/${a.requestB64}/${encodeURIComponent(cat)}/${encodeURIComponent(a.zone)}`);
    } catch (e) {
      if (accessRefused(e)) return;
      problems.push(`${cat}: ${e.message}`);
      continue;
    }
    for (const rec of r.records) {
      const sealed = { id: b64uToBytes(rec.id), version: rec.version, wrap: b64uToBytes(rec.wrap), meta: b64uToBytes(rec.meta) };
      try {
        const meta = await kwc.openRecordMeta(cat, a.zone, sealed, a.keys.get(cat));
        rows.push({ cat, id: rec.id, meta, inline: rec.content_len <= 256 * 1024 });
      } catch (e) {
        rows.push({ cat, id: rec.id, error: e.message });
      }
    }
  }
  if (access !== a) return;
  $('data-records').replaceChildren(...rows.map((row) => {
    const tr = document.createElement('tr');
    tr.dataset.recordId = row.id;
    tr.dataset.category = row.cat;
    const cells = row.error ? [row.cat, 'cannot open: ' + row.error, '', '']
                            : [row.cat, row.meta.name, fmtSize(row.meta.size), fmtTime(row.meta.mtime)];
    for (const text of cells) {
      const td = document.createElement('td');
      td.textContent = text;
      tr.append(td);
    }
    if (row.meta) tr.dataset.name = row.meta.name;
    const td = document.createElement('td');
    if (!row.error) {
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'secondary';
      b.textContent = 'Open';
      b.addEventListener('click', () => openRecordRow(row));
      td.append(b);
    }
    tr.append(td);
    return tr;
  }));
  $('data-empty').hidden = rows.length > 0;
  if (problems.length) showMessage('Some categories could not be listed: ' + problems.join('; '));
}

// The sealed content of a record: inline, or fetched piece by piece from
// chunk storage (at most PAGE_MAX bytes in this page).
const PAGE_MAX = 64 * 1024 * 1024;
async function fetchPieces(a, row, r) {
  if (r.content !== undefined) return b64uToBytes(r.content);
  if (!(r.content_len >= 0) || r.content_len > PAGE_MAX)
    throw new Error('it is larger than this page opens (64 MiB): open it on a trusted device');
  const buf = new Uint8Array(r.content_len);
  let off = 0;
  const path = `/v1/web/records/${a.requestB64}/${encodeURIComponent(row.cat)}/${encodeURIComponent(a.zone)}/${row.id}`;
  for (let i = 0; i < r.nchunks; i++) {
    const p = await api('POST', path, { piece: i });
    const b = b64uToBytes(p.data);
    if (p.index !== i || off + b.length > buf.length) throw new Error('the server sent more than the record holds');
    buf.set(b, off);
    off += b.length;
  }
  if (off !== buf.length) throw new Error('the server sent less than the record holds');
  return buf;
}

async function sha256Hex(bytes) {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return [...h].map((x) => x.toString(16).padStart(2, '0')).join('');
}

function fmtSize(n) {
  if (n < 1024) return n + ' B';
  if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KiB';
  return (n / 1024 / 1024).toFixed(1) + ' MiB';
}

async function openRecordRow(row) {
  clearMessage();
  const a = access;
  if (!a || a.state !== 'approved') return;
  await busy(async () => {
    let r;
    try {
      r = await api('GET', `/v1/web/records/${a.requestB64}/${encodeURIComponent(row.cat)}/${encodeURIComponent(a.zone)}/${row.id}`);
    } catch (e) {
      if (!accessRefused(e)) showMessage(`"${row.meta.name}" cannot be opened here: ${e.message}`);
      return;
    }
    let sealedContent;
    try {
      sealedContent = await fetchPieces(a, row, r);
    } catch (e) {
      if (!accessRefused(e)) showMessage(`"${row.meta.name}" cannot be opened here: ${e.message}`);
      return;
    }
    try {
      const sealed = { id: b64uToBytes(r.id), version: r.version, wrap: b64uToBytes(r.wrap), meta: b64uToBytes(r.meta),
                       content: sealedContent };
      if (r.id !== row.id) throw new Error('the server answered with another record');
      const { meta, content } = await kwc.openRecord(row.cat, a.zone, sealed, a.keys.get(row.cat));
      $('data-viewer-name').textContent = meta.name;
      $('data-viewer-info').textContent = `${row.cat} · ${fmtSize(meta.size)} · version ${r.version} · modified ${fmtTime(meta.mtime)}`;
      const text = new TextDecoder('utf-8', { fatal: false }).decode(content.subarray(0, 256 * 1024));
      $('data-content').textContent = text;
      $('data-viewer').hidden = false;
      $('data-viewer').dataset.recordId = r.id;
      $('data-viewer').dataset.sha256 = await sha256Hex(content);
      if (content.length > 256 * 1024) $('data-viewer-info').textContent += ' · preview of the first 256 KiB';
      viewerBlob = { name: meta.name, bytes: content, type: meta.type || 'application/octet-stream' };
    } catch (e) {
      $('data-viewer').hidden = true;
      showMessage(`"${row.meta.name}" does not open: ${e.message}. The server may have tampered with it.`);
    }
  });
}

function downloadRecord() {
  if (!viewerBlob) return;
  const url = URL.createObjectURL(new Blob([viewerBlob.bytes], { type: viewerBlob.type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = viewerBlob.name.split('/').pop() || 'record';
  link.click();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

// ---------- records the server can read (no device needed) ----------

function renderReadableCategories() {
  const adp = !!(me && me.adp);
  const cats = Object.keys(classes).filter((c) => classes[c] === 'interop' || !adp);
  const sel = $('readable-cat');
  const keep = sel.value;
  sel.replaceChildren(...cats.map((c) => {
    const o = document.createElement('option');
    o.value = c;
    o.textContent = `${c} (${classes[c] === 'interop' ? 'interoperable' : 'standard protection'})`;
    return o;
  }));
  if (cats.includes(keep)) sel.value = keep;
  $('readable-intro').textContent = adp
    ? 'With Advanced Data Protection on, the server can read only the interoperable categories (mail, contacts, calendar).'
    : 'In standard protection the server holds your categories\' keys (except the always end-to-end ones), so it can open their records for this page.';
}

async function showReadable(ev) {
  ev.preventDefault();
  clearMessage();
  const cat = $('readable-cat').value;
  const zone = $('data-zone').value.trim() || 'default';
  if (!cat) return;
  await busy(async () => {
    let r;
    try {
      r = await api('GET', `/v1/web/readable/${encodeURIComponent(cat)}/${encodeURIComponent(zone)}`);
    } catch (e) {
      $('readable-table').hidden = true;
      $('readable-empty').hidden = true;
      showMessage(`${cat} cannot be read here: ${e.message}`);
      return;
    }
    $('readable-records').replaceChildren(...r.records.map((rec) => {
      const tr = document.createElement('tr');
      tr.dataset.recordId = rec.id;
      tr.dataset.category = cat;
      tr.dataset.name = rec.name;
      for (const text of [cat, rec.name, fmtSize(rec.size), fmtTime(rec.mtime)]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      const td = document.createElement('td');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'secondary';
      b.textContent = 'Open';
      b.addEventListener('click', () => openReadable(cat, zone, rec));
      td.append(b);
      tr.append(td);
      return tr;
    }));
    $('readable-table').hidden = r.records.length === 0;
    $('readable-empty').hidden = r.records.length > 0;
  });
}

async function openReadable(cat, zone, rec) {
  clearMessage();
  await busy(async () => {
    try {
      const r = await api('GET', `/v1/web/readable/${encodeURIComponent(cat)}/${encodeURIComponent(zone)}/${rec.id}`);
      const content = b64uToBytes(r.content);
      $('data-viewer-name').textContent = r.name;
      $('data-viewer-info').textContent = `${cat} · ${fmtSize(r.size)} · version ${r.version} · modified ${fmtTime(r.mtime)} · opened by the server`;
      $('data-content').textContent = new TextDecoder('utf-8', { fatal: false }).decode(content.subarray(0, 256 * 1024));
      $('data-viewer').hidden = false;
      $('data-viewer').dataset.recordId = r.id;
      viewerBlob = { name: r.name, bytes: content, type: r.type || 'application/octet-stream' };
    } catch (e) {
      showMessage(`"${rec.name}" cannot be opened here: ${e.message}`);
    }
  });
}

async function loadData(meAnswer) {
  me = meAnswer;
  if (!me.adp || !me.web_access) forgetAccess();
  if (!$('data-cats').querySelector('input')) await loadCategories();
  renderReadableCategories();
  renderDataState();
}

// ---------- start ----------

function init() {
  $('signin-form').addEventListener('submit', signIn);
  $('factor-key-button').addEventListener('click', factorKey);
  $('factor-code').addEventListener('submit', factorCode);
  $('factor-cancel').addEventListener('click', () => { factorToken = null; clearMessage(); show('signin'); });
  $('signout').addEventListener('click', signOut);
  $('key-add-form').addEventListener('submit', addKey);
  $('policy-on').addEventListener('click', () => setPolicy(true));
  $('policy-off').addEventListener('click', () => setPolicy(false));
  $('data-request-form').addEventListener('submit', requestAccess);
  $('data-cancel').addEventListener('click', () => { forgetAccess(); clearMessage(); renderDataState(); });
  $('data-forget').addEventListener('click', () => { forgetAccess(); showMessage('The keys were forgotten.', 'info'); renderDataState(); });
  $('data-close').addEventListener('click', () => { $('data-viewer').hidden = true; $('data-content').textContent = ''; viewerBlob = null; });
  $('data-download').addEventListener('click', downloadRecord);
  $('readable-form').addEventListener('submit', showReadable);
  if (sessionStorage.getItem(TOKEN_KEY)) loadAccount().then(() => { document.body.dataset.ready = '1'; });
  else { show('signin'); document.body.dataset.ready = '1'; }
}

init();
