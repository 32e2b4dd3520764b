// tests/e2e/node/wasmctl.mjs - a command line around the WebAssembly client
// core (build-wasm/core/dist/ementor-client.mjs: libementor-client, the C
// code the CLI runs, compiled to WebAssembly) for tests/e2e/wasm_client.sh.
//
//   node wasmctl.mjs HOME read ROOM          every message event, one JSON line each
//   node wasmctl.mjs HOME send ROOM TEXT     the task's result as one JSON line
//   node wasmctl.mjs HOME login USERNAME     logs in (password: EMENTOR_PASSWORD,
//                                            server: EMENTOR_SERVER); HOME may be empty
//
// HOME is a directory of the CLI's documents (session.json, keys.json,
// pins.json, ...), opened with DirectoryStorage, so the core works on what
// the CLI left there and leaves its own changes for the CLI. Environment:
// EMENTOR_WASM_DIST (the dist directory), EMENTOR_CA (the server's
// certificate: the test's CA). Every event other than a message, and the
// task's error, go to stderr as JSON lines ({"error": {...}} for the error);
// the exit status is the error's "exit" (as the CLI's), 0 on success.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import path from 'node:path';
import WebSocket from 'ws';

const [home, cmd, ...args] = process.argv.slice(2);
const dist = process.env.EMENTOR_WASM_DIST;
if (!home || !cmd || !dist) {
	console.error('usage: EMENTOR_WASM_DIST=DIR node wasmctl.mjs HOME read ROOM | send ROOM TEXT');
	process.exit(2);
}
const { EmentorClient, DirectoryStorage } = await import(pathToFileURL(path.join(dist, 'ementor-client.mjs')).href);

const wsOptions = process.env.EMENTOR_CA ? { ca: readFileSync(process.env.EMENTOR_CA) } : undefined;
const client = await EmentorClient.open({
	storage: await DirectoryStorage.open(home),
	// with no session.json yet (login), the server to reach
	url: cmd === 'login' ? process.env.EMENTOR_SERVER : undefined,
	WebSocket,
	wsOptions,
	reconnect: false,
	onEvent: (ev) => {
		if (ev.ev === 'message')
			console.log(JSON.stringify(ev));
		else
			console.error(JSON.stringify(ev));
	},
});

let rc = 0;
try {
	let result;
	if (cmd === 'read') {
		await client.command({ cmd: 'flush' }); // what waits in the outbox goes first, as the CLI's read
		result = await client.command({ cmd: 'read', room: Number(args[0]), after: 0, limit: 0 });
		console.error(JSON.stringify({ result }));
	} else if (cmd === 'login') {
		result = await client.command({
			cmd: 'login', username: args[0], password: process.env.EMENTOR_PASSWORD,
			server: process.env.EMENTOR_SERVER,
		});
		console.log(JSON.stringify(result));
	} else if (cmd === 'send') {
		result = await client.command({ cmd: 'send', room: Number(args[0]), text: args[1] });
		console.log(JSON.stringify(result));
	} else {
		throw new Error(`unknown command ${cmd}`);
	}
} catch (e) {
	console.error(JSON.stringify({ error: { code: e.code, message: e.message, exit: e.exit } }));
	rc = e.exit || 1;
}
await client.close();
process.exit(rc);
