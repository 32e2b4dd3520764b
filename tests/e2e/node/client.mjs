// client.mjs - a small ementor.v1 client library written from docs/PROTOCOL.md
// alone (no C code reused; the v2 byte layouts follow their byte-by-byte
// description in proto/em_crypto.h, checked against the C CLI by
// interop.test.mjs): the WebSocket transport with
// request/reply by id and events (sections 1-2), the account keys (section 4
// "Account keys"), end-to-end encrypted messaging (section 5): opening
// sealed room keys, committing epochs, encrypting/signing and
// verifying/decrypting messages, sync with replay + `synced` + live events,
// history, receipts and typing; and agreements and consent (section 7): the
// data-processing consent at registration, signing a room's agreement, the
// client-side roster check before sealing (7.2), consent withdrawal, and the
// creator's signature over a programme's settings (7.3). Envelopes, commits
// and messages are the v2 layouts: envelopes and commits name the agreement
// version in force, and a message body carries this client instance's
// device id, its counter in the room and the time it was written.
//
// Crypto is libsodium.js, the *sumo* build: the plain libsodium-wrappers
// build has no crypto_pwhash (Argon2id), which every client needs.
//
// The account-key helpers (deriveKeys, wrapKeys, unwrapKeys, fingerprint)
// come from lib.mjs, which a colleague wrote from the same document; this file
// re-exports them so that a caller needs only client.mjs.

import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import {
  ready as libReady, b64, unb64, passwordBytes, deriveKeys, wrapKeys, unwrapKeys, fingerprint, KDF,
} from './lib.mjs';

export { b64, unb64, passwordBytes, deriveKeys, wrapKeys, unwrapKeys, fingerprint, KDF };

export const SUBPROTOCOL = 'ementor.v1';
export const DEFAULT_TIMEOUT_MS = 10000;

let sodium;
/** Waits for libsodium; returns it. Call once before anything else. */
export async function ready() {
  sodium = await libReady();
  return sodium;
}

// --- bytes ---------------------------------------------------------------

const enc = new TextEncoder();
const dec = new TextDecoder('utf-8', { fatal: true });

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** "text" 0x00: every label of section 5.1 is the ASCII text and one NUL. */
export function label(text) {
  return concat(enc.encode(text), new Uint8Array([0]));
}

/** u64 big-endian (8 bytes). */
export function u64(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), false);
  return b;
}

/** u32 big-endian (4 bytes). */
export function u32(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, false);
  return b;
}

function readU64(bytes, off = 0) {
  const v = new DataView(bytes.buffer, bytes.byteOffset + off, 8).getBigUint64(0, false);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error('u64 out of range');
  return Number(v);
}

