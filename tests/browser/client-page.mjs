// client-page.mjs - the browser side of tests/browser/client.mjs: the client
// core compiled to WebAssembly (ementor-client.mjs) in a web page, with
// IndexedDB storage and the browser's WebSocket, against a real ementord.
//
// 1. The documents of a CLI user's home (/home.json, served by the test: a
//    stand-in for the login a web client will do) are written into IndexedDB
//    database "ementor-test", which is then closed and opened again, so that
//    the core starts from what IndexedDB holds.
// 2. EmentorClient reads the room (every message event kept) and sends the
//    reply (/job.json says which room and what text).
// 3. Every frame the page sends is checked against IndexedDB: a "send" frame
//    may leave only once the outbox.json holding its message has committed
//    (the ordering ementor-client.mjs promises); the check records the
//    outbox as each transaction completes, and reports commits late.
// The result is left in window.__clientCheck (and on the page).

import { EmentorClient, IndexedDBStorage } from '/core/ementor-client.mjs';

const violations = [];
document.addEventListener('securitypolicyviolation', (e) => violations.push(`${e.violatedDirective} ${e.blockedURI}`));

// IndexedDBStorage that remembers, per document, the text its last committed
// transaction wrote, and that reports each commit COMMIT_DELAY_MS late (a
// slow disk): the server answers within that time, so a frame that did not
// wait for pending() would leave before its outbox counts as committed.
const COMMIT_DELAY_MS = 250;
class WatchedStorage extends IndexedDBStorage {
	static async open(name) {
		const s = await IndexedDBStorage.open(name);
		Object.setPrototypeOf(s, WatchedStorage.prototype);
		s.committed = new Map();
		return s;
	}

	write(op) {
		super.write(op); // the real transaction; this.last settles when it and all before it completed
		this.outstanding++;
		this.last = this.last
			.then(() => new Promise((resolve) => setTimeout(resolve, COMMIT_DELAY_MS)))
			.finally(() => {
				this.outstanding--;
			});
		this.last.catch(() => {});
	}

	save(name, text) {
		super.save(name, text);
		this.last.then(() => this.committed.set(name, text), () => {});
	}
}

async function main() {
	const home = await (await fetch('/home.json')).json();
	const job = await (await fetch('/job.json')).json();
	indexedDB.deleteDatabase('ementor-test');
	const seed = await IndexedDBStorage.open('ementor-test');
	for (const [name, text] of Object.entries(home))
		seed.save(name, text);
	await seed.pending();
	seed.close();

	const storage = await WatchedStorage.open('ementor-test');
	const loaded = [...storage.docs.keys()].sort();
	const frames = { total: 0, sends: 0, early: [] };
	class CheckedWebSocket extends WebSocket {
		send(text) {
			frames.total++;
			const f = JSON.parse(text);
			if (f.op === 'send') {
				frames.sends++;
				const committed = storage.committed.get('outbox.json') ?? '';
				if (!committed.includes(f.args?.client_msg_id ?? '\0'))
					frames.early.push(f.args?.client_msg_id ?? '(none)');
			}
			super.send(text);
		}
	}
	const events = [];
	const client = await EmentorClient.open({
		storage,
		WebSocket: CheckedWebSocket,
		reconnect: false,
		onEvent: (ev) => events.push(ev),
	});
	const result = { loaded, user_agent: navigator.userAgent, csp_violations: violations };
	try {
		result.read = await client.command({ cmd: 'read', room: job.room, after: 0, limit: 0 });
		result.messages = events.filter((e) => e.ev === 'message');
		result.sent = await client.command({ cmd: 'send', room: job.room, text: job.reply });
	} catch (e) {
		result.error = { code: e.code, message: e.message, exit: e.exit };
	}
	await client.close();
	result.events = events.filter((e) => e.ev !== 'message').map((e) => e.ev + (e.state ? `:${e.state}` : ''));
	result.frames = frames;
	result.outbox_after = JSON.parse(storage.load('outbox.json') ?? '{}');
	storage.close();
	return result;
}

main().then((r) => {
	window.__clientCheck = r;
	document.getElementById('result').textContent = JSON.stringify(r, null, 1);
}, (e) => {
	window.__clientCheck = { error: String(e && e.stack ? e.stack : e) };
	document.getElementById('result').textContent = window.__clientCheck.error;
});
