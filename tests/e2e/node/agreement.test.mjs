// agreement.test.mjs - section 7 of docs/PROTOCOL.md (agreements, consent and
// your data) from a third party's side: a JavaScript client written from the
// document alone registers with a data-processing consent, signs room
// agreements, checks the roster before sealing (7.2), withdraws consent; and,
// as a hostile peer, sends what the server must refuse: forged and stale
// agreement signatures, signatures by non-parties, sends and commits from
// members off the roster, commits that seal to them, bad privacy consents,
// a consent.grant of an agreement, and it looks for ciphertext in
// account.export.
//
// Run through tests/e2e/run_node.sh, which starts ementord and exports
// EMENTOR_URL, EMENTOR_CA and EMENTOR_TEST_INVITE_AGREEMENT (a manager invite
// of its own: peer.test.mjs uses up EMENTOR_TEST_INVITE). Every account is
// made here, with the JS client.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireEnv } from './lib.mjs';
import {
  Client, ProtocolError, ready, b64, unb64, H, agreementBytes, consentBytes, consentArgs, privacyArgs,
  agreementSignArgs, checkNotice, registrationArgs, rosterRecipients, sealRoomKey, commitSigned, encryptMessage,
  nowSeconds, signAsEveryParty, loginClient, commitVersion, programmeSettingsArgs, programmeSettingsBytes,
  verifyProgrammeSettings,
} from './client.mjs';

