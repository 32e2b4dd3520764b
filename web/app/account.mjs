// account.mjs - "My account" in the web app, the CLI's `export`, `consent
// list|grant|withdraw` and `consent withdraw data_processing` for people
// who never open a terminal (PROTOCOL.md 7):
// - export my data: everything the server holds about me (account.export)
//   plus every message of my rooms my keys open, decrypted by the core's
//   "read" on this device, saved as a JSON file (a Blob and an <a download>;
//   nothing leaves the browser);
// - my consents: the ledger's records, each signature checked by the core
//   with my own key (one that does not verify is shown as such), what stands
//   now, withdrawing a share_progress grant or a room's agreement, granting
//   share_progress after reading its sentence;
// - erase my account: the core's preview first (it finds the grant to
//   withdraw), then what erasure does, then a confirmation that needs the
//   username typed and a box ticked; on success the session ends and this
//   device's vault is deleted.
// Every record is signed inside the core (core/consent.c); this file only
// shows, asks and passes on.
//
// Thread: the page's event loop.

import { t } from './i18n.mjs';
import { readAgain, whenLocal } from './meetings.mjs';
import { alertBox, app, errorText, field, h, show, status } from './ui.mjs';
import { vaultDelete } from './vault.mjs';

function purposeName(p) {
	const key = `ac_purpose_${p}`;
	return t(key) === key ? String(p) : t(key);
}

function subjectName(purpose, subject) {
	const s = String(subject ?? '');
	let m = /^room:(\d+)$/.exec(s);
	if (m)
		return t('ac_subject_room', { id: m[1] });
	m = /^programme:(\d+)$/.exec(s);
	if (m)
		return t('ac_subject_programme', { id: m[1] });
	return purpose === 'data_processing' ? t('ac_subject_notice', { version: s }) : s;
}

export async function renderAccount(message = null) {
	const state = app.state;
	await app.leaveRoom?.();
	const render = () => renderAccount();
	state.render = render;
	const back = h('button', { type: 'button', class: 'link', id: 'account-back', onclick: () => app.home(), text: t('back') });
	show(h('section', { class: 'card' }, back, h('h1', { text: t('ac_title') }), h('p', { text: t('loading') })));
	let consents = null;
	let me = null;
	let problem = null;
	try {
		consents = await readAgain(() => state.client.command({ cmd: 'consent.list' }));
		me = await readAgain(() => state.client.command({ cmd: 'call', op: 'whoami', args: {} }));
	} catch (e) {
		problem = errorText(e);
	}
	if (state.render !== render)
		return;
	show(h('section', { class: 'card', 'aria-labelledby': 'account-title' },
		back,
		h('h1', { id: 'account-title', text: t('ac_title') }),
		h('p', { text: t('ac_who', { name: state.username, role: String(me?.user?.role ?? '-') }) }),
		message ? h('p', { class: 'alert info', role: 'status', id: 'account-note', text: message }) : null,
		problem ? alertBox(problem) : null,
		exportSection(),
		consents ? consentSection(consents, me) : null,
		eraseSection()));
}

// --- export ----------------------------------------------------------------------

// The messages of one room, opened by the core (no read place moved, no receipt sent).
async function roomMessages(roomId) {
	const state = app.state;
	try {
		await readAgain(() => {
			state.collect = [];
			return state.client.command({ cmd: 'read', room: roomId, after: 0, limit: 0, mark: false });
		});
		return {
			messages: state.collect.filter((m) => m.room_id === roomId).map((m) => {
				const out = { room_id: roomId, seq: m.seq, sender: String(m.sender ?? '?'), sent_at: String(m.sent_at ?? '') };
				if (typeof m.text === 'string')
					out.text = m.text;
				else
					Object.assign(out, { undecryptable: true, reason: String(m.error ?? '') });
				return out;
			}),
		};
	} catch (e) {
		return { unavailable: String(e?.message || e?.code || e) };
	} finally {
		state.collect = null;
	}
}

async function exportData(out, button) {
	const state = app.state;
	button.disabled = true;
	status(t('ac_exporting'));
	let url = null;
	try {
		const res = await readAgain(() => state.client.command({ cmd: 'call', op: 'account.export', args: {} }));
		const messages = [];
		for (const room of Array.isArray(res.rooms) ? res.rooms : []) {
			const id = Number(room.room_id);
			if (!Number.isSafeInteger(id) || id < 1)
				continue;
			const got = await roomMessages(id);
			if (got.unavailable !== undefined)
				room.messages_unavailable = got.unavailable; // a room you left, as the CLI says
			else
				messages.push(...got.messages);
		}
		res.messages = messages;
		const blob = new Blob([`${JSON.stringify(res, null, 2)}\n`], { type: 'application/json' });
		url = URL.createObjectURL(blob);
		const name = `ementor-${state.username}-${new Date().toISOString().slice(0, 10)}.json`;
		const a = h('a', { href: url, download: name, id: 'export-link', text: t('ac_export_again', { name }) });
		out.replaceChildren(h('p', { role: 'status', id: 'export-done', text: t('ac_exported', { n: messages.length }) }), h('p', {}, a));
		a.click();
		status('');
	} catch (e) {
		status('');
		out.replaceChildren(alertBox(errorText(e)));
		if (url)
			URL.revokeObjectURL(url);
	} finally {
		button.disabled = false;
	}
}

