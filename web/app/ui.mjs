// ui.mjs - the web app's small DOM helpers (text only, never markup from
// anywhere) and `app`, where app.mjs puts what the other screens' modules
// share: app.state (the client core, the user, the open room) and the
// screens a module may return to (app.home: the rooms list).
// Thread: the page's event loop.

import { language, t } from './i18n.mjs';

export const app = { state: null, home: null };

export function h(tag, attrs = {}, ...children) {
	const el = document.createElement(tag);
	for (const [k, v] of Object.entries(attrs)) {
		if (v === null || v === undefined || v === false)
			continue;
		if (k === 'text')
			el.textContent = v;
		else if (k.startsWith('on'))
			el.addEventListener(k.slice(2), v);
		else
			el.setAttribute(k, v === true ? '' : String(v));
	}
	for (const c of children.flat()) {
		if (c !== null && c !== undefined && c !== false)
			el.append(c instanceof Node ? c : document.createTextNode(String(c)));
	}
	return el;
}

export function main() {
	return document.getElementById('main');
}

// A new screen: the status line of the one before goes with it.
export function show(...nodes) {
	status('');
	const m = main();
	m.replaceChildren(...nodes);
	const heading = m.querySelector('h1, h2');
	if (heading) {
		heading.setAttribute('tabindex', '-1');
		heading.focus();
	}
}

export function status(text) {
	document.getElementById('status').textContent = text ?? '';
}

export function field(id, label, attrs = {}, hint = null) {
	return h('div', { class: 'field' },
		h('label', { for: id, text: label }),
		h('input', { id, name: id, ...attrs, 'aria-describedby': hint ? `${id}-hint` : null }),
		hint ? h('p', { class: 'hint', id: `${id}-hint`, text: hint }) : null);
}

export function alertBox(text, kind = 'error') {
	return h('div', { class: `alert ${kind}`, role: 'alert', text });
}

export function when(ts) {
	const d = new Date(ts);
	if (Number.isNaN(d.getTime()))
		return String(ts ?? '');
	return new Intl.DateTimeFormat(language(), { dateStyle: 'medium', timeStyle: 'short' }).format(d);
}

// lets the browser paint a status before a call that blocks (Argon2id)
export function paint() {
	return new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
}

export function errorText(e) {
	return t('error', { message: e?.message ?? String(e) });
}
