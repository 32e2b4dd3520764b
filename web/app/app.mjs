// app.mjs - the ementor web app: join from an invite link, log in, the rooms
// with unread counts, a room's live conversation, its agreement and the
// safety numbers. Plain ES modules and the DOM; no framework.
//
// Every key derivation, signature, seal and check is the client core's (the
// C code the CLI runs, compiled to WebAssembly: ementor-client.mjs); this
// file only shows what the core gives and passes on what the user types.
// The server is not trusted: whatever it says reaches the page through the
// core's checks (messages opened and verified, agreements checked against
// pinned keys) or, for plain listings (room.list), is shown as text only,
// never as markup, and decides nothing about keys or content.
//
// The invite code comes from the URL's fragment (#join=CODE), which browsers
// never send to the server; the app takes it out of the address bar at once.
// Storage: vault.mjs (the core's documents sealed in IndexedDB under a key
// derived from the password). One tab per account (a Web Lock).
//
// Thread: the page's event loop. Argon2id runs inside the core's calls on
// it (about a second per derivation; the page shows that it is working).

import { EmentorClient, MemoryStorage } from './ementor-client.mjs';
import { createCore, loadModule } from './ementor-core.mjs';
import { LANGUAGES, initialLanguage, language, setLanguage, t } from './i18n.mjs';
import { alertBox, app, errorText, field, h, paint, show, status, when } from './ui.mjs';
import { VaultStorage, vaultDelete, vaultExists } from './vault.mjs';
import { manageButton } from './manage.mjs';
import { renderAccount } from './account.mjs';
import { renderMeetings } from './meetings.mjs';
import { renderNotices } from './notices.mjs';
import { renderReports, reportButton } from './reports.mjs';
import { profileButton } from './profile.mjs';

const SERVER_URL = `wss://${location.host}/`;
const TYPING_EVERY_MS = 3000;
const SESSION_WAIT_MS = 15000;
const INVITE_KEY = 'ementor.invite';
const MANAGER_KEY = 'ementor.invite.manager'; // the inviting manager's key fingerprint (&m=)
const RESET_KEY = 'ementor.reset';

const state = {
	mod: null, // the WebAssembly module, shared by the core and the client
	core: null,
	client: null,
	storage: null,
	username: null,
	releaseLock: null,
	render: null, // redraws the current view (after a language change)
	roomId: 0,
	room: null,
	messages: new Map(), // seq -> message event of the open room
	live: null, // the open room's live task
	collect: null, // message events of a background read go here
	typingSent: 0,
	readBy: new Map(), // username -> the last seq they read, in the open room
	parties: [],
	sessionWaiters: [],
};
app.state = state;
app.home = () => renderRooms();
app.openRoom = (id) => openRoom(id);
app.leaveRoom = () => leaveRoom();
app.end = (message) => endSession(message);

// --- the header: language, who is logged in -------------------------------

function renderHeader() {
	const bar = document.getElementById('bar');
	const select = h('select', {
		id: 'lang',
		onchange: (e) => {
			setLanguage(e.target.value, true);
			renderHeader();
			state.render?.();
		},
	}, Object.entries(LANGUAGES).map(([code, name]) => {
		const o = h('option', { value: code, text: name });
		o.selected = code === language();
		return o;
	}));
	const who = state.username
		? [h('span', { class: 'who', text: t('signed_in_as', { name: state.username }) }),
			h('button', { type: 'button', id: 'logout', onclick: logout, text: t('log_out') })]
		: [];
	bar.replaceChildren(
		h('span', { class: 'brand' }, h('strong', { text: t('app_name') }), ' ', h('span', { class: 'tagline', text: t('tagline') })),
		h('span', { class: 'tools' }, h('label', { for: 'lang', class: 'sr-only', text: t('language') }), select, ...who));
	document.title = t('app_name');
}

async function renderVersion() {
	const foot = document.getElementById('version');
	try {
		const v = await (await fetch('/app/version.json', { cache: 'no-cache' })).json();
		const digest = String(v.web_sha256 ?? '');
		foot.replaceChildren(
			h('span', { text: t('version', { version: String(v.version ?? '?'), digest: digest.slice(0, 16) }), title: digest, id: 'web-digest', 'data-digest': digest }),
			h('span', { class: 'hint', text: ` ${t('version_check')}` }));
	} catch {
		foot.textContent = '';
	}
}

// --- the core -------------------------------------------------------------

async function module() {
	if (!state.mod) {
		state.mod = await loadModule();
		state.core = await createCore({ module: state.mod });
	}
	return state.mod;
}

// The kinds of the last events (no content), for a test's report when a screen hangs.
const trace = [];
window.__ementorTrace = trace;

