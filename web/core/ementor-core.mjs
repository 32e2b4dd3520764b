// ementor-core.mjs - the ementor client core compiled to WebAssembly, as an
// ES module for web pages, workers and Node (18 and later).
//
// Every function here calls the C code of libementor-proto (proto/, built by
// scripts/wasm with libsodium and jansson): the JavaScript only copies bytes
// and strings into the module's memory and results out of it. Nothing
// cryptographic is done in JavaScript. The derivations and byte layouts are
// the ones docs/PROTOCOL.md specifies; tests/wasm checks them byte for byte
// against the native build.
//
//   import { createCore } from './ementor-core.mjs';
//   const core = await createCore();
//   const { authKey, wrapKey } = core.deriveAccountKeys('password', salt, core.kdfDefaults);
//
// Conventions: binary values are Uint8Array; 64-bit ids, epochs and times are
// BigInt (a number or a decimal string is accepted on input); strings are
// encoded as UTF-8 exactly as given, except passwords: those are normalised
// to Unicode NFC first (passwordBytes; docs/PROTOCOL.md "Account keys"; the
// native build does the same in C with libunistring, which this build does
// not have). A function that
// checks something returns true/false or null; one that cannot do what it was
// asked throws. Secrets copied into the module's memory are wiped before the
// memory is freed; the caller owns every Uint8Array returned.
//
// Randomness comes from the host: crypto.getRandomValues in browsers and in
// Node (node:crypto's webcrypto on Node 18). createCore({ getRandomValue })
// replaces it (tests use that for fixed vectors; never do it otherwise).

import createEmentorCoreWasm from './ementor-core-wasm.mjs';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });
// passwords given as bytes: a leading U+FEFF is part of the password, not a byte order mark
const passwordDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const U64_MAX = (1n << 64n) - 1n;
const VAULT_OVERHEAD = 24 + 16; // XChaCha20-Poly1305 nonce and tag (wasm_vault_seal)
const I64_MIN = -(1n << 63n);
const I64_MAX = (1n << 63n) - 1n;

/** Sizes from proto/em_crypto.h. */
export const SIZES = Object.freeze({
	salt: 16,
	key: 32,
	signPk: 32,
	signSk: 64,
	boxPk: 32,
	boxSk: 32,
	backup: 136,
	roomKey: 32,
	sealedRoomKey: 208,
	keyRecipientsMax: 6,
	sig: 64,
	msgId: 16,
	deviceId: 8,
	hash: 32,
	msgPlaintextMax: 16384,
	msgCiphertextMax: 32 + 24 + 16384 + 256 + 16, // EM_MSG_CIPHERTEXT_MAX: a v3 message (v2 is 32 bytes less)
	consentBytesMax: 19 + 32 + 3 * 4 + 64 + 64 + 32 + 8 + 8,
});

/** Results of decryptMessage (enum em_msg_status). */
export const MSG_STATUS = Object.freeze({
	OK: 0,
	BAD_SIGNATURE: -1,
	UNDECRYPTABLE: -2,
	MALFORMED: -3,
	BAD_COMMITMENT: -4, /* a v3 message whose franking commitment does not match its body */
});

/**
 * The bytes Argon2id takes for a password (docs/PROTOCOL.md "Account keys"):
 * the UTF-8 of its Unicode Normalization Form C, so that a password typed
 * composed ("Zo\u00eb") or decomposed ("Zoe\u0308") derives the same keys.
 * password: a string, or its UTF-8 bytes. Throws a RangeError for bytes that
 * are not well-formed UTF-8 and for a string with a lone surrogate (not
 * Unicode text): refused, never guessed at.
 */
export function passwordBytes(password) {
	let text = password;
	if (password instanceof Uint8Array) {
		try {
			text = passwordDecoder.decode(password);
		} catch {
			throw new RangeError('ementor-core: the password is not valid UTF-8');
		}
	} else if (typeof password !== 'string') {
		throw new TypeError('ementor-core: password must be a string or its UTF-8 bytes');
	}
	if (/\p{Cs}/u.test(text))
		throw new RangeError('ementor-core: the password holds a lone surrogate (not Unicode text)');
	return encoder.encode(text.normalize('NFC'));
}

function isNode() {
	return typeof process === 'object' && process !== null && typeof process.versions === 'object' &&
		typeof process.versions.node === 'string';
}

async function defaultRandomSource() {
	let c = globalThis.crypto;
	if ((!c || typeof c.getRandomValues !== 'function') && isNode())
		c = (await import('node:crypto')).webcrypto; // Node 18: no global crypto
	if (!c || typeof c.getRandomValues !== 'function')
		throw new Error('ementor-core: no crypto.getRandomValues in this environment');
	const one = new Uint32Array(1);
	return () => {
		c.getRandomValues(one);
		return one[0] >>> 0;
	};
}

