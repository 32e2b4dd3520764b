// manage.mjs - the programme manager's screens: programmes (list, create,
// edit, end, history), invites (create with a link to copy, list with
// state, revoke, resend), rooms (create, members added and removed, rename,
// the manager's own signature on a room's agreement), the agreement template
// and the audit as a dashboard (summary, a 12-week chart with its figures as
// a table, rooms with flags, one room's members, CSV, thresholds), a
// programme's concern reports (reports.mjs shows and checks each), and
// Contact: announcements (encrypted and signed by the core, their recipients
// shown first) and a support room with one mentor or mentee.
//
// Each screen does what the CLI's command does (client/cmd_programme.c,
// cmd_admin.c, cmd_room.c, cmd_mail.c, cmd_agreement.c, cmd_audit.c): the
// same operations, the same checks before a request. Plain operations go
// through the core's "call" (core/call.c lists them; room.show comes without
// keys); the agreement's signature is the core's agreement.sign, which
// checks what it signs. The audit carries figures only: this file shows
// figures and names, never anything a room wrote. Server text is shown as
// text, never as markup.
//
// Thread: the page's event loop.

import { language, t } from './i18n.mjs';
import { alertBox, app, errorText, field, h, show, status, when } from './ui.mjs';
import { reportList } from './reports.mjs';

const SVG = 'http://www.w3.org/2000/svg';
const USERNAME = /^[a-z0-9._-]{3,32}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const TEMPLATE_MAX = 20000;
const NAME_MAX = 100;
const TABS = ['programme', 'invites', 'rooms', 'template', 'dashboard', 'reports', 'contact'];
const CHANGES = ['name', 'starts_on', 'ends_on', 'ended', 'archived', 'room_name'];
const CHECKPOINT_STATES = ['open', 'confirmed', 'held', 'missed', 'cancelled'];
const FLAG_CODES = ['inactive', 'agreement_unsigned', 'midterm_overdue', 'missed_meeting',
	'unrecorded_meeting', 'late_change', 'consent_withdrawn', 'never_logged_in'];

// invite links made on this page (the server keeps only the codes' hashes)
const links = new Map(); // programme id -> [{ invite_id, role, link, expires_at }]

function call(op, args = {}) {
	return app.state.client.command({ cmd: 'call', op, args });
}

function num(v) {
	return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

function figure(v) {
	const n = num(v);
	if (n === null)
		return '–';
	return Number.isInteger(n) ? String(n) : new Intl.NumberFormat(language(), { maximumFractionDigits: 1 }).format(n);
}

function percent(v) {
	const n = num(v);
	return n === null ? '–' : new Intl.NumberFormat(language(), { style: 'percent', maximumFractionDigits: 0 }).format(n);
}

// seconds in human units, as the CLI writes them ("42s", "12m 05s", "2h 05m", "3d 04h")
function duration(v) {
	const n = num(v);
	if (n === null)
		return '–';
	const s = Math.round(n);
	const two = (x) => String(x).padStart(2, '0');
	if (s < 60)
		return `${s}s`;
	if (s < 3600)
		return `${Math.floor(s / 60)}m ${two(s % 60)}s`;
	if (s < 86400)
		return `${Math.floor(s / 3600)}h ${two(Math.floor((s % 3600) / 60))}m`;
	return `${Math.floor(s / 86400)}d ${two(Math.floor((s % 86400) / 3600))}h`;
}

function messageBox() {
	return h('div', { id: 'mg-msg', 'aria-live': 'polite' });
}

function say(text, kind = 'ok') {
	const box = document.getElementById('mg-msg');
	const el = kind === 'ok' ? h('p', { class: 'alert ok', role: 'status', text }) : alertBox(text, kind);
	if (box)
		box.replaceChildren(el);
	else
		status(text);
}

function fail(e) {
	say(errorText(e), 'error');
}

function table(id, caption, head, rows) {
	return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': `${id}-caption` },
		h('table', { id },
			h('caption', { id: `${id}-caption`, text: caption }),
			h('thead', {}, h('tr', {}, head.map((c) => h('th', { scope: 'col', text: c })))),
			h('tbody', {}, rows)));
}

function submitting(form, fn) {
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const button = form.querySelector('button[type=submit]');
		button.disabled = true;
		try {
			await fn();
		} catch (ex) {
			fail(ex);
		} finally {
			button.disabled = false;
		}
	});
	return form;
}

function dateField(id, label, value) {
	return field(id, label, { type: 'date', value: value ?? '', required: true, pattern: '\\d{4}-\\d{2}-\\d{2}' });
}

// --- the way in (the rooms screen) -------------------------------------------

/**
 * A placeholder for the rooms screen, filled with the "Manage programmes"
 * button when the account is a manager or manages a programme.
 */
export function manageButton() {
	const slot = h('span', { id: 'manage-slot' });
	call('whoami').then((who) => {
		const manages = who?.user?.role === 'manager' ||
			(who?.programmes ?? []).some((p) => p?.my_role === 'manager');
		if (manages && slot.isConnected)
			slot.replaceChildren(h('button', { type: 'button', id: 'manage', onclick: () => renderManage(), text: t('mg_open') }));
	}, () => {});
	return slot;
}

// --- programmes ------------------------------------------------------------------

