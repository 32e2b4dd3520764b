// meetings.mjs - a room's meetings in the web app: its three face-to-face
// checkpoints (initial, mid-term, final) and the further sessions of its
// plan (PROTOCOL.md 6, 6.4), with what the CLI's `checkpoint` and `meeting`
// commands do: propose times, accept or decline one, reschedule or cancel
// with a reason, say you cannot come, record attendance (the room's mentor)
// or your own word on it, set a meeting's topic, plan a session; and the
// calendar feed's secret URL to copy into a calendar app.
//
// The plan comes from the core's "meeting.plan" (every topic verified with
// the author's pinned key and opened on this device; one that fails is shown
// as unverifiable, never left out) and a topic goes out through the core's
// "meeting.topic" (sealed and signed there). Times, places, reasons and
// attendance are not confidential (the server sends reminders and serves
// calendar feeds): they go through plain "call" operations, after the same
// checks as the CLI's (client/cmd_checkpoint.c): 1 to 5 distinct times, 5 to
// 600 minutes, a place or reason of 1 to 200 characters on one line, and a
// local time that exists once in this browser's time zone. Whether a time
// is inside the window or in the past is the server's call.
//
// Thread: the page's event loop.

import { language, t } from './i18n.mjs';
import { alertBox, app, errorText, field, h, show, status } from './ui.mjs';

const SLOTS_MAX = 5; // EM_CHECKPOINT_SLOTS_MAX
const MINUTES_MIN = 5;
const MINUTES_MAX = 600;
const TEXT_MAX = 200; // EM_CHECKPOINT_TEXT_MAX, in characters
const TOPIC_MAX = 1000; // EM_TOPIC_TEXT_MAX, in bytes
const DEFAULT_MINUTES = 60;

// --- times and words ----------------------------------------------------------

// The browser's own locale when it speaks the app's language, else the app's language.
function locale() {
	const lang = language();
	return (navigator.languages ?? []).find((l) => String(l).toLowerCase().split('-')[0] === lang) ?? lang;
}

