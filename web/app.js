// keyward account-security page: sign-in (OPAQUE + second factor), security
// keys, devices, protection status. Plain ES module, no framework. The only
// third-party code is the OPAQUE client (@serenity-kit/opaque, RFC 9807),
// copied to /web/opaque.js by scripts/deps.d/web.sh.
import * as opaque from '/web/opaque.js';

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
  await Promise.all([loadKeys(), loadDevices()]);
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
  if (sessionStorage.getItem(TOKEN_KEY)) loadAccount().then(() => { document.body.dataset.ready = '1'; });
  else { show('signin'); document.body.dataset.ready = '1'; }
}

init();