function u64(v, name) {
	let b;
	if (typeof v === 'bigint')
		b = v;
	else if (typeof v === 'number' && Number.isSafeInteger(v))
		b = BigInt(v);
	else if (typeof v === 'string' && /^[0-9]+$/.test(v))
		b = BigInt(v);
	else
		throw new TypeError(`ementor-core: ${name} must be a non-negative integer (BigInt, number or decimal string)`);
	if (b < 0n || b > U64_MAX)
		throw new RangeError(`ementor-core: ${name} is out of the range of a u64`);
	return b;
}

function i64(v, name) {
	let b;
	if (typeof v === 'bigint')
		b = v;
	else if (typeof v === 'number' && Number.isSafeInteger(v))
		b = BigInt(v);
	else if (typeof v === 'string' && /^-?[0-9]+$/.test(v))
		b = BigInt(v);
	else
		throw new TypeError(`ementor-core: ${name} must be an integer (BigInt, number or decimal string)`);
	if (b < I64_MIN || b > I64_MAX)
		throw new RangeError(`ementor-core: ${name} is out of the range of an i64`);
	return b;
}

function u32(v, name) {
	if (!Number.isInteger(v) || v < 0 || v > 0xffffffff)
		throw new RangeError(`ementor-core: ${name} must be an integer from 0 to 2^32 - 1`);
	return v;
}

function checkBool(v, name) {
	if (typeof v !== 'boolean')
		throw new TypeError(`ementor-core: ${name} must be true or false`);
	return v;
}

// The recipient ids of a room key envelope, as given (proto checks the list).
function recipientList(v, name) {
	if (!Array.isArray(v))
		throw new TypeError(`ementor-core: ${name} must be an array of user ids`);
	return v.map((id, i) => u64(id, `${name}[${i}]`));
}

function checkBytes(b, name, len) {
	if (!(b instanceof Uint8Array))
		throw new TypeError(`ementor-core: ${name} must be a Uint8Array`);
	if (len !== undefined && b.length !== len)
		throw new RangeError(`ementor-core: ${name} must be ${len} bytes, not ${b.length}`);
	return b;
}

function utf8(s, name) {
	if (typeof s !== 'string')
		throw new TypeError(`ementor-core: ${name} must be a string`);
	const b = encoder.encode(s);
	if (b.includes(0))
		throw new RangeError(`ementor-core: ${name} must not contain NUL`);
	return b;
}

// One call's allocations in the module's memory: every block is wiped and
// freed by done(), whatever it held. The HEAPU8 view is read afresh at each
// use, since a call that grows the memory replaces it.
class Scratch {
	constructor(mod) {
		this.mod = mod;
		this.blocks = [];
	}

	alloc(n) {
		const size = Math.max(n, 1);
		const p = this.mod._malloc(size);
		if (!p)
			throw new Error('ementor-core: out of memory in the WebAssembly module');
		this.blocks.push([p, size]);
		this.mod.HEAPU8.fill(0, p, p + size);
		return p;
	}

	bytes(b) {
		const p = this.alloc(b.length);
		this.mod.HEAPU8.set(b, p);
		return p;
	}

	// A NUL-terminated UTF-8 copy of a string.
	str(s, name) {
		const b = utf8(s, name);
		const p = this.alloc(b.length + 1);
		this.mod.HEAPU8.set(b, p);
		return p;
	}

	u64s(values, name) {
		const p = this.alloc(values.length * 8);
		const view = new DataView(this.mod.HEAPU8.buffer);
		values.forEach((v, i) => view.setBigUint64(p + i * 8, u64(v, name), true));
		return p;
	}

	// An array of pointers (wasm32: 4 bytes each).
	ptrs(list) {
		const p = this.alloc(list.length * 4);
		const view = new DataView(this.mod.HEAPU8.buffer);
		list.forEach((q, i) => view.setUint32(p + i * 4, q, true));
		return p;
	}

	read(p, n) {
		return this.mod.HEAPU8.slice(p, p + n);
	}

	readU32(p) {
		return new DataView(this.mod.HEAPU8.buffer).getUint32(p, true);
	}

	readU64(p) {
		return new DataView(this.mod.HEAPU8.buffer).getBigUint64(p, true);
	}

	readI64(p) {
		return new DataView(this.mod.HEAPU8.buffer).getBigInt64(p, true);
	}

