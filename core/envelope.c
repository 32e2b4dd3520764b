/*
 * envelope.c - records sealed to a list of readers and signed by their
 * author (envelope.h; the byte layout is docs/PROTOCOL.md 10.1):
 *
 *   prefix = label 0x00 || u32 len(ctx) || ctx || u64 author_id
 *   body   = u8 1 || u32 n || id_1 .. id_n (u64, ascending)
 *            || sealed_1 .. sealed_n (crypto_box_seal(key, box_pk_i), 80 bytes each)
 *            || nonce(24) || u32 len(ct) || ct
 *   ct     = XChaCha20-Poly1305(sodium_pad(doc, 256), ad = prefix || u8 1 || u32 n || ids,
 *                               nonce, key)
 *   sig    = Ed25519(prefix || body, author's sign_sk)
 *   blob   = body || sig
 *
 * DESIGN. The signature covers the recipient list and every sealed key, so
 * a server that adds a reader, drops one or swaps a sealed key breaks it;
 * the context (room, record id, version, ...) is the caller's and is never
 * sent inside the blob, so a reader rebuilds it from what it expects and a
 * record moved to another room, id or version does not verify. The key is
 * fresh per record: sealing to fewer readers later never re-opens older
 * records to anyone, and no reader holds a key that opens more than one.
 * Pure; any thread. Secrets (the key, the padded text) are wiped.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "envelope.h"

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define KEY_BYTES   crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define TAG_BYTES   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define SIG_BYTES   crypto_sign_BYTES

unsigned char *envelope_put_u64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

unsigned char *envelope_put_u32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--)
		*p++ = (unsigned char)(v >> (8 * i));
	return p;
}

unsigned char *envelope_put_lp(unsigned char *p, const void *s, size_t len)
{
	p = envelope_put_u32(p, (uint32_t)len);
	if (len)
		memcpy(p, s, len);
	return p + len;
}

static uint64_t get_u64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static uint32_t get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* label 0x00 || u32 len(ctx) || ctx || u64 author into out (room for it checked). */
static size_t prefix_make(const char *label, const unsigned char *ctx, size_t ctx_len,
                          uint64_t author_id, unsigned char *out)
{
	size_t l = strlen(label) + 1;
	unsigned char *p = out;

	memcpy(p, label, l);
	p = envelope_put_lp(p + l, ctx, ctx_len);
	p = envelope_put_u64(p, author_id);
	return (size_t)(p - out);
}

#define PREFIX_MAX (ENVELOPE_LABEL_MAX + 1 + 4 + ENVELOPE_CONTEXT_MAX + 8)

/* The signed bytes (prefix || body) in a malloc'd buffer; NULL when out of memory. */
static unsigned char *signed_bytes(const unsigned char *prefix, size_t plen,
                                   const unsigned char *body, size_t blen)
{
	unsigned char *m = malloc(plen + blen);

	if (m) {
		memcpy(m, prefix, plen);
		memcpy(m + plen, body, blen);
	}
	return m;
}

static int args_ok(const char *label, size_t ctx_len)
{
	return label && strlen(label) > 0 && strlen(label) <= ENVELOPE_LABEL_MAX &&
	       ctx_len <= ENVELOPE_CONTEXT_MAX;
}

