// check.mjs - runs the cases of tests/wasm/vectors.c (the native build's
// results on fixed inputs) through the WebAssembly core's JavaScript module
// (web/core/ementor-core.mjs) and compares every output byte for byte. Used
// by node.test.mjs under Node and by page.mjs in Chromium, so both run exactly
// the same checks.
//
// A case with "rng" ran natively with a fixed random stream: here the core's
// getRandomValue() hands out the same 32-bit values (little-endian, 4 bytes
// each) while the case runs, and the case must use up exactly that many.

const hexTable = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(bytes) {
	let s = '';
	for (const b of bytes)
		s += hexTable[b];
	return s;
}

export function fromHex(hex) {
	if (typeof hex !== 'string' || hex.length % 2 !== 0 || /[^0-9a-f]/.test(hex))
		throw new Error(`not lower-case hex: ${String(hex).slice(0, 40)}`);
	const out = new Uint8Array(hex.length / 2);
	for (let i = 0; i < out.length; i++)
		out[i] = parseInt(hex.slice(i * 2, i * 2 + 2), 16);
	return out;
}

/**
 * A random source for createCore(): the platform's own, except while a fixed
 * stream is set with begin(hex); end() returns how many of its values were
 * left unused.
 */
export function fixedRandomSource(cryptoImpl) {
	let stream = null, pos = 0;
	const one = new Uint32Array(1);
	return {
		getRandomValue() {
			if (!stream) {
				cryptoImpl.getRandomValues(one);
				return one[0] >>> 0;
			}
			if (pos + 4 > stream.length)
				throw new Error(`the case drew more than the ${stream.length / 4} random values the native build drew`);
			const v = (stream[pos] | stream[pos + 1] << 8 | stream[pos + 2] << 16 | stream[pos + 3] << 24) >>> 0;
			pos += 4;
			return v;
		},
		begin(hex) {
			stream = fromHex(hex);
			pos = 0;
		},
		end() {
			const left = stream ? (stream.length - pos) / 4 : 0;
			stream = null;
			return left;
		},
	};
}

const keysOf = (i, prefix = '') => ({
	signPk: fromHex(i[prefix + 'sign_pk']),
	signSk: fromHex(i[prefix + 'sign_sk']),
	boxPk: fromHex(i[prefix + 'box_pk']),
	boxSk: fromHex(i[prefix + 'box_sk']),
});
const keysHex = (k) => ({ sign_pk: toHex(k.signPk), sign_sk: toHex(k.signSk), box_pk: toHex(k.boxPk), box_sk: toHex(k.boxSk) });
const rc = (ok) => (ok ? 0 : -1);
const roomKeyIdOf = (i) => ({
	roomId: i.room_id,
	epoch: i.epoch,
	recipientId: i.recipient_id,
	committerId: i.committer_id,
	agreementVersion: i.agreement_version,
	recipients: i.recipients,
});
const commitOf = (i) => ({
	roomId: i.room_id,
	epoch: i.epoch,
	committerId: i.committer_id,
	agreementVersion: i.agreement_version,
	entries: i.entries.map((e) => ({ recipientId: e.recipient_id, sealed: fromHex(e.sealed) })),
});
const agreementOf = (i) => ({
	roomId: i.room_id,
	version: i.version,
	startsOn: i.starts_on,
	endsOn: i.ends_on,
	terms: i.terms,
	parties: i.parties.map((p) => ({ userId: p.user_id, role: p.role, signPk: fromHex(p.sign_pk), boxPk: fromHex(p.box_pk) })),
});
const consentOf = (i) => ({
	signPk: fromHex(i.sign_pk),
	purpose: i.purpose,
	subject: i.subject,
	textHash: fromHex(i.text_hash),
	action: i.action,
	at: i.at,
});
const programmeOf = (i) => ({
	programmeId: i.programme_id,
	creatorId: i.creator_id,
	agreementRequired: i.agreement_required,
});
const messageOf = (i) => ({
	roomKey: fromHex(i.room_key),
	roomId: i.room_id,
	epoch: i.epoch,
	senderId: i.sender_id,
	clientMsgId: fromHex(i.client_msg_id),
});

