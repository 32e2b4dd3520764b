/*
 * fuzz.h - what the fuzz targets share: the libFuzzer entry points, a
 * property check that aborts (libFuzzer reports an abort as a crash, and
 * the corpus replay fails on it), and a reader that turns the fuzzer's
 * bytes into typed values for targets whose input is not one text.
 */
#ifndef EMENTOR_FUZZ_H
#define EMENTOR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional: called once before the first input (by libFuzzer and by replay.c). */
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Aborts with a message when a property does not hold. */
static inline void fuzz_check(int ok, const char *target, const char *what)
{
	if (!ok) {
		fprintf(stderr, "%s: property violated: %s\n", target, what);
		abort();
	}
}

/* The fuzzer's bytes, consumed front to back; reads past the end give zeros. */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline uint64_t fuzz_take(struct fuzz_in *in, unsigned nbytes)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < nbytes; i++) {
		v <<= 8;
		if (in->left) {
			v |= *in->p++;
			in->left--;
		}
	}
	return v;
}

/*
 * A string of at most max bytes (a length byte, then the bytes) into out
 * (size max + 1), NUL-terminated; a NUL among the bytes ends it early, as it
 * would in C. Returns out.
 */
static inline char *fuzz_take_str(struct fuzz_in *in, char *out, size_t max)
{
	size_t n = (size_t)fuzz_take(in, max > 255 ? 2 : 1) % (max + 1);

	if (n > in->left)
		n = in->left;
	memcpy(out, in->p, n);
	out[n] = '\0';
	for (size_t i = strnlen(out, n); i < n; i++)
		out[i] = '\0'; /* nothing after an early NUL */
	in->p += n;
	in->left -= n;
	return out;
}

#endif
