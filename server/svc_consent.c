/*
 * svc_consent.c - the consent ledger's service-thread side: privacy.notice
 * (answered without the database: the texts and hashes a client signs, in
 * the language asked for) and,
 * after an erasure committed, the closing of the user's connections here
 * (4003). The ledger's SQL is handle_consent.c's.
 */
#include <stdio.h>

#include "fanout.h"
#include "handlers.h"
#include "ledger.h"
#include "model.h"
#include "session.h"

int privacy_notice_local(struct session *s, const struct em_request *req, json_t **result,
                         char *msg, size_t msglen)
{
	const char *lang = json_string_value(json_object_get(req->args, "lang"));
	const char *version = ledger_notice_version(lang);

	(void)s, (void)msg, (void)msglen;
	/* "lang": the notice's own (English when asked for a language it is not in) */
	*result = json_pack(
	    "{s:s, s:s, s:o, s:s, s:s, s:o}", "version", version, "text", ledger_notice_text(lang),
	    "text_hash", model_b64(ledger_notice_hash(lang), 32), "lang",
	    ledger_notice_lang_of(version), "share_progress_text", ledger_share_text(),
	    "share_progress_hash", model_b64(ledger_share_hash(), 32));
	return *result ? EM_OK : EM_ERR_NOMEM;
}

/* Service thread, after an erasure: the user's connections here are closed. */
void consent_erased_finished(struct db_job *job)
{
	if (job->err == EM_OK)
		fanout_close_erased(job->user_id);
}
