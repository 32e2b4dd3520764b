// webapp.mjs - the web app ementord serves (web/app), driven in Debian's
// Chromium by playwright-core, for tests/e2e/web_client.sh. A mentor (sam,
// English browser) and a mentee (lea, Polish browser) join from their invite
// links in two browser contexts; the manager (maria) and a second mentee
// (kim) use the C CLI. The manager makes a group room of the three; maria and
// kim sign its agreement on the CLI, sam and lea in the browser after reading
// it; lea logs in again (a reload: her vault in IndexedDB opened with her
// password); lea and sam chat live (a receipt, typing); kim reads both on
// the CLI and answers, and both pages show the answer live. lea reports one
// of sam's messages to the managers from the room; maria's CLI verifies the
// quote and records its handling, which lea's "My reports" shows verified.
// Then: unread counts on the rooms list, safety numbers equal to the CLI's, the language switch, axe-core on
// every screen (no serious or critical violation), no console error or CSP
// violation, no frame holding a password, no request URL holding an invite
// code. Screenshots at 360 px and 1280 px go to OUT_DIR.
//
// Usage: node webapp.mjs BASE_URL OUT_DIR   with the environment:
//   EMENTOR_BIN_DIR (the CLI), E2E_HOME (homes of the CLI users: maria, kim),
//   SAM_INVITE, LEA_INVITE, WEB_PASSWORD, E2E_DB (psql's connection string, for
//   the hostile server's key swap), and EMENTOR_SERVER / EMENTOR_CA /
//   EMENTOR_PASSWORD for the CLI.
// Prints "ok   - ..." and "FAIL - ..." lines; exit 1 when any failed.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { launch } from './lib.mjs';

const [base, out] = process.argv.slice(2);
const env = process.env;
const password = env.WEB_PASSWORD;
const invites = { sam: env.SAM_INVITE, lea: env.LEA_INVITE };
if (!base || !out || !password || !invites.sam || !invites.lea) {
	console.error('usage: node webapp.mjs BASE_URL OUT_DIR (see the header for the environment)');
	process.exit(2);
}
mkdirSync(out, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WAIT = { timeout: 90000 };
let failed = 0;
let passed = 0;

function ok(name) {
	passed++;
	console.log(`ok   - ${name}`);
}

function fail(name, why) {
	failed++;
	console.log(`FAIL - ${name}`);
	if (why)
		console.log(`       ${String(why).split('\n').slice(0, 6).join('\n       ')}`);
}

function check(name, cond, why) {
	if (cond)
		ok(name);
	else
		fail(name, why);
	return cond;
}

async function step(name, fn) {
	try {
		await fn();
		ok(name);
		return true;
	} catch (e) {
		fail(name, e?.stack ?? e);
		for (const p of Object.values(people)) {
			const text = await p.page.evaluate(() => `${document.getElementById('main')?.innerText ?? ''} | status: ${document.getElementById('status')?.innerText ?? ''} | events: ${(window.__ementorTrace ?? []).join(' ')}`).catch(() => '');
			console.log(`       ${p.name} sees: ${text.replace(/\s+/g, ' ').slice(0, 1200)}`);
		}
		return false;
	}
}

function psql(query) {
	return execFileSync('psql', ['--no-psqlrc', '-qtA', env.E2E_DB, '-c', query], { encoding: 'utf8', timeout: 30000 });
}

// what the CLI says on stderr (its warnings), whatever its exit status
function cliErr(who, ...args) {
	const r = spawnSync(join(env.EMENTOR_BIN_DIR, 'ementor'), ['--home', join(env.E2E_HOME, who), ...args],
		{ encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });
	return `${r.stderr ?? ''}`;
}

// what the CLI prints on stdout and stderr, whatever its exit status
function cliOut(who, ...args) {
	const r = spawnSync(join(env.EMENTOR_BIN_DIR, 'ementor'), ['--home', join(env.E2E_HOME, who), ...args],
		{ encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });
	return `${r.stdout ?? ''}${r.stderr ?? ''}`;
}

function cli(who, ...args) {
	return execFileSync(join(env.EMENTOR_BIN_DIR, 'ementor'), ['--home', join(env.E2E_HOME, who), ...args],
		{ encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });
}

const browser = await launch();
const people = {};
const axeFindings = [];
const recoveryCodes = {};

async function person(name, locale) {
	const context = await browser.newContext({ ignoreHTTPSErrors: true, locale, viewport: { width: 360, height: 740 } });
	const page = await context.newPage();
	const p = { name, context, page, problems: [], frames: [], urls: [] };
	page.on('console', (m) => {
		if (m.type() === 'error' || m.type() === 'warning')
			p.problems.push(`console ${m.type()}: ${m.text()}`);
	});
	page.on('pageerror', (e) => p.problems.push(`page error: ${e.message}`));
	page.on('request', (r) => p.urls.push(r.url()));
	page.on('websocket', (ws) => {
		ws.on('framesent', (f) => p.frames.push(String(f.payload)));
		ws.on('socketerror', (e) => p.problems.push(`websocket error: ${e}`));
	});
	people[name] = p;
	return p;
}

// axe-core in the page (evaluated by the test, not served: the CSP stays as it is)
async function axe(p, screen) {
	// evaluated by DevTools (as a console would), which the page's CSP does not govern
	if (!(await p.page.evaluate(() => Boolean(window.axe))))
		await p.page.evaluate(`${axeSource}\n;void 0`);
	const result = await p.page.evaluate(async () => {
		const r = await window.axe.run(document, { resultTypes: ['violations'] });
		return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help }));
	});
	const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
	axeFindings.push({ screen, all: result.length, bad });
	check(`axe-core: no serious or critical violation on the ${screen} screen`, bad.length === 0, JSON.stringify(bad));
}

