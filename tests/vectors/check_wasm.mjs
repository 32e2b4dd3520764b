// check_wasm.mjs - checks the WebAssembly client core (web/core/ementor-core.mjs
// and the module scripts/wasm builds) against the conformance vectors, under
// Node (18 and later).
//
// Every output comes from the core's own functions (passwordBytes,
// deriveAccountKeys, wrapKeys/unwrapKeys, fingerprint, safetyNumber,
// openRoomKey/verifyRoomKey, commitBytes/signCommit, encryptMessage/
// decryptMessage, encryptMessageV3/verifyFranked, agreementBytes/signAgreement, consentBytes/signConsent,
// signProgramme/verifyProgramme, b64Encode/b64Decode). Random inputs the file
// gives (backup and message nonces) are handed to the module through its
// random source while the case runs: the module draws one 32-bit value per
// byte of randombytes_buf() and keeps the low byte. Sealed boxes are opened.
// The core has no function for the consent ledger's chain (a server's
// computation, which clients cannot check: PROTOCOL.md 7.3), nor for the few
// intermediate bytes it builds without handing them out (a backup's ad, what a
// room key signature covers, a programme's settings bytes): the native and
// JavaScript checkers check those.
//
// Usage: node check_wasm.mjs DIST FILE [SECTION]   (DIST: build-wasm/core/dist)

import { argv, exit } from 'node:process';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { webcrypto } from 'node:crypto';
import { runChecks, equalBytes, passwordText, caseNamed } from './common.mjs';

if (argv.length < 4 || argv.length > 5) {
  console.error('usage: node check_wasm.mjs DIST FILE [SECTION]');
  exit(2);
}
const core = await import(pathToFileURL(join(resolve(argv[2]), 'ementor-core.mjs')).href);

// The random source: the system's, or while a case runs, the case's nonce.
const feed = { bytes: null, used: 0, overdrawn: false };
const one = new Uint32Array(1);
function getRandomValue() {
  if (!feed.bytes) {
    webcrypto.getRandomValues(one);
    return one[0] >>> 0;
  }
  if (feed.used >= feed.bytes.length) {
    feed.overdrawn = true;
    return 0;
  }
  return feed.bytes[feed.used++];
}
function withFeed(bytes, fn) {
  feed.bytes = bytes;
  feed.used = 0;
  feed.overdrawn = false;
  try {
    return { result: fn(), exact: !feed.overdrawn && feed.used === bytes.length };
  } finally {
    feed.bytes = null;
  }
}

const c = await core.createCore({ getRandomValue });

// em_password_bytes() of the WebAssembly build (the client core's login and
// register derive through it; NFC by the JavaScript engine there): the
// normalised bytes, or null when it refuses them.
function passwordBytesC(input) {
  const m = c.mod;
  const src = m._malloc(input.length + 1);
  const cells = m._malloc(8);
  try {
    m.HEAPU8.set(input, src);
    const rc = m._em_password_bytes(src, input.length, cells, cells + 4);
    if (rc !== 0) return null;
    const view = new DataView(m.HEAPU8.buffer);
    const p = view.getUint32(cells, true);
    const n = view.getUint32(cells + 4, true);
    const out = m.HEAPU8.slice(p, p + n);
    m._em_password_free(p, n);
    return out;
  } finally {
    m._free(src);
    m._free(cells);
  }
}

const statusName = Object.fromEntries(Object.entries(core.MSG_STATUS).map(([k, v]) => [v, k.toLowerCase()]));

