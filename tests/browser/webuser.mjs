// webuser.mjs - a mentee's meetings, notices and account in the web app
// ementord serves (web/app: meetings.mjs, notices.mjs, account.mjs), in
// Debian's Chromium driven by playwright-core, for tests/e2e/web_user.sh.
// The manager (maria) and the mentor (sam) use the C CLI; the mentee (lea)
// only the browser, in Europe/Warsaw:
//   joins from her invite link, signs the pair room's agreement;
//   proposes the initial meeting (a Warsaw time; the CLI sees it in UTC),
//   sam accepts on the CLI, her page shows it confirmed;
//   sam proposes the final on the CLI, she reschedules it with a reason,
//   sam's `ementor notices` shows the reason and the new time;
//   she declines sam's mid-term time and says she cannot come to the initial
//   meeting, with a reason: the CLI sees both;
//   she plans an online session with a topic, which sam's CLI opens and
//   verifies in `ementor meeting plan`;
//   her notices list the confirmation and the proposal, then none once read;
//   maria's announcement (CLI) shows as a notice and, verified, with its text;
//   she fills in her profile for matching (the page refuses an empty one): it is
//   sealed to maria, whose CLI opens it verified, and shown again filled in;
//   she opens a support room with maria from the rooms screen, signs its
//   agreement, reads maria's CLI message live and answers it;
//   she copies her calendar feed's URL (the clipboard) and curl fetches an
//   iCalendar with the initial meeting;
//   she exports her data: the downloaded file's JSON is hers, with the room,
//   the meetings, her consents and sam's CLI message decrypted;
//   she grants share_progress after reading its sentence (the ledger's
//   signatures verify), then withdraws her consent to the room's agreement:
//   sam's CLI shows the withdrawal;
//   she erases her account (after a refused half-confirmation) and cannot
//   log in again.
// axe-core (no serious or critical violation) and screenshots at 360 and
// 1280 px on every new screen; no console error or CSP violation.
//
// Usage: node webuser.mjs BASE_URL OUT_DIR   with the environment:
//   EMENTOR_BIN_DIR (the CLI), E2E_HOME (the CLI users' homes), LEA_INVITE,
//   WEB_PASSWORD, DAY0 (the programme's first day, UTC), and EMENTOR_SERVER /
//   EMENTOR_CA / EMENTOR_PASSWORD for the CLI.
// Prints "ok   - ..." and "FAIL - ..." lines; exit 1 when any failed.

import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { launch } from './lib.mjs';

const [base, out] = process.argv.slice(2);
const env = process.env;
const password = env.WEB_PASSWORD;
if (!base || !out || !password || !env.LEA_INVITE || !env.DAY0) {
	console.error('usage: node webuser.mjs BASE_URL OUT_DIR (see the header for the environment)');
	process.exit(2);
}
mkdirSync(out, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WAIT = { timeout: 60000 };
let failed = 0;
let passed = 0;
let page = null;
const problems = [];
const frames = [];

function ok(name) {
	passed++;
	console.log(`ok   - ${name}`);
}

function fail(name, why) {
	failed++;
	console.log(`FAIL - ${name}`);
	if (why)
		console.log(`       ${String(why).split('\n').slice(0, 8).join('\n       ')}`);
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
		const seen = await page?.evaluate(() => ({
			alerts: [...document.querySelectorAll('#main .alert')].map((a) => a.innerText).join(' / '),
			status: document.getElementById('status')?.innerText ?? '',
			events: (window.__ementorTrace ?? []).slice(-60).join(' '),
		})).catch(() => null);
		console.log(`       lea's alerts: ${String(seen?.alerts ?? '').replace(/\s+/g, ' ').slice(0, 800)}`);
		console.log(`       status: ${seen?.status ?? ''} | last events: ${seen?.events ?? ''}`);
		return false;
	}
}

// what the CLI prints on stdout and stderr, whatever its exit status
function cliOut(who, ...args) {
	const r = spawnSync(join(env.EMENTOR_BIN_DIR, 'ementor'), ['--home', join(env.E2E_HOME, who), ...args],
		{ encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000, env: { ...env, TZ: 'UTC' } });
	return `${r.stdout ?? ''}${r.stderr ?? ''}`;
}