async function shoot(p, name) {
	await p.page.setViewportSize({ width: 360, height: 740 });
	await p.page.screenshot({ path: join(out, `${name}-360.png`), fullPage: true });
	await p.page.setViewportSize({ width: 1280, height: 800 });
	await p.page.screenshot({ path: join(out, `${name}-1280.png`), fullPage: true });
	await p.page.setViewportSize({ width: 360, height: 740 });
}

async function messageShown(p, text) {
	await p.page.locator('#messages li', { hasText: text }).first().waitFor(WAIT);
}

async function joinAs(p, who, display) {
	const { page } = p;
	await page.goto(`${base}/#join=${invites[who]}`);
	await page.locator('#join-form').waitFor(WAIT);
	check(`${who}: the invite code left the address bar at once`, !page.url().includes(invites[who]), page.url());
	check(`${who}: the privacy notice is shown before anything is asked`,
		(await page.locator('#privacy-text').innerText()).trim().length > 50);
	if (who === 'sam') {
		await shoot(p, 'join');
		await axe(p, 'join');
	}
	// joining without accepting the notice is refused in the page
	await page.fill('#join-username', who);
	await page.fill('#join-display', display);
	await page.fill('#join-password', password);
	await page.fill('#join-password2', password);
	await page.click('#join-form button[type=submit]');
	await page.locator('#join-error .alert').waitFor(WAIT);
	await page.check('#join-accept');
	await page.fill('#join-password', password);
	await page.fill('#join-password2', password);
	await page.click('#join-form button[type=submit]');
	// the recovery code, once: it must be kept before going on
	await page.locator('#recovery-title').waitFor(WAIT);
	const code = (await page.locator('#recovery-code').innerText()).trim();
	check(`${who}: a recovery code is shown once, after joining`, /^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/.test(code), code);
	recoveryCodes[who] = code;
	if (who === 'sam') {
		await shoot(p, 'recovery');
		await axe(p, 'recovery code');
	}
	await page.click('#recovery-form button[type=submit]');
	await page.locator('#recovery-error .alert').waitFor(WAIT);
	await page.check('#recovery-kept');
	await page.click('#recovery-form button[type=submit]');
	await page.locator('#rooms-title').waitFor(WAIT);
	check(`${who}: the password fields are empty again`, (await page.locator('#join-password').count()) === 0);
}

