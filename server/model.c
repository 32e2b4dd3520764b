/*
 * model.c - builders for the protocol's User and Programme objects (model.h).
 * The fingerprint is computed here with the same function the clients use,
 * so both sides always print the same string.
 */
#include <stdlib.h>
#include <string.h>

#include "em_crypto.h"
#include "em_proto.h"
#include "model.h"
#include "store.h"

json_t *model_b64(const unsigned char *bin, size_t len)
{
	char *s = em_b64_encode(bin, len);
	json_t *j = s ? json_string(s) : NULL;

	free(s);
	return j;
}

json_t *model_bytea_b64(const PGresult *r, int row, int col, size_t max)
{
	unsigned char *bin = malloc(max);
	json_t *j = NULL;
	int n;

	if (!bin)
		return NULL;
	n = store_bytea(r, row, col, bin, max);
	if (n >= 0)
		j = model_b64(bin, (size_t)n);
	free(bin);
	return j;
}

json_t *model_user(const PGresult *r, int row, int col)
{
	unsigned char sign_pk[32], box_pk[32];
	char fp[EM_FINGERPRINT_STRLEN];

	if (store_bytea(r, row, col + 4, sign_pk, 32) != 32 ||
	    store_bytea(r, row, col + 5, box_pk, 32) != 32)
		return NULL;
	em_fingerprint(sign_pk, box_pk, fp);
	return json_pack("{sIsssssssssoso}", "id", (json_int_t)store_int(r, row, col), "username",
	                 store_str(r, row, col + 1), "display_name", store_str(r, row, col + 2),
	                 "role", store_str(r, row, col + 3), "fingerprint", fp, "sign_pk",
	                 model_b64(sign_pk, 32), "box_pk", model_b64(box_pk, 32));
}

json_t *model_programme(const PGresult *r, int row, int col)
{
	const char *purged = store_str(r, row, col + 8);
	const char *ended = store_str(r, row, col + 11), *archived = store_str(r, row, col + 12);
	unsigned char sig[EM_SIG_BYTES];
	int64_t created_by = store_int(r, row, col + 9);

	return json_pack(
	    "{sIsssssssIsssbsIsososososo}", "id", (json_int_t)store_int(r, row, col), "name",
	    store_str(r, row, col + 1), "starts_on", store_str(r, row, col + 2), "ends_on",
	    store_str(r, row, col + 3), "max_group_mentees", (json_int_t)store_int(r, row, col + 4),
	    "created_at", store_str(r, row, col + 5), "agreement_required",
	    store_bool(r, row, col + 6), "retention_days", (json_int_t)store_int(r, row, col + 7),
	    "purged_at", purged ? json_string(purged) : json_null(), "created_by",
	    created_by > 0 ? json_integer((json_int_t)created_by) : json_null(), "settings_sig",
	    store_bytea(r, row, col + 10, sig, sizeof(sig)) == (int)sizeof(sig)
	        ? model_b64(sig, sizeof(sig))
	        : json_null(),
	    "ended_early_at", ended ? json_string(ended) : json_null(), "archived_at",
	    archived ? json_string(archived) : json_null());
}
