// webmanager.mjs - the manager's screens of the web app (web/app/manage.mjs)
// as ementord serves them, driven in Debian's Chromium by playwright-core,
// for tests/e2e/web_manager.sh. The manager (maria) joins in the browser with
// the server's first manager invite and does everything a manager does there:
// a programme, invites whose links she copies, rooms (created, a member
// added, one removed, one renamed), her signature on the room's agreement,
// the dashboard, its CSV, the thresholds, the agreement template, a concern
// report lea made on the CLI (its quote verified, its handling recorded and
// read back by lea's CLI), an announcement (the recipients shown first;
// lea's CLI reads it verified) and a support room with lea (her CLI message
// shown live), the programme's name, its early end and
// archiving. The mentor (sam) and the mentee (lea) register on the C CLI
// from the copied links, sign and write there. Each change is read back on
// the CLI; the dashboard's figures are compared with `ementor --json audit`,
// its CSV with `ementor audit --csv`, and the dashboard must hold none of
// the words sam and lea wrote (only the message lea chose to report is
// shown to maria, on the report's screen). axe-core on every manager
// screen; screenshots at 360 px and 1280 px go to OUT_DIR.
//
// Usage: node webmanager.mjs BASE_URL OUT_DIR   with the environment:
//   EMENTOR_BIN_DIR (the CLI), E2E_HOME (homes of the CLI users),
//   MANAGER_INVITE, WEB_PASSWORD, DOWNLOADS (a directory), and
//   EMENTOR_SERVER / EMENTOR_CA / EMENTOR_PASSWORD for the CLI.
// Prints "ok   - ..." and "FAIL - ..." lines, and "secret TEXT" for each
// message text (the shell script looks for them in the server's log);
// exit 1 when any check failed.

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { launch } from './lib.mjs';

const [base, out] = process.argv.slice(2);
const env = process.env;
const password = env.WEB_PASSWORD;
if (!base || !out || !password || !env.MANAGER_INVITE || !env.DOWNLOADS) {
	console.error('usage: node webmanager.mjs BASE_URL OUT_DIR (see the header for the environment)');
	process.exit(2);
}
mkdirSync(out, { recursive: true });
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WAIT = { timeout: 60000 };
const SECRETS = ['Sam asks about the internship in Gdańsk', 'Lea answers: the interview is on Friday', 'Sam: good luck with the portfolio'];
let failed = 0;
let passed = 0;
let page = null;
const problems = [];

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
		const text = await page?.evaluate(() => `${document.getElementById('main')?.innerText ?? ''} | status: ${document.getElementById('status')?.innerText ?? ''} | events: ${(window.__ementorTrace ?? []).slice(-30).join(' ')}`).catch(() => '');
		console.log(`       maria sees: ${String(text).replace(/\s+/g, ' ').slice(0, 1500)}`);
		return false;
	}
}

function cli(who, ...args) {
	return execFileSync(join(env.EMENTOR_BIN_DIR, 'ementor'), ['--home', join(env.E2E_HOME, who), ...args],
		{ encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 120000 });
}

const axeFindings = [];
async function axe(screen) {
	if (!(await page.evaluate(() => Boolean(window.axe))))
		await page.evaluate(`${axeSource}\n;void 0`);
	const result = await page.evaluate(async () => {
		const r = await window.axe.run(document, { resultTypes: ['violations'] });
		return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help, target: v.nodes[0]?.target }));
	});
	const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
	axeFindings.push({ screen, all: result.length, bad });
	check(`axe-core: no serious or critical violation on the ${screen} screen`, bad.length === 0, JSON.stringify(bad));
}

async function shoot(name) {
	await page.setViewportSize({ width: 1280, height: 800 });
	await page.screenshot({ path: join(out, `manager-${name}-1280.png`), fullPage: true });
	await page.setViewportSize({ width: 360, height: 740 });
	await page.screenshot({ path: join(out, `manager-${name}-360.png`), fullPage: true });
	const wide = await page.evaluate(() => document.documentElement.scrollWidth);
	check(`the ${name} screen fits a 360-px-wide phone (no sideways scrolling of the page)`, wide <= 360, `scrollWidth ${wide}`);
}