export function whenLocal(ts) {
	const d = new Date(ts);
	if (!ts || Number.isNaN(d.getTime()))
		return String(ts ?? '');
	return new Intl.DateTimeFormat(locale(), { weekday: 'short', year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', timeZoneName: 'short' }).format(d);
}

// A date of a window (YYYY-MM-DD, a UTC date) in the browser's locale.
function dayLocal(date) {
	const d = new Date(`${date}T00:00:00Z`);
	if (!/^\d{4}-\d{2}-\d{2}$/.test(String(date ?? '')) || Number.isNaN(d.getTime()))
		return String(date ?? '?');
	return new Intl.DateTimeFormat(locale(), { dateStyle: 'medium', timeZone: 'UTC' }).format(d);
}

/*
 * A local date and time typed in <input type=date> / <input type=time> as the
 * server's UTC minute "YYYY-MM-DDTHH:MM:00Z", or { error } as the CLI refuses
 * it: not a time, skipped by a clock change, or there twice (the clock goes back).
 */
export function localToUtc(date, time) {
	const dm = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date ?? '');
	const tm = /^(\d{2}):(\d{2})(?::\d{2}(?:\.\d+)?)?$/.exec(time ?? '');
	if (!dm || !tm)
		return { error: 'mt_time_bad' };
	const [y, mo, d, hh, mi] = [+dm[1], +dm[2] - 1, +dm[3], +tm[1], +tm[2]];
	const at = new Date(y, mo, d, hh, mi, 0, 0);
	const same = (x) => x.getFullYear() === y && x.getMonth() === mo && x.getDate() === d && x.getHours() === hh && x.getMinutes() === mi;
	if (Number.isNaN(at.getTime()) || mo > 11 || hh > 23 || mi > 59)
		return { error: 'mt_time_bad' };
	if (!same(at))
		return { error: at.getMonth() === mo && at.getDate() === d ? 'mt_time_skipped' : 'mt_time_bad' };
	// the same wall-clock minute an hour (or half an hour) either side: a clock that goes back
	for (const shift of [-3600e3, 3600e3, -1800e3, 1800e3])
		if (same(new Date(at.getTime() + shift)))
			return { error: 'mt_time_ambiguous' };
	return { utc: `${at.toISOString().slice(0, 16)}:00Z` };
}

// A place or reason: 1 to 200 characters, one line, no control characters. null or an error key.
export function checkLine(text) {
	const chars = [...text];
	if (!chars.length)
		return 'mt_text_empty';
	if (chars.some((c) => c.codePointAt(0) < 0x20 || c.codePointAt(0) === 0x7f))
		return 'mt_text_control';
	if (chars.length > TEXT_MAX)
		return 'mt_text_long';
	return null;
}

function kindName(m) {
	if (m.kind === 'session')
		return m.mode === 'online' ? t('mt_kind_session_online') : t('mt_kind_session');
	return t(`mt_kind_${m.kind}`) === `mt_kind_${m.kind}` ? String(m.kind) : t(`mt_kind_${m.kind}`);
}

function stateName(state) {
	const key = `mt_state_${state}`;
	return t(key) === key ? String(state) : t(key);
}

function slotText(slot) {
	return t('mt_slot', { when: whenLocal(slot.starts_at), minutes: Number(slot.minutes), place: String(slot.place ?? '-') });
}

function myRole(m) {
	return (m.participants ?? []).find((p) => p.username === app.state.username)?.role ?? null;
}

const READ_WAIT_MS = 20000;

/**
 * A read that may be asked again (a plan, a list, an export): when the link
 * drops under it ("unreachable"), or no answer comes within READ_WAIT_MS (the
 * command is cancelled and the link made afresh; the core resumes the
 * session on it, as app.mjs does for a room's agreement), it is asked again,
 * three times in all. Changes are never repeated this way: the server may
 * have done them before the link dropped.
 */
export async function readAgain(ask) {
	for (let attempt = 1; ; attempt++) {
		const client = app.state.client;
		let timer = null;
		try {
			await client.linked();
			const asked = ask();
			const late = new Promise((resolve, reject) => {
				timer = setTimeout(() => {
					reject(Object.assign(new Error('no answer from the server'), { code: 'unreachable' }));
					client.cancel(asked);
					client.disconnect();
					client.reconnect = true;
					setTimeout(() => client.connect(), 500);
				}, READ_WAIT_MS);
			});
			return await Promise.race([asked, late]);
		} catch (e) {
			if (e?.code !== 'unreachable' || attempt >= 3 || app.state.client !== client)
				throw e;
		} finally {
			clearTimeout(timer);
		}
	}
}

// --- the screen -------------------------------------------------------------------

/** The meetings of room `roomId` (its name for the heading); `back` returns to the room. */
export async function renderMeetings(roomId, roomName, note = null) {
	const state = app.state;
	await app.leaveRoom?.();
	const render = () => renderMeetings(roomId, roomName);
	state.render = render;
	const title = t('mt_title', { room: roomName ?? `#${roomId}` });
	const backRoom = h('button', { type: 'button', class: 'link', id: 'meetings-back', onclick: () => app.openRoom(roomId), text: t('mt_back_room') });
	const backHome = h('button', { type: 'button', class: 'link', id: 'meetings-home', onclick: () => app.home(), text: t('back') });
	show(h('section', { class: 'card' }, h('div', { class: 'room-head' }, backRoom, backHome), h('h1', { text: title }), h('p', { text: t('loading') })));
	let plan = null;
	let problem = null;
	try {
		plan = await readAgain(() => state.client.command({ cmd: 'meeting.plan', room: roomId }));
	} catch (e) {
		problem = errorText(e);
	}
	if (state.render !== render)
		return; // another view meanwhile
	const list = h('div', { id: 'meetings', class: 'meetings' });
	for (const m of plan?.meetings ?? [])
		list.append(meetingCard(roomId, roomName, m, plan.now));
	const iAmMentor = (plan?.meetings ?? []).some((m) => myRole(m) === 'mentor');
	show(h('section', { class: 'card', 'aria-labelledby': 'meetings-title' },
		h('div', { class: 'room-head' }, backRoom, backHome),
		h('h1', { id: 'meetings-title', text: title }),
		h('p', { class: 'hint', text: t('mt_intro') }),
		h('button', { type: 'button', id: 'meetings-refresh', onclick: () => renderMeetings(roomId, roomName), text: t('refresh') }),
		note ? h('p', { class: 'alert info', role: 'status', id: 'meetings-note', text: note }) : null,
		problem ? alertBox(problem) : null,
		plan ? list : null,
		plan ? sessionPlanner(roomId, roomName, iAmMentor || (plan.meetings ?? []).some((m) => myRole(m) === 'mentee')) : null,
		calendarPanel()));
}

function meetingCard(roomId, roomName, m, now) {
	const id = Number(m.id);
	const role = myRole(m);
	const open = m.state === 'open' || m.state === 'cancelled';
	const live = m.state !== 'held' && m.state !== 'missed' && m.state !== 'cancelled';
	const started = m.confirmed_slot && new Date(m.confirmed_slot.starts_at) <= new Date(now ?? Date.now());
	const panel = h('div', { class: 'mt-panel', id: `mt-${id}-panel` });
	const details = h('dl', { class: 'mt-details' });
	const row = (label, ...value) => details.append(h('dt', { text: label }), h('dd', {}, ...value));

	row(t('mt_state'), h('span', { class: `mt-state ${String(m.state)}`, 'data-state': String(m.state), text: stateName(m.state) }));
	if (m.kind !== 'session')
		row(t('mt_window'), t('mt_window_dates', { from: dayLocal(m.opens_on), to: dayLocal(m.closes_on) }));
	if (m.confirmed_slot)
		row(m.state === 'open' ? t('mt_was') : t('mt_when'), h('span', { class: 'mt-confirmed', text: slotText(m.confirmed_slot) }));
	row(t('mt_participants'), (m.participants ?? []).map((p) => `${p.username} (${t(`role_${p.role}`) === `role_${p.role}` ? p.role : t(`role_${p.role}`)})`).join(', ') || '-');
	if (m.topic) {
		const topic = m.topic;
		row(t('mt_topic'), topic.text !== undefined
			? h('span', { class: 'mt-topic' }, String(topic.text), ' ', h('span', { class: 'hint', text: t('mt_topic_by', { name: String(topic.author ?? '?'), revision: Number(topic.revision) }) }),
				topic.warning ? alertBox(`${t('warning')}: ${String(topic.warning)}`, 'warning') : null)
			: alertBox(t('mt_topic_bad', { why: String(topic.error ?? '?'), revision: Number(topic.revision) }), 'warning'));
	}
	for (const a of m.absences ?? [])
		row(t('mt_absent'), t('mt_absent_line', { name: String(a.username), when: whenLocal(a.at), reason: String(a.reason ?? '') }));
	const recorded = (m.attendance ?? []).filter((a) => typeof a.attended === 'boolean' || typeof a.confirmed === 'boolean');
	if (recorded.length)
		row(t('mt_attendance'), recorded.map((a) => `${a.username}: ${a.attended === true ? t('mt_present') : a.attended === false ? t('mt_not_present') : t('mt_not_recorded')}${typeof a.confirmed === 'boolean' ? ` (${t('mt_own_word')}: ${a.confirmed ? t('mt_present') : t('mt_not_present')})` : ''}`).join('; '));
	if (Number(m.late_changes) > 0)
		row(t('mt_late'), String(Number(m.late_changes)));
	for (const f of m.flags ?? [])
		row(t('mt_flag'), t(`mt_flag_${f}`) === `mt_flag_${f}` ? String(f) : t(`mt_flag_${f}`));
	for (const o of m.overlaps ?? [])
		row(t('mt_overlap'), t('mt_overlap_line', { name: String(o.username) }));

	const slots = h('ul', { class: 'mt-slots' });
	for (const s of m.slots ?? [])
		slots.append(slotItem(roomId, roomName, m, s));

	const actions = h('div', { class: 'mt-actions' });
	const action = (name, label, fn) => actions.append(h('button', { type: 'button', 'data-action': name, onclick: fn, text: label, 'aria-describedby': `mt-${id}-title` }));
	if (role) {
		if (open)
			action('propose', t('mt_propose'), () => slotForm(roomId, roomName, m, panel, 'propose'));
		if (live && (m.slots?.length || m.confirmed_slot))
			action('reschedule', t('mt_reschedule'), () => slotForm(roomId, roomName, m, panel, 'reschedule'));
		if (live)
			action('absent', t('mt_cannot_come'), () => reasonForm(roomId, roomName, m, panel, 'absent'));
		if (live && role === 'mentor' && m.state !== 'open')
			action('cancel', t('mt_cancel'), () => reasonForm(roomId, roomName, m, panel, 'cancel'));
		if (role === 'mentor' && started && ['confirmed', 'held', 'missed'].includes(m.state))
			action('record', t('mt_record'), () => recordForm(roomId, roomName, m, panel));
		if (started && ['confirmed', 'held', 'missed'].includes(m.state))
			action('attend', t('mt_my_word'), () => attendForm(roomId, roomName, m, panel));
		if (role === 'mentor' || role === 'mentee')
			action('topic', t('mt_set_topic'), () => topicForm(roomId, roomName, m, panel));
	}
	return h('article', { class: 'meeting', id: `mt-${id}`, 'data-meeting': id, 'data-kind': String(m.kind), 'aria-labelledby': `mt-${id}-title` },
		h('h2', { id: `mt-${id}-title`, text: kindName(m) }),
		details,
		(m.slots ?? []).length ? h('h3', { text: t('mt_proposed') }) : null,
		(m.slots ?? []).length ? slots : null,
		actions, panel);
}

function slotItem(roomId, roomName, m, s) {
	const me = app.state.username;
	const answers = s.answers ?? {};
	const yes = Object.keys(answers).filter((u) => answers[u] === true);
	const no = Object.keys(answers).filter((u) => answers[u] === false);
	const waiting = (m.participants ?? []).filter((p) => p.required && !(p.username in answers)).map((p) => p.username);
	if (m.manager_required && !(m.participants ?? []).some((p) => p.role === 'manager' && answers[p.username] === true))
		waiting.push(t('mt_a_manager'));
	const mine = answers[me];
	const label = slotText(s);
	const li = h('li', { class: 'mt-slot', 'data-slot': Number(s.id) },
		h('p', { class: 'mt-slot-when', text: label }),
		h('p', { class: 'hint', text: t('mt_slot_who', { by: String(s.proposed_by ?? '-'), yes: yes.join(', ') || '-', no: no.join(', ') || '-', waiting: waiting.join(', ') || '-' }) }),
		mine === true ? h('p', { class: 'hint', text: t('mt_you_accepted') }) : mine === false ? h('p', { class: 'hint', text: t('mt_you_declined') }) : null);
	if (myRole(m) && m.state === 'open') {
		const answer = (accept) => run(roomId, roomName, { op: 'checkpoint.answer', args: { slot_id: Number(s.id), accept } }, accept ? t('mt_done_accepted') : t('mt_done_declined'));
		li.append(h('div', { class: 'mt-actions' },
			mine !== true ? h('button', { type: 'button', class: 'primary', 'data-action': 'accept', 'aria-label': t('mt_accept_label', { slot: label }), onclick: () => answer(true), text: t('mt_accept') }) : null,
			mine !== false ? h('button', { type: 'button', 'data-action': 'decline', 'aria-label': t('mt_decline_label', { slot: label }), onclick: () => answer(false), text: t('mt_decline') }) : null));
	}
	return li;
}

// Sends one plain operation about a meeting, then shows the plan again with `done` (or the error).
async function run(roomId, roomName, { op, args }, done) {
	status(t('mt_working'));
	try {
		await app.state.client.command({ cmd: 'call', op, args });
		status('');
		await renderMeetings(roomId, roomName, done);
		return null;
	} catch (e) {
		status('');
		return errorText(e);
	}
}

// --- forms ------------------------------------------------------------------------

function openPanel(panel, titleText, form) {
	panel.replaceChildren(h('section', { class: 'panel', 'aria-label': titleText },
		h('h3', { tabindex: '-1', text: titleText }), form));
	panel.querySelector('h3').focus();
}

function formError(form, text) {
	form.querySelector('.form-error').replaceChildren(text ? alertBox(text) : '');
}

function submitRow(label, panel) {
	return h('div', { class: 'mt-actions' },
		h('button', { type: 'submit', class: 'primary', text: label }),
		h('button', { type: 'button', text: t('mt_close'), onclick: () => panel.replaceChildren() }));
}

// The rows of times (date and time inputs), up to SLOTS_MAX; returns { node, read() }.
function slotRows(prefix) {
	const rows = h('div', { class: 'mt-times' });
	const add = h('button', { type: 'button', 'data-action': 'add-time', text: t('mt_add_time') });
	let n = 0;
	const addRow = () => {
		const i = n++;
		rows.append(h('fieldset', { class: 'mt-time' },
			h('legend', { text: t('mt_time_n', { n: i + 1 }) }),
			h('div', { class: 'mt-time-inputs' },
				field(`${prefix}-date-${i}`, t('mt_date'), { type: 'date', required: i === 0 }),
				field(`${prefix}-time-${i}`, t('mt_time'), { type: 'time', required: i === 0 }))));
		add.hidden = n >= SLOTS_MAX;
	};
	add.addEventListener('click', () => {
		addRow();
		rows.lastElementChild.querySelector('input').focus();
	});
	addRow();
	return {
		node: h('div', {}, rows, add),
		read(form) {
			const times = [];
			for (let i = 0; i < n; i++) {
				const date = form.querySelector(`#${prefix}-date-${i}`).value;
				const time = form.querySelector(`#${prefix}-time-${i}`).value;
				if (!date && !time && i > 0)
					continue;
				const r = localToUtc(date, time);
				if (r.error)
					return { error: t(r.error, { n: i + 1 }) };
				if (times.includes(r.utc))
					return { error: t('mt_time_twice', { n: i + 1 }) };
				times.push(r.utc);
			}
			return times.length ? { times } : { error: t('mt_time_needed') };
		},
	};
}

// minutes and place as the CLI checks them; { minutes, place } or { error }
function readLength(form, prefix) {
	const raw = form.querySelector(`#${prefix}-minutes`).value.trim();
	const minutes = Number(raw);
	if (!/^\d+$/.test(raw) || minutes < MINUTES_MIN || minutes > MINUTES_MAX)
		return { error: t('mt_minutes_bad', { min: MINUTES_MIN, max: MINUTES_MAX }) };
	const place = form.querySelector(`#${prefix}-place`).value.trim();
	const bad = checkLine(place);
	if (bad)
		return { error: t(bad, { what: t('mt_place'), max: TEXT_MAX }) };
	return { minutes, place };
}

function slotForm(roomId, roomName, m, panel, kind) {
	const prefix = `mt-${m.id}-${kind}`;
	const times = slotRows(prefix);
	const form = h('form', { class: 'mt-form', id: `${prefix}-form`, novalidate: true },
		kind === 'reschedule' ? field(`${prefix}-reason`, t('mt_reason'), { maxlength: TEXT_MAX, required: true }, t('mt_not_confidential')) : null,
		times.node,
		field(`${prefix}-minutes`, t('mt_minutes'), { type: 'number', inputmode: 'numeric', min: MINUTES_MIN, max: MINUTES_MAX, value: DEFAULT_MINUTES, required: true }),
		field(`${prefix}-place`, t('mt_place'), { maxlength: TEXT_MAX, required: true }, t('mt_not_confidential')),
		h('div', { class: 'form-error' }),
		submitRow(kind === 'reschedule' ? t('mt_reschedule_send') : t('mt_propose_send'), panel));
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		let reason = null;
		if (kind === 'reschedule') {
			reason = form.querySelector(`#${prefix}-reason`).value.trim();
			const bad = checkLine(reason);
			if (bad) {
				formError(form, t(bad, { what: t('mt_reason'), max: TEXT_MAX }));
				return;
			}
		}
		const when = times.read(form);
		const len = when.error ? null : readLength(form, prefix);
		if (when.error || len.error) {
			formError(form, when.error ?? len.error);
			return;
		}
		const slots = when.times.map((starts) => ({ starts_at: starts, minutes: len.minutes, place: len.place }));
		const args = { checkpoint_id: Number(m.id), slots };
		if (reason)
			args.reason = reason;
		form.querySelector('button[type=submit]').disabled = true;
		const err = await run(roomId, roomName, { op: kind === 'reschedule' ? 'checkpoint.reschedule' : 'checkpoint.propose', args },
			kind === 'reschedule' ? t('mt_done_rescheduled', { n: slots.length }) : t('mt_done_proposed', { n: slots.length }));
		if (err && form.isConnected) {
			form.querySelector('button[type=submit]').disabled = false;
			formError(form, err);
		}
	});
	openPanel(panel, `${kindName(m)}: ${kind === 'reschedule' ? t('mt_reschedule') : t('mt_propose')}`, form);
}