function exportSection() {
	const out = h('div', { id: 'export-out' });
	const button = h('button', { type: 'button', id: 'export', class: 'primary', text: t('ac_export') });
	button.addEventListener('click', () => exportData(out, button));
	return h('section', { 'aria-labelledby': 'export-title' },
		h('h2', { id: 'export-title', text: t('ac_export_title') }),
		h('p', { text: t('ac_export_intro') }),
		button, out);
}

// --- consents ----------------------------------------------------------------------

function consentSection(res, me) {
	const entries = Array.isArray(res.entries) ? res.entries : [];
	const current = Array.isArray(res.current) ? res.current : [];
	const bad = entries.filter((e) => e.verified !== true).length;
	const table = h('table', { class: 'ledger', id: 'consent-ledger' },
		h('caption', { class: 'sr-only', text: t('ac_ledger') }),
		h('thead', {}, h('tr', {}, [t('ac_when'), t('ac_purpose'), t('ac_subject'), t('ac_action'), t('ac_signature')].map((c) => h('th', { scope: 'col', text: c })))),
		h('tbody', {}, entries.map((e) => h('tr', { class: e.verified === true ? '' : 'bad' },
			h('td', { text: whenLocal(e.recorded_at) }),
			h('td', { text: purposeName(e.purpose) }),
			h('td', { text: subjectName(e.purpose, e.subject) }),
			h('td', { text: e.action === 'grant' ? t('ac_granted') : e.action === 'withdraw' ? t('ac_withdrawn') : String(e.action ?? '?') }),
			h('td', { text: e.verified === true ? t('ac_verified') : t('ac_not_verified') })))));
	const now = h('ul', { class: 'consents', id: 'consents-now' });
	for (const c of current) {
		const li = h('li', { 'data-purpose': String(c.purpose), 'data-subject': String(c.subject), 'data-granted': c.granted ? 'yes' : 'no' },
			h('strong', { text: purposeName(c.purpose) }), ` · ${subjectName(c.purpose, c.subject)} · `,
			c.granted ? t('ac_granted_since', { when: whenLocal(c.at) }) : t('ac_withdrawn_since', { when: whenLocal(c.at) }));
		if (c.granted && c.purpose !== 'data_processing')
			li.append(' ', h('button', { type: 'button', 'data-action': 'withdraw', onclick: () => withdrawAsk(li, c), text: t('ac_withdraw'), 'aria-label': t('ac_withdraw_label', { what: `${purposeName(c.purpose)} ${subjectName(c.purpose, c.subject)}` }) }));
		now.append(li);
	}
	// share_progress: one grant per programme of mine not granted now
	const granted = new Set(current.filter((c) => c.purpose === 'share_progress' && c.granted).map((c) => String(c.subject)));
	const grants = h('ul', { class: 'consents', id: 'consents-grant' });
	for (const p of Array.isArray(me?.programmes) ? me.programmes : []) {
		const id = Number(p.id ?? p.programme_id);
		if (!Number.isSafeInteger(id) || id < 1 || granted.has(`programme:${id}`) || (me?.user?.role && me.user.role !== 'mentee'))
			continue;
		const li = h('li', {}, t('ac_share_in', { name: String(p.name ?? `#${id}`) }), ' ');
		li.append(h('button', { type: 'button', 'data-action': 'grant', onclick: () => grantShare(li, id), text: t('ac_share_grant') }));
		grants.append(li);
	}
	return h('section', { 'aria-labelledby': 'consent-title' },
		h('h2', { id: 'consent-title', text: t('ac_consent_title') }),
		h('p', { text: t('ac_consent_intro') }),
		bad ? alertBox(t('ac_ledger_bad', { n: bad }), 'warning') : null,
		h('h3', { text: t('ac_now') }), now,
		grants.children.length ? h('h3', { text: t('ac_share_title') }) : null,
		grants.children.length ? grants : null,
		h('details', {}, h('summary', { text: t('ac_ledger_show', { n: entries.length }) }), h('div', { class: 'table-wrap' }, table)));
}