const sodium = await ready();
const password = 'agreements are signed, not assumed';
const stamp = `${Date.now().toString(36).slice(-5)}${Math.floor(Math.random() * 1296).toString(36)}`;
const nameOf = (who) => `ag${who}${stamp}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The error code of a promise that must reject with a ProtocolError. */
async function codeOf(promise) {
  try {
    const r = await promise;
    return `no error: ${JSON.stringify(r).slice(0, 300)}`;
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
}

/** Flips one bit of byte i of a base64url field. */
function flip(field, i = 10) {
  const b = unb64(field);
  b[i % b.length] ^= 0x01;
  return b64(b);
}

const clients = [];
async function connect() {
  const c = await Client.connect();
  clients.push(c);
  return c;
}
async function login(username) {
  const c = await loginClient(username, password);
  clients.push(c);
  return c;
}

test.after(() => {
  for (const c of clients) c.close();
});

/** Does any value or key anywhere in v match test(key, value)? */
function anywhere(v, test, key = '') {
  if (test(key, v)) return true;
  if (v && typeof v === 'object') return Object.entries(v).some(([k, x]) => anywhere(x, test, k));
  return false;
}

const people = {}; // who -> logged-in Client
let notice;
let programmeId;
let group; // the room id
let firstActive; // the first active Version of the room
const ciphertexts = []; // every ciphertext sent in this file

function logins() {
  const out = {};
  for (const [who, c] of Object.entries(people)) out[nameOf(who)] = c;
  return out;
}

// --- the privacy notice and registration ------------------------------------

test('privacy.notice answers before login; text_hash and share_progress_hash are H of their texts', async () => {
  const c = await connect();
  notice = await c.request('privacy.notice', {});
  assert.equal(typeof notice.version, 'string');
  assert.ok(notice.version.length > 0);
  assert.equal(typeof notice.text, 'string');
  assert.ok(notice.text.length > 0);
  assert.equal(unb64(notice.text_hash).length, 32);
  assert.equal(typeof notice.share_progress_text, 'string');
  assert.equal(unb64(notice.share_progress_hash).length, 32);
  checkNotice(notice); // throws if a hash is not H(text)
  c.close();
});

test('the manager registers with a consent signed in JS; consent.list holds it and it verifies over consent_bytes', async () => {
  const c = await connect();
  const reg = await c.register({ invite: requireEnv('EMENTOR_TEST_INVITE_AGREEMENT'), username: nameOf('mgr'), password });
  assert.equal(reg.user.role, 'manager');
  c.close();
  const mgr = await login(nameOf('mgr'));
  people.mgr = mgr;
  const list = await mgr.request('consent.list', {});
  const dp = list.entries.filter((e) => e.purpose === 'data_processing');
  assert.equal(dp.length, 1, JSON.stringify(list.entries));
  const e = dp[0];
  assert.equal(e.subject, notice.version);
  assert.equal(e.text_hash, notice.text_hash);
  assert.equal(e.action, 'grant');
  assert.ok(Number.isInteger(e.at) && Math.abs(e.at - nowSeconds()) < 600, `at ${e.at}`);
  assert.equal(unb64(e.entry_hash).length, 32);
  const bytes = consentBytes({ signPk: mgr.keys.signPk, purpose: e.purpose, subject: e.subject, textHash: unb64(e.text_hash), action: e.action, at: e.at });
  assert.ok(sodium.crypto_sign_verify_detached(unb64(e.signature), bytes, mgr.keys.signPk), 'the stored record verifies');
  assert.ok(list.current.some((x) => x.purpose === 'data_processing' && x.subject === notice.version && x.granted === true),
    JSON.stringify(list.current));
});

test('programme.create: agreement_required defaults to true and retention_days to 365; created_by is the manager, no settings_sig', async () => {
  const { programme } = await people.mgr.request('programme.create', { name: `Agreements ${stamp}`, starts_on: '2027-01-01', ends_on: '2027-12-31' });
  assert.equal(programme.agreement_required, true);
  assert.equal(programme.retention_days, 365);
  assert.equal(programme.purged_at, null);
  assert.equal(programme.created_by, people.mgr.id);
  assert.equal(programme.settings_sig, null);
  programmeId = programme.id;
});

/** A fresh invite of the programme for role. */
async function invite(role, programme = programmeId) {
  return (await people.mgr.request('invite.create', { programme_id: programme, role })).code;
}

/**
 * A `register` on a fresh connection with args changed by tamper(args, ctx)
 * after the privacy consent was added; ctx = {sign, notice}. Resolves with
 * the reply's ok, or rejects with ProtocolError.
 */
async function registerTampered(username, inviteCode, tamper) {
  const acct = registrationArgs({ invite: inviteCode, username, password }); // Argon2id before connecting
  const c = await connect();
  try {
    const n = checkNotice(await c.request('privacy.notice', {}));
    const args = { ...acct.args, ...privacyArgs({ signPk: acct.sign.publicKey, signSk: acct.sign.privateKey }, n) };
    await tamper(args, { sign: acct.sign, notice: n });
    return await c.request('register', args);
  } finally {
    c.close();
  }
}

test('register refuses a bad data-processing consent: bad_signature, stale_text, bad_value, missing_field', async () => {
  const other = sodium.crypto_sign_keypair();
  const resign = (args, signSk, signPk, { subject, textHash, at }) => {
    args.privacy_signature = consentArgs({ signPk, signSk, purpose: 'data_processing', subject, textHash, action: 'grant', at }).signature;
  };
  const cases = [
    ['a flipped byte in privacy_signature', 'bad_signature', (a) => { a.privacy_signature = flip(a.privacy_signature, 3); }],
    ['signed by another key than the new sign_pk', 'bad_signature', (a, { notice: n }) =>
      resign(a, other.privateKey, other.publicKey, { subject: n.version, textHash: unb64(n.text_hash), at: a.privacy_at })],
    ['signed over another text hash', 'bad_signature', (a, { sign, notice: n }) =>
      resign(a, sign.privateKey, sign.publicKey, { subject: n.version, textHash: H(`${n.text} (edited)`), at: a.privacy_at })],
    ['privacy_at changed after signing', 'bad_signature', (a) => { a.privacy_at -= 1; }],
    ['a privacy_version that is not the current notice (signed over it)', 'stale_text', (a, { sign, notice: n }) => {
      a.privacy_version = `${n.version}-old`;
      resign(a, sign.privateKey, sign.publicKey, { subject: a.privacy_version, textHash: unb64(n.text_hash), at: a.privacy_at });
    }],
    ['privacy_at an hour behind the server (signed over it)', 'bad_value', (a, { sign, notice: n }) => {
      a.privacy_at = nowSeconds() - 3600;
      resign(a, sign.privateKey, sign.publicKey, { subject: n.version, textHash: unb64(n.text_hash), at: a.privacy_at });
    }],
    ['no consent at all', 'missing_field', (a) => {
      delete a.privacy_version;
      delete a.privacy_at;
      delete a.privacy_signature;
    }],
  ];
  const codes = [];
  for (const [i, [what, want, tamper]] of cases.entries()) {
    const code = await codeOf(registerTampered(nameOf(`bad${i}`), await invite('mentee'), tamper));
    codes.push(code === want ? null : `${what}: wanted ${want}, got ${code}`);
  }
  assert.deepEqual(codes.filter(Boolean), []);
  // a refused registration made no account
  for (let i = 0; i < cases.length; i++) {
    const c = await connect();
    const pre = await c.request('prelogin', { username: nameOf(`bad${i}`) });
    assert.equal(pre.opslimit, 2);
    c.close();
  }
  const probe = await connect();
  assert.equal(await codeOf(probe.login(nameOf('bad0'), password)), 'bad_credentials');
});

test('people register with the JS client and a group room is made: mentor, two mentees', async () => {
  for (const [who, role] of [['mentor', 'mentor'], ['m1', 'mentee'], ['m2', 'mentee'], ['m3', 'mentee'], ['out', 'mentee'], ['comgr', 'manager']]) {
    const c = await connect();
    const r = await c.register({ invite: await invite(role), username: nameOf(who), password });
    assert.equal(r.user.role, role);
    c.close();
    people[who] = await login(nameOf(who));
  }
  const { room } = await people.mgr.request('room.create', {
    programme_id: programmeId, kind: 'group', name: `agreement ${stamp}`, members: [nameOf('mentor'), nameOf('m1'), nameOf('m2')],
  });
  group = room.id;
  assert.equal(room.status, 'ready');
  for (const m of room.members) assert.equal(m.roster, false, `${m.username} is on the roster before signing`);
});

test('a member of no room syncs: no rooms, then `synced` with none, and the connection stays open', async () => {
  const c = await login(nameOf('out')); // a connection of its own: the others of `out` are used later
  const r = await c.sync();
  assert.deepEqual(r.rooms, []);
  assert.deepEqual(r.synced, []);
  assert.equal(c.closed, null);
  assert.equal(typeof (await c.request('ping', {})).time, 'string', 'the connection still answers');
  c.close();
});

// --- the agreement ---------------------------------------------------------

test('agreement.show: a pending version lists the manager, mentor and mentees in ascending user_id with their keys', async () => {
  const { mentor, mgr } = people;
  const room = await mentor.roomShow(group);
  const a = await mentor.agreementShow(group); // pins parties; throws if a key differs from room.show's
  assert.equal(a.room_id, group);
  assert.equal(a.required, true);
  assert.equal(a.active, null);
  assert.deepEqual(a.roster, []);
  const v = a.pending;
  assert.ok(Number.isInteger(v.version) && v.version >= 1);
  assert.equal(v.starts_on, '2027-01-01');
  assert.equal(v.ends_on, '2027-12-31');
  assert.ok(v.terms.length > 0, 'the default template');
  assert.equal(v.activated_at, null);
  const ids = v.parties.map((p) => p.user_id);
  assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'ascending user_id');
  const want = new Map([[mgr.id, 'manager'], [people.mentor.id, 'mentor'], [people.m1.id, 'mentee'], [people.m2.id, 'mentee']]);
  assert.deepEqual(new Map(v.parties.map((p) => [p.user_id, p.role])), want);
  for (const p of v.parties) {
    assert.equal(p.signature, null);
    assert.equal(p.signed_at, null);
    const u = p.user_id === mgr.id ? mgr.user : room.members.find((m) => m.id === p.user_id);
    assert.equal(p.sign_pk, u.sign_pk);
    assert.equal(p.box_pk, u.box_pk);
  }
  // the programme's managers see it, the co-manager too; someone outside does not
  assert.equal((await people.comgr.request('agreement.show', { room_id: group })).pending.version, v.version);
  assert.equal(await codeOf(people.out.request('agreement.show', { room_id: group })), 'not_found');
});

/**
 * epoch.commit args of committer c sealing a fresh key to `recipients` (User
 * objects) at epoch, under agreement version `version` (signed consistently).
 */
function commitArgs(c, recipients, epoch, version) {
  const roomKey = sodium.randombytes_buf(32);
  const envelopes = recipients.map((m) => ({
    recipient_id: m.id,
    sealed: sealRoomKey({
      roomId: group, epoch, recipientId: m.id, recipientBoxPk: unb64(m.box_pk), committerId: c.id, committerSignSk: c.keys.signSk,
      agreementVersion: version, roomKey, recipients: recipients.map((x) => x.id),
    }),
  }));
  return {
    room_id: group, epoch, agreement_version: version,
    envelopes: envelopes.map((e) => ({ recipient_id: e.recipient_id, sealed: b64(e.sealed) })),
    sig: b64(sodium.crypto_sign_detached(commitSigned(group, epoch, c.id, version, envelopes), c.keys.signSk)),
  };
}

/** send args of c at epoch with some key (the server cannot tell the key). */
function sendArgs(c, epoch, text = 'should not be stored') {
  const m = encryptMessage({ roomId: group, epoch, senderId: c.id, signSk: c.keys.signSk, roomKey: sodium.randombytes_buf(32), text });
  return { room_id: group, epoch, client_msg_id: b64(m.clientMsgId), ciphertext: b64(m.ciphertext), sig: b64(m.sig) };
}

test('before anyone signed, an epoch.commit (sealed to every member) is refused with agreement_unsigned', async () => {
  const { mentor } = people;
  const room = await mentor.roomShow(group);
  assert.equal(await codeOf(mentor.request('epoch.commit', commitArgs(mentor, room.members, room.epoch + 1, 0))), 'agreement_unsigned');
  assert.equal((await mentor.roomShow(group)).epoch, room.epoch, 'nothing changed');
});

test('agreement.sign refuses forged signatures (bad_signature), a wrong version (stale_version) and non-parties (forbidden)', async () => {
  const { mentor, m1, comgr, out } = people;
  const v = (await mentor.agreementShow(group)).pending;
  const good = () => agreementSignArgs(group, v, mentor.keys);
  const byM1 = agreementSignArgs(group, v, m1.keys); // another party's key, sent by the mentor
  const otherTerms = agreementSignArgs(group, { ...v, terms: `${v.terms}\nAdded by ${nameOf('mentor')}: a term nobody saw` }, mentor.keys);
  const oldAt = nowSeconds() - 3600;
  const cases = [
    ['the signature and consent made with another party\'s key', 'bad_signature', mentor, byM1],
    ['a flipped byte in the agreement signature', 'bad_signature', mentor, { ...good(), signature: flip(good().signature, 7) }],
    ['a flipped byte in the consent signature', 'bad_signature', mentor, { ...good(), consent_signature: flip(good().consent_signature, 7) }],
    ['a consent signature by another party\'s key', 'bad_signature', mentor, { ...good(), consent_signature: byM1.consent_signature }],
    ['a signature over other terms than the version\'s', 'bad_signature', mentor, otherTerms],
    ['consent_at changed after signing', 'bad_signature', mentor, { ...good(), consent_at: good().consent_at - 1 }],
    ['a version that does not exist', 'stale_version', mentor,
      agreementSignArgs(group, { ...v, version: v.version + 7 }, mentor.keys)],
    ['consent_at an hour behind (signed over it)', 'bad_value', mentor, agreementSignArgs(group, v, mentor.keys, oldAt)],
    ['a co-manager of the programme (not a party) signing correctly', 'forbidden', comgr, agreementSignArgs(group, v, comgr.keys)],
  ];
  const wrong = [];
  for (const [what, want, who, args] of cases) {
    const code = await codeOf(who.request('agreement.sign', args));
    if (code !== want) wrong.push(`${what}: wanted ${want}, got ${code}`);
  }
  // someone outside the room may not even see it (the document lists both codes for agreement.sign)
  const outCode = await codeOf(out.request('agreement.sign', agreementSignArgs(group, v, out.keys)));
  if (!['not_found', 'forbidden'].includes(outCode)) wrong.push(`a mentee outside the room: got ${outCode}`);
  assert.deepEqual(wrong, []);
  const after = await mentor.agreementShow(group);
  assert.equal(after.active, null);
  assert.ok(after.pending.parties.every((p) => p.signature === null), 'no refused request stored a signature');
});

test('every party signs: the version becomes active, the roster is the members, and a `room` event says agreement', async () => {
  const { mgr, mentor, m1, m2 } = people;
  await m1.sync(); // subscribed: receives the room's agreement events
  const v = (await mentor.agreementShow(group)).pending;
  for (const c of [mgr, mentor, m1]) {
    const a = await c.signAgreement(group);
    assert.equal(a.active, null, 'not active before the last party signed');
    assert.equal(a.pending.parties.find((p) => p.user_id === c.id).signature !== null, true);
    assert.deepEqual(a.roster, []);
  }
  const a = await m2.signAgreement(group);
  assert.equal(a.pending, null);
  assert.equal(a.active.version, v.version);
  assert.match(a.active.activated_at, /Z$/);
  assert.deepEqual([...a.roster].sort((x, y) => x - y), [mentor.id, m1.id, m2.id].sort((x, y) => x - y), 'members, not the manager');
  await m1.nextEvent('room', (d) => d.room_id === group && d.change === 'agreement');
  const room = await mentor.roomShow(group);
  assert.ok(room.members.every((m) => m.roster === true));
  assert.equal(room.rotate_required, true);
  // JS checks every signature the server verified (7.2), the manager's included
  const bytes = agreementBytes(group, a.active);
  for (const p of a.active.parties) {
    assert.ok(sodium.crypto_sign_verify_detached(unb64(p.signature), bytes, unb64(p.sign_pk)), `${p.username}'s signature`);
  }
  assert.deepEqual(rosterRecipients(group, a, room, (id) => mentor.pins.get(id)).map((m) => m.id), [...a.roster].sort((x, y) => x - y));
  firstActive = a.active;
  // the consent record of a signature: agreement, room:ID, H(agreement_bytes), grant
  const entry = (await m2.request('consent.list', {})).entries.find((e) => e.purpose === 'agreement');
  assert.equal(entry.subject, `room:${group}`);
  assert.equal(entry.text_hash, b64(H(bytes)));
  assert.equal(entry.action, 'grant');
  assert.ok(sodium.crypto_sign_verify_detached(unb64(entry.signature), consentBytes({
    signPk: m2.keys.signPk, purpose: 'agreement', subject: `room:${group}`, textHash: H(bytes), action: 'grant', at: entry.at,
  }), m2.keys.signPk));
});