	done() {
		for (const [p, n] of this.blocks) {
			this.mod._sodium_memzero(p, n);
			this.mod._free(p);
		}
		this.blocks = [];
	}
}

function cstr(mod, p) {
	const heap = mod.HEAPU8;
	let end = p;
	while (heap[end] !== 0)
		end++;
	return decoder.decode(heap.subarray(p, end));
}

class Core {
	constructor(mod) {
		this.mod = mod;
		/** The Argon2id parameters a client uses when it creates an account (em_crypto.h). */
		this.kdfDefaults = this.with((s) => {
			const ops = s.alloc(8), mem = s.alloc(8);
			mod._wasm_kdf_defaults(ops, mem);
			return Object.freeze({ opslimit: s.readU64(ops), memlimit: s.readU64(mem) });
		});
	}

	// Runs fn(scratch) and frees (wiping) whatever it allocated.
	with(fn) {
		const s = new Scratch(this.mod);
		try {
			return fn(s);
		} finally {
			s.done();
		}
	}

	/** Versions of the C libraries inside. */
	versions() {
		return { sodium: cstr(this.mod, this.mod._sodium_version_string()) };
	}

	/** The wire code of an em_err value ("bad_json", ...). */
	errCode(err) {
		return cstr(this.mod, this.mod._em_err_code(err));
	}

	/**
	 * auth_key and wrap_key from a password (Argon2id, then crypto_kdf: em_kdf_derive; Argon2id's
	 * working memory is wiped afterwards).
	 * password: a string or its UTF-8 bytes, normalised to NFC first (passwordBytes); salt: 16
	 * bytes; opslimit, memlimit: as prelogin gives them.
	 */
	deriveAccountKeys(password, salt, { opslimit, memlimit }) {
		checkBytes(salt, 'salt', SIZES.salt);
		const pw = passwordBytes(password);
		try {
			return this.with((s) => {
				const auth = s.alloc(32), wrap = s.alloc(32);
				const rc = this.mod._wasm_kdf_derive(s.bytes(pw), pw.length, s.bytes(salt), u64(opslimit, 'opslimit'),
					u64(memlimit, 'memlimit'), auth, wrap);
				if (rc !== 0)
					throw new Error('ementor-core: key derivation failed (out of memory, or parameters libsodium refuses)');
				return { authKey: s.read(auth, 32), wrapKey: s.read(wrap, 32) };
			});
		} finally {
			pw.fill(0);
		}
	}

	/** A new account key pair set: { signPk, signSk, boxPk, boxSk }. */
	generateKeys() {
		return this.with((s) => {
			const spk = s.alloc(32), ssk = s.alloc(64), bpk = s.alloc(32), bsk = s.alloc(32);
			this.mod._wasm_keys_generate(spk, ssk, bpk, bsk);
			return { signPk: s.read(spk, 32), signSk: s.read(ssk, 64), boxPk: s.read(bpk, 32), boxSk: s.read(bsk, 32) };
		});
	}

	/** The key backup (136 bytes) the server stores: the secret keys sealed under wrap_key. */
	wrapKeys(keys, wrapKey, username) {
		checkBytes(keys.signSk, 'keys.signSk', SIZES.signSk);
		checkBytes(keys.boxSk, 'keys.boxSk', SIZES.boxSk);
		checkBytes(wrapKey, 'wrapKey', SIZES.key);
		return this.with((s) => {
			const out = s.alloc(SIZES.backup);
			this.mod._wasm_keys_wrap(s.bytes(keys.signSk), s.bytes(keys.boxSk), s.bytes(wrapKey),
				s.str(username, 'username'), out);
			return s.read(out, SIZES.backup);
		});
	}

	/** The keys in a backup, or null when it does not open (wrong password, another user's, tampered). */
	unwrapKeys(wrapKey, username, backup) {
		checkBytes(wrapKey, 'wrapKey', SIZES.key);
		checkBytes(backup, 'backup');
		return this.with((s) => {
			const spk = s.alloc(32), ssk = s.alloc(64), bpk = s.alloc(32), bsk = s.alloc(32);
			const rc = this.mod._wasm_keys_unwrap(s.bytes(wrapKey), s.str(username, 'username'), s.bytes(backup),
				backup.length, spk, ssk, bpk, bsk);
			if (rc !== 0)
				return null;
			return { signPk: s.read(spk, 32), signSk: s.read(ssk, 64), boxPk: s.read(bpk, 32), boxSk: s.read(bsk, 32) };
		});
	}