async function screen(name) {
	await shoot(name);
	await axe(name);
}

async function tab(name) {
	await page.click(`#mg-tab-${name}`);
	await page.locator(`#mg-tab-${name}[aria-current="page"]`).waitFor(WAIT);
	await page.locator('#mg-body h2').first().waitFor(WAIT);
}

async function message(pattern) {
	await page.locator('#mg-msg', { hasText: pattern }).waitFor(WAIT);
}

function isoDay(offset) {
	return new Date(Date.now() + offset * 86400000).toISOString().slice(0, 10);
}

const browser = await launch();
try {
	const context = await browser.newContext({ ignoreHTTPSErrors: true, locale: 'en-GB', viewport: { width: 360, height: 740 }, acceptDownloads: true });
	await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
	page = await context.newPage();
	page.on('console', (m) => {
		if (m.type() === 'error')
			problems.push(`console ${m.type()}: ${m.text()}`);
	});
	page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));

	const programme = { name: 'Web Manager 2027', starts: isoDay(-14), ends: isoDay(180) };
	let pid = 0;
	const invites = {};
	let room = 0;
	let spare = 0;

	await step('maria joins in the browser with the first manager invite and sees "Manage programmes"', async () => {
		await page.goto(`${base}/#join=${env.MANAGER_INVITE}`);
		await page.locator('#join-form').waitFor(WAIT);
		await page.check('#join-accept');
		await page.fill('#join-username', 'maria');
		await page.fill('#join-display', 'Maria Manager');
		await page.fill('#join-password', password);
		await page.fill('#join-password2', password);
		await page.click('#join-form button[type=submit]');
		// the recovery code, shown once, then the rooms
		await page.locator('#recovery-title').waitFor(WAIT);
		await page.check('#recovery-kept');
		await page.click('#recovery-form button[type=submit]');
		await page.locator('#rooms-title').waitFor(WAIT);
		await page.locator('#manage').waitFor(WAIT);
	});
	await step('the Manage screen, without a programme yet', async () => {
		await page.click('#manage');
		await page.locator('#mg-create-form').waitFor(WAIT);
	});
	await screen('programmes-empty');

	await step('the page refuses an end before the start without asking the server', async () => {
		await page.fill('#mg-create-name', programme.name);
		await page.fill('#mg-create-starts', programme.ends);
		await page.fill('#mg-create-ends', programme.starts);
		await page.click('#mg-create-form button[type=submit]');
		await page.locator('#mg-msg .alert.error').waitFor(WAIT);
	});
	await step('maria creates a programme', async () => {
		await page.fill('#mg-create-starts', programme.starts);
		await page.fill('#mg-create-ends', programme.ends);
		await page.click('#mg-create-form button[type=submit]');
		await page.locator('#mg-programme-title', { hasText: programme.name }).waitFor(WAIT);
		await page.locator('#mg-edit-form').waitFor(WAIT);
	});
	// the CLI logs in as maria too (the same password): to read back what the browser did
	cli('maria', 'login', 'maria');
	const listed = JSON.parse(cli('maria', '--json', 'programme', 'list')).programmes ?? [];
	pid = Number(listed.find((p) => p.name === programme.name)?.id ?? 0);
	check('the CLI lists the programme the browser made, with its dates', pid > 0 &&
		listed.some((p) => p.starts_on === programme.starts && p.ends_on === programme.ends), JSON.stringify(listed));
	await screen('programme');

	await step('maria makes a mentor invite and a mentee invite and copies their links', async () => {
		await tab('invites');
		await screen('invites-empty');
		for (const role of ['mentor', 'mentee']) {
			await page.selectOption('#mg-invite-role', role);
			await page.click('#mg-invite-form button[type=submit]');
			await page.locator(`#mg-links input[data-role="${role}"]`).waitFor(WAIT);
			const input = page.locator(`#mg-links input[data-role="${role}"]`).first();
			const link = await input.inputValue();
			if (!link.startsWith(`${base}/#join=`))
				throw new Error(`the link ${link} is not ${base}/#join=CODE`);
			await page.locator(`#mg-links li:has(input[data-role="${role}"]) button.copy`).first().click();
			await message(/copied|selected/);
			const copied = await page.evaluate(() => navigator.clipboard.readText()).catch(() => null);
			if (copied !== null && copied !== link)
				throw new Error(`copied ${copied}, not ${link}`);
			invites[role] = link.slice(link.indexOf('#join=') + 6);
		}
	});
	await step('a third invite, revoked in the browser, shows as revoked', async () => {
		await page.selectOption('#mg-invite-role', 'mentee');
		await page.click('#mg-invite-form button[type=submit]');
		await page.locator('#mg-invites tbody tr').nth(2).waitFor(WAIT);
		// the newest invite (the highest number), never sam's or lea's
		const ids = await page.locator('#mg-invites button.mg-revoke').evaluateAll((els) => els.map((e) => Number(e.dataset.invite)));
		await page.click(`#mg-invites button.mg-revoke[data-invite="${Math.max(...ids)}"]`);
		await message(/revoked/);
		await page.locator('#mg-invites td', { hasText: /^revoked$/ }).waitFor(WAIT);
	});
	const cliInvites = JSON.parse(cli('maria', '--json', 'invite', 'list', '--programme', String(pid))).invites ?? [];
	check('the CLI sees the three invites: two open, one revoked', cliInvites.length === 3 &&
		cliInvites.filter((i) => i.state === 'revoked').length === 1, JSON.stringify(cliInvites));

	for (const [who, role] of [['sam', 'mentor'], ['lea', 'mentee']]) {
		try {
			cli(who, 'register', '--invite', invites[role], '--username', who, '--accept-privacy');
			ok(`${who} (${role}) registers on the CLI from the copied link's code`);
		} catch (e) {
			fail(`${who} (${role}) registers on the CLI from the copied link's code`, e.stderr ?? e);
		}
	}
	await step('the invites list shows both as registered, with their usernames', async () => {
		await tab('invites');
		await page.locator('#mg-invites tr', { hasText: 'sam' }).filter({ hasText: 'registered' }).waitFor(WAIT);
		await page.locator('#mg-invites tr', { hasText: 'lea' }).filter({ hasText: 'registered' }).waitFor(WAIT);
	});
	await screen('invites');

	await step('maria makes a pair room with sam, then adds lea', async () => {
		await tab('rooms');
		await page.selectOption('#mg-room-kind', 'pair');
		await page.fill('#mg-room-name', 'Pair A');
		await page.fill('#mg-room-members', 'sam');
		await page.click('#mg-room-form button[type=submit]');
		await page.locator('#mg-members tbody tr', { hasText: 'sam' }).waitFor(WAIT);
		room = Number((await page.locator('#mg-room-title').innerText()).match(/#(\d+)/)?.[1] ?? 0);
		await page.fill('#mg-add-user', 'lea');
		await page.click('#mg-add-form button[type=submit]');
		await message(/lea added/);
		await page.locator('#mg-members tbody tr', { hasText: 'lea' }).waitFor(WAIT);
	});
	await step('maria renames it', async () => {
		await page.fill('#mg-rename-name', 'Pair One');
		await page.click('#mg-rename-form button[type=submit]');
		await page.locator('#mg-room-title', { hasText: 'Pair One' }).waitFor(WAIT);
	});
	const shown = JSON.parse(cli('maria', '--json', 'room', 'show', String(room))).room ?? {};
	check('the CLI shows the room as made in the browser: Pair One, sam and lea', shown.name === 'Pair One' &&
		(shown.members ?? []).map((m) => m.username).sort().join(',') === 'lea,sam', JSON.stringify(shown));
	check('the room view shows no key or fingerprint (room.show passes through the core without them)',
		!/[0-9a-f]{4} [0-9a-f]{4} [0-9a-f]{4}/.test(await page.locator('#mg-members').innerText()));
	await screen('room');

	await step('a group room: sam added, then removed', async () => {
		await page.click('#mg-rooms-back');
		await page.locator('#mg-room-form').waitFor(WAIT);
		await page.selectOption('#mg-room-kind', 'group');
		await page.fill('#mg-room-name', 'Spare group');
		await page.click('#mg-room-form button[type=submit]');
		await page.locator('#mg-add-form').waitFor(WAIT);
		spare = Number((await page.locator('#mg-room-title').innerText()).match(/#(\d+)/)?.[1] ?? 0);
		await page.fill('#mg-add-user', 'sam');
		await page.click('#mg-add-form button[type=submit]');
		await page.locator('#mg-members tbody tr', { hasText: 'sam' }).waitFor(WAIT);
		await page.locator('#mg-members button.mg-remove[data-user="sam"]').click();
		await message(/sam removed/);
	});
	check('the CLI shows the group room empty', (JSON.parse(cli('maria', '--json', 'room', 'show', String(spare))).room?.members ?? []).length === 0);
	await step('the rooms list has both rooms', async () => {
		await page.click('#mg-rooms-back');
		await page.locator(`#mg-rooms button[data-room="${room}"]`).waitFor(WAIT);
		await page.locator(`#mg-rooms button[data-room="${spare}"]`).waitFor(WAIT);
	});
	await screen('rooms');

	await step('keyboard only: a section chosen with Enter takes the focus to its heading; Tab reaches the room, Enter opens it', async () => {
		await page.focus('#mg-tab-rooms');
		await page.keyboard.press('Enter');
		// the section is drawn afresh; then the focus is on its heading
		await page.waitForFunction(() => document.activeElement?.tagName === 'H2' && document.activeElement.textContent === 'Rooms' &&
			document.querySelector('#mg-rooms'), null, WAIT);
		let on = '';
		for (let i = 0; i < 40 && on !== String(room); i++) {
			await page.keyboard.press('Tab');
			on = await page.evaluate(() => document.activeElement?.dataset?.room ?? '');
		}
		if (on !== String(room))
			throw new Error('Tab never reached the room\'s button');
		await page.keyboard.press('Enter');
		await page.locator('#mg-room-title', { hasText: 'Pair One' }).waitFor(WAIT);
	});
	await step('maria reads and signs Pair One\'s agreement in the browser (the core signs)', async () => {
		await page.click('#mg-sign-start');
		await page.locator('#mg-sign-form').waitFor(WAIT);
		const terms = await page.locator('#mg-terms').innerText();
		if (terms.trim().length < 100)
			throw new Error(`terms: ${terms}`);
		await axe('agreement signature');
		await page.check('#mg-sign-accept');
		await page.click('#mg-sign-form button[type=submit]');
		await message(/signed version/);
	});
	cli('sam', 'agreement', 'sign', String(room), '--yes');
	cli('lea', 'agreement', 'sign', String(room), '--yes');
	cli('sam', 'send', String(room), SECRETS[0]);
	cli('lea', 'send', String(room), SECRETS[1]);
	cli('sam', 'send', String(room), SECRETS[2]);
	const leaRead = cli('lea', 'read', String(room));
	check('sam and lea sign on the CLI and write; lea reads sam\'s words (the agreement is in force)',
		leaRead.includes(SECRETS[0]) && leaRead.includes(SECRETS[2]), leaRead);
	for (const s of SECRETS)
		console.log(`secret ${s}`);

	const audit = JSON.parse(cli('maria', '--json', 'audit', '--programme', String(pid)));
	const auditRoom = (audit.rooms ?? []).find((r) => Number(r.room_id) === room) ?? {};
	await step('the dashboard\'s summary is the CLI audit\'s', async () => {
		await tab('dashboard');
		await page.locator('#mg-summary').waitFor(WAIT);
		const fig = async (k) => (await page.locator(`#mg-summary [data-figure="${k}"]`).innerText()).trim();
		const got = { rooms: await fig('rooms'), messages: await fig('messages') };
		const want = { rooms: String(audit.summary.rooms), messages: String(audit.summary.messages) };
		if (JSON.stringify(got) !== JSON.stringify(want) || want.messages !== '3')
			throw new Error(`page ${JSON.stringify(got)}, CLI ${JSON.stringify(want)}`);
	});
	await step('the 12-week chart: a bar per week of the CLI\'s trend, the same messages in all, and its table', async () => {
		// twelve bars, Monday to Monday, the last one this week; the CLI's listed weeks on theirs
		const bars = await page.locator('#mg-chart rect.bar').evaluateAll((els) => els.map((e) => ({ week: e.getAttribute('data-week'), messages: Number(e.getAttribute('data-messages')) })));
		const weeks = audit.summary.weeks ?? [];
		const monday = new Date(`${audit.now.slice(0, 10)}T00:00:00Z`);
		monday.setUTCDate(monday.getUTCDate() - ((monday.getUTCDay() + 6) % 7));
		const wrong = weeks.filter((w) => bars.find((b) => b.week === w.week)?.messages !== w.messages);
		const total = bars.reduce((x, b) => x + b.messages, 0);
		if (bars.length !== 12 || bars[11].week !== monday.toISOString().slice(0, 10) || wrong.length || total !== 3)
			throw new Error(`bars ${JSON.stringify(bars)}, weeks ${JSON.stringify(weeks)}`);
		if ((await page.locator('#mg-weeks tbody tr').count()) !== 12)
			throw new Error('the chart\'s table has not 12 rows');
		await page.locator('#mg-chart title').count();
	});
	await step('the rooms table and one room\'s members match the CLI audit', async () => {
		const cell = (await page.locator(`#mg-audit-rooms tr[data-room="${room}"] [data-figure="messages"]`).innerText()).trim();
		if (cell !== String(auditRoom.messages))
			throw new Error(`room messages ${cell} / ${auditRoom.messages}`);
		await page.click(`#mg-audit-rooms button[data-room="${room}"]`);
		await page.locator('#mg-room-members').waitFor(WAIT);
		for (const m of auditRoom.members ?? []) {
			const v = (await page.locator('#mg-room-members tr', { hasText: m.username }).locator('[data-figure="messages"]').innerText()).trim();
			if (v !== String(m.messages))
				throw new Error(`${m.username}: ${v} / ${m.messages}`);
		}
		await page.click('details.figures summary');
	});
	await step('nowhere on the dashboard a word sam or lea wrote', async () => {
		const text = await page.evaluate(() => document.body.innerText);
		const html = await page.content();
		const found = SECRETS.filter((s) => text.includes(s) || html.includes(s) || html.includes(s.slice(0, 12)));
		if (found.length)
			throw new Error(`found: ${found.join(' | ')}`);
	});
	await screen('dashboard');

	await step('the CSV download is the CLI\'s `audit --csv`, byte for byte', async () => {
		const [download] = await Promise.all([page.waitForEvent('download', WAIT), page.click('#mg-csv')]);
		const file = join(env.DOWNLOADS, 'audit.csv');
		mkdirSync(env.DOWNLOADS, { recursive: true });
		await download.saveAs(file);
		const got = readFileSync(file, 'utf8');
		const want = cli('maria', 'audit', '--programme', String(pid), '--csv');
		if (got !== want)
			throw new Error(`browser:\n${got}\nCLI:\n${want}`);
		if (got.split('\r\n').length !== 4 || SECRETS.some((s) => got.includes(s)))
			throw new Error(`unexpected CSV:\n${got}`);
	});
	await step('thresholds changed in the browser are the CLI\'s', async () => {
		await page.fill('#mg-th-inactive', '21');
		await page.fill('#mg-th-never', '3');
		await page.click('#mg-thresholds-form button[type=submit]');
		await message(/Saved/);
		const th = JSON.parse(cli('maria', '--json', 'audit', 'thresholds', '--programme', String(pid))).thresholds;
		if (th.inactive_days !== 21 || th.never_logged_in_days !== 3)
			throw new Error(JSON.stringify(th));
	});
	await step('the dashboard in Polish', async () => {
		await page.selectOption('#lang', 'pl');
		await page.locator('#mg-tab-dashboard', { hasText: 'Pulpit' }).waitFor(WAIT);
		await page.locator('#mg-summary').waitFor(WAIT);
	});
	await screen('dashboard-pl');
	await page.selectOption('#lang', 'en');
	await page.locator('#mg-tab-dashboard', { hasText: 'Dashboard' }).waitFor(WAIT);

	await step('the agreement template: edited in the browser, then the Polish default', async () => {
		await tab('template');
		await page.locator('#mg-template-text').waitFor(WAIT);
		const before = await page.locator('#mg-template-text').inputValue();
		await axe('agreement template');
		await shoot('template');
		await page.fill('#mg-template-text', `${before}\nA term written in the browser.`);
		await page.click('#mg-template-form button[type=submit]');
		await message(/Template saved/);
		let tpl = JSON.parse(cli('maria', '--json', 'agreement', 'template', 'show', String(pid)));
		if (!String(tpl.text).endsWith('A term written in the browser.') || tpl.lang !== null)
			throw new Error(JSON.stringify(tpl).slice(0, 300));
		await page.click('#mg-template-pl');
		await message(/default terms/);
		tpl = JSON.parse(cli('maria', '--json', 'agreement', 'template', 'show', String(pid)));
		if (tpl.lang !== 'pl')
			throw new Error(`lang ${tpl.lang}`);
	});

	// a concern report from lea (CLI) quoting sam's third message (seq 3 of the room)
	const made = JSON.parse(cli('lea', '--json', 'report', 'create', String(room), '--seq', '3', '--note', 'Lea is worried about this'));
	await step('the Reports tab lists lea\'s report; opened, sam\'s quoted message is verified on maria\'s device', async () => {
		await tab('reports');
		await page.locator(`#reports [data-open-report="${Number(made.report_id)}"]`).click(WAIT);
		await page.locator('#report-quotes .quote.verified', { hasText: SECRETS[2] }).waitFor(WAIT);
		await page.locator('#report-note-text', { hasText: 'Lea is worried about this' }).waitFor(WAIT);
		await page.locator('#report-no-actions').waitFor(WAIT);
	});
	await screen('report');
	await step('maria records "action taken" with a note in the browser', async () => {
		await page.selectOption('#report-state', 'action_taken');
		await page.fill('#report-handle-note', 'Talked to both of them');
		await page.click('#report-handle-form button[type=submit]');
		await page.locator('#report-actions .action.verified', { hasText: 'Talked to both of them' }).waitFor(WAIT);
		await page.locator('#report-state-now', { hasText: 'action taken' }).waitFor(WAIT);
	});
	const leaSees = cli('lea', 'report', 'show', String(made.report_id));
	check('lea (CLI) reads maria\'s handling, verified: the state and the note',
		/action_taken by maria: Talked to both of them/.test(leaSees) && !leaSees.includes('UNVERIFIABLE'), leaSees);
	await step('back from the report to the Reports tab', async () => {
		await page.click('#report-back');
		await page.locator('#mg-tab-reports[aria-current="page"]').waitFor(WAIT);
		await page.locator('#reports .report-state', { hasText: 'action taken' }).waitFor(WAIT);
	});

	// contact: an announcement and a support room, from the browser
	await step('maria writes an announcement to all: the page shows who it reaches, then sends it', async () => {
		await tab('contact');
		await page.fill('#mg-ann-text', 'Welcome to the programme: osprey-88');
		await page.click('#mg-ann-submit');
		await page.locator('#mg-ann-people li', { hasText: 'lea' }).waitFor(WAIT);
		await page.locator('#mg-ann-people li', { hasText: 'sam' }).waitFor(WAIT);
		await page.click('#mg-ann-submit');
		await message(/sent to \d+ people/);
	});
	await screen('contact');
	{
		const got = cli('lea', 'announce', 'list');
		check('lea (CLI) reads maria\'s announcement, verified', /verified\n\s*Welcome to the programme: osprey-88/.test(got) && !/UNVERIFIED/.test(got), got);
	}
	await step('maria opens a support room with lea in the browser and signs its agreement', async () => {
		await tab('contact');
		await page.fill('#mg-support-user', 'lea');
		await page.click('#mg-support-form button[type=submit]');
		await page.locator('#agreement-form').waitFor(WAIT);
		await page.check('#agreement-accept');
		await page.click('#agreement-form button[type=submit]');
		await page.locator('#send-form').waitFor(WAIT);
	});
	const supportRoom = JSON.parse(cli('lea', '--json', 'support', 'open', '--programme', String(pid)));
	const sid = Number(supportRoom.room?.id);
	if (check('lea (CLI) opens the same room from her side', sid > 0 && supportRoom.created === false, JSON.stringify(supportRoom))) {
		cli('lea', 'agreement', 'sign', String(sid), '--yes');
		cli('lea', 'send', String(sid), 'Lea to maria, privately: plover-5');
		await step('lea\'s message shows live in maria\'s support room', async () => {
			await page.locator('#messages li', { hasText: 'plover-5' }).first().waitFor(WAIT);
		});
	}
	await step('back to the programme', async () => {
		await page.click('#back');
		await page.locator('#manage').click(WAIT);
		await page.locator(`[data-programme="${pid}"]`).click(WAIT);
		await page.locator('#mg-programme-title').waitFor(WAIT);
	});

	await step('the programme renamed in the browser; the history shows it', async () => {
		await tab('programme');
		await page.fill('#mg-edit-name', 'Web Manager 2027 (edited)');
		await page.click('#mg-edit-form button[type=submit]');
		await page.locator('#mg-programme-title', { hasText: '(edited)' }).waitFor(WAIT);
		await page.locator('#mg-history td[data-change="name"]').waitFor(WAIT);
		const p = JSON.parse(cli('maria', '--json', 'programme', 'show', String(pid))).programme;
		if (p.name !== 'Web Manager 2027 (edited)')
			throw new Error(p.name);
	});
	await screen('programme-history');
	await step('the programme ended early in the browser (after a second confirmation)', async () => {
		await page.click('#mg-end');
		await page.click('#mg-end-yes');
		await page.locator('#mg-programme-title').waitFor(WAIT);
		await message(/ends today/);
		const p = JSON.parse(cli('maria', '--json', 'programme', 'show', String(pid))).programme;
		if (!p.ended_early_at || p.ends_on !== isoDay(0))
			throw new Error(JSON.stringify(p));
	});
	await step('the ended programme archived in the browser (after a second confirmation)', async () => {
		await page.click('#mg-archive');
		await page.click('#mg-archive-yes');
		await message(/archived/);
		const p = JSON.parse(cli('maria', '--json', 'programme', 'show', String(pid))).programme;
		if (!p.archived_at)
			throw new Error(JSON.stringify(p));
		await page.locator('#mg-history td[data-change="archived"]').waitFor(WAIT);
	});
	await step('back to the programmes list, then home to the rooms', async () => {
		await page.click('#mg-back');
		await page.locator(`#mg-programmes button[data-programme="${pid}"]`).waitFor(WAIT);
		await axe('programmes');
		await page.click('#mg-home');
		await page.locator('#rooms-title').waitFor(WAIT);
	});
	check('no console error, page error or CSP violation on the manager\'s page', problems.length === 0, problems.join('\n'));
	console.log(`axe ${JSON.stringify(axeFindings)}`);
} catch (e) {
	fail('the browser session', e?.stack ?? e);
} finally {
	await browser.close();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
