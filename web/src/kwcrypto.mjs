// The page's end-to-end crypto for web access under ADP (docs/api.md "ADP",
// "Records", "Web page"): bundled by scripts/deps.d/web.sh into
// web/kwcrypto.js (esbuild), which keywardd serves at /web/kwcrypto.js.
//
// - HPKE (RFC 9180, base mode, DHKEM(X25519)/HKDF-SHA256/ChaCha20-Poly1305):
//   @hpke/core 1.9.0 + @hpke/dhkem-x25519 + @hpke/chacha20poly1305. The
//   browser session's ephemeral key pair never leaves this module's memory;
//   a trusted device seals each released service key to its public key.
// - Records (include/keyward/record.h): the record key unwrapped with the
//   service key, HKDF-SHA256 subkeys (WebCrypto), metadata and content with
//   XChaCha20-Poly1305 (@noble/ciphers), the content pieces in the chunked
//   format of include/keyward/chunk.h. Every check of the C reader is made
//   here too: a record served under another id, zone, category or version,
//   a swapped, reordered, truncated or extended piece fails to open.
import { CipherSuite, HkdfSha256 } from '@hpke/core';
import { DhkemX25519HkdfSha256 } from '@hpke/dhkem-x25519';
import { Chacha20Poly1305 } from '@hpke/chacha20poly1305';
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

const te = new TextEncoder();
const suite = new CipherSuite({ kem: new DhkemX25519HkdfSha256(), kdf: new HkdfSha256(), aead: new Chacha20Poly1305() });

export class OpenError extends Error {
  constructor(kind, message) { super(message); this.kind = kind; }
}

