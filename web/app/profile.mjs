// profile.mjs - a mentor's or mentee's profile for matching in the web app
// (`ementor profile fill`, PROTOCOL.md 14, SECURITY.md "Profiles for
// matching"): the programme's questions (the core checks who signed them),
// the answers given before (opened by the core), and the new answers sealed
// by the core to the programme's managers this device verified and to the
// user, never to a manager only the server names. When no manager is
// verified yet, the page asks for the key fingerprint the manager gives in
// person or in their own invite link.
//
// The questions and everything the server lists are shown as text, never as
// markup, and decide nothing about keys or readers.
//
// Thread: the page's event loop.

import { language, t } from './i18n.mjs';
import { readAgain } from './meetings.mjs';
import { alertBox, app, errorText, h, show, status } from './ui.mjs';

const call = (op, args = {}) => app.state.client.command({ cmd: 'call', op, args });

function questionText(q) {
	return String((language() === 'pl' && q.text_pl) || q.text || q.id);
}

// The input for one question, filled with the answer given before (if any).
function questionField(q, before) {
	const id = `profile-q-${String(q.id)}`;
	const label = h('label', { for: id, text: questionText(q) });
	let input;
	if (q.kind === 'scale') {
		input = h('select', { id, name: String(q.id) },
			h('option', { value: '', text: t('pf_no_answer') }),
			[1, 2, 3, 4, 5].map((n) => h('option', { value: String(n), text: String(n), selected: Number(before) === n })));
	} else if (q.kind === 'text') {
		input = h('textarea', { id, name: String(q.id), rows: 3, maxlength: 2000 });
		input.value = typeof before === 'string' ? before : '';
	} else {
		input = h('input', { id, name: String(q.id), type: 'text', maxlength: q.kind === 'line' ? 100 : 1000,
			'aria-describedby': q.kind === 'words' ? `${id}-hint` : null });
		input.value = Array.isArray(before) ? before.map(String).join(', ') : typeof before === 'string' ? before : '';
	}
	return h('div', { class: 'field' }, label, input,
		q.kind === 'words' ? h('p', { class: 'hint', id: `${id}-hint`, text: t('pf_words_hint') }) : null);
}

/**
 * The rooms screen's buttons for a mentor or mentee of a programme: their profile for matching,
 * and a private support room with their programme's manager (support.open, PROTOCOL.md 15.1:
 * the same room every time; its agreement is signed and checked like any room's).
 */
export function profileButton() {
	const slot = h('span', { id: 'profile-slot' });
	call('programme.list').then((r) => {
		const mine = (r?.programmes ?? []).filter((p) => p?.my_role === 'mentor' || p?.my_role === 'mentee');
		if (mine.length && slot.isConnected)
			slot.replaceChildren(
				h('button', { type: 'button', id: 'open-profile', onclick: () => renderProfile(mine), text: t('pf_title') }),
				h('button', { type: 'button', id: 'open-support', onclick: () => openSupport(mine), text: t('su_open') }));
	}, () => {});
	return slot;
}

// The support room with the manager of the (first) programme; several managers: the server's
// message names them, and the page says so.
async function openSupport(programmes) {
	status(t('loading'));
	try {
		const r = await call('support.open', { programme_id: Number(programmes[0].id) });
		status('');
		const id = Number(r?.room?.id);
		if (Number.isSafeInteger(id) && id > 0)
			await app.openRoom(id);
	} catch (e) {
		status(errorText(e));
	}
}

