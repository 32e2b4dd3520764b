// ementor-client.mjs - the ementor client core (libementor-client, core/ in C,
// compiled to WebAssembly) with what a JavaScript host gives it: a WebSocket,
// timers and storage. The same C code as the CLI's makes every security
// decision (which keys to trust, whom to seal a room key to, how to open and
// check a message, the outbox); this file only moves frames, time and
// documents. docs/CLIENT-CORE.md documents the API.
//
//   import { EmentorClient, MemoryStorage } from './ementor-client.mjs';
//   const client = await EmentorClient.open({
//     storage: await DirectoryStorage.open(home),  // or IndexedDBStorage / MemoryStorage
//     onEvent: (ev) => console.log(ev),            // messages, warnings, session, link
//   });
//   await client.command({ cmd: 'send', room: 12, text: 'hello' });
//   await client.close();
//
// Order of frames and storage writes. The core writes a document (the outbox,
// the pins, a cursor) before it emits the frame that relies on it: a message
// is in the outbox before it goes out, a pin before a key is used. A storage
// backend whose writes finish later than save() returns (IndexedDB) exposes
// pending(): null when every write has committed, else a promise settled when
// every write made so far has. After each call into the core, this file takes
// all of the core's output and, when pending() gives a promise, holds that
// output (frames and events alike, in order) until the promise resolves; a
// write that fails stops all output and closes the link (event
// {"ev":"storage","state":"failed"}), so no frame ever leaves ahead of the
// write it follows.
//
// Thread: all of it runs on the JavaScript event loop of the page, worker or
// Node process that opened it.

import { loadModule } from './ementor-core.mjs';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8');
const SUBPROTOCOL = 'ementor.v1';
const EMC_FRAME = 1;
const EMC_EVENT = 2;
const TICK_MAX_MS = 1000; // emc.h: emc_tick at least every second
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 30000;
const WS_OPEN = 1;

function nowMs() {
	return BigInt(Date.now());
}

/** The error a command's promise rejects with: the task's error object's fields. */
export class EmentorError extends Error {
	constructor(error) {
		super(error?.message || error?.code || 'the command failed');
		this.name = 'EmentorError';
		Object.assign(this, error);
	}
}

/**
 * Documents in memory only (lost when the page or process ends): tests, or a
 * session that must leave nothing behind. docs: { "session.json": text, ... }.
 */
export class MemoryStorage {
	constructor(docs = {}) {
		this.docs = new Map(Object.entries(docs));
	}

	load(name) {
		return this.docs.has(name) ? this.docs.get(name) : null;
	}

	save(name, text) {
		this.docs.set(name, text);
	}

	remove(name) {
		this.docs.delete(name);
	}

	pending() {
		return null;
	}
}

/**
 * A directory of documents, one file each, as the CLI's home directory holds
 * them (session.json, keys.json, pins.json, ...), for Node. Every *.json file
 * is read when it opens; save() writes a temporary file (mode 0600), syncs it
 * and renames it over the document before it returns, so writes are
 * committed at once (pending() is always null). Do not open a directory a
 * running CLI is using: the CLI locks its home, this does not.
 */
export class DirectoryStorage {
	static async open(dir) {
		const fs = await import('node:fs');
		const path = await import('node:path');
		const s = new DirectoryStorage(fs, path, dir);
		fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
		for (const name of fs.readdirSync(dir)) {
			if (name.endsWith('.json') && fs.statSync(path.join(dir, name)).isFile())
				s.docs.set(name, fs.readFileSync(path.join(dir, name), 'utf8'));
		}
		return s;
	}

	constructor(fs, path, dir) {
		this.fs = fs;
		this.path = path;
		this.dir = dir;
		this.docs = new Map();
	}

	file(name) {
		if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name))
			throw new Error(`ementor-client: bad document name ${JSON.stringify(name)}`);
		return this.path.join(this.dir, name);
	}

	load(name) {
		return this.docs.has(name) ? this.docs.get(name) : null;
	}

	save(name, text) {
		const file = this.file(name);
		const tmp = `${file}.tmp-${process.pid}`;
		const fd = this.fs.openSync(tmp, 'w', 0o600);
		try {
			this.fs.writeFileSync(fd, text);
			this.fs.fsyncSync(fd);
		} finally {
			this.fs.closeSync(fd);
		}
		this.fs.renameSync(tmp, file);
		this.docs.set(name, text);
	}

	remove(name) {
		this.fs.rmSync(this.file(name), { force: true });
		this.docs.delete(name);
	}

	pending() {
		return null;
	}
}