	/** A user's key fingerprint: "xxxx xxxx ..." (em_fingerprint). */
	fingerprint(signPk, boxPk) {
		checkBytes(signPk, 'signPk', 32);
		checkBytes(boxPk, 'boxPk', 32);
		return this.with((s) => {
			const out = s.alloc(40);
			this.mod._em_fingerprint(s.bytes(signPk), s.bytes(boxPk), out);
			return cstr(this.mod, out);
		});
	}

	/** The safety number of two users (a and b: { signPk, boxPk }); the same either way round. */
	safetyNumber(a, b) {
		for (const [k, v] of Object.entries({ 'a.signPk': a.signPk, 'a.boxPk': a.boxPk, 'b.signPk': b.signPk, 'b.boxPk': b.boxPk }))
			checkBytes(v, k, 32);
		return this.with((s) => {
			const out = s.alloc(72);
			this.mod._em_safety_number(s.bytes(a.signPk), s.bytes(a.boxPk), s.bytes(b.signPk), s.bytes(b.boxPk), out);
			return cstr(this.mod, out);
		});
	}

	// The names of a room key envelope (struct em_room_key_id), in the module's memory.
	roomKeyIdArgs(s, { roomId, epoch, recipientId, committerId, agreementVersion, recipients }) {
		const list = recipientList(recipients, 'recipients');
		return [u64(roomId, 'roomId'), u64(epoch, 'epoch'), u64(recipientId, 'recipientId'),
			u64(committerId, 'committerId'), u32(agreementVersion, 'agreementVersion'), list.length,
			s.u64s(list, 'recipients')];
	}

	/**
	 * A room key sealed to one recipient and signed by the committer (208 bytes). The envelope
	 * names the room, epoch, recipient, committer, the agreement version the committer checked
	 * the roster against (0 where the programme signed away agreements) and every recipient of
	 * the epoch: recipients, 1 to 6 ascending user ids that include recipientId (a RangeError
	 * otherwise).
	 */
	sealRoomKey({ roomKey, committerSignSk, recipientBoxPk, ...id }) {
		checkBytes(roomKey, 'roomKey', SIZES.roomKey);
		checkBytes(committerSignSk, 'committerSignSk', SIZES.signSk);
		checkBytes(recipientBoxPk, 'recipientBoxPk', SIZES.boxPk);
		return this.with((s) => {
			const out = s.alloc(SIZES.sealedRoomKey);
			if (this.mod._wasm_room_key_seal(s.bytes(roomKey), ...this.roomKeyIdArgs(s, id), s.bytes(committerSignSk),
				s.bytes(recipientBoxPk), out) !== 0)
				throw new RangeError('ementor-core: recipients must be 1 to 6 ascending non-zero user ids that include recipientId');
			return s.read(out, SIZES.sealedRoomKey);
		});
	}

	/**
	 * Opens a sealed room key addressed to keys ({ boxPk, boxSk }):
	 * { committerId, agreementVersion, recipients (BigInt ids, ascending), roomKey, sig }, or null
	 * when it does not open or names an impossible recipient list. The key is not to be trusted
	 * before verifyRoomKey() with the committer's pinned key (and a check that the committer may
	 * commit and every recipient may hold the key).
	 */
	openRoomKey(sealed, keys) {
		checkBytes(sealed, 'sealed', SIZES.sealedRoomKey);
		checkBytes(keys.boxPk, 'keys.boxPk', 32);
		checkBytes(keys.boxSk, 'keys.boxSk', 32);
		return this.with((s) => {
			const who = s.alloc(8), version = s.alloc(4), n = s.alloc(4), list = s.alloc(8 * SIZES.keyRecipientsMax);
			const key = s.alloc(32), sig = s.alloc(64);
			if (this.mod._wasm_room_key_open(s.bytes(sealed), s.bytes(keys.boxPk), s.bytes(keys.boxSk), who, version, n,
				list, key, sig) !== 0)
				return null;
			const recipients = [];
			for (let i = 0; i < s.readU32(n); i++)
				recipients.push(s.readU64(list + i * 8));
			return { committerId: s.readU64(who), agreementVersion: s.readU32(version), recipients, roomKey: s.read(key, 32),
				sig: s.read(sig, 64) };
		});
	}

	/**
	 * True when sig is the committer's signature over this key and everything the envelope names
	 * ({ roomKey, roomId, epoch, recipientId, committerId, agreementVersion, recipients, sig,
	 * committerSignPk }).
	 */
	verifyRoomKey({ roomKey, sig, committerSignPk, ...id }) {
		checkBytes(roomKey, 'roomKey', 32);
		checkBytes(sig, 'sig', 64);
		checkBytes(committerSignPk, 'committerSignPk', 32);
		return this.with((s) => this.mod._wasm_room_key_verify(s.bytes(roomKey), ...this.roomKeyIdArgs(s, id), s.bytes(sig),
			s.bytes(committerSignPk)) === 0);
	}

