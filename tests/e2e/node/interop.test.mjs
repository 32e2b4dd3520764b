// interop.test.mjs - the JavaScript client of client.mjs (written from
// docs/PROTOCOL.md alone) and the real C CLI as members of the same rooms of
// a real ementord; then JS-to-JS messaging in full (epochs, sync replay and
// live events, gaps, history, receipts, typing, removal and rotation),
// the device id, counter and time a sender signs inside each message (the C
// CLI's and JS's), and the refusals a manager meets on every messaging op.
//
// Run through tests/e2e/interop.sh, which sets up the people and rooms with
// the C CLI and exports:
//   EMENTOR_URL, EMENTOR_CA         the server and its self-signed certificate
//   EMENTOR_PASSWORD                the password of every account below
//   EMENTOR_INTEROP_MANAGER         the manager (registered with the C CLI)
//   EMENTOR_INTEROP_MANAGER_FPR     the fingerprint the C CLI showed for them
//   EMENTOR_INTEROP_PROGRAMME       the programme id
//   EMENTOR_INTEROP_ROOM            a pair room: the C mentor and the JS mentee
//   EMENTOR_INTEROP_CLI_USER        the mentor who uses the C CLI
//   EMENTOR_INTEROP_JS_USER         the mentee who uses this JS client
//                                   (registered by jsctl.mjs from a CLI invite)
//   EMENTOR_INTEROP_CLI_TEXT        what the C CLI sent to the room before this runs
//   EMENTOR_INTEROP_JS_TEXT         what this client sends at the CLI's epoch
//   EMENTOR_INTEROP_JS_TEXT2        what it sends after committing an epoch of its own
//   EMENTOR_INTEROP_CLI             "BIN HOME": the CLI and the C mentor's home
//                                   directory, for a live message while synced
// interop.sh then checks with `ementor read ROOM --json` that the CLI reads
// both JS texts. tests/e2e/run_node.sh does not run this file.
//
// Room keys go to a room's roster only (PROTOCOL.md section 7): every party
// of a room's agreement signs it before anyone commits or sends. In the pair
// room the C CLI (manager, mentor) and jsctl (the JS mentee) sign in
// interop.sh; here JS checks every one of those signatures (7.2). In the
// JS group room the JS client signs for every party, the manager included.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { requireEnv } from './lib.mjs';
import {
  Client, ProtocolError, CryptoError, ready, b64, unb64, fingerprint, verifyMessage, openMessage, openRoomKey,
  encryptMessage, sealRoomKey, commitSigned, commitVersion, safetyNumber, label, u32, u64, concat, messageAd,
  agreementBytes, signAsEveryParty,
} from './client.mjs';

const env = (name) => requireEnv(name);
const sodium = await ready();
const password = env('EMENTOR_PASSWORD');
const roomId = Number(env('EMENTOR_INTEROP_ROOM'));
const programmeId = Number(env('EMENTOR_INTEROP_PROGRAMME'));
const cliUser = env('EMENTOR_INTEROP_CLI_USER');
const jsUser = env('EMENTOR_INTEROP_JS_USER');
const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = promisify(execFile);

/** The error code of a promise that must reject with a ProtocolError. */
async function codeOf(promise) {
  try {
    const r = await promise;
    return `no error: ${JSON.stringify(r)}`;
  } catch (e) {
    if (e instanceof ProtocolError) return e.code;
    throw e;
  }
}

/** Flips one bit of byte i of a base64url field; returns the new field. */
function flip(field, i = 40) {
  const b = unb64(field);
  b[i % b.length] ^= 0x01;
  return b64(b);
}

const clients = [];
async function login(username) {
  const c = await Client.connect();
  clients.push(c);
  await c.login(username, password);
  return c;
}

test.after(() => {
  for (const c of clients) c.close();
});

// --- the manager, whose account the C CLI made ---------------------------

let manager;

test('the key backup the C CLI made opens in JS, and the fingerprint matches the CLI', async () => {
  manager = await login(env('EMENTOR_INTEROP_MANAGER'));
  assert.equal(manager.user.role, 'manager');
  // login() checks that the unwrapped private keys belong to the public keys
  assert.equal(fingerprint(manager.keys.signPk, manager.keys.boxPk), manager.user.fingerprint);
  assert.equal(manager.user.fingerprint, env('EMENTOR_INTEROP_MANAGER_FPR'));
});

test('a manager gets forbidden for every messaging op: no request returns ciphertext to a manager', async () => {
  const send = encryptMessage({
    roomId, epoch: 1, senderId: manager.id, signSk: manager.keys.signSk, roomKey: sodium.randombytes_buf(32), text: 'x',
  });
  const ops = [
    ['sync', {}],
    ['sync', { cursors: [{ room_id: roomId, seq: 0 }] }],
    ['history', { room_id: roomId }],
    ['send', { room_id: roomId, epoch: 1, client_msg_id: b64(send.clientMsgId), ciphertext: b64(send.ciphertext), sig: b64(send.sig) }],
    ['keys.get', { room_id: roomId }],
    ['receipt', { room_id: roomId, seq: 1 }],
    ['typing', { room_id: roomId }],
  ];
  for (const [op, args] of ops) {
    assert.equal(await codeOf(manager.request(op, args)), 'forbidden', `${op} ${JSON.stringify(args)}`);
  }
  // and no event with a message arrived on the manager's connection
  await sleep(200);
  assert.deepEqual(manager.events.filter((e) => e.ev === 'message' || e.ev === 'synced'), []);
  // room.show works for a manager and carries no ciphertext
  const room = await manager.roomShow(roomId);
  assert.equal(typeof room.epoch, 'number');
  assert.equal(typeof room.last_seq, 'number');
});

// --- the JS mentee and the C mentor in one pair room ---------------------