/**
 * IndexedDB, for browsers: one object store "docs" of database `name`
 * (default "ementor"), keyed by document name. Every document is read into
 * memory when it opens; save() and remove() change the memory copy at once
 * and start a readwrite transaction with durability "strict" (committed to
 * disk before it completes, where the browser supports the hint). IndexedDB
 * runs readwrite transactions on one store in the order they were created,
 * and pending() returns a promise for the last one, chained to the ones
 * before it: it resolves when every write made so far has committed, and
 * rejects when one failed. EmentorClient holds the core's frames until then.
 */
export class IndexedDBStorage {
	static open(name = 'ementor', indexedDB = globalThis.indexedDB) {
		return new Promise((resolve, reject) => {
			const req = indexedDB.open(name, 1);
			req.onupgradeneeded = () => req.result.createObjectStore('docs');
			req.onerror = () => reject(req.error);
			req.onsuccess = () => {
				const db = req.result;
				const s = new IndexedDBStorage(db);
				const tx = db.transaction('docs', 'readonly');
				const store = tx.objectStore('docs');
				const cursor = store.openCursor();
				cursor.onsuccess = () => {
					const c = cursor.result;
					if (!c)
						return;
					s.docs.set(c.key, c.value);
					c.continue();
				};
				tx.oncomplete = () => resolve(s);
				tx.onerror = () => reject(tx.error);
			};
		});
	}

	constructor(db) {
		this.db = db;
		this.docs = new Map();
		this.outstanding = 0;
		this.last = null; // settles when every write made so far has
	}

	write(op) {
		const tx = this.db.transaction('docs', 'readwrite', { durability: 'strict' });
		op(tx.objectStore('docs'));
		const done = new Promise((resolve, reject) => {
			tx.oncomplete = () => resolve();
			tx.onerror = () => reject(tx.error ?? new Error('IndexedDB write failed'));
			tx.onabort = () => reject(tx.error ?? new Error('IndexedDB write aborted'));
		});
		this.outstanding++;
		const before = this.last;
		this.last = (before ? Promise.all([before, done]) : done).finally(() => {
			this.outstanding--;
		});
		this.last.catch(() => {}); // observed by pending()'s callers
	}

	load(name) {
		return this.docs.has(name) ? this.docs.get(name) : null;
	}

	save(name, text) {
		this.docs.set(name, text);
		this.write((store) => store.put(text, name));
	}

	remove(name) {
		this.docs.delete(name);
		this.write((store) => store.delete(name));
	}

	pending() {
		return this.outstanding > 0 ? this.last : null;
	}

	close() {
		this.db.close();
	}
}

/**
 * One client core, its WebSocket and its timers. Create with
 * EmentorClient.open(options); options:
 *   storage     MemoryStorage, DirectoryStorage, IndexedDBStorage or an object with
 *               load/save/remove (and pending) (required)
 *   url         the server's wss:// URL (default: "server" of session.json)
 *   WebSocket   the WebSocket class (default: globalThis.WebSocket; in Node pass the
 *               `ws` package's)
 *   wsOptions   a third constructor argument for `ws` (e.g. { ca } for a private CA)
 *   onEvent     called with every event that is not a command's end (an object)
 *   connect     false: start offline (link down) until connect(); otherwise open()
 *               resolves once the first connection attempt has opened the link or failed
 *   reconnect   false: do not reconnect after the link drops (default true)
 *   insecurePlaintextDev  true: allow a ws:// URL (development only; the session token
 *               and login keys would cross the network in clear), as the CLI's
 *               --insecure-plaintext-dev
 *   module      an Emscripten module from loadModule() to share (default: a new one)
 */
