/*
 * handlers.h - the operations of each message family, by file and thread.
 * For every op there is a `run` (a DB worker thread, in handle_*.c: SQL and
 * the result JSON), optionally a `check` (pure, before any DB work) and a
 * `done` (the service thread, in svc_*.c, after run succeeded, to change the
 * connection's state); or a `local` that answers on the service thread
 * without the database (svc_*.c). dispatch.c's table ties them to ops; the
 * scheduler's table (main.c) ties the periodic jobs to their turns.
 *
 * The rule: a handle_*.c file runs only on DB threads (or is pure), a
 * svc_*.c file only on the service thread. A worker may name a service-thread
 * function as a job's `finished`, which the service thread calls.
 */
#ifndef EMENTORD_HANDLERS_H
#define EMENTORD_HANDLERS_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "db.h"
#include "em_proto.h"
#include "session.h"

/* ---- handle_auth.c (DB workers) ---- */
int auth_prelogin_run(struct db_conn *c, struct db_job *job);
int auth_register_run(struct db_conn *c, struct db_job *job);
int auth_login_run(struct db_conn *c, struct db_job *job);
int auth_resume_run(struct db_conn *c, struct db_job *job);
int auth_logout_run(struct db_conn *c, struct db_job *job);
int auth_whoami_run(struct db_conn *c, struct db_job *job);
int auth_passwd_run(struct db_conn *c, struct db_job *job);
/* the scheduler's "session sweep": which of the sessions in args ended */
int session_sweep_run(struct db_conn *c, struct db_job *job);

/* ---- svc_auth.c (service thread) ---- */
/* login and resume: the connection is now the job's user */
void auth_login_done(struct session *s, struct db_job *job);
/* invite.accept: a role of the new programme this connection may now use (roles per programme) */
void auth_roles_done(struct session *s, struct db_job *job);
/* logout: anonymous again; then the session's other connections here close (4004) */
void auth_logout_done(struct session *s, struct db_job *job);
void auth_logout_finished(struct db_job *job);
/* passwd: the user's other sessions here close (4004) */
void auth_passwd_finished(struct db_job *job);
/* the session sweep's arguments (the sessions in use here; 0: none) and its closing */
int session_sweep_args(json_t **args);
void session_sweep_finished(struct db_job *job);

/* ---- handle_programme.c (DB workers; programme_create_check is pure) ---- */
int programme_create_check(const struct session *s, struct db_job *job);
int programme_create_run(struct db_conn *c, struct db_job *job);
int programme_list_run(struct db_conn *c, struct db_job *job);
int programme_show_run(struct db_conn *c, struct db_job *job);
int programme_settings_run(struct db_conn *c, struct db_job *job);
int invite_create_run(struct db_conn *c, struct db_job *job);
int invite_accept_run(struct db_conn *c, struct db_job *job);
/* Worker helpers shared with handle_auth.c and handle_account.c. */
/* The caller's programmes as a JSON array (new reference), or NULL with *err set. */
json_t *programmes_of_user(struct db_conn *c, int64_t user_id, int *err);
/* Inside a transaction: locks an unused, unexpired invite. 1 found, 0 not, -1 error (*err). */
int invite_take(struct db_conn *c, const char *code, int64_t *invite_id, char role[16],
                int64_t *programme_id, int *err);
/* Inside a transaction: marks the invite used and joins its programme. Returns em_err. */
int invite_use(struct db_conn *c, int64_t invite_id, int64_t user_id, const char *role,
               int64_t programme_id);

/* ---- handle_room.c (DB workers) ---- */
int room_create_run(struct db_conn *c, struct db_job *job);
int room_list_run(struct db_conn *c, struct db_job *job);
int room_show_run(struct db_conn *c, struct db_job *job);
int room_add_run(struct db_conn *c, struct db_job *job);
int room_remove_run(struct db_conn *c, struct db_job *job);