const checks = {
  identities(t) {
    const who = t.ident('name');
    t.expect('fingerprint', c.fingerprint(who.signPk, who.boxPk));
  },

  password_bytes(t) {
    const input = t.hex('input');
    const fromC = passwordBytesC(input);
    let bytes = null;
    try {
      bytes = core.passwordBytes(input);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
    }
    if (t.get('nfc') === null) {
      if (bytes) t.fail('accepted, but the file says it is refused');
      if (fromC) t.fail('accepted by the C side (em_password_bytes), but the file says it is refused');
      return;
    }
    if (!bytes) {
      t.fail('refused');
      return;
    }
    t.expectHex('nfc', bytes);
    // the C side the client core derives through (em_kdf_derive_password)
    if (!fromC) t.fail('refused by the C side (em_password_bytes)');
    else t.expectHex('nfc', fromC);
    // the same password given as a string
    t.expectHex('nfc', core.passwordBytes(passwordText(input)));
  },

  account_keys(t, file) {
    const d = file.account_keys.defaults;
    if (t.name === file.account_keys.cases[0].name &&
        (c.kdfDefaults.opslimit !== BigInt(d.opslimit) || c.kdfDefaults.memlimit !== BigInt(d.memlimit))) {
      t.fail(`the core's defaults are ${c.kdfDefaults.opslimit} and ${c.kdfDefaults.memlimit}`);
    }
    // as bytes (normalised by the core), as a user types it
    const { authKey, wrapKey } = c.deriveAccountKeys(t.hex('input'), t.hex('salt'),
      { opslimit: t.int('opslimit'), memlimit: t.int('memlimit') });
    t.expectHex('auth_key', authKey);
    t.expectHex('wrap_key', wrapKey);
  },

  key_backups(t) {
    const who = t.ident('identity');
    const username = t.str('username');
    const keys = c.unwrapKeys(t.hex('wrap_key'), username, t.hex('backup'));
    if ((keys !== null) !== t.bool('opens')) {
      t.fail(keys ? 'unwraps, but must not' : 'does not unwrap');
      return;
    }
    if (!keys) return;
    for (const k of ['signPk', 'signSk', 'boxPk', 'boxSk']) {
      if (!equalBytes(keys[k], who[k])) t.fail(`${k} is not ${who.name}'s`);
    }
    const { result, exact } = withFeed(t.hex('nonce'), () => c.wrapKeys(who, t.hex('wrap_key'), username));
    if (!exact) t.fail('wrapKeys did not draw exactly the 24-byte nonce');
    t.expectHex('backup', result);
  },

  safety_numbers(t) {
    const a = t.ident('a');
    const b = t.ident('b');
    t.expect('number', c.safetyNumber(a, b));
    t.expect('number', c.safetyNumber(b, a));
  },

  room_key_envelopes(t) {
    const recipient = t.ident('recipient');
    const committer = t.ident('committer');
    const opened = c.openRoomKey(t.hex('sealed'), recipient);
    // PROTOCOL.md 5.1, checks 1 to 3
    const accepted = opened !== null && c.roomKeyNames(opened.recipients, recipient.id) &&
      opened.committerId === BigInt(t.int('committer_id')) && opened.agreementVersion === t.int('agreement_version') &&
      c.verifyRoomKey({
        roomKey: opened.roomKey, sig: opened.sig, committerSignPk: committer.signPk, roomId: t.int('room_id'),
        epoch: t.int('epoch'), recipientId: recipient.id, committerId: opened.committerId,
        agreementVersion: opened.agreementVersion, recipients: opened.recipients,
      });
    if (accepted !== t.bool('accepted')) {
      t.fail(accepted ? 'accepted, but must be refused' : 'refused');
      return;
    }
    if (!accepted) return;
    t.expectHex('room_key', opened.roomKey);
    t.expectHex('key_sig', opened.sig);
    if (JSON.stringify(opened.recipients.map(Number)) !== JSON.stringify(t.get('recipients'))) t.fail('recipients differ');
  },

  epoch_commits(t) {
    const committer = t.ident('committer');
    const commit = {
      roomId: t.int('room_id'), epoch: t.int('epoch'), committerId: t.int('committer_id'),
      agreementVersion: t.int('agreement_version'),
      entries: t.get('envelopes').map((e) => ({ recipientId: t.int('recipient_id', e), sealed: t.hex('sealed', e) })),
    };
    t.expectHex('bytes', c.commitBytes(commit));
    t.expectHex('sig', c.signCommit(commit, committer.signSk));
    if (!c.verifyCommit(commit, committer.signPk, t.hex('sig'))) t.fail('sig does not verify');
  },

  messages(t) {
    const sender = t.ident('sender');
    const msg = {
      roomKey: t.hex('room_key'), roomId: t.int('room_id'), epoch: t.int('epoch'), senderId: t.int('sender_id'),
      clientMsgId: t.hex('client_msg_id'),
    };
    if (msg.senderId !== sender.id) t.fail(`sender_id is not ${sender.name}'s`);
    const r = c.decryptMessage({ ...msg, ciphertext: t.hex('ciphertext'), sig: t.hex('sig'), senderSignPk: sender.signPk });
    t.expect('status', statusName[r.status]);
    if (r.status !== core.MSG_STATUS.OK || t.str('status') !== 'ok') return;
    t.expectHex('device', r.device);
    t.expect('counter', Number(r.counter));
    t.expect('written_ms', Number(r.writtenMs));
    t.expect('text', new TextDecoder('utf-8', { fatal: true }).decode(r.plaintext));
    const { result, exact } = withFeed(t.hex('nonce'), () => c.encryptMessage({
      ...msg, device: r.device, counter: r.counter, writtenMs: r.writtenMs, plaintext: r.plaintext, senderSignSk: sender.signSk,
    }));
    if (!exact) t.fail('encryptMessage did not draw exactly the 24-byte nonce');
    t.expectHex('ciphertext', result.ciphertext);
    t.expectHex('sig', result.sig);
  },

  franked_messages(t) {
    const sender = t.ident('sender');
    if (t.int('sender_id') !== sender.id) t.fail(`sender_id is not ${sender.name}'s`);
    const msg = {
      roomId: t.int('room_id'), epoch: t.int('epoch'), senderId: t.int('sender_id'), clientMsgId: t.hex('client_msg_id'),
    };
    if (t.has('status')) {
      const r = c.decryptMessage({ ...msg, roomKey: t.hex('room_key'), ciphertext: t.hex('ciphertext'), sig: t.hex('sig'), senderSignPk: sender.signPk });
      t.expect('status', statusName[r.status]);
      if (r.status === core.MSG_STATUS.OK && t.str('status') === 'ok') {
        t.expect('text', new TextDecoder('utf-8', { fatal: true }).decode(r.plaintext));
        t.expectHex('device', r.device);
      }
    }
    if (!t.has('report')) return;
    const reported = {
      fk: t.hex('fk'), device: t.hex('device'), counter: t.int('counter'), writtenMs: t.int('written_ms'), plaintext: t.str('text'),
    };
    t.expect('report', statusName[c.verifyFranked({ ...msg, ciphertext: t.hex('ciphertext'), sig: t.hex('sig'), senderSignPk: sender.signPk, ...reported })]);
    if (!t.has('nonce')) return;
    // fk then the nonce: encrypting again gives the same ciphertext and signature
    const draws = new Uint8Array(56);
    draws.set(reported.fk);
    draws.set(t.hex('nonce'), 32);
    const { result, exact } = withFeed(draws, () => c.encryptMessageV3({ ...msg, roomKey: t.hex('room_key'), ...reported, senderSignSk: sender.signSk }));
    if (!exact) t.fail('encryptMessageV3 did not draw exactly fk and the 24-byte nonce');
    t.expectHex('ciphertext', result.ciphertext);
    t.expectHex('sig', result.sig);
  },

  agreements(t) {
    const agreement = {
      roomId: t.int('room_id'), version: t.int('version'), startsOn: t.str('starts_on'), endsOn: t.str('ends_on'),
      terms: t.str('terms'),
      parties: t.get('parties').map((p) => {
        const who = t.ident('identity', p);
        return { userId: t.int('user_id', p), role: t.str('role', p), signPk: who.signPk, boxPk: who.boxPk };
      }),
    };
    t.expectHex('bytes', c.agreementBytes(agreement));
    t.expectHex('hash', c.agreementHash(agreement));
    for (const s of t.get('signatures')) {
      const who = t.ident('identity', s);
      const valid = c.verifyAgreement(agreement, who.signPk, t.hex('sig', s));
      if (valid !== t.bool('valid', s)) t.fail(`${who.name}'s signature ${valid ? 'verifies' : 'does not verify'}`);
      if (valid && !equalBytes(c.signAgreement(agreement, who.signSk), t.hex('sig', s))) {
        t.fail(`${who.name}'s signature is not what signAgreement makes`);
      }
    }
  },

  consents(t, file) {
    const who = t.ident('identity');
    const record = {
      signPk: who.signPk, purpose: t.str('purpose'), subject: t.str('subject'), textHash: t.hex('text_hash'),
      action: t.str('action'), at: t.int('at'),
    };
    if (t.has('text')) t.expectHex('text_hash', c.textHash(t.str('text')));
    if (record.purpose === 'agreement') {
      const a = caseNamed(file, 'agreements', 'group_version_3');
      if (!a || a.hash !== t.str('text_hash')) t.fail('an agreement consent is not over H(agreements/group_version_3 bytes)');
    }
    const valid = c.verifyConsent(record, t.hex('sig'));
    if (valid !== t.bool('valid')) {
      t.fail(valid ? 'verifies, but must not' : 'does not verify');
      return;
    }
    if (!valid) return;
    t.expectHex('bytes', c.consentBytes(record));
    t.expectHex('sig', c.signConsent(record, who.signSk));
  },

  programme_settings(t) {
    const creator = t.ident('creator');
    const settings = {
      programmeId: t.int('programme_id'), creatorId: t.int('creator_id'), agreementRequired: t.bool('agreement_required'),
    };
    const valid = c.verifyProgramme(settings, creator.signPk, t.hex('sig'));
    if (valid !== t.bool('valid')) t.fail(valid ? 'verifies, but must not' : 'does not verify');
    if (valid) t.expectHex('sig', c.signProgramme(settings, creator.signSk));
  },

  base64url(t) {
    const bytes = c.b64Decode(t.str('text'), 64);
    if ((bytes !== null) !== t.bool('valid')) {
      t.fail(bytes ? 'decoded, but must be refused' : 'refused');
      return;
    }
    if (!bytes) return;
    t.expectHex('bytes', bytes);
    t.expect('text', c.b64Encode(t.hex('bytes')));
  },
};

const missing = {
  ledger: 'the core has no function for the server\'s ledger chain (clients cannot check it: PROTOCOL.md 7.3)',
};

let failures = 0;
for (const s of ['pass\ud800word', new Uint8Array([0xc3, 0x28])]) {
  try {
    core.passwordBytes(s);
    console.log(`FAIL: passwordBytes accepts ${typeof s === 'string' ? 'a lone surrogate' : 'bytes that are not UTF-8'}`);
    failures++;
  } catch {
    // refused, as it must be
  }
}
failures += await runChecks({ implementation: 'WebAssembly core', file: argv[3], only: argv[4], checks, missing });
exit(failures ? 1 : 0);