function onEvent(ev) {
	trace.push(`${ev.ev}${ev.state ? `:${ev.state}` : ''}${ev.code ? `:${ev.code}` : ''}`);
	if (trace.length > 80)
		trace.shift();
	switch (ev.ev) {
	case 'message':
		if (state.collect)
			state.collect.push(ev);
		else if (ev.room_id === state.roomId)
			addMessage(ev);
		break;
	case 'typing':
		if (ev.room_id === state.roomId && ev.username !== state.username)
			showTyping(ev.username);
		break;
	case 'receipt':
		if (ev.room_id === state.roomId && ev.username !== state.username)
			showReceipt(ev.username, ev.seq);
		break;
	case 'room':
		if (ev.room_id === state.roomId && ev.change === 'agreement')
			refreshWaiting(ev.room_id);
		break;
	case 'warning':
		showWarning(ev);
		break;
	case 'session':
		for (const w of state.sessionWaiters.splice(0))
			w(ev);
		if (ev.state === 'refused' && state.username && !state.loggingIn)
			endSession(t('error', { message: ev.message ?? ev.code }));
		break;
	case 'link': {
		const el = document.getElementById('link');
		if (el)
			el.textContent = ev.state === 'up' ? t('link_up') : t('link_down');
		break;
	}
	case 'storage':
		status(errorText(ev.message));
		break;
	default:
		break;
	}
}

function waitSession(ms) {
	return new Promise((resolve) => {
		const timer = setTimeout(() => resolve({ state: 'timeout' }), ms);
		state.sessionWaiters.push((ev) => {
			clearTimeout(timer);
			resolve(ev);
		});
	});
}

// One tab per account: the core's storage takes no lock of its own.
function takeLock(username) {
	if (!navigator.locks)
		return Promise.resolve(true);
	return new Promise((resolve) => {
		navigator.locks.request(`ementor:${username}`, { ifAvailable: true }, (lock) => {
			if (!lock) {
				resolve(false);
				return undefined;
			}
			resolve(true);
			return new Promise((release) => {
				state.releaseLock = release;
			});
		});
	});
}

// The browser's WebSocket, noting the operation of every frame in the trace (never its content).
class TracedWebSocket extends WebSocket {
	constructor(...args) {
		super(...args);
		this.addEventListener('message', (e) => {
			const m = /"(ev|op)":"([a-z._]+)"/.exec(String(e.data).slice(0, 200));
			const err = /"code":"([a-z_]+)"/.exec(String(e.data).slice(0, 400));
			trace.push(`<<${m ? m[2] : 're'}${err && String(e.data).includes('"error"') ? `!${err[1]}` : ''}`);
		});
	}

	send(data) {
		const m = /"op":"([a-z._]+)"/.exec(String(data).slice(0, 200));
		trace.push(`>>${m ? m[1] : '?'}`);
		super.send(data);
	}
}

async function openClient(storage) {
	const client = await EmentorClient.open({ storage, module: state.mod, url: SERVER_URL, connect: false, onEvent, WebSocket: TracedWebSocket });
	const command = client.command.bind(client);
	client.command = (obj) => {
		const p = command(obj);
		trace.push(`>${obj.cmd}`);
		p.then(() => trace.push(`<${obj.cmd}`), (e) => trace.push(`!${obj.cmd}:${e?.code ?? ''}`));
		return p;
	};
	return client;
}

async function closeClient() {
	const { client, storage } = state;
	state.client = null;
	state.storage = null;
	try {
		await client?.close();
	} catch {
		// a last write failed: nothing more to do here
	}
	storage?.close();
	state.releaseLock?.();
	state.releaseLock = null;
}

async function endSession(message) {
	await closeClient();
	state.username = null;
	state.roomId = 0;
	renderHeader();
	renderLogin(message);
}

async function logout() {
	await leaveRoom();
	try {
		await state.client?.command({ cmd: 'logout' });
	} catch {
		// offline: the token is deleted here anyway (the core removes session.json first)
	}
	await endSession(null);
}

// --- log in ----------------------------------------------------------------