function bytesEqual(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

// --- errors --------------------------------------------------------------

/** An error reply from the server: .code is the section 3 code. */
export class ProtocolError extends Error {
  constructor(op, error) {
    super(`${op}: ${error.code}: ${error.message}`);
    this.op = op;
    this.code = error.code;
    this.retryAfterMs = error.retry_after_ms;
    this.serverMessage = error.message;
  }
}

/** A signature that does not verify, or a key that changed under its pin. */
export class CryptoError extends Error {
  constructor(code, message) {
    super(`${code}: ${message}`);
    this.code = code;
  }
}

// --- section 5.1 byte layouts (pure functions) -----------------------------

/** At most this many recipients per epoch; the list is always 6 u64 slots. */
export const KEY_RECIPIENTS_MAX = 6;

/** u32 n || 6 x u64 ids (ascending, zero after the n-th). */
export function recipientList(recipients) {
  const ids = [...recipients].sort((a, b) => a - b);
  if (ids.length < 1 || ids.length > KEY_RECIPIENTS_MAX) throw new Error(`${ids.length} recipients`);
  const slots = [];
  for (let i = 0; i < KEY_RECIPIENTS_MAX; i++) slots.push(u64(i < ids.length ? ids[i] : 0));
  return concat(u32(ids.length), ...slots);
}

/**
 * The bytes signed by key_sig of a room key envelope:
 * label || u64 room_id || u64 epoch || u64 recipient_id || u64 committer_id
 * || u32 agreement_version || recipients (u32 n || 6 x u64) || room_key.
 */
export function roomKeySigned(roomId, epoch, recipientId, committerId, agreementVersion, roomKey, recipients) {
  return concat(label('ementor room key v2'), u64(roomId), u64(epoch), u64(recipientId), u64(committerId),
    u32(agreementVersion), recipientList(recipients), roomKey);
}

export const SEALED_KEY_BYTES = 208;

/**
 * One envelope: crypto_box_seal(u64 committer_id || u32 agreement_version ||
 * recipients || room_key || key_sig, recipient box_pk): 208 bytes. `recipients`
 * is every recipient of the epoch (default: just this one).
 */
export function sealRoomKey({ roomId, epoch, recipientId, recipientBoxPk, committerId, committerSignSk, agreementVersion, roomKey, recipients }) {
  if (!Number.isInteger(agreementVersion) || agreementVersion < 0) throw new Error(`agreementVersion ${agreementVersion}`);
  const list = recipients ?? [recipientId];
  if (!list.includes(recipientId)) throw new Error(`recipient ${recipientId} is not in the list`);
  const keySig = sodium.crypto_sign_detached(
    roomKeySigned(roomId, epoch, recipientId, committerId, agreementVersion, roomKey, list), committerSignSk);
  const sealed = sodium.crypto_box_seal(
    concat(u64(committerId), u32(agreementVersion), recipientList(list), roomKey, keySig), recipientBoxPk);
  if (sealed.length !== SEALED_KEY_BYTES) throw new Error(`sealed envelope is ${sealed.length} bytes, not ${SEALED_KEY_BYTES}`);
  return sealed;
}

/**
 * Opens an envelope sealed to me and checks it: the committer and the
 * agreement version inside must be the ones the server lists with it
 * (committerId, agreementVersion), the recipient list must be 1..6 ascending
 * ids with me among them, and key_sig must verify with the committer's
 * pinned sign_pk. Returns {roomKey, committerId, agreementVersion,
 * recipients}; throws CryptoError otherwise.
 */
export function openRoomKey({ sealed, roomId, epoch, myId, myBoxPk, myBoxSk, committerId, agreementVersion, committerSignPk }) {
  let plain;
  try {
    plain = sodium.crypto_box_seal_open(sealed, myBoxPk, myBoxSk);
  } catch (e) {
    throw new CryptoError('seal_open', `room ${roomId} epoch ${epoch}: the envelope does not open`);
  }
  const listBytes = 4 + 8 * KEY_RECIPIENTS_MAX;
  if (plain.length !== 8 + 4 + listBytes + 32 + 64) throw new CryptoError('bad_envelope', `opened envelope is ${plain.length} bytes`);
  const view = new DataView(plain.buffer, plain.byteOffset, plain.length);
  const innerCommitter = readU64(plain, 0);
  const innerVersion = view.getUint32(8, false);
  const n = view.getUint32(12, false);
  const recipients = [];
  for (let i = 0; i < KEY_RECIPIENTS_MAX; i++) {
    const id = readU64(plain, 16 + 8 * i);
    if (i < n) recipients.push(id);
    else if (id !== 0) throw new CryptoError('bad_envelope', `recipient slot ${i} is not zero`);
  }
  if (n < 1 || n > KEY_RECIPIENTS_MAX || recipients.some((id, i) => id < 1 || (i && id <= recipients[i - 1]))) {
    throw new CryptoError('bad_envelope', `room ${roomId} epoch ${epoch}: a malformed recipient list`);
  }
  if (!recipients.includes(myId)) throw new CryptoError('bad_envelope', `room ${roomId} epoch ${epoch}: I am not among its recipients`);
  if (committerId !== undefined && innerCommitter !== committerId) {
    throw new CryptoError('bad_envelope', `committer ${innerCommitter} inside, ${committerId} outside`);
  }
  if (agreementVersion !== undefined && innerVersion !== agreementVersion) {
    throw new CryptoError('bad_envelope',
      `room ${roomId} epoch ${epoch}: agreement version ${innerVersion} inside, ${agreementVersion} listed by the server`);
  }
  const roomKey = plain.slice(16 + listBytes - 4, 16 + listBytes - 4 + 32);
  const keySig = plain.slice(16 + listBytes - 4 + 32, 16 + listBytes - 4 + 96);
  const ok = sodium.crypto_sign_verify_detached(
    keySig, roomKeySigned(roomId, epoch, myId, innerCommitter, innerVersion, roomKey, recipients), committerSignPk);
  if (!ok) throw new CryptoError('bad_key_signature', `room ${roomId} epoch ${epoch}: key_sig does not verify`);
  return { roomKey, committerId: innerCommitter, agreementVersion: innerVersion, recipients };
}

/**
 * The bytes signed by an epoch commit; envelopes: [{recipient_id, sealed: Uint8Array}]:
 * label || u64 room_id || u64 epoch || u64 committer_id || u32 agreement_version
 * || u32 n || per envelope in ascending recipient_id: u64 recipient_id || BLAKE2b-256(sealed).
 */
export function commitSigned(roomId, epoch, committerId, agreementVersion, envelopes) {
  if (!Number.isInteger(agreementVersion) || agreementVersion < 0) throw new Error(`agreementVersion ${agreementVersion}`);
  const sorted = [...envelopes].sort((a, b) => a.recipient_id - b.recipient_id);
  const parts = [label('ementor epoch commit v2'), u64(roomId), u64(epoch), u64(committerId), u32(agreementVersion),
    u32(sorted.length)];
  for (const e of sorted) parts.push(u64(e.recipient_id), sodium.crypto_generichash(32, e.sealed, null));
  return concat(...parts);
}

/**
 * The agreement_version an epoch.commit must name, from agreement.show's
 * answer: the active version where the programme requires agreements (0
 * while none is active), 0 where it does without.
 */
export function commitVersion(agreement) {
  return agreement.required ? (agreement.active?.version ?? 0) : 0;
}

/** ad of a message. */
export function messageAd(roomId, epoch, senderId, clientMsgId) {
  return concat(label('ementor message v2'), u64(roomId), u64(epoch), u64(senderId), clientMsgId);
}

/** The bytes a message signature covers: ad || u32 len(ciphertext) || ciphertext. */
export function messageSigned(ad, ciphertext) {
  return concat(ad, u32(ciphertext.length), ciphertext);
}

export const MAX_TEXT_BYTES = 16384;
export const DEVICE_BYTES = 8;
/** device(8) || u64 counter || u64 written_ms: what precedes the text in a message body. */
export const META_BYTES = DEVICE_BYTES + 8 + 8;

/**
 * {clientMsgId, ciphertext, sig} (all bytes) for text, exactly as section 5.1
 * says: the padded body is device || u64 counter || u64 written_ms || UTF-8
 * text. device (8 bytes) is the sending device's id, counter this device's
 * number for the message in the room (from 1; a resend keeps it), writtenMs
 * the sender's clock in Unix milliseconds (default: now). nonce: 24 random
 * bytes unless given (the conformance vectors give one).
 */
export function encryptMessage({ roomId, epoch, senderId, signSk, roomKey, text, clientMsgId, device, counter, writtenMs = Date.now(), nonce }) {
  const utf8 = enc.encode(text);
  if (utf8.length > MAX_TEXT_BYTES) throw new Error(`text is ${utf8.length} bytes, at most ${MAX_TEXT_BYTES}`);
  device ??= sodium.randombytes_buf(DEVICE_BYTES);
  counter ??= 1;
  if (device.length !== DEVICE_BYTES) throw new Error(`device is ${device.length} bytes, not ${DEVICE_BYTES}`);
  if (!Number.isSafeInteger(counter) || counter < 0) throw new Error(`counter ${counter}`);
  if (!Number.isSafeInteger(writtenMs) || writtenMs < 0) throw new Error(`writtenMs ${writtenMs}`);
  clientMsgId ??= sodium.randombytes_buf(16);
  const ad = messageAd(roomId, epoch, senderId, clientMsgId);
  const padded = sodium.pad(concat(device, u64(counter), u64(writtenMs), utf8), 256);
  nonce ??= sodium.randombytes_buf(24); // given only by the conformance vectors
  if (nonce.length !== 24) throw new Error(`nonce is ${nonce.length} bytes, not 24`);
  const ciphertext = concat(nonce, sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(padded, ad, null, nonce, roomKey));
  const sig = sodium.crypto_sign_detached(messageSigned(ad, ciphertext), signSk);
  return { clientMsgId, ciphertext, sig };
}

/** A v3 (franked) message's ad: as v2's under the label "ementor message v3" (section 5.1). */
export function messageAdV3(roomId, epoch, senderId, clientMsgId) {
  return concat(label('ementor message v3'), u64(roomId), u64(epoch), u64(senderId), clientMsgId);
}

/** A v3 message's franking commitment (sections 5.1 and 13): BLAKE2b-256 keyed with fk. */
export function frankCommitment(fk, device, counter, writtenMs, text) {
  return sodium.crypto_generichash(32, concat(label('ementor franking v1'), device, u64(counter), u64(writtenMs), enc.encode(text)), fk);
}

/**
 * What a reader of a concern report checks of one quoted v3 message, without the room key
 * (section 13): the sender's signature over the v3 ad and the exact ciphertext, then the
 * commitment the reported fk, device, counter, writtenMs and text make. Returns 'ok',
 * 'bad_signature', 'bad_commitment' or 'malformed' (shorter than any v3 message).
 */
export function verifyReported({ roomId, epoch, senderId, clientMsgId, ciphertext, sig, signPk, fk, device, counter, writtenMs, text }) {
  if (ciphertext.length < 32 + 24 + 256 + 16) return 'malformed';
  const ad = messageAdV3(roomId, epoch, senderId, clientMsgId);
  if (!sodium.crypto_sign_verify_detached(sig, messageSigned(ad, ciphertext), signPk)) return 'bad_signature';
  return sodium.memcmp(frankCommitment(fk, device, counter, writtenMs, text), ciphertext.subarray(0, 32)) ? 'ok' : 'bad_commitment';
}

/** The format whose signature verifies with the sender's pinned sign_pk: 3, 2, or 0 (neither). */
export function messageVersion(msg, senderSignPk) {
  const id = unb64(msg.client_msg_id);
  const ciphertext = unb64(msg.ciphertext);
  const sig = unb64(msg.sig);
  if (sodium.crypto_sign_verify_detached(sig, messageSigned(messageAdV3(msg.room_id, msg.epoch, msg.sender_id, id), ciphertext), senderSignPk)) return 3;
  if (sodium.crypto_sign_verify_detached(sig, messageSigned(messageAd(msg.room_id, msg.epoch, msg.sender_id, id), ciphertext), senderSignPk)) return 2;
  return 0;
}

/** Checks a Message's sig (v2 or v3) with the sender's pinned sign_pk; true or false. */
export function verifyMessage(msg, senderSignPk) {
  return messageVersion(msg, senderSignPk) !== 0;
}

/**
 * Verify first, then decrypt with the room key of msg.epoch, then unpad and
 * split the body. Returns {device (8 bytes), counter, written_ms, text};
 * throws CryptoError('bad_signature'|'decrypt'|'unpad'|'malformed').
 */
export function openMessage(msg, senderSignPk, roomKey) {
  const version = messageVersion(msg, senderSignPk);
  if (!version) {
    throw new CryptoError('bad_signature', `room ${msg.room_id} seq ${msg.seq}: the signature does not verify`);
  }
  const id = unb64(msg.client_msg_id);
  const ad = (version === 3 ? messageAdV3 : messageAd)(msg.room_id, msg.epoch, msg.sender_id, id);
  const whole = unb64(msg.ciphertext);
  // v3: commitment(32) || nonce || AEAD; the body starts with the franking key (32)
  const ciphertext = version === 3 ? whole.subarray(32) : whole;
  let padded;
  try {
    padded = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      null, ciphertext.subarray(24), ad, ciphertext.subarray(0, 24), roomKey);
  } catch (e) {
    throw new CryptoError('decrypt', `room ${msg.room_id} seq ${msg.seq}: does not decrypt`);
  }
  let body;
  try {
    body = sodium.unpad(padded, 256);
  } catch (e) {
    throw new CryptoError('unpad', `room ${msg.room_id} seq ${msg.seq}: bad padding`);
  }
  if (version === 3) {
    if (body.length < 32) throw new CryptoError('malformed', `room ${msg.room_id} seq ${msg.seq}: a body of ${body.length} bytes`);
    const fk = body.subarray(0, 32);
    body = body.subarray(32);
    const c = sodium.crypto_generichash(32, concat(label('ementor franking v1'), body), fk);
    if (!sodium.memcmp(c, whole.subarray(0, 32))) {
      throw new CryptoError('commitment', `room ${msg.room_id} seq ${msg.seq}: the franking commitment does not match`);
    }
  }
  if (body.length < META_BYTES || body.length - META_BYTES > MAX_TEXT_BYTES) {
    throw new CryptoError('malformed', `room ${msg.room_id} seq ${msg.seq}: a body of ${body.length} bytes`);
  }
  let counter;
  let writtenMs;
  let text;
  try {
    counter = readU64(body, DEVICE_BYTES);
    writtenMs = readU64(body, DEVICE_BYTES + 8);
    text = dec.decode(body.subarray(META_BYTES));
  } catch (e) {
    throw new CryptoError('malformed', `room ${msg.room_id} seq ${msg.seq}: ${e.message}`);
  }
  return { device: body.slice(0, DEVICE_BYTES), counter, written_ms: writtenMs, text };
}

