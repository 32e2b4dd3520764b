// peer.test.mjs - a third-party client (Node `ws` + libsodium.js) against a
// real ementord: the transport rules and errors of docs/PROTOCOL.md as a
// stranger's client meets them, malformed input included.
//
// Run through tests/e2e/run_node.sh (scripts/test does), which starts the
// server with a throwaway PostgreSQL and sets the variables lib.mjs lists.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  QUICK_MS, connect, tryConnect, httpGet, requireEnv, ready, b64, unb64, deriveKeys, unwrapKeys,
  fingerprint, newAccount, freshUsername,
} from './lib.mjs';
import { ready as clientReady, checkNotice, privacyArgs } from './client.mjs';

const RFC3339_UTC = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

async function withPeer(fn, opts) {
  const peer = await connect(opts);
  try {
    return await fn(peer);
  } finally {
    peer.terminate();
  }
}

test('GET /healthz reports the server and its database', async () => {
  const r = await httpGet('/healthz');
  assert.equal(r.status, 200);
  const body = JSON.parse(r.body);
  assert.equal(body.status, 'ok');
  assert.equal(body.database, 'up');
  assert.equal(typeof body.version, 'string');
  assert.equal((await httpGet('/no-such-page')).status, 404);
});

test('ping answers with the server time', async () => {
  await withPeer(async (peer) => {
    const r = await peer.request('ping', {});
    assert.equal(r.re, 1);
    assert.match(r.ok.time, RFC3339_UTC);
    // args may be omitted when an op takes none
    const r2 = await peer.request('ping');
    assert.match(r2.ok.time, RFC3339_UTC);
  });
});

test('malformed JSON gets bad_json with re null, and the connection stays usable', async () => {
  await withPeer(async (peer) => {
    peer.sendRaw('{"id": 1, "op": "ping"');
    const err = await peer.nextFrame();
    assert.deepEqual(Object.keys(err).sort(), ['error', 're']);
    assert.equal(err.re, null);
    assert.equal(err.error.code, 'bad_json');
    assert.equal(typeof err.error.message, 'string');
    assert.ok(err.error.message.length > 0);
    assert.equal(err.error.retry_after_ms, undefined);

    const r = await peer.request('ping', {});
    assert.match(r.ok.time, RFC3339_UTC);
  });
});

test('validation errors name their code and keep the request id once it was read', async () => {
  await withPeer(async (peer) => {
    const cases = [
      ['{"op":"ping"}', null, 'bad_frame'],
      ['[1,2]', null, 'bad_frame'],
      ['{"id":-1,"op":"ping"}', null, 'bad_frame'],
      ['{"id":1.5,"op":"ping"}', null, 'bad_frame'],
      ['{"id":9007199254740992,"op":"ping"}', null, 'bad_frame'],
      ['{"id":11,"op":"ping","extra":1}', 11, 'bad_frame'],
      ['{"id":12,"op":"ping","args":[]}', 12, 'bad_frame'],
      ['{"id":13,"op":"fly"}', 13, 'unknown_op'],
      ['{"id":14,"op":"prelogin","args":{}}', 14, 'missing_field'],
      ['{"id":15,"op":"prelogin","args":{"username":7}}', 15, 'wrong_type'],
      ['{"id":16,"op":"ping","args":{"x":1}}', 16, 'unknown_field'],
      ['{"id":17,"op":"prelogin","args":{"username":"ab"}}', 17, 'too_short'],
      ['{"id":18,"op":"prelogin","args":{"username":"' + 'a'.repeat(33) + '"}}', 18, 'too_long'],
      ['{"id":19,"op":"prelogin","args":{"username":"-alice"}}', 19, 'bad_value'],
      ['{"id":20,"op":"login","args":{"username":"alice","auth_key":"AAAA="}}', 20, 'bad_encoding'],
    ];
    // Each malformed frame gets exactly one error reply, in order of sending
    // where no id could be read.
    for (const [frame, re, code] of cases) {
      peer.sendRaw(frame);
      const r = await peer.nextFrame((f) => f.re === re);
      assert.equal(r.error?.code, code, `${frame} -> ${JSON.stringify(r)}`);
    }
    // the largest id a JavaScript number holds exactly comes back unchanged
    peer.sendRaw('{"id":9007199254740991,"op":"ping"}');
    const big = await peer.nextFrame((f) => f.re === 9007199254740991);
    assert.match(big.ok.time, RFC3339_UTC);
  });
});

