// client.mjs - the client core compiled to WebAssembly in headless Chromium
// (tests/e2e/wasm_client.sh): serves tests/browser/client.html, the built
// module (build-wasm/core/dist), the documents of a CLI user's home as
// /home.json and the job as /job.json, on PORT (the Origin ementord was told
// to allow) under a strict Content-Security-Policy that lets the page connect
// to SERVER_URL only; opens the page with the test's self-signed certificate
// accepted (a throwaway browser context), and prints the page's result as one
// JSON line ("result {...}"), then any problem (console errors, CSP
// violations, failed requests) as "FAIL ..." lines. Exit 0 when the page gave
// a result and nothing went wrong around it; the test judges the result.
//
// Usage: node client.mjs DIST_DIR HOME_DIR PORT SERVER_URL ROOM REPLY_TEXT

import { readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CSP, launch, serve } from './lib.mjs';

const [dist, home, port, serverUrl, room, reply] = process.argv.slice(2);
if (!reply) {
	console.error('usage: node client.mjs DIST_DIR HOME_DIR PORT SERVER_URL ROOM REPLY_TEXT');
	process.exit(2);
}
const here = dirname(fileURLToPath(import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'ementor-browser-client-'));
const docs = {};
for (const name of readdirSync(home).filter((n) => n.endsWith('.json')))
	docs[name] = readFileSync(join(home, name), 'utf8');
writeFileSync(join(scratch, 'home.json'), JSON.stringify(docs));
writeFileSync(join(scratch, 'job.json'), JSON.stringify({ room: Number(room), reply }));

const server = await serve({
	'/': join(here, 'client.html'),
	'/client-page.mjs': join(here, 'client-page.mjs'),
	'/home.json': join(scratch, 'home.json'),
	'/job.json': join(scratch, 'job.json'),
	'/core/': dist,
}, { port: Number(port), csp: CSP.replace("connect-src 'self'", `connect-src 'self' ${serverUrl}`) });
const browser = await launch();
const problems = [];
let result;
try {
	const context = await browser.newContext({ ignoreHTTPSErrors: true });
	const page = await context.newPage();
	page.on('console', (m) => {
		if (m.type() === 'error' || m.type() === 'warning')
			problems.push(`console ${m.type()}: ${m.text()}`);
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	await page.goto(`${server.url}/`);
	try {
		await page.waitForFunction(() => window.__clientCheck !== undefined, null, { timeout: 120000 });
		result = await page.evaluate(() => window.__clientCheck);
	} catch (e) {
		result = { error: `no result from the page: ${e.message}` };
	}
} finally {
	await browser.close();
	await server.close();
	rmSync(scratch, { recursive: true, force: true });
}
for (const r of server.requests.filter((q) => q.status !== 200 && q.status !== 204))
	problems.push(`the page asked for ${r.path}: ${r.status}`);
for (const v of result.csp_violations ?? [])
	problems.push(`Content-Security-Policy violation: ${v}`);
console.log(`result ${JSON.stringify(result)}`);
for (const p of problems)
	console.log(`FAIL ${p}`);
process.exit(problems.length || result.error ? 1 : 0);
