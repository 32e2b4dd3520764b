// vault.mjs - the web app's storage: the client core's documents
// (session.json, keys.json, roomkeys.json, pins.json, ...) in IndexedDB,
// each sealed under a key derived from the user's password, so that a
// copied browser profile opens nothing without the password.
//
// One IndexedDB database per account on this browser ("ementor-vault-" +
// username), through ementor-client.mjs's IndexedDBStorage (its ordered,
// durable writes and pending(), which EmentorClient waits on before a frame
// leaves). Its documents:
//   .vault   in clear: { v: 1, username, salt, opslimit, memlimit } (the
//            Argon2id parameters of the vault key; the username names the
//            profile on the log-in screen)
//   .check   "ementor-vault-check" sealed: a wrong password is told at once
//   NAME     every document of the core, sealed (base64url)
// The vault key is deriveAccountKeys(password, salt).wrapKey: Argon2id in
// the WebAssembly core with a random salt of this browser's, so it is not
// the account's wrap key (that salt is the server's). Sealing is
// XChaCha20-Poly1305 in the core (Core.vaultSeal), bound to the document's
// name. Nothing cryptographic happens in JavaScript.
//
// While unlocked, the opened texts are kept in memory (the core asks for
// them synchronously), as IndexedDBStorage keeps its copy: JavaScript
// strings cannot be wiped. close() drops them and zeroes the key.

import { IndexedDBStorage } from './ementor-client.mjs';

const CHECK_NAME = '.check';
const HEADER_NAME = '.vault';
const CHECK_TEXT = 'ementor-vault-check';
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The IndexedDB database of username's vault. */
export function vaultName(username) {
	return `ementor-vault-${username}`;
}

/** Whether this browser holds a vault for username. */
export async function vaultExists(username) {
	if (indexedDB.databases) {
		const dbs = await indexedDB.databases();
		return dbs.some((d) => d.name === vaultName(username));
	}
	const inner = await IndexedDBStorage.open(vaultName(username));
	const found = inner.docs.has(HEADER_NAME);
	inner.close();
	return found;
}

/** Deletes username's vault from this browser (everything the core kept here). */
export function vaultDelete(username) {
	return new Promise((resolve, reject) => {
		const req = indexedDB.deleteDatabase(vaultName(username));
		req.onsuccess = () => resolve();
		req.onerror = () => reject(req.error);
		req.onblocked = () => resolve(); // deleted once the other tab closes it
	});
}

export class VaultStorage {
	/** A new vault for username under password (an old one of that name is deleted first). */
	static async create(core, username, password) {
		await vaultDelete(username);
		const salt = crypto.getRandomValues(new Uint8Array(16));
		const { opslimit, memlimit } = core.kdfDefaults;
		const { authKey, wrapKey } = core.deriveAccountKeys(password, salt, { opslimit, memlimit });
		authKey.fill(0);
		const inner = await IndexedDBStorage.open(vaultName(username));
		inner.save(HEADER_NAME, JSON.stringify({
			v: 1, username, salt: core.b64Encode(salt), opslimit: String(opslimit), memlimit: String(memlimit),
		}));
		const v = new VaultStorage(core, inner, wrapKey);
		v.seal(CHECK_NAME, CHECK_TEXT);
		await inner.pending();
		return v;
	}

	/** username's vault opened with password, or null when the password does not open it. */
	static async unlock(core, username, password) {
		const inner = await IndexedDBStorage.open(vaultName(username));
		let header;
		try {
			header = JSON.parse(inner.docs.get(HEADER_NAME) ?? 'null');
		} catch {
			header = null;
		}
		const salt = header?.v === 1 ? core.b64Decode(String(header.salt), 16) : null;
		if (!salt || salt.length !== 16) {
			inner.close();
			throw new Error('vault: this browser holds no readable vault for that name');
		}
		// the cost comes from this browser's own record, bounded like a prelogin answer
		const opslimit = BigInt(header.opslimit);
		const memlimit = BigInt(header.memlimit);
		if (opslimit < 1n || opslimit > 10n || memlimit < 8192n || memlimit > 1024n * 1024n * 1024n) {
			inner.close();
			throw new Error('vault: unreasonable key derivation parameters');
		}
		const { authKey, wrapKey } = core.deriveAccountKeys(password, salt, { opslimit, memlimit });
		authKey.fill(0);
		const v = new VaultStorage(core, inner, wrapKey);
		if (v.open(CHECK_NAME) !== CHECK_TEXT) {
			v.close();
			return null;
		}
		for (const name of inner.docs.keys()) {
			if (name.startsWith('.'))
				continue;
			const text = v.open(name);
			if (text === null) {
				v.close();
				throw new Error(`vault: the document ${name} does not open (changed outside this app?)`);
			}
			v.plain.set(name, text);
		}
		return v;
	}

	constructor(core, inner, key) {
		this.core = core;
		this.inner = inner;
		this.key = key;
		this.plain = new Map();
	}

	seal(name, text) {
		const bytes = encoder.encode(text);
		const sealed = this.core.vaultSeal(this.key, name, bytes);
		bytes.fill(0);
		this.inner.save(name, this.core.b64Encode(sealed));
	}

	open(name) {
		const stored = this.inner.docs.get(name);
		const sealed = typeof stored === 'string' ? this.core.b64Decode(stored, Math.ceil((stored.length * 3) / 4) + 3) : null;
		const bytes = sealed ? this.core.vaultOpen(this.key, name, sealed) : null;
		if (!bytes)
			return null;
		try {
			return decoder.decode(bytes);
		} catch {
			return null;
		} finally {
			bytes.fill(0);
		}
	}

	// --- the storage interface EmentorClient calls (synchronously) ---

	load(name) {
		return this.plain.has(name) ? this.plain.get(name) : null;
	}

	save(name, text) {
		this.plain.set(name, text);
		this.seal(name, text);
	}

	remove(name) {
		this.plain.delete(name);
		this.inner.remove(name);
	}

	pending() {
		return this.inner.pending();
	}

	/** Forgets the opened texts and the key; the database stays (sealed). */
	close() {
		this.key.fill(0);
		this.plain.clear();
		this.inner.close();
	}
}