/** The profile of the first (or the chosen) programme the user is a mentor or mentee of. */
export async function renderProfile(programmes, chosen = 0, message = null) {
	const state = app.state;
	await app.leaveRoom?.();
	const p = programmes[chosen];
	const pid = Number(p.id);
	const render = () => renderProfile(programmes, chosen);
	state.render = render;
	const back = h('button', { type: 'button', class: 'link', id: 'profile-back', onclick: () => app.home(), text: t('back') });
	show(h('section', { class: 'card' }, back, h('h1', { text: t('pf_title') }), h('p', { text: t('loading') })));
	let form = null;
	let mine = null;
	let problem = null;
	try {
		form = await readAgain(() => state.client.command({ cmd: 'profile.form', programme: pid, role: p.my_role }));
		const shown = await readAgain(() => state.client.command({ cmd: 'profile.show', programme: pid }));
		mine = (shown?.profiles ?? []).find((x) => x.username === state.username && x.verified === true) ?? null;
	} catch (e) {
		problem = errorText(e);
	}
	if (state.render !== render)
		return;
	const picker = programmes.length > 1
		? h('nav', { 'aria-label': t('pf_programmes') }, h('ul', { class: 'tabs' }, programmes.map((x, i) => h('li', {},
			h('button', { type: 'button', 'aria-current': i === chosen ? 'page' : null, onclick: () => renderProfile(programmes, i), text: String(x.name ?? `#${x.id}`) })))))
		: null;
	if (!form) {
		show(h('section', { class: 'card' }, back, h('h1', { text: t('pf_title') }), picker, alertBox(problem ?? '?')));
		return;
	}
	const before = mine?.answers ?? {};
	const questions = Array.isArray(form.questions) ? form.questions : [];
	const key = h('input', { id: 'profile-manager-key', name: 'profile-manager-key', type: 'text', maxlength: 200, 'aria-describedby': 'profile-manager-key-hint' });
	const result = h('div', { id: 'profile-result', 'aria-live': 'polite' });
	const formEl = h('form', { id: 'profile-form', novalidate: true },
		questions.map((q) => questionField(q, before[q.id])),
		h('details', { id: 'profile-key' },
			h('summary', { text: t('pf_key_summary') }),
			h('div', { class: 'field' },
				h('label', { for: 'profile-manager-key', text: t('pf_key_label') }), key,
				h('p', { class: 'hint', id: 'profile-manager-key-hint', text: t('pf_key_hint') }))),
		result,
		h('button', { type: 'submit', class: 'primary', text: t('pf_save') }));
	formEl.addEventListener('submit', async (e) => {
		e.preventDefault();
		const answers = {};
		for (const q of questions) {
			const el = formEl.querySelector(`[name="${CSS.escape(String(q.id))}"]`);
			const v = el?.value?.trim() ?? '';
			if (v !== '')
				answers[q.id] = q.kind === 'scale' ? Number(v) : v;
		}
		if (!Object.keys(answers).length)
			return result.replaceChildren(alertBox(t('pf_need_answer')));
		const button = formEl.querySelector('button[type=submit]');
		button.disabled = true;
		status(t('pf_saving'));
		try {
			const cmd = { cmd: 'profile.fill', programme: pid, answers };
			if (key.value.trim())
				cmd.fingerprint = key.value.trim();
			const r = await state.client.command(cmd);
			status('');
			const readers = (Array.isArray(r.readers) ? r.readers : []).map((x) => String(x?.username ?? x)).join(', ');
			await renderProfile(programmes, chosen, t('pf_saved', { readers }));
		} catch (ex) {
			status('');
			result.replaceChildren(alertBox(errorText(ex)));
			formEl.querySelector('#profile-key').open = true;
			button.disabled = false;
		}
		return undefined;
	});
	const title = String((language() === 'pl' && form.title_pl) || form.title || t('pf_title'));
	show(h('section', { class: 'card', 'aria-labelledby': 'profile-title' }, back,
		h('h1', { id: 'profile-title', text: title }),
		picker,
		message ? h('p', { class: 'alert ok', role: 'status', id: 'profile-saved', text: message }) : null,
		h('p', { text: t('pf_intro') }),
		mine ? h('p', { class: 'hint', id: 'profile-before', text: t('pf_before') }) : null,
		formEl));
}