int envelope_seal(const char *label, const unsigned char *ctx, size_t ctx_len, uint64_t author_id,
                  const uint64_t *ids, const unsigned char (*box_pks)[32], size_t n,
                  const unsigned char *doc, size_t doc_len, const unsigned char sign_sk[64],
                  unsigned char **out, size_t *out_len)
{
	unsigned char prefix[PREFIX_MAX], ad[PREFIX_MAX + 5 + 8 * ENVELOPE_RECIPIENTS];
	unsigned char key[KEY_BYTES], *padded = NULL, *body = NULL, *m = NULL, *p;
	size_t plen, padded_len = 0, max, ct_len, blen, adlen;
	unsigned long long clen = 0;
	int rc = ENVELOPE_MALFORMED;

	*out = NULL;
	*out_len = 0;
	if (!args_ok(label, ctx_len) || n < 1 || n > ENVELOPE_RECIPIENTS)
		goto out;
	for (size_t i = 1; i < n; i++)
		if (ids[i] <= ids[i - 1])
			goto out;
	rc = ENVELOPE_NOMEM;
	max = doc_len + ENVELOPE_PAD_BLOCK;
	if (!(padded = sodium_malloc(max)))
		goto out;
	if (doc_len)
		memcpy(padded, doc, doc_len);
	if (sodium_pad(&padded_len, padded, doc_len, ENVELOPE_PAD_BLOCK, max) != 0)
		goto out;
	ct_len = padded_len + TAG_BYTES;
	blen = 1 + 4 + 8 * n + ENVELOPE_SEALED_BYTES * n + NONCE_BYTES + 4 + ct_len;
	if (!(body = malloc(blen + SIG_BYTES)))
		goto out;
	plen = prefix_make(label, ctx, ctx_len, author_id, prefix);
	crypto_aead_xchacha20poly1305_ietf_keygen(key);
	p = body;
	*p++ = ENVELOPE_FORMAT;
	p = envelope_put_u32(p, (uint32_t)n);
	for (size_t i = 0; i < n; i++)
		p = envelope_put_u64(p, ids[i]);
	memcpy(ad, prefix, plen);
	memcpy(ad + plen, body, (size_t)(p - body));
	adlen = plen + (size_t)(p - body);
	rc = ENVELOPE_MALFORMED;
	for (size_t i = 0; i < n; i++, p += ENVELOPE_SEALED_BYTES)
		if (crypto_box_seal(p, key, sizeof(key), box_pks[i]) != 0)
			goto out;
	randombytes_buf(p, NONCE_BYTES);
	p = envelope_put_u32(p + NONCE_BYTES, (uint32_t)ct_len);
	crypto_aead_xchacha20poly1305_ietf_encrypt(p, &clen, padded, padded_len, ad, adlen, NULL,
	                                           p - 4 - NONCE_BYTES, key);
	if (clen != ct_len)
		goto out;
	rc = ENVELOPE_NOMEM;
	if (!(m = signed_bytes(prefix, plen, body, blen)))
		goto out;
	crypto_sign_detached(body + blen, NULL, m, plen + blen, sign_sk);
	*out = body;
	*out_len = blen + SIG_BYTES;
	body = NULL;
	rc = ENVELOPE_OK;
out:
	sodium_memzero(key, sizeof(key));
	if (padded)
		sodium_free(padded);
	free(body);
	free(m);
	return rc;
}

/* Where the parts of a body are; 0 or ENVELOPE_MALFORMED. */
struct envelope_view {
	size_t n, body_len, ids_end;
	const unsigned char *ids, *sealed, *nonce, *ct, *sig;
	size_t ct_len;
};

static int envelope_parse(const unsigned char *blob, size_t len, struct envelope_view *v)
{
	size_t off;

	memset(v, 0, sizeof(*v));
	if (len < 1 + 4 + SIG_BYTES || blob[0] != ENVELOPE_FORMAT)
		return ENVELOPE_MALFORMED;
	v->n = get_u32(blob + 1);
	if (v->n < 1 || v->n > ENVELOPE_RECIPIENTS)
		return ENVELOPE_MALFORMED;
	off = 5;
	v->ids = blob + off;
	off += 8 * v->n;
	v->ids_end = off;
	v->sealed = blob + off;
	off += ENVELOPE_SEALED_BYTES * v->n;
	if (len < off + NONCE_BYTES + 4 + SIG_BYTES)
		return ENVELOPE_MALFORMED;
	v->nonce = blob + off;
	off += NONCE_BYTES;
	v->ct_len = get_u32(blob + off);
	off += 4;
	if (v->ct_len < TAG_BYTES + ENVELOPE_PAD_BLOCK || len - off - SIG_BYTES != v->ct_len)
		return ENVELOPE_MALFORMED;
	v->ct = blob + off;
	v->body_len = off + v->ct_len;
	v->sig = blob + v->body_len;
	for (size_t i = 0; i < v->n; i++)
		if (i > 0 && get_u64(v->ids + 8 * i) <= get_u64(v->ids + 8 * (i - 1)))
			return ENVELOPE_MALFORMED;
	return ENVELOPE_OK;
}

