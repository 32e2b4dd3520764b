/*
 * handlers.c (stub) - every handler server/dispatch.c's table names, as a
 * one-line stand-in: the DB runs (never called in a unit test: submit_job is
 * stubbed too, so only their addresses matter, to tell jobs apart) return
 * EM_OK; the service-thread handlers (local answers, a check, the done
 * callbacks) record their calls in stubs.h's globals. When dispatch.c's
 * table names a new handler, add it here.
 */
#include <stdio.h>

#include "handlers.h"
#include "stubs.h"

int stub_done_calls;
int stub_done_op;
int stub_local_calls;

#define STUB_RUN(name)                                                                             \
	int name(struct db_conn *c, struct db_job *job)                                            \
	{                                                                                          \
		(void)c;                                                                           \
		(void)job;                                                                         \
		return EM_OK;                                                                      \
	}

STUB_RUN(auth_prelogin_run)
STUB_RUN(auth_register_run)
STUB_RUN(auth_login_run)
STUB_RUN(auth_resume_run)
STUB_RUN(auth_logout_run)
STUB_RUN(auth_whoami_run)
STUB_RUN(auth_passwd_run)
STUB_RUN(invite_create_run)
STUB_RUN(invite_accept_run)
STUB_RUN(programme_create_run)
STUB_RUN(programme_list_run)
STUB_RUN(programme_show_run)
STUB_RUN(programme_settings_run)
STUB_RUN(room_create_run)
STUB_RUN(room_list_run)
STUB_RUN(room_show_run)
STUB_RUN(room_add_run)
STUB_RUN(room_remove_run)
STUB_RUN(message_sync_run)
STUB_RUN(message_history_run)
STUB_RUN(message_receipt_run)
STUB_RUN(message_epoch_commit_run)
STUB_RUN(message_keys_run)
STUB_RUN(checkpoint_list_run)
STUB_RUN(checkpoint_propose_run)
STUB_RUN(checkpoint_answer_run)
STUB_RUN(checkpoint_reschedule_run)
STUB_RUN(checkpoint_cancel_run)
STUB_RUN(checkpoint_absent_run)
STUB_RUN(checkpoint_record_run)
STUB_RUN(checkpoint_attend_run)
STUB_RUN(checkpoint_window_run)
STUB_RUN(meeting_add_run)
STUB_RUN(meeting_plan_run)
STUB_RUN(meeting_topic_run)
STUB_RUN(calendar_url_run)
STUB_RUN(calendar_revoke_run)
STUB_RUN(calendar_export_run)
STUB_RUN(notice_list_run)
STUB_RUN(notice_ack_run)
STUB_RUN(agreement_show_run)
STUB_RUN(agreement_sign_run)
STUB_RUN(agreement_propose_run)
STUB_RUN(agreement_template_get_run)
STUB_RUN(agreement_template_set_run)
STUB_RUN(consent_list_run)
STUB_RUN(consent_grant_run)
STUB_RUN(consent_withdraw_run)
STUB_RUN(account_export_run)
STUB_RUN(audit_report_run)
STUB_RUN(audit_thresholds_run)
STUB_RUN(room_access_log_run)
STUB_RUN(diary_writer_get_run)
STUB_RUN(diary_writer_set_run)
STUB_RUN(diary_write_run)
STUB_RUN(diary_remark_run)
STUB_RUN(diary_show_run)
STUB_RUN(diary_list_run)
STUB_RUN(goal_create_run)
STUB_RUN(goal_update_run)
STUB_RUN(goal_list_run)
STUB_RUN(goal_history_run)
STUB_RUN(rating_add_run)
STUB_RUN(rating_list_run)
STUB_RUN(programme_edit_run)
STUB_RUN(programme_end_run)
STUB_RUN(programme_archive_run)
STUB_RUN(programme_history_run)
STUB_RUN(room_rename_run)
STUB_RUN(recovery_set_run)
STUB_RUN(recovery_open_run)
STUB_RUN(recovery_reset_run)
STUB_RUN(questionnaire_get_run)
STUB_RUN(questionnaire_set_run)
STUB_RUN(questionnaire_answer_run)
STUB_RUN(questionnaire_answers_run)
STUB_RUN(progress_share_run)
STUB_RUN(progress_list_run)
STUB_RUN(mail_show_run)
STUB_RUN(mail_set_run)
STUB_RUN(mail_verify_run)
STUB_RUN(invite_list_run)
STUB_RUN(invite_resend_run)
STUB_RUN(invite_revoke_run)
STUB_RUN(invite_import_run)
STUB_RUN(reset_issue_run)
STUB_RUN(reset_redeem_run)

void message_batch_run(struct db_conn *c, struct db_job **jobs, int n)
{
	(void)c;
	(void)jobs;
	(void)n;
}

/* Refuses (bad_dates, with a message) when the request says {"refuse": true}. */
int programme_create_check(const struct session *s, struct db_job *job)
{
	(void)s;
	if (!json_is_true(json_object_get(job->args, "refuse")))
		return EM_OK;
	snprintf(job->message, sizeof(job->message), "stub check refused");
	return EM_ERR_BAD_DATES;
}

int recovery_register_check(const struct session *s, struct db_job *job)
{
	(void)s;
	(void)job;
	return EM_OK;
}

int programme_edit_check(const struct session *s, struct db_job *job)
{
	(void)s;
	(void)job;
	return EM_OK;
}

static void done(struct session *s, struct db_job *job)
{
	(void)s;
	stub_done_calls++;
	stub_done_op = (int)job->op;
}

void auth_login_done(struct session *s, struct db_job *job)
{
	done(s, job);
}

void auth_logout_done(struct session *s, struct db_job *job)
{
	done(s, job);
}

void auth_roles_done(struct session *s, struct db_job *job)
{
	done(s, job);
}

void message_sync_done(struct session *s, struct db_job *job)
{
	done(s, job);
}

/* A local answer that fails: not_member, with its message. */
int message_typing_local(struct session *s, const struct em_request *req, json_t **result,
                         char *msg, size_t msglen)
{
	(void)s;
	(void)req;
	(void)result;
	stub_local_calls++;
	snprintf(msg, msglen, "stub typing refused");
	return EM_ERR_NOT_MEMBER;
}

/* A local answer that succeeds. */
int privacy_notice_local(struct session *s, const struct em_request *req, json_t **result,
                         char *msg, size_t msglen)
{
	(void)s;
	(void)req;
	(void)msg;
	(void)msglen;
	stub_local_calls++;
	*result = json_pack("{ss}", "text", "stub notice");
	return EM_OK;
}
STUB_RUN(midterm_write_run)
STUB_RUN(midterm_show_run)
STUB_RUN(report_create_run)
STUB_RUN(report_list_run)
STUB_RUN(report_show_run)
STUB_RUN(report_handle_run)
STUB_RUN(profile_form_run)
STUB_RUN(profile_form_set_run)
STUB_RUN(profile_put_run)
STUB_RUN(profile_list_run)
STUB_RUN(support_open_run)
STUB_RUN(announce_send_run)
STUB_RUN(announce_keys_run)
STUB_RUN(announce_list_run)