export class EmentorClient {
	static async open(options) {
		const mod = options.module ?? (await loadModule(options));
		const client = new EmentorClient(mod, options);
		if (options.connect !== false) {
			// as the CLI: connect first, so that commands started now go out on the link
			const first = client.attempt();
			try {
				client.connect();
			} catch (e) {
				await client.close(); // its timer would keep running for nobody
				throw e;
			}
			await first;
		}
		return client;
	}

	constructor(mod, options) {
		if (!options?.storage)
			throw new TypeError('ementor-client: options.storage is required');
		this.mod = mod;
		this.storage = options.storage;
		this.onEvent = options.onEvent ?? (() => {});
		this.WebSocket = options.WebSocket ?? globalThis.WebSocket;
		this.wsOptions = options.wsOptions;
		this.reconnect = options.reconnect !== false;
		this.insecurePlaintextDev = options.insecurePlaintextDev === true;
		this.url = options.url ?? EmentorClient.serverOf(this.storage);
		this.tasks = new Map(); // task id (number) -> { resolve, reject }
		this.queue = []; // batches of output waiting for storage writes
		this.delivering = false;
		this.failed = null;
		this.ws = null;
		this.up = false;
		this.linkGen = 0; // counts links up and down: a frame goes out only on its own link
		this.closed = false;
		this.timer = null;
		this.retryTimer = null;
		this.retryMs = RECONNECT_MIN_MS;
		this.waiters = []; // resolve(up) of attempt() and linked() callers
		this.cell = mod._malloc(8);
		if (!mod.emcStorages)
			mod.emcStorages = [];
		this.handle = mod.emcStorages.length;
		mod.emcStorages.push(this.storage);
		mod.emcStorageError = null;
		this.core = mod._wasm_client_new(this.handle, nowMs());
		if (!this.core) {
			mod._free(this.cell);
			mod.emcStorages[this.handle] = null;
			const why = mod.emcStorageError;
			throw new Error(`ementor-client: the client core could not open its storage${why ? `: ${why.message}` : ''}`);
		}
		this.flush();
	}

	static serverOf(storage) {
		try {
			return JSON.parse(storage.load('session.json') ?? '{}').server ?? null;
		} catch {
			return null;
		}
	}

	// --- calls into the core (each followed by flush) ---------------------

	/** str (a string) as NUL-terminated UTF-8 in the module's memory, to fn(ptr, len); wiped after. */
	withString(str, fn) {
		const bytes = encoder.encode(str);
		const p = this.mod._malloc(bytes.length + 1);
		if (!p)
			throw new Error('ementor-client: out of memory');
		try {
			this.mod.HEAPU8.set(bytes, p);
			this.mod.HEAPU8[p + bytes.length] = 0;
			return fn(p, bytes.length);
		} finally {
			this.mod.HEAPU8.fill(0, p, p + bytes.length + 1);
			bytes.fill(0);
			this.mod._free(p);
		}
	}

	/**
	 * Starts a command ({ cmd: 'send', room, text }, { cmd: 'read', room, after, limit },
	 * { cmd: 'call', op, ... }; docs/CLIENT-CORE.md). Resolves with the task's result
	 * object, rejects with an EmentorError (code, message, exit, ...).
	 */
	command(obj) {
		if (this.closed)
			return Promise.reject(new Error('ementor-client: closed'));
		if (this.failed)
			return Promise.reject(this.storageError());
		const id = this.withString(JSON.stringify(obj), (p) => this.mod._emc_command(this.core, p, nowMs()));
		if (id < 0n)
			return Promise.reject(new Error(`ementor-client: the core refused the command (errno ${-id})`));
		const task = Number(id);
		const promise = new Promise((resolve, reject) => this.tasks.set(task, { resolve, reject }));
		promise.task = task;
		this.flush();
		return promise;
	}

	/** Cancels a command by its promise (or task id): it rejects with "cancelled". */
	cancel(promiseOrTask) {
		const task = typeof promiseOrTask === 'object' ? promiseOrTask.task : promiseOrTask;
		if (this.closed || !task)
			return;
		this.mod._emc_cancel(this.core, BigInt(task), nowMs());
		this.flush();
	}

	tick() {
		this.timer = null;
		if (this.closed)
			return;
		this.mod._emc_tick(this.core, nowMs());
		this.flush();
	}

