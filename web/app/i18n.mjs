// i18n.mjs - the web app's texts in English and Polish. The language comes
// from the browser's list (navigator.languages) unless the user chose one
// (kept in localStorage); t(key, vars) gives the text with {name}
// placeholders filled. Texts from the server or other people (messages,
// agreement terms, the privacy notice) are shown as they are, never
// translated.

const TEXTS = {
	en: {
		app_name: 'ementor',
		tagline: 'End-to-end encrypted mentoring',
		language: 'Language',
		loading: 'Loading…',
		working_keys: 'Deriving your keys on this device… this takes a few seconds.',
		login_title: 'Log in',
		username: 'Username',
		display_name: 'Your name (shown to your mentor or mentees)',
		password: 'Password',
		password_again: 'Password again',
		password_hint: 'At least 8 characters. It never leaves this device: only keys derived from it do.',
		log_in: 'Log in',
		logging_in: 'Logging in…',
		join_title: 'Join your mentoring programme',
		join_intro: 'You were invited to ementor. Read the privacy notice, then choose your username and password.',
		privacy_title: 'Privacy notice',
		privacy_version: 'Version {version}',
		privacy_accept: 'I have read the privacy notice and accept it',
		join: 'Join',
		joining: 'Creating your account…',
		no_invite: 'This link has no invite code. Ask your programme manager for a new link.',
		passwords_differ: 'The two passwords differ.',
		password_short: 'The password must have at least 8 characters.',
		must_accept: 'Please read and accept the privacy notice first.',
		wrong_password: 'This password does not open the copy of your account on this device.',
		forget_device: 'Remove this device’s copy and log in again',
		other_tab: 'ementor is open for this account in another tab. Close it there first.',
		rooms_title: 'Your rooms',
		refresh: 'Refresh',
		rooms_empty: 'You are not in a room yet. Your programme manager will add you.',
		unread: '{n} unread',
		no_messages: 'No messages yet',
		last_activity: 'Last activity {when}',
		room_kind_pair: 'Pair room',
		room_kind_group: 'Group room',
		mentor_is: 'Mentor: {name}',
		back: 'Back to rooms',
		log_out: 'Log out',
		signed_in_as: 'Signed in as {name}',
		messages: 'Messages',
		message_label: 'Your message',
		send: 'Send',
		sending: 'Sending…',
		typing: '{name} is typing…',
		read_by: 'Read by {names}',
		message_unreadable: 'This message could not be opened: {why}',
		agreement_title: 'Mentoring agreement',
		agreement_intro: 'Before you can write in this room, read the agreement: its terms and the code of ethics. Every party signs the same text.',
		agreement_period: 'From {from} to {to}',
		agreement_parties: 'Parties',
		agreement_accept: 'I have read the terms and the code of ethics and I agree to them',
		sign: 'Sign the agreement',
		signing: 'Signing…',
		signed: 'You signed version {version} of the agreement.',
		waiting_for: 'Waiting for the signatures of: {names}',
		safety_title: 'Safety numbers',
		safety_intro: 'Compare these numbers with each person when you meet. If they match, nobody can read your messages in between.',
		safety_show: 'Safety numbers',
		safety_close: 'Close',
		keys_changed: 'Warning: the keys of {name} changed. Compare the new safety number in person before you trust them.',
		new_safety: 'New safety number: {number}',
		accept_keys: 'I compared it: trust the new keys',
		warning: 'Warning',
		link_down: 'Connection lost. Reconnecting…',
		link_up: 'Connected',
		error: 'Error: {message}',
		version: 'ementor {version} · web app sha256 {digest}',
		version_check: 'How to check the code this server sends you: SECURITY.md, “The web client”.',
		me: 'you',
	},
	pl: {
		app_name: 'ementor',
		tagline: 'Mentoring szyfrowany od końca do końca',
		language: 'Język',
		loading: 'Wczytywanie…',
		working_keys: 'Wyprowadzanie kluczy na tym urządzeniu… to potrwa kilka sekund.',
		login_title: 'Zaloguj się',
		username: 'Nazwa użytkownika',
		display_name: 'Twoje imię (widoczne dla mentora lub podopiecznych)',
		password: 'Hasło',
		password_again: 'Powtórz hasło',
		password_hint: 'Co najmniej 8 znaków. Hasło nie opuszcza tego urządzenia: wysyłane są tylko klucze z niego wyprowadzone.',
		log_in: 'Zaloguj',
		logging_in: 'Logowanie…',
		join_title: 'Dołącz do programu mentoringowego',
		join_intro: 'Otrzymałeś zaproszenie do ementor. Przeczytaj informację o prywatności, potem wybierz nazwę użytkownika i hasło.',
		privacy_title: 'Informacja o prywatności',
		privacy_version: 'Wersja {version}',
		privacy_accept: 'Przeczytałem informację o prywatności i akceptuję ją',
		join: 'Dołącz',
		joining: 'Tworzenie konta…',
		no_invite: 'Ten link nie zawiera kodu zaproszenia. Poproś koordynatora programu o nowy link.',
		passwords_differ: 'Hasła się różnią.',
		password_short: 'Hasło musi mieć co najmniej 8 znaków.',
		must_accept: 'Najpierw przeczytaj i zaakceptuj informację o prywatności.',
		wrong_password: 'To hasło nie otwiera kopii Twojego konta na tym urządzeniu.',
		forget_device: 'Usuń kopię z tego urządzenia i zaloguj się ponownie',
		other_tab: 'ementor jest otwarty dla tego konta w innej karcie. Najpierw go tam zamknij.',
		rooms_title: 'Twoje pokoje',
		refresh: 'Odśwież',
		rooms_empty: 'Nie jesteś jeszcze w żadnym pokoju. Koordynator programu Cię doda.',
		unread: 'nieprzeczytane: {n}',
		no_messages: 'Brak wiadomości',
		last_activity: 'Ostatnia aktywność {when}',
		room_kind_pair: 'Pokój w parze',
		room_kind_group: 'Pokój grupowy',
		mentor_is: 'Mentor: {name}',
		back: 'Wróć do pokoi',
		log_out: 'Wyloguj',
		signed_in_as: 'Zalogowano jako {name}',
		messages: 'Wiadomości',
		message_label: 'Twoja wiadomość',
		send: 'Wyślij',
		sending: 'Wysyłanie…',
		typing: '{name} pisze…',
		read_by: 'Przeczytane przez: {names}',
		message_unreadable: 'Nie udało się otworzyć tej wiadomości: {why}',
		agreement_title: 'Umowa mentoringowa',
		agreement_intro: 'Zanim napiszesz w tym pokoju, przeczytaj umowę: jej warunki i kodeks etyczny. Każda ze stron podpisuje ten sam tekst.',
		agreement_period: 'Od {from} do {to}',
		agreement_parties: 'Strony',
		agreement_accept: 'Przeczytałem warunki i kodeks etyczny i zgadzam się na nie',
		sign: 'Podpisz umowę',
		signing: 'Podpisywanie…',
		signed: 'Podpisałeś wersję {version} umowy.',
		waiting_for: 'Czekamy na podpisy: {names}',
		safety_title: 'Numery bezpieczeństwa',
		safety_intro: 'Porównaj te numery z każdą osobą przy spotkaniu. Jeśli się zgadzają, nikt po drodze nie przeczyta Waszych wiadomości.',
		safety_show: 'Numery bezpieczeństwa',
		safety_close: 'Zamknij',
		keys_changed: 'Uwaga: klucze użytkownika {name} się zmieniły. Porównaj nowy numer bezpieczeństwa osobiście, zanim mu zaufasz.',
		new_safety: 'Nowy numer bezpieczeństwa: {number}',
		accept_keys: 'Porównałem: ufam nowym kluczom',
		warning: 'Uwaga',
		link_down: 'Utracono połączenie. Ponowne łączenie…',
		link_up: 'Połączono',
		error: 'Błąd: {message}',
		version: 'ementor {version} · aplikacja sha256 {digest}',
		version_check: 'Jak sprawdzić kod wysyłany przez ten serwer: SECURITY.md, „The web client”.',
		me: 'Ty',
	},
};