function renderLogin(message = null, offerForget = null) {
	state.render = () => renderLogin(message, offerForget);
	const form = h('form', { id: 'login-form', novalidate: true },
		field('login-username', t('username'), { autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' }),
		field('login-password', t('password'), { type: 'password', autocomplete: 'current-password', required: true }),
		h('button', { type: 'submit', class: 'primary', text: t('log_in') }));
	form.addEventListener('submit', (e) => {
		e.preventDefault();
		login(form);
	});
	const forget = offerForget
		? h('button', {
			type: 'button', class: 'link', text: t('forget_device'),
			onclick: async () => {
				await vaultDelete(offerForget);
				renderLogin(null);
			},
		})
		: null;
	show(h('section', { class: 'card', 'aria-labelledby': 'login-title' },
		h('h1', { id: 'login-title', text: t('login_title') }),
		message ? alertBox(message) : null, forget, form));
}

async function login(form) {
	const username = form.querySelector('#login-username').value.trim().toLowerCase();
	const pwInput = form.querySelector('#login-password');
	let password = pwInput.value;
	pwInput.value = '';
	if (!username || !password)
		return;
	const button = form.querySelector('button[type=submit]');
	button.disabled = true;
	status(t('working_keys'));
	await paint();
	let created = false;
	state.loggingIn = true;
	try {
		await module();
		if (!(await takeLock(username))) {
			renderLogin(t('other_tab'));
			return;
		}
		let storage;
		if (await vaultExists(username)) {
			storage = await VaultStorage.unlock(state.core, username, password);
			if (!storage) {
				state.releaseLock?.();
				renderLogin(t('wrong_password'), username);
				return;
			}
		} else {
			storage = await VaultStorage.create(state.core, username, password);
			created = true;
		}
		state.storage = storage;
		state.client = await openClient(storage);
		let resumed = false;
		if (storage.load('session.json')) {
			const waiting = waitSession(SESSION_WAIT_MS);
			state.client.connect();
			resumed = (await waiting).state === 'ready';
		}
		if (!resumed) {
			status(t('logging_in'));
			await paint();
			state.client.connect();
			await state.client.linked();
			await state.client.command({ cmd: 'login', username, password, server: SERVER_URL });
		}
		password = null;
		state.username = username;
		status('');
		renderHeader();
		await renderRooms();
	} catch (e) {
		password = null;
		await closeClient();
		if (created)
			await vaultDelete(username); // nothing of a failed first login stays on this device
		status('');
		renderLogin(errorText(e));
	} finally {
		state.loggingIn = false;
		button.disabled = false;
	}
}

// --- join from an invite link ---------------------------------------------

async function renderJoin(invite) {
	state.render = () => renderJoin(invite);
	show(h('section', { class: 'card' }, h('h1', { text: t('join_title') }), h('p', { text: t('loading') })));
	let notice;
	try {
		await module();
		// the notice before any account exists: a throwaway core over memory
		const temp = await EmentorClient.open({ storage: new MemoryStorage(), module: state.mod, url: SERVER_URL, reconnect: false, onEvent: () => {} });
		try {
			notice = await temp.command({ cmd: 'privacy', lang: language() });
		} finally {
			await temp.close();
		}
	} catch (e) {
		show(h('section', { class: 'card' }, h('h1', { text: t('join_title') }), alertBox(errorText(e))));
		return;
	}
	const form = h('form', { id: 'join-form', novalidate: true },
		h('div', { class: 'field check' },
			h('input', { type: 'checkbox', id: 'join-accept', required: true }),
			h('label', { for: 'join-accept', text: t('privacy_accept') })),
		field('join-username', t('username'), { autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false', maxlength: 32 }),
		field('join-display', t('display_name'), { autocomplete: 'name', maxlength: 64 }),
		field('join-password', t('password'), { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 }, t('password_hint')),
		field('join-password2', t('password_again'), { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 }),
		h('div', { id: 'join-error' }),
		h('button', { type: 'submit', class: 'primary', text: t('join') }));
	form.addEventListener('submit', (e) => {
		e.preventDefault();
		join(form, invite, notice);
	});
	show(h('section', { class: 'card', 'aria-labelledby': 'join-title' },
		h('h1', { id: 'join-title', text: t('join_title') }),
		h('p', { text: t('join_intro') }),
		h('h2', { id: 'privacy-title', text: t('privacy_title') }),
		h('p', { class: 'hint', text: t('privacy_version', { version: notice.version }) }),
		h('div', { class: 'document', id: 'privacy-text', tabindex: '0', role: 'document', 'aria-labelledby': 'privacy-title', text: notice.text }),
		form));
}

async function join(form, invite, notice) {
	const err = form.querySelector('#join-error');
	const username = form.querySelector('#join-username').value.trim().toLowerCase();
	const displayName = form.querySelector('#join-display').value.trim();
	const p1 = form.querySelector('#join-password');
	const p2 = form.querySelector('#join-password2');
	const fail = (text) => err.replaceChildren(alertBox(text));
	if (!form.querySelector('#join-accept').checked)
		return fail(t('must_accept'));
	if (p1.value !== p2.value)
		return fail(t('passwords_differ'));
	if (new TextEncoder().encode(p1.value).length < 8)
		return fail(t('password_short'));
	if (!username)
		return fail(t('username'));
	let password = p1.value;
	p1.value = p2.value = '';
	const button = form.querySelector('button[type=submit]');
	button.disabled = true;
	err.replaceChildren();
	status(t('working_keys'));
	await paint();
	state.loggingIn = true;
	try {
		if (!(await takeLock(username)))
			return fail(t('other_tab'));
		state.storage = await VaultStorage.create(state.core, username, password);
		state.client = await openClient(state.storage);
		status(t('joining'));
		await paint();
		state.client.connect();
		await state.client.linked();
		const made = await state.client.command({
			cmd: 'register', invite, username, display_name: displayName || username, password,
			privacy: { version: notice.version, text_hash: notice.text_hash }, server: SERVER_URL,
		});
		password = null;
		sessionStorage.removeItem(INVITE_KEY);
		// the inviting manager verified by the fingerprint in the link: profiles are sealed to them
		const managerKey = sessionStorage.getItem(MANAGER_KEY);
		sessionStorage.removeItem(MANAGER_KEY);
		if (managerKey && made.programme_id)
			await state.client.command({ cmd: 'profile.anchor', programme: made.programme_id, fingerprint: managerKey }).catch(() => undefined);
		state.username = username;
		status('');
		renderHeader();
		renderRecovery(made.recovery_code, 'recovery_intro');
	} catch (e) {
		password = null;
		await closeClient();
		await vaultDelete(username);
		status('');
		fail(errorText(e));
	} finally {
		state.loggingIn = false;
		button.disabled = false;
	}
	return undefined;
}

// --- rooms ------------------------------------------------------------------

function readCursor(roomId) {
	try {
		const doc = JSON.parse(state.storage.load('cursors.json') ?? '{}');
		return Number(doc?.rooms?.[String(roomId)]?.read ?? 0);
	} catch {
		return 0;
	}
}

// Unread count and last activity of a room: its messages from the last one
// read on (opened and checked by the core; the read place is not moved).
async function roomActivity(roomId) {
	const read = readCursor(roomId);
	state.collect = [];
	try {
		await state.client.command({ cmd: 'read', room: roomId, after: Math.max(0, read - 1), limit: 0, mark: false });
		const got = state.collect.filter((m) => m.room_id === roomId);
		const last = got.reduce((a, m) => (!a || m.seq > a.seq ? m : a), null);
		return { unread: got.filter((m) => m.seq > read).length, last: last?.sent_at ?? null };
	} catch {
		return { unread: 0, last: null, failed: true };
	} finally {
		state.collect = null;
	}
}

async function renderRooms() {
	await leaveRoom();
	state.render = () => renderRooms();
	show(h('section', { class: 'card' }, h('h1', { text: t('rooms_title') }), h('p', { text: t('loading') })));
	let rooms = [];
	let problem = null;
	try {
		await state.client.linked();
		rooms = (await state.client.command({ cmd: 'call', op: 'room.list', args: {} })).rooms ?? [];
	} catch (e) {
		problem = errorText(e);
	}
	const list = h('ul', { class: 'rooms', id: 'rooms' });
	for (const r of rooms) {
		const id = Number(r.id);
		if (!Number.isSafeInteger(id) || id < 1)
			continue;
		const info = h('span', { class: 'meta', text: t('loading') });
		const badge = h('span', { class: 'badge', hidden: true });
		list.append(h('li', {},
			h('a', { href: `#room=${id}`, class: 'room', 'data-room': id, onclick: (e) => { e.preventDefault(); openRoom(id); } },
				h('span', { class: 'name', text: String(r.name ?? `#${id}`) }), badge,
				h('span', { class: 'meta', text: r.kind === 'support' ? t('room_kind_support', { name: String(r.manager ?? '?') }) : `${r.kind === 'group' ? t('room_kind_group') : t('room_kind_pair')}${r.mentor ? ` · ${t('mentor_is', { name: String(r.mentor) })}` : ''}` }),
				info)));
		r.info = info;
		r.badge = badge;
	}
	show(h('section', { class: 'card', 'aria-labelledby': 'rooms-title' },
		h('h1', { id: 'rooms-title', text: t('rooms_title') }),
		h('p', { id: 'link', class: 'hint', role: 'status', text: state.client?.up ? t('link_up') : '' }),
		h('button', { type: 'button', id: 'refresh', onclick: () => renderRooms(), text: t('refresh') }),
		manageButton(),
		h('div', { class: 'room-tools' }, h('button', { type: 'button', id: 'open-notices', onclick: () => renderNotices(), text: t('nt_title') }),
			h('button', { type: 'button', id: 'open-account', onclick: () => renderAccount(), text: t('ac_title') }),
			h('button', { type: 'button', id: 'open-reports', onclick: () => renderReports(), text: t('rp_mine') }),
			profileButton()),
		problem ? alertBox(problem) : null,
		rooms.length ? list : h('p', { text: t('rooms_empty') })));
	for (const r of rooms) {
		if (!r.info)
			continue;
		const a = await roomActivity(Number(r.id));
		if (!r.info.isConnected)
			return; // another view meanwhile
		r.info.textContent = a.last ? t('last_activity', { when: when(a.last) }) : t('no_messages');
		if (a.unread > 0) {
			r.badge.hidden = false;
			r.badge.textContent = t('unread', { n: a.unread });
		}
	}
}

// --- a room -----------------------------------------------------------------

async function leaveRoom() {
	const live = state.live;
	state.live = null;
	state.roomId = 0;
	if (live && state.client) {
		try {
			await state.client.command({ cmd: 'stop' });
			await live;
		} catch {
			// the link went down: the core saved what it could
		}
	}
}

// A command's promise, or a rejection with code "timeout" after ANSWER_WAIT_MS: the
// command is cancelled and the link made afresh (the core resumes the session on it).
const ANSWER_WAIT_MS = 15000;
function patient(promise) {
	let timer;
	let timedOut = false;
	const late = new Promise((resolve, reject) => {
		timer = setTimeout(() => {
			const client = state.client;
			timedOut = true;
			client?.cancel(promise);
			if (client) {
				client.disconnect();
				client.reconnect = true;
				setTimeout(() => client.connect(), 500);
			}
			reject(Object.assign(new Error('no answer from the server'), { code: 'timeout', timedOut: true }));
		}, ANSWER_WAIT_MS);
	});
	return Promise.race([promise, late]).catch((e) => {
		throw timedOut ? Object.assign(e ?? new Error('timeout'), { timedOut: true }) : e;
	}).finally(() => clearTimeout(timer));
}

function addMessage(m) {
	if (state.messages.has(m.seq))
		return;
	state.messages.set(m.seq, m);
	const list = document.getElementById('messages');
	if (!list)
		return;
	const item = messageItem(m);
	const after = [...list.children].find((li) => Number(li.dataset.seq) > m.seq);
	list.insertBefore(item, after ?? null);
	item.scrollIntoView({ block: 'nearest' });
	const typing = document.getElementById('typing');
	if (typing && m.sender !== state.username)
		typing.textContent = '';
}

function messageItem(m) {
	const mine = m.sender === state.username;
	return h('li', { class: `msg${mine ? ' mine' : ''}`, 'data-seq': m.seq },
		h('p', { class: 'from' }, h('strong', { text: mine ? t('me') : String(m.sender ?? '?') }), ' ',
			h('time', { datetime: String(m.sent_at ?? ''), text: when(m.sent_at) })),
		m.error !== undefined && m.text === undefined
			? h('p', { class: 'body unreadable', text: t('message_unreadable', { why: String(m.error) }) })
			: h('p', { class: 'body', text: String(m.text ?? '') }),
		m.warning ? h('p', { class: 'warn', text: `${t('warning')}: ${String(m.warning)}` }) : null);
}

// "Read by ...": under the last message each member has read (receipts come from the core)
function showReceipt(name, seq) {
	state.readBy.set(String(name), Number(seq));
	const list = document.getElementById('messages');
	if (!list)
		return;
	for (const el of list.querySelectorAll('.read-by'))
		el.remove();
	const bySeq = new Map();
	for (const [who, s] of state.readBy) {
		const item = [...list.children].filter((li) => Number(li.dataset.seq) <= s).pop();
		if (item)
			bySeq.set(item, [...(bySeq.get(item) ?? []), who]);
	}
	for (const [item, names] of bySeq)
		item.append(h('p', { class: 'read-by hint', text: t('read_by', { names: names.join(', ') }) }));
}

let typingTimer = null;
function showTyping(name) {
	const el = document.getElementById('typing');
	if (!el)
		return;
	el.textContent = t('typing', { name });
	clearTimeout(typingTimer);
	typingTimer = setTimeout(() => {
		el.textContent = '';
	}, 5000);
}

function showWarning(ev) {
	const box = document.getElementById('warnings');
	const text = `${t('warning')}: ${String(ev.text ?? ev.code ?? '')}`;
	if (box)
		box.append(alertBox(text, 'warning'));
	else
		status(text);
}

async function openRoom(id) {
	await leaveRoom();
	state.roomId = id;
	state.messages = new Map();
	state.readBy = new Map();
	state.render = () => openRoom(id);
	const back = h('button', { type: 'button', class: 'link', id: 'back', onclick: () => renderRooms(), text: t('back') });
	show(h('section', { class: 'card' }, back, h('h1', { text: `#${id}` }), h('p', { text: t('loading') })));
	let preview = null;
	// the agreement first (checked by the core); a dropped link is waited out and asked
	// again, and so is an answer that does not come (a fresh link then)
	for (let attempt = 0; attempt < 3 && !preview; attempt++) {
		try {
			await state.client.linked();
			preview = await patient(state.client.command({ cmd: 'agreement.sign', room: id, preview: true }));
		} catch (e) {
			if ((e?.code !== 'unreachable' && !e?.timedOut) || attempt === 2)
				preview = { error: e };
		}
	}
	if (state.roomId !== id)
		return;
	if (preview.state === 'preview') {
		renderAgreement(id, preview, back);
		return;
	}
	state.parties = (preview.agreement?.active ?? preview.agreement?.pending)?.parties?.map((p) => String(p.username)) ?? [];
	await renderConversation(id, preview, back);
}

function renderAgreement(id, preview, back) {
	const v = preview.view ?? {};
	const form = h('form', { id: 'agreement-form', novalidate: true },
		h('div', { class: 'field check' },
			h('input', { type: 'checkbox', id: 'agreement-accept', required: true }),
			h('label', { for: 'agreement-accept', text: t('agreement_accept') })),
		h('div', { id: 'agreement-error' }),
		h('button', { type: 'submit', class: 'primary', text: t('sign') }));
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const err = form.querySelector('#agreement-error');
		if (!form.querySelector('#agreement-accept').checked) {
			err.replaceChildren(alertBox(t('must_accept')));
			return;
		}
		form.querySelector('button').disabled = true;
		status(t('signing'));
		try {
			// exactly the version shown: the core refuses if another one is due by now
			await state.client.command({ cmd: 'agreement.sign', room: id, version: preview.version });
			status(t('signed', { version: preview.version }));
			await openRoom(id);
		} catch (ex) {
			status('');
			err.replaceChildren(alertBox(errorText(ex)));
			form.querySelector('button').disabled = false;
		}
	});
	show(h('section', { class: 'card', 'aria-labelledby': 'agreement-title' }, back,
		h('h1', { id: 'agreement-title', text: t('agreement_title') }),
		h('p', { text: t('agreement_intro') }),
		h('p', { class: 'hint', text: `${t('agreement_period', { from: String(v.starts_on ?? ''), to: String(v.ends_on ?? '') })} · v${preview.version}` }),
		h('div', { class: 'document', id: 'agreement-terms', tabindex: '0', role: 'document', 'aria-labelledby': 'agreement-title', text: String(v.terms ?? '') }),
		h('h2', { text: t('agreement_parties') }),
		h('ul', { class: 'parties' }, (v.parties ?? []).map((p) => h('li', {},
			h('strong', { text: String(p.username) }), ` (${String(p.role)}) `, h('code', { text: String(p.fingerprint) })))),
		form));
}

async function renderConversation(id, preview, back) {
	// the log region wraps the list: a role on the <ol> itself would take its list semantics away
	const list = h('ol', { id: 'messages', class: 'messages' });
	const log = h('div', { role: 'log', 'aria-live': 'polite', 'aria-labelledby': 'messages-title' }, list);
	const text = h('textarea', { id: 'message-text', name: 'message', rows: 3, maxlength: 16000, required: true });
	const form = h('form', { id: 'send-form', class: 'composer', novalidate: true },
		h('label', { for: 'message-text', text: t('message_label') }), text,
		h('button', { type: 'submit', class: 'primary', text: t('send') }));
	text.addEventListener('input', () => {
		const now = Date.now();
		if (state.live && now - state.typingSent > TYPING_EVERY_MS) {
			state.typingSent = now;
			state.client.command({ cmd: 'typing', room: id }).catch(() => {});
		}
	});
	text.addEventListener('keydown', (e) => {
		if (e.key === 'Enter' && (e.ctrlKey || e.metaKey))
			form.requestSubmit();
	});
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const body = text.value.trim();
		if (!body)
			return;
		const button = form.querySelector('button');
		button.disabled = true;
		status(t('sending'));
		try {
			const r = await state.client.command({ cmd: 'send', room: id, text: body });
			text.value = '';
			status('');
			if (!state.messages.has(r.seq) && state.roomId === id)
				await state.client.command({ cmd: 'read', room: id, after: Math.max(0, r.seq - 1), limit: 1, mark: false });
		} catch (ex) {
			status(errorText(ex));
			// the message stays in the core's outbox; right after the last signature the
			// server may not have the new roster yet: deliver it again a little later
			if (ex?.code === 'agreement_unsigned' || ex?.code === 'unreachable') {
				text.value = '';
				retryOutbox(id, 3);
			}
		} finally {
			button.disabled = false;
			text.focus();
		}
	});
	const waiting = Array.isArray(preview.waiting) && preview.waiting.length
		? h('p', { class: 'hint', id: 'agreement-waiting', text: t('waiting_for', { names: preview.waiting.map(String).join(', ') }) })
		: null;
	const safety = h('button', { type: 'button', id: 'safety', onclick: () => renderSafety(id), text: t('safety_show') });
	const meetings = h('button', { type: 'button', id: 'open-meetings', onclick: () => renderMeetings(id, document.getElementById('room-title')?.textContent), text: t('mt_open') });
	show(h('section', { class: 'card conversation', 'aria-labelledby': 'room-title' },
		h('div', { class: 'room-head' }, back, meetings, safety, reportButton(id)),
		h('h1', { id: 'room-title', text: `#${id}` }),
		preview.state === 'signed_before' ? h('p', { class: 'hint', id: 'agreement-state', text: t('signed', { version: preview.version }) }) : null,
		waiting,
		h('div', { id: 'warnings' }),
		h('div', { id: 'safety-panel' }),
		h('div', { id: 'report-panel' }),
		h('h2', { id: 'messages-title', class: 'sr-only', text: t('messages') }),
		log,
		h('p', { id: 'typing', class: 'hint', 'aria-live': 'polite' }),
		h('p', { id: 'link', class: 'hint', role: 'status' }),
		form));
	try {
		const rooms = (await state.client.command({ cmd: 'call', op: 'room.list', args: {} })).rooms ?? [];
		const room = rooms.find((r) => Number(r.id) === id);
		if (room && state.roomId === id)
			document.getElementById('room-title').textContent = String(room.name ?? `#${id}`);
		if (room?.kind === 'support') // a support room has no meetings (PROTOCOL.md 15.1)
			document.getElementById('open-meetings')?.remove();
		await state.client.command({ cmd: 'read', room: id, after: 0, limit: 0, mark: false });
	} catch (e) {
		status(errorText(e));
	}
	if (state.roomId !== id)
		return;
	for (const m of [...state.messages.values()].sort((a, b) => a.seq - b.seq))
		if (!list.querySelector(`[data-seq="${m.seq}"]`))
			list.append(messageItem(m));
	list.lastElementChild?.scrollIntoView({ block: 'nearest' });
	state.live = state.client.command({ cmd: 'live', room: id });
	state.live.catch((e) => {
		if (state.roomId === id)
			status(errorText(e));
	});
}

