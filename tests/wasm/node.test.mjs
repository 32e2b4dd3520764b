// node.test.mjs - the WebAssembly core under Node (node --test), against the
// native build: every case of vectors.c must give the same bytes (check.mjs),
// and the module must work with Node's own random source, refuse bad
// arguments before they reach the C code, and report Argon2id's time; and
// the client core (ementor-client.mjs) must refuse without an account and
// hold its output until the storage writes before it have committed.
//
// Environment (tests/wasm/run.sh sets both): EMENTOR_WASM_DIST, the directory
// of ementor-core.mjs; EMENTOR_WASM_VECTORS_JSON, the native vectors.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { webcrypto } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { fixedRandomSource, runCases, timeArgon2 } from './check.mjs';

const dist = process.env.EMENTOR_WASM_DIST;
const vectorsFile = process.env.EMENTOR_WASM_VECTORS_JSON;
assert.ok(dist && vectorsFile, 'EMENTOR_WASM_DIST and EMENTOR_WASM_VECTORS_JSON must be set (tests/wasm/run.sh)');
const { createCore, MSG_STATUS, SIZES } = await import(pathToFileURL(join(dist, 'ementor-core.mjs')).href);
const vectors = JSON.parse(readFileSync(vectorsFile, 'utf8'));

// Every op vectors.c writes; a new one must get a check in check.mjs.
const OPS = ['kdf', 'keys_generate', 'fingerprint', 'safety_number', 'keys_wrap', 'keys_unwrap', 'room_key_seal',
	'room_key_open', 'room_key_verify', 'room_key_names', 'commit', 'commit_verify', 'msg_encrypt', 'msg_decrypt',
	'programme', 'programme_verify', 'agreement', 'agreement_verify', 'text_hash', 'consent', 'consent_verify',
	'b64_encode', 'b64_decode', 'request_parse'];

test(`every native vector gives the same bytes in WebAssembly (node ${process.version})`, async () => {
	const rng = fixedRandomSource(webcrypto);
	const core = await createCore({ getRandomValue: rng.getRandomValue });
	assert.equal(core.versions().sodium, vectors.sodium_version);
	assert.deepEqual(core.kdfDefaults, { opslimit: 2n, memlimit: 64n * 1024n * 1024n });
	const r = runCases(core, rng, vectors);
	const report = r.failures.map((f) => `case ${f.index} (${f.op}): ${f.problems.join('; ')}`).join('\n');
	assert.equal(r.failures.length, 0, `${r.failures.length} of ${r.total} cases differ:\n${report}`);
	assert.deepEqual(Object.keys(r.byOp).sort(), [...OPS].sort());
	assert.ok(r.total >= 60, `only ${r.total} cases`);
});

