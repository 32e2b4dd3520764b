// page.mjs - the browser side of the WebAssembly check (page.html, served by
// tests/browser/wasm.mjs): loads the core as a web page would, runs
// check.mjs's cases against /vectors.json, round-trips with the browser's own
// random source, times Argon2id, and leaves the result in
// window.__wasmCheck (and on the page).

import { createCore, MSG_STATUS } from '/core/ementor-core.mjs';
import { fixedRandomSource, runCases, timeArgon2 } from '/check/check.mjs';

const violations = [];
document.addEventListener('securitypolicyviolation', (e) => violations.push(`${e.violatedDirective} ${e.blockedURI}`));

// The same steps as node.test.mjs's round trip, with crypto.getRandomValues.
function roundTrip(core) {
	const a = core.generateKeys(), b = core.generateKeys();
	const wrapKey = core.deriveAccountKeys('pw', new Uint8Array(16), { opslimit: 2, memlimit: 64 * 1024 * 1024 }).wrapKey;
	const back = core.unwrapKeys(wrapKey, 'alice', core.wrapKeys(a, wrapKey, 'alice'));
	const roomKey = core.generateKeys().boxSk; // 32 random bytes
	const sealed = core.sealRoomKey({ roomKey, roomId: 1, epoch: 1, recipientId: 2, committerId: 1, agreementVersion: 1,
		recipients: [1, 2], committerSignSk: a.signSk, recipientBoxPk: b.boxPk });
	const opened = core.openRoomKey(sealed, b);
	const m = { roomKey, roomId: 1, epoch: 1, senderId: 1, clientMsgId: new Uint8Array(16).fill(1) };
	const enc = core.encryptMessage({ ...m, device: new Uint8Array(8).fill(3), counter: 1, writtenMs: Date.now(), plaintext: 'cześć',
		senderSignSk: a.signSk });
	const dec = core.decryptMessage({ ...m, ciphertext: enc.ciphertext, sig: enc.sig, senderSignPk: a.signPk });
	return {
		keys_differ: a.signPk.join() !== b.signPk.join(),
		unwrapped: back !== null && back.signSk.join() === a.signSk.join(),
		opened: opened !== null && opened.roomKey.join() === roomKey.join() && opened.committerId === 1n &&
			opened.recipients.join() === '1,2',
		decrypted: dec.status === MSG_STATUS.OK && new TextDecoder().decode(dec.plaintext) === 'cześć' && dec.counter === 1n,
	};
}

async function main() {
	const vectors = await (await fetch('/vectors.json')).json();
	const t0 = performance.now();
	const rng = fixedRandomSource(crypto);
	const core = await createCore({ getRandomValue: rng.getRandomValue });
	const loadMs = Math.round(performance.now() - t0);
	const result = runCases(core, rng, vectors);
	const real = await createCore();
	result.round_trip = roundTrip(real);
	result.argon2 = timeArgon2(await createCore(), 5, () => performance.now());
	result.load_ms = loadMs;
	result.sodium = core.versions().sodium;
	result.user_agent = navigator.userAgent;
	result.csp_violations = violations;
	return result;
}

main().then((r) => {
	window.__wasmCheck = r;
	document.getElementById('result').textContent = JSON.stringify(r, null, 1);
}, (e) => {
	window.__wasmCheck = { error: String(e && e.stack ? e.stack : e) };
	document.getElementById('result').textContent = window.__wasmCheck.error;
});