// The "Waiting for the signatures of ..." line after the room's agreement changed: asked
// afresh from the core (agreement.sign's preview checks the signatures), gone when none is due.
async function refreshWaiting(id) {
	let preview;
	try {
		preview = await state.client.command({ cmd: 'agreement.sign', room: id, preview: true });
	} catch {
		return;
	}
	const line = document.getElementById('agreement-waiting');
	if (state.roomId !== id || !line)
		return;
	if (Array.isArray(preview.waiting) && preview.waiting.length)
		line.textContent = t('waiting_for', { names: preview.waiting.map(String).join(', ') });
	else
		line.remove();
}

// Delivers the outbox again (the core keeps unsent messages there), up to `left` more times.
function retryOutbox(id, left) {
	setTimeout(async () => {
		if (state.roomId !== id || !state.client)
			return;
		try {
			await state.client.linked();
			await state.client.command({ cmd: 'flush' });
			status('');
		} catch (e) {
			status(errorText(e));
			if (left > 1)
				retryOutbox(id, left - 1);
		}
	}, 3000);
}

async function renderSafety(id) {
	const panel = document.getElementById('safety-panel');
	if (!panel)
		return;
	const rows = h('ul', { class: 'safety' });
	const close = h('button', { type: 'button', onclick: () => panel.replaceChildren(), text: t('safety_close') });
	panel.replaceChildren(h('section', { class: 'panel', 'aria-labelledby': 'safety-title' },
		h('h2', { id: 'safety-title', text: t('safety_title') }), h('p', { text: t('safety_intro') }), rows, close));
	panel.querySelector('h2').setAttribute('tabindex', '-1');
	panel.querySelector('h2').focus();
	for (const user of state.parties.filter((u) => u !== state.username)) {
		try {
			const v = await state.client.command({ cmd: 'verify', user });
			const li = h('li', {}, h('strong', { text: String(v.user) }), ' ', h('code', { class: 'number', text: String(v.safety_number) }));
			if (v.keys_changed) {
				li.append(alertBox(t('keys_changed', { name: String(v.user) }), 'warning'));
				if (v.next_safety_number)
					li.append(h('p', { text: t('new_safety', { number: String(v.next_safety_number) }) }));
				const pin = v.pin ?? {};
				li.append(h('button', {
					type: 'button', text: t('accept_keys'),
					onclick: async () => {
						try {
							await state.client.command({ cmd: 'trust.accept', user: String(v.user), new_fingerprint: pin.new_fingerprint, new_username: pin.new_username });
							renderSafety(id);
						} catch (e) {
							li.append(alertBox(errorText(e)));
						}
					},
				}));
			}
			rows.append(li);
		} catch (e) {
			rows.append(h('li', {}, h('strong', { text: user }), ' ', errorText(e)));
		}
	}
}