async function signIn(p, room) {
	const { page } = p;
	await page.locator(`a.room[data-room="${room}"]`).click();
	await page.locator('#agreement-form').waitFor(WAIT);
	const terms = await page.locator('#agreement-terms').innerText();
	check(`${p.name}: the agreement's terms are shown before signing`, terms.trim().length > 20, terms);
	check(`${p.name}: with every party and fingerprint`,
		(await page.locator('.parties li').count()) === 4, await page.locator('.parties').innerText());
	if (p.name === 'sam') {
		await shoot(p, 'agreement');
		await axe(p, 'agreement');
	}
	await page.check('#agreement-accept');
	await page.click('#agreement-form button[type=submit]');
	await page.locator('#send-form').waitFor(WAIT);
}

async function send(p, text) {
	await p.page.fill('#message-text', text);
	await p.page.click('#send-form button[type=submit]');
	await messageShown(p, text);
}

try {
	const sam = await person('sam', 'en-GB');
	const lea = await person('lea', 'pl-PL');

	await step('sam (English browser) joins from his invite link', () => joinAs(sam, 'sam', 'Sam Mentor'));
	await step('lea (Polish browser) joins from her invite link', () => joinAs(lea, 'lea', 'Lea Podopieczna'));
	check('lea\'s page is in Polish (from the browser\'s language)',
		(await lea.page.locator('#rooms-title').innerText()) === 'Twoje pokoje' &&
		(await lea.page.evaluate(() => document.documentElement.lang)) === 'pl',
		await lea.page.locator('#rooms-title').innerText());
	await axe(sam, 'rooms (empty)');

	// the manager makes a group room of sam, lea and kim; maria and kim sign on the CLI
	const created = JSON.parse(cli('maria', '--json', 'room', 'create', '--programme', '1', '--kind', 'group',
		'--name', 'Group A', '--member', 'sam', '--member', 'lea', '--member', 'kim'));
	const room = Number(created.room?.id ?? created.id);
	check('maria (CLI) makes the group room of sam, lea and kim', room > 0, JSON.stringify(created));
	cli('maria', 'agreement', 'sign', String(room), '--yes');
	cli('kim', 'agreement', 'sign', String(room), '--yes');
	ok('maria and kim (CLI) sign its agreement');

	await step('sam sees the room (Refresh) and signs the agreement after reading it', async () => {
		await sam.page.click('#refresh');
		await sam.page.locator(`a.room[data-room="${room}"]`).waitFor(WAIT);
		await signIn(sam, room);
	});
	await step('sam\'s room says it waits for lea\'s signature', async () => {
		await sam.page.locator('#agreement-waiting', { hasText: 'lea' }).waitFor(WAIT);
	});
	await step('lea sees the room and signs the agreement after reading it', async () => {
		await lea.page.click('#refresh');
		await lea.page.locator(`a.room[data-room="${room}"]`).waitFor(WAIT);
		await signIn(lea, room);
	});
	await step('sam\'s open room drops the waiting line once lea has signed', async () => {
		await sam.page.locator('#agreement-waiting').waitFor({ ...WAIT, state: 'detached' });
	});
	check('a wrong password was refused on lea\'s device without reaching the server',
		!lea.frames.some((f) => f.includes('not her password')));

	// the CLI member writes first: his client commits the room's first key epoch
	cli('kim', 'send', String(room), 'Kim opens the room');
	await step('kim\'s first message (CLI) shows live in both browsers', async () => {
		await messageShown(sam, 'Kim opens the room');
		await messageShown(lea, 'Kim opens the room');
	});
	await step('lea writes; sam sees it live', async () => {
		await send(lea, 'Cześć Sam, tu Lea z Chromium');
		await messageShown(sam, 'Cześć Sam, tu Lea z Chromium');
	});
	await step('lea sees that sam read it (a receipt)', async () => {
		await lea.page.locator('#messages .read-by', { hasText: 'sam' }).first().waitFor(WAIT);
	});
	await step('sam types; lea sees that he is typing', async () => {
		await sam.page.fill('#message-text', 'Hello Lea');
		await lea.page.locator('#typing', { hasText: 'sam' }).waitFor(WAIT);
	});
	await step('sam answers; lea sees it live', async () => {
		await send(sam, 'Hello Lea, Sam here in Chromium');
		await messageShown(lea, 'Hello Lea, Sam here in Chromium');
	});
	const kimRead = cli('kim', 'read', String(room));
	check('kim (CLI) reads both browser messages, decrypted and verified',
		kimRead.includes('lea: Cześć Sam, tu Lea z Chromium') && kimRead.includes('sam: Hello Lea, Sam here in Chromium'), kimRead);
	cli('kim', 'send', String(room), 'Hi both, Kim on the CLI');
	await step('kim\'s answer from the CLI shows live in both browsers', async () => {
		await messageShown(sam, 'Hi both, Kim on the CLI');
		await messageShown(lea, 'Hi both, Kim on the CLI');
	});
	await shoot(sam, 'conversation');
	await axe(sam, 'conversation');

	// a concern report from the room: lea quotes sam's message to the managers (maria, CLI)
	await step('lea reports sam\'s message to the managers: picked in the room, with a note', async () => {
		await lea.page.click('#report-open');
		await lea.page.locator('#report-form').waitFor(WAIT);
		await lea.page.locator('#report-messages li', { hasText: 'Hello Lea, Sam here in Chromium' }).locator('input').check();
		await lea.page.click('#report-form button[type=submit]');
		await lea.page.locator('#report-result .alert').waitFor(WAIT); // no note: refused by the page
		await lea.page.fill('#report-note', 'Martwi mnie ta wiadomość');
		await lea.page.click('#report-form button[type=submit]');
		await lea.page.locator('#report-sent', { hasText: 'maria' }).waitFor(WAIT);
	});
	await axe(lea, 'report sent');
	const listed = JSON.parse(cli('maria', '--json', 'report', 'list')).reports ?? [];
	const report = listed.find((r) => r.reporter === 'lea');
	if (check('maria (CLI) lists lea\'s report', Boolean(report), JSON.stringify(listed))) {
		const shown = cliOut('maria', 'report', 'show', String(report.report_id));
		check('maria (CLI) verifies the quote: exactly what sam signed, and lea\'s note',
			shown.includes('sam') && shown.includes('verified: Hello Lea, Sam here in Chromium') &&
			shown.includes('Martwi mnie ta wiadomość') && !shown.includes('UNVERIFIABLE'), shown);
		check('the server holds the report sealed: its note is not in the database in clear',
			psql("SELECT count(*) FROM reports WHERE position(convert_to('Martwi mnie', 'UTF8') in blob) > 0").trim() === '0');
		cli('maria', 'report', 'handle', String(report.report_id), '--state', 'acknowledged', '--note', 'Porozmawiam z Samem');
		await step('lea\'s "My reports" shows maria\'s handling, verified, and the quote checked on her device', async () => {
			await lea.page.click('#report-mine');
			await lea.page.locator('#reports').waitFor(WAIT);
			await lea.page.click(`[data-open-report="${Number(report.report_id)}"]`);
			await lea.page.locator('#report-actions .action.verified', { hasText: 'Porozmawiam z Samem' }).waitFor(WAIT);
			await lea.page.locator('#report-quotes .quote.verified', { hasText: 'Hello Lea, Sam here in Chromium' }).waitFor(WAIT);
			await lea.page.locator('#report-state-now', { hasText: 'przyjęte' }).waitFor(WAIT);
		});
		await shoot(lea, 'report');
		await axe(lea, 'report');
		// a hostile server marks the report closed: no manager signed that
		psql(`UPDATE report_actions SET state = 'closed' WHERE report_id = ${Number(report.report_id)}`);
		await step('the server changes the handling to "closed": lea\'s page shows the step UNVERIFIABLE, without its note', async () => {
			await lea.page.click('#report-back');
			await lea.page.click(`[data-open-report="${Number(report.report_id)}"]`);
			await lea.page.locator('#report-actions .action.unverifiable').waitFor(WAIT);
			const text = await lea.page.locator('#report-actions').innerText();
			if (text.includes('Porozmawiam z Samem'))
				throw new Error(`the altered step's note is shown: ${text}`);
			const state = await lea.page.locator('#report-state-now').innerText();
			if (state.includes('zamknięte'))
				throw new Error(`the server's state is shown as the report's: ${state}`);
		});
		psql(`UPDATE report_actions SET state = 'acknowledged' WHERE report_id = ${Number(report.report_id)}`);
	}
	await step('lea goes back from her reports to the room', async () => {
		await lea.page.click('#report-back');
		await lea.page.click('#reports-back');
		await lea.page.locator(`a.room[data-room="${room}"]`).click(WAIT);
		await lea.page.locator('#send-form').waitFor(WAIT);
	});

	await step('sam\'s safety numbers are the CLI\'s', async () => {
		await sam.page.click('#safety');
		await sam.page.locator('.safety li', { hasText: 'kim' }).waitFor(WAIT);
		const shown = await sam.page.locator('.safety li', { hasText: 'kim' }).locator('code').innerText();
		const kims = JSON.parse(cli('kim', '--json', 'verify', 'sam'));
		if (shown.trim() !== String(kims.safety_number).trim())
			throw new Error(`browser ${shown} / CLI ${kims.safety_number}`);
	});
	await shoot(sam, 'safety');
	await axe(sam, 'safety numbers');

	await step('the rooms list counts what sam has not read and shows the last activity', async () => {
		await sam.page.click('#back');
		await sam.page.locator('#rooms-title').waitFor(WAIT);
		cli('kim', 'send', String(room), 'one more from Kim');
		await sam.page.click('#refresh');
		await sam.page.locator(`a.room[data-room="${room}"] .badge`, { hasText: '1 unread' }).waitFor(WAIT);
		const meta = await sam.page.locator(`a.room[data-room="${room}"]`).innerText();
		if (!/Last activity/.test(meta))
			throw new Error(meta);
	});
	await shoot(sam, 'rooms');
	await axe(sam, 'rooms');

	await step('lea switches her page to English', async () => {
		await lea.page.selectOption('#lang', 'en');
		await lea.page.locator('#send-form label', { hasText: 'Your message' }).waitFor(WAIT);
		await lea.page.selectOption('#lang', 'pl');
		await lea.page.locator('#send-form label', { hasText: 'Twoja wiadomość' }).waitFor(WAIT);
	});
	await shoot(lea, 'conversation-pl');

	await step('lea logs in again after a reload: her vault opened with her password, the room as she left it', async () => {
		await lea.page.goto(`${base}/`);
		await lea.page.locator('#login-form').waitFor(WAIT);
		await axe(lea, 'login');
		await lea.page.fill('#login-username', 'lea');
		await lea.page.fill('#login-password', 'not her password');
		await lea.page.click('#login-form button[type=submit]');
		await lea.page.locator('#main .alert').waitFor(WAIT);
		await lea.page.fill('#login-username', 'lea');
		await lea.page.fill('#login-password', password);
		await lea.page.click('#login-form button[type=submit]');
		await lea.page.locator(`a.room[data-room="${room}"]`).click(WAIT);
		await lea.page.locator('#send-form').waitFor(WAIT);
		await messageShown(lea, 'one more from Kim');
	});
	// a hostile server swaps kim's keys (what a server could do to read what sam writes next)
	const kimKeys = psql("SELECT encode(sign_pk, 'hex') || ' ' || encode(box_pk, 'hex') FROM users WHERE username = 'kim'").trim().split(' ');
	psql("UPDATE users SET sign_pk = decode(md5('a' || random()) || md5('b' || random()), 'hex'), box_pk = decode(md5('c' || random()) || md5('d' || random()), 'hex') WHERE username = 'kim'");
	await step('the server swaps kim\'s keys: sam\'s page warns, and does not send', async () => {
		await sam.page.locator(`a.room[data-room="${room}"]`).click(WAIT);
		await sam.page.locator('#send-form').waitFor(WAIT);
		await sam.page.click('#safety');
		await sam.page.locator('.safety li', { hasText: 'kim' }).locator('.alert', { hasText: 'changed' }).waitFor(WAIT);
		await sam.page.fill('#message-text', 'Not for a swapped key');
		await sam.page.click('#send-form button[type=submit]');
		await sam.page.locator('#status', { hasText: 'kim' }).waitFor(WAIT);
	});
	await shoot(sam, 'keys-changed');
	check('nothing sam wrote under the swapped keys reached the server',
		psql("SELECT count(*) FROM messages m JOIN users u ON u.id = m.sender_id WHERE u.username = 'sam'").trim() === '1');
	// put back (the message waits in sam's outbox; it is not what this test follows)
	psql(`UPDATE users SET sign_pk = '\\x${kimKeys[0]}', box_pk = '\\x${kimKeys[1]}' WHERE username = 'kim'`);

	// lea forgot her password and lost her recovery code: the manager's reset, from its link
	const newPassword = `${password} renewed`;
	await step('a reset from the manager\'s link: lea sets a new password and gets a new identity and recovery code', async () => {
		const issued = JSON.parse(cli('maria', '--json', 'reset-code', '--programme', '1', 'lea'));
		await lea.page.goto('about:blank'); // as from an e-mail: a fresh load of the link
		await lea.page.goto(`${base}/#reset=${issued.code}`);
		await lea.page.locator('#reset-form').waitFor(WAIT);
		if (lea.page.url().includes(issued.code))
			throw new Error(`the reset code stayed in the address bar: ${lea.page.url()}`);
		await axe(lea, 'reset');
		await lea.page.fill('#reset-username', 'lea');
		await lea.page.fill('#reset-password', newPassword);
		await lea.page.fill('#reset-password2', newPassword);
		await lea.page.click('#reset-form button[type=submit]');
		await lea.page.locator('#recovery-title').waitFor(WAIT);
		const code = (await lea.page.locator('#recovery-code').innerText()).trim();
		if (!/^[0-9A-Z]{4}(-[0-9A-Z]{4}){7}$/.test(code) || code === recoveryCodes.lea)
			throw new Error(`recovery code ${code} (before: ${recoveryCodes.lea})`);
		await lea.page.check('#recovery-kept');
		await lea.page.click('#recovery-form button[type=submit]');
		await lea.page.locator(`a.room[data-room="${room}"]`).waitFor(WAIT);
	});
	{
		const said = cliErr('kim', 'read', String(room));
		check('kim (CLI) is warned that lea\'s keys changed', /keys .*changed|changed .*keys/i.test(said) && /lea/.test(said), said);
	}

	const digest = await sam.page.locator('#web-digest').getAttribute('data-digest');
	console.log(`web_sha256 ${digest}`);
	for (const p of [sam, lea]) {
		check(`${p.name}: frames were seen (${p.frames.length})`, p.frames.length > 5);
		check(`${p.name}: no frame holds the password`, !p.frames.some((f) => f.includes(password)));
		check(`${p.name}: no frame holds the new password`, !p.frames.some((f) => f.includes(newPassword)));
		check(`${p.name}: no request URL holds an invite code`,
			!p.urls.some((u) => u.includes(invites.sam) || u.includes(invites.lea)), p.urls.filter((u) => u.includes('join')).join(' '));
		check(`${p.name}: every request went to the server's own origin`,
			p.urls.every((u) => u.startsWith(`${base}/`)), p.urls.filter((u) => !u.startsWith(`${base}/`)).join(' '));
		check(`${p.name}: no console error, page error or CSP violation`, p.problems.length === 0, p.problems.join('\n'));
	}
	console.log(`axe ${JSON.stringify(axeFindings)}`);
} catch (e) {
	fail('the browser session', e?.stack ?? e);
} finally {
	await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
