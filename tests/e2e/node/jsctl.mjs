#!/usr/bin/env node
// jsctl.mjs - the JavaScript client of client.mjs as a tiny command line, so
// that shell scripts (tests/e2e/interop.sh) can drive it next to the C CLI.
//
//   node jsctl.mjs register --invite CODE --username NAME [--display-name NAME]
//   node jsctl.mjs send --username NAME ROOM TEXT
//   node jsctl.mjs read --username NAME ROOM        (one JSON line per message: seq, epoch,
//                                                   sender, sent_at, text, device (hex),
//                                                   counter, written_ms, error)
//   node jsctl.mjs sign --username NAME ROOM        (signs the room's agreement:
//                                                   the pending version, else the active one)
//   node jsctl.mjs agreement --username NAME ROOM   (agreement.show as JSON, after the
//                                                   roster check of PROTOCOL.md 7.2)
//
// `register` also signs the data-processing consent over the server's
// privacy notice (PROTOCOL.md section 7), as every registration must.
//
// The server and its certificate come from EMENTOR_URL and EMENTOR_CA, the
// password from EMENTOR_PASSWORD. Exit 0 on success, 1 with a message on
// stderr otherwise.

import { Client, ready } from './client.mjs';

function die(msg) {
  process.stderr.write(`jsctl: ${msg}\n`);
  process.exit(1);
}

function parse(argv) {
  const opts = {};
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      if (i + 1 >= argv.length) die(`${a} needs a value`);
      opts[a.slice(2)] = argv[++i];
    } else {
      rest.push(a);
    }
  }
  return { opts, rest };
}

async function main() {
  const [cmd, ...args] = process.argv.slice(2);
  const { opts, rest } = parse(args);
  const password = process.env.EMENTOR_PASSWORD ?? die('EMENTOR_PASSWORD is not set');
  if (!process.env.EMENTOR_URL) die('EMENTOR_URL is not set');
  await ready();
  const c = await Client.connect();
  try {
    if (cmd === 'register') {
      const r = await c.register({
        invite: opts.invite ?? die('--invite is required'),
        username: opts.username ?? die('--username is required'),
        password,
        displayName: opts['display-name'],
      });
      process.stdout.write(`${JSON.stringify(r)}\n`);
    } else if (cmd === 'sign' || cmd === 'agreement') {
      await c.login(opts.username ?? die('--username is required'), password);
      const roomId = Number(rest[0]);
      if (rest.length !== 1 || !Number.isSafeInteger(roomId) || roomId <= 0) die(`usage: ${cmd} --username NAME ROOM`);
      if (cmd === 'sign') {
        const a = await c.signAgreement(roomId);
        process.stdout.write(`${JSON.stringify({ room_id: roomId, active: a.active?.version ?? null, pending: a.pending?.version ?? null, roster: a.roster })}\n`);
      } else {
        const room = await c.roomShow(roomId);
        await c.rosterFor(roomId, room); // throws when a roster signature does not verify
        process.stdout.write(`${JSON.stringify(await c.agreementShow(roomId))}\n`);
      }
    } else if (cmd === 'send' || cmd === 'read') {
      await c.login(opts.username ?? die('--username is required'), password);
      const roomId = Number(rest[0]);
      if (!Number.isSafeInteger(roomId) || roomId <= 0) die('ROOM must be a room id');
      if (cmd === 'send') {
        if (rest.length !== 2) die('usage: send --username NAME ROOM TEXT');
        const r = await c.sendText(roomId, rest[1]);
        process.stdout.write(`${JSON.stringify({ seq: r.seq, sent_at: r.sent_at, duplicate: r.duplicate })}\n`);
      } else {
        await c.sync();
        for (const m of c.messages(roomId)) {
          let opened = null;
          let error = null;
          try {
            opened = await c.open(m);
          } catch (e) {
            error = e.code ?? e.message;
          }
          process.stdout.write(`${JSON.stringify({
            seq: m.seq, epoch: m.epoch, sender: m.sender, sent_at: m.sent_at, text: opened?.text ?? null,
            device: opened ? Buffer.from(opened.device).toString('hex') : null, counter: opened?.counter ?? null,
            written_ms: opened?.written_ms ?? null, error,
          })}\n`);
        }
      }
    } else {
      die('usage: jsctl.mjs register|send|read|sign|agreement ...');
    }
  } finally {
    c.close();
  }
}

main().then(() => process.exit(0), (e) => die(e.message));