int envelope_recipients(const unsigned char *blob, size_t len, uint64_t ids[ENVELOPE_RECIPIENTS],
                        size_t *n)
{
	struct envelope_view v;

	*n = 0;
	if (envelope_parse(blob, len, &v) != ENVELOPE_OK)
		return ENVELOPE_MALFORMED;
	for (size_t i = 0; i < v.n; i++)
		ids[i] = get_u64(v.ids + 8 * i);
	*n = v.n;
	return ENVELOPE_OK;
}

int envelope_open(const char *label, const unsigned char *ctx, size_t ctx_len, uint64_t author_id,
                  const unsigned char author_sign_pk[32], uint64_t me_id,
                  const unsigned char me_box_pk[32], const unsigned char me_box_sk[32],
                  const unsigned char *blob, size_t len, uint64_t ids[ENVELOPE_RECIPIENTS],
                  size_t *n, unsigned char **doc, size_t *doc_len)
{
	unsigned char prefix[PREFIX_MAX], ad[PREFIX_MAX + 5 + 8 * ENVELOPE_RECIPIENTS];
	unsigned char key[KEY_BYTES], *m = NULL, *padded = NULL;
	unsigned long long plain_len = 0;
	struct envelope_view v;
	size_t plen, unpadded = 0;
	int rc, mine = -1;

	*doc = NULL;
	*doc_len = 0;
	*n = 0;
	if (!args_ok(label, ctx_len) || envelope_parse(blob, len, &v) != ENVELOPE_OK)
		return ENVELOPE_MALFORMED;
	plen = prefix_make(label, ctx, ctx_len, author_id, prefix);
	rc = ENVELOPE_NOMEM;
	if (!(m = signed_bytes(prefix, plen, blob, v.body_len)))
		goto out;
	rc = ENVELOPE_BAD_SIGNATURE;
	if (crypto_sign_verify_detached(v.sig, m, plen + v.body_len, author_sign_pk) != 0)
		goto out;
	for (size_t i = 0; i < v.n; i++) {
		ids[i] = get_u64(v.ids + 8 * i);
		if (ids[i] == me_id)
			mine = (int)i;
	}
	*n = v.n;
	rc = ENVELOPE_NOT_RECIPIENT;
	if (mine < 0)
		goto out;
	rc = ENVELOPE_UNREADABLE;
	if (crypto_box_seal_open(key, v.sealed + ENVELOPE_SEALED_BYTES * (size_t)mine,
	                         ENVELOPE_SEALED_BYTES, me_box_pk, me_box_sk) != 0)
		goto out;
	memcpy(ad, prefix, plen);
	memcpy(ad + plen, blob, v.ids_end);
	rc = ENVELOPE_NOMEM;
	if (!(padded = malloc(v.ct_len)))
		goto out;
	rc = ENVELOPE_UNREADABLE;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(padded, &plain_len, NULL, v.ct, v.ct_len, ad,
	                                               plen + v.ids_end, v.nonce, key) != 0 ||
	    sodium_unpad(&unpadded, padded, (size_t)plain_len, ENVELOPE_PAD_BLOCK) != 0)
		goto out;
	*doc = padded;
	*doc_len = unpadded;
	padded = NULL;
	rc = ENVELOPE_OK;
out:
	sodium_memzero(key, sizeof(key));
	if (padded) {
		sodium_memzero(padded, v.ct_len);
		free(padded);
	}
	free(m);
	return rc;
}
