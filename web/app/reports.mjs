// reports.mjs - concern reports in the web app (`ementor report`, PROTOCOL.md
// 13, SECURITY.md "Concern reports"): in a room, a member picks messages and
// reports them to the programme's managers with a note, or asks privately
// for a change of mentor or group; "My reports" lists what they sent and how
// it was handled; a manager opens a report, sees each quoted message checked
// against its sender's signature, and records its handling with a note.
//
// Every check is the client core's (core/report.c in WebAssembly): the
// quotes are verified with the keys pinned on this device, and a quote or a
// handling step that fails is shown as UNVERIFIABLE with the core's reason,
// never with its text. The list (report.list) is the server's word and is
// shown as text only; it decides nothing. The other members of the room are
// not told that a report was made.
//
// Thread: the page's event loop.

import { t } from './i18n.mjs';
import { readAgain } from './meetings.mjs';
import { alertBox, app, errorText, h, show, status, when } from './ui.mjs';

const NOTE_MAX = 2000; // EM_REPORT_NOTE_MAX, UTF-8 bytes
const QUOTES_MAX = 20; // EM_REPORT_MESSAGES_MAX
const STATES = ['acknowledged', 'action_taken', 'closed'];

function bytes(s) {
	return new TextEncoder().encode(s).length;
}

function stateText(s) {
	const key = `rp_state_${s}`;
	return t(key) === key ? String(s ?? '?') : t(key);
}

function kindText(k) {
	return k === 'change_request' ? t('rp_kind_change') : t('rp_kind_concern');
}

// --- in a room: the report panel ------------------------------------------------

/** The "Report a concern" button of a room's conversation; the panel opens in #report-panel. */
export function reportButton(roomId) {
	return h('button', { type: 'button', id: 'report-open', onclick: () => openReportPanel(roomId), text: t('rp_open') });
}

function openReportPanel(roomId) {
	const panel = document.getElementById('report-panel');
	if (!panel)
		return;
	const state = app.state;
	const mine = (m) => m.sender === state.username;
	const candidates = [...state.messages.values()]
		.filter((m) => !mine(m) && m.text !== undefined)
		.sort((a, b) => a.seq - b.seq)
		.slice(-50);
	const list = h('ul', { class: 'report-pick', id: 'report-messages' }, candidates.map((m) => h('li', {},
		h('input', { type: 'checkbox', id: `report-seq-${m.seq}`, name: 'report-seq', value: String(m.seq) }),
		h('label', { for: `report-seq-${m.seq}` },
			h('strong', { text: String(m.sender ?? '?') }), ' ',
			h('time', { datetime: String(m.sent_at ?? ''), text: when(m.sent_at) }), ': ',
			String(m.text ?? '')))));
	const kind = h('fieldset', { class: 'field' },
		h('legend', { text: t('rp_kind') }),
		h('div', { class: 'check' },
			h('input', { type: 'radio', id: 'report-kind-concern', name: 'report-kind', value: 'concern', checked: true }),
			h('label', { for: 'report-kind-concern', text: t('rp_kind_concern') })),
		h('div', { class: 'check' },
			h('input', { type: 'radio', id: 'report-kind-change', name: 'report-kind', value: 'change_request' }),
			h('label', { for: 'report-kind-change', text: t('rp_kind_change') })));
	const note = h('textarea', { id: 'report-note', name: 'report-note', rows: 4, maxlength: NOTE_MAX, required: true, 'aria-describedby': 'report-note-hint' });
	const result = h('div', { id: 'report-result', 'aria-live': 'polite' });
	const form = h('form', { id: 'report-form', novalidate: true },
		kind,
		h('h3', { text: t('rp_pick') }),
		candidates.length ? list : h('p', { class: 'hint', text: t('rp_none_to_pick') }),
		h('div', { class: 'field' },
			h('label', { for: 'report-note', text: t('rp_note') }), note,
			h('p', { class: 'hint', id: 'report-note-hint', text: t('rp_note_hint') })),
		result,
		h('button', { type: 'submit', class: 'primary', text: t('rp_send') }),
		h('button', { type: 'button', onclick: () => panel.replaceChildren(), text: t('rp_cancel') }));
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const k = form.querySelector('input[name=report-kind]:checked')?.value ?? 'concern';
		const seqs = [...form.querySelectorAll('input[name=report-seq]:checked')].map((x) => Number(x.value));
		const text = note.value.trim();
		if (k === 'concern' && !seqs.length)
			return result.replaceChildren(alertBox(t('rp_need_messages')));
		if (seqs.length > QUOTES_MAX)
			return result.replaceChildren(alertBox(t('rp_too_many', { n: QUOTES_MAX })));
		if (!text)
			return result.replaceChildren(alertBox(t('rp_need_note')));
		if (bytes(text) > NOTE_MAX)
			return result.replaceChildren(alertBox(t('rp_note_long', { n: NOTE_MAX })));
		const button = form.querySelector('button[type=submit]');
		button.disabled = true;
		status(t('rp_sending'));
		try {
			const r = await state.client.command({ cmd: 'report.create', room: roomId, kind: k, seqs, note: text });
			status('');
			const readers = (Array.isArray(r.readers) ? r.readers : []).map(String).join(', ');
			panel.replaceChildren(h('section', { class: 'panel', id: 'report-sent' },
				h('p', { class: 'alert ok', role: 'status', text: t('rp_sent', { id: Number(r.report_id), readers }) }),
				h('p', { class: 'hint', text: t('rp_not_told') }),
				h('button', { type: 'button', id: 'report-mine', onclick: () => renderReports(), text: t('rp_mine') }),
				h('button', { type: 'button', onclick: () => panel.replaceChildren(), text: t('safety_close') })));
		} catch (ex) {
			status('');
			result.replaceChildren(alertBox(errorText(ex)));
			button.disabled = false;
		}
		return undefined;
	});
	panel.replaceChildren(h('section', { class: 'panel', 'aria-labelledby': 'report-title' },
		h('h2', { id: 'report-title', text: t('rp_title') }),
		h('p', { text: t('rp_intro') }),
		form));
	const heading = panel.querySelector('h2');
	heading.setAttribute('tabindex', '-1');
	heading.focus();
}