// op -> (core, in) -> out, in the shape vectors.c writes.
const ops = {
	kdf(core, i) {
		const k = core.deriveAccountKeys(i.password, fromHex(i.salt), { opslimit: i.opslimit, memlimit: i.memlimit });
		return { rc: 0, auth_key: toHex(k.authKey), wrap_key: toHex(k.wrapKey) };
	},
	keys_generate: (core) => keysHex(core.generateKeys()),
	fingerprint: (core, i) => ({ fingerprint: core.fingerprint(fromHex(i.sign_pk), fromHex(i.box_pk)) }),
	safety_number: (core, i) => ({
		safety_number: core.safetyNumber({ signPk: fromHex(i.a_sign_pk), boxPk: fromHex(i.a_box_pk) },
			{ signPk: fromHex(i.b_sign_pk), boxPk: fromHex(i.b_box_pk) }),
	}),
	keys_wrap: (core, i) => ({ backup: toHex(core.wrapKeys(keysOf(i), fromHex(i.wrap_key), i.username)) }),
	keys_unwrap(core, i) {
		const k = core.unwrapKeys(fromHex(i.wrap_key), i.username, fromHex(i.backup));
		return k ? { rc: 0, ...keysHex(k) } : { rc: -1 };
	},
	room_key_seal(core, i) {
		try {
			return {
				rc: 0,
				sealed: toHex(core.sealRoomKey({
					roomKey: fromHex(i.room_key), ...roomKeyIdOf(i), committerSignSk: fromHex(i.committer_sign_sk),
					recipientBoxPk: fromHex(i.recipient_box_pk),
				})),
			};
		} catch (e) {
			if (e instanceof RangeError)
				return { rc: -1 };
			throw e;
		}
	},
	room_key_open(core, i) {
		const r = core.openRoomKey(fromHex(i.sealed), keysOf(i));
		if (!r)
			return { rc: -1 };
		return {
			rc: 0, committer_id: r.committerId.toString(), agreement_version: r.agreementVersion,
			recipients: r.recipients.map((id) => id.toString()), room_key: toHex(r.roomKey), sig: toHex(r.sig),
		};
	},
	room_key_verify: (core, i) => ({
		rc: rc(core.verifyRoomKey({
			roomKey: fromHex(i.room_key), ...roomKeyIdOf(i), sig: fromHex(i.sig), committerSignPk: fromHex(i.committer_sign_pk),
		})),
	}),
	room_key_names: (core, i) => ({ names: core.roomKeyNames(i.recipients, i.user_id) ? 1 : 0 }),
	commit: (core, i) => ({
		bytes: toHex(core.commitBytes(commitOf(i))),
		rc: 0,
		sig: toHex(core.signCommit(commitOf(i), fromHex(i.sign_sk))),
	}),
	commit_verify: (core, i) => ({ rc: rc(core.verifyCommit(commitOf(i), fromHex(i.sign_pk), fromHex(i.sig))) }),
	msg_encrypt(core, i) {
		try {
			const m = core.encryptMessage({
				...messageOf(i), device: fromHex(i.device), counter: i.counter, writtenMs: i.written_ms,
				plaintext: fromHex(i.plaintext), senderSignSk: fromHex(i.sender_sign_sk),
			});
			return { rc: m.ciphertext.length, ciphertext: toHex(m.ciphertext), sig: toHex(m.sig) };
		} catch (e) {
			if (e instanceof RangeError)
				return { rc: -1 };
			throw e;
		}
	},
	msg_decrypt(core, i) {
		const r = core.decryptMessage({
			...messageOf(i), ciphertext: fromHex(i.ciphertext), sig: fromHex(i.sig), senderSignPk: fromHex(i.sender_sign_pk),
		});
		if (r.status !== 0)
			return { status: r.status };
		return {
			status: r.status, plaintext: toHex(r.plaintext), device: toHex(r.device), counter: r.counter.toString(),
			written_ms: r.writtenMs.toString(),
		};
	},
	programme: (core, i) => ({ sig: toHex(core.signProgramme(programmeOf(i), fromHex(i.sign_sk))) }),
	programme_verify: (core, i) => ({ rc: rc(core.verifyProgramme(programmeOf(i), fromHex(i.sign_pk), fromHex(i.sig))) }),
	agreement: (core, i) => ({
		bytes: toHex(core.agreementBytes(agreementOf(i))),
		hash_rc: 0,
		hash: toHex(core.agreementHash(agreementOf(i))),
		sign_rc: 0,
		sig: toHex(core.signAgreement(agreementOf(i), fromHex(i.sign_sk))),
	}),
	agreement_verify: (core, i) => ({ rc: rc(core.verifyAgreement(agreementOf(i), fromHex(i.sign_pk), fromHex(i.sig))) }),
	text_hash: (core, i) => ({ hash: toHex(core.textHash(i.text)) }),
	consent: (core, i) => ({
		bytes: toHex(core.consentBytes(consentOf(i))),
		sign_rc: 0,
		sig: toHex(core.signConsent(consentOf(i), fromHex(i.sign_sk))),
	}),
	consent_verify: (core, i) => ({ rc: rc(core.verifyConsent(consentOf(i), fromHex(i.sig))) }),
	b64_encode: (core, i) => ({ text: core.b64Encode(fromHex(i.bin)) }),
	b64_decode(core, i) {
		const b = core.b64Decode(i.text, i.outlen);
		return b ? { rc: b.length, bin: toHex(b) } : { rc: -1 };
	},
	request_parse(core, i) {
		const r = core.parseRequest(i.frame);
		return { err: r.err, code: r.code, id: r.id.toString(), op: r.op, field: r.field, message: r.message };
	},
};