function cli(who, ...args) {
	return execFileSync(join(env.EMENTOR_BIN_DIR, 'ementor'), ['--home', join(env.E2E_HOME, who), ...args],
		{ encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 60000, env: { ...env, TZ: 'UTC' } });
}

// YYYY-MM-DD, n days after DAY0
function day(n) {
	const d = new Date(`${env.DAY0}T00:00:00Z`);
	d.setUTCDate(d.getUTCDate() + n);
	return d.toISOString().slice(0, 10);
}

async function axe(screen) {
	// evaluated by DevTools (as a console would), which the page's CSP does not govern
	if (!(await page.evaluate(() => Boolean(window.axe))))
		await page.evaluate(`${axeSource}\n;void 0`);
	const result = await page.evaluate(async () => {
		const r = await window.axe.run(document, { resultTypes: ['violations'] });
		return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help, target: v.nodes[0]?.target }));
	});
	const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
	check(`axe-core: no serious or critical violation on the ${screen} screen`, bad.length === 0, JSON.stringify(bad));
}

async function shoot(name) {
	await page.setViewportSize({ width: 360, height: 740 });
	await page.screenshot({ path: join(out, `${name}-360.png`), fullPage: true });
	await page.setViewportSize({ width: 1280, height: 800 });
	await page.screenshot({ path: join(out, `${name}-1280.png`), fullPage: true });
	await page.setViewportSize({ width: 360, height: 740 });
}

function checkpoint(kind) {
	const list = JSON.parse(cli('sam', '--json', 'checkpoint', 'list', String(room)));
	return list.checkpoints.find((c) => c.kind === kind);
}