// --- lists ------------------------------------------------------------------------

/**
 * The reports the server lists (programmeId: one programme's, else every one
 * the user may see) as a table whose rows open a report; back returns here.
 */
export async function reportList(programmeId, back) {
	const args = programmeId ? { cmd: 'report.list', programme: programmeId } : { cmd: 'report.list' };
	const res = await readAgain(() => app.state.client.command(args));
	const reports = Array.isArray(res?.reports) ? res.reports : [];
	if (!reports.length)
		return [h('p', { id: 'reports-none', text: t('rp_list_none') })];
	const rows = reports.map((r) => h('tr', { 'data-report': Number(r.report_id) },
		h('td', {}, h('button', { type: 'button', class: 'link', 'data-open-report': Number(r.report_id), onclick: () => renderReport(Number(r.report_id), back), text: `#${Number(r.report_id)}` })),
		h('td', { text: `#${Number(r.room_id)}` }),
		h('td', { text: String(r.reporter ?? '?') }),
		h('td', { text: kindText(r.kind) }),
		h('td', { class: 'report-state', text: stateText(r.state) }),
		h('td', { text: when(r.created_at) })));
	return [h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-labelledby': 'reports-caption' },
		h('table', { id: 'reports' },
			h('caption', { id: 'reports-caption', text: t('rp_list_caption') }),
			h('thead', {}, h('tr', {}, [t('rp_col_report'), t('rp_col_room'), t('rp_col_reporter'), t('rp_col_kind'), t('rp_col_state'), t('rp_col_sent')].map((c) => h('th', { scope: 'col', text: c })))),
			h('tbody', {}, rows)))];
}

/** "My reports": the reports this user sent (and, for a manager, those of their programmes). */
export async function renderReports() {
	const state = app.state;
	await app.leaveRoom?.();
	const render = () => renderReports();
	state.render = render;
	const back = h('button', { type: 'button', class: 'link', id: 'reports-back', onclick: () => app.home(), text: t('back') });
	show(h('section', { class: 'card' }, back, h('h1', { text: t('rp_mine') }), h('p', { text: t('loading') })));
	let parts;
	try {
		parts = await reportList(0, () => renderReports());
	} catch (e) {
		parts = [alertBox(errorText(e))];
	}
	if (state.render !== render)
		return;
	show(h('section', { class: 'card', 'aria-labelledby': 'reports-title' }, back,
		h('h1', { id: 'reports-title', text: t('rp_mine') }),
		h('p', { class: 'hint', text: t('rp_mine_intro') }),
		...parts));
}

// --- one report -------------------------------------------------------------------

function quoteItem(q) {
	const seq = Number(q.seq);
	if (q.verified === true) {
		const written = Number(q.written_ms);
		return h('li', { class: 'quote verified', 'data-seq': seq },
			h('p', { class: 'from' }, h('strong', { text: String(q.sender ?? '?') }), ' ',
				h('time', { text: Number.isFinite(written) ? when(written) : '' }), ' ',
				h('span', { class: 'badge ok', text: t('rp_verified') })),
			h('p', { class: 'body', text: String(q.text ?? '') }));
	}
	return h('li', { class: 'quote unverifiable', 'data-seq': seq },
		h('p', { class: 'warn', text: t('rp_unverifiable_quote', { seq, why: String(q.error ?? '?') }) }));
}