function reasonForm(roomId, roomName, m, panel, kind) {
	const prefix = `mt-${m.id}-${kind}`;
	const form = h('form', { class: 'mt-form', id: `${prefix}-form`, novalidate: true },
		h('p', { text: kind === 'cancel' ? t('mt_cancel_intro') : t('mt_absent_intro') }),
		field(`${prefix}-reason`, t('mt_reason'), { maxlength: TEXT_MAX, required: true }, t('mt_not_confidential')),
		h('div', { class: 'form-error' }),
		submitRow(kind === 'cancel' ? t('mt_cancel_send') : t('mt_absent_send'), panel));
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const reason = form.querySelector(`#${prefix}-reason`).value.trim();
		const bad = checkLine(reason);
		if (bad) {
			formError(form, t(bad, { what: t('mt_reason'), max: TEXT_MAX }));
			return;
		}
		const err = await run(roomId, roomName, { op: kind === 'cancel' ? 'checkpoint.cancel' : 'checkpoint.absent', args: { checkpoint_id: Number(m.id), reason } },
			kind === 'cancel' ? t('mt_done_cancelled') : t('mt_done_absent'));
		if (err && form.isConnected)
			formError(form, err);
	});
	openPanel(panel, `${kindName(m)}: ${kind === 'cancel' ? t('mt_cancel') : t('mt_cannot_come')}`, form);
}