let js; // the JS mentee's connection
let cliMessage; // the message the C CLI sent, as received
let jsEpoch; // the epoch the JS client committed in the pair room

test('the JS mentee (registered by JS from a CLI invite) logs in and sees the CLI mentor in the room', async () => {
  js = await login(jsUser);
  assert.equal(js.user.role, 'mentee');
  const room = await js.roomShow(roomId);
  assert.equal(room.kind, 'pair');
  assert.deepEqual(room.members.map((m) => m.username), [cliUser, jsUser], 'mentor first');
  for (const m of room.members) assert.equal(m.fingerprint, fingerprint(unb64(m.sign_pk), unb64(m.box_pk)));
});

test('the pair room\'s agreement: the C CLI\'s and jsctl\'s signatures verify in JS over agreement_bytes (7.2)', async (t) => {
  const room = await js.roomShow(roomId);
  const a = await js.agreementShow(roomId);
  if (!a.required) {
    t.skip('interop.sh made the programme without agreements');
    return;
  }
  assert.ok(a.active, 'every party signed: there is an active version');
  assert.deepEqual(a.active.parties.map((p) => p.role).sort(), ['manager', 'mentee', 'mentor']);
  assert.deepEqual(a.active.parties.map((p) => p.user_id), [...a.active.parties.map((p) => p.user_id)].sort((x, y) => x - y),
    'parties in ascending user_id');
  const bytes = agreementBytes(roomId, a.active);
  for (const p of a.active.parties) {
    assert.ok(sodium.crypto_sign_verify_detached(unb64(p.signature), bytes, js.pins.get(p.user_id).signPk),
      `${p.username}'s signature (made by ${p.username === jsUser ? 'jsctl' : 'the C CLI'}) verifies`);
  }
  const recipients = await js.rosterFor(roomId, room);
  assert.deepEqual(recipients.map((m) => m.username).sort(), [cliUser, jsUser].sort());
  assert.ok(room.members.every((m) => m.roster === true), 'room.show: both members on the roster');
});

test('sync replays the message the C CLI sent; JS verifies the CLI\'s room key and signature and decrypts it', async () => {
  const r = await js.sync();
  const mine = r.rooms.find((x) => x.room_id === roomId);
  assert.ok(mine, 'the room is in the sync reply');
  assert.ok(mine.last_seq >= 1, 'the CLI sent a message before this test');
  assert.ok(mine.epoch >= 1, 'the CLI committed an epoch to send it');
  const msgs = js.messages(roomId);
  assert.equal(msgs.length, mine.last_seq);
  assert.deepEqual(msgs.map((m) => m.seq), Array.from({ length: mine.last_seq }, (_, i) => i + 1));
  cliMessage = msgs.find((m) => m.sender === cliUser);
  assert.ok(cliMessage, 'a message from the CLI user');
  assert.match(cliMessage.sent_at, RFC3339_UTC);
  assert.equal(unb64(cliMessage.client_msg_id).length, 16);
  // keys.get: the envelope the CLI sealed to us opens and its key_sig verifies (fetchKeys throws otherwise)
  const k = await js.fetchKeys(roomId);
  assert.ok(k.envelopes.some((e) => e.committer_id === cliMessage.sender_id));
  assert.equal((await js.open(cliMessage)).text, env('EMENTOR_INTEROP_CLI_TEXT'));
});

test('a tampered message fails signature verification (and is never decrypted)', async () => {
  const m = cliMessage;
  const sender = js.pins.get(m.sender_id);
  const key = await js.roomKey(roomId, m.epoch);
  assert.equal(verifyMessage(m, sender.signPk), true);
  const tampered = [
    { ...m, ciphertext: flip(m.ciphertext, 30) }, // a byte of the AEAD ciphertext
    { ...m, ciphertext: flip(m.ciphertext, 3) }, // a byte of the nonce
    { ...m, ciphertext: flip(m.ciphertext, unb64(m.ciphertext).length - 1) }, // the tag
    { ...m, sig: flip(m.sig, 5) },
    { ...m, client_msg_id: flip(m.client_msg_id, 0) },
    { ...m, epoch: m.epoch + 1 },
    { ...m, room_id: m.room_id + 1000 },
    { ...m, sender_id: js.id, sender: jsUser }, // another sender's name on it
  ];
  for (const t of tampered) {
    assert.equal(verifyMessage(t, sender.signPk), false, JSON.stringify(t).slice(0, 120));
    assert.throws(() => openMessage(t, sender.signPk, key), (e) => e instanceof CryptoError && e.code === 'bad_signature');
  }
  // through the client: the first tampered one fails with bad_signature
  await assert.rejects(js.open(tampered[0]), (e) => e.code === 'bad_signature');
  // the untouched message still opens
  assert.equal(openMessage(m, sender.signPk, key).text, env('EMENTOR_INTEROP_CLI_TEXT'));
});

test('JS sends to the CLI at the CLI\'s epoch, then commits an epoch of its own and sends again', async () => {
  const before = await js.roomShow(roomId);
  const r1 = await js.sendText(roomId, env('EMENTOR_INTEROP_JS_TEXT'));
  assert.equal(r1.duplicate, false);
  assert.equal(r1.seq, before.last_seq + 1);
  assert.equal(r1.args.epoch, before.epoch);
  // our own message comes back as a live message event, and opens
  const own = await js.waitMessage(roomId, r1.seq);
  assert.equal((await js.open(own)).text, env('EMENTOR_INTEROP_JS_TEXT'));

  const epoch = await js.commitEpoch(roomId);
  assert.equal(epoch, before.epoch + 1);
  jsEpoch = epoch;
  const ev = await js.nextEvent('epoch', (d) => d.room_id === roomId && d.epoch === epoch);
  assert.equal(ev.committer_id, js.id);
  const r2 = await js.sendText(roomId, env('EMENTOR_INTEROP_JS_TEXT2'));
  assert.equal(r2.args.epoch, epoch);
  assert.equal(r2.seq, r1.seq + 1);
  const own2 = await js.waitMessage(roomId, r2.seq);
  assert.equal((await js.open(own2)).text, env('EMENTOR_INTEROP_JS_TEXT2'));
});