function withdrawAsk(li, c) {
	const effect = c.purpose === 'agreement' ? t('ac_withdraw_agreement') : t('ac_withdraw_share');
	const box = h('div', { class: 'panel', role: 'group', 'aria-label': t('ac_withdraw') },
		h('p', { tabindex: '-1', text: effect }),
		h('div', { class: 'mt-actions' },
			h('button', {
				type: 'button', class: 'primary', id: 'withdraw-confirm', text: t('ac_withdraw_confirm'),
				onclick: async (e) => {
					e.target.disabled = true;
					status(t('ac_signing'));
					try {
						await app.state.client.command({ cmd: 'consent.withdraw', purpose: String(c.purpose), subject: String(c.subject) });
						status('');
						await renderAccount(t('ac_withdrew', { what: `${purposeName(c.purpose)} · ${subjectName(c.purpose, c.subject)}` }));
					} catch (ex) {
						status('');
						e.target.disabled = false;
						box.append(alertBox(errorText(ex)));
					}
				},
			}),
			h('button', { type: 'button', text: t('mt_close'), onclick: () => box.remove() })));
	li.append(box);
	box.querySelector('p').focus();
}

async function grantShare(li, programme) {
	// the sentence is the server's, checked by the core against its hash ("privacy")
	let notice = null;
	try {
		notice = await readAgain(() => app.state.client.command({ cmd: 'privacy' }));
		if (typeof notice.share_progress_text !== 'string')
			throw new Error(t('ac_share_no_text'));
	} catch (e) {
		li.append(alertBox(errorText(e)));
		return;
	}
	const box = h('div', { class: 'panel', role: 'group', 'aria-label': t('ac_share_grant') },
		h('p', { tabindex: '-1', class: 'document', text: String(notice.share_progress_text ?? '') }),
		h('div', { class: 'mt-actions' },
			h('button', {
				type: 'button', class: 'primary', text: t('ac_share_agree'),
				onclick: async (e) => {
					e.target.disabled = true;
					try {
						// the core signs only if the server's sentence is still the one shown here
						await app.state.client.command({ cmd: 'consent.grant', purpose: 'share_progress', subject: `programme:${programme}`, text_hash: notice.share_progress_hash });
						await renderAccount(t('ac_share_granted'));
					} catch (ex) {
						e.target.disabled = false;
						box.append(alertBox(errorText(ex)));
					}
				},
			}),
			h('button', { type: 'button', text: t('mt_close'), onclick: () => box.remove() })));
	li.append(box);
	box.querySelector('p').focus();
}

// --- erase -----------------------------------------------------------------------

function eraseSection() {
	const out = h('div', { id: 'erase-out' });
	const start = h('button', { type: 'button', id: 'erase-start', class: 'danger', text: t('ac_erase') });
	start.addEventListener('click', async () => {
		start.disabled = true;
		try {
			// the core finds the grant to withdraw and checks it, sending nothing yet
			await app.state.client.command({ cmd: 'consent.withdraw', purpose: 'data_processing', preview: true });
		} catch (e) {
			start.disabled = false;
			out.replaceChildren(alertBox(errorText(e)));
			return;
		}
		const username = app.state.username;
		const form = h('form', { id: 'erase-form', novalidate: true },
			h('div', { class: 'alert error', id: 'erase-what' },
				h('p', { text: t('ac_erase_what', { name: username }) }),
				h('ul', {}, ['ac_erase_1', 'ac_erase_2', 'ac_erase_3'].map((k) => h('li', { text: t(k) }))),
				h('p', { text: t('ac_erase_after') })),
			field('erase-name', t('ac_erase_type', { name: username }), { autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false', required: true }),
			h('div', { class: 'field check' },
				h('input', { type: 'checkbox', id: 'erase-sure', required: true }),
				h('label', { for: 'erase-sure', text: t('ac_erase_sure') })),
			h('div', { class: 'form-error' }),
			h('div', { class: 'mt-actions' },
				h('button', { type: 'submit', class: 'danger', text: t('ac_erase_send') }),
				h('button', { type: 'button', text: t('ac_erase_keep'), onclick: () => { out.replaceChildren(); start.disabled = false; start.focus(); } })));
		form.addEventListener('submit', async (e) => {
			e.preventDefault();
			const err = form.querySelector('.form-error');
			if (form.querySelector('#erase-name').value.trim().toLowerCase() !== username || !form.querySelector('#erase-sure').checked) {
				err.replaceChildren(alertBox(t('ac_erase_confirm_needed', { name: username })));
				return;
			}
			form.querySelector('button[type=submit]').disabled = true;
			status(t('ac_erasing'));
			try {
				await app.state.client.command({ cmd: 'consent.withdraw', purpose: 'data_processing' });
			} catch (ex) {
				status('');
				form.querySelector('button[type=submit]').disabled = false;
				err.replaceChildren(alertBox(errorText(ex)));
				return;
			}
			status('');
			// the server closes every connection of the account: end here, and forget this device's copy
			await app.end(t('ac_erased', { name: username }));
			await vaultDelete(username);
		});
		out.replaceChildren(form);
		form.querySelector('#erase-what p').setAttribute('tabindex', '-1');
		form.querySelector('#erase-what p').focus();
	});
	return h('section', { 'aria-labelledby': 'erase-title', class: 'erase' },
		h('h2', { id: 'erase-title', text: t('ac_erase_title') }),
		h('p', { text: t('ac_erase_intro') }),
		start, out);
}