/* ---- handle_message.c (DB workers; message_batch_run on the batch writer) ---- */
void message_batch_run(struct db_conn *c, struct db_job **jobs, int n);
int message_sync_run(struct db_conn *c, struct db_job *job);
/* a page of a sync's replay (svc_message.c submits them) */
int message_sync_page_run(struct db_conn *c, struct db_job *job);
int message_history_run(struct db_conn *c, struct db_job *job);
int message_keys_run(struct db_conn *c, struct db_job *job);
int message_receipt_run(struct db_conn *c, struct db_job *job);
int message_epoch_commit_run(struct db_conn *c, struct db_job *job);
/* remote.c's reads of what another node committed: args room_id, from, to / user_id, room_id,
 * epoch */
int message_range_run(struct db_conn *c, struct db_job *job);
int message_envelope_run(struct db_conn *c, struct db_job *job);
/* catchup.c's sweep: the last_seq of the rooms in args {"rooms": "{1,2}"} */
int message_last_seq_run(struct db_conn *c, struct db_job *job);

/* ---- svc_message.c (service thread) ---- */
/* sync: subscribe, then the replay page by page, then `synced` */
void message_sync_done(struct session *s, struct db_job *job);
/* typing: answered without the database. Returns em_err; fills msg on error. */
int message_typing_local(struct session *s, const struct em_request *req, json_t **result,
                         char *msg, size_t msglen);

/* ---- handle_checkpoint.c (DB workers) ---- */
int checkpoint_list_run(struct db_conn *c, struct db_job *job);
int checkpoint_propose_run(struct db_conn *c, struct db_job *job);
int checkpoint_answer_run(struct db_conn *c, struct db_job *job);
int checkpoint_reschedule_run(struct db_conn *c, struct db_job *job);
int checkpoint_cancel_run(struct db_conn *c, struct db_job *job);
int checkpoint_absent_run(struct db_conn *c, struct db_job *job);
int checkpoint_record_run(struct db_conn *c, struct db_job *job);
int checkpoint_attend_run(struct db_conn *c, struct db_job *job);
int checkpoint_window_run(struct db_conn *c, struct db_job *job);
/*
 * Checks and adds the job's "slots" (as checkpoint.propose's) to checkpoint
 * id, inside the caller's transaction; the proposer accepts them. EM_OK, or
 * an em_err with the job's error set where the caller should pass it on.
 */
int checkpoint_slots_add(struct db_conn *c, struct db_job *job, int64_t id, int64_t now);
/*
 * Notices of `kind` about meeting id to every participant but the caller, with
 * extra (a JSON object, taken; NULL: none) in each, queued on the job for
 * their live push. EM_OK or an em_err.
 */
int checkpoint_notify(struct db_conn *c, struct db_job *job, int64_t id, const char *kind,
                      json_t *extra, int64_t now);

/* ---- handle_meeting.c (DB workers): sessions and the plan, section 6.5 ---- */
int meeting_add_run(struct db_conn *c, struct db_job *job);
int meeting_plan_run(struct db_conn *c, struct db_job *job);
int meeting_topic_run(struct db_conn *c, struct db_job *job);

/* ---- handle_notice.c (DB workers) ---- */
int notice_list_run(struct db_conn *c, struct db_job *job);
int notice_ack_run(struct db_conn *c, struct db_job *job);
/* remote.c: one notice another node created; args user_id, id */
int notice_fetch_run(struct db_conn *c, struct db_job *job);
/* the scheduler's "reminders": turns due reminders into notices */
int reminders_run(struct db_conn *c, struct db_job *job);

/* ---- handle_diary.c (DB workers; PROTOCOL.md section 6.5) ---- */
int diary_writer_get_run(struct db_conn *c, struct db_job *job);
int diary_writer_set_run(struct db_conn *c, struct db_job *job);
int diary_write_run(struct db_conn *c, struct db_job *job);
int diary_remark_run(struct db_conn *c, struct db_job *job);
int diary_show_run(struct db_conn *c, struct db_job *job);
int diary_list_run(struct db_conn *c, struct db_job *job);
/* the scheduler's "diary reminders": held meetings with no entry a day later */
int diary_missing_run(struct db_conn *c, struct db_job *job);