	/** Takes all of the core's output, then delivers it once storage has committed. */
	flush() {
		const mod = this.mod;
		const out = [];
		let kind;
		while ((kind = mod._wasm_client_next(this.core, this.cell)) !== 0) {
			const p = mod.HEAPU32[this.cell >> 2];
			const len = mod.HEAPU32[(this.cell >> 2) + 1];
			out.push({ kind, text: decoder.decode(mod.HEAPU8.subarray(p, p + len)) });
			mod.HEAPU8.fill(0, p, p + len);
			mod._emc_text_free(p);
		}
		this.schedule();
		if (out.length === 0)
			return;
		this.queue.push({ barrier: this.storage.pending ? this.storage.pending() : null, out, link: this.linkGen });
		this.deliver();
	}

	async deliver() {
		if (this.delivering || this.failed)
			return;
		this.delivering = true;
		try {
			while (this.queue.length > 0 && !this.failed) {
				const batch = this.queue[0];
				if (batch.barrier) {
					try {
						await batch.barrier;
					} catch (e) {
						this.storageFailed(e);
						return;
					}
					batch.barrier = null;
				}
				this.queue.shift();
				for (const o of batch.out)
					this.output(o, batch.link);
			}
		} finally {
			this.delivering = false;
		}
	}

	output({ kind, text }, link) {
		if (kind === EMC_FRAME) {
			// A frame goes out only on the link it was made for: if that link dropped
			// while the frame waited for storage, the core knows (emc_link 0) and
			// makes what the next link needs itself (resume first); an old request
			// sent ahead of that would reach the server before the session is resumed.
			if (link === this.linkGen && this.ws && this.up && this.ws.readyState === WS_OPEN)
				this.ws.send(text);
			return;
		}
		if (kind !== EMC_EVENT)
			return;
		const ev = JSON.parse(text);
		if (ev.ev === 'task' && this.tasks.has(ev.task)) {
			const { resolve, reject } = this.tasks.get(ev.task);
			this.tasks.delete(ev.task);
			if (ev.ok)
				resolve(ev.result ?? {});
			else
				reject(new EmentorError(ev.error));
			return;
		}
		this.emit(ev);
	}

	emit(ev) {
		try {
			this.onEvent(ev);
		} catch (e) {
			// the host's callback threw: reported, never allowed to break the core's loop
			queueMicrotask(() => {
				throw e;
			});
		}
	}

	storageError() {
		return new Error(`ementor-client: a storage write failed: ${this.failed?.message ?? this.failed}`);
	}

	/* A write failed: nothing more leaves (the output after it may rely on it); commands end. */
	storageFailed(e) {
		this.failed = e ?? new Error('unknown');
		this.queue = [];
		this.emit({ ev: 'storage', state: 'failed', message: String(e?.message ?? e) });
		for (const { reject } of this.tasks.values())
			reject(this.storageError());
		this.tasks.clear();
		this.reconnect = false;
		if (this.ws)
			this.ws.close();
	}

	schedule() {
		if (this.closed)
			return;
		const wake = this.mod._emc_wake_in(this.core, nowMs());
		let ms = TICK_MAX_MS;
		if (wake >= 0n && wake < BigInt(TICK_MAX_MS))
			ms = Math.max(1, Number(wake));
		if (this.timer)
			clearTimeout(this.timer);
		this.timer = setTimeout(() => this.tick(), ms);
	}

	// --- the link ---------------------------------------------------------

	/** Resolves with true when the next (or current) connection attempt opens the link, false when it fails. */
	attempt() {
		return new Promise((resolve) => this.waiters.push(resolve));
	}

	/**
	 * Resolves when the link is up (at once if it is). A command started while
	 * the link is down does not wait for it: the core fails it at once with exit
	 * 4 ("unreachable"; a send's message stays in the outbox for the next flush).
	 */
	async linked() {
		while (!this.up) {
			if (this.closed || this.failed)
				throw new Error('ementor-client: closed');
			if (!this.ws && !this.retryTimer)
				this.connect();
			await this.attempt();
		}
	}

	settle(up) {
		const waiters = this.waiters;
		this.waiters = [];
		for (const resolve of waiters)
			resolve(up);
	}