/**
 * The bytes of a programme's settings signature (section 7):
 * label || u64 programme_id || u64 creator_user_id || one byte agreement_required.
 */
export function programmeSettingsBytes(programmeId, creatorId, agreementRequired) {
  return concat(label('ementor programme settings v1'), u64(programmeId), u64(creatorId),
    new Uint8Array([agreementRequired ? 1 : 0]));
}

/** The args of programme.settings, signed by the creating manager. */
export function programmeSettingsArgs(programmeId, creatorId, agreementRequired, signSk) {
  return {
    programme_id: programmeId, agreement_required: agreementRequired,
    signature: b64(sodium.crypto_sign_detached(programmeSettingsBytes(programmeId, creatorId, agreementRequired), signSk)),
  };
}

/**
 * Does a Programme object's settings_sig verify, by its creator (created_by)
 * with signPk, over its agreement_required? false when it has none.
 */
export function verifyProgrammeSettings(programme, creatorSignPk) {
  if (!programme.settings_sig || !Number.isSafeInteger(programme.created_by)) return false;
  const sig = unb64(programme.settings_sig);
  return sig.length === 64 && sodium.crypto_sign_verify_detached(sig,
    programmeSettingsBytes(programme.id, programme.created_by, programme.agreement_required), creatorSignPk);
}

/** Safety number of two users' keys (section 5.1), 12 groups of 5 digits. */
export function safetyNumber(a, b) {
  const h = (u) => sodium.crypto_generichash(32, concat(label('ementor safety v1'), u.signPk, u.boxPk), null);
  let [x, y] = [h(a), h(b)];
  if (Buffer.compare(Buffer.from(x), Buffer.from(y)) > 0) [x, y] = [y, x];
  const H = sodium.crypto_generichash(64, concat(x, y), null);
  const groups = [];
  for (let g = 0; g < 12; g++) {
    let v = 0;
    for (let i = 0; i < 5; i++) v = v * 256 + H[5 * g + i];
    groups.push(String(v % 100000).padStart(5, '0'));
  }
  return groups.join(' ');
}

// --- section 7.1 byte layouts (pure functions) -----------------------------

/** lp(x) = u32 length || x, x as UTF-8 bytes. */
export function lp(text) {
  const b = enc.encode(text);
  return concat(u32(b.length), b);
}