test('a message the C CLI sends while JS is synced arrives live and opens', async () => {
  const [bin, home] = env('EMENTOR_INTEROP_CLI').split(' ');
  const text = `live from C ${Date.now()} — ünïcödé ✓`;
  const last = js._room(roomId).cursor;
  await run(bin, ['--home', home, 'send', String(roomId), text], { env: process.env, timeout: 30000 });
  const m = await js.waitMessage(roomId, last + 1, 15000);
  assert.equal(m.sender, cliUser);
  assert.equal((await js.open(m)).text, text);
  // the CLI sent at the epoch JS committed: it opened JS's envelope and checked its key_sig
  assert.equal(m.epoch, jsEpoch);
});

test('CLI chat and read meet JS live: typing, messages and receipts both ways', async () => {
  const [bin, home] = env('EMENTOR_INTEROP_CLI').split(' ');
  const sam = (await js.roomShow(roomId)).members.find((u) => u.username === cliUser).id;
  const cliLine = `chat line from C ${Date.now()}`;
  const jsLine = `JS answers the chat ${Date.now()}`;
  const last = js._room(roomId).cursor;
  // the CLI chats: piped input, then it stays --linger seconds to receive
  const chat = run(bin, ['--home', home, 'chat', String(roomId), '--linger', '6'], { env: process.env, timeout: 30000 });
  chat.child.stdin.end(`${cliLine}\n`);
  // CLI -> JS: a typing notice, then the line
  const typing = await js.nextEvent('typing', (d) => d.room_id === roomId, 15000);
  assert.deepEqual(typing, { room_id: roomId, user_id: sam, username: cliUser });
  const m = await js.waitMessage(roomId, last + 1, 15000);
  assert.equal((await js.open(m)).text, cliLine);
  // JS -> CLI: typing, a message and a receipt while the CLI lingers
  await js.typing(roomId);
  const r = await js.sendText(roomId, jsLine);
  await js.receipt(roomId, r.seq);
  const { stdout } = await chat;
  assert.ok(stdout.includes(jsLine), `the CLI chat showed the JS message:\n${stdout}`);
  assert.match(stdout, new RegExp(`${jsUser}.*read up to ${r.seq}`), 'the CLI chat showed the JS receipt');
  // `ementor read` sends a receipt for the last message it shows
  const r2 = await js.sendText(roomId, `one more for read ${Date.now()}`);
  await run(bin, ['--home', home, 'read', String(roomId)], { env: process.env, timeout: 30000 });
  const rc = await js.nextEvent('receipt', (d) => d.room_id === roomId && d.user_id === sam && d.seq === r2.seq, 15000);
  assert.equal(rc.username, cliUser);
});

test('every message of the C CLI opens in JS with one device and counters 1, 2, 3, ... in the order it wrote them', async () => {
  const [bin, home] = env('EMENTOR_INTEROP_CLI').split(' ');
  const sam = (await js.roomShow(roomId)).members.find((u) => u.username === cliUser).id;
  const before = js.messages(roomId).filter((m) => m.sender_id === sam).length;
  assert.ok(before >= 3, `the CLI wrote ${before} messages before this test`);
  // three more, one after the other
  const texts = [1, 2, 3].map((i) => `C counter check ${i} ${Date.now()}`);
  let last = js._room(roomId).cursor;
  for (const text of texts) {
    const t0 = Date.now();
    await run(bin, ['--home', home, 'send', String(roomId), text], { env: process.env, timeout: 30000 });
    const m = await js.waitMessage(roomId, last + 1, 15000);
    last = m.seq;
    const opened = await js.open(m);
    assert.equal(opened.text, text);
    assert.ok(opened.written_ms >= t0 - 1000 && opened.written_ms <= Date.now() + 1000,
      `written_ms ${opened.written_ms} is when the CLI ran (${t0}..${Date.now()})`);
  }
  const mine = js.messages(roomId).filter((m) => m.sender_id === sam);
  const opened = [];
  for (const m of mine) opened.push(await js.open(m));
  assert.deepEqual(opened.map((o) => o.counter), Array.from({ length: mine.length }, (_, i) => i + 1),
    'the C client\'s counter in this room: 1, 2, 3, ... in seq order');
  assert.deepEqual(opened.slice(-3).map((o) => o.text), texts);
  const device = Buffer.from(opened[0].device).toString('hex');
  assert.match(device, /^[0-9a-f]{16}$/);
  assert.notEqual(device, '0000000000000000');
  assert.deepEqual(opened.map((o) => Buffer.from(o.device).toString('hex')), opened.map(() => device), 'one device, the CLI\'s home');
  for (const [i, o] of opened.entries()) {
    if (i > 0) assert.ok(o.written_ms >= opened[i - 1].written_ms, 'written in order');
    const sent = Date.parse(mine[i].sent_at);
    assert.ok(Math.abs(sent - o.written_ms) < 5 * 60 * 1000, `written_ms ${o.written_ms} vs sent_at ${mine[i].sent_at}`);
  }
});

test('both sides compute the same safety number', async () => {
  const room = await js.roomShow(roomId);
  const [a, b] = room.members.map((u) => ({ signPk: unb64(u.sign_pk), boxPk: unb64(u.box_pk) }));
  const n = safetyNumber(a, b);
  assert.match(n, /^(\d{5} ){11}\d{5}$/);
  assert.equal(safetyNumber(b, a), n, 'symmetric');
  const [bin, home] = env('EMENTOR_INTEROP_CLI').split(' ');
  let out;
  try {
    out = (await run(bin, ['--home', home, 'verify', jsUser], { env: process.env, timeout: 30000 })).stdout;
  } catch (e) {
    if (/unknown command/.test(e.stderr ?? '')) return; // the CLI has no `verify` yet
    throw e;
  }
  assert.ok(out.includes(n), `the CLI printed ${out}, JS computed ${n}`);
});

