/*
 * svc_consent.c - the consent ledger's service-thread side: privacy.notice
 * (answered without the database: the texts and hashes a client signs) and,
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
	(void)s, (void)req, (void)msg, (void)msglen;
	*result = json_pack("{s:s, s:s, s:o, s:s, s:o}", "version", ledger_notice_version(), "text",
	                    ledger_notice_text(), "text_hash", model_b64(ledger_notice_hash(), 32),
	                    "share_progress_text", ledger_share_text(), "share_progress_hash",
	                    model_b64(ledger_share_hash(), 32));
	return *result ? EM_OK : EM_ERR_NOMEM;
}

/* Service thread, after an erasure: the user's connections here are closed. */
void consent_erased_finished(struct db_job *job)
{
	if (job->err == EM_OK)
		fanout_close_erased(job->user_id);
}
