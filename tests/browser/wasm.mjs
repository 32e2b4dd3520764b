// wasm.mjs - the WebAssembly core in headless Chromium: serves
// tests/wasm/page.html, the built module (build-wasm/core/dist) and the native
// vectors under a strict Content-Security-Policy, opens the page, and fails
// unless every vector gives the native bytes, the round trip with the
// browser's random source works, and the page logged no error, no warning
// (a wrong .wasm content type shows as one) and no CSP violation.
//
// Usage: node wasm.mjs DIST_DIR VECTORS_JSON   (tests/wasm/run.sh chromium)
// Prints a summary, the Argon2id times as one JSON line ("argon2 {...}") and
// "N passed, M failed".

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { launch, serve } from './lib.mjs';

const [dist, vectors] = process.argv.slice(2);
if (!dist || !vectors) {
	console.error('usage: node wasm.mjs DIST_DIR VECTORS_JSON');
	process.exit(2);
}
const wasmTests = join(dirname(fileURLToPath(import.meta.url)), '..', 'wasm');

const server = await serve({
	'/': join(wasmTests, 'page.html'),
	'/page.mjs': join(wasmTests, 'page.mjs'),
	'/check/': wasmTests,
	'/core/': dist,
	'/vectors.json': vectors,
});
const browser = await launch();
const messages = [];
let result;
try {
	const page = await browser.newPage();
	page.on('console', (m) => {
		if (m.type() === 'error' || m.type() === 'warning')
			messages.push(`console ${m.type()}: ${m.text()}`);
	});
	page.on('pageerror', (e) => messages.push(`page error: ${e.message}`));
	await page.goto(`${server.url}/`);
	try {
		await page.waitForFunction(() => window.__wasmCheck !== undefined, null, { timeout: 120000 });
		result = await page.evaluate(() => window.__wasmCheck);
	} catch (e) {
		result = { error: `no result from the page: ${e.message}` };
	}
} finally {
	await browser.close();
	await server.close();
}

const problems = [...messages];
for (const r of server.requests.filter((q) => q.status !== 200 && q.status !== 204))
	problems.push(`the page asked for ${r.path}: ${r.status}`);
let passed = 0;
if (result.error) {
	problems.push(`the page failed: ${result.error}`);
} else {
	console.log(`${result.user_agent}; libsodium ${result.sodium}; module loaded in ${result.load_ms} ms`);
	console.log(`cases by op: ${JSON.stringify(result.byOp)}`);
	for (const f of result.failures)
		problems.push(`case ${f.index} (${f.op}): ${f.problems.join('; ')}`);
	passed = result.total - result.failures.length;
	for (const [what, ok] of Object.entries(result.round_trip)) {
		if (ok)
			passed++;
		else
			problems.push(`round trip with crypto.getRandomValues: ${what} is false`);
	}
	for (const v of result.csp_violations)
		problems.push(`Content-Security-Policy violation: ${v}`);
	const wasmRequest = server.requests.find((r) => r.path === '/core/ementor-core-wasm.wasm');
	if (!wasmRequest || wasmRequest.status !== 200)
		problems.push('the page did not load /core/ementor-core-wasm.wasm');
	console.log(`argon2 ${JSON.stringify(result.argon2)}`);
}
for (const p of problems)
	console.log(`FAIL ${p}`);
console.log(`${passed} passed, ${problems.length} failed`);
process.exit(problems.length ? 1 : 0);