export async function renderManage() {
	app.state.render = () => renderManage();
	const back = h('button', { type: 'button', class: 'link', id: 'mg-home', onclick: () => app.home(), text: t('back') });
	show(h('section', { class: 'card' }, back, h('h1', { text: t('mg_title') }), h('p', { text: t('loading') })));
	let programmes = [];
	let problem = null;
	try {
		await app.state.client.linked();
		programmes = ((await call('programme.list')).programmes ?? []).filter((p) => p.my_role === 'manager');
	} catch (e) {
		problem = errorText(e);
	}
	const rows = programmes.map((p) => h('tr', {},
		h('td', {}, h('button', { type: 'button', class: 'link', 'data-programme': p.id, onclick: () => renderProgramme(Number(p.id)), text: String(p.name ?? `#${p.id}`) })),
		h('td', { text: `${p.starts_on ?? ''} – ${p.ends_on ?? ''}` }),
		h('td', { text: programmeState(p) })));
	const form = h('form', { id: 'mg-create-form', novalidate: true },
		field('mg-create-name', t('mg_name'), { required: true, maxlength: NAME_MAX }),
		dateField('mg-create-starts', t('mg_starts'), ''),
		dateField('mg-create-ends', t('mg_ends'), ''),
		h('button', { type: 'submit', class: 'primary', text: t('mg_create') }));
	submitting(form, async () => {
		const name = form.querySelector('#mg-create-name').value.trim();
		const starts = form.querySelector('#mg-create-starts').value;
		const ends = form.querySelector('#mg-create-ends').value;
		if (!name || !DATE.test(starts) || !DATE.test(ends))
			return say(t('mg_need_name_dates'), 'error');
		if (ends <= starts)
			return say(t('mg_ends_after'), 'error');
		const r = await call('programme.create', { name, starts_on: starts, ends_on: ends });
		await renderProgramme(Number(r.programme.id));
		say(t('mg_created', { name: String(r.programme.name) }));
		return undefined;
	});
	show(h('section', { class: 'card manage', 'aria-labelledby': 'mg-title' }, back,
		h('h1', { id: 'mg-title', text: t('mg_title') }),
		messageBox(),
		problem ? alertBox(problem) : null,
		programmes.length
			? table('mg-programmes', t('mg_programmes_caption'), [t('mg_name'), t('mg_dates'), t('mg_state')], rows)
			: h('p', { text: t('mg_none') }),
		h('h2', { text: t('mg_new_programme') }),
		form));
}

function programmeState(p) {
	if (p.archived_at)
		return t('mg_archived', { when: when(p.archived_at) });
	if (p.ended_early_at)
		return t('mg_ended_early', { when: when(p.ended_early_at) });
	const today = new Date().toISOString().slice(0, 10);
	if (p.starts_on > today)
		return t('mg_not_started');
	return p.ends_on < today ? t('mg_over') : t('mg_running');
}

// --- one programme: its tabs --------------------------------------------------

async function renderProgramme(pid, tab = 'programme', room = 0) {
	app.state.render = () => renderProgramme(pid, tab, room);
	const back = h('button', { type: 'button', class: 'link', id: 'mg-back', onclick: () => renderManage(), text: t('mg_back') });
	let p = null;
	try {
		p = (await call('programme.list')).programmes?.find((x) => Number(x.id) === pid && x.my_role === 'manager') ?? null;
	} catch (e) {
		show(h('section', { class: 'card' }, back, h('h1', { text: t('mg_title') }), alertBox(errorText(e))));
		return;
	}
	if (!p) {
		show(h('section', { class: 'card' }, back, h('h1', { text: t('mg_title') }), alertBox(t('mg_not_found'))));
		return;
	}
	const nav = h('nav', { 'aria-label': t('mg_sections') }, h('ul', { class: 'tabs' }, TABS.map((k) => h('li', {},
		h('button', { type: 'button', id: `mg-tab-${k}`, 'aria-current': k === tab ? 'page' : null, onclick: () => renderProgramme(pid, k), text: t(`mg_tab_${k}`) })))));
	const body = h('div', { id: 'mg-body' }, h('p', { text: t('loading') }));
	show(h('section', { class: 'card manage', 'aria-labelledby': 'mg-programme-title' }, back,
		h('h1', { id: 'mg-programme-title', text: String(p.name ?? `#${pid}`) }),
		h('p', { class: 'hint', text: `${p.starts_on} – ${p.ends_on} · ${programmeState(p)}` }),
		nav, messageBox(), body));
	try {
		const parts = tab === 'invites' ? await invitesTab(p)
			: tab === 'rooms' ? await (room ? roomTab(p, room) : roomsTab(p))
				: tab === 'template' ? await templateTab(p)
					: tab === 'dashboard' ? await dashboardTab(p)
						: tab === 'reports' ? await reportsTab(p)
							: tab === 'contact' ? contactTab(p)
								: await programmeTab(p);
		body.replaceChildren(...parts);
	} catch (e) {
		body.replaceChildren(alertBox(errorText(e)));
	}
	// the section's heading takes the focus (a screen reader hears where it is)
	const heading = body.querySelector('h2');
	if (heading && tab !== 'programme') {
		heading.setAttribute('tabindex', '-1');
		heading.focus();
	}
}

// --- programme: edit, end, history ---------------------------------------------