test('the mentor commits after the 7.2 check; a mentee sends; every member opens it', async () => {
  const { mentor, m1, m2 } = people;
  await mentor.sync();
  await m2.sync();
  const epoch = await mentor.commitEpoch(group);
  assert.equal(epoch, 1);
  const r = await m1.sendText(group, 'signed, sealed, delivered');
  ciphertexts.push(r.args.ciphertext);
  for (const c of [mentor, m1, m2]) {
    const opened = await c.open(await c.waitMessage(group, r.seq));
    assert.equal(opened.text, 'signed, sealed, delivered');
    assert.deepEqual([opened.counter, opened.device], [1, m1.device], 'the first message of this device in the room');
  }
  // the epoch names the agreement version in force: in the event, in keys.get and inside every envelope (which the clients checked)
  const ev = await m2.nextEvent('epoch', (d) => d.room_id === group && d.epoch === epoch);
  assert.equal(ev.agreement_version, firstActive.version);
  const k = await m1.request('keys.get', { room_id: group });
  assert.deepEqual(k.envelopes.map((e) => [e.epoch, e.committer_id, e.agreement_version]), [[epoch, mentor.id, firstActive.version]]);
  assert.equal(m1._room(group).versions.get(epoch), firstActive.version);
});

test('epoch.commit must name the agreement version in force: another one is stale_version, even signed consistently', async () => {
  const { mentor } = people;
  const room = await mentor.roomShow(group);
  const roster = room.members.filter((m) => m.roster);
  for (const version of new Set([0, firstActive.version + 1, firstActive.version - 1].filter((v) => v >= 0 && v !== firstActive.version))) {
    assert.equal(await codeOf(mentor.request('epoch.commit', commitArgs(mentor, roster, room.epoch + 1, version))), 'stale_version',
      `agreement_version ${version}`);
  }
  // the version in the args but another one signed: the signature does not verify
  const mixed = { ...commitArgs(mentor, roster, room.epoch + 1, firstActive.version + 1), agreement_version: firstActive.version };
  assert.equal(await codeOf(mentor.request('epoch.commit', mixed)), 'bad_signature');
  assert.equal((await mentor.roomShow(group)).epoch, room.epoch, 'nothing changed');
});