test('round trip with the platform random source', async () => {
	const core = await createCore();
	const a = core.generateKeys(), b = core.generateKeys();
	assert.notDeepEqual(a.signPk, b.signPk);
	assert.equal(core.safetyNumber(a, b), core.safetyNumber(b, a));

	const { authKey, wrapKey } = core.deriveAccountKeys('zażółć', new Uint8Array(16), core.kdfDefaults);
	assert.notDeepEqual(authKey, wrapKey);
	const backup = core.wrapKeys(a, wrapKey, 'alice');
	assert.equal(backup.length, SIZES.backup);
	assert.deepEqual(core.unwrapKeys(wrapKey, 'alice', backup), a);
	assert.equal(core.unwrapKeys(wrapKey, 'mallory', backup), null);
	// the nonce is fresh: the same keys wrap differently
	assert.notDeepEqual(core.wrapKeys(a, wrapKey, 'alice'), backup);

	const roomKey = core.generateKeys().boxSk;
	const room = { roomId: 2n ** 60n, epoch: 4, recipientId: '42', committerId: 17, agreementVersion: 3,
		recipients: [17, '42', 2n ** 63n] };
	const sealed = core.sealRoomKey({ roomKey, ...room, committerSignSk: a.signSk, recipientBoxPk: b.boxPk });
	assert.equal(sealed.length, SIZES.sealedRoomKey);
	const opened = core.openRoomKey(sealed, b);
	assert.deepEqual(opened.roomKey, roomKey);
	assert.equal(opened.committerId, 17n);
	assert.equal(opened.agreementVersion, 3);
	assert.deepEqual(opened.recipients, [17n, 42n, 2n ** 63n]);
	assert.equal(core.roomKeyNames(opened.recipients, 42), true);
	assert.equal(core.roomKeyNames(opened.recipients, 43), false);
	assert.equal(core.verifyRoomKey({ roomKey, ...room, sig: opened.sig, committerSignPk: a.signPk }), true);
	assert.equal(core.verifyRoomKey({ roomKey, ...room, epoch: 5, sig: opened.sig, committerSignPk: a.signPk }), false);
	assert.equal(core.verifyRoomKey({ roomKey, ...room, recipients: [17, 42], sig: opened.sig, committerSignPk: a.signPk }),
		false);
	assert.equal(core.openRoomKey(sealed, a), null);
	// a list that does not name the recipient, or is not ascending, is refused
	assert.throws(() => core.sealRoomKey({ roomKey, ...room, recipients: [17], committerSignSk: a.signSk, recipientBoxPk: b.boxPk }),
		RangeError);
	assert.throws(() => core.sealRoomKey({ roomKey, ...room, recipients: [42, 17], committerSignSk: a.signSk,
		recipientBoxPk: b.boxPk }), RangeError);

	const commit = { roomId: room.roomId, epoch: 4, committerId: 17, agreementVersion: 3,
		entries: [{ recipientId: 42, sealed }] };
	const commitSig = core.signCommit(commit, a.signSk);
	assert.equal(core.verifyCommit(commit, a.signPk, commitSig), true);
	assert.equal(core.verifyCommit({ ...commit, agreementVersion: 0 }, a.signPk, commitSig), false);

	const settings = { programmeId: 7, creatorId: 17, agreementRequired: false };
	const programmeSig = core.signProgramme(settings, a.signSk);
	assert.equal(core.verifyProgramme(settings, a.signPk, programmeSig), true);
	assert.equal(core.verifyProgramme({ ...settings, agreementRequired: true }, a.signPk, programmeSig), false);

	const m = { roomKey, roomId: room.roomId, epoch: 4, senderId: 17, clientMsgId: new Uint8Array(16).fill(9) };
	const meta = { device: new Uint8Array(8).fill(5), counter: 2n ** 64n - 1n, writtenMs: 1767225600123 };
	const enc = core.encryptMessage({ ...m, ...meta, plaintext: 'cześć', senderSignSk: a.signSk });
	const dec = core.decryptMessage({ ...m, ciphertext: enc.ciphertext, sig: enc.sig, senderSignPk: a.signPk });
	assert.equal(dec.status, MSG_STATUS.OK);
	assert.equal(new TextDecoder().decode(dec.plaintext), 'cześć');
	assert.deepEqual(dec.device, meta.device);
	assert.equal(dec.counter, meta.counter);
	assert.equal(dec.writtenMs, 1767225600123n);
	assert.equal(core.decryptMessage({ ...m, ciphertext: enc.ciphertext, sig: enc.sig, senderSignPk: b.signPk }).status,
		MSG_STATUS.BAD_SIGNATURE);
	assert.throws(() => core.encryptMessage({ ...m, ...meta, plaintext: new Uint8Array(SIZES.msgPlaintextMax + 1),
		senderSignSk: a.signSk }), RangeError);
});

test("the web app's vault: sealed documents open with their key and name only", async () => {
	const core = await createCore();
	const key = new Uint8Array(32).fill(7);
	const text = new TextEncoder().encode('{"token":"secret"}');
	const sealed = core.vaultSeal(key, 'session.json', text);
	assert.equal(sealed.length, text.length + 40);
	assert.ok(!Buffer.from(sealed).toString('latin1').includes('secret'), 'the text does not show');
	assert.notDeepEqual(core.vaultSeal(key, 'session.json', text), sealed, 'a fresh nonce each time');
	assert.deepEqual(core.vaultOpen(key, 'session.json', sealed), text);
	assert.equal(core.vaultOpen(key, 'keys.json', sealed), null, 'moved to another name');
	assert.equal(core.vaultOpen(new Uint8Array(32).fill(8), 'session.json', sealed), null, 'another key');
	const tampered = sealed.slice();
	tampered[30] ^= 1;
	assert.equal(core.vaultOpen(key, 'session.json', tampered), null, 'tampered');
	assert.equal(core.vaultOpen(key, 'session.json', sealed.subarray(0, 39)), null, 'too short');
	assert.deepEqual(core.vaultOpen(key, 'x', core.vaultSeal(key, 'x', new Uint8Array(0))), new Uint8Array(0));
});