// --- JS to JS: everything of section 5 -----------------------------------

const people = {}; // name -> Client
let group; // room id
let nameOf;

test('JS: the manager invites three people who register with the JS client; a group room', async () => {
  const stamp = Date.now().toString(36).slice(-6);
  nameOf = (who) => `${who}${stamp}`;
  for (const [who, role] of [['jmentor', 'mentor'], ['jmentee1', 'mentee'], ['jmentee2', 'mentee'], ['jmentee3', 'mentee']]) {
    const inv = await manager.request('invite.create', { programme_id: programmeId, role });
    const c = await Client.connect();
    clients.push(c);
    const reg = await c.register({ invite: inv.code, username: nameOf(who), password, displayName: `JS ${who}` });
    assert.equal(reg.user.role, role);
    assert.equal(reg.programme_id, programmeId);
    await c.login(nameOf(who), password);
    people[who] = c;
  }
  const { room } = await manager.request('room.create', {
    programme_id: programmeId, kind: 'group', name: `JS group ${stamp}`,
    members: [nameOf('jmentor'), nameOf('jmentee1'), nameOf('jmentee2')],
  });
  group = room.id;
  assert.equal(room.status, 'ready');
  // members learn that they were added, synced or not
  for (const who of ['jmentor', 'jmentee1', 'jmentee2']) {
    const ev = await people[who].nextEvent('room', (d) => d.room_id === group);
    assert.equal(ev.change, 'added');
  }
});

/** username -> logged-in Client of everyone in this file (signAsEveryParty uses them). */
function logins() {
  const out = { [manager.user.username]: manager };
  for (const [who, c] of Object.entries(people)) out[nameOf(who)] = c;
  return out;
}

test('JS: every party signs the group agreement (the manager who made the room, mentor, mentees)', async () => {
  const before = await people.jmentor.agreementShow(group);
  assert.equal(before.required, true);
  assert.equal(before.active, null);
  assert.deepEqual(before.roster, []);
  assert.deepEqual(before.pending.parties.map((p) => p.username).sort(),
    [manager.user.username, nameOf('jmentor'), nameOf('jmentee1'), nameOf('jmentee2')].sort());
  const after = await signAsEveryParty(people.jmentor, group, password, logins());
  assert.equal(after.pending, null);
  assert.equal(after.active.version, before.pending.version);
  assert.deepEqual([...after.roster].sort((a, b) => a - b),
    ['jmentor', 'jmentee1', 'jmentee2'].map((w) => people[w].id).sort((a, b) => a - b));
});

test('JS: a new room is at epoch 0 with no key and rotate_required; keys.get is empty', async () => {
  const { mentor } = { mentor: people.jmentor };
  const room = await mentor.roomShow(group);
  assert.equal(room.epoch, 0);
  assert.equal(room.last_seq, 0);
  assert.equal(room.rotate_required, true);
  assert.deepEqual(room.former_members, []);
  const k = await mentor.request('keys.get', { room_id: group });
  assert.deepEqual(k, { epoch: 0, envelopes: [] });
});

test('JS: sync answers the rooms first, then `synced`', async () => {
  for (const who of ['jmentor', 'jmentee1', 'jmentee2']) {
    const r = await people[who].sync();
    const row = r.rooms.find((x) => x.room_id === group);
    assert.deepEqual({ room_id: row.room_id, last_seq: row.last_seq, epoch: row.epoch }, { room_id: group, last_seq: 0, epoch: 0 });
    assert.ok(r.synced.some((x) => x.room_id === group && x.last_seq === 0));
  }
});

test('JS: send before any epoch is refused with rotate_required', async () => {
  const c = people.jmentor;
  const m = encryptMessage({ roomId: group, epoch: 0, senderId: c.id, signSk: c.keys.signSk, roomKey: sodium.randombytes_buf(32), text: 'too early' });
  const code = await codeOf(c.request('send', {
    room_id: group, epoch: 0, client_msg_id: b64(m.clientMsgId), ciphertext: b64(m.ciphertext), sig: b64(m.sig),
  }));
  assert.ok(code === 'rotate_required' || code === 'out_of_range', `got ${code}`);
  const m1 = encryptMessage({ roomId: group, epoch: 1, senderId: c.id, signSk: c.keys.signSk, roomKey: sodium.randombytes_buf(32), text: 'too early' });
  assert.equal(await codeOf(c.request('send', {
    room_id: group, epoch: 1, client_msg_id: b64(m1.clientMsgId), ciphertext: b64(m1.ciphertext), sig: b64(m1.sig),
  })), 'rotate_required');
});

/**
 * An epoch.commit of c to `members` (User objects) at `epoch`, under the
 * agreement version in force (agreement.show), optionally broken.
 */
async function commitArgs(c, members, epoch, { badSig = false } = {}) {
  const version = commitVersion(await c.agreementShow(group));
  const roomKey = sodium.randombytes_buf(32);
  const envelopes = members.map((m) => ({
    recipient_id: m.id,
    sealed: sealRoomKey({
      roomId: group, epoch, recipientId: m.id, recipientBoxPk: unb64(m.box_pk), committerId: c.id, committerSignSk: c.keys.signSk,
      agreementVersion: version, roomKey, recipients: members.map((x) => x.id),
    }),
  }));
  const signed = commitSigned(group, badSig ? epoch + 1 : epoch, c.id, version, envelopes);
  return {
    room_id: group, epoch, agreement_version: version,
    envelopes: envelopes.map((e) => ({ recipient_id: e.recipient_id, sealed: b64(e.sealed) })),
    sig: b64(sodium.crypto_sign_detached(signed, c.keys.signSk)),
  };
}