/** H(x) = BLAKE2b-256 (crypto_generichash, 32 bytes, no key); text is UTF-8 encoded. */
export function H(bytes) {
  return sodium.crypto_generichash(32, typeof bytes === 'string' ? enc.encode(bytes) : bytes, null);
}

function key32(b64text, what) {
  const k = unb64(b64text);
  if (k.length !== 32) throw new CryptoError('bad_key', `${what} is ${k.length} bytes, not 32`);
  return k;
}

/**
 * agreement_bytes of a Version object as agreement.show returns it:
 * label || u64 room_id || u32 version || lp(starts_on) || lp(ends_on) || H(terms)
 * || u32 n || per party in ascending user_id: u64 user_id || lp(role) || sign_pk || box_pk.
 */
export function agreementBytes(roomId, v) {
  const parties = [...v.parties].sort((a, b) => a.user_id - b.user_id);
  const parts = [label('ementor agreement v1'), u64(roomId), u32(v.version), lp(v.starts_on), lp(v.ends_on),
    H(v.terms), u32(parties.length)];
  for (const p of parties) {
    parts.push(u64(p.user_id), lp(p.role), key32(p.sign_pk, `party ${p.user_id} sign_pk`),
      key32(p.box_pk, `party ${p.user_id} box_pk`));
  }
  return concat(...parts);
}

/**
 * consent_bytes = label || sign_pk(32) || lp(purpose) || lp(subject)
 *                 || text_hash(32) || lp(action) || u64 at
 */
export function consentBytes({ signPk, purpose, subject, textHash, action, at }) {
  if (signPk.length !== 32) throw new Error('sign_pk must be 32 bytes');
  if (textHash.length !== 32) throw new Error('text_hash must be 32 bytes');
  return concat(label('ementor consent v1'), signPk, lp(purpose), lp(subject), textHash, lp(action), u64(at));
}

/** Unix seconds of the local clock (the `at` of a consent record). */
export function nowSeconds() {
  return Math.floor(Date.now() / 1000);
}

/**
 * The args of consent.grant / consent.withdraw (and the parts of the
 * register and agreement.sign args): {purpose, subject, text_hash, at, signature}.
 */
export function consentArgs({ signPk, signSk, purpose, subject, textHash, action, at = nowSeconds() }) {
  const signature = sodium.crypto_sign_detached(consentBytes({ signPk, purpose, subject, textHash, action, at }), signSk);
  return { purpose, subject, text_hash: b64(textHash), at, signature: b64(signature) };
}

/**
 * One link of the consent ledger's hash chain (section 7.1): BLAKE2b-256 of
 * label || prev_hash || u64 seq || u64 user_id || consent_bytes || signature
 * || u64 recorded_us. The server computes it; consent.list gives a client
 * entry_hash but neither prev_hash nor recorded_us, so a client cannot
 * recompute it (section 7.3): this is for whoever holds the ledger's rows.
 */
export function ledgerEntryHash({ prevHash, seq, userId, consentBytes: bytes, signature, recordedUs }) {
  if (prevHash.length !== 32) throw new Error('prev_hash must be 32 bytes');
  return sodium.crypto_generichash(32, concat(label('ementor ledger v1'), prevHash, u64(seq), u64(userId), bytes,
    signature, u64(recordedUs)), null);
}

/**
 * Checks a privacy.notice answer: text_hash must be H(text) (and the
 * share_progress hash H of its text), since what the user signs is the hash
 * of what they were shown. Returns the notice; throws CryptoError otherwise.
 */
export function checkNotice(notice) {
  if (!bytesEqual(H(notice.text), unb64(notice.text_hash))) {
    throw new CryptoError('text_hash', 'privacy.notice: text_hash is not H(text)');
  }
  if (notice.share_progress_text !== undefined &&
      !bytesEqual(H(notice.share_progress_text), unb64(notice.share_progress_hash))) {
    throw new CryptoError('text_hash', 'privacy.notice: share_progress_hash is not H(share_progress_text)');
  }
  return notice;
}

/** The register args of the data_processing grant: privacy_version, privacy_at, privacy_signature. */
export function privacyArgs({ signPk, signSk }, notice, at = nowSeconds()) {
  const c = consentArgs({
    signPk, signSk, purpose: 'data_processing', subject: notice.version, textHash: unb64(notice.text_hash), action: 'grant', at,
  });
  return { privacy_version: notice.version, privacy_at: at, privacy_signature: c.signature };
}

/**
 * The args of agreement.sign for Version v of a room: the signature over
 * agreement_bytes and the consent record (agreement, room:ID,
 * H(agreement_bytes), grant, at).
 */
export function agreementSignArgs(roomId, v, { signPk, signSk }, at = nowSeconds()) {
  const bytes = agreementBytes(roomId, v);
  const c = consentArgs({ signPk, signSk, purpose: 'agreement', subject: `room:${roomId}`, textHash: H(bytes), action: 'grant', at });
  return {
    room_id: roomId, version: v.version, signature: b64(sodium.crypto_sign_detached(bytes, signSk)),
    consent_at: at, consent_signature: c.signature,
  };
}

/**
 * Section 7.2: whom a commit may seal to. `agreement` is agreement.show's
 * answer, `room` room.show's, `pinned(id)` the keys pinned for a user
 * ({signPk, boxPk} or undefined). When the room's programme requires
 * agreements, every user of the server's roster must be a member, a party of
 * the active version with the keys we pinned, not withdrawn, and their
 * signature must verify over agreement_bytes built from the version as shown.
 * Returns the recipients (Member objects, ascending id); throws CryptoError
 * naming the first roster entry that fails: then do not commit.
 */
export function rosterRecipients(roomId, agreement, room, pinned) {
  const members = new Map(room.members.map((m) => [m.id, m]));
  const out = [];
  for (const id of agreement.roster) {
    const m = members.get(id);
    if (!m) throw new CryptoError('roster_check', `roster user ${id} is not a member of room ${roomId}`);
    out.push(m);
  }
  if (!agreement.required) return out.sort((a, b) => a.id - b.id); // no rule: every member is on the roster
  const v = agreement.active;
  if (!v && out.length) throw new CryptoError('roster_check', `room ${roomId} has a roster but no active agreement`);
  const bytes = v ? agreementBytes(roomId, v) : null;
  for (const m of out) {
    const p = v.parties.find((x) => x.user_id === m.id);
    if (!p) throw new CryptoError('roster_check', `${m.username} is not a party of version ${v.version}`);
    const pin = pinned(m.id);
    if (!pin) throw new CryptoError('roster_check', `no pinned keys for ${m.username}`);
    if (!bytesEqual(unb64(p.sign_pk), pin.signPk) || !bytesEqual(unb64(p.box_pk), pin.boxPk)) {
      throw new CryptoError('roster_check', `${m.username}'s keys in version ${v.version} are not the pinned ones`);
    }
    if (p.withdrawn_at) throw new CryptoError('roster_check', `${m.username} withdrew from version ${v.version}`);
    if (!p.signature) throw new CryptoError('roster_check', `${m.username} has not signed version ${v.version}`);
    const sig = unb64(p.signature);
    if (sig.length !== 64 || !sodium.crypto_sign_verify_detached(sig, bytes, pin.signPk)) {
      throw new CryptoError('roster_check', `${m.username}'s signature on version ${v.version} does not verify`);
    }
  }
  return out.sort((a, b) => a.id - b.id);
}

