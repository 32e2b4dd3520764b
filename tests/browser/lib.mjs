// lib.mjs - what every browser test here shares: a static file server on
// 127.0.0.1 with the right content types (application/wasm for streaming
// compilation) and a strict Content-Security-Policy, and headless Chromium
// from Debian's package driven by playwright-core. Playwright never
// downloads a browser here: the executable is /usr/bin/chromium (or
// $EMENTOR_CHROMIUM).

import { createServer } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { chromium } from 'playwright-core';

const TYPES = {
	'.html': 'text/html; charset=utf-8',
	'.mjs': 'text/javascript; charset=utf-8',
	'.js': 'text/javascript; charset=utf-8',
	'.json': 'application/json',
	'.wasm': 'application/wasm',
	'.css': 'text/css; charset=utf-8',
};

// The policy a page of ours must work under: same-origin scripts only, no
// inline script, no eval; WebAssembly compilation is allowed by
// 'wasm-unsafe-eval' (it does not allow JavaScript eval).
export const CSP = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; connect-src 'self'; " +
	"style-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * Serves mounts on a free port of 127.0.0.1: { '/path': '/file' } serves one
 * file at that exact path ('/' included), { '/prefix/': '/directory' } a
 * directory's files below the prefix. Returns { url, close(), requests } (requests: every path
 * asked for, with its status). options.port: that port instead of a free one;
 * options.csp: another policy than CSP (a page that connects to a server).
 */
export async function serve(mounts, options = {}) {
	const csp = options.csp ?? CSP;
	const requests = [];
	const server = createServer(async (req, res) => {
		const path = decodeURIComponent(new URL(req.url, 'http://x').pathname);
		if (path === '/favicon.ico') {
			// asked for by every page load: no icon, and no 404 in the console
			res.writeHead(204);
			res.end();
			requests.push({ path, status: 204 });
			return;
		}
		let file = mounts[path] && !(path.length > 1 && path.endsWith('/')) ? mounts[path] : null;
		for (const [prefix, target] of Object.entries(mounts)) {
			if (file || prefix.length < 2 || !prefix.endsWith('/') || !path.startsWith(prefix))
				continue;
			const rel = normalize(path.slice(prefix.length));
			if (!rel.startsWith('..') && !rel.startsWith(sep))
				file = join(target, rel);
		}
		let status = 404;
		try {
			if (file && req.method === 'GET' && (await stat(file)).isFile()) {
				const body = await readFile(file);
				status = 200;
				res.writeHead(200, {
					'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
					'Content-Security-Policy': csp,
					'X-Content-Type-Options': 'nosniff',
					'Cache-Control': 'no-store',
				});
				res.end(body);
			}
		} catch {
			status = 404;
		}
		if (status !== 200) {
			res.writeHead(status, { 'Content-Type': 'text/plain' });
			res.end('not found\n');
		}
		requests.push({ path, status });
	});
	await new Promise((resolve, reject) => {
		server.once('error', reject);
		server.listen(options.port ?? 0, '127.0.0.1', resolve);
	});
	return {
		url: `http://127.0.0.1:${server.address().port}`,
		requests,
		close: () => new Promise((resolve) => server.close(resolve)),
	};
}

/** Headless Debian Chromium, with the flags a closed network needs. */
export async function launch() {
	return chromium.launch({
		executablePath: process.env.EMENTOR_CHROMIUM || '/usr/bin/chromium',
		headless: true,
		args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
			'--disable-component-update', '--disable-sync', '--disable-quic'],
	});
}