	/** Whether userId is one of the recipients an envelope names (em_room_key_names). */
	roomKeyNames(recipients, userId) {
		const list = recipientList(recipients, 'recipients');
		const id = u64(userId, 'userId');
		return this.with((s) => this.mod._wasm_room_key_names(list.length, s.u64s(list, 'recipients'), id) !== 0);
	}

	// The common arguments of an epoch commit, in the module's memory.
	commitArgs(s, { roomId, epoch, committerId, agreementVersion, entries }) {
		if (!Array.isArray(entries))
			throw new TypeError('ementor-core: entries must be an array of { recipientId, sealed }');
		const sealed = new Uint8Array(entries.length * SIZES.sealedRoomKey);
		entries.forEach((e, i) => sealed.set(checkBytes(e.sealed, `entries[${i}].sealed`, SIZES.sealedRoomKey), i * SIZES.sealedRoomKey));
		return [u64(roomId, 'roomId'), u64(epoch, 'epoch'), u64(committerId, 'committerId'),
			u32(agreementVersion, 'agreementVersion'), s.u64s(entries.map((e) => e.recipientId), 'recipientId'),
			s.bytes(sealed), entries.length];
	}

	/**
	 * The bytes an epoch commit's signature covers ({ roomId, epoch, committerId, agreementVersion,
	 * entries: [{ recipientId, sealed }] }, entries in any order).
	 */
	commitBytes(commit) {
		return this.with((s) => {
			const len = s.alloc(4);
			const p = this.mod._wasm_commit_bytes(...this.commitArgs(s, commit), len);
			if (!p)
				throw new Error('ementor-core: out of memory in the WebAssembly module');
			const n = s.readU32(len), out = s.read(p, n);
			this.mod._free(p);
			return out;
		});
	}

	/** The committer's signature of an epoch commit (as commitBytes takes it). */
	signCommit(commit, signSk) {
		checkBytes(signSk, 'signSk', SIZES.signSk);
		return this.with((s) => {
			const sig = s.alloc(64);
			if (this.mod._wasm_commit_sign(...this.commitArgs(s, commit), s.bytes(signSk), sig) !== 0)
				throw new Error('ementor-core: out of memory in the WebAssembly module');
			return s.read(sig, 64);
		});
	}

	verifyCommit(commit, signPk, sig) {
		checkBytes(signPk, 'signPk', 32);
		checkBytes(sig, 'sig', 64);
		return this.with((s) => this.mod._wasm_commit_verify(...this.commitArgs(s, commit), s.bytes(signPk), s.bytes(sig)) === 0);
	}

	/**
	 * Encrypts and signs a message: { ciphertext, sig }. plaintext: bytes or a string (UTF-8), at
	 * most 16384 bytes; clientMsgId: 16 bytes. Signed inside the ciphertext with the text: device
	 * (the sending device's random id, 8 bytes), counter (per room and device: 1, 2, 3, ...; a
	 * resend keeps its number) and writtenMs (the sender's clock, Unix milliseconds).
	 */
	encryptMessage(args) {
		return this.encryptAs(args, 0);
	}

	/**
	 * encryptMessage() in the franked format v3 (PROTOCOL.md 5.1 and 13): the ciphertext starts
	 * with the commitment a concern report reveals. Same arguments and result.
	 */
	encryptMessageV3(args) {
		return this.encryptAs(args, 1);
	}

	// encryptMessage() (v3: 0) or encryptMessageV3() (v3: 1).
	encryptAs({ roomKey, roomId, epoch, senderId, clientMsgId, device, counter, writtenMs, plaintext, senderSignSk }, v3) {
		const text = typeof plaintext === 'string' ? encoder.encode(plaintext) : checkBytes(plaintext, 'plaintext');
		checkBytes(roomKey, 'roomKey', 32);
		checkBytes(clientMsgId, 'clientMsgId', SIZES.msgId);
		checkBytes(device, 'device', SIZES.deviceId);
		checkBytes(senderSignSk, 'senderSignSk', SIZES.signSk);
		return this.with((s) => {
			const ct = s.alloc(SIZES.msgCiphertextMax), sig = s.alloc(64);
			const n = this.mod._wasm_msg_encrypt(s.bytes(roomKey), u64(roomId, 'roomId'), u64(epoch, 'epoch'),
				u64(senderId, 'senderId'), s.bytes(clientMsgId), s.bytes(device), u64(counter, 'counter'),
				u64(writtenMs, 'writtenMs'), s.bytes(text), text.length, s.bytes(senderSignSk), v3, ct, sig);
			if (n < 0)
				throw new RangeError(`ementor-core: a message is at most ${SIZES.msgPlaintextMax} bytes`);
			return { ciphertext: s.read(ct, n), sig: s.read(sig, 64) };
		});
	}