function recordForm(roomId, roomName, m, panel) {
	const prefix = `mt-${m.id}-record`;
	const people = (m.participants ?? []).map((p) => String(p.username));
	const held = h('fieldset', {},
		h('legend', { text: t('mt_record_held_q') }),
		h('div', { class: 'field check' }, h('input', { type: 'radio', name: `${prefix}-held`, id: `${prefix}-held`, value: 'held', checked: true }), h('label', { for: `${prefix}-held`, text: t('mt_held') })),
		h('div', { class: 'field check' }, h('input', { type: 'radio', name: `${prefix}-held`, id: `${prefix}-missed`, value: 'missed' }), h('label', { for: `${prefix}-missed`, text: t('mt_missed') })));
	const present = h('fieldset', {}, h('legend', { text: t('mt_who_present') }),
		people.map((u, i) => h('div', { class: 'field check' },
			h('input', { type: 'checkbox', id: `${prefix}-p-${i}`, value: u, checked: true }),
			h('label', { for: `${prefix}-p-${i}`, text: u }))));
	const form = h('form', { class: 'mt-form', id: `${prefix}-form`, novalidate: true }, held, present,
		h('div', { class: 'form-error' }), submitRow(t('mt_record_send'), panel));
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const wasHeld = form.querySelector(`#${prefix}-held`).checked;
		const args = { checkpoint_id: Number(m.id), held: wasHeld };
		if (wasHeld)
			args.present = [...present.querySelectorAll('input:checked')].map((i) => i.value);
		const err = await run(roomId, roomName, { op: 'checkpoint.record', args }, wasHeld ? t('mt_done_held') : t('mt_done_missed'));
		if (err && form.isConnected)
			formError(form, err);
	});
	openPanel(panel, `${kindName(m)}: ${t('mt_record')}`, form);
}

