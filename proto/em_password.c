/*
 * em_password.c - how a password becomes the bytes Argon2id hashes
 * (docs/PROTOCOL.md "Account keys"): its UTF-8 encoding after Unicode
 * Normalization Form C. The same password typed where the system composes
 * characters ("Zoë" as U+00EB) and where it does not (e + U+0308) then derives
 * the same keys; without it, a user could not log in from the other device.
 *
 * Native builds only, on libunistring (u8_check, u8_normalize). The
 * WebAssembly core does not build this file: its JavaScript side normalises
 * with String.prototype.normalize('NFC') before handing bytes to C. Kept out
 * of em_crypto.c so that a program that never takes a password (ementord)
 * does not link libunistring.
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
#include <uninorm.h>
#include <unistr.h>

#include "em_crypto.h"

/* NFC makes UTF-8 at most three times longer (Unicode's stability policy, UAX #15). */
#define NFC_GROWTH_MAX 3

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
