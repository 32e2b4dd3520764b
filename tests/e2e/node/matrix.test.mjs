// matrix.test.mjs - the authorisation matrix of the programme manager's audit
// (docs/PROTOCOL.md section 8): every request type of the protocol, sent as
// every role, with the answer each one must get, and a check that no answer
// or pushed event a manager receives carries message content.
//
// The roles: mgrA (manager of programme A), the mentor and the mentee of the
// pair room R of A, `other` (the mentor of another room R2 of A), mgrB (the
// manager of another programme B) and `anon` (a connection that never logged
// in). Each request is aimed at room R or programme A with the arguments a
// legitimate caller would use (real ids, real keys, real signatures), so a
// refusal is an authorisation decision and not a validation error.
//
// The list of operations is read from docs/PROTOCOL.md (the "### `op`"
// headings of sections 4 and 7-8, and the "**`op`** —" entries of sections 5
// and 6): the first test fails when an op is documented but has no row in
// EXPECT, or has a row but is not documented, so a new op cannot skip the
// matrix. Where the document leaves an answer open, EXPECT holds what a secure
// server should answer (comments say so); it is not copied from the server.
//
// Destructive requests run where they break nothing: `logout` on a second
// session of each user, `passwd` last and on the caller's own connection
// (same password, new salt: the other sessions it revokes are not needed any
// more), `consent.withdraw` of share_progress (granted just before), and the
// account erasure of `data_processing` on throwaway users.
//
// Run through tests/e2e/run_node.sh, which starts ementord and exports
// EMENTOR_URL, EMENTOR_CA and EMENTOR_TEST_INVITE_MATRIX (a manager invite of
// its own).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { requireEnv } from './lib.mjs';
import {
  Client, ProtocolError, ready, b64, unb64, deriveKeys, wrapKeys, KDF, agreementSignArgs, privacyArgs,
  consentArgs, registrationArgs, sealRoomKey, commitSigned, commitVersion, encryptMessage, signAsEveryParty,
  programmeSettingsArgs, verifyProgrammeSettings,
} from './client.mjs';

const sodium = await ready();
const password = 'who may ask what, and who may read it';
const stamp = `${Date.now().toString(36).slice(-5)}${Math.floor(Math.random() * 1296).toString(36)}`;
const nameOf = (who) => `mx${who}${stamp}`.toLowerCase().slice(0, 32);
const PLAINTEXT = `the mentee's confidential worry ${stamp}`;
const ROOM_NAME = `matrix pair ${stamp}`;

// --- the operations of the document ----------------------------------------

/**
 * Every op named by docs/PROTOCOL.md: "### `a`" and "### `a` / `b`" headings
 * (an "### `register` (additional arguments)" heading names an op again), and
 * the "**`op`** —" entries of the messaging and checkpoint sections, which
 * are ops too although they are not headings.
 */
function documentedOps() {
  const doc = readFileSync(new URL('../../../docs/PROTOCOL.md', import.meta.url), 'utf8');
  const ops = new Set();
  for (const line of doc.split('\n')) {
    let names = [];
    const heading = /^###\s+(`[a-z][a-z_.]*`(?:\s*\/\s*`[a-z][a-z_.]*`)*)/.exec(line);
    if (heading) names = [...heading[1].matchAll(/`([a-z][a-z_.]*)`/g)].map((m) => m[1]);
    const entry = /^\*\*`([a-z][a-z_.]*)`\*\*/.exec(line);
    if (entry) names = [entry[1]];
    for (const n of names) ops.add(n);
  }
  return ops;
}

// --- the expectations --------------------------------------------------------

const ROLES = ['mgrA', 'mentor', 'mentee', 'other', 'mgrB', 'anon'];
const NA = 'not_authenticated';
const AA = 'already_authenticated';

/*
 * op -> the answer of each role, in the order of ROLES: 'ok' or an error code.
 * Rows run top to bottom, each row left to right; the order matters where one
 * answer changes state (agreement.propose before agreement.sign, audit.report
 * before room.access_log, consent.grant before consent.withdraw, passwd last).
 *
 * Where the document does not settle a cell:
 * - a manager of programme B asking about programme A or room R gets not_found
 *   (section 3: "no such programme, room or user visible to you"; section 8 says
 *   it outright for the audit ops), never forbidden, which would confirm that
 *   the object exists;
 * - invite.accept of an invite for the programme one is already in is ok
 *   (a no-op join); the manager of B accepting a manager invite of A becomes
 *   its co-manager, which is what the invite is for (run on a throwaway
 *   manager of B);
 * - a manager who is not a participant of a checkpoint (the initial meeting)
 *   may see it but not act on it: forbidden;
 * - room.list of a programme one does not manage answers ok with no rooms of it.
 *
 * programme.settings may be sent by the manager who created the programme
 * alone. Programme A was created by a bootstrap manager (see the set-up), so
 * mgrA, a manager of A who did not create it, may see A but not sign its
 * settings: forbidden; mgrB, who may not see A, gets not_found; the creator's
 * own request is checked in a test of its own below.
 */