test('JS: epoch.commit is refused with roster_mismatch, bad_signature and stale_epoch as documented', async () => {
  const c = people.jmentor;
  const room = await c.roomShow(group);
  assert.equal(await codeOf(c.request('epoch.commit', await commitArgs(c, room.members.slice(0, 2), 1))), 'roster_mismatch', 'a member left out');
  assert.equal(await codeOf(c.request('epoch.commit', await commitArgs(c, room.members, 1, { badSig: true }))), 'bad_signature');
  assert.equal(await codeOf(c.request('epoch.commit', await commitArgs(c, room.members, 2))), 'stale_epoch', 'skipping an epoch');
  assert.equal((await c.roomShow(group)).epoch, 0, 'nothing changed');
});

test('JS: a commit moves the room to epoch 1; every member gets an epoch event whose key_sig verifies', async () => {
  const active = (await people.jmentor.agreementShow(group)).active.version;
  const epoch = await people.jmentor.commitEpoch(group);
  assert.equal(epoch, 1);
  for (const who of ['jmentor', 'jmentee1', 'jmentee2']) {
    const c = people[who];
    const ev = await c.nextEvent('epoch', (d) => d.room_id === group && d.epoch === 1);
    assert.equal(ev.committer_id, people.jmentor.id);
    assert.equal(unb64(ev.sealed).length, 208);
    assert.equal(ev.agreement_version, active, 'the epoch names the agreement version in force');
    await c.waitUntil(() => c._room(group).keys.has(1), 5000, 'the epoch key to be opened');
    assert.deepEqual(c._room(group).keys.get(1), people.jmentor._room(group).keys.get(1));
  }
  const room = await people.jmentor.roomShow(group);
  assert.equal(room.epoch, 1);
  assert.equal(room.rotate_required, false);
});

test('JS: the loser of a commit race (a second commit for the same epoch) gets stale_epoch', async () => {
  const room = await people.jmentee1.roomShow(group);
  const again = await commitArgs(people.jmentee1, room.members, 1);
  assert.equal(await codeOf(people.jmentee1.request('epoch.commit', again)), 'stale_epoch');
  assert.equal((await people.jmentee1.roomShow(group)).epoch, 1);
});

test('JS: a message reaches every subscribed connection, the sender\'s included, and opens', async () => {
  const [a, b, c] = ['jmentor', 'jmentee1', 'jmentee2'].map((w) => people[w]);
  const text = 'Hello group — 👋 from JS';
  const r = await b.sendText(group, text);
  assert.equal(r.seq, 1);
  assert.equal(r.duplicate, false);
  assert.match(r.sent_at, RFC3339_UTC);
  for (const x of [a, b, c]) {
    const m = await x.waitMessage(group, 1);
    assert.equal(m.sender, nameOf('jmentee1'));
    assert.equal(m.sender_id, b.id);
    assert.equal(m.epoch, 1);
    assert.equal(m.client_msg_id, r.args.client_msg_id);
    assert.equal(m.ciphertext, r.args.ciphertext);
    assert.equal(m.sig, r.args.sig);
    assert.equal(m.sent_at, r.sent_at);
    const opened = await x.open(m);
    assert.equal(opened.text, text);
    assert.deepEqual(opened.device, b.device, 'the sending device');
    assert.equal(opened.counter, 1, 'the first message of this device in the room');
    assert.equal(opened.written_ms, r.meta.writtenMs);
  }
  // the ciphertext is padded to 256-byte blocks: nonce + padded + tag
  assert.equal(unb64(r.args.ciphertext).length, 24 + 256 + 16);
});

test('JS: a resend with the same client_msg_id stores nothing new and answers duplicate: true', async () => {
  const b = people.jmentee1;
  const r = await b.sendText(group, 'once only');
  const again = await b.request('send', r.args);
  assert.deepEqual(again, { seq: r.seq, sent_at: r.sent_at, duplicate: true });
  // even re-encrypted (new nonce) under the same client_msg_id (and, as a resend, the same counter)
  const re = await b.sealMessage(group, 1, 'once only', unb64(r.args.client_msg_id), r.meta);
  assert.notEqual(re.ciphertext, r.args.ciphertext);
  assert.equal((await b.request('send', re)).duplicate, true);
  await sleep(200);
  assert.equal((await b.roomShow(group)).last_seq, r.seq);
  assert.equal(b.messages(group).filter((m) => m.client_msg_id === r.args.client_msg_id).length, 1);
});

test('JS: the same send three times at once (one writer batch) is stored once; all three answers name its seq', async () => {
  const b = people.jmentee1;
  const first = await b.sendText(group, 'before the burst');
  const args = await b.sealMessage(group, 1, 'three at once', sodium.randombytes_buf(16), b.nextMeta(group));
  const answers = await Promise.all([1, 2, 3].map(() => b.request('send', args)));
  const seqs = new Set(answers.map((a) => a.seq));
  assert.equal(seqs.size, 1, 'one seq for all three');
  assert.equal(answers[0].seq > first.seq, true);
  assert.equal(answers.filter((a) => a.duplicate === false).length, 1, 'one stored, two duplicates');
  await sleep(200);
  assert.equal((await b.roomShow(group)).last_seq, answers[0].seq, 'no seq used twice, none skipped');
  assert.equal(b.messages(group).filter((m) => m.client_msg_id === args.client_msg_id).length, 1);
});