	/**
	 * What a reader of a concern report checks of one quoted v3 message, without the room key:
	 * the sender's signature, then the commitment the reported fk (32 bytes), device, counter,
	 * writtenMs and plaintext make. One of MSG_STATUS: OK, BAD_SIGNATURE, BAD_COMMITMENT or
	 * MALFORMED.
	 */
	verifyFranked({ roomId, epoch, senderId, clientMsgId, ciphertext, sig, senderSignPk, fk, device, counter, writtenMs, plaintext }) {
		const text = typeof plaintext === 'string' ? encoder.encode(plaintext) : checkBytes(plaintext, 'plaintext');
		checkBytes(clientMsgId, 'clientMsgId', SIZES.msgId);
		checkBytes(ciphertext, 'ciphertext');
		checkBytes(sig, 'sig', 64);
		checkBytes(senderSignPk, 'senderSignPk', 32);
		checkBytes(fk, 'fk', 32);
		checkBytes(device, 'device', SIZES.deviceId);
		return this.with((s) => this.mod._wasm_msg_frank_verify(u64(roomId, 'roomId'), u64(epoch, 'epoch'),
			u64(senderId, 'senderId'), s.bytes(clientMsgId), s.bytes(ciphertext), ciphertext.length, s.bytes(sig),
			s.bytes(senderSignPk), s.bytes(fk), s.bytes(device), u64(counter, 'counter'), u64(writtenMs, 'writtenMs'),
			s.bytes(text), text.length));
	}

	/**
	 * Checks the sender's signature, then decrypts: { status, plaintext, device, counter,
	 * writtenMs } with status one of MSG_STATUS; the others (plaintext and device as bytes,
	 * counter and writtenMs as BigInt: what the sender signed) only when status is MSG_STATUS.OK.
	 */
	decryptMessage({ roomKey, roomId, epoch, senderId, clientMsgId, ciphertext, sig, senderSignPk }) {
		checkBytes(roomKey, 'roomKey', 32);
		checkBytes(clientMsgId, 'clientMsgId', SIZES.msgId);
		checkBytes(ciphertext, 'ciphertext');
		checkBytes(sig, 'sig', 64);
		checkBytes(senderSignPk, 'senderSignPk', 32);
		return this.with((s) => {
			const plain = s.alloc(ciphertext.length), len = s.alloc(4);
			const device = s.alloc(SIZES.deviceId), counter = s.alloc(8), written = s.alloc(8);
			const status = this.mod._wasm_msg_decrypt(s.bytes(roomKey), u64(roomId, 'roomId'), u64(epoch, 'epoch'),
				u64(senderId, 'senderId'), s.bytes(clientMsgId), s.bytes(ciphertext), ciphertext.length, s.bytes(sig),
				s.bytes(senderSignPk), device, counter, written, plain, len);
			if (status !== MSG_STATUS.OK)
				return { status };
			return { status, plaintext: s.read(plain, s.readU32(len)), device: s.read(device, SIZES.deviceId),
				counter: s.readU64(counter), writtenMs: s.readU64(written) };
		});
	}

	// The common arguments of a programme's settings.
	programmeArgs({ programmeId, creatorId, agreementRequired }) {
		return [u64(programmeId, 'programmeId'), u64(creatorId, 'creatorId'),
			checkBool(agreementRequired, 'agreementRequired') ? 1 : 0];
	}

	/**
	 * The creator's signature of a programme's settings ({ programmeId, creatorId,
	 * agreementRequired: true or false }).
	 */
	signProgramme(settings, signSk) {
		checkBytes(signSk, 'signSk', SIZES.signSk);
		const args = this.programmeArgs(settings);
		return this.with((s) => {
			const sig = s.alloc(64);
			this.mod._em_programme_sign(...args, s.bytes(signSk), sig);
			return s.read(sig, 64);
		});
	}

	/**
	 * True when sig is the creator's signature of these settings. A client believes that a
	 * programme does without agreements only when this holds with the creator's pinned key.
	 */
	verifyProgramme(settings, signPk, sig) {
		checkBytes(signPk, 'signPk', 32);
		checkBytes(sig, 'sig', 64);
		const args = this.programmeArgs(settings);
		return this.with((s) => this.mod._em_programme_verify(...args, s.bytes(signPk), s.bytes(sig)) === 0);
	}