async function programmeTab(p) {
	const pid = Number(p.id);
	const form = h('form', { id: 'mg-edit-form', novalidate: true },
		field('mg-edit-name', t('mg_name'), { required: true, maxlength: NAME_MAX, value: String(p.name ?? '') }),
		dateField('mg-edit-starts', t('mg_starts'), p.starts_on),
		dateField('mg-edit-ends', t('mg_ends'), p.ends_on),
		h('button', { type: 'submit', class: 'primary', text: t('mg_save') }));
	submitting(form, async () => {
		// only what changed, as `programme edit --name/--starts/--ends`
		const args = { programme_id: pid };
		const name = form.querySelector('#mg-edit-name').value.trim();
		const starts = form.querySelector('#mg-edit-starts').value;
		const ends = form.querySelector('#mg-edit-ends').value;
		if (!name)
			return say(t('mg_need_name'), 'error');
		if (!DATE.test(starts) || !DATE.test(ends))
			return say(t('mg_need_name_dates'), 'error');
		if (ends <= starts)
			return say(t('mg_ends_after'), 'error');
		if (name !== p.name)
			args.name = name;
		if (starts !== p.starts_on)
			args.starts_on = starts;
		if (ends !== p.ends_on)
			args.ends_on = ends;
		if (Object.keys(args).length === 1)
			return say(t('mg_nothing_changed'), 'error');
		await call('programme.edit', args);
		await renderProgramme(pid);
		say(t('mg_saved'));
		return undefined;
	});
	const confirm = h('div', { id: 'mg-end-confirm' });
	const end = h('button', {
		type: 'button', id: 'mg-end',
		onclick: () => confirm.replaceChildren(
			h('p', { class: 'alert warning', text: t('mg_end_warn') }),
			h('button', {
				type: 'button', id: 'mg-end-yes', class: 'primary',
				onclick: async () => {
					try {
						await call('programme.end', { programme_id: pid });
						await renderProgramme(pid);
						say(t('mg_ended'));
					} catch (e) {
						fail(e);
					}
				},
				text: t('mg_end_yes'),
			}),
			h('button', { type: 'button', onclick: () => confirm.replaceChildren(), text: t('mg_cancel') })),
		text: t('mg_end'),
	});
	const archiveConfirm = h('div', { id: 'mg-archive-confirm' });
	const today = new Date().toISOString().slice(0, 10);
	const archive = !p.archived_at && p.ends_on <= today
		? [h('h2', { text: t('mg_archive_title') }), h('p', { class: 'hint', text: t('mg_archive_hint') }),
			h('button', {
				type: 'button', id: 'mg-archive',
				onclick: () => archiveConfirm.replaceChildren(
					h('p', { class: 'alert warning', text: t('mg_archive_warn') }),
					h('button', {
						type: 'button', id: 'mg-archive-yes', class: 'primary',
						onclick: async () => {
							try {
								await call('programme.archive', { programme_id: pid });
								await renderProgramme(pid);
								say(t('mg_archived_now'));
							} catch (e) {
								fail(e);
							}
						},
						text: t('mg_archive_yes'),
					}),
					h('button', { type: 'button', onclick: () => archiveConfirm.replaceChildren(), text: t('mg_cancel') })),
				text: t('mg_archive'),
			}), archiveConfirm]
		: [];
	let history = [];
	try {
		history = (await call('programme.history', { programme_id: pid })).changes ?? [];
	} catch {
		history = [];
	}
	const rows = history.slice(0, 50).map((c) => h('tr', {},
		h('td', { text: when(c.at) }), h('td', { text: String(c.by ?? t('mg_erased')) }),
		h('td', { 'data-change': String(c.change ?? ''), text: `${CHANGES.includes(c.change) ? t(`mg_ch_${c.change}`) : String(c.change ?? '')}${c.room_id ? ` (#${c.room_id})` : ''}` }),
		h('td', { text: String(c.old ?? '–') }), h('td', { text: String(c.new ?? '–') })));
	return [
		h('h2', { text: t('mg_tab_programme') }), form,
		...(p.ended_early_at || p.archived_at || p.ends_on < today ? [] : [h('h2', { text: t('mg_end_title') }), h('p', { class: 'hint', text: t('mg_end_hint') }), end, confirm]),
		...archive,
		h('h2', { text: t('mg_history') }),
		rows.length ? table('mg-history', t('mg_history_caption'), [t('mg_when'), t('mg_by'), t('mg_change'), t('mg_from'), t('mg_to')], rows)
			: h('p', { text: t('mg_no_history') }),
	];
}

// --- invites -------------------------------------------------------------------------

function linkItem(l) {
	const id = `mg-link-${l.invite_id}`;
	const input = h('input', { id, type: 'text', readonly: true, value: l.link, class: 'link-text', 'data-role': l.role });
	return h('li', {},
		h('label', { for: id, text: t('mg_link_for', { role: t(`mg_role_${l.role}`), when: when(l.expires_at) }) }),
		h('div', { class: 'copy-row' }, input,
			h('button', {
				type: 'button', class: 'copy', 'aria-describedby': id,
				onclick: async (e) => {
					input.select();
					try {
						await navigator.clipboard.writeText(l.link);
						say(t('mg_copied'));
					} catch {
						say(t('mg_copy_by_hand'));
					}
					e.target.focus();
				},
				text: t('mg_copy'),
			})));
}

async function invitesTab(p) {
	const pid = Number(p.id);
	const mine = links.get(pid) ?? [];
	const role = h('select', { id: 'mg-invite-role', name: 'role' },
		['mentee', 'mentor', 'manager'].map((r) => h('option', { value: r, text: t(`mg_role_${r}`) })));
	const form = h('form', { id: 'mg-invite-form', novalidate: true },
		h('div', { class: 'field' }, h('label', { for: 'mg-invite-role', text: t('mg_role') }), role),
		field('mg-invite-days', t('mg_expires_days'), { type: 'number', min: 1, max: 90, value: 14, inputmode: 'numeric' }),
		field('mg-invite-email', t('mg_email'), { type: 'email', autocomplete: 'off' }, t('mg_email_hint')),
		h('button', { type: 'submit', class: 'primary', text: t('mg_invite_create') }));
	submitting(form, async () => {
		const days = Number(form.querySelector('#mg-invite-days').value || 14);
		if (!Number.isInteger(days) || days < 1 || days > 90)
			return say(t('mg_days_range'), 'error');
		const args = { programme_id: pid, role: role.value, expires_in_days: days };
		const email = form.querySelector('#mg-invite-email').value.trim();
		if (email) {
			args.email = email;
			args.lang = language();
		}
		const r = await call('invite.create', args);
		mine.unshift({ invite_id: r.invite_id, role: String(r.role), link: `${location.origin}/#join=${r.code}`, expires_at: r.expires_at });
		links.set(pid, mine);
		await renderProgramme(pid, 'invites');
		say(t('mg_invite_made', { role: t(`mg_role_${r.role}`) }));
		return undefined;
	});
	const list = (await call('invite.list', { programme_id: pid })).invites ?? [];
	const act = (op, id, label) => h('button', {
		type: 'button', 'data-invite': id, class: `mg-${op}`,
		onclick: async () => {
			try {
				const r = await call(`invite.${op}`, { invite_id: id });
				if (op === 'resend' && r.code) {
					mine.splice(0, mine.length, ...mine.filter((l) => l.invite_id !== id));
					mine.unshift({ invite_id: id, role: String(list.find((i) => i.invite_id === id)?.role ?? ''), link: `${location.origin}/#join=${r.code}`, expires_at: null });
					links.set(pid, mine);
				}
				await renderProgramme(pid, 'invites');
				say(op === 'resend' ? t('mg_resent') : t('mg_revoked'));
			} catch (e) {
				fail(e);
			}
		},
		text: label,
	});
	const open = (s) => ['created', 'sending', 'sent', 'failed'].includes(s);
	// a link is offered while its invite is open (and this page made its current code)
	const usable = mine.filter((l) => open(list.find((i) => i.invite_id === l.invite_id)?.state));
	const rows = list.map((i) => h('tr', { 'data-invite': i.invite_id },
		h('td', { text: String(i.invite_id) }),
		h('td', { text: t(`mg_role_${i.role}`) }),
		h('td', { text: t(`mg_invite_${i.state}`) }),
		h('td', { text: when(i.expires_at) }),
		h('td', { text: String(i.email ?? '–') }),
		h('td', { text: String(i.username ?? '–') }),
		h('td', {}, open(i.state) ? act('revoke', i.invite_id, t('mg_revoke')) : null,
			open(i.state) && i.email ? act('resend', i.invite_id, t('mg_resend')) : null)));
	return [
		h('h2', { text: t('mg_tab_invites') }),
		h('p', { class: 'hint', text: t('mg_invites_intro') }),
		form,
		usable.length ? h('h3', { text: t('mg_links') }) : null,
		usable.length ? h('ul', { class: 'links', id: 'mg-links' }, usable.map(linkItem)) : null,
		h('h3', { text: t('mg_invites_all') }),
		rows.length ? table('mg-invites', t('mg_invites_caption'),
			[t('mg_id'), t('mg_role'), t('mg_state'), t('mg_expires'), t('mg_email'), t('mg_user'), t('mg_actions')], rows)
			: h('p', { text: t('mg_no_invites') }),
	];
}

// --- rooms ----------------------------------------------------------------------

async function roomsTab(p) {
	const pid = Number(p.id);
	const kind = h('select', { id: 'mg-room-kind', name: 'kind' },
		['pair', 'group'].map((k) => h('option', { value: k, text: t(`room_kind_${k}`) })));
	const form = h('form', { id: 'mg-room-form', novalidate: true },
		h('div', { class: 'field' }, h('label', { for: 'mg-room-kind', text: t('mg_kind') }), kind),
		field('mg-room-name', t('mg_room_name'), { maxlength: NAME_MAX }, t('mg_room_name_hint')),
		field('mg-room-members', t('mg_members'), { autocapitalize: 'none', spellcheck: 'false' }, t('mg_members_hint')),
		h('button', { type: 'submit', class: 'primary', text: t('mg_room_create') }));
	submitting(form, async () => {
		const members = form.querySelector('#mg-room-members').value.split(/[\s,]+/).map((u) => u.toLowerCase()).filter(Boolean);
		const bad = members.find((u) => !USERNAME.test(u));
		if (bad)
			return say(t('mg_bad_username', { name: bad }), 'error');
		if (members.length > 6)
			return say(t('mg_too_many'), 'error');
		const args = { programme_id: pid, kind: kind.value };
		const name = form.querySelector('#mg-room-name').value.trim();
		if (name)
			args.name = name;
		if (members.length)
			args.members = members;
		const r = await call('room.create', args);
		await renderProgramme(pid, 'rooms', Number(r.room.id));
		say(t('mg_room_made', { id: r.room.id }));
		return undefined;
	});
	// pairs and groups only: the manager's own support rooms are in the room list (PROTOCOL.md 15.1)
	const rooms = ((await call('room.list', { programme_id: pid })).rooms ?? []).filter((r) => r.kind !== 'support');
	const rows = rooms.map((r) => h('tr', {},
		h('td', {}, h('button', { type: 'button', class: 'link', 'data-room': r.id, onclick: () => renderProgramme(pid, 'rooms', Number(r.id)), text: String(r.name ?? `#${r.id}`) })),
		h('td', { text: r.kind === 'group' ? t('room_kind_group') : t('room_kind_pair') }),
		h('td', { text: t(`mg_status_${r.status === 'ready' ? 'ready' : 'incomplete'}`) }),
		h('td', { text: String(r.mentor ?? '–') }),
		h('td', { text: String(r.mentee_count ?? 0) })));
	return [
		h('h2', { text: t('mg_tab_rooms') }),
		rows.length ? table('mg-rooms', t('mg_rooms_caption'), [t('mg_room_name'), t('mg_kind'), t('mg_state'), t('mg_mentor'), t('mg_mentees')], rows)
			: h('p', { text: t('mg_no_rooms') }),
		h('h3', { text: t('mg_room_new') }), form,
	];
}

async function roomTab(p, rid) {
	const pid = Number(p.id);
	const room = (await call('room.show', { room_id: rid })).room ?? {};
	const again = (msg) => renderProgramme(pid, 'rooms', rid).then(() => say(msg));
	const rows = (room.members ?? []).map((m) => h('tr', {},
		h('td', { text: String(m.username) }), h('td', { text: String(m.display_name ?? '') }),
		h('td', { text: t(`mg_role_${m.role}`) }), h('td', { text: when(m.added_at) }),
		h('td', {}, h('button', {
			type: 'button', class: 'mg-remove', 'data-user': m.username,
			onclick: async () => {
				try {
					await call('room.remove', { room_id: rid, username: String(m.username) });
					await again(t('mg_removed', { name: String(m.username) }));
				} catch (e) {
					fail(e);
				}
			},
			text: t('mg_remove'),
		}))));
	const add = h('form', { id: 'mg-add-form', novalidate: true },
		field('mg-add-user', t('username'), { required: true, autocapitalize: 'none', spellcheck: 'false', maxlength: 32 }),
		h('button', { type: 'submit', text: t('mg_add') }));
	submitting(add, async () => {
		const u = add.querySelector('#mg-add-user').value.trim().toLowerCase();
		if (!USERNAME.test(u))
			return say(t('mg_bad_username', { name: u }), 'error');
		await call('room.add', { room_id: rid, username: u });
		await again(t('mg_added', { name: u }));
		return undefined;
	});
	const rename = h('form', { id: 'mg-rename-form', novalidate: true },
		field('mg-rename-name', t('mg_room_name'), { required: true, maxlength: NAME_MAX, value: String(room.name ?? '') }, t('mg_room_name_hint')),
		h('button', { type: 'submit', text: t('mg_rename') }));
	submitting(rename, async () => {
		const name = rename.querySelector('#mg-rename-name').value.trim();
		if (!name || [...name].length > NAME_MAX)
			return say(t('mg_name_range'), 'error');
		await call('room.rename', { room_id: rid, name });
		await again(t('mg_renamed', { name }));
		return undefined;
	});
	const agreement = h('div', { id: 'mg-agreement' },
		h('button', { type: 'button', id: 'mg-sign-start', onclick: () => agreementPanel(pid, rid, agreement), text: t('mg_sign_open') }));
	return [
		h('button', { type: 'button', class: 'link', id: 'mg-rooms-back', onclick: () => renderProgramme(pid, 'rooms'), text: t('mg_rooms_back') }),
		h('h2', { id: 'mg-room-title', text: `${String(room.name ?? '')} #${rid}`.trim() }),
		h('p', { class: 'hint', text: `${room.kind === 'group' ? t('room_kind_group') : t('room_kind_pair')} · ${t(`mg_status_${room.status === 'ready' ? 'ready' : 'incomplete'}`)}` }),
		rows.length ? table('mg-members', t('mg_members_caption'), [t('username'), t('mg_display'), t('mg_role'), t('mg_added_at'), t('mg_actions')], rows)
			: h('p', { text: t('mg_no_members') }),
		h('h3', { text: t('mg_add_title') }), add,
		h('h3', { text: t('mg_rename_title') }), rename,
		h('h3', { text: t('agreement_title') }), h('p', { class: 'hint', text: t('mg_sign_hint') }), agreement,
	];
}

// The manager party's signature: the core checks the version and signs exactly what is shown.
async function agreementPanel(pid, rid, box) {
	box.replaceChildren(h('p', { text: t('loading') }));
	let preview;
	try {
		preview = await app.state.client.command({ cmd: 'agreement.sign', room: rid, preview: true });
	} catch (e) {
		box.replaceChildren(alertBox(errorText(e)));
		return;
	}
	if (preview.state !== 'preview') {
		const waiting = Array.isArray(preview.waiting) && preview.waiting.length
			? t('waiting_for', { names: preview.waiting.map(String).join(', ') }) : '';
		box.replaceChildren(h('p', { id: 'mg-sign-state', text: `${t('signed', { version: preview.version })} ${waiting}`.trim() }));
		return;
	}
	const v = preview.view ?? {};
	const form = h('form', { id: 'mg-sign-form', novalidate: true },
		h('div', { class: 'document', id: 'mg-terms', tabindex: '0', role: 'document', 'aria-label': t('agreement_title'), text: String(v.terms ?? '') }),
		h('ul', { class: 'parties' }, (v.parties ?? []).map((x) => h('li', {}, h('strong', { text: String(x.username) }), ` (${String(x.role)}) `, h('code', { text: String(x.fingerprint) })))),
		h('div', { class: 'field check' },
			h('input', { type: 'checkbox', id: 'mg-sign-accept', required: true }),
			h('label', { for: 'mg-sign-accept', text: t('agreement_accept') })),
		h('button', { type: 'submit', class: 'primary', text: t('sign') }));
	submitting(form, async () => {
		if (!form.querySelector('#mg-sign-accept').checked)
			return say(t('must_accept'), 'error');
		await app.state.client.command({ cmd: 'agreement.sign', room: rid, version: preview.version });
		await renderProgramme(pid, 'rooms', rid);
		say(t('signed', { version: preview.version }));
		return undefined;
	});
	box.replaceChildren(h('p', { class: 'hint', text: `${t('agreement_period', { from: String(v.starts_on ?? ''), to: String(v.ends_on ?? '') })} · v${preview.version}` }), form);
	form.querySelector('#mg-terms').focus();
}

// --- agreement template ------------------------------------------------------------

async function templateTab(p) {
	const pid = Number(p.id);
	const tpl = await call('agreement.template.get', { programme_id: pid });
	const text = h('textarea', { id: 'mg-template-text', name: 'template', rows: 16, maxlength: TEMPLATE_MAX, 'aria-describedby': 'mg-template-hint' });
	text.value = String(tpl.text ?? '');
	const form = h('form', { id: 'mg-template-form', novalidate: true },
		h('div', { class: 'field' }, h('label', { for: 'mg-template-text', text: t('mg_template_label') }), text,
			h('p', { class: 'hint', id: 'mg-template-hint', text: t('mg_template_hint') })),
		h('button', { type: 'submit', class: 'primary', text: t('mg_save') }));
	submitting(form, async () => {
		// as `agreement template edit`: CRLF becomes LF, other control characters are refused
		const body = text.value.replace(/\r\n/g, '\n');
		if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(body))
			return say(t('mg_template_control'), 'error');
		const bytes = new TextEncoder().encode(body).length;
		if (!bytes || bytes > TEMPLATE_MAX)
			return say(t('mg_template_size', { max: TEMPLATE_MAX }), 'error');
		await call('agreement.template.set', { programme_id: pid, text: body });
		await renderProgramme(pid, 'template');
		say(t('mg_template_saved', { bytes }));
		return undefined;
	});
	const dflt = (lang) => h('button', {
		type: 'button', id: `mg-template-${lang}`,
		onclick: async () => {
			try {
				await call('agreement.template.set', { programme_id: pid, lang });
				await renderProgramme(pid, 'template');
				say(t('mg_template_default_set', { lang: t(`mg_lang_${lang}`) }));
			} catch (e) {
				fail(e);
			}
		},
		text: t('mg_template_default', { lang: t(`mg_lang_${lang}`) }),
	});
	const source = tpl.lang ? t('mg_template_default_is', { lang: t(`mg_lang_${tpl.lang}`) }) : t('mg_template_own');
	return [
		h('h2', { text: t('mg_tab_template') }),
		h('p', { class: 'hint', id: 'mg-template-source', text: `${source} · ${t('mg_updated', { when: when(tpl.updated_at) })}` }),
		h('p', { class: 'hint', text: t('mg_template_intro') }),
		form,
		h('div', { class: 'row' }, dflt('en'), dflt('pl')),
	];
}

// --- the audit dashboard ------------------------------------------------------------

// audit.report, every page (at most 200 rooms an answer), as `ementor audit` does
async function report(pid, format) {
	const first = await call('audit.report', { programme_id: pid, format });
	const rooms = first.rooms ?? [];
	while (rooms.length < Number(first.rooms_total ?? 0)) {
		const page = await call('audit.report', { programme_id: pid, format, offset: rooms.length });
		if (!page.rooms?.length)
			break;
		rooms.push(...page.rooms);
	}
	first.rooms = rooms;
	return first;
}

function svg(tag, attrs = {}, ...children) {
	const el = document.createElementNS(SVG, tag);
	for (const [k, v] of Object.entries(attrs))
		el.setAttribute(k, String(v));
	for (const c of children)
		el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	return el;
}

// The last 12 weeks up to the report's `now` (UTC weeks from Monday), oldest first,
// a week the server did not list (nothing sent) as 0: as `ementor audit` shows them.
function twelveWeeks(listed, now) {
	const DAY = 86400000;
	const today = Math.floor(Date.parse(String(now ?? '').slice(0, 10)) / DAY);
	if (!Number.isFinite(today))
		return [];
	const monday = today - ((today + 3) % 7); // 1970-01-01 was a Thursday
	const weeks = [];
	for (let i = 11; i >= 0; i--)
		weeks.push({ week: new Date((monday - 7 * i) * DAY).toISOString().slice(0, 10), messages: 0, active_rooms: 0 });
	for (const w of listed ?? []) {
		const d = Math.floor(Date.parse(String(w?.week ?? '')) / DAY);
		if (!Number.isFinite(d) || d > monday || (monday - d) % 7)
			continue;
		const ago = (monday - d) / 7;
		if (ago < 12) {
			weeks[11 - ago].messages += num(w.messages) ?? 0;
			weeks[11 - ago].active_rooms += num(w.active_rooms) ?? 0;
		}
	}
	return weeks;
}

// The 12 weeks as bars (messages) and a line (active rooms); the same figures in a table.
function trendChart(weeks) {
	const W = 640;
	const H = 240;
	const pad = { l: 40, r: 40, t: 16, b: 44 };
	const maxMsg = Math.max(1, ...weeks.map((w) => num(w.messages) ?? 0));
	const maxRooms = Math.max(1, ...weeks.map((w) => num(w.active_rooms) ?? 0));
	const slot = (W - pad.l - pad.r) / Math.max(1, weeks.length);
	const y = (v, max) => pad.t + (H - pad.t - pad.b) * (1 - v / max);
	const chart = svg('svg', { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-labelledby': 'mg-chart-title mg-chart-desc', class: 'chart', id: 'mg-chart', focusable: 'false' },
		svg('title', { id: 'mg-chart-title' }, t('mg_trend_title')),
		svg('desc', { id: 'mg-chart-desc' }, t('mg_trend_desc')));
	chart.append(svg('line', { x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b, class: 'axis' }));
	chart.append(svg('text', { x: pad.l - 6, y: pad.t + 4, 'text-anchor': 'end', class: 'tick' }, String(maxMsg)));
	chart.append(svg('text', { x: pad.l - 6, y: H - pad.b, 'text-anchor': 'end', class: 'tick' }, '0'));
	chart.append(svg('text', { x: W - pad.r + 6, y: pad.t + 4, class: 'tick line-tick' }, String(maxRooms)));
	const points = [];
	weeks.forEach((w, i) => {
		const m = num(w.messages) ?? 0;
		const x = pad.l + i * slot;
		const top = y(m, maxMsg);
		chart.append(svg('rect', { x: x + slot * 0.15, y: top, width: slot * 0.7, height: Math.max(0, H - pad.b - top), class: 'bar', 'data-week': String(w.week ?? ''), 'data-messages': m }));
		points.push(`${x + slot / 2},${y(num(w.active_rooms) ?? 0, maxRooms)}`);
		if ((weeks.length - 1 - i) % 2 === 0 || weeks.length <= 6)
			chart.append(svg('text', { x: x + slot / 2, y: H - pad.b + 16, 'text-anchor': 'middle', class: 'tick' }, String(w.week ?? '').slice(5)));
	});
	chart.append(svg('polyline', { points: points.join(' '), class: 'line' }));
	for (const pt of points) {
		const [cx, cy] = pt.split(',');
		chart.append(svg('circle', { cx, cy, r: 3.5, class: 'dot' }));
	}
	const legend = h('p', { class: 'legend', 'aria-hidden': 'true' },
		h('span', { class: 'key bar-key' }), ` ${t('mg_messages')} `, h('span', { class: 'key line-key' }), ` ${t('mg_active_rooms')}`);
	const rows = weeks.map((w) => h('tr', {}, h('th', { scope: 'row', text: String(w.week ?? '') }),
		h('td', { text: figure(w.messages) }), h('td', { text: figure(w.active_rooms) })));
	const data = h('details', { class: 'figures' }, h('summary', { text: t('mg_trend_table') }),
		table('mg-weeks', t('mg_trend_caption'), [t('mg_week'), t('mg_messages'), t('mg_active_rooms')], rows));
	return h('figure', { class: 'trend' }, chart, legend, data);
}

function flagText(f) {
	const code = String(f?.code ?? '');
	return FLAG_CODES.includes(code) ? t(`mg_flag_${code}`) : code;
}

function summaryList(r) {
	const s = r.summary ?? {};
	const item = (key, label, value) => [h('dt', { text: label }), h('dd', { 'data-figure': key, text: value })];
	const flags = Object.entries(s.flags ?? {}).filter(([, n]) => num(n));
	return h('dl', { class: 'summary', id: 'mg-summary' },
		item('rooms', t('mg_sum_rooms'), figure(s.rooms)),
		item('active_rooms', t('mg_active_rooms'), `${figure(s.active_rooms)} (${percent(s.active_share)})`),
		item('messages', t('mg_messages'), figure(s.messages)),
		item('checkpoints', t('mg_sum_checkpoints'), `${figure(s.checkpoints_held)} / ${figure(s.checkpoints)}`),
		item('checkpoint_completion', t('mg_sum_completion'), percent(s.checkpoint_completion)),
		item('sessions', t('mg_sum_sessions'), t('mg_sum_sessions_value', { held: figure(s.sessions_held), missed: figure(s.sessions_missed) })),
		item('median_response', t('mg_sum_response'), duration(s.median_response_s)),
		item('erased_members', t('mg_sum_erased'), figure(s.erased_members)),
		item('flags', t('mg_sum_flags'), flags.length ? flags.map(([c, n]) => `${flagText({ code: c })}: ${figure(n)}`).join('; ') : t('mg_none_flags')));
}

function checkpointsText(room) {
	return ['initial', 'midterm', 'final'].map((k) => {
		const c = (room.checkpoints ?? []).find((x) => x.kind === k);
		const st = String(c?.state ?? '');
		return `${t(`mg_cp_${k}`)}: ${CHECKPOINT_STATES.includes(st) ? t(`mg_cs_${st}`) : st || '–'}`;
	}).join(', ');
}

function agreementText(room) {
	const a = room.agreement ?? {};
	if (a.active_version)
		return t('mg_agreement_active', { version: a.active_version });
	const unsigned = (a.parties ?? []).filter((x) => !x.signed).length;
	return t('mg_agreement_pending', { n: unsigned });
}

function membersTable(room) {
	const rows = (room.members ?? []).map((m) => h('tr', {},
		h('th', { scope: 'row', text: String(m.username ?? t('mg_erased')) }),
		h('td', { text: t(`mg_role_${m.role}`) }),
		h('td', { 'data-figure': 'messages', text: figure(m.messages) }),
		h('td', { text: figure(m.messages_last_week) }),
		h('td', { text: figure(m.messages_per_week) }),
		h('td', { text: figure(m.days_inactive) }),
		h('td', { text: m.never_logged_in ? t('mg_never') : (m.last_login_at ? when(m.last_login_at) : '–') }),
		h('td', { text: m.agreement ? t(`mg_ag_${m.agreement}`) : '–' }),
		h('td', { text: `${figure(m.attended)} / ${figure(m.absent)}` })));
	return table('mg-room-members', t('mg_room_members_caption', { room: String(room.name ?? `#${room.room_id}`) }),
		[t('username'), t('mg_role'), t('mg_messages'), t('mg_last_week'), t('mg_per_week'), t('mg_days_inactive'), t('mg_last_login'), t('agreement_title'), t('mg_attended')], rows);
}

// --- CSV: the CLI's `audit --csv`, column for column (RFC 4180, CRLF, formula guard)

const CSV_HEAD = ['room_id', 'room', 'kind', 'user', 'role', 'messages', 'messages_last_week',
	'messages_per_week', 'last_sent_at', 'days_inactive', 'never_logged_in', 'agreement',
	'room_messages', 'room_days_inactive', 'mentor_median_s', 'mentor_p90_s', 'mentee_median_s',
	'mentee_p90_s', 'read_median_s', 'initial', 'midterm', 'final', 'late_changes', 'flags',
	'attended', 'absent'];

function csvNum(v) {
	if (typeof v !== 'number' || !Number.isFinite(v))
		return '';
	if (Number.isInteger(v) && Math.abs(v) < 1e12)
		return String(v);
	if (Math.abs(v) >= 1e12)
		return v.toPrecision(3);
	// printf's "%.1f" rounds an exact tie (x.25, x.75) to even; toFixed rounds it up
	if (Number.isInteger(v * 4) && !Number.isInteger(v * 2)) {
		const tenths = Math.floor(v * 10);
		return ((tenths % 2 === 0 ? tenths : tenths + 1) / 10).toFixed(1);
	}
	return v.toFixed(1);
}

function csvField(v, text) {
	let s = String(v ?? '');
	const quote = /[",\r\n]/.test(s);
	if (text && s && '=+-@\t\r'.includes(s[0]))
		s = `'${s}`;
	s = s.replace(/"/g, '""');
	return quote ? `"${s}"` : s;
}

export function auditCsv(r) {
	const lines = [CSV_HEAD.join(',')];
	for (const room of r.rooms ?? []) {
		const resp = room.response ?? {};
		const late = (room.checkpoints ?? []).reduce((a, c) => a + (num(c.late_changes) ?? 0), 0);
		const flags = [...new Set((room.flags ?? []).map((f) => String(f.code ?? '?')))].join(';');
		const cps = ['initial', 'midterm', 'final'].map((k) => (room.checkpoints ?? []).find((c) => c.kind === k)?.state ?? '');
		for (const m of room.members ?? []) {
			lines.push([
				csvField(csvNum(room.room_id)), csvField(room.name, true), csvField(room.kind),
				csvField(m.username, true), csvField(m.role), csvField(csvNum(m.messages)),
				csvField(csvNum(m.messages_last_week)), csvField(csvNum(m.messages_per_week)),
				csvField(m.last_sent_at ?? ''), csvField(csvNum(m.days_inactive)),
				m.never_logged_in === true ? 'true' : 'false', csvField(typeof m.agreement === 'string' ? m.agreement : ''),
				csvField(csvNum(room.messages)), csvField(csvNum(room.days_inactive)),
				csvField(csvNum(resp.mentor?.median_s)), csvField(csvNum(resp.mentor?.p90_s)),
				csvField(csvNum(resp.mentee?.median_s)), csvField(csvNum(resp.mentee?.p90_s)),
				csvField(csvNum(room.read_median_s)), ...cps.map((s) => csvField(s)),
				String(late), csvField(flags), csvField(csvNum(m.attended)), csvField(csvNum(m.absent)),
			].join(','));
		}
	}
	return `${lines.join('\r\n')}\r\n`;
}

async function downloadCsv(pid) {
	const r = await report(pid, 'csv');
	const blob = new Blob([auditCsv(r)], { type: 'text/csv;charset=utf-8' });
	const url = URL.createObjectURL(blob);
	const a = h('a', { href: url, download: `ementor-audit-programme-${pid}.csv`, class: 'sr-only' });
	document.body.append(a);
	a.click();
	a.remove();
	setTimeout(() => URL.revokeObjectURL(url), 10000);
	say(t('mg_csv_done'));
}

// --- contact: announcements and support rooms (PROTOCOL.md 15) -----------------------

// An announcement (the core encrypts it once, signs it, and seals its key to each recipient it
// shows first: the list is the server's word, so the manager sees it before sending) and a
// support room with one mentor or mentee.
function contactTab(p) {
	const pid = Number(p.id);
	const audience = h('select', { id: 'mg-ann-to', name: 'mg-ann-to' },
		h('option', { value: 'all', text: t('mg_ann_all') }), h('option', { value: 'mentors', text: t('mg_ann_mentors') }));
	const text = h('textarea', { id: 'mg-ann-text', name: 'mg-ann-text', rows: 4, maxlength: 2000 });
	const who = h('div', { id: 'mg-ann-who', 'aria-live': 'polite' });
	let shown = null; // the recipients the manager saw: { to, ids }
	const ann = h('form', { id: 'mg-ann-form', novalidate: true },
		h('div', { class: 'field' }, h('label', { for: 'mg-ann-to', text: t('mg_ann_to') }), audience),
		h('div', { class: 'field' }, h('label', { for: 'mg-ann-text', text: t('mg_ann_text') }), text),
		who,
		h('button', { type: 'submit', class: 'primary', id: 'mg-ann-submit', text: t('mg_ann_check') }));
	audience.addEventListener('change', () => {
		shown = null;
		who.replaceChildren();
		ann.querySelector('#mg-ann-submit').textContent = t('mg_ann_check');
	});
	submitting(ann, async () => {
		const body = text.value.trim();
		if (!body || new TextEncoder().encode(body).length > 2000)
			return say(t('mg_ann_need_text'), 'error');
		if (!shown || shown.to !== audience.value) {
			const r = await app.state.client.command({ cmd: 'announce.recipients', programme: pid, to: audience.value });
			const people = Array.isArray(r?.recipients) ? r.recipients : [];
			shown = { to: audience.value, ids: people.map((x) => Number(x.user_id)) };
			who.replaceChildren(h('p', { text: t('mg_ann_reaches', { n: people.length }) }),
				h('ul', { id: 'mg-ann-people' }, people.map((x) => h('li', { text: `${String(x.username ?? '?')} (${String(x.role ?? '?')})${x.changed ? ` — ${t('mg_ann_changed')}` : ''}` }))));
			ann.querySelector('#mg-ann-submit').textContent = t('mg_ann_send', { n: people.length });
			return undefined;
		}
		const r = await app.state.client.command({ cmd: 'announce.send', programme: pid, to: shown.to, text: body, expect: shown.ids });
		say(t('mg_ann_sent', { n: shown.ids.length - (Array.isArray(r?.skipped) ? r.skipped.length : 0) }));
		text.value = '';
		shown = null;
		who.replaceChildren();
		ann.querySelector('#mg-ann-submit').textContent = t('mg_ann_check');
		return undefined;
	});
	const user = h('input', { id: 'mg-support-user', name: 'mg-support-user', type: 'text', maxlength: 32, autocomplete: 'off' });
	const support = h('form', { id: 'mg-support-form', novalidate: true },
		h('div', { class: 'field' }, h('label', { for: 'mg-support-user', text: t('mg_support_user') }), user),
		h('button', { type: 'submit', class: 'primary', text: t('mg_support_open') }));
	submitting(support, async () => {
		const name = user.value.trim();
		if (!name)
			return say(t('mg_support_need_user'), 'error');
		const r = await call('support.open', { programme_id: pid, username: name });
		const id = Number(r?.room?.id);
		if (Number.isSafeInteger(id) && id > 0)
			await app.openRoom(id);
		return undefined;
	});
	return [h('h2', { id: 'mg-contact-title', text: t('mg_tab_contact') }),
		h('h3', { text: t('mg_ann_title') }), h('p', { class: 'hint', text: t('mg_ann_intro') }), ann,
		h('h3', { text: t('mg_support_title') }), h('p', { class: 'hint', text: t('mg_support_intro') }), support];
}

// --- concern reports and change requests (reports.mjs checks and shows each) -------

async function reportsTab(p) {
	const pid = Number(p.id);
	return [h('h2', { id: 'mg-reports-title', text: t('mg_tab_reports') }),
		h('p', { class: 'hint', text: t('rp_manager_intro') }),
		...await reportList(pid, () => renderProgramme(pid, 'reports'))];
}

async function dashboardTab(p) {
	const pid = Number(p.id);
	const r = await report(pid, 'table');
	const rooms = r.rooms ?? [];
	const detail = h('div', { id: 'mg-room-detail' });
	const rows = rooms.map((room) => h('tr', { 'data-room': room.room_id },
		h('th', { scope: 'row' }, h('button', {
			type: 'button', class: 'link', 'data-room': room.room_id,
			onclick: () => {
				const flags = (room.flags ?? []).map((f) => h('li', { text: `${flagText(f)}${f.detail ? ` (${String(f.detail)})` : ''}` }));
				detail.replaceChildren(h('h3', { id: 'mg-detail-title', tabindex: '-1', text: t('mg_room_members_title', { room: String(room.name ?? `#${room.room_id}`) }) }),
					membersTable(room),
					h('p', { text: t('mg_room_flags') }),
					flags.length ? h('ul', { id: 'mg-room-flags' }, flags) : h('p', { class: 'hint', text: t('mg_none_flags') }));
				detail.querySelector('h3').focus();
			},
			text: String(room.name ?? `#${room.room_id}`),
		})),
		h('td', { text: room.kind === 'group' ? t('room_kind_group') : t('room_kind_pair') }),
		h('td', { 'data-figure': 'messages', text: figure(room.messages) }),
		h('td', { text: figure(room.days_inactive) }),
		h('td', { text: duration(room.response?.mentor?.median_s) }),
		h('td', { text: agreementText(room) }),
		h('td', { text: checkpointsText(room) }),
		h('td', { class: (room.flags ?? []).length ? 'flagged' : null, text: (room.flags ?? []).length ? [...new Set(room.flags.map(flagText))].join('; ') : '–' })));
	const th = r.programme?.thresholds ?? {};
	const thForm = h('form', { id: 'mg-thresholds-form', novalidate: true },
		field('mg-th-inactive', t('mg_th_inactive'), { type: 'number', min: 1, max: 365, value: th.inactive_days ?? '', inputmode: 'numeric' }),
		field('mg-th-unsigned', t('mg_th_unsigned'), { type: 'number', min: 0, max: 365, value: th.unsigned_days ?? '', inputmode: 'numeric' }),
		field('mg-th-never', t('mg_th_never'), { type: 'number', min: 0, max: 365, value: th.never_logged_in_days ?? '', inputmode: 'numeric' }),
		h('button', { type: 'submit', text: t('mg_save') }));
	submitting(thForm, async () => {
		const args = { programme_id: pid };
		for (const [id, key, min] of [['mg-th-inactive', 'inactive_days', 1], ['mg-th-unsigned', 'unsigned_days', 0], ['mg-th-never', 'never_logged_in_days', 0]]) {
			const raw = thForm.querySelector(`#${id}`).value.trim();
			if (raw === '')
				continue;
			const v = Number(raw);
			if (!Number.isInteger(v) || v < min || v > 365)
				return say(t('mg_th_range', { min }), 'error');
			args[key] = v;
		}
		await call('audit.thresholds', args);
		await renderProgramme(pid, 'dashboard');
		say(t('mg_saved'));
		return undefined;
	});
	return [
		h('h2', { text: t('mg_tab_dashboard') }),
		h('p', { class: 'hint', text: t('mg_dash_intro', { when: when(r.now) }) }),
		h('h3', { text: t('mg_summary') }), summaryList(r),
		h('h3', { text: t('mg_trend_title') }), trendChart(twelveWeeks(r.summary?.weeks, r.now)),
		h('h3', { text: t('mg_rooms_title') }),
		rows.length ? table('mg-audit-rooms', t('mg_audit_rooms_caption'),
			[t('mg_room_name'), t('mg_kind'), t('mg_messages'), t('mg_days_inactive'), t('mg_mentor_response'), t('agreement_title'), t('mg_checkpoints'), t('mg_flags')], rows)
			: h('p', { text: t('mg_no_rooms') }),
		detail,
		h('h3', { text: t('mg_csv_title') }),
		h('p', { class: 'hint', text: t('mg_csv_hint') }),
		h('button', { type: 'button', id: 'mg-csv', onclick: () => downloadCsv(pid).catch(fail), text: t('mg_csv') }),
		h('h3', { text: t('mg_thresholds') }), thForm,
	];
}