test('pipelined requests each get exactly one reply with their id', async () => {
  await withPeer(async (peer) => {
    const ids = [];
    for (let i = 0; i < 20; i++) ids.push(peer.send('ping', {}, 1000 + i));
    const seen = new Set();
    for (let i = 0; i < ids.length; i++) {
      const r = await peer.nextFrame((f) => 're' in f);
      assert.ok(r.ok, JSON.stringify(r));
      assert.ok(ids.includes(r.re), `unexpected re ${r.re}`);
      assert.ok(!seen.has(r.re), `two replies for ${r.re}`);
      seen.add(r.re);
    }
  });
});

test('an op that needs a login is refused with not_authenticated before login', async () => {
  await withPeer(async (peer) => {
    for (const [op, args] of [['whoami', {}], ['room.list', {}], ['programme.list', undefined], ['logout', {}]]) {
      const id = peer.send(op, args);
      const r = await peer.reply(id);
      assert.equal(r.error?.code, 'not_authenticated', `${op}: ${JSON.stringify(r)}`);
    }
  });
});

test('a message of exactly 65,536 bytes is accepted', async () => {
  await withPeer(async (peer) => {
    const head = '{"id":77,"op":"ping"}';
    const frame = head + ' '.repeat(65536 - head.length);
    assert.equal(Buffer.byteLength(frame), 65536);
    peer.sendRaw(frame);
    const r = await peer.reply(77);
    assert.match(r.ok.time, RFC3339_UTC);
  });
});

test('a 70,000-byte message makes the server close with 1009', async () => {
  const peer = await connect();
  try {
    peer.sendRaw('{"id":1,"op":"ping","args":{"pad":"' + 'x'.repeat(70000 - 40) + '"}}');
    const { code } = await peer.waitClose(QUICK_MS * 2);
    assert.equal(code, 1009);
  } finally {
    peer.terminate();
  }
});

test('a binary frame makes the server close with 1003', async () => {
  const peer = await connect();
  try {
    peer.sendRaw(Buffer.from('{"id":1,"op":"ping"}'), { binary: true });
    const { code } = await peer.waitClose(QUICK_MS * 2);
    assert.equal(code, 1003);
  } finally {
    peer.terminate();
  }
});

test('a handshake with an Origin outside the allowlist is refused with 403', async () => {
  const r = await tryConnect({ origin: 'https://evil.example' });
  if (r.peer) {
    r.peer.terminate();
    assert.fail('the server accepted Origin https://evil.example');
  }
  if (r.refused.status !== undefined) assert.equal(r.refused.status, 403);
});

test('a handshake with an allowed Origin is accepted', async () => {
  const origin = requireEnv('EMENTOR_TEST_ALLOWED_ORIGIN');
  await withPeer(async (peer) => {
    const r = await peer.request('ping', {});
    assert.ok(r.ok);
  }, { origin });
});

test('a handshake without the ementor.v1 subprotocol is refused', async () => {
  for (const protocols of [[], ['ementor.v0']]) {
    const r = await tryConnect({ protocols });
    if (r.peer) {
      r.peer.terminate();
      assert.fail(`the server accepted subprotocols ${JSON.stringify(protocols)}`);
    }
  }
});

test('a connection that does not authenticate is closed with 4001 at the auth deadline', async () => {
  const timeout = Number(requireEnv('EMENTOR_TEST_AUTH_TIMEOUT'));
  assert.ok(timeout > 0 && timeout <= 10, 'start the server with a short --auth-timeout');
  const started = Date.now();
  const silent = await connect();
  // talking without logging in does not extend the deadline
  const chatty = await connect();
  const timer = setInterval(() => chatty.send('ping', {}), 300);
  try {
    const [a, b] = await Promise.all([
      silent.waitClose((timeout + 5) * 1000),
      chatty.waitClose((timeout + 5) * 1000),
    ]);
    const elapsed = (Date.now() - started) / 1000;
    assert.equal(a.code, 4001);
    assert.equal(b.code, 4001);
    assert.ok(elapsed >= timeout - 0.5, `closed after ${elapsed} s, before the ${timeout} s deadline`);
  } finally {
    clearInterval(timer);
    silent.terminate();
    chatty.terminate();
  }
});