// --- the client ----------------------------------------------------------

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * One logged-in (or not yet) connection to ementord, with the keys and the
 * per-room state of its user.
 */
export class Client {
  /** Opens wss://… with subprotocol ementor.v1; `ca` is PEM text/Buffer or a file name. */
  static async connect({ url, ca, origin, timeoutMs = DEFAULT_TIMEOUT_MS } = {}) {
    if (!sodium) await ready();
    url ??= process.env.EMENTOR_URL;
    ca ??= process.env.EMENTOR_CA;
    if (typeof ca === 'string' && !ca.includes('-----BEGIN')) ca = readFileSync(ca);
    const opts = { perMessageDeflate: false, handshakeTimeout: timeoutMs };
    if (ca) opts.ca = ca;
    if (origin) opts.origin = origin;
    const ws = new WebSocket(url, [SUBPROTOCOL], opts);
    const client = new Client(ws, timeoutMs);
    await withTimeout(new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', (req, res) => {
        reject(new Error(`handshake refused with HTTP ${res.statusCode}`));
        req.destroy();
      });
      ws.once('error', reject);
    }), timeoutMs + 1000, 'the WebSocket handshake');
    if (ws.protocol !== SUBPROTOCOL) throw new Error(`server chose subprotocol '${ws.protocol}'`);
    return client;
  }

  constructor(ws, timeoutMs) {
    this.ws = ws;
    this.timeoutMs = timeoutMs;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, op}
    this.events = []; // events not yet taken by nextEvent()
    this.listeners = new Map(); // ev -> [fn]
    this.notify = []; // waiters woken by any frame or state change
    this.closed = null;
    this.strays = []; // replies to no pending request (must stay empty)
    // account
    this.user = null; // User object of the server
    this.keys = null; // {signPk, signSk, boxPk, boxSk}
    this.token = null;
    // pinned public keys: user id -> {username, signPk, boxPk}
    this.pins = new Map();
    // rooms: id -> {cursor, messages: Map seq -> Message, pending: Map, keys: Map epoch -> key, epoch}
    this.rooms = new Map();
    // this client instance is one device: its id goes into every message it writes
    this.device = sodium.randombytes_buf(DEVICE_BYTES);
    this.syncedRooms = null; // data of the last `synced` event
    this.errors = []; // background failures (gap fill, epoch events)

    ws.on('message', (data, isBinary) => this._onFrame(data, isBinary));
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString('utf8') };
      for (const p of this.pending.values()) p.reject(new Error(`connection closed (${code}) before the reply to ${p.op}`));
      this.pending.clear();
      this._wake();
    });
    ws.on('error', (err) => this.errors.push(err));
  }

  _wake() {
    const n = this.notify;
    this.notify = [];
    for (const w of n) w();
  }

  _onFrame(data, isBinary) {
    let frame;
    try {
      frame = JSON.parse(data.toString('utf8'));
    } catch (e) {
      this.errors.push(new Error(`unparsable frame from the server${isBinary ? ' (binary)' : ''}`));
      return;
    }
    if (frame && Object.prototype.hasOwnProperty.call(frame, 're')) {
      const p = this.pending.get(frame.re);
      if (!p) {
        this.strays.push(frame);
      } else {
        this.pending.delete(frame.re);
        if (frame.error) p.reject(new ProtocolError(p.op, frame.error));
        else p.resolve(frame.ok);
      }
    } else if (frame && typeof frame.ev === 'string') {
      this._onEvent(frame.ev, frame.data);
    } else {
      this.errors.push(new Error(`frame that is neither reply nor event: ${JSON.stringify(frame)}`));
    }
    this._wake();
  }

  _onEvent(ev, data) {
    try {
      if (ev === 'message') this._ingest(data);
      else if (ev === 'synced') this.syncedRooms = data.rooms;
      else if (ev === 'epoch') this._onEpochEvent(data);
      else if (ev === 'room') this._room(data.room_id).refresh = true; // membership changed: rotation may be due
    } catch (e) {
      this.errors.push(e);
    }
    this.events.push({ ev, data });
    for (const fn of this.listeners.get(ev) ?? []) fn(data);
  }

  /** Calls fn(data) for every event `ev` from now on. */
  on(ev, fn) {
    if (!this.listeners.has(ev)) this.listeners.set(ev, []);
    this.listeners.get(ev).push(fn);
  }

  /** Resolves when check() returns a truthy value (re-checked at every frame). */
  async waitUntil(check, ms = this.timeoutMs, what = 'a condition') {
    const loop = async () => {
      for (;;) {
        const v = check();
        if (v) return v;
        if (this.closed) throw new Error(`connection closed (${this.closed.code}) while waiting for ${what}`);
        await new Promise((r) => this.notify.push(r));
      }
    };
    return withTimeout(loop(), ms, what);
  }

  /** Takes (removes from the queue) the next event named ev matching pred. */
  async nextEvent(ev, pred = () => true, ms = this.timeoutMs) {
    return this.waitUntil(() => {
      const i = this.events.findIndex((e) => e.ev === ev && pred(e.data));
      return i >= 0 ? this.events.splice(i, 1)[0].data : undefined;
    }, ms, `a ${ev} event`);
  }

  /** Sends a request; resolves with `ok`, rejects with ProtocolError. */
  request(op, args, ms = this.timeoutMs) {
    if (this.closed) return Promise.reject(new Error(`connection closed (${this.closed.code})`));
    const id = this.nextId++;
    const frame = { id, op };
    if (args !== undefined) frame.args = args;
    const p = new Promise((resolve, reject) => this.pending.set(id, { resolve, reject, op }));
    this.ws.send(JSON.stringify(frame));
    return withTimeout(p, ms, `the reply to ${op}`);
  }

  /** The section 3 error code of a request that must fail (or throws if it succeeds). */
  async errorCode(op, args) {
    try {
      await this.request(op, args);
    } catch (e) {
      if (e instanceof ProtocolError) return e.code;
      throw e;
    }
    throw new Error(`${op} succeeded but was expected to fail`);
  }

  close() {
    if (!this.closed) this.ws.close(1000);
  }

  // --- accounts ----------------------------------------------------------

  /**
   * Makes keys for a new account and registers it with `invite`. Argon2id
   * runs before the request (slow, but short of the 10 s auth deadline with
   * the interactive parameters). Returns {user, programme_id, password}.
   */
  async register({ invite, username, password, displayName = username, opslimit = KDF.opslimit, memlimit = KDF.memlimit }) {
    const { args, sign, box } = registrationArgs({ invite, username, password, displayName, opslimit, memlimit });
    // the data-processing consent (section 7): over the notice as shown
    const notice = await this.privacyNotice();
    Object.assign(args, privacyArgs({ signPk: sign.publicKey, signSk: sign.privateKey }, notice));
    const r = await this.request('register', args);
    if (r.user.fingerprint !== fingerprint(sign.publicKey, box.publicKey)) {
      throw new CryptoError('fingerprint', `server fingerprint ${r.user.fingerprint} is not ours`);
    }
    return r;
  }

  /** privacy.notice (before login), its hashes checked against its texts. */
  async privacyNotice() {
    return checkNotice(await this.request('privacy.notice', {}));
  }

  /** prelogin + Argon2id + login + unwrap the key backup. Returns the login result. */
  async login(username, password) {
    const pre = await this.request('prelogin', { username });
    if (pre.alg !== 'argon2id13') throw new Error(`unknown KDF ${pre.alg}`);
    const { authKey, wrapKey } = deriveKeys(password, unb64(pre.salt), pre.opslimit, pre.memlimit);
    const r = await this.request('login', { username, auth_key: b64(authKey) });
    const { signSk, boxSk } = unwrapKeys(unb64(r.key_backup), wrapKey, r.user.username);
    const signPk = unb64(r.user.sign_pk);
    const boxPk = unb64(r.user.box_pk);
    // the unwrapped private keys must belong to the public keys the server has
    if (!bytesEqual(sodium.crypto_sign_ed25519_sk_to_pk(signSk), signPk) ||
        !bytesEqual(sodium.crypto_scalarmult_base(boxSk), boxPk)) {
      throw new CryptoError('key_mismatch', 'the key backup does not match the account public keys');
    }
    this.user = r.user;
    this.token = r.token;
    this.keys = { signPk, signSk: new Uint8Array(signSk), boxPk, boxSk: new Uint8Array(boxSk) };
    this.pin(r.user);
    return r;
  }

  get id() {
    return this.user?.id;
  }

  // --- pinned keys -------------------------------------------------------

  /** Pins a User's public keys on first sight; throws if they changed. */
  pin(u) {
    const signPk = unb64(u.sign_pk);
    const boxPk = unb64(u.box_pk);
    if (u.fingerprint !== undefined && u.fingerprint !== fingerprint(signPk, boxPk)) {
      throw new CryptoError('fingerprint', `${u.username}: fingerprint does not match the keys`);
    }
    const old = this.pins.get(u.id);
    if (old) {
      if (!bytesEqual(old.signPk, signPk) || !bytesEqual(old.boxPk, boxPk)) {
        throw new CryptoError('key_changed', `${u.username}'s keys changed since they were pinned`);
      }
      return old;
    }
    const p = { username: u.username, signPk, boxPk };
    this.pins.set(u.id, p);
    return p;
  }

  _room(roomId) {
    let st = this.rooms.get(roomId);
    if (!st) {
      st = {
        cursor: 0, messages: new Map(), pending: new Map(), keys: new Map(), versions: new Map(), epoch: undefined, filling: null,
        counter: 0, // the last message counter this device used in the room
      };
      this.rooms.set(roomId, st);
    }
    return st;
  }

  // --- rooms and keys ----------------------------------------------------

  /** room.show, pinning the keys of members and former members. */
  async roomShow(roomId) {
    const { room } = await this.request('room.show', { room_id: roomId });
    for (const m of room.members ?? []) this.pin(m);
    for (const m of room.former_members ?? []) this.pin(m);
    if (this.user) this._room(roomId).epoch = room.epoch;
    return room;
  }

  async _pinned(userId, roomId) {
    if (!this.pins.has(userId)) await this.roomShow(roomId);
    const p = this.pins.get(userId);
    if (!p) throw new CryptoError('unknown_key', `no pinned key for user ${userId} in room ${roomId}`);
    return p;
  }

  /**
   * Opens an envelope (of keys.get or an `epoch` event) and checks it against
   * what the server lists with it: committer, agreement version, key_sig.
   */
  _openEnvelope(roomId, epoch, committerId, agreementVersion, sealedB64) {
    const committer = this.pins.get(committerId);
    if (!committer) throw new CryptoError('unknown_key', `no pinned key for committer ${committerId}`);
    if (!Number.isInteger(agreementVersion)) {
      throw new CryptoError('bad_envelope', `room ${roomId} epoch ${epoch}: the server lists no agreement_version`);
    }
    const { roomKey } = openRoomKey({
      sealed: unb64(sealedB64), roomId, epoch, myId: this.id, myBoxPk: this.keys.boxPk, myBoxSk: this.keys.boxSk,
      committerId, agreementVersion, committerSignPk: committer.signPk,
    });
    const st = this._room(roomId);
    st.keys.set(epoch, roomKey);
    st.versions.set(epoch, agreementVersion);
    return roomKey;
  }

  /** keys.get: opens and verifies every envelope sealed to me. Returns the current epoch. */
  async fetchKeys(roomId) {
    const r = await this.request('keys.get', { room_id: roomId });
    for (const e of r.envelopes) {
      if (!this.pins.has(e.committer_id)) await this.roomShow(roomId);
      this._openEnvelope(roomId, e.epoch, e.committer_id, e.agreement_version, e.sealed);
    }
    this._room(roomId).epoch = r.epoch;
    return r;
  }

  _onEpochEvent(d) {
    // Open at once when the committer is pinned, else after a room.show.
    const go = async () => {
      if (!this.pins.has(d.committer_id)) await this.roomShow(d.room_id);
      this._openEnvelope(d.room_id, d.epoch, d.committer_id, d.agreement_version, d.sealed);
      const st = this._room(d.room_id);
      if (st.epoch === undefined || st.epoch < d.epoch) st.epoch = d.epoch;
      this._wake();
    };
    go().catch((e) => this.errors.push(e));
  }

  async roomKey(roomId, epoch) {
    const st = this._room(roomId);
    if (!st.keys.has(epoch)) await this.fetchKeys(roomId);
    const k = st.keys.get(epoch);
    if (!k) throw new CryptoError('no_key', `no key for room ${roomId} epoch ${epoch}`);
    return k;
  }

  /**
   * Rotates: a fresh room key sealed to every roster member (me included; 7.2)
   * under the agreement version in force, the commit signed, `epoch.commit`
   * with epoch = current + 1. Retries from room.show on stale_epoch and
   * stale_version (the agreement changed meanwhile). Returns the new epoch.
   */
  async commitEpoch(roomId, { tries = 5, room } = {}) {
    for (let attempt = 0; ; attempt++) {
      room ??= await this.roomShow(roomId);
      const epoch = room.epoch + 1;
      const roomKey = sodium.randombytes_buf(32);
      // 7.2: seal only to roster members whose signature verifies with our pins
      const agreement = await this.agreementShow(roomId);
      const recipients = rosterRecipients(roomId, agreement, room, (id) => this.pins.get(id));
      const agreementVersion = commitVersion(agreement);
      const ids = recipients.map((m) => m.id);
      const envelopes = recipients.map((m) => ({
        recipient_id: m.id,
        sealed: sealRoomKey({
          roomId, epoch, recipientId: m.id, recipientBoxPk: this.pins.get(m.id).boxPk,
          committerId: this.id, committerSignSk: this.keys.signSk, agreementVersion, roomKey,
          recipients: ids,
        }),
      })).sort((a, b) => a.recipient_id - b.recipient_id);
      const sig = sodium.crypto_sign_detached(commitSigned(roomId, epoch, this.id, agreementVersion, envelopes), this.keys.signSk);
      try {
        const r = await this.request('epoch.commit', {
          room_id: roomId, epoch, agreement_version: agreementVersion,
          envelopes: envelopes.map((e) => ({ recipient_id: e.recipient_id, sealed: b64(e.sealed) })),
          sig: b64(sig),
        });
        const st = this._room(roomId);
        st.keys.set(r.epoch, roomKey);
        st.versions.set(r.epoch, agreementVersion);
        st.epoch = r.epoch;
        return r.epoch;
      } catch (e) {
        if ((e.code === 'stale_epoch' || e.code === 'stale_version') && attempt + 1 < tries) {
          room = undefined;
          continue;
        }
        throw e;
      }
    }
  }

  /** Makes sure the room can take a message: rotates when room.show says so. Returns the epoch. */
  async ensureEpoch(roomId) {
    const room = await this.roomShow(roomId);
    if (room.rotate_required) return this.commitEpoch(roomId, { room });
    await this.roomKey(roomId, room.epoch);
    return room.epoch;
  }

  // --- agreements and consent (section 7) --------------------------------

  /**
   * agreement.show (with `version`: that version of the room's agreement too,
   * as the reply's `version`), pinning the keys of every party listed (first
   * sight) or checking them.
   */
  async agreementShow(roomId, { version } = {}) {
    const args = { room_id: roomId };
    if (version !== undefined) args.version = version;
    const a = await this.request('agreement.show', args);
    for (const v of [a.active, a.pending, a.version]) {
      for (const p of v?.parties ?? []) this.pin({ id: p.user_id, username: p.username, sign_pk: p.sign_pk, box_pk: p.box_pk });
    }
    return a;
  }

  /**
   * Signs a version of the room's agreement (the pending one by default, else
   * the active one: re-joining after a withdrawal) with agreement.sign.
   * Refuses to sign a version that lists other keys for me than mine.
   * Returns the reply's `agreement`.
   */
  async signAgreement(roomId, { version, at } = {}) {
    const a = await this.agreementShow(roomId);
    const v = version === undefined ? (a.pending ?? a.active) : [a.pending, a.active].find((x) => x?.version === version);
    if (!v) throw new Error(`room ${roomId} has no agreement version ${version ?? 'to sign'}`);
    const me = v.parties.find((p) => p.user_id === this.id);
    if (me && (!bytesEqual(unb64(me.sign_pk), this.keys.signPk) || !bytesEqual(unb64(me.box_pk), this.keys.boxPk))) {
      throw new CryptoError('key_mismatch', `version ${v.version} lists other keys for me than mine`);
    }
    const r = await this.request('agreement.sign', agreementSignArgs(roomId, v, this.keys, at));
    return r.agreement;
  }

  /** A consent.grant / consent.withdraw request signed with my key; returns the Entry. */
  async consent(op, { purpose, subject, textHash, at }) {
    const action = op === 'consent.grant' ? 'grant' : 'withdraw';
    const r = await this.request(op, consentArgs({ ...this.keys, purpose, subject, textHash, action, at }));
    return r.entry;
  }

  /** Withdraws my agreement consent for a room (over H(agreement_bytes) of the active version). */
  async withdrawAgreement(roomId) {
    const a = await this.agreementShow(roomId);
    if (!a.active) throw new Error(`room ${roomId} has no active agreement`);
    return this.consent('consent.withdraw', {
      purpose: 'agreement', subject: `room:${roomId}`, textHash: H(agreementBytes(roomId, a.active)),
    });
  }

  /** Section 7.2 for a room.show answer: the members a commit may seal to (throws CryptoError). */
  async rosterFor(roomId, room) {
    const agreement = await this.agreementShow(roomId);
    return rosterRecipients(roomId, agreement, room, (id) => this.pins.get(id));
  }

  // --- messages ----------------------------------------------------------

  /**
   * What this device signs about its next message in a room: {counter,
   * writtenMs}, the counter one more than the last one it used there.
   */
  nextMeta(roomId) {
    const st = this._room(roomId);
    st.counter += 1;
    return { counter: st.counter, writtenMs: Date.now() };
  }

  /**
   * The args of `send` for text at the given epoch (bytes → base64url). meta
   * ({counter, writtenMs}) is the one of the message being sent again, else
   * the room's next (nextMeta).
   */
  async sealMessage(roomId, epoch, text, clientMsgId, meta) {
    const roomKey = await this.roomKey(roomId, epoch);
    meta ??= this.nextMeta(roomId);
    const m = encryptMessage({
      roomId, epoch, senderId: this.id, signSk: this.keys.signSk, roomKey, text, clientMsgId,
      device: this.device, counter: meta.counter, writtenMs: meta.writtenMs,
    });
    return { room_id: roomId, epoch, client_msg_id: b64(m.clientMsgId), ciphertext: b64(m.ciphertext), sig: b64(m.sig) };
  }

  /**
   * Encrypts, signs and sends text. On stale_epoch refreshes keys and
   * re-encrypts; on rotate_required rotates first; every attempt keeps the
   * message's client_msg_id and counter. Returns the reply {seq, sent_at,
   * duplicate} plus the args sent and the meta ({counter, writtenMs}) signed.
   */
  async sendText(roomId, text, { tries = 4 } = {}) {
    const st = this._room(roomId);
    let epoch = st.epoch;
    if (epoch === undefined || st.refresh || !st.keys.has(epoch)) {
      st.refresh = false;
      epoch = await this.ensureEpoch(roomId);
    }
    const clientMsgId = sodium.randombytes_buf(16);
    const meta = this.nextMeta(roomId);
    for (let attempt = 0; ; attempt++) {
      const args = await this.sealMessage(roomId, epoch, text, clientMsgId, meta);
      try {
        const r = await this.request('send', args);
        return { ...r, args, meta };
      } catch (e) {
        if (attempt + 1 >= tries) throw e;
        if (e.code === 'rotate_required') epoch = await this.commitEpoch(roomId);
        else if (e.code === 'stale_epoch') {
          await this.fetchKeys(roomId);
          epoch = await this.ensureEpoch(roomId);
        } else throw e;
      }
    }
  }

  /**
   * Verifies and decrypts a Message; returns {device, counter, written_ms,
   * text} (throws CryptoError).
   */
  async open(msg) {
    const sender = await this._pinned(msg.sender_id, msg.room_id);
    if (sender.username !== msg.sender) {
      throw new CryptoError('sender_mismatch', `sender ${msg.sender} is user ${msg.sender_id}, pinned as ${sender.username}`);
    }
    // verify first (section 5.1), before even fetching the room key
    if (!verifyMessage(msg, sender.signPk)) {
      throw new CryptoError('bad_signature', `room ${msg.room_id} seq ${msg.seq}: the signature does not verify`);
    }
    const roomKey = await this.roomKey(msg.room_id, msg.epoch);
    return openMessage(msg, sender.signPk, roomKey);
  }

  /** Per-room state on a Message (replayed, live or from history): drop dups, detect gaps. */
  _ingest(m) {
    const st = this._room(m.room_id);
    if (m.seq <= st.cursor || st.pending.has(m.seq)) return false;
    st.pending.set(m.seq, m);
    while (st.pending.has(st.cursor + 1)) {
      const next = st.pending.get(st.cursor + 1);
      st.pending.delete(st.cursor + 1);
      st.messages.set(next.seq, next);
      st.cursor++;
    }
    if (st.pending.size > 0 && !st.filling) {
      st.filling = this._fillGap(m.room_id).catch((e) => this.errors.push(e)).finally(() => {
        st.filling = null;
        this._wake();
      });
    }
    return true;
  }

  /** A gap: fetch the missing range with history; never skip. */
  async _fillGap(roomId) {
    const st = this._room(roomId);
    st.gapFills = (st.gapFills ?? 0) + 1;
    while (st.pending.size > 0) {
      const before = st.cursor;
      const h = await this.request('history', { room_id: roomId, after_seq: st.cursor, limit: 500 });
      for (const m of h.messages) this._ingest(m);
      if (st.cursor === before) throw new Error(`history after ${before} in room ${roomId} did not fill the gap`);
    }
  }

  /**
   * `sync` with cursors from local state (or given). Resolves with the reply
   * after the `synced` event, i.e. once the replay is in.
   */
  async sync(cursors) {
    cursors ??= [...this.rooms].filter(([, st]) => st.cursor > 0).map(([room_id, st]) => ({ room_id, seq: st.cursor }));
    this.syncedRooms = null;
    const r = await this.request('sync', cursors.length ? { cursors } : {});
    for (const room of r.rooms) {
      const st = this._room(room.room_id);
      if (st.epoch === undefined || st.epoch < room.epoch) st.epoch = room.epoch;
    }
    const synced = await this.waitUntil(() => this.syncedRooms, this.timeoutMs, 'the synced event');
    // once synced, every room is complete up to its last_seq
    await this.waitUntil(() => synced.every((s) => this._room(s.room_id).cursor >= s.last_seq && !this._room(s.room_id).filling),
      this.timeoutMs, 'the replay to be complete');
    return { ...r, synced };
  }

  /** Messages of a room held locally, ascending. */
  messages(roomId) {
    return [...this._room(roomId).messages.values()];
  }

  /** Waits for a message of room with seq >= seq in local state. */
  waitMessage(roomId, seq, ms = this.timeoutMs) {
    return this.waitUntil(() => this._room(roomId).messages.get(seq), ms, `message ${seq} of room ${roomId}`);
  }

  history(roomId, afterSeq = 0, limit) {
    const args = { room_id: roomId, after_seq: afterSeq };
    if (limit !== undefined) args.limit = limit;
    return this.request('history', args);
  }

  receipt(roomId, seq) {
    return this.request('receipt', { room_id: roomId, seq });
  }

  typing(roomId) {
    return this.request('typing', { room_id: roomId });
  }
}