function attendForm(roomId, roomName, m, panel) {
	const prefix = `mt-${m.id}-attend`;
	const form = h('form', { class: 'mt-form', id: `${prefix}-form`, novalidate: true },
		h('fieldset', {}, h('legend', { text: t('mt_my_word_q') }),
			h('div', { class: 'field check' }, h('input', { type: 'radio', name: prefix, id: `${prefix}-yes`, value: 'yes', checked: true }), h('label', { for: `${prefix}-yes`, text: t('mt_i_was_there') })),
			h('div', { class: 'field check' }, h('input', { type: 'radio', name: prefix, id: `${prefix}-no`, value: 'no' }), h('label', { for: `${prefix}-no`, text: t('mt_i_was_not') }))),
		h('div', { class: 'form-error' }), submitRow(t('mt_record_send'), panel));
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const attended = form.querySelector(`#${prefix}-yes`).checked;
		const err = await run(roomId, roomName, { op: 'checkpoint.attend', args: { checkpoint_id: Number(m.id), attended } }, t('mt_done_word'));
		if (err && form.isConnected)
			formError(form, err);
	});
	openPanel(panel, `${kindName(m)}: ${t('mt_my_word')}`, form);
}

function topicBytesError(text) {
	const bytes = new TextEncoder().encode(text).length;
	return bytes < 1 || bytes > TOPIC_MAX ? t('mt_topic_size', { max: TOPIC_MAX, n: bytes }) : null;
}