test('agreement.show with a version answers that version too (any state); an unknown version is not_found', async () => {
  const { mentor, out } = people;
  const a = await mentor.agreementShow(group, { version: firstActive.version });
  assert.deepEqual(a.version, a.active, 'the active version by number');
  assert.equal(a.version.version, firstActive.version);
  assert.equal(a.version.terms, firstActive.terms);
  assert.deepEqual(a.version.parties.map((p) => p.user_id), firstActive.parties.map((p) => p.user_id));
  const plain = await mentor.agreementShow(group);
  assert.equal('version' in plain, false, 'no version asked, none answered');
  assert.equal(await codeOf(mentor.agreementShow(group, { version: firstActive.version + 1000 })), 'not_found');
  assert.equal(await codeOf(out.request('agreement.show', { room_id: group, version: firstActive.version })), 'not_found');
  assert.equal(await codeOf(mentor.request('agreement.show', { room_id: group, version: 0 })), 'out_of_range');
});

test('7.2: the client will not seal when the roster names someone whose signature or keys do not check out', async () => {
  const { mentor, m3 } = people;
  const room = await mentor.roomShow(group);
  const a = await mentor.agreementShow(group);
  const pinned = (id) => mentor.pins.get(id);
  const copy = () => structuredClone(a);
  assert.equal(rosterRecipients(group, a, room, pinned).length, 3, 'the real answers pass');
  const party = (x, id) => x.active.parties.find((p) => p.user_id === id);
  const fake = sodium.crypto_sign_keypair();
  const lies = {
    'a roster user who is not a member': () => {
      const x = copy();
      x.roster.push(m3.id);
      return [x, room];
    },
    'a member on the roster who is not a party': () => {
      const x = copy();
      x.roster.push(m3.id);
      return [x, { ...room, members: [...room.members, { ...m3.user, roster: true }] }];
    },
    'a signature swapped for another party\'s': () => {
      const x = copy();
      party(x, people.m1.id).signature = party(x, people.m2.id).signature;
      return [x, room];
    },
    'no signature': () => {
      const x = copy();
      party(x, people.m1.id).signature = null;
      return [x, room];
    },
    'a party key the server replaced, with a signature by that key': () => {
      const x = copy();
      party(x, people.m1.id).sign_pk = b64(fake.publicKey);
      party(x, people.m1.id).signature = b64(sodium.crypto_sign_detached(agreementBytes(group, x.active), fake.privateKey));
      return [x, room];
    },
    'terms other than those signed': () => {
      const x = copy();
      x.active.terms += '\nAdded by nobody: the operator may read along';
      return [x, room];
    },
    'a withdrawn party': () => {
      const x = copy();
      party(x, people.m1.id).withdrawn_at = '2027-02-01T00:00:00Z';
      return [x, room];
    },
  };
  for (const [what, make] of Object.entries(lies)) {
    const [x, r] = make();
    assert.throws(() => rosterRecipients(group, x, r, pinned), (e) => e.code === 'roster_check', what);
  }
});