test('JS: one client instance is one device: its messages in a room count 1, 2, 3, ...; another instance is another device', async () => {
  const [a, b] = ['jmentor', 'jmentee1'].map((w) => people[w]);
  const sent = [];
  for (const i of [1, 2, 3]) sent.push(await b.sendText(group, `counted ${i}`));
  const first = sent[0].meta.counter;
  assert.ok(first >= 2, 'b wrote in this room before');
  assert.deepEqual(sent.map((r) => r.meta.counter), [first, first + 1, first + 2]);
  for (const r of sent) {
    const o = await a.open(await a.waitMessage(group, r.seq));
    assert.deepEqual([o.counter, o.device, o.written_ms], [r.meta.counter, b.device, r.meta.writtenMs]);
  }
  // the same user on a new connection: a new device id, counting from 1
  const other = await login(nameOf('jmentee1'));
  const r = await other.sendText(group, 'from my other device');
  const o = await a.open(await a.waitMessage(group, r.seq));
  assert.equal(o.counter, 1);
  assert.deepEqual(o.device, other.device);
  assert.notDeepEqual(o.device, b.device);
  other.close();
});

test('JS: send at another epoch than the room\'s is refused with stale_epoch', async () => {
  const b = people.jmentee1;
  const m = encryptMessage({ roomId: group, epoch: 2, senderId: b.id, signSk: b.keys.signSk, roomKey: b._room(group).keys.get(1), text: 'wrong epoch' });
  assert.equal(await codeOf(b.request('send', {
    room_id: group, epoch: 2, client_msg_id: b64(m.clientMsgId), ciphertext: b64(m.ciphertext), sig: b64(m.sig),
  })), 'stale_epoch');
});

test('JS: ciphertext and text bounds: 16,384 bytes of text fit, more is refused, a short ciphertext is bad_encoding', async () => {
  const b = people.jmentee1;
  const big = 'x'.repeat(16384);
  const r = await b.sendText(group, big);
  assert.equal(unb64(r.args.ciphertext).length, 16680);
  const m = await people.jmentor.waitMessage(group, r.seq);
  assert.equal((await people.jmentor.open(m)).text, big);
  const args = await b.sealMessage(group, 1, 'short');
  args.ciphertext = b64(unb64(args.ciphertext).subarray(0, 295));
  assert.equal(await codeOf(b.request('send', args)), 'bad_encoding');
});

test('JS: typing goes to the others once per 2 s; an unsynced connection may not send it', async () => {
  const [a, b, c] = ['jmentor', 'jmentee1', 'jmentee2'].map((w) => people[w]);
  assert.deepEqual(await a.typing(group), {});
  for (const x of [b, c]) {
    const ev = await x.nextEvent('typing', (d) => d.room_id === group);
    assert.deepEqual(ev, { room_id: group, user_id: a.id, username: nameOf('jmentor') });
  }
  const e = await a.typing(group).catch((x) => x);
  assert.equal(e.code, 'rate_limited');
  assert.ok(e.retryAfterMs > 0 && e.retryAfterMs <= 2000, `retry_after_ms ${e.retryAfterMs}`);
  await sleep(200);
  assert.equal(a.events.filter((x) => x.ev === 'typing').length, 0, 'not to the typist');
  // another device of the mentor, logged in but not synced
  const other = await login(nameOf('jmentor'));
  assert.equal(await codeOf(other.typing(group)), 'not_member');
});

test('JS: receipts are stored, pushed to the room, and never go backwards', async () => {
  const [a, b] = ['jmentor', 'jmentee1'].map((w) => people[w]);
  assert.deepEqual(await a.receipt(group, 2), { seq: 2 });
  const ev = await b.nextEvent('receipt', (d) => d.room_id === group && d.user_id === a.id);
  assert.deepEqual(ev, { room_id: group, user_id: a.id, username: nameOf('jmentor'), seq: 2 });
  const lower = await a.receipt(group, 1);
  assert.equal(lower.seq, 2, 'a lower value changes nothing');
});

test('JS: history pages in ascending seq with more', async () => {
  const a = people.jmentor;
  const last = (await a.roomShow(group)).last_seq;
  assert.ok(last >= 3);
  const p1 = await a.history(group, 0, 2);
  assert.deepEqual(p1.messages.map((m) => m.seq), [1, 2]);
  assert.equal(p1.last_seq, last);
  assert.equal(p1.more, true);
  const p2 = await a.history(group, 2, 500);
  assert.equal(p2.messages[0].seq, 3);
  assert.equal(p2.messages.at(-1).seq, last);
  assert.equal(p2.more, false);
  for (const m of [...p1.messages, ...p2.messages]) await a.open(m);
  assert.equal(await codeOf(a.history(group, 0, 501)), 'out_of_range');
});

test('JS: a second device syncs with a cursor: replay after it in order, then synced, then live', async () => {
  const name = nameOf('jmentee2');
  const dev = await login(name);
  const last = (await dev.roomShow(group)).last_seq;
  dev._room(group).cursor = 1; // as if it held seq 1 already
  const r = await dev.sync([{ room_id: group, seq: 1 }]);
  assert.equal(r.rooms.find((x) => x.room_id === group).last_seq, last);
  const replayed = dev.events.filter((e) => e.ev === 'message' && e.data.room_id === group).map((e) => e.data.seq);
  assert.deepEqual(replayed, Array.from({ length: last - 1 }, (_, i) => i + 2), 'seq 2..last, nothing before the cursor');
  const syncedAt = dev.events.findIndex((e) => e.ev === 'synced');
  assert.ok(dev.events.slice(0, syncedAt).filter((e) => e.ev === 'message').length === last - 1, 'replay before synced');
  const live = await people.jmentor.sendText(group, 'live after sync');
  const m = await dev.waitMessage(group, live.seq);
  assert.equal((await dev.open(m)).text, 'live after sync');
});