// A value of an output as text: arrays (recipient lists) as JSON.
const asText = (v) => (Array.isArray(v) ? JSON.stringify(v) : String(v));

// Differences between two flat objects of strings, numbers and arrays of strings, as sentences.
function differences(expected, actual) {
	const out = [];
	for (const key of new Set([...Object.keys(expected), ...Object.keys(actual)])) {
		if (!(key in actual))
			out.push(`${key} missing`);
		else if (!(key in expected))
			out.push(`${key} not expected (${asText(actual[key]).slice(0, 64)})`);
		else if (typeof expected[key] !== typeof actual[key] || asText(expected[key]) !== asText(actual[key])) {
			// from the first difference on, so that a long hex value shows where it differs
			const e = asText(expected[key]), a = asText(actual[key]);
			let at = 0;
			while (at < e.length && e[at] === a[at])
				at++;
			const from = Math.max(0, at - 8);
			out.push(`${key} differs at character ${at} of ${e.length}: expected ...${e.slice(from, from + 48)}, got ...${a.slice(from, from + 48)}`);
		}
	}
	return out;
}

/**
 * Runs every case: { total, failures: [{ index, op, problems }] , byOp: { op: count } }.
 * rng is the fixedRandomSource() the core was created with.
 */
export function runCases(core, rng, vectors) {
	const failures = [], byOp = {};
	vectors.cases.forEach((c, index) => {
		byOp[c.op] = (byOp[c.op] ?? 0) + 1;
		let problems;
		try {
			const fn = ops[c.op];
			if (!fn)
				throw new Error(`no check for op ${c.op}`);
			if (c.rng !== undefined)
				rng.begin(c.rng);
			let actual, left = 0;
			try {
				actual = fn(core, c.in);
			} finally {
				if (c.rng !== undefined)
					left = rng.end();
			}
			if (left)
				throw new Error(`the case drew ${left} random values fewer than the native build`);
			problems = differences(c.out, actual);
		} catch (e) {
			problems = [`threw: ${e && e.message ? e.message : e}`];
		}
		if (problems.length)
			failures.push({ index, op: c.op, problems });
	});
	return { total: vectors.cases.length, failures, byOp };
}

/**
 * Argon2id with the client's parameters, `calls` times: the first call's wall time and the
 * later ones' median, min and max (ms); with cpu (a clock of this process's CPU time in ms, as
 * Node has), the same in CPU time, which a loaded machine disturbs less.
 */
export function timeArgon2(core, calls, now, cpu) {
	const salt = new Uint8Array(16).fill(7);
	const wall = [], used = [];
	for (let i = 0; i < calls; i++) {
		const t0 = now(), c0 = cpu ? cpu() : 0;
		core.deriveAccountKeys(`password ${i}`, salt, core.kdfDefaults);
		wall.push(now() - t0);
		used.push(cpu ? cpu() - c0 : 0);
	}
	const summary = (times, unit) => {
		const later = times.slice(1).sort((a, b) => a - b);
		return {
			[`first_${unit}`]: Math.round(times[0]),
			[`later_median_${unit}`]: later.length ? Math.round(later[Math.floor(later.length / 2)]) : null,
			[`later_min_${unit}`]: later.length ? Math.round(later[0]) : null,
			[`later_max_${unit}`]: later.length ? Math.round(later[later.length - 1]) : null,
		};
	};
	return { ...summary(wall, 'ms'), ...(cpu ? summary(used, 'cpu_ms') : {}) };
}