// --- the recovery code, and a reset with a manager's code ---------------------

// Shown once, after registering or a reset: the only way back to these keys if
// the password is forgotten (the server cannot open them). Not stored anywhere.
function renderRecovery(code, intro) {
	state.render = null; // a language switch must not draw the code again from nowhere
	const ok = h('input', { type: 'checkbox', id: 'recovery-kept', required: true });
	const err = h('div', { id: 'recovery-error' });
	const form = h('form', { id: 'recovery-form', novalidate: true },
		h('div', { class: 'field check' }, ok, h('label', { for: 'recovery-kept', text: t('recovery_kept') })),
		err,
		h('button', { type: 'submit', class: 'primary', text: t('continue') }));
	form.addEventListener('submit', (e) => {
		e.preventDefault();
		if (!ok.checked) {
			err.replaceChildren(alertBox(t('recovery_must_keep')));
			return;
		}
		renderRooms();
	});
	show(h('section', { class: 'card', 'aria-labelledby': 'recovery-title' },
		h('h1', { id: 'recovery-title', text: t('recovery_title') }),
		h('p', { text: t(intro) }),
		h('p', { class: 'recovery-code' }, h('code', { id: 'recovery-code', text: String(code ?? '') })),
		h('p', { class: 'hint', text: t('recovery_how') }),
		h('button', { type: 'button', id: 'recovery-print', onclick: () => window.print(), text: t('print') }),
		form));
}