test('a member added later is off the roster: their send is agreement_unsigned, a commit sealed to them roster_mismatch, theirs agreement_unsigned', async () => {
  const { mgr, mentor, m3 } = people;
  const added = await mgr.request('room.add', { room_id: group, username: nameOf('m3') });
  assert.equal(added.room.members.find((m) => m.username === nameOf('m3')).roster, false);
  const a = await mentor.agreementShow(group);
  assert.equal(a.active.version, firstActive.version, 'the signed version stays active');
  assert.ok(a.pending.version > firstActive.version, 'a new version for the new member');
  assert.ok(a.pending.parties.some((p) => p.user_id === m3.id));
  assert.ok(!a.roster.includes(m3.id));
  // the others rotate to the roster only, and the server takes it
  const epoch = await mentor.commitEpoch(group);
  const room = await mentor.roomShow(group);
  assert.equal(room.epoch, epoch);
  assert.equal(room.rotate_required, false);
  await m3.sync();
  assert.equal(await codeOf(m3.request('send', sendArgs(m3, epoch))), 'agreement_unsigned');
  const roster = room.members.filter((m) => m.roster);
  assert.equal(roster.length, 3);
  assert.equal(await codeOf(mentor.request('epoch.commit', commitArgs(mentor, room.members, epoch + 1, a.active.version))), 'roster_mismatch',
    'sealed to the unsigned member too');
  assert.equal(await codeOf(mentor.request('epoch.commit', commitArgs(mentor, room.members, epoch + 1, a.pending.version))), 'stale_version',
    'under the pending version, which lists the unsigned member');
  assert.equal(await codeOf(m3.request('epoch.commit', commitArgs(m3, roster, epoch + 1, a.active.version))), 'agreement_unsigned',
    'from the unsigned member');
  assert.equal(await codeOf(m3.request('epoch.commit', commitArgs(m3, room.members, epoch + 1, a.pending.version))), 'agreement_unsigned',
    'from the unsigned member, sealed to everyone');
  assert.equal((await mentor.roomShow(group)).epoch, epoch, 'nothing changed');
  await sleep(200);
  assert.equal(m3.events.filter((e) => e.ev === 'epoch' && e.data.room_id === group).length, 0, 'no key for the unsigned member');
});

