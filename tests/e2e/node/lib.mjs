// lib.mjs - a third-party ementor.v1 peer for black-box tests, written from
// docs/PROTOCOL.md alone with the `ws` WebSocket library and libsodium.js.
//
// It starts nothing itself: tests/e2e/run_node.sh starts a real ementord and
// exports
//   EMENTOR_URL                  wss://127.0.0.1:PORT
//   EMENTOR_CA                   the server's self-signed certificate (PEM file)
//   EMENTOR_TEST_AUTH_TIMEOUT    the server's --auth-timeout, in seconds
//   EMENTOR_TEST_ALLOWED_ORIGIN  an Origin the server was told to allow
//   EMENTOR_TEST_INVITE          a fresh manager invite code (ementord invite)
//
// libsodium-wrappers-sumo, not libsodium-wrappers: only the sumo build has
// crypto_pwhash (Argon2id), which every client needs to derive its keys.

import { readFileSync } from 'node:fs';
import https from 'node:https';
import WebSocket from 'ws';
import './webcrypto.mjs'; // before libsodium: Node 18 needs the global
import sodiumModule from 'libsodium-wrappers-sumo';

export const SUBPROTOCOL = 'ementor.v1';

/** The value of a variable the harness must set; throws a clear error otherwise. */
export function requireEnv(name) {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run these tests through tests/e2e/run_node.sh`);
  }
  return v;
}

export function serverUrl() {
  return requireEnv('EMENTOR_URL');
}

let caCache;
export function serverCa() {
  caCache ??= readFileSync(requireEnv('EMENTOR_CA'));
  return caCache;
}

/** ms to wait for things that should be immediate. */
export const QUICK_MS = 5000;

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * One WebSocket connection to ementord. Frames are queued as they arrive, so
 * a test never misses one that came before it started waiting.
 */
export class Peer {
  constructor(ws) {
    this.ws = ws;
    this.frames = []; // parsed JSON text frames not yet taken
    this.waiters = [];
    this.nextId = 1;
    this.closed = null; // {code, reason} once closed
    this.closeWaiters = [];
    ws.on('message', (data, isBinary) => {
      const text = data.toString('utf8');
      let frame;
      try {
        frame = JSON.parse(text);
      } catch (e) {
        frame = { unparsable: text, isBinary };
      }
      this.frames.push(frame);
      this._wake();
    });
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      for (const w of this.closeWaiters) w(this.closed);
      this.closeWaiters = [];
      this._wake();
    });
    // Errors (e.g. ECONNRESET) are followed by 'close'; keep them for messages.
    this.errors = [];
    ws.on('error', (err) => this.errors.push(err));
  }

  _wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Sends a raw text (string) or binary (Buffer with {binary: true}) message. */
  sendRaw(data, opts = {}) {
    this.ws.send(data, opts);
  }

  /** Sends {"id", "op", "args"?}; returns the id used. */
  send(op, args, id = this.nextId++) {
    const frame = { id, op };
    if (args !== undefined) frame.args = args;
    this.ws.send(JSON.stringify(frame));
    return id;
  }

  /** Resolves with the next frame that matches pred (default: any). */
  async nextFrame(pred = () => true, ms = QUICK_MS) {
    const take = () => {
      const i = this.frames.findIndex(pred);
      return i >= 0 ? this.frames.splice(i, 1)[0] : undefined;
    };
    const wait = async () => {
      for (;;) {
        const f = take();
        if (f !== undefined) return f;
        if (this.closed) {
          throw new Error(`connection closed (${this.closed.code} ${this.closed.reason}) while waiting for a frame`);
        }
        await new Promise((resolve) => this.waiters.push(resolve));
      }
    };
    return withTimeout(wait(), ms, 'a frame');
  }

  /** The reply to request `id`. */
  reply(id, ms = QUICK_MS) {
    return this.nextFrame((f) => f && Object.prototype.hasOwnProperty.call(f, 're') && f.re === id, ms);
  }

  /** Sends a request and resolves with its reply frame ({re, ok} or {re, error}). */
  async request(op, args, ms = QUICK_MS) {
    const id = this.send(op, args);
    return this.reply(id, ms);
  }

  /** Like request() but resolves with `ok`, and throws on an error reply. */
  async call(op, args, ms = QUICK_MS) {
    const r = await this.request(op, args, ms);
    if (r.error) throw new Error(`${op}: ${r.error.code}: ${r.error.message}`);
    return r.ok;
  }

  /** Resolves with {code, reason} when the connection closes. */
  waitClose(ms = QUICK_MS) {
    if (this.closed) return Promise.resolve(this.closed);
    return withTimeout(new Promise((resolve) => this.closeWaiters.push(resolve)), ms, 'the server to close');
  }

  close() {
    if (!this.closed) this.ws.close(1000);
  }

  terminate() {
    this.ws.terminate();
  }
}

/**
 * Opens a connection. Resolves with {peer} once open, or with
 * {refused: {status, error}} when the handshake fails (status is the HTTP
 * status when the server answered the upgrade with one).
 */
export function tryConnect({ origin, protocols = [SUBPROTOCOL], url = serverUrl(), headers } = {}) {
  return withTimeout(
    new Promise((resolve) => {
      const opts = { ca: serverCa(), perMessageDeflate: false, handshakeTimeout: QUICK_MS };
      if (origin) opts.origin = origin;
      if (headers) opts.headers = headers;
      const ws = new WebSocket(url, protocols, opts);
      let settled = false;
      const settle = (v) => {
        if (!settled) {
          settled = true;
          resolve(v);
        }
      };
      const peer = new Peer(ws);
      ws.once('open', () => settle({ peer }));
      ws.once('unexpected-response', (req, res) => {
        settle({ refused: { status: res.statusCode } });
        req.destroy();
        ws.terminate();
      });
      ws.once('error', (error) => settle({ refused: { error } }));
      ws.once('close', (code) => settle({ refused: { error: new Error(`closed ${code} before open`) } }));
    }),
    QUICK_MS + 1000,
    'the WebSocket handshake',
  );
}

/** Opens a connection or throws. */
export async function connect(opts) {
  const r = await tryConnect(opts);
  if (!r.peer) {
    throw new Error(`handshake refused: ${r.refused.status ?? r.refused.error?.message}`);
  }
  return r.peer;
}

/** GET https://host:port/PATH on the server; resolves with {status, body}. */
export function httpGet(path) {
  const u = new URL(serverUrl());
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = https.get(
        { host: u.hostname, port: u.port, path, ca: serverCa(), servername: 'localhost' },
        (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
        },
      );
      req.on('error', reject);
    }),
    QUICK_MS,
    `GET ${path}`,
  );
}

// --- account keys, exactly as PROTOCOL.md "Account keys" says -------------

let sodium;
export async function ready() {
  await sodiumModule.ready;
  sodium = sodiumModule;
  return sodium;
}

export function b64(bytes) {
  return sodium.to_base64(bytes, sodium.base64_variants.URLSAFE_NO_PADDING);
}

export function unb64(text) {
  return sodium.from_base64(text, sodium.base64_variants.URLSAFE_NO_PADDING);
}

const enc = new TextEncoder();

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * The bytes Argon2id takes for a password: the UTF-8 of its Unicode NFC form,
 * so that "Zoë" typed composed or decomposed is one password. A string with a
 * lone surrogate is not Unicode text: refused (TextEncoder would silently
 * turn it into U+FFFD).
 */
export function passwordBytes(password) {
  if (typeof password !== 'string') throw new TypeError('the password must be a string');
  if (/\p{Cs}/u.test(password)) throw new RangeError('the password holds a lone surrogate: not Unicode text');
  return enc.encode(password.normalize('NFC'));
}

/** {authKey, wrapKey} from a password and the account's KDF parameters. */
export function deriveKeys(password, salt, opslimit, memlimit) {
  const pw = passwordBytes(password);
  const master = sodium.crypto_pwhash(32, pw, salt, opslimit, memlimit, sodium.crypto_pwhash_ALG_ARGON2ID13);
  pw.fill(0);
  const authKey = sodium.crypto_kdf_derive_from_key(32, 1, 'ementor_', master);
  const wrapKey = sodium.crypto_kdf_derive_from_key(32, 2, 'ementor_', master);
  sodium.memzero(master);
  return { authKey, wrapKey };
}

function backupAd(username) {
  return concat(enc.encode('ementor key backup v1'), new Uint8Array([0]), enc.encode(username.toLowerCase()));
}

/**
 * nonce || XChaCha20-Poly1305(wrap_key, sign_sk || box_sk, ad). nonce: 24
 * random bytes unless given (the conformance vectors give one).
 */
export function wrapKeys(sign, box, wrapKey, username, nonce = sodium.randombytes_buf(24)) {
  const ct = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    concat(sign.privateKey, box.privateKey), backupAd(username), null, nonce, wrapKey);
  return concat(nonce, ct);
}

/** {signSk, boxSk} from a backup; throws if it does not open. */
export function unwrapKeys(backup, wrapKey, username) {
  const plain = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
    null, backup.subarray(24), backupAd(username), backup.subarray(0, 24), wrapKey);
  return { signSk: plain.subarray(0, 64), boxSk: plain.subarray(64, 96) };
}

/** "xxxx xxxx ..." safety number of a user's public keys. */
export function fingerprint(signPk, boxPk) {
  const h = sodium.crypto_generichash(32, concat(enc.encode('ementor fingerprint v1'), new Uint8Array([0]), signPk, boxPk));
  const hex = sodium.to_hex(h.subarray(0, 16));
  return hex.match(/.{4}/g).join(' ');
}

/** The KDF parameters new accounts use: libsodium's INTERACTIVE ones. */
export const KDF = { opslimit: 2, memlimit: 67108864 };

/**
 * Everything a client prepares before `register`: keys, backup and the args
 * of the request. Slow (Argon2id): call it before connecting, since an
 * unauthenticated connection only lives for the auth timeout.
 */
export function newAccount(username, password, invite, displayName = username) {
  const salt = sodium.randombytes_buf(16);
  const { authKey, wrapKey } = deriveKeys(password, salt, KDF.opslimit, KDF.memlimit);
  const sign = sodium.crypto_sign_keypair();
  const box = sodium.crypto_box_keypair();
  const backup = wrapKeys(sign, box, wrapKey, username);
  return {
    username,
    password,
    salt,
    authKey,
    wrapKey,
    sign,
    box,
    registerArgs: {
      invite,
      username,
      display_name: displayName,
      salt: b64(salt),
      opslimit: KDF.opslimit,
      memlimit: KDF.memlimit,
      auth_key: b64(authKey),
      sign_pk: b64(sign.publicKey),
      box_pk: b64(box.publicKey),
      key_backup: b64(backup),
    },
  };
}

/** A username nobody has used yet on this server. */
export function freshUsername(prefix = 'node') {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`.slice(0, 32);
}