/* ---- handle_agreement.c (DB workers; PROTOCOL.md section 7) ---- */
int agreement_show_run(struct db_conn *c, struct db_job *job);
int agreement_sign_run(struct db_conn *c, struct db_job *job);
int agreement_propose_run(struct db_conn *c, struct db_job *job);
int agreement_template_get_run(struct db_conn *c, struct db_job *job);
int agreement_template_set_run(struct db_conn *c, struct db_job *job);
/* recomputes a room's roster after a consent changed it: 0, or -1 with *err */
int agreement_roster_sync(struct db_conn *c, int64_t room, int *err);

/* ---- handle_consent.c (DB workers) ---- */
int consent_list_run(struct db_conn *c, struct db_job *job);
int consent_grant_run(struct db_conn *c, struct db_job *job);
int consent_withdraw_run(struct db_conn *c, struct db_job *job);
/* register: checks the data-processing consent of the request into *k (EM_OK or job failed) */
struct consent;
int consent_register_check(struct db_job *job, const unsigned char sign_pk[32], struct consent *k);
/* the caller's consent ledger entries (NULL with *err on failure) */
json_t *consent_entries_of(struct db_conn *c, int64_t user, int *err);

/* ---- svc_consent.c (service thread) ---- */
int privacy_notice_local(struct session *s, const struct em_request *req, json_t **result,
                         char *msg, size_t msglen);
/* after an erasure committed: the user's connections here close (4003) */
void consent_erased_finished(struct db_job *job);

/* ---- handle_account.c (DB workers; retention_purge_now on the main thread) ---- */
int account_export_run(struct db_conn *c, struct db_job *job);
/* the scheduler's "retention": purges what is past its retention */
int retention_run(struct db_conn *c, struct db_job *job);
/* `ementord purge-expired`: runs retention once; 0, or 2 on a database error */
int retention_purge_now(PGconn *pg);

/* ---- handle_audit.c (DB workers; PROTOCOL.md section 8) ---- */
int audit_report_run(struct db_conn *c, struct db_job *job);
int audit_thresholds_run(struct db_conn *c, struct db_job *job);
int room_access_log_run(struct db_conn *c, struct db_job *job);
/* the scheduler's "audit rollup", every AUDIT_ROLLUP_EVERY_S: one step of rollups */
#define AUDIT_ROLLUP_EVERY_S 2
int audit_rollup_run(struct db_conn *c, struct db_job *job);

/* ---- handle_calendar.c (DB workers) ---- */
int calendar_url_run(struct db_conn *c, struct db_job *job);
int calendar_revoke_run(struct db_conn *c, struct db_job *job);
int calendar_export_run(struct db_conn *c, struct db_job *job);
/* The HTTP feed's job: args {"token"}; the document goes to job->extra (a JSON string). */
int calendar_feed_run(struct db_conn *c, struct db_job *job);

/* ---- handle_questionnaire.c (DB workers) ---- */
int questionnaire_get_run(struct db_conn *c, struct db_job *job);
int questionnaire_set_run(struct db_conn *c, struct db_job *job);
int questionnaire_answer_run(struct db_conn *c, struct db_job *job);
int questionnaire_answers_run(struct db_conn *c, struct db_job *job);
int progress_share_run(struct db_conn *c, struct db_job *job);
int progress_list_run(struct db_conn *c, struct db_job *job);

/* ---- handle_goal.c (DB workers) ---- */
int goal_create_run(struct db_conn *c, struct db_job *job);
int goal_update_run(struct db_conn *c, struct db_job *job);
int goal_list_run(struct db_conn *c, struct db_job *job);
int goal_history_run(struct db_conn *c, struct db_job *job);
int rating_add_run(struct db_conn *c, struct db_job *job);
int rating_list_run(struct db_conn *c, struct db_job *job);

