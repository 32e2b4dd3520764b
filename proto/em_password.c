/*
 * em_password.c - how a password becomes the bytes Argon2id hashes
 * (docs/PROTOCOL.md "Account keys"): its UTF-8 encoding after Unicode
 * Normalization Form C. The same password typed where the system composes
 * characters ("Zoë" as U+00EB) and where it does not (e + U+0308) then derives
 * the same keys; without it, a user could not log in from the other device.
 *
 * Native builds normalise with libunistring (u8_check, u8_normalize); the
 * WebAssembly build (web/core) with the JavaScript engine's
 * String.prototype.normalize('NFC'), so that the client core's login and
 * register derive the same keys in both. Kept out of em_crypto.c so that a
 * program that never takes a password (ementord) does not link libunistring.
 *
 * Secrets: the normalised copy is in a buffer of ours, wiped before it is
 * freed. libunistring's own scratch space (the code points while it reorders
 * combining marks; on its stack for short inputs, on the heap for long ones)
 * is freed without being wiped: a limit of the library.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __EMSCRIPTEN__
#include <emscripten.h>
#else
#include <uninorm.h>
#include <unistr.h>
#endif

#include "em_crypto.h"

/* NFC makes UTF-8 at most three times longer (Unicode's stability policy, UAX #15). */
#define NFC_GROWTH_MAX 3

#ifdef __EMSCRIPTEN__
/*
 * WebAssembly: NFC by the JavaScript engine that runs the module
 * (String.prototype.normalize, ICU's tables in V8 and the other engines),
 * which saves shipping libunistring's. The UTF-8 of the NFC form goes into a
 * malloc'd buffer at *out; returns its length, -1 when the bytes are not
 * UTF-8 (TextDecoder's fatal mode refuses what u8_check() refuses), -2 when
 * out of memory. The JavaScript strings cannot be wiped: a browser holds the
 * password as a string already (the input field it was typed in).
 */
EM_JS(int, em_js_nfc, (const char *src, size_t len, unsigned char **out), {
	let text;
	try {
		text = new TextDecoder('utf-8', {fatal : true, ignoreBOM : true})
		           .decode(HEAPU8.slice(src, src + len));
	} catch (e) {
		return -1;
	}
	const bytes = new TextEncoder().encode(text.normalize('NFC'));
	const p = _malloc(bytes.length + 1);
	if (!p)
		return -2;
	HEAPU8.set(bytes, p);
	HEAPU32[out >> 2] = p;
	bytes.fill(0);
	return bytes.length;
});

int em_password_bytes(const char *password, size_t len, unsigned char **out, size_t *out_len)
{
	int n;

	*out = NULL;
	*out_len = 0;
	if (len > INT32_MAX / 4)
		return EM_PASSWORD_NOMEM;
	n = em_js_nfc(password, len, out);
	if (n == -1)
		return EM_PASSWORD_NOT_UTF8;
	if (n < 0) {
		*out = NULL;
		return EM_PASSWORD_NOMEM;
	}
	*out_len = (size_t)n;
	return EM_PASSWORD_OK;
}
#else
int em_password_bytes(const char *password, size_t len, unsigned char **out, size_t *out_len)
{
	const uint8_t *in = (const uint8_t *)password;
	size_t cap, n;
	uint8_t *buf = NULL, *res;
	int rc = EM_PASSWORD_NOMEM;

	*out = NULL;
	*out_len = 0;
	if (u8_check(in, len) != NULL)
		return EM_PASSWORD_NOT_UTF8;
	if (len > (SIZE_MAX - 1) / NFC_GROWTH_MAX)
		return EM_PASSWORD_NOMEM;
	cap = len * NFC_GROWTH_MAX + 1;
	if (!(buf = malloc(cap)))
		goto out;
	n = cap;
	res = u8_normalize(UNINORM_NFC, in, len, buf, &n);
	if (!res) {
		rc = errno == EILSEQ ? EM_PASSWORD_NOT_UTF8 : EM_PASSWORD_NOMEM;
		goto out;
	}
	if (res != buf) {
		/* longer than the bound: cannot happen, but keep the copy in a buffer of ours */
		uint8_t *bigger = malloc(n + 1);

		if (bigger)
			memcpy(bigger, res, n);
		sodium_memzero(res, n);
		free(res);
		if (!bigger)
			goto out;
		sodium_memzero(buf, cap);
		free(buf);
		buf = bigger;
		cap = n + 1;
	}
	*out = buf;
	*out_len = n;
	buf = NULL;
	rc = EM_PASSWORD_OK;
out:
	if (buf) {
		sodium_memzero(buf, cap);
		free(buf);
	}
	return rc;
}
#endif

void em_password_free(unsigned char *bytes, size_t len)
{
	if (!bytes)
		return;
	sodium_memzero(bytes, len);
	free(bytes);
}

int em_kdf_derive_password(const char *password, size_t password_len, const unsigned char salt[16],
                           uint64_t opslimit, uint64_t memlimit, unsigned char auth_key[32],
                           unsigned char wrap_key[32])
{
	unsigned char *bytes = NULL;
	size_t n = 0;
	int rc = em_password_bytes(password, password_len, &bytes, &n);

	if (rc != EM_PASSWORD_OK)
		goto out;
	/* an empty password normalises to nothing: Argon2id takes a zero-length input */
	if (em_kdf_derive(bytes ? (const char *)bytes : "", n, salt, opslimit, memlimit, auth_key,
	                  wrap_key) != 0)
		rc = EM_PASSWORD_NOMEM;
out:
	em_password_free(bytes, n);
	return rc;
}

const char *em_password_strerror(int err)
{
	switch (err) {
	case EM_PASSWORD_OK:
		return "ok";
	case EM_PASSWORD_NOT_UTF8:
		return "the password is not valid UTF-8 (set a UTF-8 locale, or type it where "
		       "the terminal encodes UTF-8)";
	case EM_PASSWORD_NOMEM:
		return "not enough memory to derive the keys from the password";
	default:
		return "unknown error";
	}
}