test('once every party signs the new version, the old one is stale_version; the new member commits and reads', async () => {
  const { mentor, m3, m1 } = people;
  const a = await signAsEveryParty(mentor, group, password, logins());
  assert.ok(a.active.version > firstActive.version);
  assert.equal(a.pending, null);
  assert.ok(a.roster.includes(m3.id));
  assert.equal(await codeOf(mentor.request('agreement.sign', agreementSignArgs(group, firstActive, mentor.keys))), 'stale_version');
  const epoch = await m3.commitEpoch(group);
  const r = await m1.sendText(group, 'welcome aboard');
  ciphertexts.push(r.args.ciphertext);
  assert.equal(r.args.epoch, epoch);
  assert.equal((await m3.open(await m3.waitMessage(group, r.seq))).text, 'welcome aboard');
});

test('account.export gives a manager no ciphertext (nor a member); consent.grant of an agreement is bad_value', async () => {
  const { mgr, m1 } = people;
  for (const [who, c] of [['manager', mgr], ['member', m1]]) {
    const exp = await c.request('account.export', {});
    for (const k of ['exported_at', 'user', 'programmes', 'rooms', 'agreements', 'consents', 'checkpoints', 'attendance']) {
      assert.ok(k in exp, `${who}: ${k} in the export`);
    }
    assert.equal(exp.user.id, c.id);
    assert.ok(exp.agreements.some((x) => x.room_id === group), `${who}: the room's agreement`);
    assert.ok(exp.consents.some((x) => x.purpose === 'data_processing'), `${who}: the data-processing consent`);
    assert.ok(!anywhere(exp, (k) => ['ciphertext', 'sealed', 'envelopes', 'key_backup', 'messages'].includes(k)),
      `${who}: no ciphertext, envelope or key field`);
    const text = JSON.stringify(exp);
    for (const ct of ciphertexts) assert.ok(!text.includes(ct.slice(0, 40)), `${who}: a message ciphertext in the export`);
  }
  const active = (await m1.agreementShow(group)).active;
  assert.equal(await codeOf(m1.consent('consent.grant', {
    purpose: 'agreement', subject: `room:${group}`, textHash: H(agreementBytes(group, active)),
  })), 'bad_value');
});

test('share_progress consent: granted and withdrawn with consent.grant / consent.withdraw; withdrawing twice is bad_state', async () => {
  const { m1 } = people;
  const args = { purpose: 'share_progress', subject: `programme:${programmeId}`, textHash: unb64(notice.share_progress_hash) };
  const g = await m1.consent('consent.grant', args);
  assert.equal(g.action, 'grant');
  assert.equal(g.subject, `programme:${programmeId}`);
  const w = await m1.consent('consent.withdraw', args);
  assert.equal(w.action, 'withdraw');
  assert.ok(w.seq > g.seq);
  assert.equal(await codeOf(m1.consent('consent.withdraw', args)), 'bad_state');
  assert.equal(await codeOf(m1.consent('consent.grant', { ...args, textHash: H('another sentence') })), 'stale_text');
});

test('a member who withdraws agreement consent is off the roster: room.show says so and their send is agreement_unsigned', async () => {
  const { mentor, m1, m2 } = people;
  const active = (await m2.agreementShow(group)).active;
  const entry = await m2.withdrawAgreement(group);
  assert.equal(entry.action, 'withdraw');
  assert.equal(entry.subject, `room:${group}`);
  assert.equal(entry.text_hash, b64(H(agreementBytes(group, active))));
  const a = await mentor.agreementShow(group);
  assert.ok(!a.roster.includes(m2.id), 'off the roster');
  assert.ok(a.active.parties.find((p) => p.user_id === m2.id).withdrawn_at, 'withdrawn_at is set');
  const room = await mentor.roomShow(group);
  assert.equal(room.members.find((m) => m.id === m2.id).roster, false);
  assert.ok(room.members.some((m) => m.id === m2.id), 'still a member');
  // the others rotate to the new roster, which the server accepts
  const epoch = await mentor.commitEpoch(group);
  assert.equal(await codeOf(m2.request('send', sendArgs(m2, epoch))), 'agreement_unsigned');
  const r = await m1.sendText(group, 'after the withdrawal');
  ciphertexts.push(r.args.ciphertext);
  assert.equal(r.args.epoch, epoch);
  await sleep(200);
  assert.equal(m2.events.filter((e) => e.ev === 'epoch' && e.data.room_id === group && e.data.epoch === epoch).length, 0,
    'the withdrawn member got no key of the new epoch');
  // withdrawing again is bad_state; signing the active version again re-joins
  assert.equal(await codeOf(m2.withdrawAgreement(group)), 'bad_state');
  const again = await m2.signAgreement(group, { version: active.version });
  assert.ok(again.roster.includes(m2.id), 'back on the roster');
  assert.equal((await m2.roomShow(group)).members.find((m) => m.id === m2.id).roster, true);
});

let noAgreements; // the programme of the next test: without agreements, signed by its creator