function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
const u8 = (v) => Uint8Array.of(v & 0xff);
const u16be = (v) => Uint8Array.of((v >>> 8) & 0xff, v & 0xff);
const u32be = (v) => Uint8Array.of((v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff);
function u64be(v) {
  let b = BigInt(v);
  const out = new Uint8Array(8);
  for (let i = 7; i >= 0; i--) { out[i] = Number(b & 0xffn); b >>= 8n; }
  return out;
}
const rd32 = (b, o) => ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
function rd64(b, o) {
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(b[o + i]);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new OpenError('format', 'a size field is out of range');
  return Number(v);
}
function lenPrefixed(s, what) {
  const b = te.encode(s);
  if (b.length > 255) throw new OpenError('format', what + ' too long');
  return concat(u8(b.length), b);
}
export function wipe(b) { if (b) b.fill(0); }

// ---------- the browser session's ephemeral key and the grants ----------

export async function newEphemeral() {
  const kp = await suite.kem.generateKeyPair();
  const pk = new Uint8Array(await suite.kem.serializePublicKey(kp.publicKey));
  return { keyPair: kp, publicKey: pk };
}

// The 6-digit code the device compares (kw_client_web_code).
export async function webCode(account, requestId, ephemeralPk) {
  const h = new Uint8Array(await crypto.subtle.digest('SHA-256',
    concat(te.encode('keyward-web-v1'), lenPrefixed(account, 'account'), requestId, ephemeralPk)));
  let v = 0n;
  for (let i = 0; i < 8; i++) v = (v << 8n) | BigInt(h[i]);
  return String(v % 1000000n).padStart(6, '0');
}

// Opens one grant: the service key of (category, generation) sealed to our
// ephemeral key, info bound to the account, request, category, generation.
export async function openGrant(eph, account, requestId, category, generation, sealed) {
  if (sealed.length !== 32 + 32 + 16) throw new OpenError('format', 'a grant has the wrong length');
  const info = concat(te.encode('keyward web grant v1'), lenPrefixed(account, 'account'), requestId,
                      lenPrefixed(category, 'category'), u32be(generation));
  let ctx;
  try {
    ctx = await suite.createRecipientContext({ recipientKey: eph.keyPair, enc: sealed.slice(0, 32).buffer, info: info.buffer });
    const key = new Uint8Array(await ctx.open(sealed.slice(32).buffer, new ArrayBuffer(0)));
    if (key.length !== 32) throw new OpenError('format', 'a released key has the wrong length');
    return key;
  } catch (e) {
    if (e instanceof OpenError) throw e;
    throw new OpenError('verify', `the key released for ${category} (generation ${generation}) does not open with this page's key`);
  }
}

// ---------- records ----------

// ctx = "keyward record v1" ‖ u8 len ‖ category ‖ u8 len ‖ zone ‖ id[16] ‖ u64 version
export function recordCtx(category, zone, id, version) {
  if (id.length !== 16) throw new OpenError('format', 'a record id is 16 bytes');
  if (!(version >= 1)) throw new OpenError('format', 'a record version is at least 1');
  return concat(te.encode('keyward record v1'), lenPrefixed(category, 'category'), lenPrefixed(zone, 'zone'), id,
                u64be(version));
}

async function subkey(rk, info) {
  const k = await crypto.subtle.importKey('raw', rk, 'HKDF', false, ['deriveBits']);
  return new Uint8Array(await crypto.subtle.deriveBits({ name: 'HKDF', hash: 'SHA-256', salt: new Uint8Array(0),
                                                         info: te.encode(info) }, k, 256));
}

function aeadOpen(key, nonce, ad, ct, what) {
  try {
    return xchacha20poly1305(key, nonce, ad).decrypt(ct);
  } catch (e) {
    throw new OpenError('verify', what);
  }
}

// The record key from its 76-byte wrap; keys: Map generation → service key.
export function unwrapRecordKey(wrap, keys, ctx) {
  if (wrap.length !== 4 + 24 + 32 + 16) throw new OpenError('format', 'a record key wrap is 76 bytes');
  const g = rd32(wrap, 0);
  const svc = keys.get(g);
  if (!svc) throw new OpenError('nokey', `service key generation ${g} was not released to this page`);
  return aeadOpen(svc, wrap.subarray(4, 28), concat(te.encode('keyward record key v1'), u32be(g), ctx),
                  wrap.subarray(28), 'the record key does not open (swapped or replayed record)');
}

const META_FIXED = 1 + 2 + 1 + 8 * 4 + 32 + 4;
const PIECE_MIN = 1 << 12, PIECE_MAX = 1 << 20;

export function paddedSize(size) {
  // kw_record_padded_size: max(size, 256) rounded up by Padmé
  let l = Math.max(size, 256);
  const e = Math.floor(Math.log2(l));
  const s = Math.floor(Math.log2(e)) + 1;
  const zeros = e - s;
  if (zeros <= 0) return l;
  const mask = 2 ** zeros - 1;
  return Math.floor((l + mask) / 2 ** zeros) * 2 ** zeros;
}

async function openMeta(meta, rk, ctx) {
  if (meta.length < 4 + 24 + 128 + 16 || meta[0] !== 0x4b || meta[1] !== 0x57 || meta[2] !== 0x52 || meta[3] !== 0x31)
    throw new OpenError('format', 'the record metadata is malformed');
  const mk = await subkey(rk, 'keyward record meta v1');
  const pt = aeadOpen(mk, meta.subarray(4, 28), concat(te.encode('KWR1'), ctx), meta.subarray(28),
                      'the record metadata does not open (swapped or replayed record)');
  wipe(mk);
  let o = 0;
  const bad = () => new OpenError('format', 'the record metadata is malformed');
  // format 1: the content hash is SHA-256; format 2: BLAKE2b-256 (keyward/record.h)
  const format = pt.length >= META_FIXED ? pt[o++] : 0;
  if (pt.length % 128 !== 0 || pt.length < META_FIXED || (format !== 1 && format !== 2)) throw bad();
  const nl = (pt[o] << 8) | pt[o + 1];
  o += 2;
  if (nl === 0 || nl > 1024 || pt.length - o < nl + 1) throw bad();
  const name = new TextDecoder('utf-8', { fatal: false }).decode(pt.subarray(o, o + nl));
  o += nl;
  const tl = pt[o++];
  if (tl > 128 || pt.length - o < tl + 68) throw bad();
  const type = new TextDecoder().decode(pt.subarray(o, o + tl));
  o += tl;
  const m = { name, type, ctime: rd64(pt, o), mtime: rd64(pt, o + 8), size: rd64(pt, o + 16), padded: rd64(pt, o + 24) };
  o += 32;
  m.format = format;
  m.hash = pt.slice(o, o + 32);
  o += 32;
  m.pieceSize = rd32(pt, o);
  o += 4;
  const want = Math.ceil((META_FIXED + nl + tl) / 128) * 128;
  if (pt.length !== want || m.padded !== paddedSize(m.size) || m.pieceSize < PIECE_MIN || m.pieceSize > PIECE_MAX ||
      (m.pieceSize & (m.pieceSize - 1)) !== 0)
    throw bad();
  for (let i = o; i < pt.length; i++) if (pt[i] !== 0) throw bad();
  return m;
}

// Opens one sealed stream of include/keyward/chunk.h with context ctx.
export function chunkOpen(ct, ctx, key) {
  if (ct.length < 29 + 16) throw new OpenError('truncated', 'a content piece is truncated');
  const header = ct.subarray(0, 29);
  const cs = rd32(header, 1);
  if (header[0] !== 1 || cs < PIECE_MIN || cs > PIECE_MAX || (cs & (cs - 1)) !== 0)
    throw new OpenError('format', 'a content piece has a bad header');
  const parts = [];
  let off = 29, i = 0n;
  for (;;) {
    const remain = ct.length - off;
    if (remain < 16) throw new OpenError('truncated', 'a content piece is truncated');
    const len = Math.min(cs + 16, remain);
    const final = off + len === ct.length ? 1 : 0;
    const nonce = header.slice(5, 29);
    const ib = u64be(i);
    for (let k = 0; k < 8; k++) nonce[16 + k] ^= ib[k];
    const ad = concat(header, u16be(ctx.length), ctx, u64be(i), u8(final));
    parts.push(aeadOpen(key, nonce, ad, ct.subarray(off, off + len),
                        'a content piece does not authenticate (reordered, swapped or tampered)'));
    off += len;
    i++;
    if (final) break;
  }
  return concat(...parts);
}

// Lists a record's metadata: {id, version, meta, wrap} as the server sends
// them (base64url decoded by the caller), keys: Map generation → key.
export async function openRecordMeta(category, zone, rec, keys) {
  const ctx = recordCtx(category, zone, rec.id, rec.version);
  const rk = unwrapRecordKey(rec.wrap, keys, ctx);
  try {
    return await openMeta(rec.meta, rk, ctx);
  } finally { wipe(rk); }
}

// Opens a whole record (inline content): its metadata and content bytes,
// checked against the metadata's length and SHA-256.
export async function openRecord(category, zone, rec, keys) {
  const ctx = recordCtx(category, zone, rec.id, rec.version);
  const rk = unwrapRecordKey(rec.wrap, keys, ctx);
  let ck = null;
  try {
    const meta = await openMeta(rec.meta, rk, ctx);
    ck = await subkey(rk, 'keyward record content v1');
    const np = meta.padded === 0 ? 1 : Math.ceil(meta.padded / meta.pieceSize);
    const pieces = [];
    let off = 0;
    for (let p = 0; p < np; p++) {
      const ptLen = Math.min(meta.pieceSize, meta.padded - p * meta.pieceSize);
      const sealedLen = 29 + ptLen + 16 * Math.max(1, Math.ceil(ptLen / PIECE_MAX));
      if (off + sealedLen > rec.content.length)
        throw new OpenError('truncated', 'the record was truncated');
      const final = p === np - 1 ? 1 : 0;
      const pt = chunkOpen(rec.content.subarray(off, off + sealedLen), concat(ctx, u64be(p), u8(final)), ck);
      if (pt.length !== ptLen) throw new OpenError('verify', 'the record was truncated or extended');
      pieces.push(pt);
      off += sealedLen;
    }
    if (off !== rec.content.length) throw new OpenError('verify', 'the record was truncated or extended');
    const all = concat(...pieces);
    const content = all.slice(0, meta.size);
    wipe(all);
    // Format 1 (inline content) carries a SHA-256, checked here. Format 2's
    // BLAKE2b-256 is not in WebCrypto: such content is trusted on its pieces,
    // each authenticated with its index and the final flag at the lengths the
    // authenticated metadata gives (the hash adds no integrity to that; it is
    // there for backups to skip unchanged files).
    if (meta.format === 1) {
      const h = new Uint8Array(await crypto.subtle.digest('SHA-256', content));
      let diff = 0;
      for (let k = 0; k < 32; k++) diff |= h[k] ^ meta.hash[k];
      if (diff !== 0) throw new OpenError('verify', 'the record does not match its content hash');
    }
    return { meta, content };
  } finally { wipe(rk); wipe(ck); }
}