function topicForm(roomId, roomName, m, panel) {
	const prefix = `mt-${m.id}-topic`;
	const text = h('textarea', { id: `${prefix}-text`, rows: 3, maxlength: TOPIC_MAX, required: true, 'aria-describedby': `${prefix}-hint` });
	if (m.topic?.text !== undefined)
		text.value = String(m.topic.text);
	const form = h('form', { class: 'mt-form', id: `${prefix}-form`, novalidate: true },
		h('div', { class: 'field' }, h('label', { for: `${prefix}-text`, text: t('mt_topic') }), text,
			h('p', { class: 'hint', id: `${prefix}-hint`, text: t('mt_topic_hint') })),
		h('div', { class: 'form-error' }), submitRow(t('mt_topic_send'), panel));
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const bad = topicBytesError(text.value);
		if (bad) {
			formError(form, bad);
			return;
		}
		status(t('mt_working'));
		try {
			await app.state.client.command({ cmd: 'meeting.topic', room: roomId, meeting: Number(m.id), text: text.value });
			status('');
			await renderMeetings(roomId, roomName, t('mt_done_topic'));
		} catch (ex) {
			status('');
			formError(form, errorText(ex));
		}
	});
	openPanel(panel, `${kindName(m)}: ${t('mt_set_topic')}`, form);
}