const meeting = (kind) => page.locator(`article.meeting[data-kind="${kind}"]`);
let room = 0;
const browser = await launch();
try {
	const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'en-GB', timezoneId: 'Europe/Warsaw', viewport: { width: 360, height: 740 }, acceptDownloads: true });
	await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
	page = await context.newPage();
	page.on('console', (m) => {
		if (m.type() === 'error' || m.type() === 'warning')
			problems.push(`console ${m.type()}: ${m.text()}`);
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
	page.on('websocket', (ws) => ws.on('framesent', (f) => frames.push(String(f.payload))));

	await step('lea joins from her invite link', async () => {
		await page.goto(`${base}/#join=${env.LEA_INVITE}`);
		await page.locator('#join-form').waitFor(WAIT);
		await page.check('#join-accept');
		await page.fill('#join-username', 'lea');
		await page.fill('#join-display', 'Lea Podopieczna');
		await page.fill('#join-password', password);
		await page.fill('#join-password2', password);
		await page.click('#join-form button[type=submit]');
		// the recovery code, shown once, then the rooms
		await page.locator('#recovery-title').waitFor(WAIT);
		await page.check('#recovery-kept');
		await page.click('#recovery-form button[type=submit]');
		await page.locator('#rooms-title').waitFor(WAIT);
	});

	const created = JSON.parse(cli('maria', '--json', 'room', 'create', '--programme', '1', '--kind', 'pair', '--member', 'sam', '--member', 'lea'));
	room = Number(created.room?.id ?? created.id);
	check('maria (CLI) makes the pair room of sam and lea', room > 0, JSON.stringify(created));
	cli('maria', 'agreement', 'sign', String(room), '--yes');
	cli('sam', 'agreement', 'sign', String(room), '--yes');
	ok('maria and sam (CLI) sign its agreement');

	await step('lea opens the room and signs its agreement', async () => {
		await page.click('#refresh');
		await page.locator(`a.room[data-room="${room}"]`).click(WAIT);
		await page.locator('#agreement-form').waitFor(WAIT);
		await page.check('#agreement-accept');
		await page.click('#agreement-form button[type=submit]');
		await page.locator('#open-meetings').waitFor(WAIT);
	});

	// a message from sam on the CLI (his client makes the room's first key), for the export
	cli('sam', 'send', String(room), 'Hello Lea, see you at the cafe');
	await step('the room\'s meetings: the three checkpoints, the initial open', async () => {
		await page.click('#open-meetings');
		await page.locator('#meetings-title').waitFor(WAIT);
		for (const kind of ['initial', 'midterm', 'final'])
			await meeting(kind).waitFor(WAIT);
		const state = await meeting('initial').locator('.mt-state').getAttribute('data-state');
		if (state !== 'open')
			throw new Error(`initial is ${state}`);
	});
	await axe('meetings');

	// the initial meeting, two days after the start, 15:00 in Warsaw (CET: 14:00 UTC)
	const initialAt = `${day(2)}T14:00:00Z`;
	await step('the page refuses a proposal with no place and a length out of range (the CLI\'s checks)', async () => {
		await meeting('initial').locator('button[data-action=propose]').click();
		const form = meeting('initial').locator('form');
		await form.waitFor(WAIT);
		await form.locator('input[type=date]').first().fill(day(2));
		await form.locator('input[type=time]').first().fill('15:00');
		await form.locator('input[type=number]').fill('601');
		await form.locator('button[type=submit]').click();
		await form.locator('.form-error .alert', { hasText: '5 to 600' }).waitFor(WAIT);
		await form.locator('input[type=number]').fill('60');
		await form.locator('button[type=submit]').click();
		await form.locator('.form-error .alert', { hasText: 'must not be empty' }).waitFor(WAIT);
	});
	await shoot('meetings-propose');
	await axe('propose form');
	await step('lea proposes the initial meeting for 15:00 her time', async () => {
		const form = meeting('initial').locator('form');
		await form.locator('input[id$=place]').fill('Cafe Central, Kraków');
		await form.locator('button[type=submit]').click();
		await page.locator('#meetings-note').waitFor(WAIT);
		await meeting('initial').locator('.mt-slot').first().waitFor(WAIT);
	});
	let cp = checkpoint('initial');
	const slot = cp?.slots?.find((s) => s.starts_at === initialAt);
	check('the CLI sees her proposal at 14:00 UTC, proposed and accepted by lea', slot && slot.proposed_by === 'lea' && slot.answers?.lea === true,
		JSON.stringify(cp?.slots));
	if (slot)
		cli('sam', 'checkpoint', 'accept', String(slot.id));
	await step('sam accepts it on the CLI; lea\'s page shows it confirmed at 15:00', async () => {
		await page.click('#meetings-refresh');
		await meeting('initial').locator('.mt-state[data-state="confirmed"]').waitFor(WAIT);
		const when = await meeting('initial').locator('.mt-confirmed').innerText();
		if (!/15:00/.test(when) || !when.includes('Cafe Central'))
			throw new Error(when);
	});

	// sam proposes the final on the CLI; lea moves it, with a reason
	const finalAt = `${day(80)}T10:00:00Z`;
	cli('sam', 'checkpoint', 'propose', String(room), 'final', '--at', `${day(80)}T10:00Z`, '--minutes', '90', '--place', 'Library');
	const reason = 'Exam week for me, sorry';
	await step('lea sees sam\'s proposal and reschedules it with a reason', async () => {
		await page.click('#meetings-refresh');
		await meeting('final').locator('.mt-slot').first().waitFor(WAIT);
		await meeting('final').locator('button[data-action=reschedule]').click();
		const form = meeting('final').locator('form');
		await form.locator('input[id$=reason]').fill(reason);
		await form.locator('input[type=date]').first().fill(day(82));
		await form.locator('input[type=time]').first().fill('16:30');
		await form.locator('input[id$=place]').fill('Library, room 2');
		await form.locator('button[type=submit]').click();
		await page.locator('#meetings-note').waitFor(WAIT);
	});
	cp = checkpoint('final');
	check('the CLI sees only her new time (16:30 Warsaw = 15:30 UTC), sam\'s withdrawn',
		cp?.slots?.length === 1 && cp.slots[0].starts_at === `${day(82)}T15:30:00Z` && !cp.slots.some((s) => s.starts_at === finalAt), JSON.stringify(cp?.slots));
	const samNotices = cli('sam', 'notices');
	check('sam\'s `ementor notices` shows her reschedule with the reason', samNotices.includes('lea rescheduled') && samNotices.includes(reason), samNotices);
	await shoot('meetings');

	cli('sam', 'checkpoint', 'propose', String(room), 'midterm', '--at', `${day(45)}T09:00Z`, '--minutes', '60', '--place', 'Office');
	await step('lea declines sam\'s mid-term time and says she cannot come to the initial meeting, with a reason', async () => {
		await page.click('#meetings-refresh');
		await meeting('midterm').locator('.mt-slot button[data-action=decline]').click(WAIT);
		await meeting('midterm').locator('.mt-slot', { hasText: 'You declined this time.' }).waitFor(WAIT);
		await meeting('initial').locator('button[data-action=absent]').click();
		const form = meeting('initial').locator('form');
		await form.locator('input[id$=reason]').fill('Sick, sorry: can we catch up online?');
		await form.locator('button[type=submit]').click();
		await meeting('initial').locator('dd', { hasText: 'Sick, sorry' }).waitFor(WAIT);
	});
	const mid = checkpoint('midterm');
	const init = checkpoint('initial');
	check('the CLI sees her decline and her absence with its reason',
		mid?.slots?.[0]?.answers?.lea === false && init?.absences?.some((a) => a.username === 'lea' && a.reason === 'Sick, sorry: can we catch up online?'),
		JSON.stringify({ mid: mid?.slots, absences: init?.absences }));

	const topic = 'Plan the CV together — zaczynamy';
	await step('she plans a further session online with a topic (sealed by the core)', async () => {
		await page.click('#mt-add');
		const form = page.locator('#mt-add-form');
		await form.waitFor(WAIT);
		await form.locator('#mt-add-mode').selectOption('online');
		await form.locator('#mt-add-date-0').fill(day(20));
		await form.locator('#mt-add-time-0').fill('18:00');
		await form.locator('#mt-add-place').fill('https://meet.example/lea-sam');
		await form.locator('#mt-add-topic').fill(topic);
		await form.locator('button[type=submit]').click();
		await page.locator('#meetings-note').waitFor(WAIT);
		await meeting('session').locator('.mt-topic', { hasText: topic }).waitFor(WAIT);
	});
	const plan = cli('sam', 'meeting', 'plan', String(room));
	check('sam\'s CLI opens and verifies her topic in the plan (online session, her time)', plan.includes(topic) && /session \(online\)/.test(plan) && plan.includes('(by lea'), plan);

	await step('the calendar link: made, copied, and curl fetches her meetings as iCalendar', async () => {
		await page.click('#calendar-make');
		await page.locator('#calendar-url').waitFor(WAIT);
		await page.click('#calendar-copy');
		await page.locator('#calendar-copied', { hasText: 'copied' }).waitFor(WAIT);
		const url = await page.evaluate(() => navigator.clipboard.readText());
		const shown = await page.locator('#calendar-url').inputValue();
		if (url !== shown || !/^https:\/\/.+\/calendar\/[A-Za-z0-9_-]+\.ics$/.test(url))
			throw new Error(`clipboard ${url} / shown ${shown}`);
		const feedUrl = new URL(url);
		const ics = execFileSync('curl', ['-sS', '--fail', '--max-time', '20', '--cacert', env.EMENTOR_CA,
			'--resolve', `${feedUrl.hostname}:${feedUrl.port || 443}:127.0.0.1`, url], { encoding: 'utf8' });
		const uid = `UID:checkpoint-${checkpoint('initial').id}@ementor`;
		const start = `DTSTART:${initialAt.replace(/[-:]/g, '')}`;
		if (!ics.startsWith('BEGIN:VCALENDAR') || !ics.includes(uid) || !ics.replace(/\r\n /g, '').includes('LOCATION:Cafe Central') || !ics.includes(start))
			throw new Error(ics.slice(0, 800));
	});
	await axe('meetings with the calendar link');

	await step('Polish: the meetings screen in Polish', async () => {
		await page.selectOption('#lang', 'pl');
		await page.locator('#meetings-title', { hasText: 'Spotkania' }).waitFor(WAIT);
		await meeting('initial').locator('h2', { hasText: 'Spotkanie początkowe' }).waitFor(WAIT);
	});
	await shoot('meetings-pl');
	await axe('meetings (Polish)');
	await page.selectOption('#lang', 'en');
	await page.locator('#meetings-title', { hasText: 'Meetings' }).waitFor(WAIT);

	await step('her notices list sam\'s confirmation and proposal; read, they are gone', async () => {
		await page.click('#meetings-home');
		await page.locator('#open-notices').click(WAIT);
		await page.locator('#notices-title').waitFor(WAIT);
		const text = await page.locator('#notices').innerText();
		if (!/Confirmed: the initial meeting/.test(text) || !/sam proposed times for the final meeting/i.test(text))
			throw new Error(text);
	});
	await shoot('notices');
	await axe('notices');
	await step('marking them read empties the list', async () => {
		await page.click('#notices-ack');
		await page.locator('#notices-none').waitFor(WAIT);
	});
	await step('maria\'s announcement to everyone: a notice, and its text opened and verified in the page', async () => {
		cli('maria', 'announce', 'send', '--programme', '1', '--to', 'all', '--yes', 'An announcement for everyone: plover-19');
		await page.click('#notices-back');
		await page.locator('#open-notices').click(WAIT);
		await page.locator('#announcements li[data-verified="true"]', { hasText: 'plover-19' }).waitFor(WAIT);
		const text = await page.locator('#notices').innerText();
		if (!/maria sent an announcement to everyone in programme 1/.test(text))
			throw new Error(text);
		await page.click('#notices-ack');
		await page.locator('#notices-none').waitFor(WAIT);
	});

	await step('she fills in her profile for matching: sealed by her page to maria, whom her device verified', async () => {
		await page.click('#notices-back');
		await page.locator('#open-profile').click(WAIT);
		await page.locator('#profile-form').waitFor(WAIT);
		await page.click('#profile-form button[type=submit]');
		await page.locator('#profile-result .alert').waitFor(WAIT); // nothing answered: refused by the page
		await page.fill('#profile-q-values', 'uczciwość, otwartość');
		await page.fill('#profile-q-needs', 'Pierwsza praca w IT: heron-52');
		await page.selectOption('#profile-q-motivation', '4');
		await page.click('#profile-form button[type=submit]');
		await page.locator('#profile-saved', { hasText: 'maria' }).waitFor(WAIT);
		await page.locator('#profile-before').waitFor(WAIT);
		if (await page.inputValue('#profile-q-values') !== 'uczciwość, otwartość')
			throw new Error(`the answers given are not shown again: ${await page.inputValue('#profile-q-values')}`);
	});
	await shoot('profile');
	await axe('profile');
	{
		const shown = cliOut('maria', 'profile', 'show', '--programme', '1');
		check('maria (CLI) opens lea\'s profile, verified, with her answers', /lea/.test(shown) &&
			shown.includes('heron-52') && shown.includes('uczciwość') && !/UNVERIFIABLE/.test(shown), shown);
	}
	await step('she opens a private room with her manager and signs its support agreement', async () => {
		await page.click('#profile-back');
		await page.locator('#open-support').click(WAIT);
		await page.locator('#agreement-form').waitFor(WAIT);
		await page.check('#agreement-accept');
		await page.click('#agreement-form button[type=submit]');
		await page.locator('#send-form').waitFor(WAIT);
	});
	const support = JSON.parse(cli('maria', '--json', 'support', 'open', '--programme', '1', 'lea'));
	const sid = Number(support.room?.id);
	if (check('maria (CLI) opens the same support room', sid > 0 && support.created === false, JSON.stringify(support))) {
		cli('maria', 'agreement', 'sign', String(sid), '--yes');
		cli('maria', 'send', String(sid), 'Maria here: how can I help? wren-33');
		await step('maria\'s message shows live in lea\'s support room', async () => {
			await page.locator('#messages li', { hasText: 'wren-33' }).first().waitFor(WAIT);
			if (await page.locator('#open-meetings').count())
				throw new Error('a support room offers Meetings, which it has none of');
		});
		await step('lea answers there; maria reads it on the CLI', async () => {
			await page.fill('#message-text', 'Thank you, about my mentor: finch-71');
			await page.click('#send-form button[type=submit]');
			await page.locator('#messages li', { hasText: 'finch-71' }).first().waitFor(WAIT);
			let seen = '';
			for (let i = 0; i < 20 && !seen.includes('finch-71'); i++) {
				seen = cliOut('maria', 'read', String(sid));
				if (!seen.includes('finch-71'))
					await page.waitForTimeout(500);
			}
			if (!seen.includes('lea: Thank you, about my mentor: finch-71'))
				throw new Error(seen);
		});
		await shoot('support');
		await axe('support room');
	}
	await step('back to the notices', async () => {
		await page.click('#back');
		await page.locator('#open-notices').click(WAIT);
		await page.locator('#notices-ack, #notices-none').first().waitFor(WAIT);
	});

	let exported = null;
	await step('she exports her data: a JSON file with her profile, room, meetings, consents and sam\'s message decrypted', async () => {
		await page.click('#notices-back');
		await page.locator('#open-account').click(WAIT);
		await page.locator('#account-title').waitFor(WAIT);
		const [download] = await Promise.all([page.waitForEvent('download', WAIT), page.click('#export')]);
		if (!/^ementor-lea-\d{4}-\d{2}-\d{2}\.json$/.test(download.suggestedFilename()))
			throw new Error(download.suggestedFilename());
		const file = join(out, 'lea-export.json');
		await download.saveAs(file);
		exported = JSON.parse(readFileSync(file, 'utf8'));
		const problemsFound = [];
		if (exported.user?.username !== 'lea')
			problemsFound.push('user');
		if (!exported.rooms?.some((r) => Number(r.room_id) === room))
			problemsFound.push('rooms');
		if (!exported.checkpoints?.some((c) => c.kind === 'initial' && c.state === 'confirmed'))
			problemsFound.push('checkpoints');
		if (!exported.consents?.some((c) => c.purpose === 'agreement' && c.subject === `room:${room}`))
			problemsFound.push('consents');
		if (!exported.messages?.some((m) => m.sender === 'sam' && m.text === 'Hello Lea, see you at the cafe'))
			problemsFound.push(`messages ${JSON.stringify(exported.messages)}`);
		if (problemsFound.length)
			throw new Error(problemsFound.join(', '));
	});
	await shoot('account');
	await axe('account');

	await step('she allows the managers to see her progress, after reading the sentence, and the ledger verifies', async () => {
		await page.locator('#consents-grant button[data-action=grant]').first().click();
		await page.locator('#consents-grant .document').waitFor(WAIT);
		await page.locator('#consents-grant button.primary').click();
		await page.locator('#consents-now li[data-purpose="share_progress"][data-subject="programme:1"][data-granted="yes"]').waitFor(WAIT);
		if (await page.locator('#consent-ledger tbody tr.bad').count())
			throw new Error('a ledger row does not verify');
	});
	await step('she withdraws her consent to the room\'s agreement (signed on her device)', async () => {
		const item = page.locator(`#consents-now li[data-purpose="agreement"][data-subject="room:${room}"]`);
		await item.locator('button[data-action=withdraw]').click();
		await page.locator('#withdraw-confirm').click();
		await page.locator('#account-note').waitFor(WAIT);
		await page.locator(`#consents-now li[data-purpose="agreement"][data-subject="room:${room}"][data-granted="no"]`).waitFor(WAIT);
		const verified = await page.locator('#consent-ledger tbody tr.bad').count();
		if (verified !== 0)
			throw new Error(`${verified} ledger rows do not verify`);
	});
	const shown = cli('sam', 'agreement', 'show', String(room));
	check('sam\'s CLI shows that lea withdrew her signature', /lea[^\n]*withdr/i.test(shown) || /withdr[^\n]*lea/i.test(shown), shown);

	await step('erasing needs the username typed and the box ticked', async () => {
		await page.click('#erase-start');
		await page.locator('#erase-form').waitFor(WAIT);
		await page.fill('#erase-name', 'lea');
		await page.click('#erase-form button[type=submit]');
		await page.locator('#erase-form .form-error .alert').waitFor(WAIT);
	});
	await shoot('erase');
	await axe('erase confirmation');
	await step('she erases her account: the login screen says so', async () => {
		await page.check('#erase-sure');
		await page.click('#erase-form button[type=submit]');
		await page.locator('#login-form').waitFor(WAIT);
		await page.locator('#main .alert', { hasText: 'erased' }).waitFor(WAIT);
	});
	await step('and she cannot log in again', async () => {
		await page.fill('#login-username', 'lea');
		await page.fill('#login-password', password);
		await page.click('#login-form button[type=submit]');
		await page.locator('#main .alert', { hasText: 'Error' }).waitFor(WAIT);
		if (await page.locator('#rooms-title').count())
			throw new Error('logged in');
	});
	check('no frame holds the password', frames.length > 5 && !frames.some((f) => f.includes(password)), `${frames.length} frames`);
	check('no console error, page error or CSP violation', problems.length === 0, problems.join('\n'));
} catch (e) {
	fail('the browser session', e?.stack ?? e);
} finally {
	await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