	/** Opens the WebSocket (after open() with connect: false, or to reconnect now). */
	connect() {
		if (this.closed || this.ws || this.failed)
			return;
		if (!this.url)
			throw new Error('ementor-client: no server URL (options.url, or "server" in session.json)');
		if (!/^wss:\/\//i.test(this.url) && !this.insecurePlaintextDev)
			throw new Error(`ementor-client: refusing the plaintext server URL '${this.url}' (wss:// only)`);
		if (!this.WebSocket)
			throw new Error('ementor-client: no WebSocket class (pass the `ws` package as options.WebSocket in Node)');
		if (this.retryTimer) {
			clearTimeout(this.retryTimer);
			this.retryTimer = null;
		}
		const ws = this.wsOptions
			? new this.WebSocket(this.url, SUBPROTOCOL, this.wsOptions)
			: new this.WebSocket(this.url, SUBPROTOCOL);
		this.ws = ws;
		ws.onopen = () => {
			if (this.ws !== ws)
				return;
			if (ws.protocol && ws.protocol !== SUBPROTOCOL) {
				ws.close();
				return;
			}
			this.up = true;
			this.linkGen++;
			this.retryMs = RECONNECT_MIN_MS;
			this.emit({ ev: 'link', state: 'up' });
			this.mod._emc_link(this.core, 1, nowMs());
			this.flush();
			this.settle(true);
		};
		ws.onmessage = (e) => {
			if (this.ws !== ws || this.closed)
				return;
			const text = typeof e.data === 'string' ? e.data : decoder.decode(e.data);
			const rc = this.withString(text, (p, len) => this.mod._emc_receive(this.core, p, len, nowMs()));
			this.flush();
			if (rc < 0) {
				// not a frame of ementor.v1: said to the host, then the link is made afresh
				this.emit({ ev: 'protocol', code: 'bad_frame', length: text.length });
				ws.close(1000);
			}
		};
		ws.onerror = () => {}; // onclose follows
		ws.onclose = (e) => {
			if (this.ws !== ws)
				return;
			this.ws = null;
			const wasUp = this.up;
			this.up = false;
			this.linkGen++;
			if (!this.closed) {
				this.mod._emc_link(this.core, 0, nowMs());
				this.emit({ ev: 'link', state: 'down', code: e?.code ?? 0, was_up: wasUp });
				this.flush();
			}
			this.settle(false);
			if (this.reconnect && !this.closed && !this.failed) {
				this.retryTimer = setTimeout(() => {
					this.retryTimer = null;
					this.connect();
				}, this.retryMs);
				this.retryMs = Math.min(this.retryMs * 2, RECONNECT_MAX_MS);
			}
		};
	}

	/** Closes the link (the core keeps its state; connect() opens it again). */
	disconnect() {
		this.reconnect = false;
		if (this.ws)
			this.ws.close(1000);
	}

	/**
	 * Closes everything: the socket, the timers, the core (which saves what is
	 * pending and wipes its secrets). Resolves when storage has committed.
	 * Commands still running reject with "closed".
	 */
	async close() {
		if (this.closed)
			return;
		this.reconnect = false;
		const ws = this.ws;
		if (ws) {
			this.ws = null;
			this.up = false;
			this.linkGen++;
			this.mod._emc_link(this.core, 0, nowMs());
			this.flush();
			ws.close(1000);
		}
		await this.drained();
		this.closed = true;
		clearTimeout(this.timer);
		clearTimeout(this.retryTimer);
		this.timer = this.retryTimer = null;
		this.mod._emc_free(this.core);
		this.core = 0;
		this.mod._free(this.cell);
		this.mod.emcStorages[this.handle] = null;
		for (const { reject } of this.tasks.values())
			reject(new Error('ementor-client: closed'));
		this.tasks.clear();
		this.settle(false);
		const p = this.storage.pending ? this.storage.pending() : null;
		try {
			if (p)
				await p;
		} catch (e) {
			if (!this.failed)
				throw e; // a write of the core's last save failed (one before was reported already)
		}
	}

	/** Resolves when every output taken from the core so far has been delivered. */
	async drained() {
		while ((this.queue.length > 0 || this.delivering) && !this.failed)
			await new Promise((r) => setTimeout(r, 5));
	}
}