test('bad arguments are refused before the C code runs', async () => {
	const core = await createCore();
	const k = core.generateKeys();
	assert.throws(() => core.fingerprint(new Uint8Array(31), k.boxPk), RangeError);
	assert.throws(() => core.fingerprint('not bytes', k.boxPk), TypeError);
	const seal = { roomKey: new Uint8Array(32), roomId: 1, epoch: 1, recipientId: 1, committerId: 1, agreementVersion: 0,
		recipients: [1], committerSignSk: k.signSk, recipientBoxPk: k.boxPk };
	assert.throws(() => core.sealRoomKey({ ...seal, roomId: -1 }), RangeError);
	assert.throws(() => core.sealRoomKey({ ...seal, roomId: 2n ** 64n }), RangeError);
	assert.throws(() => core.sealRoomKey({ ...seal, agreementVersion: 2 ** 32 }), RangeError);
	assert.throws(() => core.sealRoomKey({ ...seal, recipients: '1' }), TypeError);
	assert.throws(() => core.sealRoomKey({ ...seal, recipients: [-1] }), RangeError);
	assert.throws(() => core.encryptMessage({ roomKey: seal.roomKey, roomId: 1, epoch: 1, senderId: 1,
		clientMsgId: new Uint8Array(16), device: new Uint8Array(7), counter: 1, writtenMs: 0, plaintext: 'x',
		senderSignSk: k.signSk }), RangeError);
	assert.throws(() => core.signProgramme({ programmeId: 1, creatorId: 1, agreementRequired: 1 }, k.signSk), TypeError);
	assert.throws(() => core.wrapKeys(k, new Uint8Array(32), 'a\u0000b'), RangeError);
	assert.throws(() => core.deriveAccountKeys('pw', new Uint8Array(16), { opslimit: 1.5, memlimit: 1 }), TypeError);
	// and a call that failed leaves the module usable
	assert.match(core.fingerprint(k.signPk, k.boxPk), /^([0-9a-f]{4} ){7}[0-9a-f]{4}$/);
});

test("Argon2id's working memory does not stay in the module's memory", async () => {
	const core = await createCore();
	core.deriveAccountKeys('pw', new Uint8Array(16), core.kdfDefaults);
	// Argon2 leaves 64 MiB of pseudo-random blocks: count the KiB of memory that are not all zero
	const heap = core.mod.HEAPU8;
	assert.ok(heap.length >= 64 * 1024 * 1024, 'the memory grew for Argon2id');
	let used = 0;
	for (let off = 0; off + 1024 <= heap.length; off += 1024) {
		if (heap.subarray(off, off + 1024).some((b) => b !== 0))
			used++;
	}
	assert.ok(used < 4096, `${used} KiB of the module's ${heap.length >> 10} KiB are not zero after Argon2id`);
});

test('Argon2id with the client parameters (timing, not asserted)', async (t) => {
	const core = await createCore();
	const r = timeArgon2(core, 5, () => performance.now());
	t.diagnostic(`argon2 ${JSON.stringify({ node: process.version, ...r })}`);
	assert.ok(r.first_ms > 0);
});