	// The common arguments of an agreement version, in the module's memory.
	agreementArgs(s, { roomId, version, startsOn, endsOn, terms, parties }) {
		if (!Array.isArray(parties))
			throw new TypeError('ementor-core: parties must be an array of { userId, role, signPk, boxPk }');
		const signPks = new Uint8Array(parties.length * 32), boxPks = new Uint8Array(parties.length * 32);
		parties.forEach((p, i) => {
			signPks.set(checkBytes(p.signPk, `parties[${i}].signPk`, 32), i * 32);
			boxPks.set(checkBytes(p.boxPk, `parties[${i}].boxPk`, 32), i * 32);
		});
		return [u64(roomId, 'roomId'), u32(version, 'version'), s.str(startsOn, 'startsOn'), s.str(endsOn, 'endsOn'),
			s.str(terms, 'terms'), s.u64s(parties.map((p) => p.userId), 'userId'),
			s.ptrs(parties.map((p, i) => s.str(p.role, `parties[${i}].role`))), s.bytes(signPks), s.bytes(boxPks),
			parties.length];
	}

	/** The bytes every party of an agreement version signs. */
	agreementBytes(agreement) {
		return this.with((s) => {
			const len = s.alloc(4);
			const p = this.mod._wasm_agreement_bytes(...this.agreementArgs(s, agreement), len);
			if (!p)
				throw new Error('ementor-core: out of memory in the WebAssembly module');
			const n = s.readU32(len), out = s.read(p, n);
			this.mod._free(p);
			return out;
		});
	}

	/** BLAKE2b-256 of agreementBytes(): the text_hash of a signature's consent record. */
	agreementHash(agreement) {
		return this.with((s) => {
			const hash = s.alloc(32);
			if (this.mod._wasm_agreement_hash(...this.agreementArgs(s, agreement), hash) !== 0)
				throw new Error('ementor-core: out of memory in the WebAssembly module');
			return s.read(hash, 32);
		});
	}

	signAgreement(agreement, signSk) {
		checkBytes(signSk, 'signSk', SIZES.signSk);
		return this.with((s) => {
			const sig = s.alloc(64);
			if (this.mod._wasm_agreement_sign(...this.agreementArgs(s, agreement), s.bytes(signSk), sig) !== 0)
				throw new Error('ementor-core: out of memory in the WebAssembly module');
			return s.read(sig, 64);
		});
	}

	verifyAgreement(agreement, signPk, sig) {
		checkBytes(signPk, 'signPk', 32);
		checkBytes(sig, 'sig', 64);
		return this.with((s) => this.mod._wasm_agreement_verify(...this.agreementArgs(s, agreement), s.bytes(signPk), s.bytes(sig)) === 0);
	}

	// The common arguments of a consent record, in the module's memory.
	consentArgs(s, { signPk, purpose, subject, textHash, action, at }) {
		checkBytes(signPk, 'signPk', 32);
		checkBytes(textHash, 'textHash', 32);
		return [s.bytes(signPk), s.str(purpose, 'purpose'), s.str(subject, 'subject'), s.bytes(textHash),
			s.str(action, 'action'), i64(at, 'at')];
	}

	/** The bytes of a consent record ({ signPk, purpose, subject, textHash, action, at }), or null when a string is too long. */
	consentBytes(record) {
		return this.with((s) => {
			const out = s.alloc(SIZES.consentBytesMax);
			const n = this.mod._em_consent_bytes(...this.consentArgs(s, record), out);
			return n ? s.read(out, n) : null;
		});
	}

	signConsent(record, signSk) {
		checkBytes(signSk, 'signSk', SIZES.signSk);
		return this.with((s) => {
			const sig = s.alloc(64);
			if (this.mod._em_consent_sign(...this.consentArgs(s, record), s.bytes(signSk), sig) !== 0)
				throw new RangeError('ementor-core: purpose or subject longer than 64 bytes, or action longer than 8');
			return s.read(sig, 64);
		});
	}

	verifyConsent(record, sig) {
		checkBytes(sig, 'sig', 64);
		return this.with((s) => this.mod._em_consent_verify(...this.consentArgs(s, record), s.bytes(sig)) === 0);
	}