test('JS: a gap in live messages is filled with history, never skipped', async () => {
  const dev = await login(nameOf('jmentee1'));
  const last = (await dev.roomShow(group)).last_seq;
  // subscribe at the end, but hold only seq 1 locally: the next live message leaves a gap
  await dev.request('sync', { cursors: [{ room_id: group, seq: last }] });
  await dev.nextEvent('synced');
  dev._room(group).cursor = 1;
  const live = await people.jmentee2.sendText(group, 'after a gap');
  const m = await dev.waitMessage(group, live.seq);
  assert.equal((await dev.open(m)).text, 'after a gap');
  assert.ok(dev._room(group).gapFills >= 1, 'history was asked');
  assert.deepEqual(dev.messages(group).map((x) => x.seq), Array.from({ length: live.seq - 1 }, (_, i) => i + 2));
});

let removedSeq; // a message the removed member wrote before leaving

test('JS: removing a member: room events, rotate_required, former_members whose keys still verify old messages', async () => {
  const [a, b, c] = ['jmentor', 'jmentee1', 'jmentee2'].map((w) => people[w]);
  removedSeq = (await b.sendText(group, 'written before I leave')).seq;
  const res = await manager.request('room.remove', { room_id: group, username: nameOf('jmentee1') });
  assert.deepEqual(res.room.members.map((m) => m.username), [nameOf('jmentor'), nameOf('jmentee2')]);
  assert.equal((await b.nextEvent('room', (d) => d.room_id === group && d.change === 'removed')).room_id, group);
  for (const x of [a, c]) await x.nextEvent('room', (d) => d.room_id === group && d.change === 'members');

  const room = await a.roomShow(group);
  assert.equal(room.rotate_required, true);
  assert.equal(room.former_members.length, 1);
  assert.equal(room.former_members[0].username, nameOf('jmentee1'));
  assert.match(room.former_members[0].removed_at, RFC3339_UTC);
  // the removed member's old messages still verify with the former member's key
  const old = (await a.history(group, removedSeq - 1, 1)).messages[0];
  assert.equal((await a.open(old)).text, 'written before I leave');
});

test('JS: after a removal, send at the old epoch is rotate_required and a commit sealed to the former member is roster_mismatch', async () => {
  const a = people.jmentor;
  const room = await a.roomShow(group);
  const stale = await a.sealMessage(group, room.epoch, 'not yet');
  assert.equal(await codeOf(a.request('send', stale)), 'rotate_required');
  assert.equal(await codeOf(a.request('epoch.commit',
    await commitArgs(a, [...room.members, room.former_members[0]], room.epoch + 1))), 'roster_mismatch');
  assert.equal((await a.roomShow(group)).epoch, room.epoch, 'nothing changed');
});

test('JS: the removed member is refused everything in the room with not_member', async () => {
  const b = people.jmentee1;
  const epoch = (await people.jmentor.roomShow(group)).epoch;
  assert.equal(await codeOf(b.request('history', { room_id: group })), 'not_member');
  assert.equal(await codeOf(b.request('keys.get', { room_id: group })), 'not_member');
  assert.equal(await codeOf(b.request('receipt', { room_id: group, seq: 1 })), 'not_member');
  assert.equal(await codeOf(b.request('typing', { room_id: group })), 'not_member');
  assert.equal(await codeOf(b.request('send', await b.sealMessage(group, epoch, 'still here?'))), 'not_member');
  const r = await b.sync();
  assert.equal(r.rooms.find((x) => x.room_id === group), undefined, 'sync no longer lists the room');
});

test('JS: the next epoch goes to the remaining members only; the removed member sees nothing of it', async () => {
  const [a, b, c] = ['jmentor', 'jmentee1', 'jmentee2'].map((w) => people[w]);
  const before = (await c.roomShow(group)).epoch;
  const epoch = await c.commitEpoch(group);
  assert.equal(epoch, before + 1);
  const r = await a.sendText(group, 'after the removal');
  assert.equal(r.args.epoch, epoch);
  assert.equal((await c.open(await c.waitMessage(group, r.seq))).text, 'after the removal');
  await sleep(300);
  assert.equal(b.events.filter((e) => e.ev === 'epoch' && e.data.room_id === group && e.data.epoch === epoch).length, 0);
  assert.equal(b.events.filter((e) => e.ev === 'message' && e.data.room_id === group && e.data.seq === r.seq).length, 0);
});

test('JS: a member added later gets only the epochs sealed to them after joining', async () => {
  const d = people.jmentee3;
  await manager.request('room.add', { room_id: group, username: nameOf('jmentee3') });
  await d.nextEvent('room', (x) => x.room_id === group && x.change === 'added');
  const current = (await d.roomShow(group)).epoch;
  const before = await d.request('keys.get', { room_id: group });
  assert.deepEqual(before, { epoch: current, envelopes: [] });
  // not on the roster until every party signs the version that lists them
  assert.equal((await d.roomShow(group)).members.find((m) => m.id === d.id).roster, false);
  const agreement = await signAsEveryParty(d, group, password, logins());
  assert.ok(agreement.roster.includes(d.id), 'on the roster once everyone signed');
  await d.sync();
  const epoch = await d.commitEpoch(group);
  assert.equal(epoch, current + 1);
  const after = await d.request('keys.get', { room_id: group });
  assert.deepEqual(after.envelopes.map((e) => [e.epoch, e.committer_id]), [[epoch, d.id]]);
  const r = await people.jmentor.sendText(group, 'welcome');
  assert.equal((await d.open(await d.waitMessage(group, r.seq))).text, 'welcome');
  // an older message is not readable for the newcomer: no key for its epoch
  const first = (await d.history(group, 0, 1)).messages[0];
  await assert.rejects(d.open(first), (e) => e.code === 'no_key');
});