function actionItem(a) {
	const head = `${when(a.created_at)} · ${stateText(a.state)} · ${String(a.manager ?? '?')}`;
	return a.verified === true
		? h('li', { class: 'action verified' }, h('p', { class: 'hint', text: head }), h('p', { text: String(a.note ?? '') }))
		: h('li', { class: 'action unverifiable' }, h('p', { class: 'hint', text: head }),
			h('p', { class: 'warn', text: t('rp_unverifiable_step', { why: String(a.error ?? '?') }) }));
}

function handleForm(id, back) {
	const select = h('select', { id: 'report-state', name: 'report-state' },
		STATES.map((s) => h('option', { value: s, text: stateText(s) })));
	const note = h('textarea', { id: 'report-handle-note', name: 'report-handle-note', rows: 3, maxlength: NOTE_MAX });
	const result = h('div', { id: 'report-handle-result', 'aria-live': 'polite' });
	const form = h('form', { id: 'report-handle-form', novalidate: true },
		h('div', { class: 'field' }, h('label', { for: 'report-state', text: t('rp_handle_state') }), select),
		h('div', { class: 'field' }, h('label', { for: 'report-handle-note', text: t('rp_handle_note') }), note,
			h('p', { class: 'hint', text: t('rp_handle_hint') })),
		result,
		h('button', { type: 'submit', class: 'primary', text: t('rp_handle') }));
	form.addEventListener('submit', async (e) => {
		e.preventDefault();
		const text = note.value.trim();
		if (bytes(text) > NOTE_MAX)
			return result.replaceChildren(alertBox(t('rp_note_long', { n: NOTE_MAX })));
		const button = form.querySelector('button[type=submit]');
		button.disabled = true;
		try {
			await app.state.client.command({ cmd: 'report.handle', report: id, state: select.value, note: text });
			await renderReport(id, back, t('rp_handled', { state: stateText(select.value) }));
		} catch (ex) {
			result.replaceChildren(alertBox(errorText(ex)));
			button.disabled = false;
		}
		return undefined;
	});
	return form;
}

/** One report, checked by the core; a manager of its programme may record its handling. */
export async function renderReport(id, back, message = null) {
	const state = app.state;
	const render = () => renderReport(id, back);
	state.render = render;
	const backButton = h('button', { type: 'button', class: 'link', id: 'report-back', onclick: () => back(), text: t('rp_back') });
	show(h('section', { class: 'card' }, backButton, h('h1', { text: t('rp_report', { id }) }), h('p', { text: t('loading') })));
	let r = null;
	let problem = null;
	try {
		r = await readAgain(() => state.client.command({ cmd: 'report.show', report: id }));
	} catch (e) {
		problem = errorText(e);
	}
	if (state.render !== render)
		return;
	if (!r) {
		show(h('section', { class: 'card' }, backButton, h('h1', { text: t('rp_report', { id }) }), alertBox(problem ?? '?')));
		return;
	}
	const quotes = Array.isArray(r.messages) ? r.messages : [];
	const actions = Array.isArray(r.actions) ? r.actions : [];
	const disagree = r.server_state !== undefined && r.state !== r.server_state;
	show(h('section', { class: 'card report', 'aria-labelledby': 'report-title' }, backButton,
		h('h1', { id: 'report-title', text: t('rp_report', { id }) }),
		message ? h('p', { class: 'alert ok', role: 'status', text: message }) : null,
		h('p', { class: 'hint', id: 'report-meta', text: t('rp_meta', { room: Number(r.room_id), kind: kindText(r.kind), who: String(r.reporter ?? '?'), when: when(r.created_at) }) }),
		h('p', {}, h('strong', { text: `${t('rp_col_state')}: ` }), h('span', { id: 'report-state-now', text: stateText(r.state) })),
		disagree ? alertBox(t('rp_state_disagree', { state: stateText(r.server_state) }), 'warning') : null,
		r.verified === true
			? h('div', { class: 'document', id: 'report-note-text', text: String(r.note ?? '') })
			: alertBox(t('rp_unverifiable', { why: String(r.error ?? '?') })),
		quotes.length ? h('h2', { text: t('rp_quotes') }) : null,
		quotes.length ? h('ol', { id: 'report-quotes', class: 'quotes' }, quotes.map(quoteItem)) : null,
		h('h2', { text: t('rp_steps') }),
		actions.length ? h('ol', { id: 'report-actions', class: 'actions' }, actions.map(actionItem)) : h('p', { id: 'report-no-actions', text: t('rp_no_steps') }),
		r.manager === true ? h('h2', { text: t('rp_handle') }) : null,
		r.manager === true ? handleForm(id, back) : null));
}
