// slow.test.mjs - a member who stops reading (scenario B5): the server caps
// what it queues for that connection and closes it with 4008, the sender and
// the server carry on, and the slow member reconnects and syncs from their
// cursor without losing or doubling anything (the replay is paced, so the
// catch-up itself does not trip the limit).
//
// Run by tests/e2e/slow_consumer.sh, which starts ementord with its default
// 1 MiB --out-queue and exports EMENTOR_URL, EMENTOR_CA, EMENTOR_PASSWORD,
// EMENTOR_SLOW_ROOM, EMENTOR_SLOW_SENDER, EMENTOR_SLOW_READER, EMENTOR_SLOW_PID,
// EMENTOR_SLOW_COUNT.

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { requireEnv } from './lib.mjs';
import { loginClient, ready, signAsEveryParty } from './client.mjs';

await ready();
const password = requireEnv('EMENTOR_PASSWORD');
const room = Number(requireEnv('EMENTOR_SLOW_ROOM'));
const count = Number(requireEnv('EMENTOR_SLOW_COUNT'));
const serverPid = requireEnv('EMENTOR_SLOW_PID');
const rssKiB = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${serverPid}/status`, 'utf8'))[1]);

// Every client this test opens is closed when it ends, passed or failed: an
// open socket would keep the process (and the suite) waiting forever.
const opened = [];
after(() => opened.forEach((c) => c.ws.terminate()));

test('a reader who stops reading is cut off, and catches up after reconnecting', { timeout: 240000 }, async () => {
  const sender = await loginClient(requireEnv('EMENTOR_SLOW_SENDER'), password, { timeoutMs: 60000 });
  opened.push(sender);
  const reader = await loginClient(requireEnv('EMENTOR_SLOW_READER'), password, { timeoutMs: 60000 });
  opened.push(reader);
  // Room keys go to the roster only (PROTOCOL.md section 7): every party of
  // the room's agreement (the manager who made the room, both members) signs
  // it first, unless the script already did or made the programme without
  // agreements. Every account here has the same password.
  const agreement = await signAsEveryParty(sender, room, password, {
    [requireEnv('EMENTOR_SLOW_SENDER')]: sender, [requireEnv('EMENTOR_SLOW_READER')]: reader,
  });
  assert.ok(!agreement.required || agreement.roster.length === 2, `roster ${JSON.stringify(agreement.roster)}`);
  await sender.sync();
  await sender.sendText(room, 'before the flood');
  await reader.sync();
  const cursor = reader._room(room).cursor;
  assert.ok(cursor >= 1, 'the reader holds the first message');

  // the reader stops reading: its socket is paused, the kernel buffers fill
  reader.ws._socket.pause();
  const rssBefore = rssKiB();
  const text = 'x'.repeat(8000);
  let acked = 0;
  for (let i = 0; i < count; i += 50) {
    const batch = [];
    for (let k = i; k < Math.min(count, i + 50); k++) batch.push(sender.sendText(room, `${k} ${text}`));
    acked += (await Promise.all(batch)).length;
  }
  assert.equal(acked, count, 'the sender was never held back by the slow reader');
  const rssAfter = rssKiB();
  // ~16 MB went to the room; the server must not have queued it for the reader
  assert.ok(rssAfter - rssBefore < 64 * 1024, `server RSS grew by ${rssAfter - rssBefore} KiB`);

  reader.ws._socket.resume();
  await reader.waitUntil(() => reader.closed, 60000, 'the server to close the slow reader');
  assert.ok([4008, 1006].includes(reader.closed.code), `closed with ${reader.closed.code} ${reader.closed.reason}`);
  if (reader.closed.code === 4008) assert.equal(reader.closed.reason, 'slow_consumer');
  const got = reader._room(room).cursor;
  assert.ok(got < count + 1, `the slow reader had ${got} of ${count + 1} before the cut`);

  // reconnect and sync from the cursor: everything arrives, once, in order
  const again = await loginClient(requireEnv('EMENTOR_SLOW_READER'), password, { timeoutMs: 120000 });
  opened.push(again);
  again._room(room).cursor = got;
  const r = await again.sync([{ room_id: room, seq: got }]);
  const last = r.rooms.find((x) => x.room_id === room).last_seq;
  assert.equal(last, count + 1);
  assert.equal(again._room(room).cursor, last, 'the catch-up reached the last seq');
  const seqs = again.messages(room).map((m) => m.seq);
  assert.equal(seqs.length, last - got, 'every missing message once');
  seqs.forEach((s, i) => assert.equal(s, got + 1 + i, 'in order, no gap'));
  assert.equal(again.closed, null, 'the paced replay did not trip the limit');
  const sample = again.messages(room)[seqs.length - 1];
  assert.match((await again.open(sample)).text, new RegExp(`^${count - 1} x+$`));
  assert.deepEqual(again.errors, []);
  sender.close();
  again.close();
});