export const LANGUAGES = { en: 'English', pl: 'Polski' };
const STORE_KEY = 'ementor.lang';
let lang = 'en';

/** The language to start with: the user's choice, else the first of the browser's we have. */
export function initialLanguage() {
	let chosen = null;
	try {
		chosen = localStorage.getItem(STORE_KEY);
	} catch {
		chosen = null;
	}
	if (chosen && TEXTS[chosen])
		return chosen;
	for (const l of navigator.languages ?? [navigator.language ?? 'en']) {
		const base = String(l).toLowerCase().split('-')[0];
		if (TEXTS[base])
			return base;
	}
	return 'en';
}

export function setLanguage(l, remember = false) {
	lang = TEXTS[l] ? l : 'en';
	document.documentElement.lang = lang;
	if (remember) {
		try {
			localStorage.setItem(STORE_KEY, lang);
		} catch {
			// private mode: the choice lasts for this page only
		}
	}
}

export function language() {
	return lang;
}

/** The text of key in the current language, {name} placeholders filled from vars. */
export function t(key, vars = {}) {
	const text = TEXTS[lang][key] ?? TEXTS.en[key] ?? key;
	return text.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

/** Every key has a text in every language (the browser test checks it). */
export function missingTexts() {
	const missing = [];
	for (const l of Object.keys(TEXTS))
		for (const k of Object.keys(TEXTS.en))
			if (!(k in TEXTS[l]))
				missing.push(`${l}.${k}`);
	return missing;
}