/**
 * Keys, backup and the register args of section 4 (without the privacy
 * consent, which needs the notice): {args, sign, box, authKey, wrapKey}.
 * Slow: runs Argon2id.
 */
export function registrationArgs({ invite, username, password, displayName = username, opslimit = KDF.opslimit, memlimit = KDF.memlimit }) {
  const salt = sodium.randombytes_buf(16);
  const { authKey, wrapKey } = deriveKeys(password, salt, opslimit, memlimit);
  const sign = sodium.crypto_sign_keypair();
  const box = sodium.crypto_box_keypair();
  const backup = wrapKeys(sign, box, wrapKey, username);
  if (backup.length !== 136) throw new Error(`key_backup is ${backup.length} bytes`);
  const args = {
    invite, username, display_name: displayName, salt: b64(salt), opslimit, memlimit,
    auth_key: b64(authKey), sign_pk: b64(sign.publicKey), box_pk: b64(box.publicKey), key_backup: b64(backup),
  };
  return { args, sign, box, authKey, wrapKey };
}

/**
 * For tests that hold every account's password: signs the room's pending
 * agreement version (or the active one where someone has not signed it) as
 * every party that has not signed yet, logging in as each one unless
 * `logins` (username -> Client) already has them. Does nothing when the
 * programme does not require agreements. Returns agreement.show afterwards.
 */
export async function signAsEveryParty(viewer, roomId, password, logins = {}) {
  const a = await viewer.agreementShow(roomId);
  if (!a.required) return a;
  const v = a.pending ?? a.active;
  for (const p of v?.parties ?? []) {
    if (p.signature && !p.withdrawn_at) continue;
    let c = logins[p.username];
    let mine = false;
    if (!c) {
      c = await loginClient(p.username, password);
      mine = true;
    }
    try {
      await c.signAgreement(roomId, { version: v.version });
    } finally {
      if (mine) c.close();
    }
  }
  return viewer.agreementShow(roomId);
}

/** Connects and logs in; returns the Client. */
export async function loginClient(username, password, opts) {
  const c = await Client.connect(opts);
  await c.login(username, password);
  return c;
}
