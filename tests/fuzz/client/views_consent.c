/* views_consent.c - client/cmd_consent.c with its ledger check exported (views.h). */
#include "cmd_consent.c"
#include "views.h"

int view_consent_entry_ok(const struct msg_ctx *m, json_t *entry)
{
	return consent_entry_ok(m, entry);
}