/* ---- handle_auth.c, shared with handle_recovery.c (DB workers) ---- */
/* login_gate: inside a transaction, the account's and address's locks and limits */
int auth_gate(struct db_conn *c, struct db_job *job, const char *username, const char *addr);
/* records a login attempt (ok or not) */
int auth_attempt(struct db_conn *c, const char *username, const char *addr, int ok);
/* BLAKE2b(key) against a stored hash, in constant time */
int auth_hash_matches(const unsigned char key[32], const unsigned char stored[32]);

/* ---- handle_recovery.c (DB workers; recovery_register_check is pure) ---- */
int recovery_register_check(const struct session *s, struct db_job *job);
int recovery_set_run(struct db_conn *c, struct db_job *job);
int recovery_open_run(struct db_conn *c, struct db_job *job);
int recovery_reset_run(struct db_conn *c, struct db_job *job);

/* ---- handle_admin.c (DB workers; programme_edit_check is pure) ---- */
int programme_edit_check(const struct session *s, struct db_job *job);
int programme_edit_run(struct db_conn *c, struct db_job *job);
int programme_end_run(struct db_conn *c, struct db_job *job);
int programme_archive_run(struct db_conn *c, struct db_job *job);
int programme_history_run(struct db_conn *c, struct db_job *job);
int room_rename_run(struct db_conn *c, struct db_job *job);
/* ---- handle_midterm.c (DB workers) ---- */
int midterm_write_run(struct db_conn *c, struct db_job *job);
int midterm_show_run(struct db_conn *c, struct db_job *job);
/* ---- handle_mail.c (DB workers; PROTOCOL.md section 12) ---- */
int mail_show_run(struct db_conn *c, struct db_job *job);
int mail_set_run(struct db_conn *c, struct db_job *job);
int mail_verify_run(struct db_conn *c, struct db_job *job);
int invite_list_run(struct db_conn *c, struct db_job *job);
int invite_resend_run(struct db_conn *c, struct db_job *job);
int invite_revoke_run(struct db_conn *c, struct db_job *job);
int invite_import_run(struct db_conn *c, struct db_job *job);

/* ---- handle_report.c (DB workers) ---- */
int report_create_run(struct db_conn *c, struct db_job *job);
int report_list_run(struct db_conn *c, struct db_job *job);
int report_show_run(struct db_conn *c, struct db_job *job);
int report_handle_run(struct db_conn *c, struct db_job *job);
/* invite.create with "email": EM_OK, bad_value (the address) or bad_state (e-mail off) */
int mail_invite_check(const char *email);
/* Inside the invite's transaction: records the address and queues the invite e-mail. */
int mail_invite_enqueue(struct db_conn *c, int64_t invite_id, const char *email, const char *lang,
                        const char *code);
/* the scheduler's "mail digest": args {interval}; no job while e-mail is off */
int mail_digest_args(json_t **args);
int mail_digest_run(struct db_conn *c, struct db_job *job);
/* /unsubscribe/TOKEN's job: args {"token", "post"}; a GET's page (HTML, changes nothing) or a
   POST's answer (text: unsubscribed) goes to job->extra */
int mail_unsubscribe_run(struct db_conn *c, struct db_job *job);
/* ---- handle_reset.c (DB workers; PROTOCOL.md "Identity reset") ---- */
int reset_issue_run(struct db_conn *c, struct db_job *job);
int reset_redeem_run(struct db_conn *c, struct db_job *job);
/* ---- handle_profile.c (DB workers; PROTOCOL.md 14) ---- */
int profile_form_run(struct db_conn *c, struct db_job *job);
int profile_form_set_run(struct db_conn *c, struct db_job *job);
int profile_put_run(struct db_conn *c, struct db_job *job);
int profile_list_run(struct db_conn *c, struct db_job *job);
/* ---- handle_room.c: support.open; handle_announce.c (DB workers; PROTOCOL.md 15) ---- */
int support_open_run(struct db_conn *c, struct db_job *job);
int announce_send_run(struct db_conn *c, struct db_job *job);
int announce_keys_run(struct db_conn *c, struct db_job *job);
int announce_list_run(struct db_conn *c, struct db_job *job);

#endif