test('prelogin for an unknown user gives a stable made-up salt with default parameters', async () => {
  await ready();
  await withPeer(async (peer) => {
    const name = freshUsername('ghost');
    const a = await peer.call('prelogin', { username: name });
    const b = await peer.call('prelogin', { username: name.toUpperCase() });
    assert.equal(unb64(a.salt).length, 16);
    assert.equal(a.salt, b.salt, 'the answer must not change between calls, nor with case');
    assert.equal(a.alg, 'argon2id13');
    assert.ok(a.opslimit >= 2 && a.opslimit <= 10);
    assert.ok(a.memlimit >= 67108864 && a.memlimit <= 1073741824);
    const other = await peer.call('prelogin', { username: freshUsername('ghost2') });
    assert.notEqual(other.salt, a.salt);
  });
});

test('a libsodium.js client registers, logs in, reads its keys back and resumes', async () => {
  await ready();
  await clientReady();
  const invite = requireEnv('EMENTOR_TEST_INVITE');
  const username = freshUsername('js');
  // Argon2id is slow: derive before connecting (the auth deadline is short).
  const acct = newAccount(username, 'a long and secret passphrase', invite, 'Node Peer');
  const wrong = deriveKeys('not the passphrase', acct.salt, 2, 67108864);
  // the data-processing consent every registration carries (section 7)
  const consent = (peer) => peer.call('privacy.notice', {}).then((notice) =>
    privacyArgs({ signPk: acct.sign.publicKey, signSk: acct.sign.privateKey }, checkNotice(notice)));

  let token;
  await withPeer(async (peer) => {
    const reg = await peer.call('register', { ...acct.registerArgs, ...(await consent(peer)) });
    assert.equal(reg.user.username, username);
    assert.equal(reg.user.role, 'manager');
    assert.equal(reg.user.display_name, 'Node Peer');
    assert.equal(reg.user.sign_pk, b64(acct.sign.publicKey));
    assert.equal(reg.user.box_pk, b64(acct.box.publicKey));
    // both sides compute the same safety number
    assert.equal(reg.user.fingerprint, fingerprint(acct.sign.publicKey, acct.box.publicKey));

    // prelogin now returns the account's own salt and parameters
    const pre = await peer.call('prelogin', { username: username.toUpperCase() });
    assert.equal(pre.salt, b64(acct.salt));
    assert.equal(pre.opslimit, 2);
    assert.equal(pre.memlimit, 67108864);

    const bad = await peer.request('login', { username, auth_key: b64(wrong.authKey) });
    assert.equal(bad.error?.code, 'bad_credentials');

    const login = await peer.call('login', { username, auth_key: b64(acct.authKey) });
    assert.equal(typeof login.token, 'string');
    assert.match(login.expires_at, RFC3339_UTC);
    assert.equal(login.user.username, username);
    // the backup opens with the wrap key derived from the password alone
    const keys = unwrapKeys(unb64(login.key_backup), acct.wrapKey, username);
    assert.deepEqual(keys.signSk, acct.sign.privateKey);
    assert.deepEqual(keys.boxSk, acct.box.privateKey);
    token = login.token;

    const me = await peer.call('whoami', {});
    assert.equal(me.user.username, username);
    assert.ok(Array.isArray(me.programmes));

    const again = await peer.request('login', { username, auth_key: b64(acct.authKey) });
    assert.equal(again.error?.code, 'already_authenticated');
  });

  // the invite was used up
  const second = newAccount(freshUsername('js2'), 'another passphrase', invite);
  await withPeer(async (peer) => {
    const notice = checkNotice(await peer.call('privacy.notice', {}));
    const privacy = privacyArgs({ signPk: second.sign.publicKey, signSk: second.sign.privateKey }, notice);
    const r = await peer.request('register', { ...second.registerArgs, ...privacy });
    assert.equal(r.error?.code, 'invalid_invite');
  });

  // the token resumes the session on another connection; logout revokes it
  await withPeer(async (peer) => {
    const r = await peer.call('resume', { token });
    assert.equal(r.user.username, username);
    await peer.call('logout', {});
    const after = await peer.request('whoami', {});
    assert.equal(after.error?.code, 'not_authenticated');
  });
  await withPeer(async (peer) => {
    const r = await peer.request('resume', { token });
    assert.equal(r.error?.code, 'session_expired');
  });
});
