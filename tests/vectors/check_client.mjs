// check_client.mjs - checks the independent JavaScript client of
// tests/e2e/node (client.mjs and lib.mjs: written from docs/PROTOCOL.md
// alone, on libsodium.js) against the conformance vectors.
//
// Every layout is built by the client's own functions (passwordBytes,
// deriveKeys, wrapKeys, roomKeySigned, openRoomKey, commitSigned, messageAd,
// encryptMessage, openMessage, agreementBytes, consentBytes,
// programmeSettingsBytes, ledgerEntryHash, b64 ...) and compared with the
// file; libsodium.js is used directly only to sign and verify what those
// functions build. Random inputs the file gives (backup and message nonces)
// are handed to the client's functions; sealed boxes are opened.
//
// Usage (from anywhere; tests/e2e/node must have its node_modules: npm ci):
//   node check_client.mjs FILE [SECTION]        exit 0 when every case passes

import { argv, exit } from 'node:process';
import {
  ready, b64, unb64, passwordBytes, deriveKeys, wrapKeys, unwrapKeys, fingerprint, KDF, safetyNumber,
  roomKeySigned, openRoomKey, commitSigned, messageAd, encryptMessage, openMessage, agreementBytes, H,
  consentBytes, programmeSettingsBytes, verifyProgrammeSettings, ledgerEntryHash, CryptoError,
  messageAdV3, frankCommitment, verifyReported,
} from '../e2e/node/client.mjs';
import { runChecks, fromHex, equalBytes, passwordText, caseNamed } from './common.mjs';

const sodium = await ready();
const enc = new TextEncoder();

// What a room member gets for msg: { opened, status } with the file's status names.
function openStatus(msg, signPk, roomKey) {
  try {
    return { opened: openMessage(msg, signPk, roomKey), status: 'ok' };
  } catch (e) {
    if (!(e instanceof CryptoError)) throw e;
    const names = { bad_signature: 'bad_signature', decrypt: 'undecryptable', unpad: 'malformed', malformed: 'malformed', commitment: 'bad_commitment' };
    return { opened: null, status: names[e.code] ?? e.code };
  }
}