	/**
	 * A document of a local vault (the web app's IndexedDB storage) sealed
	 * under key (32 bytes, e.g. deriveAccountKeys' wrapKey over a local salt):
	 * XChaCha20-Poly1305, random nonce, bound to the document's name
	 * (wasm_api.c). Returns nonce + ciphertext + tag (40 bytes more than bytes).
	 */
	vaultSeal(key, name, bytes) {
		checkBytes(key, 'key', SIZES.key);
		checkBytes(bytes, 'bytes');
		return this.with((s) => {
			const out = s.alloc(bytes.length + VAULT_OVERHEAD);
			if (this.mod._wasm_vault_seal(s.bytes(key), s.str(name, 'name'), s.bytes(bytes), bytes.length, out) !== 0)
				throw new Error('ementor-core: out of memory in the WebAssembly module');
			return s.read(out, bytes.length + VAULT_OVERHEAD);
		});
	}

	/** The bytes vaultSeal() sealed, or null when they do not open (wrong key, another name, tampered). */
	vaultOpen(key, name, sealed) {
		checkBytes(key, 'key', SIZES.key);
		checkBytes(sealed, 'sealed');
		if (sealed.length < VAULT_OVERHEAD)
			return null;
		return this.with((s) => {
			const out = s.alloc(sealed.length - VAULT_OVERHEAD);
			if (this.mod._wasm_vault_open(s.bytes(key), s.str(name, 'name'), s.bytes(sealed), sealed.length, out) !== 0)
				return null;
			return s.read(out, sealed.length - VAULT_OVERHEAD);
		});
	}

	/** BLAKE2b-256 of a text (privacy notice, agreement terms). */
	textHash(text) {
		return this.with((s) => {
			const out = s.alloc(32);
			this.mod._em_text_hash(s.str(text, 'text'), out);
			return s.read(out, 32);
		});
	}

	/** base64url without padding, as every binary field on the wire. */
	b64Encode(bytes) {
		checkBytes(bytes, 'bytes');
		return this.with((s) => {
			const p = this.mod._em_b64_encode(s.bytes(bytes), bytes.length);
			if (!p)
				throw new Error('ementor-core: out of memory in the WebAssembly module');
			const text = cstr(this.mod, p);
			this.mod._free(p);
			return text;
		});
	}

	/** The bytes of a base64url text, or null when it is not valid or longer than maxLen bytes. */
	b64Decode(text, maxLen) {
		return this.with((s) => {
			const out = s.alloc(maxLen);
			const n = this.mod._em_b64_decode(s.str(text, 'text'), out, maxLen);
			return n < 0 ? null : s.read(out, n);
		});
	}

	/**
	 * Validates a request frame as the server does: { err, code, id, op, field, message }
	 * (err 0 and code "ok" when valid; id is -1n when none could be read).
	 */
	parseRequest(frame) {
		const bytes = typeof frame === 'string' ? encoder.encode(frame) : checkBytes(frame, 'frame');
		return this.with((s) => {
			const id = s.alloc(8), op = s.alloc(4), field = s.alloc(96), message = s.alloc(224);
			const err = this.mod._wasm_request_parse(s.bytes(bytes), bytes.length, id, op, field, 96, message, 224);
			return {
				err,
				code: this.errCode(err),
				id: s.readI64(id),
				op: cstr(this.mod, s.readU32(op)),
				field: cstr(this.mod, field),
				message: cstr(this.mod, message),
			};
		});
	}
}

/**
 * The Emscripten module itself, started (libsodium initialised, jansson's
 * hash seeded), for modules built on it (ementor-client.mjs). Options as
 * createCore's.
 */
export async function loadModule(options = {}) {
	const getRandomValue = options.getRandomValue ?? (await defaultRandomSource());
	const moduleOptions = { getRandomValue };
	if (options.wasmBinary)
		moduleOptions.wasmBinary = options.wasmBinary;
	else if (isNode()) {
		// Emscripten 3.1.6's glue cannot load the file in Node as an ES module.
		const { readFile } = await import('node:fs/promises');
		moduleOptions.wasmBinary = await readFile(new URL('./ementor-core-wasm.wasm', import.meta.url));
	}
	const mod = await createEmentorCoreWasm(moduleOptions);
	if (mod._wasm_init() !== 0)
		throw new Error('ementor-core: libsodium did not start');
	return mod;
}

/**
 * Loads the WebAssembly module and starts it (or, with options.module, a
 * module from loadModule() already started, shared with an EmentorClient). Options:
 *   wasmBinary      the .wasm bytes (default: fetched beside this file in a browser, read from
 *                   disk in Node)
 *   getRandomValue  a function returning a random 32-bit unsigned integer (default:
 *                   crypto.getRandomValues); only tests replace it
 */
export async function createCore(options = {}) {
	return new Core(options.module ?? (await loadModule(options)));
}