// A further session of the room's plan (meeting.add), with its first times and an optional topic.
function sessionPlanner(roomId, roomName, member) {
	if (!member)
		return null;
	const panel = h('div', { class: 'mt-panel', id: 'mt-add-panel' });
	const openForm = () => {
		const prefix = 'mt-add';
		const times = slotRows(prefix);
		const mode = h('select', { id: `${prefix}-mode` },
			h('option', { value: 'in_person', text: t('mt_mode_in_person') }), h('option', { value: 'online', text: t('mt_mode_online') }));
		const topic = h('textarea', { id: `${prefix}-topic`, rows: 2, maxlength: TOPIC_MAX, 'aria-describedby': `${prefix}-topic-hint` });
		const form = h('form', { class: 'mt-form', id: `${prefix}-form`, novalidate: true },
			h('div', { class: 'field' }, h('label', { for: `${prefix}-mode`, text: t('mt_mode') }), mode),
			times.node,
			field(`${prefix}-minutes`, t('mt_minutes'), { type: 'number', inputmode: 'numeric', min: MINUTES_MIN, max: MINUTES_MAX, value: DEFAULT_MINUTES, required: true }),
			field(`${prefix}-place`, t('mt_place_or_link'), { maxlength: TEXT_MAX, required: true }, t('mt_not_confidential')),
			h('div', { class: 'field' }, h('label', { for: `${prefix}-topic`, text: t('mt_topic_optional') }), topic,
				h('p', { class: 'hint', id: `${prefix}-topic-hint`, text: t('mt_topic_hint') })),
			h('div', { class: 'form-error' }), submitRow(t('mt_add_send'), panel));
		form.addEventListener('submit', async (e) => {
			e.preventDefault();
			const when = times.read(form);
			const len = when.error ? null : readLength(form, prefix);
			const topicBad = topic.value ? topicBytesError(topic.value) : null;
			if (when.error || len.error || topicBad) {
				formError(form, when.error ?? len.error ?? topicBad);
				return;
			}
			const slots = when.times.map((starts) => ({ starts_at: starts, minutes: len.minutes, place: len.place }));
			form.querySelector('button[type=submit]').disabled = true;
			status(t('mt_working'));
			let added = null;
			try {
				added = await app.state.client.command({ cmd: 'call', op: 'meeting.add', args: { room_id: roomId, mode: mode.value, slots } });
				if (topic.value)
					await app.state.client.command({ cmd: 'meeting.topic', room: roomId, meeting: Number(added.meeting?.id), text: topic.value });
				status('');
				await renderMeetings(roomId, roomName, t('mt_done_added'));
			} catch (ex) {
				status('');
				form.querySelector('button[type=submit]').disabled = false;
				formError(form, added ? t('mt_added_no_topic', { why: errorText(ex) }) : errorText(ex));
			}
		});
		openPanel(panel, t('mt_add'), form);
	};
	return h('section', { class: 'mt-plan', 'aria-labelledby': 'mt-add-title' },
		h('h2', { id: 'mt-add-title', text: t('mt_add_title') }),
		h('p', { class: 'hint', text: t('mt_add_intro') }),
		h('button', { type: 'button', id: 'mt-add', onclick: openForm, text: t('mt_add') }), panel);
}