function renderReset(code) {
	state.render = () => renderReset(code);
	const form = h('form', { id: 'reset-form', novalidate: true },
		field('reset-username', t('username'), { autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false', maxlength: 32 }),
		field('reset-password', t('new_password'), { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 }, t('password_hint')),
		field('reset-password2', t('password_again'), { type: 'password', autocomplete: 'new-password', required: true, minlength: 8 }),
		h('div', { id: 'reset-error' }),
		h('button', { type: 'submit', class: 'primary', text: t('reset_do') }));
	form.addEventListener('submit', (e) => {
		e.preventDefault();
		reset(form, code);
	});
	show(h('section', { class: 'card', 'aria-labelledby': 'reset-title' },
		h('h1', { id: 'reset-title', text: t('reset_title') }),
		h('p', { text: t('reset_intro') }),
		alertBox(t('reset_lost'), 'warning'),
		form));
}

async function reset(form, code) {
	const err = form.querySelector('#reset-error');
	const username = form.querySelector('#reset-username').value.trim().toLowerCase();
	const p1 = form.querySelector('#reset-password');
	const p2 = form.querySelector('#reset-password2');
	const fail = (text) => err.replaceChildren(alertBox(text));
	if (!username)
		return fail(t('username'));
	if (p1.value !== p2.value)
		return fail(t('passwords_differ'));
	if (new TextEncoder().encode(p1.value).length < 8)
		return fail(t('password_short'));
	let password = p1.value;
	p1.value = p2.value = '';
	const button = form.querySelector('button[type=submit]');
	button.disabled = true;
	err.replaceChildren();
	status(t('working_keys'));
	await paint();
	state.loggingIn = true;
	try {
		await module();
		if (!(await takeLock(username)))
			return fail(t('other_tab'));
		// the old vault holds keys this reset gives up: a new one under the new password
		state.storage = await VaultStorage.create(state.core, username, password);
		state.client = await openClient(state.storage);
		state.client.connect();
		await state.client.linked();
		const done = await state.client.command({ cmd: 'reset', username, reset_code: code, new_password: password, server: SERVER_URL });
		password = null;
		sessionStorage.removeItem(RESET_KEY);
		state.username = username;
		status('');
		renderHeader();
		renderRecovery(done.recovery_code, 'recovery_after_reset');
	} catch (e) {
		password = null;
		await closeClient();
		await vaultDelete(username);
		status('');
		fail(errorText(e));
	} finally {
		state.loggingIn = false;
		button.disabled = false;
	}
	return undefined;
}

// --- start ------------------------------------------------------------------

function start() {
	setLanguage(initialLanguage());
	renderHeader();
	renderVersion();
	// the invite code lives in the fragment, which no request carries; it
	// leaves the address bar (and the history) at once
	// a link the manager's own client made carries their key fingerprint (&m=HEX, PROTOCOL.md 14.1)
	const m = /^#join=([A-Za-z0-9_-]{1,128})(?:&m=([0-9a-f]{32}))?$/.exec(location.hash);
	if (m) {
		sessionStorage.setItem(INVITE_KEY, m[1]);
		if (m[2])
			sessionStorage.setItem(MANAGER_KEY, m[2]);
		else
			sessionStorage.removeItem(MANAGER_KEY);
		history.replaceState(null, '', location.pathname);
	} else if (location.hash.startsWith('#join')) {
		history.replaceState(null, '', location.pathname);
		show(h('section', { class: 'card' }, h('h1', { text: t('join_title') }), alertBox(t('no_invite'))));
		return;
	}
	// a manager's reset code, e-mailed as PUBLIC_URL/#reset=CODE: out of the address bar at once too
	const r = /^#reset=([A-Za-z0-9-]{1,128})$/.exec(location.hash);
	if (r) {
		sessionStorage.setItem(RESET_KEY, r[1]);
		history.replaceState(null, '', location.pathname);
	}
	const resetCode = sessionStorage.getItem(RESET_KEY);
	const invite = sessionStorage.getItem(INVITE_KEY);
	if (resetCode)
		renderReset(resetCode);
	else if (invite)
		renderJoin(invite);
	else
		renderLogin();
}

// a join or reset link opened in a tab already on the app changes only the fragment: start again
window.addEventListener('hashchange', () => {
	if (/^#(join|reset)=/.test(location.hash))
		location.reload();
});

window.addEventListener('pagehide', () => {
	if (state.client)
		state.client.close().catch(() => {});
});

start();