// The client core (ementor-client.mjs) without a server: what it refuses, and
// the order of its output against a storage whose writes commit late.
test('the client core: refusals, and no output ahead of a storage write', async () => {
	const { EmentorClient, MemoryStorage } = await import(pathToFileURL(join(dist, 'ementor-client.mjs')).href);
	const throwing = { load() { throw new Error('disk on fire'); }, save() {}, remove() {} };
	await assert.rejects(EmentorClient.open({ storage: throwing, connect: false }), /could not open its storage: disk on fire/);

	const empty = await EmentorClient.open({ storage: new MemoryStorage(), connect: false });
	await assert.rejects(empty.command({ cmd: 'read', room: 1 }), (e) => e.exit === 3 && /not logged in/.test(e.message));
	await assert.rejects(empty.command({ cmd: 'no-such-command' }), /refused the command/);
	await empty.close();
	// as the CLI: no session token over ws:// unless told it is a development server
	await assert.rejects(EmentorClient.open({ storage: new MemoryStorage(), url: 'ws://127.0.0.1:1' }),
		/refusing the plaintext server URL 'ws:\/\/127.0.0.1:1'/);

	// an account (made here, never on a server) and a storage whose commits the test releases
	const core = await createCore();
	const k = core.generateKeys();
	const docs = {
		'session.json': JSON.stringify({ server: 'wss://127.0.0.1:1', username: 'ada', user_id: 7, role: 'mentee',
			token: 'tok', expires_at: '2099-01-01T00:00:00Z' }),
		'keys.json': JSON.stringify({ username: 'ada', sign_pk: core.b64Encode(k.signPk), sign_sk: core.b64Encode(k.signSk),
			box_pk: core.b64Encode(k.boxPk), box_sk: core.b64Encode(k.boxSk) }),
	};
	class LateStorage extends MemoryStorage {
		constructor() {
			super(docs);
			this.writes = [];
			this.gate = null;
		}

		save(name, text) {
			super.save(name, text);
			this.writes.push(name);
			if (!this.gate) {
				let release;
				this.gate = new Promise((resolve) => (release = resolve));
				this.gate.release = release;
			}
		}

		pending() {
			return this.gate;
		}
	}
	const storage = new LateStorage();
	const events = [];
	const client = await EmentorClient.open({ storage, connect: false, onEvent: (ev) => events.push(ev.ev) });
	try {
		let settled = null;
		const sent = client.command({ cmd: 'send', room: 3, text: 'offline' }).then(
			() => (settled = 'resolved'), (e) => (settled = e));
		await new Promise((r) => setTimeout(r, 50));
		assert.ok(storage.writes.includes('outbox.json'), `the message went into the outbox (${storage.writes})`);
		assert.equal(settled, null, 'the task ended before its outbox write committed');
		assert.deepEqual(events, [], 'events left before the outbox write committed');
		storage.gate.release();
		await sent;
		assert.equal(settled.exit, 4, `a send on a down link ends with exit 4: ${settled.message}`);
		assert.deepEqual(events, ['queued']);
		assert.match(storage.load('outbox.json'), /"text": ?"offline"/);
	} finally {
		storage.gate?.release();
		await client.close(); // its timer would keep a failed test's process alive
	}
});

test('the client core: a storage write that fails stops all output and ends the commands', async () => {
	const { EmentorClient, MemoryStorage } = await import(pathToFileURL(join(dist, 'ementor-client.mjs')).href);
	const core = await createCore();
	const k = core.generateKeys();
	class FailingStorage extends MemoryStorage {
		save(name, text) {
			super.save(name, text);
			this.failure = Promise.reject(new Error('quota exceeded'));
			this.failure.catch(() => {});
		}

		pending() {
			return this.failure ?? null;
		}
	}
	const storage = new FailingStorage({
		'session.json': JSON.stringify({ server: 'wss://127.0.0.1:1', username: 'bo', user_id: 8, role: 'mentee',
			token: 'tok', expires_at: '2099-01-01T00:00:00Z' }),
		'keys.json': JSON.stringify({ username: 'bo', sign_pk: core.b64Encode(k.signPk), sign_sk: core.b64Encode(k.signSk),
			box_pk: core.b64Encode(k.boxPk), box_sk: core.b64Encode(k.boxSk) }),
	});
	const events = [];
	const client = await EmentorClient.open({ storage, connect: false, onEvent: (ev) => events.push(ev) });
	try {
		await assert.rejects(client.command({ cmd: 'send', room: 3, text: 'x' }), /a storage write failed: quota exceeded/);
		assert.deepEqual(events.map((e) => `${e.ev}:${e.state ?? ''}`), ['storage:failed'], 'the queued event was held back');
		await assert.rejects(client.command({ cmd: 'flush' }), /a storage write failed/);
	} finally {
		await client.close(); // the failure was reported: closing does not throw it again
	}
});