// --- the calendar feed --------------------------------------------------------------

function calendarPanel() {
	const out = h('div', { id: 'calendar-out' });
	const make = async () => {
		status(t('mt_working'));
		try {
			const r = await app.state.client.command({ cmd: 'call', op: 'calendar.url', args: {} });
			status('');
			const url = String(r.url ?? '');
			const input = h('input', { id: 'calendar-url', type: 'text', readonly: true, value: url, 'aria-describedby': 'calendar-warning' });
			const copied = h('p', { class: 'hint', role: 'status', id: 'calendar-copied' });
			out.replaceChildren(
				h('div', { class: 'field' }, h('label', { for: 'calendar-url', text: t('cal_url') }), input),
				h('p', { class: 'alert warning', id: 'calendar-warning', text: t('cal_warning') }),
				h('div', { class: 'mt-actions' },
					h('button', {
						type: 'button', id: 'calendar-copy', class: 'primary', text: t('cal_copy'),
						onclick: async () => {
							input.select();
							try {
								await navigator.clipboard.writeText(url);
								copied.textContent = t('cal_copied');
							} catch {
								copied.textContent = t('cal_copy_by_hand');
							}
						},
					}),
					h('button', {
						type: 'button', id: 'calendar-revoke', text: t('cal_revoke'),
						onclick: async () => {
							try {
								await app.state.client.command({ cmd: 'call', op: 'calendar.revoke', args: {} });
								out.replaceChildren(h('p', { role: 'status', text: t('cal_revoked') }));
							} catch (e) {
								out.append(alertBox(errorText(e)));
							}
						},
					})),
				copied);
			input.focus();
			input.select();
		} catch (e) {
			status('');
			out.replaceChildren(alertBox(errorText(e)));
		}
	};
	return h('section', { class: 'mt-calendar', 'aria-labelledby': 'calendar-title' },
		h('h2', { id: 'calendar-title', text: t('cal_title') }),
		h('p', { class: 'hint', text: t('cal_intro') }),
		h('button', { type: 'button', id: 'calendar-make', onclick: make, text: t('cal_make') }), out);
}