test('JS: the envelope, commit and message layouts are exactly as section 5.1 says', async () => {
  // a room key envelope built here opens with libsodium primitives directly
  const a = people.jmentor;
  const roomKey = sodium.randombytes_buf(32);
  const sealed = sealRoomKey({
    roomId: 7, epoch: 9, recipientId: a.id, recipientBoxPk: a.keys.boxPk, committerId: 42, committerSignSk: a.keys.signSk,
    agreementVersion: 3, roomKey, recipients: [a.id + 1000, a.id],
  });
  assert.equal(sealed.length, 208);
  const plain = sodium.crypto_box_seal_open(sealed, a.keys.boxPk, a.keys.boxSk);
  assert.equal(plain.length, 8 + 4 + 4 + 6 * 8 + 32 + 64);
  assert.deepEqual(plain.subarray(0, 8), u64(42));
  assert.deepEqual(plain.subarray(8, 12), u32(3));
  // the recipient list: n, then 6 slots ascending with zeros after the n-th
  const list = concat(u32(2), u64(a.id), u64(a.id + 1000), u64(0), u64(0), u64(0), u64(0));
  assert.deepEqual(plain.subarray(12, 64), list);
  assert.deepEqual(plain.subarray(64, 96), roomKey);
  const signed = concat(label('ementor room key v2'), u64(7), u64(9), u64(a.id), u64(42), u32(3), list, roomKey);
  assert.equal(label('ementor room key v2').at(-1), 0);
  assert.ok(sodium.crypto_sign_verify_detached(plain.subarray(96), signed, a.keys.signPk));
  // opening checks what the server lists with it: the agreement version and the committer
  const open = (over) => openRoomKey({
    sealed, roomId: 7, epoch: 9, myId: a.id, myBoxPk: a.keys.boxPk, myBoxSk: a.keys.boxSk, committerId: 42, agreementVersion: 3,
    committerSignPk: a.keys.signPk, ...over,
  });
  assert.deepEqual(open({}), { roomKey, committerId: 42, agreementVersion: 3, recipients: [a.id, a.id + 1000] });
  assert.throws(() => open({ agreementVersion: 2 }), (e) => e instanceof CryptoError && e.code === 'bad_envelope');
  assert.throws(() => open({ committerId: 43 }), (e) => e instanceof CryptoError && e.code === 'bad_envelope');
  assert.throws(() => open({ epoch: 10 }), (e) => e instanceof CryptoError && e.code === 'bad_key_signature');
  assert.throws(() => open({ committerSignPk: people.jmentee2.keys.signPk }), (e) => e.code === 'bad_key_signature');
  // an envelope whose signature covers another version, or another recipient list, than the one inside does not verify
  const forged = sodium.crypto_box_seal(concat(u64(42), u32(4), list, roomKey, plain.subarray(96)), a.keys.boxPk);
  assert.throws(() => openRoomKey({
    sealed: forged, roomId: 7, epoch: 9, myId: a.id, myBoxPk: a.keys.boxPk, myBoxSk: a.keys.boxSk, committerId: 42, agreementVersion: 4,
    committerSignPk: a.keys.signPk,
  }), (e) => e.code === 'bad_key_signature');
  const shorter = sodium.crypto_box_seal(
    concat(u64(42), u32(3), u32(1), u64(a.id), u64(0), u64(0), u64(0), u64(0), u64(0), roomKey, plain.subarray(96)), a.keys.boxPk);
  assert.throws(() => open({ sealed: shorter }), (e) => e.code === 'bad_key_signature');
  // a list without me, or not ascending, is refused before any signature check
  const notMe = sodium.crypto_box_seal(
    concat(u64(42), u32(3), u32(1), u64(a.id + 1000), u64(0), u64(0), u64(0), u64(0), u64(0), roomKey, plain.subarray(96)),
    a.keys.boxPk);
  assert.throws(() => open({ sealed: notMe }), (e) => e.code === 'bad_envelope');
  // the commit bytes
  const envelopes = [{ recipient_id: 5, sealed }, { recipient_id: 2, sealed: forged }];
  assert.deepEqual(commitSigned(7, 9, 42, 3, envelopes), concat(label('ementor epoch commit v2'), u64(7), u64(9), u64(42), u32(3), u32(2),
    u64(2), sodium.crypto_generichash(32, forged, null), u64(5), sodium.crypto_generichash(32, sealed, null)));
  // a message body: device || u64 counter || u64 written_ms || text, padded to 256
  const device = sodium.randombytes_buf(8);
  const clientMsgId = sodium.randombytes_buf(16);
  const m = encryptMessage({
    roomId: 7, epoch: 9, senderId: a.id, signSk: a.keys.signSk, roomKey, text: 'layout', clientMsgId, device, counter: 5, writtenMs: 1234567890123,
  });
  const ad = messageAd(7, 9, a.id, clientMsgId);
  assert.deepEqual(ad, concat(label('ementor message v2'), u64(7), u64(9), u64(a.id), clientMsgId));
  const padded = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, m.ciphertext.subarray(24), ad, m.ciphertext.subarray(0, 24), roomKey);
  assert.equal(padded.length, 256);
  assert.deepEqual(sodium.unpad(padded, 256), concat(device, u64(5), u64(1234567890123), new TextEncoder().encode('layout')));
  const msg = {
    room_id: 7, epoch: 9, sender_id: a.id, seq: 1, client_msg_id: b64(clientMsgId), ciphertext: b64(m.ciphertext), sig: b64(m.sig),
  };
  assert.deepEqual(openMessage(msg, a.keys.signPk, roomKey), { device, counter: 5, written_ms: 1234567890123, text: 'layout' });
});

test('no client saw a reply to a request it did not make, or a background error', async () => {
  for (const c of clients) {
    assert.deepEqual(c.strays, []);
    assert.deepEqual(c.errors.map(String), []);
  }
});