test('a programme without agreements: programme.create refuses agreement_required false; the creator signs it with programme.settings', async () => {
  const { mgr, mentor, comgr } = people;
  const base = { name: `No agreements ${stamp}`, starts_on: '2027-01-01', ends_on: '2027-12-31', retention_days: 30 };
  assert.equal(await codeOf(mgr.request('programme.create', { ...base, agreement_required: false })), 'bad_value');
  const { programme: made } = await mgr.request('programme.create', base);
  assert.equal(made.agreement_required, true, 'required until the creator signs otherwise');
  assert.equal(made.created_by, mgr.id);
  assert.equal(made.settings_sig, null);
  const id = made.id;
  const good = programmeSettingsArgs(id, mgr.id, false, mgr.keys.signSk);
  // refused: forged or misdirected signatures, other people
  const fake = sodium.crypto_sign_keypair();
  const wrong = [];
  for (const [what, want, who, args] of [
    ['a flipped byte', 'bad_signature', mgr, { ...good, signature: flip(good.signature, 5) }],
    ['signed over true, sent as false', 'bad_signature', mgr, { ...programmeSettingsArgs(id, mgr.id, true, mgr.keys.signSk), agreement_required: false }],
    ['signed for another programme', 'bad_signature', mgr, { ...programmeSettingsArgs(programmeId, mgr.id, false, mgr.keys.signSk), programme_id: id }],
    ['signed naming another creator', 'bad_signature', mgr, programmeSettingsArgs(id, comgr.id, false, mgr.keys.signSk)],
    ['signed by another key', 'bad_signature', mgr, programmeSettingsArgs(id, mgr.id, false, fake.privateKey)],
    ['a manager who did not create it (and is not in it)', 'not_found', comgr, programmeSettingsArgs(id, comgr.id, false, comgr.keys.signSk)],
    ['a mentor', 'forbidden', mentor, programmeSettingsArgs(id, mentor.id, false, mentor.keys.signSk)],
    ['no signature', 'missing_field', mgr, { programme_id: id, agreement_required: false }],
  ]) {
    const code = await codeOf(who.request('programme.settings', args));
    if (code !== want) wrong.push(`${what}: wanted ${want}, got ${code}`);
  }
  // a co-manager of the programme may see it but did not create it: forbidden
  await comgr.request('invite.accept', { invite: await invite('manager', id) });
  const coCode = await codeOf(comgr.request('programme.settings', programmeSettingsArgs(id, comgr.id, false, comgr.keys.signSk)));
  if (coCode !== 'forbidden') wrong.push(`a co-manager: wanted forbidden, got ${coCode}`);
  assert.deepEqual(wrong, []);
  assert.equal((await mgr.request('programme.show', { programme_id: id })).programme.agreement_required, true, 'nothing changed');
  // the creator's signature: stored and shown, and it verifies with the creator's key
  const { programme } = await mgr.request('programme.settings', good);
  assert.equal(programme.id, id);
  assert.equal(programme.agreement_required, false);
  assert.equal(programme.created_by, mgr.id);
  assert.equal(programme.settings_sig, good.signature);
  assert.equal(programme.retention_days, 30);
  assert.ok(verifyProgrammeSettings(programme, mgr.keys.signPk));
  assert.ok(!verifyProgrammeSettings({ ...programme, agreement_required: true }, mgr.keys.signPk), 'the setting is covered');
  assert.ok(!verifyProgrammeSettings(programme, fake.publicKey));
  assert.equal(programmeSettingsBytes(id, mgr.id, false).length, 'ementor programme settings v1'.length + 1 + 8 + 8 + 1);
  const shown = (await mgr.request('programme.show', { programme_id: id })).programme;
  assert.equal(shown.settings_sig, good.signature);
  assert.equal(shown.agreement_required, false);
  // before any room, the setting may change back and forth
  const back = await mgr.request('programme.settings', programmeSettingsArgs(id, mgr.id, true, mgr.keys.signSk));
  assert.equal(back.programme.agreement_required, true);
  assert.ok(verifyProgrammeSettings(back.programme, mgr.keys.signPk));
  assert.equal((await mgr.request('programme.settings', good)).programme.agreement_required, false);
  noAgreements = id;
});