const checks = {
  identities(t) {
    const who = t.ident('name');
    t.expect('fingerprint', fingerprint(who.signPk, who.boxPk));
    t.expect('user_id', who.id);
  },

  password_bytes(t) {
    const text = passwordText(t.hex('input'));
    if (t.get('nfc') === null) {
      // a JavaScript string cannot hold bytes that are not UTF-8: refused when decoding
      if (text !== null) t.fail('the input decodes as UTF-8, but the file says it is refused');
      return;
    }
    if (text === null) {
      t.fail('the input does not decode as UTF-8');
      return;
    }
    t.expectHex('nfc', passwordBytes(text));
  },

  account_keys(t, file) {
    const d = file.account_keys.defaults;
    if (t.name === file.account_keys.cases[0].name &&
        (KDF.opslimit !== d.opslimit || KDF.memlimit !== d.memlimit || d.alg !== 'argon2id13')) {
      t.fail(`the client's defaults are ${KDF.opslimit} and ${KDF.memlimit}, the file's ${d.opslimit} and ${d.memlimit}`);
    }
    const text = passwordText(t.hex('input'));
    const { authKey, wrapKey } = deriveKeys(text, t.hex('salt'), t.int('opslimit'), t.int('memlimit'));
    t.expectHex('auth_key', authKey);
    t.expectHex('wrap_key', wrapKey);
  },

  key_backups(t) {
    const who = t.ident('identity');
    const username = t.str('username');
    let keys = null;
    try {
      keys = unwrapKeys(t.hex('backup'), t.hex('wrap_key'), username);
    } catch {
      keys = null;
    }
    if ((keys !== null) !== t.bool('opens')) {
      t.fail(keys ? 'unwraps, but must not' : 'does not unwrap');
      return;
    }
    if (!keys) return;
    if (!equalBytes(keys.signSk, who.signSk) || !equalBytes(keys.boxSk, who.boxSk)) t.fail(`other keys than ${who.name}'s`);
    const again = wrapKeys({ privateKey: who.signSk }, { privateKey: who.boxSk }, t.hex('wrap_key'), username, t.hex('nonce'));
    t.expectHex('backup', again);
    t.expectHex('ad', enc.encode(`ementor key backup v1\0${username.toLowerCase()}`));
  },

  safety_numbers(t) {
    const a = t.ident('a');
    const b = t.ident('b');
    t.expect('number', safetyNumber(a, b));
    t.expect('number', safetyNumber(b, a));
  },

  room_key_envelopes(t) {
    const recipient = t.ident('recipient');
    const committer = t.ident('committer');
    let opened = null;
    let why = '';
    try {
      opened = openRoomKey({
        sealed: t.hex('sealed'), roomId: t.int('room_id'), epoch: t.int('epoch'), myId: recipient.id,
        myBoxPk: recipient.boxPk, myBoxSk: recipient.boxSk, committerId: t.int('committer_id'),
        agreementVersion: t.int('agreement_version'), committerSignPk: committer.signPk,
      });
    } catch (e) {
      if (!(e instanceof CryptoError)) throw e;
      why = e.message;
    }
    if ((opened !== null) !== t.bool('accepted')) {
      t.fail(opened ? 'accepted, but must be refused' : `refused: ${why}`);
      return;
    }
    if (!opened) return;
    t.expectHex('room_key', opened.roomKey);
    t.expect('committer_id', opened.committerId);
    t.expect('agreement_version', opened.agreementVersion);
    if (JSON.stringify(opened.recipients) !== JSON.stringify(t.get('recipients'))) t.fail('recipients differ');
    const signed = roomKeySigned(t.int('room_id'), t.int('epoch'), recipient.id, opened.committerId,
      opened.agreementVersion, opened.roomKey, opened.recipients);
    t.expectHex('signed', signed);
    t.expectHex('key_sig', sodium.crypto_sign_detached(signed, committer.signSk));
  },

  epoch_commits(t) {
    const committer = t.ident('committer');
    const envelopes = t.get('envelopes').map((e) => ({ recipient_id: t.int('recipient_id', e), sealed: t.hex('sealed', e) }));
    const bytes = commitSigned(t.int('room_id'), t.int('epoch'), t.int('committer_id'), t.int('agreement_version'), envelopes);
    t.expectHex('bytes', bytes);
    t.expectHex('sig', sodium.crypto_sign_detached(bytes, committer.signSk));
    if (!sodium.crypto_sign_verify_detached(t.hex('sig'), bytes, committer.signPk)) t.fail('sig does not verify');
  },

  messages(t) {
    const sender = t.ident('sender');
    const msg = {
      room_id: t.int('room_id'), epoch: t.int('epoch'), sender_id: t.int('sender_id'), seq: 0,
      client_msg_id: b64(t.hex('client_msg_id')), ciphertext: b64(t.hex('ciphertext')), sig: b64(t.hex('sig')),
    };
    if (msg.sender_id !== sender.id) t.fail(`sender_id is not ${sender.name}'s`);
    const { opened, status } = openStatus(msg, sender.signPk, t.hex('room_key'));
    t.expect('status', status);
    if (!opened || t.str('status') !== 'ok') return;
    t.expectHex('device', opened.device);
    t.expect('counter', opened.counter);
    t.expect('written_ms', opened.written_ms);
    t.expect('text', opened.text);
    t.expectHex('ad', messageAd(msg.room_id, msg.epoch, msg.sender_id, t.hex('client_msg_id')));
    const again = encryptMessage({
      roomId: msg.room_id, epoch: msg.epoch, senderId: msg.sender_id, signSk: sender.signSk, roomKey: t.hex('room_key'),
      text: opened.text, clientMsgId: t.hex('client_msg_id'), device: opened.device, counter: opened.counter,
      writtenMs: opened.written_ms, nonce: t.hex('nonce'),
    });
    t.expectHex('ciphertext', again.ciphertext);
    t.expectHex('sig', again.sig);
  },

  franked_messages(t) {
    const sender = t.ident('sender');
    if (t.int('sender_id') !== sender.id) t.fail(`sender_id is not ${sender.name}'s`);
    const msg = {
      room_id: t.int('room_id'), epoch: t.int('epoch'), sender_id: t.int('sender_id'), seq: 0,
      client_msg_id: b64(t.hex('client_msg_id')), ciphertext: b64(t.hex('ciphertext')), sig: b64(t.hex('sig')),
    };
    if (t.has('status')) {
      const { opened, status } = openStatus(msg, sender.signPk, t.hex('room_key'));
      t.expect('status', status);
      if (opened && t.str('status') === 'ok') {
        t.expect('text', opened.text);
        t.expectHex('device', opened.device);
      }
    }
    if (t.has('ad')) t.expectHex('ad', messageAdV3(msg.room_id, msg.epoch, msg.sender_id, t.hex('client_msg_id')));
    if (!t.has('report')) return;
    const reported = {
      fk: t.hex('fk'), device: t.hex('device'), counter: t.int('counter'), writtenMs: t.int('written_ms'), text: t.str('text'),
    };
    if (t.has('commitment')) {
      t.expectHex('commitment', frankCommitment(reported.fk, reported.device, reported.counter, reported.writtenMs, reported.text));
    }
    t.expect('report', verifyReported({
      roomId: msg.room_id, epoch: msg.epoch, senderId: msg.sender_id, clientMsgId: t.hex('client_msg_id'),
      ciphertext: t.hex('ciphertext'), sig: t.hex('sig'), signPk: sender.signPk, ...reported,
    }));
  },

  agreements(t) {
    const parties = t.get('parties').map((p) => {
      const who = t.ident('identity', p);
      if (who.id !== t.int('user_id', p)) t.fail(`party ${who.name}: user_id is not theirs`);
      return { user_id: who.id, role: t.str('role', p), sign_pk: b64(who.signPk), box_pk: b64(who.boxPk) };
    });
    const version = {
      version: t.int('version'), starts_on: t.str('starts_on'), ends_on: t.str('ends_on'), terms: t.str('terms'), parties,
    };
    const bytes = agreementBytes(t.int('room_id'), version);
    t.expectHex('bytes', bytes);
    t.expectHex('hash', H(bytes));
    for (const s of t.get('signatures')) {
      const who = t.ident('identity', s);
      const valid = sodium.crypto_sign_verify_detached(t.hex('sig', s), bytes, who.signPk);
      if (valid !== t.bool('valid', s)) t.fail(`${who.name}'s signature ${valid ? 'verifies' : 'does not verify'}`);
      if (valid && !equalBytes(sodium.crypto_sign_detached(bytes, who.signSk), t.hex('sig', s))) {
        t.fail(`${who.name}'s signature is not Ed25519 over the bytes`);
      }
    }
  },

  consents(t, file) {
    const who = t.ident('identity');
    const record = {
      signPk: who.signPk, purpose: t.str('purpose'), subject: t.str('subject'), textHash: t.hex('text_hash'),
      action: t.str('action'), at: t.int('at'),
    };
    if (t.has('text')) t.expectHex('text_hash', H(t.str('text')));
    if (record.purpose === 'agreement') {
      const a = caseNamed(file, 'agreements', 'group_version_3');
      if (!a || a.hash !== t.str('text_hash') || record.subject !== `room:${a.room_id}`) {
        t.fail('an agreement consent is not over agreements/group_version_3 (text_hash H(bytes), subject room:ID)');
      }
    }
    const bytes = consentBytes(record);
    const valid = sodium.crypto_sign_verify_detached(t.hex('sig'), bytes, who.signPk);
    if (valid !== t.bool('valid')) {
      t.fail(valid ? 'verifies, but must not' : 'does not verify');
      return;
    }
    if (!valid) return;
    t.expectHex('bytes', bytes);
    t.expectHex('sig', sodium.crypto_sign_detached(bytes, who.signSk));
  },

  programme_settings(t) {
    const creator = t.ident('creator');
    const programme = {
      id: t.int('programme_id'), created_by: t.int('creator_id'), agreement_required: t.bool('agreement_required'),
      settings_sig: b64(t.hex('sig')),
    };
    const valid = verifyProgrammeSettings(programme, creator.signPk);
    if (valid !== t.bool('valid')) t.fail(valid ? 'verifies, but must not' : 'does not verify');
    t.expectHex('bytes', programmeSettingsBytes(programme.id, programme.created_by, programme.agreement_required));
  },

  ledger(t, file) {
    const i = file.ledger.cases.indexOf(t.obj);
    const prev = i === 0 ? new Uint8Array(32) : fromHex(file.ledger.cases[i - 1].entry_hash);
    t.expectHex('prev_hash', prev);
    const c = caseNamed(file, 'consents', t.str('consent'));
    if (!c || c.bytes !== t.str('consent_bytes') || c.sig !== t.str('sig')) t.fail('not the record of its consent case');
    t.expectHex('entry_hash', ledgerEntryHash({
      prevHash: prev, seq: t.int('seq'), userId: t.int('user_id'), consentBytes: t.hex('consent_bytes'),
      signature: t.hex('sig'), recordedUs: t.int('recorded_us'),
    }));
  },

  base64url(t) {
    let bytes = null;
    try {
      bytes = unb64(t.str('text'));
    } catch {
      bytes = null;
    }
    if ((bytes !== null) !== t.bool('valid')) {
      t.fail(bytes ? `decoded (to ${Buffer.from(bytes).toString('hex')}), but must be refused` : 'refused');
      return;
    }
    if (!bytes) return;
    t.expectHex('bytes', bytes);
    t.expect('text', b64(t.hex('bytes')));
  },
};

if (argv.length < 3 || argv.length > 4) {
  console.error('usage: node check_client.mjs FILE [SECTION]');
  exit(2);
}
// passwordBytes must also refuse what a string can hold but Unicode cannot
let refused = false;
try {
  passwordBytes('pass\ud800word');
} catch {
  refused = true;
}
let failures = refused ? 0 : 1;
if (!refused) console.log('FAIL: passwordBytes accepts a lone surrogate');
failures += await runChecks({ implementation: 'tests/e2e/node client', file: argv[2], only: argv[3], checks });
exit(failures ? 1 : 0);