const EXPECT = {
  //                          mgrA         mentor       mentee       other        mgrB         anon
  'ping':                   ['ok',        'ok',        'ok',        'ok',        'ok',        'ok'],
  'privacy.notice':         ['ok',        'ok',        'ok',        'ok',        'ok',        'ok'],
  'prelogin':               [AA,          AA,          AA,          AA,          AA,          'ok'],
  'register':               [AA,          AA,          AA,          AA,          AA,          'ok'],
  'login':                  [AA,          AA,          AA,          AA,          AA,          'ok'],
  'resume':                 [AA,          AA,          AA,          AA,          AA,          'ok'],
  'whoami':                 ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'programme.list':         ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'programme.show':         ['ok',        'ok',        'ok',        'ok',        'not_found', NA],
  'programme.create':       ['ok',        'forbidden', 'forbidden', 'forbidden', 'ok',        NA],
  'programme.settings':     ['forbidden', 'forbidden', 'forbidden', 'forbidden', 'not_found', NA], // A's current setting
  'invite.create':          ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'invite.accept':          ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'room.list':              ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'room.show':              ['ok',        'ok',        'ok',        'not_found', 'not_found', NA],
  'room.create':            ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'room.add':               ['room_full', 'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'room.remove':            ['not_member', 'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'agreement.show':         ['ok',        'ok',        'ok',        'not_found', 'not_found', NA],
  'agreement.propose':      ['ok',        'ok',        'ok',        'not_found', 'not_found', NA],
  'agreement.sign':         ['ok',        'ok',        'ok',        'not_found', 'not_found', NA],
  'agreement.template.get': ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'agreement.template.set': ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  // section 5.2: "every operation of section 5.3 answers forbidden to a manager"
  'keys.get':               ['forbidden', 'ok',        'ok',        'not_member', 'forbidden', NA],
  'sync':                   ['forbidden', 'ok',        'ok',        'ok',        'forbidden', NA],
  'history':                ['forbidden', 'ok',        'ok',        'not_member', 'forbidden', NA],
  'receipt':                ['forbidden', 'ok',        'ok',        'not_member', 'forbidden', NA],
  'typing':                 ['forbidden', 'ok',        'ok',        'not_member', 'forbidden', NA],
  'epoch.commit':           ['forbidden', 'ok',        'ok',        'not_member', 'forbidden', NA],
  'send':                   ['forbidden', 'ok',        'ok',        'not_member', 'forbidden', NA],
  // checkpoints of R: I = initial (confirmed, in the future), M = midterm
  // (open; managers are participants), F = final (open)
  'checkpoint.list':        ['ok',        'ok',        'ok',        'not_found', 'not_found', NA],
  'checkpoint.propose':     ['ok',        'ok',        'ok',        'not_found', 'not_found', NA], // M
  'checkpoint.answer':      ['ok',        'ok',        'ok',        'not_found', 'not_found', NA], // a slot of M
  'checkpoint.reschedule':  ['ok',        'ok',        'ok',        'not_found', 'not_found', NA], // M
  'checkpoint.absent':      ['ok',        'ok',        'ok',        'not_found', 'not_found', NA], // M
  'checkpoint.cancel':      ['ok',        'ok',        'forbidden', 'not_found', 'not_found', NA], // F
  'checkpoint.record':      ['forbidden', 'too_early', 'forbidden', 'not_found', 'not_found', NA], // I
  'checkpoint.attend':      ['forbidden', 'too_early', 'too_early', 'not_found', 'not_found', NA], // I
  'checkpoint.window':      ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA], // M
  // sessions of R (section 6.4): its members only; a manager is not a participant
  'meeting.add':            ['forbidden', 'ok',        'ok',        'not_found', 'forbidden', NA],
  'meeting.plan':           ['forbidden', 'ok',        'ok',        'not_found', 'forbidden', NA],
  'meeting.topic':          ['forbidden', 'ok',        'ok',        'not_found', 'forbidden', NA], // R's first session
  'calendar.url':           ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'calendar.export':        ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'calendar.revoke':        ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'notice.list':            ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'notice.ack':             ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'consent.list':           ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'consent.grant':          ['ok',        'ok',        'ok',        'ok',        'not_found', NA], // share_progress, programme:A
  'consent.withdraw':       ['ok',        'ok',        'ok',        'ok',        'not_found', NA], // the same
  'account.export':         ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'audit.report':           ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'audit.thresholds':       ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'room.access_log':        ['ok',        'ok',        'ok',        'not_found', 'not_found', NA],
  // the diary of R's initial meeting (confirmed, not held yet): members only,
  // like messaging (a manager never reads it); a pair has no choice of writer
  'diary.writer.get':       ['forbidden', 'ok',        'ok',        'not_found', 'forbidden', NA],
  'diary.writer.set':       ['forbidden', 'bad_state', 'bad_state', 'not_found', 'forbidden', NA],
  'diary.write':            ['forbidden', 'forbidden', 'bad_state', 'forbidden', 'forbidden', NA], // the mentee writes
  'diary.remark':           ['forbidden', 'bad_state', 'forbidden', 'not_found', 'forbidden', NA], // the mentor remarks
  'diary.show':             ['forbidden', 'ok',        'ok',        'not_found', 'forbidden', NA],
  'diary.list':             ['forbidden', 'ok',        'ok',        'not_found', 'forbidden', NA],
  // section 10: goals and ratings are the room's (a manager is never a member); a personal
  // goal and a rating are a mentee's own, a group goal (as sent here) any member's
  'goal.create':            ['forbidden', 'ok',        'ok',        'not_member', 'forbidden', NA], // group
  'goal.update':            ['forbidden', 'ok',        'ok',        'not_member', 'forbidden', NA], // group
  'goal.list':              ['forbidden', 'ok',        'ok',        'not_member', 'forbidden', NA],
  'goal.history':           ['forbidden', 'ok',        'ok',        'not_member', 'forbidden', NA],
  'rating.add':             ['forbidden', 'wrong_role', 'ok',       'not_member', 'forbidden', NA],
  'rating.list':            ['forbidden', 'ok',        'ok',        'not_member', 'forbidden', NA],
  // section 4.3, sent so as to change nothing: A's own name again, A starts today (so it
  // cannot be ended, nor archived), R's own name again
  'programme.edit':         ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'programme.end':          ['bad_state', 'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'programme.archive':      ['bad_state', 'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'programme.history':      ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'room.rename':            ['ok',        'ok',        'ok',        'not_found', 'not_found', NA],
  // recovery codes: anyone sets their own (with the password: the real auth key is sent, with a
  // made-up code the server cannot tell from a real one); the pre-login pair answers anon with
  // bad_credentials (t1 has no code, and a made-up code is wrong anyway)
  'recovery.set':           ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'recovery.open':          [AA,          AA,          AA,          AA,          AA,          'bad_credentials'],
  'recovery.reset':         [AA,          AA,          AA,          AA,          AA,          'bad_credentials'],
  // section 11: questionnaires are the programme's (its managers write them, its members read
  // them); answers and shares are sealed to the managers: a mentee hands in, a manager reads
  'questionnaire.get':      ['ok',        'ok',        'ok',        'ok',        'not_found', NA],
  'questionnaire.set':      ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'questionnaire.answer':   ['forbidden', 'forbidden', 'ok',        'forbidden', 'forbidden', NA],
  'questionnaire.answers':  ['ok',        'forbidden', 'ok',        'forbidden', 'not_found', NA], // the mentee: her own
  'progress.share':         ['forbidden', 'forbidden', 'ok',        'forbidden', 'forbidden', NA], // share_progress granted
  'progress.list':          ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  // section 6.6: the mid-term record of R (open, not held): its members and its manager party
  // (mgrA made R), each in their own capacity; anyone else learns nothing of it
  'midterm.write':          ['bad_state', 'bad_state', 'bad_state', 'not_found', 'not_found', NA],
  'midterm.show':           ['ok',        'ok',        'ok',        'not_found', 'not_found', NA],
  // section 12, e-mail (this server has no relay): one's own settings; a code with no
  // address waiting for one; invites of A, managers of A only (resend: that invite has no address)
  'mail.show':              ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'mail.set':               ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'mail.verify':            ['bad_state', 'bad_state', 'bad_state', 'bad_state', 'bad_state', NA],
  'invite.list':            ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'invite.resend':          ['bad_state', 'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'invite.revoke':          ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'invite.import':          ['bad_state', 'forbidden', 'forbidden', 'forbidden', 'not_found', NA], // no relay here
  // section 13, concern reports on R: its members report; the reporter (the mentee) and A's
  // managers read; only A's managers handle; nobody else learns that a report exists
  'report.create':          ['not_member', 'ok',       'ok',        'not_member', 'not_member', NA],
  'report.list':            ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'report.show':            ['ok',        'not_found', 'ok',        'not_found', 'not_found', NA],
  'report.handle':          ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  // an identity reset: A's managers issue one for a mentor or mentee of A (an unused code harms
  // nobody); the redeem answers anon bad_credentials (a made-up code)
  'reset.issue':            ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'reset.redeem':           [AA,          AA,          AA,          AA,          AA,          'bad_credentials'],
  // section 14, profiles for matching in A: its people read the questions, its managers write
  // them; its mentors and mentees hand in a sealed profile; a manager lists all, a participant
  // their own; B's manager learns nothing of A
  'profile.form':           ['ok',        'ok',        'ok',        'ok',        'not_found', NA],
  'profile.form_set':       ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'profile.put':            ['wrong_role', 'ok',       'ok',        'ok',        'not_found', NA],
  'profile.list':           ['ok',        'ok',        'ok',        'ok',        'not_found', NA],
  // section 15: a support room of A's manager and a participant of A, opened by either side (the
  // same room each time); announcements by A's managers to A's people; everyone lists their own
  'support.open':           ['ok',        'ok',        'ok',        'ok',        'not_found', NA],
  'announce.send':          ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'announce.keys':          ['ok',        'forbidden', 'forbidden', 'forbidden', 'not_found', NA],
  'announce.list':          ['ok',        'ok',        'ok',        'ok',        'ok',        NA],
  'logout':                 ['ok',        'ok',        'ok',        'ok',        'ok',        NA], // a second session
  'passwd':                 ['ok',        'ok',        'ok',        'ok',        'ok',        NA], // last
};

// --- people and state ---------------------------------------------------------

const clients = [];
const people = {}; // role (and helpers) -> logged-in Client
const authKeys = {}; // username -> auth_key (b64) derived from the password
const ctx = {}; // ids made in the set-up
const managerAnswers = []; // {who, op, answer} of every reply a manager's connection got
const managerClients = { mgrA: [], mgrB: [] };

/** Records every reply (ok or error) a manager's connection gets. */
function watch(c, who) {
  const request = c.request.bind(c);
  c.request = async (op, args, ms) => {
    try {
      const ok = await request(op, args, ms);
      managerAnswers.push({ who, op, answer: ok });
      return ok;
    } catch (e) {
      if (e instanceof ProtocolError) managerAnswers.push({ who, op, answer: { code: e.code, message: e.serverMessage } });
      throw e;
    }
  };
  managerClients[who].push(c);
  return c;
}

async function connect() {
  const c = await Client.connect();
  clients.push(c);
  return c;
}

async function login(username, who) {
  const c = await connect();
  if (who === 'mgrA' || who === 'mgrB') watch(c, who);
  await c.login(username, password);
  return c;
}

async function register(inviteCode, who, role) {
  const c = await connect();
  const r = await c.register({ invite: inviteCode, username: nameOf(who), password });
  assert.equal(r.user.role, role, `${who} registers as ${role}`);
  c.close();
}

async function invite(by, programmeId, role) {
  return (await by.request('invite.create', { programme_id: programmeId, role })).code;
}

/** auth_key of a user, derived from prelogin's salt on a fresh connection. */
async function authKeyOf(username) {
  if (!authKeys[username]) {
    const c = await connect();
    const pre = await c.request('prelogin', { username });
    c.close();
    authKeys[username] = b64(deriveKeys(password, unb64(pre.salt), pre.opslimit, pre.memlimit).authKey);
  }
  return authKeys[username];
}

test.after(() => {
  for (const c of clients) c.close();
});

/** Does any key or value anywhere in v match pred(key, value)? */
function anywhere(v, pred, key = '') {
  if (pred(key, v)) return true;
  if (v && typeof v === 'object') return Object.entries(v).some(([k, x]) => anywhere(x, pred, k));
  return false;
}

function day(offset) {
  const d = new Date();
  d.setUTCDate(d.getUTCDate() + offset);
  return d.toISOString().slice(0, 10);
}

let slotSerial = 0;
/** A fresh one-hour slot inside the window of checkpoint cp, in the future. */
function slotIn(cp) {
  const n = slotSerial++;
  const tomorrow = day(1);
  const base = new Date(`${cp.opens_on > tomorrow ? cp.opens_on : tomorrow}T00:00:00Z`);
  base.setUTCDate(base.getUTCDate() + (Math.floor(n / 10) % 5));
  const date = base.toISOString().slice(0, 10);
  assert.ok(date <= cp.closes_on, `slot ${date} inside ${cp.opens_on}..${cp.closes_on}`);
  return { starts_at: `${date}T${String(8 + (n % 10)).padStart(2, '0')}:00:00Z`, minutes: 30, place: 'the library' };
}

async function checkpoint(kind) {
  const { checkpoints } = await people.mentor.request('checkpoint.list', { room_id: ctx.room });
  return checkpoints.find((c) => c.kind === kind);
}

// --- set-up -------------------------------------------------------------------

test('set-up: programmes A and B, rooms R and R2 signed, an epoch and a message in R', async () => {
  // a bootstrap manager makes both programmes and hands each to its own manager
  await register(requireEnv('EMENTOR_TEST_INVITE_MATRIX'), 'boot', 'manager');
  const boot = await login(nameOf('boot'));
  people.boot = boot; // the creator of programmes A and B
  const dates = { starts_on: day(0), ends_on: day(60) };
  ctx.progA = (await boot.request('programme.create', { name: `Matrix A ${stamp}`, ...dates })).programme.id;
  ctx.progB = (await boot.request('programme.create', { name: `Matrix B ${stamp}`, ...dates })).programme.id;
  await register(await invite(boot, ctx.progA, 'manager'), 'mgra', 'manager');
  await register(await invite(boot, ctx.progB, 'manager'), 'mgrb', 'manager');
  people.mgrA = await login(nameOf('mgra'), 'mgrA');
  people.mgrB = await login(nameOf('mgrb'), 'mgrB');
  const mA = people.mgrA;
  for (const [who, role] of [['mentor', 'mentor'], ['mentee', 'mentee'], ['other', 'mentor'], ['othee', 'mentee'],
    ['spare', 'mentee'], ['t1', 'mentee'], ['erase', 'mentee']]) {
    await register(await invite(mA, ctx.progA, role), who, role);
  }
  await register(await invite(people.mgrB, ctx.progB, 'manager'), 'mgrb2', 'manager');
  for (const who of ['mentor', 'mentee', 'other', 'othee']) people[who] = await login(nameOf(who));

  // room R: every party signs, the mentor commits an epoch, the mentee writes
  const r = await mA.request('room.create', {
    programme_id: ctx.progA, kind: 'pair', name: ROOM_NAME, members: [nameOf('mentor'), nameOf('mentee')],
  });
  ctx.room = r.room.id;
  const logins = { [nameOf('mgra')]: mA, [nameOf('mentor')]: people.mentor, [nameOf('mentee')]: people.mentee };
  const a = await signAsEveryParty(people.mentor, ctx.room, password, logins);
  assert.ok(a.active && a.roster.length === 2, JSON.stringify(a.roster));
  await people.mentor.sync();
  await people.mentee.sync();
  assert.equal(await people.mentor.commitEpoch(ctx.room), 1);
  const sent = await people.mentee.sendText(ctx.room, PLAINTEXT);
  ctx.ciphertext = sent.args.ciphertext;
  ctx.sig = sent.args.sig;
  assert.equal((await people.mentor.open(await people.mentor.waitMessage(ctx.room, sent.seq))).text, PLAINTEXT);

  // room R2 of the same programme: `other` is its mentor
  const r2 = await mA.request('room.create', {
    programme_id: ctx.progA, kind: 'pair', name: `matrix other ${stamp}`, members: [nameOf('other'), nameOf('othee')],
  });
  ctx.room2 = r2.room.id;
  await signAsEveryParty(people.other, ctx.room2, password, {
    [nameOf('mgra')]: mA, [nameOf('other')]: people.other, [nameOf('othee')]: people.othee,
  });
  await people.other.sync();
  await people.other.commitEpoch(ctx.room2);
  await people.other.sendText(ctx.room2, 'hello from the other room');

  // checkpoints of R: the initial one confirmed (in the future), a slot on the midterm
  const initial = await checkpoint('initial');
  const p = await people.mentor.request('checkpoint.propose', { checkpoint_id: initial.id, slots: [slotIn(initial)] });
  await people.mentee.request('checkpoint.answer', { slot_id: p.checkpoint.slots[0].id, accept: true });
  assert.equal((await checkpoint('initial')).state, 'confirmed');
  ctx.initial = initial.id;
  const midterm = await checkpoint('midterm');
  await people.mentor.request('checkpoint.propose', { checkpoint_id: midterm.id, slots: [slotIn(midterm)] });
  ctx.midterm = midterm.id;
  ctx.final = (await checkpoint('final')).id;

  // the throwaway user t1 (login and resume from an unauthenticated connection)
  const t1 = await login(nameOf('t1'));
  ctx.t1Token = t1.token;
  // register args of a new mentee (refused on logged-in connections, then used by anon)
  const acct = registrationArgs({ invite: await invite(mA, ctx.progA, 'mentee'), username: nameOf('newbie'), password });
  const n = await people.mentor.privacyNotice();
  ctx.notice = n;
  ctx.registerArgs = { ...acct.args, ...privacyArgs({ signPk: acct.sign.publicKey, signSk: acct.sign.privateKey }, n) };
  for (const u of ['mgra', 'mentor', 'mentee', 'other', 'mgrb', 't1']) await authKeyOf(nameOf(u));
});

// --- the requests -----------------------------------------------------------------

const USERNAME = { mgrA: 'mgra', mentor: 'mentor', mentee: 'mentee', other: 'other', mgrB: 'mgrb' };
const OWN_ROLE = { mgrA: 'manager', mentor: 'mentor', mentee: 'mentee', other: 'mentor', mgrB: 'manager', anon: 'mentee' };

/** The signing keys and id of a caller; a connection that never logged in makes up a key pair. */
function signer(c) {
  if (c.keys) return { id: c.id, signSk: c.keys.signSk, signPk: c.keys.signPk };
  const kp = sodium.crypto_sign_keypair();
  return { id: people.mentee.id, signSk: kp.privateKey, signPk: kp.publicKey };
}

async function roomR() {
  return (await people.mentor.request('room.show', { room_id: ctx.room })).room;
}

/**
 * epoch.commit args of caller c for R: a fresh key sealed to R's roster at
 * the next epoch, under the agreement version in force.
 */
async function commitArgs(c) {
  const room = await roomR();
  const epoch = room.epoch + 1;
  const version = commitVersion(await people.mentor.request('agreement.show', { room_id: ctx.room }));
  const me = signer(c);
  const roomKey = sodium.randombytes_buf(32);
  const envelopes = room.members.filter((m) => m.roster).map((m) => ({
    recipient_id: m.id,
    sealed: sealRoomKey({
      roomId: ctx.room, epoch, recipientId: m.id, recipientBoxPk: unb64(m.box_pk), committerId: me.id, committerSignSk: me.signSk,
      agreementVersion: version, roomKey, recipients: room.members.filter((x) => x.roster).map((x) => x.id),
    }),
  }));
  return {
    room_id: ctx.room, epoch, agreement_version: version,
    envelopes: envelopes.map((e) => ({ recipient_id: e.recipient_id, sealed: b64(e.sealed) })),
    sig: b64(sodium.crypto_sign_detached(commitSigned(ctx.room, epoch, me.id, version, envelopes), me.signSk)),
  };
}

/** send args of caller c for R at its current epoch (the key is made up: the server cannot tell). */
async function sendArgs(c) {
  const { epoch } = await roomR();
  const me = signer(c);
  const m = encryptMessage({
    roomId: ctx.room, epoch, senderId: me.id, signSk: me.signSk, roomKey: sodium.randombytes_buf(32), text: 'not for you',
  });
  return { room_id: ctx.room, epoch, client_msg_id: b64(m.clientMsgId), ciphertext: b64(m.ciphertext), sig: b64(m.sig) };
}

const isMember = (who) => who === 'mentor' || who === 'mentee';
/** consent.grant / consent.withdraw of share_progress for programme A, signed by c (made-up key if anon). */
function shareProgressConsent(op, c) {
  const subject = `programme:${ctx.progA}`;
  const textHash = unb64(ctx.notice.share_progress_hash);
  if (c.keys) return c.consent(op, { purpose: 'share_progress', subject, textHash });
  const { signPk, signSk } = signer(c);
  const action = op === 'consent.grant' ? 'grant' : 'withdraw';
  return c.request(op, consentArgs({ signPk, signSk, purpose: 'share_progress', subject, textHash, action }));
}

/**
 * op -> how each role asks: args(who, c) for a plain request, or run(who, c)
 * for requests that need more than one frame or another connection; before()
 * prepares state; check(who, ok) looks into an ok answer (a string is a failure).
 */
/** An invite of A for the invite.resend and invite.revoke rows (made once). */
async function ensureMailInvite() {
  if (!ctx.mailInvite) ctx.mailInvite = (await people.mgrA.request('invite.create', { programme_id: ctx.progA, role: 'mentee' })).invite_id;
}

const REQUESTS = {
  'ping': { args: () => ({}) },
  'privacy.notice': { args: () => ({}) },
  'prelogin': { args: (who) => ({ username: nameOf(USERNAME[who] ?? 't1') }) },
  'register': { args: () => ctx.registerArgs },
  'login': { args: async (who) => ({ username: nameOf(USERNAME[who] ?? 't1'), auth_key: await authKeyOf(nameOf(USERNAME[who] ?? 't1')) }) },
  'resume': { args: (who, c) => ({ token: who === 'anon' ? ctx.t1Token : c.token }) },
  'whoami': { args: () => ({}) },
  'programme.list': {
    args: () => ({}),
    check: (who, ok) => (who === 'mgrB' && ok.programmes.some((p) => p.id === ctx.progA) ? 'lists programme A' : null),
  },
  'programme.show': { args: () => ({ programme_id: ctx.progA }) },
  'programme.create': { args: (who) => ({ name: `Matrix extra ${who} ${stamp}`, starts_on: day(0), ends_on: day(30) }) },
  // each caller signs A's current setting (required) with its own key, as if it were the creator
  'programme.settings': { args: (who, c) => programmeSettingsArgs(ctx.progA, signer(c).id, true, signer(c).signSk) },
  'invite.create': { args: () => ({ programme_id: ctx.progA, role: 'mentee' }) },
  'invite.accept': {
    run: async (who, c) => {
      const code = await invite(people.mgrA, ctx.progA, OWN_ROLE[who]);
      if (who !== 'mgrB') return c.request('invite.accept', { invite: code });
      // a throwaway manager of B: accepting makes them a co-manager of A
      const b2 = await login(nameOf('mgrb2'), 'mgrB');
      try {
        return await b2.request('invite.accept', { invite: code });
      } finally {
        b2.close();
      }
    },
  },
  'room.list': {
    args: () => ({ programme_id: ctx.progA }),
    check: (who, ok) => {
      const hasR = ok.rooms.some((r) => r.id === ctx.room);
      if (['mgrA', 'mentor', 'mentee'].includes(who) && !hasR) return 'room R is not listed';
      if (['other', 'mgrB'].includes(who) && hasR) return 'room R is listed';
      return null;
    },
  },
  'room.show': { args: () => ({ room_id: ctx.room }) },
  'room.create': { args: (who) => ({ programme_id: ctx.progA, kind: 'group', name: `matrix scratch ${who} ${stamp}` }) },
  'room.add': { args: () => ({ room_id: ctx.room, username: nameOf('spare') }) },
  'room.remove': { args: () => ({ room_id: ctx.room, username: nameOf('spare') }) },
  'agreement.show': { args: () => ({ room_id: ctx.room }) },
  'agreement.propose': { args: (who) => ({ room_id: ctx.room, term: `We meet every fortnight (${who}).` }) },
  'agreement.sign': {
    run: async (who, c) => {
      if (['mgrA', 'mentor', 'mentee'].includes(who)) return { agreement: await c.signAgreement(ctx.room) };
      const a = await people.mentor.request('agreement.show', { room_id: ctx.room });
      return c.request('agreement.sign', agreementSignArgs(ctx.room, a.pending ?? a.active, signer(c)));
    },
  },
  'agreement.template.get': { args: () => ({ programme_id: ctx.progA }) },
  'agreement.template.set': {
    args: async () => ({
      programme_id: ctx.progA,
      text: (await people.mgrA.request('agreement.template.get', { programme_id: ctx.progA })).text,
    }),
  },
  'keys.get': { args: () => ({ room_id: ctx.room }) },
  'sync': {
    run: (who, c) => (who === 'mentor' || who === 'mentee' || who === 'other'
      ? c.sync([{ room_id: ctx.room, seq: 0 }])
      : c.request('sync', { cursors: [{ room_id: ctx.room, seq: 0 }] })),
    check: (who, ok) => {
      const listed = ok.rooms.some((r) => r.room_id === ctx.room);
      if (who === 'other' && (listed || people.other.messages(ctx.room).length)) return 'room R replayed to a non-member';
      if (isMember(who) && !listed) return 'room R not in the reply';
      return null;
    },
  },
  'history': { args: () => ({ room_id: ctx.room }) },
  'receipt': { args: () => ({ room_id: ctx.room, seq: 1 }) },
  'typing': { args: () => ({ room_id: ctx.room }) },
  // a member rotates and writes with the client; anyone else sends the frame a member would
  'epoch.commit': {
    run: async (who, c) => (isMember(who) ? { epoch: await c.commitEpoch(ctx.room) } : c.request('epoch.commit', await commitArgs(c))),
  },
  'send': {
    run: async (who, c) => (isMember(who) ? c.sendText(ctx.room, `a matrix message from the ${who}`) : c.request('send', await sendArgs(c))),
  },
  'checkpoint.list': { args: () => ({ room_id: ctx.room }) },
  'checkpoint.propose': { args: async () => ({ checkpoint_id: ctx.midterm, slots: [slotIn(await checkpoint('midterm'))] }) },
  'checkpoint.answer': {
    args: async () => {
      const m = await checkpoint('midterm');
      assert.ok(m.slots.length > 0, 'the midterm has an open slot');
      return { slot_id: m.slots[0].id, accept: false };
    },
  },
  'checkpoint.reschedule': {
    args: async (who) => ({ checkpoint_id: ctx.midterm, reason: `cannot make it (${who})`, slots: [slotIn(await checkpoint('midterm'))] }),
  },
  'checkpoint.absent': { args: (who) => ({ checkpoint_id: ctx.midterm, reason: `away that week (${who})` }) },
  'checkpoint.cancel': {
    // every role meets an open final meeting: a cancelled one is proposed again first
    before: async () => {
      const f = await checkpoint('final');
      if (f.state === 'cancelled') await people.mentor.request('checkpoint.propose', { checkpoint_id: f.id, slots: [slotIn(f)] });
    },
    args: (who) => ({ checkpoint_id: ctx.final, reason: `called off (${who})` }),
  },
  'checkpoint.record': { args: () => ({ checkpoint_id: ctx.initial, held: true, present: [nameOf('mentor'), nameOf('mentee')] }) },
  'checkpoint.attend': { args: () => ({ checkpoint_id: ctx.initial, attended: true }) },
  'checkpoint.window': {
    args: async () => {
      const m = await checkpoint('midterm');
      return { checkpoint_id: m.id, opens_on: m.opens_on, closes_on: m.closes_on };
    },
  },
  'meeting.add': {
    args: (who) => ({ room_id: ctx.room, mode: who === 'mentee' ? 'online' : 'in_person',
      slots: [slotIn({ opens_on: day(0), closes_on: day(60) })] }),
    check: (who, ok) => (ok.meeting?.kind === 'session' && ok.meeting?.room_id === ctx.room ? null : 'not a session of R'),
  },
  'meeting.plan': {
    args: () => ({ room_id: ctx.room }),
    check: (who, ok) => (ok.meetings?.filter((m) => m.kind === 'session').length >= 1 ? null : 'no session of R in the plan'),
  },
  'meeting.topic': {
    // the server checks who sends it, the epoch and the revision; the signature is the readers'
    args: async () => {
      const plan = await people.mentor.request('meeting.plan', { room_id: ctx.room });
      const s = plan.meetings.find((m) => m.kind === 'session');
      return { meeting_id: s.id, revision: (s.topic?.revision ?? 0) + 1, epoch: plan.epoch,
        ciphertext: b64(sodium.randombytes_buf(104)), sig: b64(sodium.randombytes_buf(64)) };
    },
  },
  'calendar.url': { args: () => ({}) },
  'calendar.export': { args: () => ({}) },
  'calendar.revoke': { args: () => ({}) },
  'notice.list': { args: () => ({}) },
  'notice.ack': {
    args: async (who, c) => {
      if (!c.user) return { upto: 1 };
      const { notices } = await c.request('notice.list', {});
      return { upto: notices.length ? notices[notices.length - 1].id : 1 };
    },
  },
  'consent.list': { args: () => ({}) },
  'consent.grant': { run: (who, c) => shareProgressConsent('consent.grant', c) },
  'consent.withdraw': { run: (who, c) => shareProgressConsent('consent.withdraw', c) },
  'account.export': { args: () => ({}) },
  'audit.report': {
    args: () => ({ programme_id: ctx.progA, format: 'json' }),
    check: (who, ok) => (ok.programme?.id !== ctx.progA || !ok.rooms?.some((r) => r.room_id === ctx.room) ? 'not a report of A with room R' : null),
  },
  'audit.thresholds': { args: () => ({ programme_id: ctx.progA }) },
  'room.access_log': {
    args: () => ({ room_id: ctx.room }),
    check: (who, ok) => (ok.views.some((v) => v.viewer_id === people.mgrA.id) ? null : "mgrA's report is not listed"),
  },
  'diary.writer.get': { args: () => ({ checkpoint_id: ctx.initial }) },
  'diary.writer.set': { args: () => ({ checkpoint_id: ctx.initial, username: nameOf('mentee') }) },
  // a record of the right shape (the server cannot read it; refusals come first)
  'diary.write': {
    args: () => ({
      checkpoint_id: ctx.initial, epoch: 1, version: 1, ciphertext: b64(sodium.randombytes_buf(296)),
      sig: b64(sodium.randombytes_buf(64)),
    }),
  },
  'diary.remark': {
    args: () => ({
      checkpoint_id: ctx.initial, epoch: 1, number: 1, ciphertext: b64(sodium.randombytes_buf(296)),
      sig: b64(sodium.randombytes_buf(64)),
    }),
  },
  'diary.show': {
    args: () => ({ checkpoint_id: ctx.initial }),
    check: (who, ok) => (ok.room_id !== ctx.room || !Array.isArray(ok.entries) ? 'not the diary of R' : null),
  },
  'diary.list': { args: () => ({ room_id: ctx.room }) },
  // the server routes sealed records without opening them (section 10.1): a blob of the right
  // size is what a client sends, whatever is inside; goal ids are made by the caller
  'goal.create': { args: () => goalArgs(sodium.randombytes_buf(16), 1) },
  'goal.update': {
    before: ensureGroupGoal,
    args: async () => goalArgs(ctx.groupGoal, await groupGoalVersion() + 1),
  },
  'goal.list': { args: () => ({ room_id: ctx.room }) },
  'goal.history': { before: ensureGroupGoal, args: () => ({ room_id: ctx.room, goal_id: b64(ctx.groupGoal) }) },
  'rating.add': {
    args: () => ({
      room_id: ctx.room, rating_id: b64(sodium.randombytes_buf(16)), stage: 'start', rated_on: '2027-01-10',
      agreement_version: 1, written_ms: Date.now(), blob: b64(sodium.randombytes_buf(400)),
    }),
  },
  'rating.list': { args: () => ({ room_id: ctx.room }) },
  'programme.edit': { args: () => ({ programme_id: ctx.progA, name: `Matrix A ${stamp}` }) },
  'programme.end': { args: () => ({ programme_id: ctx.progA }) },
  'programme.archive': { args: () => ({ programme_id: ctx.progA }) },
  'programme.history': { args: () => ({ programme_id: ctx.progA }) },
  'room.rename': { args: () => ({ room_id: ctx.room, name: ROOM_NAME }) },
  'recovery.set': {
    args: async (who) => ({
      auth_key: await authKeyOf(nameOf(USERNAME[who] ?? 't1')),
      recovery_auth: b64(sodium.randombytes_buf(32)), recovery_backup: b64(sodium.randombytes_buf(136)),
    }),
  },
  'recovery.open': {
    args: (who) => ({ username: nameOf(USERNAME[who] ?? 't1'), recovery_auth: b64(sodium.randombytes_buf(32)) }),
  },
  'recovery.reset': {
    args: (who) => ({
      username: nameOf(USERNAME[who] ?? 't1'), recovery_auth: b64(sodium.randombytes_buf(32)),
      salt: b64(sodium.randombytes_buf(16)), opslimit: KDF.opslimit, memlimit: KDF.memlimit,
      new_auth_key: b64(sodium.randombytes_buf(32)), key_backup: b64(sodium.randombytes_buf(136)),
    }),
  },
  'questionnaire.get': { args: () => ({ programme_id: ctx.progA, stage: 'initial' }) },
  'questionnaire.set': {
    // the next version of A's final questionnaire (the server keeps the signature for the
    // clients to check; it does not check it itself)
    args: async () => {
      const { version } = await people.mgrA.request('questionnaire.get', { programme_id: ctx.progA, stage: 'final' });
      return {
        programme_id: ctx.progA, stage: 'final', version: version + 1,
        doc: '{"title":"t","questions":[{"id":"q","kind":"text","text":"?"}]}', signature: b64(sodium.randombytes_buf(64)),
      };
    },
  },
  'questionnaire.answer': {
    args: () => ({
      programme_id: ctx.progA, room_id: ctx.room, stage: 'initial', q_version: 0, agreement_version: 1,
      written_ms: Date.now(), blob: b64(sodium.randombytes_buf(400)),
    }),
  },
  'questionnaire.answers': {
    args: () => ({ programme_id: ctx.progA }),
    check: (who, ok) => (who === 'mentee' && ok.answers.some((a) => a.username !== nameOf('mentee')) ? 'another\'s answer' : null),
  },
  'progress.share': {
    before: async (who) => {
      if (who === 'mentee') await shareProgressConsent('consent.grant', people.mentee);
    },
    args: () => ({
      room_id: ctx.room, record_id: b64(sodium.randombytes_buf(16)), kind: 'rating', agreement_version: 1,
      written_ms: Date.now(), blob: b64(sodium.randombytes_buf(400)),
    }),
  },
  'progress.list': { args: () => ({ programme_id: ctx.progA }) },
  // a part of the right shape in the caller's own capacity (the server cannot read it)
  'midterm.write': {
    args: (who) => ({
      checkpoint_id: ctx.midterm, version: 1, kind: { mentor: 'mentor', mentee: 'mentee', other: 'mentor' }[who] ?? 'manager',
      agreement_version: 1, written_ms: Date.now(), blob: b64(sodium.randombytes_buf(400)),
    }),
  },
  'midterm.show': {
    args: () => ({ checkpoint_id: ctx.midterm }),
    check: (who, ok) => (ok.room_id === ctx.room && Array.isArray(ok.records) ? null : 'not the mid-term record of R'),
  },
  'mail.show': { args: () => ({}), check: (who, ok) => (ok.mail_on === false ? null : 'mail_on is not false') },
  'mail.set': { args: () => ({ lang: 'pl', kinds: 'meeting,digest' }),
    check: (who, ok) => (ok.lang === 'pl' && ok.kinds === 'meeting,digest' ? null : 'settings not changed') },
  'mail.verify': { args: () => ({ code: '00000000' }) },
  'invite.list': {
    args: () => ({ programme_id: ctx.progA }),
    check: (who, ok) => (ok.invites?.length >= 1 && ok.invites.every((i) => i.invite_id) ? null : 'no invites of A'),
  },
  'invite.resend': { before: ensureMailInvite, args: () => ({ invite_id: ctx.mailInvite }) },
  'invite.import': { args: () => ({ programme_id: ctx.progA, rows: [{ email: `imp${stamp}@example.org`, role: 'mentee' }] }) },
  'invite.revoke': { before: ensureMailInvite, args: () => ({ invite_id: ctx.mailInvite }),
    check: (who, ok) => (ok.state === 'revoked' ? null : 'not revoked') },
  // a sealed report of the right shape (the server cannot read it)
  'report.create': {
    args: () => ({ room_id: ctx.room, kind: 'concern', agreement_version: 1, written_ms: Date.now(), blob: b64(sodium.randombytes_buf(600)) }),
  },
  'report.list': {
    before: ensureReport,
    check: (who, ok) => {
      const seen = ok.reports.some((r) => r.report_id === ctx.report);
      return seen === (who === 'mgrA' || who === 'mentee') ? null : `report ${ctx.report} ${seen ? 'shown' : 'not shown'}`;
    },
    args: () => ({}),
  },
  'report.show': {
    before: ensureReport,
    args: () => ({ report_id: ctx.report }),
    check: (who, ok) => (ok.report_id === ctx.report && ok.room_id === ctx.room && ok.blob ? null : 'not the report'),
  },
  'report.handle': {
    before: ensureReport,
    args: () => ({ report_id: ctx.report, state: 'acknowledged', written_ms: Date.now(), blob: b64(sodium.randombytes_buf(300)) }),
  },
  'reset.issue': {
    args: () => ({ programme_id: ctx.progA, username: nameOf('mentee') }),
    check: (who, ok) => (/^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/.test(ok.code) && ok.emailed === false ? null : 'no code'),
  },
  'support.open': {
    args: (who) => ({
      programme_id: ctx.progA, username: nameOf(who.startsWith('mgr') ? 'mentee' : 'mgra'),
    }),
    check: (who, ok) => (ok.room.kind === 'support' && ok.room.members.length === 2 ? null : 'not a support room'),
  },
  'announce.send': {
    // a sealed body of the right shape (the server cannot read it) with one key, for the mentee
    args: () => ({
      programme_id: ctx.progA, audience: 'all', written_ms: Date.now(), body: b64(sodium.randombytes_buf(200)),
      keys: b64(announceKey(people.mentee.id)),
    }),
    check: (who, ok) => (ok.delivered === true && ok.recipients === 1 ? null : 'not delivered to one'),
  },
  'announce.keys': {
    before: ensurePendingAnnouncement,
    args: () => ({ announcement_id: ctx.announcement, keys: b64(announceKey(people.mentor.id)) }),
    check: (who, ok) => (ok.delivered === true && ok.recipients === 2 ? null : 'not delivered to two'),
  },
  'announce.list': {
    args: () => ({}),
    check: (who, ok) => {
      const mine = ok.announcements.length > 0;
      return mine === (who !== 'mgrB' && who !== 'other') ? null : `${ok.announcements.length} announcement(s)`;
    },
  },
  'reset.redeem': {
    args: (who) => ({
      username: nameOf(USERNAME[who] ?? 't1'), code: b64(sodium.randombytes_buf(20)),
      salt: b64(sodium.randombytes_buf(16)), opslimit: KDF.opslimit, memlimit: KDF.memlimit,
      auth_key: b64(sodium.randombytes_buf(32)), sign_pk: b64(sodium.randombytes_buf(32)),
      box_pk: b64(sodium.randombytes_buf(32)), key_backup: b64(sodium.randombytes_buf(136)),
    }),
  },
  'profile.form': {
    args: () => ({ programme_id: ctx.progA, role: 'mentee' }),
    check: (who, ok) => (ok.programme_id === ctx.progA && ok.role === 'mentee' && Number.isInteger(ok.version) ? null : 'not A\'s questions'),
  },
  // the server stores what a manager signed (the participants' clients check the signature)
  'profile.form_set': {
    args: () => ({ programme_id: ctx.progA, role: 'mentor', version: 1, doc: '{"title":"t","questions":[]}', signature: b64(sodium.randombytes_buf(64)) }),
  },
  // a sealed profile of the right shape (the server cannot read it)
  'profile.put': {
    args: () => ({ programme_id: ctx.progA, form_version: 0, written_ms: Date.now(), blob: b64(sodium.randombytes_buf(500)) }),
  },
  'profile.list': {
    args: () => ({ programme_id: ctx.progA }),
    check: (who, ok) => {
      const n = ok.profiles?.length;
      if (who === 'mgrA') return n === 3 ? null : `${n} profiles, not A's three`;
      return n === 1 && ok.profiles[0].username === nameOf(USERNAME[who]) ? null : 'not only their own profile';
    },
  },
  'logout': {
    // a second session: the role's own connection stays logged in
    run: async (who, c) => {
      if (who === 'anon') return c.request('logout', {});
      const second = await login(nameOf(USERNAME[who]), who);
      try {
        return await second.request('logout', {});
      } finally {
        second.close();
      }
    },
  },
  'passwd': {
    // the same password under a new salt, with the same private keys re-wrapped
    args: async (who, c) => {
      const username = nameOf(USERNAME[who] ?? 't1');
      const salt = sodium.randombytes_buf(16);
      const fresh = deriveKeys(password, salt, KDF.opslimit, KDF.memlimit);
      const backup = c.keys
        ? wrapKeys({ privateKey: c.keys.signSk }, { privateKey: c.keys.boxSk }, fresh.wrapKey, username)
        : sodium.randombytes_buf(136);
      return {
        auth_key: await authKeyOf(username), salt: b64(salt), opslimit: KDF.opslimit, memlimit: KDF.memlimit,
        new_auth_key: b64(fresh.authKey), key_backup: b64(backup),
      };
    },
  },
};

/** A report on R by the mentee, once (ctx.report). */
/** An announcement's key record: the recipient's id (u64 big-endian) and 80 bytes of seal. */
function announceKey(id) {
  const k = new Uint8Array(88);
  new DataView(k.buffer).setBigUint64(0, BigInt(id));
  k.set(sodium.randombytes_buf(80), 8);
  return k;
}

/** An announcement of A's manager still waiting for its last keys (more: true). */
async function ensurePendingAnnouncement() {
  if (ctx.announcement) return;
  const ok = await people.mgrA.request('announce.send', {
    programme_id: ctx.progA, audience: 'all', written_ms: Date.now(), body: b64(sodium.randombytes_buf(200)),
    keys: b64(announceKey(people.mentee.id)), more: true,
  });
  ctx.announcement = ok.announcement_id;
}

async function ensureReport() {
  if (ctx.report) return;
  const ok = await people.mentee.request('report.create', {
    room_id: ctx.room, kind: 'concern', agreement_version: 1, written_ms: Date.now(), blob: b64(sodium.randombytes_buf(600)),
  });
  ctx.report = ok.report_id;
}

/** goal.create / goal.update arguments for a group goal of room R. */
function goalArgs(id, version) {
  return {
    room_id: ctx.room, goal_id: b64(id), version, kind: 'group', shared: true, tasks: 1,
    agreement_version: 1, written_ms: Date.now(), blob: b64(sodium.randombytes_buf(600)),
  };
}

/** A group goal of R made by the mentee, once (ctx.groupGoal). */
async function ensureGroupGoal() {
  if (ctx.groupGoal) return;
  const id = sodium.randombytes_buf(16);
  await people.mentee.request('goal.create', goalArgs(id, 1));
  ctx.groupGoal = id;
}

/** Its latest version, as goal.list tells the mentee. */
async function groupGoalVersion() {
  const { goals } = await people.mentee.request('goal.list', { room_id: ctx.room });
  return goals.find((g) => g.goal_id === b64(ctx.groupGoal)).version;
}

/** Sends op as role who; {ok} or {code, message} or {threw}. */
async function ask(op, who) {
  const spec = REQUESTS[op];
  await spec.before?.(who);
  const c = who === 'anon' ? await connect() : people[who];
  try {
    // arguments are made before an unauthenticated connection is opened, so the auth deadline does not bite
    if (spec.run) return { ok: await spec.run(who, c) };
    const args = await spec.args(who, c);
    return { ok: await c.request(op, args) };
  } catch (e) {
    if (e instanceof ProtocolError) return { code: e.code, message: e.serverMessage };
    return { threw: String(e) };
  } finally {
    if (who === 'anon') c.close();
  }
}

/** What the matrix found: op -> [role, expected, got]. */
const findings = [];

test('the matrix covers exactly the operations of docs/PROTOCOL.md', () => {
  const documented = documentedOps();
  assert.ok(documented.size > 40, `only ${documented.size} ops parsed from PROTOCOL.md`);
  assert.ok(documented.has('agreement.template.set') && documented.has('consent.withdraw') && documented.has('send'));
  const rows = new Set(Object.keys(EXPECT));
  assert.deepEqual([...documented].filter((op) => !rows.has(op)).sort(), [], 'documented ops without a row in EXPECT');
  assert.deepEqual([...rows].filter((op) => !documented.has(op)).sort(), [], 'rows of EXPECT that are not documented');
  assert.deepEqual(Object.keys(REQUESTS).sort(), [...rows].sort(), 'every row has a request');
  for (const [op, row] of Object.entries(EXPECT)) assert.equal(row.length, ROLES.length, `${op}: one answer per role`);
});

for (const [op, row] of Object.entries(EXPECT)) {
  test(`matrix: ${op}`, async () => {
    const wrong = [];
    for (const [i, who] of ROLES.entries()) {
      const want = row[i];
      const got = await ask(op, who);
      let gotText = got.ok !== undefined ? 'ok' : got.code ?? `threw ${got.threw}`;
      if (want === 'ok' && got.ok !== undefined && REQUESTS[op].check) {
        const bad = REQUESTS[op].check(who, got.ok);
        if (bad) gotText = `ok, but ${bad}`;
      }
      if (gotText !== want) {
        const detail = got.message ? ` (${got.message})` : '';
        wrong.push(`${op} as ${who}: expected ${want}, got ${gotText}${detail}`);
        findings.push([op, who, want, gotText + detail]);
      }
    }
    assert.deepEqual(wrong, []);
  });
}

// --- programme.settings by the creator ------------------------------------------------

test('programme.settings: the creator of A signs its setting; changing it now that A has rooms is bad_state', async () => {
  const { boot, mgrA } = people;
  const { programme } = await boot.request('programme.settings', programmeSettingsArgs(ctx.progA, boot.id, true, boot.keys.signSk));
  assert.equal(programme.id, ctx.progA);
  assert.equal(programme.created_by, boot.id);
  assert.equal(programme.agreement_required, true);
  assert.ok(verifyProgrammeSettings(programme, boot.keys.signPk), 'the stored signature verifies with the creator\'s key');
  assert.equal(await boot.errorCode('programme.settings', programmeSettingsArgs(ctx.progA, boot.id, false, boot.keys.signSk)), 'bad_state');
  // a manager of A who did not create it: even a signature by the creator's key is not theirs to send
  assert.equal(await mgrA.errorCode('programme.settings', programmeSettingsArgs(ctx.progA, boot.id, true, boot.keys.signSk)), 'forbidden');
  const shown = (await mgrA.request('programme.show', { programme_id: ctx.progA })).programme;
  assert.equal(shown.created_by, boot.id);
  assert.equal(shown.settings_sig, programme.settings_sig);
  assert.equal(shown.agreement_required, true);
});

// --- the audit in detail -----------------------------------------------------------

test('audit: mgrA gets room R alone; mgrB gets not_found for A, for R and for a programme that does not exist', async () => {
  const { mgrA, mgrB } = people;
  const one = await mgrA.request('audit.report', { room_id: ctx.room });
  assert.equal(one.room_id, ctx.room);
  assert.deepEqual(one.rooms.map((r) => r.room_id), [ctx.room]);
  const member = one.rooms[0].members.find((m) => m.user_id === people.mentee.id);
  assert.ok(member && member.messages >= 1, 'the mentee\'s messages are counted');
  const codes = {
    'programme A': await mgrB.errorCode('audit.report', { programme_id: ctx.progA }),
    'room R': await mgrB.errorCode('audit.report', { room_id: ctx.room }),
    'no such programme': await mgrB.errorCode('audit.report', { programme_id: 2147483000 }),
    'thresholds of A': await mgrB.errorCode('audit.thresholds', { programme_id: ctx.progA, inactive_days: 1 }),
    'access log of R': await mgrB.errorCode('room.access_log', { room_id: ctx.room }),
  };
  assert.deepEqual(codes, Object.fromEntries(Object.keys(codes).map((k) => [k, 'not_found'])));
});

test('audit: the members of R see mgrA\'s reports in room.access_log; the member of R2 gets not_found, and R2\'s log does not hold R\'s scope', async () => {
  const { mentor, mentee, other, mgrA } = people;
  for (const c of [mentor, mentee]) {
    const log = await c.request('room.access_log', { room_id: ctx.room });
    assert.equal(log.room_id, ctx.room);
    const mine = log.views.filter((v) => v.viewer_id === mgrA.id);
    assert.ok(mine.some((v) => v.scope === 'room'), 'the report of room R alone');
    assert.ok(mine.some((v) => v.scope === 'programme'), 'the report of programme A');
    assert.ok(mine.every((v) => v.viewer === nameOf('mgra')), JSON.stringify(mine));
    assert.ok(!log.views.some((v) => v.viewer_id === people.mgrB.id), 'mgrB never looked at R');
  }
  assert.equal(await other.errorCode('room.access_log', { room_id: ctx.room }), 'not_found');
  const own = await other.request('room.access_log', { room_id: ctx.room2 });
  assert.ok(!own.views.some((v) => v.scope === 'room'), 'no report of room R alone is listed for R2');
  assert.equal(await mentee.errorCode('audit.report', { room_id: ctx.room }), 'forbidden');
});

// --- other arguments for the same ops ----------------------------------------------------

test('the same ops aimed at the programme instead of the room, and as the mentee of R2, leak nothing of R', async () => {
  const { mgrA, mgrB, other, othee } = people;
  const wrong = [];
  const expectCode = async (what, c, op, args, want) => {
    const got = await c.request(op, args).then(() => 'ok', (e) => (e instanceof ProtocolError ? e.code : `threw ${e}`));
    if (got !== want) wrong.push(`${what}: expected ${want}, got ${got}`);
  };
  const noR = (what, list, key) => {
    if (list.some((x) => x[key] === ctx.room)) wrong.push(`${what}: lists room R`);
  };
  // checkpoint.list by programme, and with no filter
  noR('checkpoint.list {programme_id: A} as other', (await other.request('checkpoint.list', { programme_id: ctx.progA })).checkpoints, 'room_id');
  noR('checkpoint.list {} as other', (await other.request('checkpoint.list', {})).checkpoints, 'room_id');
  noR('checkpoint.list {} as mgrB', (await mgrB.request('checkpoint.list', {})).checkpoints, 'room_id');
  await expectCode('checkpoint.list {programme_id: A} as mgrB', mgrB, 'checkpoint.list', { programme_id: ctx.progA }, 'not_found');
  noR('room.list {} as mgrB', (await mgrB.request('room.list', {})).rooms, 'id');
  noR('room.list {} as other', (await other.request('room.list', {})).rooms, 'id');
  // the programme form of checkpoint.window (the default of every room)
  const windowArgs = { programme_id: ctx.progA, kind: 'midterm', days: 7 }; // the default: changes nothing
  await expectCode('checkpoint.window {programme_id: A} as mgrB', mgrB, 'checkpoint.window', windowArgs, 'not_found');
  await expectCode('checkpoint.window {programme_id: A} as other', other, 'checkpoint.window', windowArgs, 'forbidden');
  await expectCode('checkpoint.window {programme_id: A} as mgrA', mgrA, 'checkpoint.window', windowArgs, 'ok');
  // a programme that exists and one that does not get the same answer
  for (const op of ['agreement.template.get', 'invite.create', 'room.create', 'audit.thresholds']) {
    const args = (pid) => ({
      'agreement.template.get': { programme_id: pid },
      'invite.create': { programme_id: pid, role: 'mentee' },
      'room.create': { programme_id: pid, kind: 'pair' },
      'audit.thresholds': { programme_id: pid },
    })[op];
    await expectCode(`${op} of programme A as mgrB`, mgrB, op, args(ctx.progA), 'not_found');
    await expectCode(`${op} of a programme that does not exist as mgrB`, mgrB, op, args(2147483000), 'not_found');
  }
  // the mentee of R2 (the matrix's `other` is R2's mentor)
  await othee.sync();
  for (const [op, args, want] of [
    ['room.show', { room_id: ctx.room }, 'not_found'],
    ['agreement.show', { room_id: ctx.room }, 'not_found'],
    ['history', { room_id: ctx.room }, 'not_member'],
    ['keys.get', { room_id: ctx.room }, 'not_member'],
    ['typing', { room_id: ctx.room }, 'not_member'],
    ['checkpoint.list', { room_id: ctx.room }, 'not_found'],
    ['checkpoint.absent', { checkpoint_id: ctx.midterm, reason: 'not mine' }, 'not_found'],
    ['room.access_log', { room_id: ctx.room }, 'not_found'],
    ['audit.report', { programme_id: ctx.progA }, 'forbidden'],
  ]) await expectCode(`${op} as the mentee of R2`, othee, op, args, want);
  assert.deepEqual(wrong, []);
});

// --- erasure on throwaway users --------------------------------------------------------

test('consent.withdraw of data_processing (erasure) on a throwaway user: the reply, then 4003; anon gets not_authenticated', async () => {
  const c = await login(nameOf('erase'));
  const entry = await c.consent('consent.withdraw', {
    purpose: 'data_processing', subject: ctx.notice.version, textHash: unb64(ctx.notice.text_hash),
  });
  assert.equal(entry.action, 'withdraw');
  assert.equal((await c.waitUntil(() => c.closed, 10000, 'the 4003 close')).code, 4003);
  const anon = await connect();
  const { publicKey, privateKey } = sodium.crypto_sign_keypair();
  assert.equal(await anon.errorCode('consent.withdraw', consentArgs({
    signPk: publicKey, signSk: privateKey, purpose: 'data_processing', subject: ctx.notice.version,
    textHash: unb64(ctx.notice.text_hash), action: 'withdraw',
  })), 'not_authenticated');
  anon.close();
});

// --- a manager who is also a room's mentor (PROTOCOL.md 4, room.add) ------------------------

/*
 * mgrS, a manager of A, is seated as the mentor of the pair room R3 of A (with the
 * mentee s3). The member ops are asked twice as mgrS with the requests of the matrix:
 * aimed at R, a room she is not in, each must get what `other` (the mentor of another
 * room of A) gets — the SQL's refusal, the second lock; aimed at R3 (the matrix's
 * context switched to R3, mgrS as its mentor, s3 as its mentee), what R's mentor gets.
 * mgrA, a manager without a seat, keeps the table's `forbidden` (the matrix above).
 */
const SEAT_OPS = ['keys.get', 'sync', 'history', 'receipt', 'typing', 'epoch.commit', 'send', 'meeting.add',
  'meeting.plan', 'meeting.topic', 'diary.writer.get', 'diary.writer.set', 'diary.write', 'diary.remark',
  'diary.show', 'diary.list', 'goal.create', 'goal.update', 'goal.list', 'goal.history', 'rating.add',
  'rating.list'];

test('set-up: mgrS, a manager of A, is seated as the mentor of room R3 of A, a party once', async () => {
  const mA = people.mgrA;
  await register(await invite(mA, ctx.progA, 'manager'), 'mgrs', 'manager');
  await register(await invite(mA, ctx.progA, 'mentee'), 's3', 'mentee');
  people.mgrS = await login(nameOf('mgrs'));
  people.s3 = await login(nameOf('s3'));
  const r3 = await mA.request('room.create', {
    programme_id: ctx.progA, kind: 'pair', name: `matrix seat ${stamp}`, members: [nameOf('mgrs'), nameOf('s3')],
  });
  ctx.room3 = r3.room.id;
  assert.deepEqual(r3.room.members.map((m) => `${m.role}:${m.username}`).sort(),
    [`mentee:${nameOf('s3')}`, `mentor:${nameOf('mgrs')}`]);
  const a = await signAsEveryParty(people.mgrS, ctx.room3, password,
    { [nameOf('mgra')]: mA, [nameOf('mgrs')]: people.mgrS, [nameOf('s3')]: people.s3 });
  assert.deepEqual(a.active.parties.map((p) => `${p.role}:${p.username}`).sort(),
    [`manager:${nameOf('mgra')}`, `mentee:${nameOf('s3')}`, `mentor:${nameOf('mgrs')}`], 'mgrS is a party once, the mentor');
  await people.mgrS.sync();
  await people.s3.sync();
  assert.equal(await people.mgrS.commitEpoch(ctx.room3), 1);
  const sent = await people.s3.sendText(ctx.room3, `for the seated manager ${stamp}`);
  assert.equal((await people.mgrS.open(await people.mgrS.waitMessage(ctx.room3, sent.seq))).text, `for the seated manager ${stamp}`);
  const { checkpoints } = await people.mgrS.request('checkpoint.list', { room_id: ctx.room3 });
  const initial = checkpoints.find((c) => c.kind === 'initial');
  const p = await people.mgrS.request('checkpoint.propose', { checkpoint_id: initial.id, slots: [slotIn(initial)] });
  await people.s3.request('checkpoint.answer', { slot_id: p.checkpoint.slots[0].id, accept: true });
  ctx.initial3 = initial.id;
  // still a manager: the audit of A, and room.add refuses a manager of another programme
  await mgrSAudit();
  assert.equal(await mA.errorCode('room.add', { room_id: ctx.room2, username: nameOf('mgrb') }), 'wrong_role');
});

async function mgrSAudit() {
  const report = await people.mgrS.request('audit.report', { programme_id: ctx.progA, format: 'json' });
  assert.ok(report.rooms.some((r) => r.room_id === ctx.room), 'her audit covers R');
}

test('a seated manager asking the member ops in room R, which she is not in: what the mentor of another room gets', async () => {
  const other = ROLES.indexOf('other');
  const wrong = [];
  for (const op of SEAT_OPS) {
    const got = await ask(op, 'mgrS');
    let gotText = got.ok !== undefined ? 'ok' : got.code ?? `threw ${got.threw}`;
    if (op === 'sync' && got.ok?.rooms?.some((r) => r.room_id === ctx.room)) gotText = 'ok, but room R replayed to her';
    if (gotText !== EXPECT[op][other]) wrong.push(`${op} in R as mgrS: expected ${EXPECT[op][other]}, got ${gotText} (${got.message ?? ''})`);
  }
  assert.deepEqual(wrong, []);
});

test('a seated manager asking the member ops in her own room R3: what R\'s mentor gets in R', async () => {
  const mentor = ROLES.indexOf('mentor');
  const saved = { room: ctx.room, initial: ctx.initial, groupGoal: ctx.groupGoal, mentor: people.mentor, mentee: people.mentee };
  const wrong = [];
  Object.assign(ctx, { room: ctx.room3, initial: ctx.initial3, groupGoal: undefined });
  Object.assign(people, { mentor: people.mgrS, mentee: people.s3 });
  try {
    for (const op of SEAT_OPS) {
      const got = await ask(op, 'mentor');
      let gotText = got.ok !== undefined ? 'ok' : got.code ?? `threw ${got.threw}`;
      if (got.ok !== undefined && REQUESTS[op].check) {
        const bad = REQUESTS[op].check('mentor', got.ok);
        if (bad) gotText = `ok, but ${bad}`;
      }
      if (gotText !== EXPECT[op][mentor]) wrong.push(`${op} in R3 as mgrS: expected ${EXPECT[op][mentor]}, got ${gotText} (${got.message ?? ''})`);
    }
  } finally {
    Object.assign(ctx, { room: saved.room, initial: saved.initial, groupGoal: saved.groupGoal });
    Object.assign(people, { mentor: saved.mentor, mentee: saved.mentee });
  }
  assert.deepEqual(wrong, []);
});

// --- no content for managers ----------------------------------------------------------

test('no answer or event a manager got carries ciphertext, a sealed key, a message signature, a key backup or the plaintext', (t) => {
  const CONTENT_KEYS = ['ciphertext', 'sealed', 'sig', 'key_backup', 'blob'];
  const leaks = [];
  // records a mentee sealed to the programme's managers (section 11) are theirs to read: their
  // blobs come back in questionnaire.answers and progress.list, a member's concern reports
  // (section 13) in report.show, the participants' profiles (section 14) in profile.list, and
  // nothing else does (announce.list's body and key are the manager's own announcement, section
  // 15.2, under field names of their own)
  const SEALED_TO_MANAGERS = ['questionnaire.answers', 'progress.list', 'report.show', 'profile.list', 'announce.list'];
  const look = (who, what, v, { ownLogin = false, sealed = false } = {}) => {
    const keys = CONTENT_KEYS.filter((k) => !(ownLogin && k === 'key_backup') && !(sealed && k === 'blob'));
    if (anywhere(v, (k) => keys.includes(k))) leaks.push(`${who} ${what}: a content field`);
    const text = JSON.stringify(v);
    if (text.includes(PLAINTEXT)) leaks.push(`${who} ${what}: the plaintext`);
    if (text.includes(ctx.ciphertext.slice(8, 48))) leaks.push(`${who} ${what}: the ciphertext of R's message`);
    if (text.includes(ctx.sig.slice(8, 48))) leaks.push(`${who} ${what}: the signature of R's message`);
  };
  for (const { who, op, answer } of managerAnswers) {
    look(who, `answer to ${op}`, answer, { ownLogin: op === 'login', sealed: SEALED_TO_MANAGERS.includes(op) });
  }
  let events = 0;
  for (const [who, list] of Object.entries(managerClients)) {
    for (const c of list) {
      for (const e of c.events) {
        events++;
        look(who, `event ${e.ev}`, e.data);
      }
    }
  }
  t.diagnostic(`${managerAnswers.length} manager answers, ${events} manager events`);
  assert.ok(managerAnswers.length > 100, `only ${managerAnswers.length} manager answers were seen`);
  assert.ok(events > 0, 'mgrA, a midterm participant, got notice events');
  assert.deepEqual(leaks, []);
});

test('nothing mgrB got names room R, its members or their keys', () => {
  const members = [people.mentor, people.mentee];
  const needles = [ROOM_NAME, ...members.flatMap((m) => [m.user.username, m.user.display_name, m.user.sign_pk, m.user.box_pk])];
  const ids = new Set(members.map((m) => m.id));
  const USER_KEYS = ['user_id', 'sender_id', 'viewer_id', 'recipient_id', 'committer_id'];
  const seen = [];
  const look = (what, v) => {
    const text = JSON.stringify(v);
    for (const n of needles) if (text.includes(n)) seen.push(`${what}: ${n.slice(0, 24)}`);
    if (anywhere(v, (k, x) => k === 'room_id' && x === ctx.room)) seen.push(`${what}: room_id of R`);
    if (anywhere(v, (k, x) => USER_KEYS.includes(k) && ids.has(x))) seen.push(`${what}: the id of a member of R`);
  };
  for (const { who, op, answer } of managerAnswers) if (who === 'mgrB') look(`answer to ${op}`, answer);
  for (const c of managerClients.mgrB) for (const e of c.events) look(`event ${e.ev}`, e.data);
  assert.deepEqual(seen, []);
});

test('no client saw a reply to a request it did not make, or a background error', () => {
  for (const c of clients) {
    assert.deepEqual(c.strays, []);
    assert.deepEqual(c.errors.map(String), []);
  }
  if (findings.length) console.log(`matrix findings:\n${findings.map((f) => `  ${f.join(' | ')}`).join('\n')}`);
});