test('a programme without agreements: every member is on the roster, commits name version 0, the setting is fixed once it has rooms', async () => {
  const { mgr, mentor, m1 } = people;
  const id = noAgreements;
  await mentor.request('invite.accept', { invite: await invite('mentor', id) });
  await m1.request('invite.accept', { invite: await invite('mentee', id) });
  const { room } = await mgr.request('room.create', { programme_id: id, kind: 'pair', members: [nameOf('mentor'), nameOf('m1')] });
  assert.ok(room.members.every((m) => m.roster === true));
  const a = await mentor.agreementShow(room.id);
  assert.equal(a.required, false);
  assert.equal(commitVersion(a), 0);
  assert.deepEqual([...a.roster].sort((x, y) => x - y), [mentor.id, m1.id].sort((x, y) => x - y));
  // with rooms, the setting can no longer change; signing the current one still can
  assert.equal(await codeOf(mgr.request('programme.settings', programmeSettingsArgs(id, mgr.id, true, mgr.keys.signSk))), 'bad_state');
  const same = await mgr.request('programme.settings', programmeSettingsArgs(id, mgr.id, false, mgr.keys.signSk));
  assert.equal(same.programme.agreement_required, false);
  assert.ok(verifyProgrammeSettings(same.programme, mgr.keys.signPk));
  await mentor.sync(); // subscribes to the new room too
  const epoch = await mentor.commitEpoch(room.id);
  assert.equal((await m1.request('keys.get', { room_id: room.id })).envelopes.find((e) => e.epoch === epoch).agreement_version, 0);
  const r = await m1.sendText(room.id, 'no agreement needed here');
  assert.equal((await mentor.open(await mentor.waitMessage(room.id, r.seq))).text, 'no agreement needed here');
  // a commit that names a version where there is no agreement is stale_version
  const cur = await mentor.roomShow(room.id);
  const roomKey = sodium.randombytes_buf(32);
  const envelopes = cur.members.map((m) => ({
    recipient_id: m.id,
    sealed: sealRoomKey({
      roomId: room.id, epoch: cur.epoch + 1, recipientId: m.id, recipientBoxPk: unb64(m.box_pk), committerId: mentor.id,
      committerSignSk: mentor.keys.signSk, agreementVersion: 1, roomKey, recipients: cur.members.map((x) => x.id),
    }),
  }));
  assert.equal(await codeOf(mentor.request('epoch.commit', {
    room_id: room.id, epoch: cur.epoch + 1, agreement_version: 1,
    envelopes: envelopes.map((e) => ({ recipient_id: e.recipient_id, sealed: b64(e.sealed) })),
    sig: b64(sodium.crypto_sign_detached(commitSigned(room.id, cur.epoch + 1, mentor.id, 1, envelopes), mentor.keys.signSk)),
  })), 'stale_version');
});

test('agreement.template.set takes text or lang (en, pl): both, neither or another language is bad_value; a mentee is forbidden', async () => {
  const { mgr, m1 } = people;
  const set = (c, args) => c.request('agreement.template.set', { programme_id: programmeId, ...args });
  assert.equal(await codeOf(set(mgr, {})), 'bad_value');
  assert.equal(await codeOf(set(mgr, { text: 'Our terms.', lang: 'pl' })), 'bad_value');
  assert.equal(await codeOf(set(mgr, { lang: 'de' })), 'bad_value');
  assert.equal(await codeOf(set(m1, { lang: 'pl' })), 'forbidden');
  const before = await mgr.request('agreement.template.get', { programme_id: programmeId });
  const pl = await set(mgr, { lang: 'pl' });
  assert.equal(pl.lang, 'pl');
  assert.match(pl.text, /^Umowa mentoringowa\n/);
  assert.match(pl.text, /co najmniej dwa dni \(48 godzin\)/);
  const en = await set(mgr, { lang: 'en' });
  assert.equal(en.lang, 'en');
  assert.match(en.text, /at least two days \(48 hours\)/);
  const own = await set(mgr, { text: `${en.text}- Phones stay silent.\n` });
  assert.equal(own.lang, null, 'the programme\'s own text has no default language');
  // back as it was, for the tests after this one
  const back = before.lang ? await set(mgr, { lang: before.lang }) : await set(mgr, { text: before.text });
  assert.equal(back.text, before.text);
});

test('agreement.propose: every other party of the new version gets an agreement.changed notice with counts, no term text; the proposer and outsiders get none', async () => {
  const { m1, out } = people;
  const term = `We answer within a day ${stamp}.`;
  const { agreement } = await m1.request('agreement.propose', { room_id: group, term });
  const v = agreement.pending;
  assert.ok(v, 'a pending version');
  const parties = v.parties.map((p) => p.user_id);
  for (const [who, c] of Object.entries(people)) {
    if (who === 'out') continue;
    const mine = (await c.request('notice.list', {})).notices
      .filter((n) => n.kind === 'agreement.changed' && n.room_id === group && n.version === v.version);
    if (!parties.includes(c.id) || c === m1) {
      assert.equal(mine.length, 0, `${who} is not told`);
      continue;
    }
    assert.equal(mine.length, 1, `${who}, a party, is told once`);
    const n = mine[0];
    assert.equal(n.by, nameOf('m1'));
    assert.equal(n.cause, 'term');
    assert.equal(n.compared_with, agreement.active ? agreement.active.version : v.version - 1);
    assert.ok(n.lines_added >= 1 && Number.isInteger(n.lines_removed));
    assert.ok(!JSON.stringify(n).includes(term), 'no term text in the notice');
  }
  assert.equal((await out.request('notice.list', {})).notices.filter((n) => n.kind === 'agreement.changed').length, 0);
});

test('withdrawing the data-processing consent erases the account: the reply, then 4003', async () => {
  const { out } = people;
  const entry = await out.consent('consent.withdraw', { purpose: 'data_processing', subject: notice.version, textHash: unb64(notice.text_hash) });
  assert.equal(entry.action, 'withdraw');
  const closed = await out.waitUntil(() => out.closed, 10000, 'the 4003 close');
  assert.equal(closed.code, 4003);
  const c = await connect();
  assert.equal(await codeOf(c.login(nameOf('out'), password)), 'bad_credentials');
});

test('no client saw a reply to a request it did not make, or a background error', async () => {
  for (const c of clients) {
    assert.deepEqual(c.strays, []);
    assert.deepEqual(c.errors.map(String), []);
  }
});
