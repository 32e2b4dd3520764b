// notices.mjs - the web app's notices (`ementor notices`, PROTOCOL.md 6.2):
// what happened to the user's meetings and agreements while they were away
// (proposals, confirmations, reschedules with their reasons, cancellations,
// absences, records, reminders, topics, diaries, agreement changes), oldest
// first, each as a sentence in the page's language with its times in the
// browser's locale; "Mark as read" acknowledges them (notice.ack), as the CLI
// does after showing them.
//
// A notice is the server's word and holds no content (a topic's revision,
// never its text; an agreement's counts, never its terms): everything in it
// is shown as text, never as markup, and decides nothing.
//
// Thread: the page's event loop.

import { t } from './i18n.mjs';
import { readAgain, renderMeetings, whenLocal } from './meetings.mjs';
import { alertBox, app, errorText, h, show, status } from './ui.mjs';

function what(n) {
	const room = Number(n.room_id);
	if (n.checkpoint_kind === 'session')
		return t('nt_what_session', { id: Number(n.checkpoint_id), room });
	const key = `nt_kind_${n.checkpoint_kind}`;
	const kind = t(key) === key ? String(n.checkpoint_kind ?? '?') : t(key);
	return t('nt_what', { kind, room });
}

function lead(minutes) {
	const m = Number(minutes);
	if (m > 0 && m % 1440 === 0)
		return t('nt_in_days', { n: m / 1440 });
	if (m > 0 && m % 60 === 0)
		return t('nt_in_hours', { n: m / 60 });
	return m > 0 ? t('nt_in_minutes', { n: m }) : '';
}

/** One notice as a sentence (text only). */
export function noticeText(n) {
	const by = String(n.by ?? t('nt_someone'));
	const w = what(n);
	let s;
	switch (n.kind) {
	case 'checkpoint.proposed': s = t('nt_proposed', { by, what: w }); break;
	case 'checkpoint.confirmed': s = t('nt_confirmed', { what: w }); break;
	case 'checkpoint.rescheduled': s = t(n.late ? 'nt_rescheduled_late' : 'nt_rescheduled', { by, what: w }); break;
	case 'checkpoint.cancelled': s = t(n.late ? 'nt_cancelled_late' : 'nt_cancelled', { by, what: w }); break;
	case 'checkpoint.absent': s = t('nt_absent', { by, what: w }); break;
	case 'checkpoint.recorded': s = t(n.held === true ? 'nt_recorded_held' : n.held === false ? 'nt_recorded_missed' : 'nt_recorded', { by, what: w }); break;
	case 'meeting.topic': s = t('nt_topic', { by, what: w }); break;
	case 'reminder': s = t('nt_reminder', { what: w, lead: lead(n.lead_minutes) }); break;
	case 'diary.writer': s = t('nt_diary_writer', { by, what: w }); break;
	case 'diary.written': s = t('nt_diary_written', { by, what: w }); break;
	case 'diary.remarked': s = t('nt_diary_remarked', { by, what: w }); break;
	case 'diary.missing': s = t('nt_diary_missing', { what: w }); break;
	case 'agreement.changed':
		s = t('nt_agreement', { by, room: Number(n.room_id), version: Number(n.version), added: Number(n.lines_added ?? 0), removed: Number(n.lines_removed ?? 0) });
		break;
	case 'report.handled': s = t('nt_report_handled', { by, report: Number(n.report_id), state: t(`nt_state_${['acknowledged', 'action_taken', 'closed'].includes(n.state) ? n.state : 'other'}`) }); break;
	case 'announcement': s = t(n.audience === 'all' ? 'nt_announcement_all' : 'nt_announcement_mentors', { by, programme: Number(n.programme_id) }); break;
	default: s = t('nt_other', { kind: String(n.kind ?? '?'), what: w }); break;
	}
	if (n.starts_at)
		s += ` ${t('nt_at', { when: whenLocal(n.starts_at), place: String(n.place ?? '-') })}`;
	if (n.reason)
		s += ` ${t('nt_reason', { reason: String(n.reason) })}`;
	return s;
}

export async function renderNotices(message = null) {
	const state = app.state;
	await app.leaveRoom?.();
	const render = () => renderNotices();
	state.render = render;
	const back = h('button', { type: 'button', class: 'link', id: 'notices-back', onclick: () => app.home(), text: t('back') });
	show(h('section', { class: 'card' }, back, h('h1', { text: t('nt_title') }), h('p', { text: t('loading') })));
	let res = null;
	let problem = null;
	try {
		res = await readAgain(() => state.client.command({ cmd: 'call', op: 'notice.list', args: {} }));
	} catch (e) {
		problem = errorText(e);
	}
	// announcements, each opened and checked by the core (PROTOCOL.md 15.2): text only when verified
	let anns = [];
	try {
		anns = (await readAgain(() => state.client.command({ cmd: 'announce.list' })))?.announcements ?? [];
	} catch (e) {
		problem = problem ?? errorText(e);
	}
	if (state.render !== render)
		return;
	const annList = h('ol', { id: 'announcements', class: 'notices' });
	for (const a of Array.isArray(anns) ? anns : []) {
		const ok = a.verified === true;
		annList.append(h('li', { class: 'notice', 'data-verified': ok ? 'true' : 'false' },
			h('p', { class: 'hint', text: t(a.audience === 'all' ? 'an_from_all' : 'an_from_mentors', { by: String(a.manager ?? '?'), when: whenLocal(a.created_at) }) }),
			h('p', { text: ok ? String(a.text ?? '') : t('an_unverified', { why: String(a.error ?? '') }) })));
	}
	const notices = Array.isArray(res?.notices) ? res.notices : [];
	const list = h('ol', { id: 'notices', class: 'notices' });
	let upto = 0;
	for (const n of notices) {
		const id = Number(n.id);
		if (Number.isSafeInteger(id) && id > upto)
			upto = id;
		const room = Number(n.room_id);
		list.append(h('li', { class: 'notice', 'data-kind': String(n.kind ?? '') },
			h('p', { class: 'hint' }, h('time', { datetime: String(n.at ?? ''), text: whenLocal(n.at) })),
			h('p', { text: noticeText(n) }),
			Number.isSafeInteger(room) && room > 0 && n.checkpoint_id
				? h('button', { type: 'button', class: 'link', onclick: () => renderMeetings(room, `#${room}`), text: t('nt_open_meetings', { room }) })
				: null));
	}
	const ack = h('button', {
		type: 'button', id: 'notices-ack', class: 'primary', text: t('nt_ack'),
		onclick: async () => {
			ack.disabled = true;
			try {
				const r = await state.client.command({ cmd: 'call', op: 'notice.ack', args: { upto } });
				status('');
				await renderNotices(t('nt_acked', { n: Number(r.acked ?? 0) }));
			} catch (e) {
				ack.disabled = false;
				status(errorText(e));
			}
		},
	});
	show(h('section', { class: 'card', 'aria-labelledby': 'notices-title' },
		back,
		h('h1', { id: 'notices-title', text: t('nt_title') }),
		message ? h('p', { class: 'alert info', role: 'status', text: message }) : null,
		problem ? alertBox(problem) : null,
		notices.length ? list : h('p', { id: 'notices-none', text: t('nt_none') }),
		res?.truncated ? h('p', { class: 'hint', text: t('nt_more') }) : null,
		notices.length ? ack : null,
		anns.length ? h('h2', { id: 'announcements-title', text: t('an_title') }) : null,
		anns.length ? annList : null));
}
