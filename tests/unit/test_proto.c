/*
 * test_proto.c - unit tests of the frame codec in proto/em_proto.c and the
 * error table in proto/em_errors.c.
 *
 * The parser is the server's first line of defence and the CLI's way to read
 * replies, so these tests pin down what a peer sees: every op accepts a valid
 * frame, every validation error code comes out of some frame, with the
 * request id kept once it was read, every encoder's output reads back, and
 * the error codes are exactly those of docs/PROTOCOL.md section 3. Binary
 * values are built here with libsodium directly, not with em_b64_encode(), so
 * a codec bug cannot hide itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sodium.h>

#include "em_crypto.h"
#include "em_list.h"
#include "em_proto.h"

/* --- helpers --------------------------------------------------------------- */

/* base64url (no padding) of n bytes of value `fill`, in a static ring of buffers. */
static const char *b64(size_t n, unsigned char fill)
{
	static char ring[8][1400];
	static int next;
	unsigned char bin[1024];
	char *out = ring[next++ % 8];

	assert_true(n <= sizeof(bin));
	memset(bin, fill, n);
	sodium_bin2base64(out, sizeof(ring[0]), bin, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

/* printf into a malloc'd string; the caller frees it. */
static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, f);
	n = vsnprintf(NULL, 0, f, ap);
	va_end(ap);
	assert_true(n >= 0);
	s = malloc((size_t)n + 1);
	assert_non_null(s);
	va_start(ap, f);
	vsnprintf(s, (size_t)n + 1, f, ap);
	va_end(ap);
	return s;
}

/* A string of n copies of c (malloc'd). */
static char *repeat(const char *c, size_t n)
{
	size_t len = strlen(c);
	char *s = malloc(len * n + 1);

	assert_non_null(s);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * len, c, len);
	s[len * n] = '\0';
	return s;
}

static int parse(const char *frame, struct em_request *req, struct em_error_detail *d)
{
	return em_request_parse(frame, strlen(frame), req, d);
}

/* Asserts the frame is refused with err, correlated to id, blaming field. */
static void expect_fail(const char *frame, int err, int64_t id, const char *field)
{
	struct em_request req;
	struct em_error_detail d;
	int rc = parse(frame, &req, &d);

	if (rc != err)
		fail_msg("frame %.200s: got %s (%s), want %s", frame, em_err_code(rc), d.message,
		         em_err_code(err));
	assert_int_equal(req.id, id);
	assert_null(req.args);
	assert_int_equal(req.op, EM_OP_NONE);
	assert_true(strlen(d.message) > 0);
	if (field) {
		assert_string_equal(d.field, field);
		/* the message names the field so a human can fix the client */
		assert_true(strncmp(d.message, field, strlen(field)) == 0);
	}
	em_request_clear(&req);
}

/* Asserts the frame is accepted as op with id. */
static void expect_ok(const char *frame, enum em_op op, int64_t id)
{
	struct em_request req;
	struct em_error_detail d;
	int rc = parse(frame, &req, &d);

	if (rc != EM_OK)
		fail_msg("frame %.300s: refused with %s: %s", frame, em_err_code(rc), d.message);
	assert_int_equal(req.op, op);
	assert_int_equal(req.id, id);
	assert_true(json_is_object(req.args));
	em_request_clear(&req);
	assert_null(req.args);
}

/* --- valid frames for every op ---------------------------------------------- */

struct valid_frame {
	enum em_op op;
	char *frame;
	const char *optional; /* space-separated names of the op's optional args */
};

#define N_VALID 128
static struct valid_frame valid[N_VALID];
static int n_valid;

static void add_valid(enum em_op op, const char *optional, char *frame)
{
	assert_true(n_valid < N_VALID);
	valid[n_valid].op = op;
	valid[n_valid].frame = frame;
	valid[n_valid].optional = optional;
	n_valid++;
}

static int valid_frames_setup(void **state)
{
	const char *invite = "Zq3_x-Y8a9b0c1d2e3f4"; /* 20 base64url characters */

	n_valid = 0;
	add_valid(EM_OP_PING, "", fmt("{\"id\":1,\"op\":\"ping\"}"));
	add_valid(EM_OP_PING, "", fmt("{\"id\":0,\"op\":\"ping\",\"args\":{}}"));
	add_valid(EM_OP_PRELOGIN, "",
	          fmt("{\"id\":2,\"op\":\"prelogin\",\"args\":{\"username\":\"alice\"}}"));
	add_valid(
	    EM_OP_REGISTER, "recovery_auth recovery_backup",
	    fmt("{\"id\":3,\"op\":\"register\",\"args\":{\"invite\":\"%s\",\"username\":\"Alice."
	        "Smith_2\",\"display_name\":\"Alice Smith "
	        "\xc3\xa9\",\"salt\":\"%s\",\"opslimit\":2,"
	        "\"memlimit\":67108864,\"auth_key\":\"%s\",\"sign_pk\":\"%s\",\"box_pk\":\"%s\","
	        "\"key_backup\":\"%s\",\"privacy_version\":\"notice-0a1b2c3d4e5f\","
	        "\"privacy_at\":1796000000,\"privacy_signature\":\"%s\",\"recovery_auth\":\"%s\","
	        "\"recovery_backup\":\"%s\"}}",
	        invite, b64(16, 1), b64(32, 2), b64(32, 3), b64(32, 4), b64(136, 5), b64(64, 6),
	        b64(32, 7), b64(136, 8)));
	add_valid(
	    EM_OP_LOGIN, "",
	    fmt("{\"id\":4,\"op\":\"login\",\"args\":{\"username\":\"alice\",\"auth_key\":\"%s\"}}",
	        b64(32, 0xff)));
	add_valid(EM_OP_RESUME, "",
	          fmt("{\"id\":5,\"op\":\"resume\",\"args\":{\"token\":\"%s\"}}", b64(32, 0xfe)));
	add_valid(EM_OP_LOGOUT, "", fmt("{\"id\":6,\"op\":\"logout\",\"args\":{}}"));
	add_valid(EM_OP_WHOAMI, "", fmt("{\"op\":\"whoami\",\"id\":7}"));
	add_valid(
	    EM_OP_PASSWD, "",
	    fmt("{\"id\":8,\"op\":\"passwd\",\"args\":{\"auth_key\":\"%s\",\"salt\":\"%s\","
	        "\"opslimit\":10,\"memlimit\":1073741824,\"new_auth_key\":\"%s\",\"key_backup\":"
	        "\"%s\"}}",
	        b64(32, 6), b64(16, 7), b64(32, 8), b64(136, 9)));
	add_valid(EM_OP_INVITE_CREATE, "expires_in_days",
	          fmt("{\"id\":9,\"op\":\"invite.create\",\"args\":{\"programme_id\":1,\"role\":"
	              "\"mentee\","
	              "\"expires_in_days\":90}}"));
	add_valid(EM_OP_INVITE_ACCEPT, "",
	          fmt("{\"id\":10,\"op\":\"invite.accept\",\"args\":{\"invite\":\"%s\"}}", invite));
	add_valid(EM_OP_PROGRAMME_CREATE, "max_group_mentees agreement_required retention_days",
	          fmt("{\"id\":55,\"op\":\"programme.create\",\"args\":{\"name\":\"P\","
	              "\"starts_on\":\"2027-03-01\",\"ends_on\":\"2027-09-01\","
	              "\"agreement_required\":false,\"retention_days\":3650}}"));
	add_valid(EM_OP_PROGRAMME_CREATE, "max_group_mentees agreement_required retention_days",
	          fmt("{\"id\":11,\"op\":\"programme.create\",\"args\":{\"name\":\"Spring 2027\","
	              "\"starts_on\":\"2027-03-01\",\"ends_on\":\"2028-02-29\",\"max_group_"
	              "mentees\":2}}"));
	add_valid(EM_OP_PROGRAMME_LIST, "", fmt("{\"id\":12,\"op\":\"programme.list\"}"));
	add_valid(EM_OP_PROGRAMME_SHOW, "",
	          fmt("{\"id\":13,\"op\":\"programme.show\",\"args\":{\"programme_id\":"
	              "9007199254740991}}"));
	add_valid(
	    EM_OP_ROOM_CREATE, "name members",
	    fmt("{\"id\":14,\"op\":\"room.create\",\"args\":{\"programme_id\":1,\"kind\":\"group\","
	        "\"name\":\"Group A\",\"members\":[\"bob\",\"carol\",\"dave\",\"erin\",\"frank\","
	        "\"grace\"]}}"));
	add_valid(
	    EM_OP_ROOM_CREATE, "name members",
	    fmt("{\"id\":15,\"op\":\"room.create\",\"args\":{\"programme_id\":1,\"kind\":\"pair\","
	        "\"members\":[]}}"));
	add_valid(EM_OP_ROOM_LIST, "programme_id", fmt("{\"id\":16,\"op\":\"room.list\"}"));
	add_valid(EM_OP_ROOM_LIST, "programme_id",
	          fmt("{\"id\":17,\"op\":\"room.list\",\"args\":{\"programme_id\":3}}"));
	add_valid(EM_OP_ROOM_SHOW, "",
	          fmt("{\"id\":18,\"op\":\"room.show\",\"args\":{\"room_id\":3}}"));
	add_valid(
	    EM_OP_ROOM_ADD, "",
	    fmt("{\"id\":19,\"op\":\"room.add\",\"args\":{\"room_id\":3,\"username\":\"bob\"}}"));
	add_valid(EM_OP_ROOM_REMOVE, "",
	          fmt("{\"id\":9007199254740991,\"op\":\"room.remove\",\"args\":{\"room_id\":3,"
	              "\"username\":\"bob\"}}"));

	/* messaging (PROTOCOL.md section 5.3) */
	add_valid(EM_OP_SYNC, "cursors", fmt("{\"id\":21,\"op\":\"sync\",\"args\":{}}"));
	add_valid(EM_OP_SYNC, "cursors",
	          fmt("{\"id\":22,\"op\":\"sync\",\"args\":{\"cursors\":[{\"room_id\":3,\"seq\":0},"
	              "{\"room_id\":4,\"seq\":17}]}}"));
	add_valid(EM_OP_HISTORY, "after_seq limit",
	          fmt("{\"id\":23,\"op\":\"history\",\"args\":{\"room_id\":3,\"after_seq\":0,"
	              "\"limit\":500}}"));
	add_valid(
	    EM_OP_SEND, "",
	    fmt("{\"id\":24,\"op\":\"send\",\"args\":{\"room_id\":3,\"epoch\":1,\"client_msg_id\":"
	        "\"%s\",\"ciphertext\":\"%s\",\"sig\":\"%s\"}}",
	        b64(16, 1), b64(296, 2), b64(64, 3)));
	add_valid(EM_OP_RECEIPT, "",
	          fmt("{\"id\":25,\"op\":\"receipt\",\"args\":{\"room_id\":3,\"seq\":12}}"));
	add_valid(EM_OP_TYPING, "", fmt("{\"id\":26,\"op\":\"typing\",\"args\":{\"room_id\":3}}"));
	add_valid(
	    EM_OP_EPOCH_COMMIT, "",
	    fmt("{\"id\":27,\"op\":\"epoch.commit\",\"args\":{\"room_id\":3,\"epoch\":2,"
	        "\"agreement_version\":0,\"envelopes\":[{\"recipient_id\":4,\"sealed\":\"%s\"},"
	        "{\"recipient_id\":5,\"sealed\":\"%s\"}],\"sig\":\"%s\"}}",
	        b64(EM_SEALED_KEY_BYTES, 4), b64(EM_SEALED_KEY_BYTES, 5), b64(64, 6)));
	add_valid(EM_OP_KEYS_GET, "",
	          fmt("{\"id\":28,\"op\":\"keys.get\",\"args\":{\"room_id\":3}}"));

	/* checkpoints, notices, calendars (PROTOCOL.md section 6.1) */
	add_valid(EM_OP_CHECKPOINT_LIST, "room_id programme_id",
	          fmt("{\"id\":40,\"op\":\"checkpoint.list\",\"args\":{\"room_id\":3}}"));
	add_valid(EM_OP_CHECKPOINT_PROPOSE, "",
	          fmt("{\"id\":41,\"op\":\"checkpoint.propose\",\"args\":{\"checkpoint_id\":1,"
	              "\"slots\":[{\"starts_at\":\"2027-03-02T10:00:00Z\",\"minutes\":60,"
	              "\"place\":\"Cafe\"},{\"starts_at\":\"2027-03-03T23:59:00Z\",\"minutes\":5,"
	              "\"place\":\"https://meet.example.org/x\"}]}}"));
	add_valid(EM_OP_CHECKPOINT_ANSWER, "",
	          fmt("{\"id\":42,\"op\":\"checkpoint.answer\",\"args\":{\"slot_id\":5,"
	              "\"accept\":true}}"));
	add_valid(EM_OP_CHECKPOINT_RESCHEDULE, "",
	          fmt("{\"id\":43,\"op\":\"checkpoint.reschedule\",\"args\":{\"checkpoint_id\":1,"
	              "\"reason\":\"ill\",\"slots\":[{\"starts_at\":\"2027-03-04T09:30:00Z\","
	              "\"minutes\":600,\"place\":\"Room 4\"}]}}"));
	add_valid(EM_OP_CHECKPOINT_CANCEL, "",
	          fmt("{\"id\":44,\"op\":\"checkpoint.cancel\",\"args\":{\"checkpoint_id\":1,"
	              "\"reason\":\"moved\"}}"));
	add_valid(EM_OP_CHECKPOINT_ABSENT, "",
	          fmt("{\"id\":45,\"op\":\"checkpoint.absent\",\"args\":{\"checkpoint_id\":1,"
	              "\"reason\":\"exam\"}}"));
	add_valid(EM_OP_CHECKPOINT_RECORD, "present",
	          fmt("{\"id\":46,\"op\":\"checkpoint.record\",\"args\":{\"checkpoint_id\":1,"
	              "\"held\":true,\"present\":[\"sam\",\"mia\"]}}"));
	add_valid(EM_OP_CHECKPOINT_ATTEND, "",
	          fmt("{\"id\":47,\"op\":\"checkpoint.attend\",\"args\":{\"checkpoint_id\":1,"
	              "\"attended\":false}}"));
	add_valid(EM_OP_CHECKPOINT_WINDOW,
	          "checkpoint_id opens_on closes_on programme_id kind days",
	          fmt("{\"id\":48,\"op\":\"checkpoint.window\",\"args\":{\"checkpoint_id\":1,"
	              "\"opens_on\":\"2027-03-01\",\"closes_on\":\"2027-03-20\"}}"));
	add_valid(EM_OP_CHECKPOINT_WINDOW,
	          "checkpoint_id opens_on closes_on programme_id kind days",
	          fmt("{\"id\":49,\"op\":\"checkpoint.window\",\"args\":{\"programme_id\":1,"
	              "\"kind\":\"midterm\",\"days\":0}}"));
	add_valid(EM_OP_CALENDAR_URL, "", fmt("{\"id\":50,\"op\":\"calendar.url\",\"args\":{}}"));
	add_valid(EM_OP_CALENDAR_REVOKE, "",
	          fmt("{\"id\":51,\"op\":\"calendar.revoke\",\"args\":{}}"));
	add_valid(EM_OP_CALENDAR_EXPORT, "",
	          fmt("{\"id\":52,\"op\":\"calendar.export\",\"args\":{}}"));
	add_valid(EM_OP_NOTICE_LIST, "", fmt("{\"id\":53,\"op\":\"notice.list\",\"args\":{}}"));
	add_valid(EM_OP_NOTICE_ACK, "",
	          fmt("{\"id\":54,\"op\":\"notice.ack\",\"args\":{\"upto\":7}}"));
	add_valid(EM_OP_PRIVACY_NOTICE, "lang",
	          fmt("{\"id\":56,\"op\":\"privacy.notice\",\"args\":{\"lang\":\"pl\"}}"));
	add_valid(EM_OP_AGREEMENT_SHOW, "version",
	          fmt("{\"id\":57,\"op\":\"agreement.show\",\"args\":{\"room_id\":3,"
	              "\"version\":2}}"));
	add_valid(EM_OP_AGREEMENT_SIGN, "",
	          fmt("{\"id\":58,\"op\":\"agreement.sign\",\"args\":{\"room_id\":3,\"version\":2,"
	              "\"signature\":\"%s\",\"consent_at\":1796000000,\"consent_signature\":"
	              "\"%s\"}}",
	              b64(64, 1), b64(64, 2)));
	add_valid(EM_OP_AGREEMENT_PROPOSE, "",
	          fmt("{\"id\":59,\"op\":\"agreement.propose\",\"args\":{\"room_id\":3,"
	              "\"term\":\"We meet on Tuesdays\"}}"));
	add_valid(
	    EM_OP_AGREEMENT_TEMPLATE_GET, "",
	    fmt("{\"id\":60,\"op\":\"agreement.template.get\",\"args\":{\"programme_id\":1}}"));
	/* text or lang: each is optional here, the handler wants exactly one */
	add_valid(EM_OP_AGREEMENT_TEMPLATE_SET, "text",
	          fmt("{\"id\":61,\"op\":\"agreement.template.set\",\"args\":{\"programme_id\":1,"
	              "\"text\":\"Line one\\n\\tLine two\"}}"));
	add_valid(EM_OP_AGREEMENT_TEMPLATE_SET, "lang",
	          fmt("{\"id\":61,\"op\":\"agreement.template.set\",\"args\":{\"programme_id\":1,"
	              "\"lang\":\"pl\"}}"));
	add_valid(EM_OP_CONSENT_LIST, "", fmt("{\"id\":62,\"op\":\"consent.list\"}"));
	add_valid(
	    EM_OP_CONSENT_GRANT, "",
	    fmt("{\"id\":63,\"op\":\"consent.grant\",\"args\":{\"purpose\":\"share_progress\","
	        "\"subject\":\"programme:1\",\"text_hash\":\"%s\",\"at\":1796000000,"
	        "\"signature\":\"%s\"}}",
	        b64(32, 3), b64(64, 4)));
	add_valid(EM_OP_CONSENT_WITHDRAW, "",
	          fmt("{\"id\":64,\"op\":\"consent.withdraw\",\"args\":{\"purpose\":\"agreement\","
	              "\"subject\":\"room:3\",\"text_hash\":\"%s\",\"at\":0,\"signature\":\"%s\"}}",
	              b64(32, 5), b64(64, 6)));
	add_valid(EM_OP_ACCOUNT_EXPORT, "", fmt("{\"id\":65,\"op\":\"account.export\"}"));
	add_valid(EM_OP_AUDIT_REPORT, "programme_id room_id format offset limit",
	          fmt("{\"id\":66,\"op\":\"audit.report\",\"args\":{\"programme_id\":1,"
	              "\"room_id\":2,\"format\":\"csv\",\"offset\":200,\"limit\":200}}"));
	add_valid(EM_OP_AUDIT_REPORT, "programme_id room_id format offset limit",
	          fmt("{\"id\":67,\"op\":\"audit.report\"}"));
	add_valid(EM_OP_AUDIT_THRESHOLDS, "inactive_days unsigned_days never_logged_in_days",
	          fmt("{\"id\":68,\"op\":\"audit.thresholds\",\"args\":{\"programme_id\":1,"
	              "\"inactive_days\":21,\"unsigned_days\":0,\"never_logged_in_days\":3}}"));
	add_valid(EM_OP_ROOM_ACCESS_LOG, "",
	          fmt("{\"id\":69,\"op\":\"room.access_log\",\"args\":{\"room_id\":2}}"));
	add_valid(EM_OP_PROGRAMME_SETTINGS, "",
	          fmt("{\"id\":70,\"op\":\"programme.settings\",\"args\":{\"programme_id\":1,"
	              "\"agreement_required\":false,\"signature\":\"%s\"}}",
	              b64(64, 7)));
	add_valid(EM_OP_DIARY_WRITER_GET, "",
	          fmt("{\"id\":71,\"op\":\"diary.writer.get\",\"args\":{\"checkpoint_id\":4}}"));
	add_valid(EM_OP_DIARY_WRITER_SET, "",
	          fmt("{\"id\":72,\"op\":\"diary.writer.set\",\"args\":{\"checkpoint_id\":4,"
	              "\"username\":\"mia\"}}"));
	add_valid(EM_OP_DIARY_WRITE, "",
	          fmt("{\"id\":73,\"op\":\"diary.write\",\"args\":{\"checkpoint_id\":4,"
	              "\"epoch\":2,\"version\":1,\"ciphertext\":\"%s\",\"sig\":\"%s\"}}",
	              b64(296, 3), b64(64, 4)));
	add_valid(EM_OP_DIARY_REMARK, "",
	          fmt("{\"id\":74,\"op\":\"diary.remark\",\"args\":{\"checkpoint_id\":4,"
	              "\"epoch\":2,\"number\":1000,\"ciphertext\":\"%s\",\"sig\":\"%s\"}}",
	              b64(300, 5), b64(64, 6)));
	add_valid(EM_OP_DIARY_SHOW, "",
	          fmt("{\"id\":75,\"op\":\"diary.show\",\"args\":{\"checkpoint_id\":4}}"));
	add_valid(EM_OP_DIARY_LIST, "",
	          fmt("{\"id\":76,\"op\":\"diary.list\",\"args\":{\"room_id\":2}}"));
	add_valid(EM_OP_GOAL_CREATE, "",
	          fmt("{\"id\":77,\"op\":\"goal.create\",\"args\":{\"room_id\":3,\"goal_id\":"
	              "\"%s\",\"version\":1,\"kind\":\"personal\",\"shared\":false,\"tasks\":2,"
	              "\"agreement_version\":1,\"written_ms\":1700000000000,\"blob\":\"%s\"}}",
	              b64(16, 1), b64(300, 2)));
	add_valid(EM_OP_GOAL_UPDATE, "",
	          fmt("{\"id\":78,\"op\":\"goal.update\",\"args\":{\"room_id\":3,\"goal_id\":"
	              "\"%s\",\"version\":2,\"kind\":\"group\",\"shared\":true,\"tasks\":0,"
	              "\"agreement_version\":2,\"written_ms\":0,\"blob\":\"%s\"}}",
	              b64(16, 1), b64(64, 2)));
	add_valid(EM_OP_GOAL_LIST, "",
	          fmt("{\"id\":79,\"op\":\"goal.list\",\"args\":{\"room_id\":3}}"));
	add_valid(EM_OP_GOAL_HISTORY, "",
	          fmt("{\"id\":80,\"op\":\"goal.history\",\"args\":{\"room_id\":3,\"goal_id\":"
	              "\"%s\"}}",
	              b64(16, 3)));
	add_valid(EM_OP_RATING_ADD, "",
	          fmt("{\"id\":81,\"op\":\"rating.add\",\"args\":{\"room_id\":3,\"rating_id\":"
	              "\"%s\",\"stage\":\"midterm\",\"rated_on\":\"2027-02-28\","
	              "\"agreement_version\":1,\"written_ms\":5,\"blob\":\"%s\"}}",
	              b64(16, 4), b64(1000, 5)));
	add_valid(EM_OP_RATING_LIST, "",
	          fmt("{\"id\":82,\"op\":\"rating.list\",\"args\":{\"room_id\":3}}"));
	add_valid(EM_OP_MEETING_ADD, "slots",
	          fmt("{\"id\":71,\"op\":\"meeting.add\",\"args\":{\"room_id\":1,\"mode\":"
	              "\"online\",\"slots\":[{\"starts_at\":\"2027-03-01T10:00:00Z\",\"minutes\":"
	              "60,\"place\":\"video call\"}]}}"));
	add_valid(EM_OP_MEETING_PLAN, "",
	          fmt("{\"id\":72,\"op\":\"meeting.plan\",\"args\":{\"room_id\":1}}"));
	add_valid(EM_OP_MEETING_TOPIC, "",
	          fmt("{\"id\":73,\"op\":\"meeting.topic\",\"args\":{\"meeting_id\":4,"
	              "\"revision\":1,\"epoch\":2,\"ciphertext\":\"%s\",\"sig\":\"%s\"}}",
	              b64(EM_TOPIC_CT_MIN, 3), b64(64, 7)));
	add_valid(
	    EM_OP_PROGRAMME_EDIT, "name starts_on ends_on",
	    fmt("{\"id\":74,\"op\":\"programme.edit\",\"args\":{\"programme_id\":1,"
	        "\"name\":\"Spring\",\"starts_on\":\"2027-02-01\",\"ends_on\":\"2027-11-30\"}}"));
	add_valid(EM_OP_PROGRAMME_END, "",
	          fmt("{\"id\":75,\"op\":\"programme.end\",\"args\":{\"programme_id\":1}}"));
	add_valid(EM_OP_PROGRAMME_ARCHIVE, "",
	          fmt("{\"id\":76,\"op\":\"programme.archive\",\"args\":{\"programme_id\":1}}"));
	add_valid(EM_OP_PROGRAMME_HISTORY, "",
	          fmt("{\"id\":77,\"op\":\"programme.history\",\"args\":{\"programme_id\":1}}"));
	add_valid(EM_OP_RECOVERY_SET, "",
	          fmt("{\"id\":79,\"op\":\"recovery.set\",\"args\":{\"auth_key\":\"%s\","
	              "\"recovery_auth\":\"%s\",\"recovery_backup\":\"%s\"}}",
	              b64(32, 1), b64(32, 2), b64(136, 3)));
	add_valid(EM_OP_RECOVERY_OPEN, "",
	          fmt("{\"id\":80,\"op\":\"recovery.open\",\"args\":{\"username\":\"lea\","
	              "\"recovery_auth\":\"%s\"}}",
	              b64(32, 4)));
	add_valid(EM_OP_RECOVERY_RESET, "",
	          fmt("{\"id\":81,\"op\":\"recovery.reset\",\"args\":{\"username\":\"lea\","
	              "\"recovery_auth\":\"%s\",\"salt\":\"%s\",\"opslimit\":2,\"memlimit\":"
	              "67108864,\"new_auth_key\":\"%s\",\"key_backup\":\"%s\"}}",
	              b64(32, 5), b64(16, 6), b64(32, 7), b64(136, 8)));
	add_valid(EM_OP_ROOM_RENAME, "",
	          fmt("{\"id\":78,\"op\":\"room.rename\",\"args\":{\"room_id\":1,"
	              "\"name\":\"Orchids\"}}"));
	add_valid(EM_OP_QUESTIONNAIRE_GET, "version",
	          fmt("{\"id\":91,\"op\":\"questionnaire.get\",\"args\":{\"programme_id\":1,"
	              "\"stage\":\"initial\",\"version\":2}}"));
	add_valid(EM_OP_QUESTIONNAIRE_SET, "",
	          fmt("{\"id\":92,\"op\":\"questionnaire.set\",\"args\":{\"programme_id\":1,"
	              "\"stage\":\"final\",\"version\":1,\"doc\":\"{}\",\"signature\":\"%s\"}}",
	              b64(64, 2)));
	add_valid(EM_OP_QUESTIONNAIRE_ANSWER, "",
	          fmt("{\"id\":93,\"op\":\"questionnaire.answer\",\"args\":{\"programme_id\":1,"
	              "\"room_id\":3,\"stage\":\"initial\",\"q_version\":0,"
	              "\"agreement_version\":1,\"written_ms\":5,\"blob\":\"%s\"}}",
	              b64(1000, 6)));
	add_valid(EM_OP_QUESTIONNAIRE_ANSWERS, "stage",
	          fmt("{\"id\":94,\"op\":\"questionnaire.answers\",\"args\":{\"programme_id\":1,"
	              "\"stage\":\"final\"}}"));
	add_valid(EM_OP_PROGRESS_SHARE, "",
	          fmt("{\"id\":95,\"op\":\"progress.share\",\"args\":{\"room_id\":3,"
	              "\"record_id\":\"%s\",\"kind\":\"rating\",\"agreement_version\":1,"
	              "\"written_ms\":5,\"blob\":\"%s\"}}",
	              b64(16, 8), b64(1000, 9)));
	add_valid(EM_OP_PROGRESS_LIST, "",
	          fmt("{\"id\":96,\"op\":\"progress.list\",\"args\":{\"programme_id\":1}}"));
	add_valid(EM_OP_MIDTERM_WRITE, "",
	          fmt("{\"id\":83,\"op\":\"midterm.write\",\"args\":{\"checkpoint_id\":5,"
	              "\"version\":1,\"kind\":\"manager\",\"agreement_version\":2,"
	              "\"written_ms\":6,\"blob\":\"%s\"}}",
	              b64(400, 6)));
	add_valid(EM_OP_MIDTERM_SHOW, "",
	          fmt("{\"id\":84,\"op\":\"midterm.show\",\"args\":{\"checkpoint_id\":5}}"));
	add_valid(EM_OP_MAIL_SHOW, "", fmt("{\"id\":90,\"op\":\"mail.show\",\"args\":{}}"));
	add_valid(EM_OP_MAIL_SET, "address lang kinds",
	          fmt("{\"id\":91,\"op\":\"mail.set\",\"args\":{\"address\":\"ala@example.org\","
	              "\"lang\":\"pl\",\"kinds\":\"meeting,digest\"}}"));
	add_valid(EM_OP_MAIL_VERIFY, "",
	          fmt("{\"id\":92,\"op\":\"mail.verify\",\"args\":{\"code\":\"01234567\"}}"));
	add_valid(EM_OP_INVITE_LIST, "",
	          fmt("{\"id\":93,\"op\":\"invite.list\",\"args\":{\"programme_id\":1}}"));
	add_valid(EM_OP_INVITE_RESEND, "",
	          fmt("{\"id\":94,\"op\":\"invite.resend\",\"args\":{\"invite_id\":1}}"));
	add_valid(EM_OP_INVITE_IMPORT, "",
	          fmt("{\"id\":96,\"op\":\"invite.import\",\"args\":{\"programme_id\":1,\"rows\":"
	              "[{\"name\":\"Ala\",\"email\":\"ala@example.org\",\"role\":\"mentee\","
	              "\"label\":\"pair 1\",\"lang\":\"pl\"}]}}"));
	add_valid(EM_OP_INVITE_REVOKE, "",
	          fmt("{\"id\":95,\"op\":\"invite.revoke\",\"args\":{\"invite_id\":1}}"));
	add_valid(EM_OP_REPORT_CREATE, "",
	          fmt("{\"id\":97,\"op\":\"report.create\",\"args\":{\"room_id\":3,\"kind\":"
	              "\"concern\",\"agreement_version\":1,\"written_ms\":1,\"blob\":\"%s\"}}",
	              b64(64, 9)));
	add_valid(EM_OP_REPORT_LIST, "programme_id",
	          fmt("{\"id\":98,\"op\":\"report.list\",\"args\":{\"programme_id\":1}}"));
	add_valid(EM_OP_REPORT_SHOW, "",
	          fmt("{\"id\":99,\"op\":\"report.show\",\"args\":{\"report_id\":1}}"));
	add_valid(EM_OP_REPORT_HANDLE, "",
	          fmt("{\"id\":100,\"op\":\"report.handle\",\"args\":{\"report_id\":1,\"state\":"
	              "\"closed\",\"written_ms\":1,\"blob\":\"%s\"}}",
	              b64(64, 9)));
	add_valid(EM_OP_RESET_ISSUE, "expires_in_days",
	          fmt("{\"id\":97,\"op\":\"reset.issue\",\"args\":{\"programme_id\":1,"
	              "\"username\":\"lea\",\"expires_in_days\":3}}"));
	add_valid(EM_OP_RESET_REDEEM, "recovery_auth recovery_backup",
	          fmt("{\"id\":98,\"op\":\"reset.redeem\",\"args\":{\"username\":\"lea\","
	              "\"code\":\"%s\",\"salt\":\"%s\",\"opslimit\":2,\"memlimit\":67108864,"
	              "\"auth_key\":\"%s\",\"sign_pk\":\"%s\",\"box_pk\":\"%s\","
	              "\"key_backup\":\"%s\",\"recovery_auth\":\"%s\",\"recovery_backup\":\"%s\"}}",
	              b64(20, 1), b64(16, 2), b64(32, 3), b64(32, 4), b64(32, 5), b64(136, 6),
	              b64(32, 7), b64(136, 8)));
	add_valid(EM_OP_PROFILE_FORM, "version",
	          fmt("{\"id\":101,\"op\":\"profile.form\",\"args\":{\"programme_id\":1,"
	              "\"role\":\"mentee\",\"version\":2}}"));
	add_valid(EM_OP_PROFILE_FORM_SET, "",
	          fmt("{\"id\":102,\"op\":\"profile.form_set\",\"args\":{\"programme_id\":1,"
	              "\"role\":\"mentor\",\"version\":1,\"doc\":\"{}\",\"signature\":\"%s\"}}",
	              b64(64, 1)));
	add_valid(EM_OP_PROFILE_PUT, "",
	          fmt("{\"id\":103,\"op\":\"profile.put\",\"args\":{\"programme_id\":1,"
	              "\"form_version\":0,\"written_ms\":1,\"blob\":\"%s\"}}",
	              b64(64, 9)));
	add_valid(EM_OP_PROFILE_LIST, "after",
	          fmt("{\"id\":104,\"op\":\"profile.list\",\"args\":{\"programme_id\":1,"
	              "\"after\":7}}"));
	add_valid(EM_OP_SUPPORT_OPEN, "programme_id username",
	          fmt("{\"id\":101,\"op\":\"support.open\",\"args\":{\"programme_id\":1,"
	              "\"username\":\"lea\"}}"));
	add_valid(EM_OP_ANNOUNCE_SEND, "more",
	          fmt("{\"id\":102,\"op\":\"announce.send\",\"args\":{\"programme_id\":1,"
	              "\"audience\":\"all\",\"written_ms\":1,\"body\":\"%s\",\"keys\":\"%s\","
	              "\"more\":true}}",
	              b64(200, 1), b64(176, 2)));
	add_valid(EM_OP_ANNOUNCE_KEYS, "more",
	          fmt("{\"id\":103,\"op\":\"announce.keys\",\"args\":{\"announcement_id\":1,"
	              "\"keys\":\"%s\"}}",
	              b64(88, 3)));
	add_valid(EM_OP_ANNOUNCE_LIST, "programme_id",
	          fmt("{\"id\":104,\"op\":\"announce.list\",\"args\":{}}"));
	return 0;
}

static int valid_frames_teardown(void **state)
{
	for (int i = 0; i < n_valid; i++)
		free(valid[i].frame);
	n_valid = 0;
	return 0;
}

static void test_every_op_accepts_a_valid_frame(void **state)
{
	int seen[EM_OP__COUNT] = {0};

	for (int i = 0; i < n_valid; i++) {
		json_t *root = json_loads(valid[i].frame, 0, NULL);

		assert_non_null(root);
		expect_ok(valid[i].frame, valid[i].op,
		          json_integer_value(json_object_get(root, "id")));
		json_decref(root);
		seen[valid[i].op] = 1;
	}
	for (int op = EM_OP_NONE + 1; op < EM_OP__COUNT; op++)
		if (!seen[op])
			fail_msg("no valid frame tested for op %s", em_op_name(op));
}

static int is_optional(const char *list, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = strstr(list, name); p; p = strstr(p + 1, name))
		if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
			return 1;
	return 0;
}

/*
 * Dropping a required argument gives missing_field naming it; dropping an
 * optional one (the "?" arguments of PROTOCOL.md section 4) is accepted;
 * replacing any argument by `true` gives wrong_type (no op takes a boolean).
 */
static void test_required_optional_and_types_of_every_arg(void **state)
{
	for (int i = 0; i < n_valid; i++) {
		json_t *root = json_loads(valid[i].frame, 0, NULL);
		json_t *args = json_object_get(root, "args");
		json_int_t id = json_integer_value(json_object_get(root, "id"));
		const char *key;
		json_t *v;

		json_object_foreach(args, key, v)
		{
			json_t *copy = json_deep_copy(root);
			json_t *cargs = json_object_get(copy, "args");
			char *s, path[80];

			snprintf(path, sizeof(path), "args.%s", key);
			json_object_del(cargs, key);
			s = json_dumps(copy, JSON_COMPACT);
			if (is_optional(valid[i].optional, key))
				expect_ok(s, valid[i].op, id);
			else
				expect_fail(s, EM_ERR_MISSING_FIELD, id, path);
			free(s);

			/* a value of the wrong JSON type: true, or a string for a boolean */
			json_object_set_new(cargs, key,
			                    json_is_boolean(v) ? json_string("true") : json_true());
			s = json_dumps(copy, JSON_COMPACT);
			expect_fail(s, EM_ERR_WRONG_TYPE, id, path);
			free(s);
			json_decref(copy);
		}
		json_decref(root);
	}
}

static void test_op_names_and_flags(void **state)
{
	for (int op = EM_OP_NONE + 1; op < EM_OP__COUNT; op++) {
		const char *name = em_op_name(op);

		assert_non_null(name);
		assert_int_equal(em_op_from_name(name), op);
	}
	assert_null(em_op_name(EM_OP_NONE));
	assert_null(em_op_name(EM_OP__COUNT));
	assert_int_equal(em_op_from_name("nope"), EM_OP_NONE);
	assert_int_equal(em_op_from_name("PING"), EM_OP_NONE);
	assert_int_equal(em_op_from_name(NULL), EM_OP_NONE);

	/* PROTOCOL.md section 4: which ops a connection may send before login */
	assert_int_equal(em_op_flags(EM_OP_PING), EM_OPF_PREAUTH);
	assert_int_equal(em_op_flags(EM_OP_PRELOGIN), EM_OPF_PREAUTH | EM_OPF_NOAUTH);
	assert_int_equal(em_op_flags(EM_OP_REGISTER), EM_OPF_PREAUTH | EM_OPF_NOAUTH);
	assert_int_equal(em_op_flags(EM_OP_LOGIN), EM_OPF_PREAUTH | EM_OPF_NOAUTH);
	assert_int_equal(em_op_flags(EM_OP_RESUME), EM_OPF_PREAUTH | EM_OPF_NOAUTH);
	/* the privacy notice is shown before registering, and can be read after login */
	assert_int_equal(em_op_flags(EM_OP_PRIVACY_NOTICE), EM_OPF_PREAUTH);
	/* recovery: before login only, like login itself */
	assert_int_equal(em_op_flags(EM_OP_RECOVERY_OPEN), EM_OPF_PREAUTH | EM_OPF_NOAUTH);
	assert_int_equal(em_op_flags(EM_OP_RECOVERY_RESET), EM_OPF_PREAUTH | EM_OPF_NOAUTH);
	assert_int_equal(em_op_flags(EM_OP_RESET_REDEEM), EM_OPF_PREAUTH | EM_OPF_NOAUTH);
	for (int op = EM_OP_LOGOUT; op < EM_OP__COUNT; op++)
		if (op != EM_OP_PRIVACY_NOTICE && op != EM_OP_RECOVERY_OPEN &&
		    op != EM_OP_RECOVERY_RESET && op != EM_OP_RESET_REDEEM)
			assert_int_equal(em_op_flags(op), 0);
}

/* --- every validation error ------------------------------------------------- */

static void test_bad_json(void **state)
{
	static const char nul_inside[] = "{\"id\":1,\"op\":\"pi\0ng\"}";

	expect_fail("", EM_ERR_BAD_JSON, -1, "");
	expect_fail("{\"id\":1,", EM_ERR_BAD_JSON, -1, "");
	expect_fail("{id:1}", EM_ERR_BAD_JSON, -1, "");
	expect_fail("{\"id\":1,\"op\":\"ping\"} trailing", EM_ERR_BAD_JSON, -1, "");
	expect_fail("{\"id\":1,\"id\":2,\"op\":\"ping\"}", EM_ERR_BAD_JSON, -1,
	            "");                                                    /* duplicate key */
	expect_fail("{\"id\":1,\"op\":\"\xff\"}", EM_ERR_BAD_JSON, -1, ""); /* not UTF-8 */
	expect_fail("{\"id\":1,\"op\":\"ping\",\"args\":{\"x\":\"\\u0000\"}}", EM_ERR_BAD_JSON, -1,
	            "");
	expect_fail("{\"id\":99999999999999999999999,\"op\":\"ping\"}", EM_ERR_BAD_JSON, -1, "");
	{
		struct em_request req;
		struct em_error_detail d;

		assert_int_equal(em_request_parse(nul_inside, sizeof(nul_inside) - 1, &req, &d),
		                 EM_ERR_BAD_JSON);
		assert_int_equal(req.id, -1);
	}
}

static void test_bad_frame(void **state)
{
	/* not an object */
	expect_fail("[1,2]", EM_ERR_BAD_FRAME, -1, NULL);
	expect_fail("[]", EM_ERR_BAD_FRAME, -1, NULL);
	/* missing, negative, float, too large, non-numeric id */
	expect_fail("{\"op\":\"ping\"}", EM_ERR_BAD_FRAME, -1, "id");
	expect_fail("{\"id\":-1,\"op\":\"ping\"}", EM_ERR_BAD_FRAME, -1, "id");
	expect_fail("{\"id\":1.5,\"op\":\"ping\"}", EM_ERR_BAD_FRAME, -1, "id");
	expect_fail("{\"id\":1.0,\"op\":\"ping\"}", EM_ERR_BAD_FRAME, -1, "id");
	expect_fail("{\"id\":9007199254740992,\"op\":\"ping\"}", EM_ERR_BAD_FRAME, -1, "id");
	expect_fail("{\"id\":\"1\",\"op\":\"ping\"}", EM_ERR_BAD_FRAME, -1, "id");
	expect_fail("{\"id\":null,\"op\":\"ping\"}", EM_ERR_BAD_FRAME, -1, "id");
	/* once the id is read, failures carry it */
	expect_fail("{\"id\":5,\"op\":\"ping\",\"extra\":1}", EM_ERR_BAD_FRAME, 5, NULL);
	expect_fail("{\"id\":5,\"op\":\"ping\",\"re\":1}", EM_ERR_BAD_FRAME, 5, NULL);
	expect_fail("{\"id\":6,\"op\":\"ping\",\"args\":[]}", EM_ERR_BAD_FRAME, 6, "args");
	expect_fail("{\"id\":6,\"op\":\"ping\",\"args\":null}", EM_ERR_BAD_FRAME, 6, "args");
	expect_fail("{\"id\":6,\"op\":\"ping\",\"args\":\"x\"}", EM_ERR_BAD_FRAME, 6, "args");
	expect_fail("{\"id\":7}", EM_ERR_BAD_FRAME, 7, "op");
	expect_fail("{\"id\":7,\"op\":1}", EM_ERR_BAD_FRAME, 7, "op");
	expect_fail("{\"id\":7,\"op\":null}", EM_ERR_BAD_FRAME, 7, "op");
}

/*
 * PROTOCOL.md: bad_json is "the frame is not valid JSON", bad_frame "not an
 * object". `42`, `"ping"`, `null` and `true` are valid JSON texts (RFC 8259)
 * that are not objects, so they must be bad_frame.
 */
static void test_bad_frame_for_json_scalars(void **state)
{
	expect_fail("42", EM_ERR_BAD_FRAME, -1, NULL);
	expect_fail("\"ping\"", EM_ERR_BAD_FRAME, -1, NULL);
	expect_fail("null", EM_ERR_BAD_FRAME, -1, NULL);
	expect_fail("true", EM_ERR_BAD_FRAME, -1, NULL);
}

static void test_unknown_op(void **state)
{
	expect_fail("{\"id\":8,\"op\":\"nope\"}", EM_ERR_UNKNOWN_OP, 8, "op");
	expect_fail("{\"id\":8,\"op\":\"PING\"}", EM_ERR_UNKNOWN_OP, 8, "op");
	expect_fail("{\"id\":8,\"op\":\"\"}", EM_ERR_UNKNOWN_OP, 8, "op");
	expect_fail("{\"id\":8,\"op\":\"room.\"}", EM_ERR_UNKNOWN_OP, 8, "op");
}

static void test_missing_field(void **state)
{
	expect_fail("{\"id\":9,\"op\":\"prelogin\"}", EM_ERR_MISSING_FIELD, 9, "args.username");
	expect_fail("{\"id\":9,\"op\":\"prelogin\",\"args\":{}}", EM_ERR_MISSING_FIELD, 9,
	            "args.username");
	expect_fail("{\"id\":9,\"op\":\"room.add\",\"args\":{\"room_id\":1}}", EM_ERR_MISSING_FIELD,
	            9, "args.username");
}

static void test_wrong_type(void **state)
{
	expect_fail("{\"id\":10,\"op\":\"prelogin\",\"args\":{\"username\":5}}", EM_ERR_WRONG_TYPE,
	            10, "args.username");
	expect_fail("{\"id\":10,\"op\":\"room.show\",\"args\":{\"room_id\":\"3\"}}",
	            EM_ERR_WRONG_TYPE, 10, "args.room_id");
	expect_fail("{\"id\":10,\"op\":\"room.show\",\"args\":{\"room_id\":3.0}}",
	            EM_ERR_WRONG_TYPE, 10, "args.room_id");
	expect_fail("{\"id\":10,\"op\":\"room.show\",\"args\":{\"room_id\":null}}",
	            EM_ERR_WRONG_TYPE, 10, "args.room_id");
	expect_fail(
	    "{\"id\":10,\"op\":\"room.create\",\"args\":{\"programme_id\":1,\"kind\":\"pair\","
	    "\"members\":\"bob\"}}",
	    EM_ERR_WRONG_TYPE, 10, "args.members");
	expect_fail(
	    "{\"id\":10,\"op\":\"room.create\",\"args\":{\"programme_id\":1,\"kind\":\"pair\","
	    "\"members\":[\"bob\",7]}}",
	    EM_ERR_WRONG_TYPE, 10, "args.members[1]");
	expect_fail(
	    "{\"id\":10,\"op\":\"login\",\"args\":{\"username\":\"alice\",\"auth_key\":[]}}",
	    EM_ERR_WRONG_TYPE, 10, "args.auth_key");
}

static void test_unknown_field(void **state)
{
	expect_fail("{\"id\":11,\"op\":\"ping\",\"args\":{\"x\":1}}", EM_ERR_UNKNOWN_FIELD, 11,
	            "args.x");
	expect_fail("{\"id\":11,\"op\":\"room.show\",\"args\":{\"room_id\":1,\"roomid\":1}}",
	            EM_ERR_UNKNOWN_FIELD, 11, "args.roomid");
	/* the password itself must never be accepted as an argument */
	expect_fail(
	    "{\"id\":11,\"op\":\"login\",\"args\":{\"username\":\"alice\",\"password\":\"x\"}}",
	    EM_ERR_UNKNOWN_FIELD, 11, "args.password");
}

static void test_too_long_and_too_short(void **state)
{
	char *u32 = repeat("a", 32), *u33 = repeat("a", 33);
	char *e64 = repeat("\xc3\xa9", 64), *e65 = repeat("\xc3\xa9", 65); /* é: 2 bytes, 1 char */
	char *f;

	f = fmt("{\"id\":12,\"op\":\"prelogin\",\"args\":{\"username\":\"%s\"}}", u32);
	expect_ok(f, EM_OP_PRELOGIN, 12);
	free(f);
	f = fmt("{\"id\":12,\"op\":\"prelogin\",\"args\":{\"username\":\"%s\"}}", u33);
	expect_fail(f, EM_ERR_TOO_LONG, 12, "args.username");
	free(f);
	expect_fail("{\"id\":12,\"op\":\"prelogin\",\"args\":{\"username\":\"ab\"}}",
	            EM_ERR_TOO_SHORT, 12, "args.username");

	/* limits count characters, not bytes */
	f = fmt("{\"id\":13,\"op\":\"programme.create\",\"args\":{\"name\":\"%s\",\"starts_on\":"
	        "\"2027-01-01\",\"ends_on\":\"2027-06-30\"}}",
	        e64);
	expect_ok(f, EM_OP_PROGRAMME_CREATE, 13);
	free(f);
	f = fmt("{\"id\":13,\"op\":\"room.create\",\"args\":{\"programme_id\":1,\"kind\":\"pair\","
	        "\"name\":\"%s%s\"}}",
	        e65, e65);
	expect_fail(f, EM_ERR_TOO_LONG, 13, "args.name");
	free(f);
	expect_fail("{\"id\":13,\"op\":\"programme.create\",\"args\":{\"name\":\"\",\"starts_on\":"
	            "\"2027-01-01\",\"ends_on\":\"2027-06-30\"}}",
	            EM_ERR_TOO_SHORT, 13, "args.name");

	/* arrays: at most 6 members */
	expect_fail(
	    "{\"id\":14,\"op\":\"room.create\",\"args\":{\"programme_id\":1,\"kind\":\"group\","
	    "\"members\":[\"aaa\",\"bbb\",\"ccc\",\"ddd\",\"eee\",\"fff\",\"ggg\"]}}",
	    EM_ERR_TOO_LONG, 14, "args.members");
	expect_fail(
	    "{\"id\":14,\"op\":\"room.create\",\"args\":{\"programme_id\":1,\"kind\":\"group\","
	    "\"members\":[\"bo\"]}}",
	    EM_ERR_TOO_SHORT, 14, "args.members[0]");

	/* invite codes: 16 to 64 characters */
	expect_fail(
	    "{\"id\":15,\"op\":\"invite.accept\",\"args\":{\"invite\":\"abcdefghijklmno\"}}",
	    EM_ERR_TOO_SHORT, 15, "args.invite");
	free(u32);
	free(u33);
	free(e64);
	free(e65);
}

static void test_out_of_range(void **state)
{
	char *f;

	expect_fail("{\"id\":16,\"op\":\"room.show\",\"args\":{\"room_id\":0}}",
	            EM_ERR_OUT_OF_RANGE, 16, "args.room_id");
	expect_fail("{\"id\":16,\"op\":\"room.show\",\"args\":{\"room_id\":-3}}",
	            EM_ERR_OUT_OF_RANGE, 16, "args.room_id");
	expect_fail("{\"id\":16,\"op\":\"room.show\",\"args\":{\"room_id\":9007199254740992}}",
	            EM_ERR_OUT_OF_RANGE, 16, "args.room_id");
	expect_fail("{\"id\":17,\"op\":\"invite.create\",\"args\":{\"programme_id\":1,\"role\":"
	            "\"mentor\",\"expires_in_days\":91}}",
	            EM_ERR_OUT_OF_RANGE, 17, "args.expires_in_days");
	expect_fail("{\"id\":17,\"op\":\"invite.create\",\"args\":{\"programme_id\":1,\"role\":"
	            "\"mentor\",\"expires_in_days\":0}}",
	            EM_ERR_OUT_OF_RANGE, 17, "args.expires_in_days");
	expect_fail("{\"id\":18,\"op\":\"programme.create\",\"args\":{\"name\":\"P\",\"starts_on\":"
	            "\"2027-01-01\",\"ends_on\":\"2027-06-30\",\"max_group_mentees\":6}}",
	            EM_ERR_OUT_OF_RANGE, 18, "args.max_group_mentees");
	expect_fail("{\"id\":18,\"op\":\"programme.create\",\"args\":{\"name\":\"P\",\"starts_on\":"
	            "\"2027-01-01\",\"ends_on\":\"2027-06-30\",\"max_group_mentees\":1}}",
	            EM_ERR_OUT_OF_RANGE, 18, "args.max_group_mentees");

	/* Argon2id parameters: opslimit 2..10, memlimit 64 MiB..1 GiB */
	f = fmt(
	    "{\"id\":19,\"op\":\"passwd\",\"args\":{\"auth_key\":\"%s\",\"salt\":\"%s\","
	    "\"opslimit\":1,\"memlimit\":67108864,\"new_auth_key\":\"%s\",\"key_backup\":\"%s\"}}",
	    b64(32, 1), b64(16, 2), b64(32, 3), b64(136, 4));
	expect_fail(f, EM_ERR_OUT_OF_RANGE, 19, "args.opslimit");
	free(f);
	f = fmt(
	    "{\"id\":19,\"op\":\"passwd\",\"args\":{\"auth_key\":\"%s\",\"salt\":\"%s\","
	    "\"opslimit\":11,\"memlimit\":67108864,\"new_auth_key\":\"%s\",\"key_backup\":\"%s\"}}",
	    b64(32, 1), b64(16, 2), b64(32, 3), b64(136, 4));
	expect_fail(f, EM_ERR_OUT_OF_RANGE, 19, "args.opslimit");
	free(f);
	f = fmt(
	    "{\"id\":19,\"op\":\"passwd\",\"args\":{\"auth_key\":\"%s\",\"salt\":\"%s\","
	    "\"opslimit\":2,\"memlimit\":67108863,\"new_auth_key\":\"%s\",\"key_backup\":\"%s\"}}",
	    b64(32, 1), b64(16, 2), b64(32, 3), b64(136, 4));
	expect_fail(f, EM_ERR_OUT_OF_RANGE, 19, "args.memlimit");
	free(f);
	f = fmt("{\"id\":19,\"op\":\"passwd\",\"args\":{\"auth_key\":\"%s\",\"salt\":\"%s\","
	        "\"opslimit\":2,\"memlimit\":1073741825,\"new_auth_key\":\"%s\",\"key_backup\":\"%"
	        "s\"}}",
	        b64(32, 1), b64(16, 2), b64(32, 3), b64(136, 4));
	expect_fail(f, EM_ERR_OUT_OF_RANGE, 19, "args.memlimit");
	free(f);
}

static void test_bad_encoding(void **state)
{
	char key[64], *f;

	/* padding is not allowed */
	snprintf(key, sizeof(key), "%s=", b64(32, 7));
	f = fmt(
	    "{\"id\":20,\"op\":\"login\",\"args\":{\"username\":\"alice\",\"auth_key\":\"%s\"}}",
	    key);
	expect_fail(f, EM_ERR_BAD_ENCODING, 20, "args.auth_key");
	free(f);
	/* the standard alphabet's '+' and '/' are not base64url */
	snprintf(key, sizeof(key), "%s", b64(32, 0xfb)); /* 0xfb.. encodes to "-_..." */
	assert_non_null(strchr(key, '-'));
	for (char *p = key; *p; p++)
		*p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
	f = fmt(
	    "{\"id\":20,\"op\":\"login\",\"args\":{\"username\":\"alice\",\"auth_key\":\"%s\"}}",
	    key);
	expect_fail(f, EM_ERR_BAD_ENCODING, 20, "args.auth_key");
	free(f);
	/* right encoding, wrong length: 31 and 33 bytes for a 32-byte key */
	f = fmt(
	    "{\"id\":20,\"op\":\"login\",\"args\":{\"username\":\"alice\",\"auth_key\":\"%s\"}}",
	    b64(31, 1));
	expect_fail(f, EM_ERR_BAD_ENCODING, 20, "args.auth_key");
	free(f);
	f = fmt(
	    "{\"id\":20,\"op\":\"login\",\"args\":{\"username\":\"alice\",\"auth_key\":\"%s\"}}",
	    b64(33, 1));
	expect_fail(f, EM_ERR_BAD_ENCODING, 20, "args.auth_key");
	free(f);
	f = fmt("{\"id\":20,\"op\":\"login\",\"args\":{\"username\":\"alice\",\"auth_key\":\"\"}}");
	expect_fail(f, EM_ERR_BAD_ENCODING, 20, "args.auth_key");
	free(f);
	/* a salt of 15 bytes in register */
	f = fmt(
	    "{\"id\":21,\"op\":\"register\",\"args\":{\"invite\":\"abcdefghijklmnop\",\"username\":"
	    "\"alice\",\"display_name\":\"A\",\"salt\":\"%s\",\"opslimit\":2,\"memlimit\":67108864,"
	    "\"auth_key\":\"%s\",\"sign_pk\":\"%s\",\"box_pk\":\"%s\",\"key_backup\":\"%s\"}}",
	    b64(15, 1), b64(32, 2), b64(32, 3), b64(32, 4), b64(136, 5));
	expect_fail(f, EM_ERR_BAD_ENCODING, 21, "args.salt");
	free(f);
}

static void test_bad_value(void **state)
{
	static const char *bad_usernames[] = {"_alice", ".alice",      "-alice", "al ice",
	                                      "ali:ce", "al\xc3\xa9x", "alice!"};
	static const char *bad_dates[] = {"2027-02-30", "2027-02-29", "2100-02-29", "2027-04-31",
	                                  "2027-13-01", "2027-00-10", "2027-01-00", "2027/01/01",
	                                  "27-01-2027", "2027-1-010"};
	char *f;

	for (size_t i = 0; i < sizeof(bad_usernames) / sizeof(bad_usernames[0]); i++) {
		f = fmt(
		    "{\"id\":22,\"op\":\"room.add\",\"args\":{\"room_id\":1,\"username\":\"%s\"}}",
		    bad_usernames[i]);
		expect_fail(f, EM_ERR_BAD_VALUE, 22, "args.username");
		free(f);
	}
	for (size_t i = 0; i < sizeof(bad_dates) / sizeof(bad_dates[0]); i++) {
		f = fmt(
		    "{\"id\":23,\"op\":\"programme.create\",\"args\":{\"name\":\"P\",\"starts_on\":"
		    "\"2027-01-01\",\"ends_on\":\"%s\"}}",
		    bad_dates[i]);
		expect_fail(f, EM_ERR_BAD_VALUE, 23, "args.ends_on");
		free(f);
	}
	expect_fail("{\"id\":24,\"op\":\"invite.create\",\"args\":{\"programme_id\":1,\"role\":"
	            "\"admin\"}}",
	            EM_ERR_BAD_VALUE, 24, "args.role");
	/* e-mail (section 12): an address that could break a header, unknown kinds, a non-code */
	expect_fail("{\"id\":24,\"op\":\"invite.create\",\"args\":{\"programme_id\":1,\"role\":"
	            "\"mentee\",\"email\":\"a@b.org\\r\\nBcc: c@d.org\"}}",
	            EM_ERR_BAD_VALUE, 24, "args.email");
	expect_fail("{\"id\":24,\"op\":\"mail.set\",\"args\":{\"address\":\"<a@b.org>\"}}",
	            EM_ERR_BAD_VALUE, 24, "args.address");
	expect_fail("{\"id\":24,\"op\":\"mail.set\",\"args\":{\"address\":\"nobody\"}}",
	            EM_ERR_BAD_VALUE, 24, "args.address");
	expect_fail("{\"id\":24,\"op\":\"mail.set\",\"args\":{\"kinds\":\"meeting,spam\"}}",
	            EM_ERR_BAD_VALUE, 24, "args.kinds");
	expect_fail("{\"id\":24,\"op\":\"mail.set\",\"args\":{\"kinds\":\"meeting,\"}}",
	            EM_ERR_BAD_VALUE, 24, "args.kinds");
	expect_fail("{\"id\":24,\"op\":\"mail.set\",\"args\":{\"lang\":\"de\"}}", EM_ERR_BAD_VALUE,
	            24, "args.lang");
	expect_fail("{\"id\":24,\"op\":\"mail.verify\",\"args\":{\"code\":\"1234567a\"}}",
	            EM_ERR_BAD_VALUE, 24, "args.code");
	f = fmt("{\"id\":26,\"op\":\"consent.grant\",\"args\":{\"purpose\":\"marketing\","
	        "\"subject\":\"x\",\"text_hash\":\"%s\",\"at\":1,\"signature\":\"%s\"}}",
	        b64(32, 1), b64(64, 2));
	expect_fail(f, EM_ERR_BAD_VALUE, 26, "args.purpose");
	free(f);
	/* a template may span lines, a term may not; neither takes other control characters */
	expect_fail("{\"id\":27,\"op\":\"agreement.propose\",\"args\":{\"room_id\":1,\"term\":"
	            "\"two\\nlines\"}}",
	            EM_ERR_BAD_VALUE, 27, "args.term");
	expect_fail("{\"id\":28,\"op\":\"agreement.template.set\",\"args\":{\"programme_id\":1,"
	            "\"text\":\"bell\\u0007\"}}",
	            EM_ERR_BAD_VALUE, 28, "args.text");
	/* the default template exists in English and Polish only */
	expect_fail("{\"id\":29,\"op\":\"agreement.template.set\",\"args\":{\"programme_id\":1,"
	            "\"lang\":\"de\"}}",
	            EM_ERR_BAD_VALUE, 29, "args.lang");
	expect_fail("{\"id\":29,\"op\":\"agreement.template.set\",\"args\":{\"programme_id\":1,"
	            "\"lang\":\"english\"}}",
	            EM_ERR_TOO_LONG, 29, "args.lang");
	expect_fail("{\"id\":24,\"op\":\"invite.create\",\"args\":{\"programme_id\":1,\"role\":"
	            "\"Mentor\"}}",
	            EM_ERR_BAD_VALUE, 24, "args.role");
	expect_fail(
	    "{\"id\":25,\"op\":\"room.create\",\"args\":{\"programme_id\":1,\"kind\":\"trio\"}}",
	    EM_ERR_BAD_VALUE, 25, "args.kind");
	expect_fail(
	    "{\"id\":25,\"op\":\"room.create\",\"args\":{\"programme_id\":1,\"kind\":\"pair\","
	    "\"members\":[\"bob\",\"-bad\"]}}",
	    EM_ERR_BAD_VALUE, 25, "args.members[1]");
	/* control characters in display text */
	expect_fail(
	    "{\"id\":26,\"op\":\"room.create\",\"args\":{\"programme_id\":1,\"kind\":\"pair\","
	    "\"name\":\"a\\nb\"}}",
	    EM_ERR_BAD_VALUE, 26, "args.name");
	/* invite codes and tokens are base64url text */
	expect_fail(
	    "{\"id\":27,\"op\":\"invite.accept\",\"args\":{\"invite\":\"abcdefgh ijklmnop\"}}",
	    EM_ERR_BAD_VALUE, 27, "args.invite");
	expect_fail("{\"id\":27,\"op\":\"resume\",\"args\":{\"token\":\"abc/def\"}}",
	            EM_ERR_BAD_VALUE, 27, "args.token");
}

static void test_frame_too_large(void **state)
{
	const char *head = "{\"id\":28,\"op\":\"ping\"}";
	size_t n = EM_MAX_FRAME;
	char *buf = malloc(n + 2);
	struct em_request req;
	struct em_error_detail d;

	assert_non_null(buf);
	/* exactly 65,536 bytes (JSON padded with spaces) is accepted */
	memset(buf, ' ', n + 1);
	memcpy(buf, head, strlen(head));
	buf[n + 1] = '\0';
	assert_int_equal(em_request_parse(buf, n, &req, &d), EM_OK);
	assert_int_equal(req.id, 28);
	em_request_clear(&req);
	/* one byte more is not, before any parsing */
	assert_int_equal(em_request_parse(buf, n + 1, &req, &d), EM_ERR_FRAME_TOO_LARGE);
	assert_int_equal(req.id, -1);
	assert_null(req.args);
	assert_true(strlen(d.message) > 0);
	free(buf);
}

static void test_accessors(void **state)
{
	struct em_request req;
	struct em_error_detail d;
	unsigned char salt[16], expect[16], small[8];
	char *f =
	    fmt("{\"id\":29,\"op\":\"register\",\"args\":{\"invite\":\"abcdefghijklmnop\","
	        "\"username\":\"Alice\",\"display_name\":\"A\",\"salt\":\"%s\",\"opslimit\":3,"
	        "\"memlimit\":67108864,\"auth_key\":\"%s\",\"sign_pk\":\"%s\",\"box_pk\":\"%s\","
	        "\"key_backup\":\"%s\",\"privacy_version\":\"v1\",\"privacy_at\":1,"
	        "\"privacy_signature\":\"%s\"}}",
	        b64(16, 0xab), b64(32, 2), b64(32, 3), b64(32, 4), b64(136, 5), b64(64, 6));

	assert_int_equal(parse(f, &req, &d), EM_OK);
	assert_string_equal(em_arg_str(&req, "username"), "Alice");
	assert_null(em_arg_str(&req, "nope"));
	assert_null(em_arg_str(&req, "opslimit"));
	assert_int_equal(em_arg_int(&req, "opslimit", -1), 3);
	assert_int_equal(em_arg_int(&req, "memlimit", -1), 67108864);
	assert_int_equal(em_arg_int(&req, "nope", 42), 42);
	assert_int_equal(em_arg_int(&req, "username", 42), 42);
	assert_int_equal(em_arg_bool(&req, "nope", 1), 1);
	assert_int_equal(em_arg_bin(&req, "salt", salt, sizeof(salt)), 16);
	memset(expect, 0xab, sizeof(expect));
	assert_memory_equal(salt, expect, sizeof(salt));
	assert_int_equal(em_arg_bin(&req, "salt", small, sizeof(small)), -1);
	assert_int_equal(em_arg_bin(&req, "nope", salt, sizeof(salt)), -1);
	em_request_clear(&req);
	em_request_clear(&req); /* idempotent */
	em_request_clear(NULL);
	free(f);
}

/*
 * The server answers every refused frame with em_encode_error(id, rc,
 * detail.message). Messages quote parts of the frame (op names, field names,
 * the JSON parser's text); cut in the middle of a multi-byte character they
 * are no longer UTF-8, jansson refuses to encode them, and the peer never gets
 * its error reply.
 */
static void test_every_refusal_can_be_answered(void **state)
{
	char *a39 = repeat("a", 39), *a59 = repeat("a", 59), *e40 = repeat("\xc3\xa9", 40);
	char *frames[] = {
	    fmt("{\"id\":30,\"op\":\"%s\xc3\xa9\"}", a59),
	    fmt("{\"id\":30,\"op\":\"%s\"}", e40),
	    fmt("{\"id\":31,\"op\":\"ping\",\"args\":{\"%s\xc3\xa9\":1}}", a39),
	    fmt("{\"id\":32,\"op\":\"ping\",\"%s\xc3\xa9\":1}", a39),
	    fmt("{\"id\":33,\"op\":\xc3\xa9}"),
	    fmt("{\"id\":33,\"op\":\"ping\"}\xe2\x82\xac"),
	    fmt("\xe2\x82\xac"),
	    /* jansson's own text quotes the input up to the bad byte: here half an é */
	    fmt("{\"id\":34,\"op\":\"ping\",\"args\":{\"x\":\"b\\\\\\\xc3\xa9\"}}"),
	};

	int unanswered = 0;

	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++) {
		struct em_request req;
		struct em_error_detail d;
		int rc = parse(frames[i], &req, &d);
		char *reply;

		assert_true(rc < 0);
		reply = em_encode_error(req.id, rc, d.message, 0);
		if (!reply) {
			print_error(
			    "no error reply can be sent for frame %zu (%s): the message is not "
			    "UTF-8\n",
			    i, em_err_code(rc));
			unanswered++;
		}
		free(reply);
		free(frames[i]);
	}
	free(a39);
	free(a59);
	free(e40);
	assert_int_equal(unanswered, 0);
}

/* --- encoders -------------------------------------------------------------- */

static void test_encode_ok_reads_back(void **state)
{
	struct em_incoming in;
	char *s = em_encode_ok(5, json_pack("{sis[s]}", "x", 1, "names", "alice"));
	json_t *want = json_pack("{sis[s]}", "x", 1, "names", "alice");

	assert_non_null(s);
	assert_int_equal(em_incoming_parse(s, strlen(s), &in), EM_OK);
	assert_false(in.is_event);
	assert_int_equal(in.re, 5);
	assert_int_equal(in.err, EM_OK);
	assert_true(json_equal(in.result, want));
	em_incoming_clear(&in);
	free(s);
	json_decref(want);

	s = em_encode_ok(EM_MAX_REQUEST_ID, NULL); /* NULL result: {} */
	assert_non_null(s);
	assert_int_equal(em_incoming_parse(s, strlen(s), &in), EM_OK);
	assert_int_equal(in.re, EM_MAX_REQUEST_ID);
	assert_true(json_is_object(in.result));
	assert_int_equal(json_object_size(in.result), 0);
	em_incoming_clear(&in);
	free(s);
}

static void test_encode_error_reads_back(void **state)
{
	struct em_incoming in;
	char *s = em_encode_error(7, EM_ERR_RATE_LIMITED, "slow down", 1500);

	assert_non_null(s);
	assert_int_equal(em_incoming_parse(s, strlen(s), &in), EM_OK);
	assert_int_equal(in.re, 7);
	assert_int_equal(in.err, EM_ERR_RATE_LIMITED);
	assert_string_equal(in.err_message, "slow down");
	assert_int_equal(in.retry_after_ms, 1500);
	assert_null(in.result);
	em_incoming_clear(&in);
	free(s);

	/* no id could be read: "re": null; no message given: the table's sentence */
	s = em_encode_error(-1, EM_ERR_BAD_JSON, NULL, 0);
	assert_non_null(s);
	assert_non_null(strstr(s, "\"re\":null"));
	assert_null(strstr(s, "retry_after_ms"));
	assert_non_null(strstr(s, "\"code\":\"bad_json\""));
	assert_int_equal(em_incoming_parse(s, strlen(s), &in), EM_OK);
	assert_int_equal(in.re, -1);
	assert_int_equal(in.err, EM_ERR_BAD_JSON);
	assert_string_equal(in.err_message, em_strerror(EM_ERR_BAD_JSON));
	assert_int_equal(in.retry_after_ms, 0);
	em_incoming_clear(&in);
	free(s);

	/* every error code travels */
	for (int e = EM_ERR_BAD_JSON; e >= EM_ERR_NOMEM; e--) {
		if (!strcmp(em_strerror(e), "unknown error"))
			continue;
		s = em_encode_error(-e, e, "m", 0);
		assert_non_null(s);
		assert_int_equal(em_incoming_parse(s, strlen(s), &in), EM_OK);
		assert_int_equal(in.re, -e);
		assert_string_equal(em_err_code(in.err), em_err_code(e));
		em_incoming_clear(&in);
		free(s);
	}
}

static void test_encode_event_reads_back(void **state)
{
	struct em_incoming in;
	char *s = em_encode_event("room.updated", json_pack("{si}", "room_id", 3));

	assert_non_null(s);
	assert_int_equal(em_incoming_parse(s, strlen(s), &in), EM_OK);
	assert_true(in.is_event);
	assert_string_equal(in.ev, "room.updated");
	assert_int_equal(json_integer_value(json_object_get(in.data, "room_id")), 3);
	em_incoming_clear(&in);
	free(s);
}

static void test_encode_request_parses_back(void **state)
{
	struct em_request req;
	struct em_error_detail d;
	char *s = em_encode_request(3, EM_OP_ROOM_SHOW, json_pack("{si}", "room_id", 42));

	assert_non_null(s);
	assert_int_equal(parse(s, &req, &d), EM_OK);
	assert_int_equal(req.id, 3);
	assert_int_equal(req.op, EM_OP_ROOM_SHOW);
	assert_int_equal(em_arg_int(&req, "room_id", 0), 42);
	em_request_clear(&req);
	free(s);

	s = em_encode_request(4, EM_OP_WHOAMI, NULL);
	assert_non_null(s);
	assert_int_equal(parse(s, &req, &d), EM_OK);
	assert_int_equal(req.op, EM_OP_WHOAMI);
	em_request_clear(&req);
	free(s);

	assert_null(em_encode_request(5, EM_OP_NONE, json_object()));
}

/*
 * em_proto.h: "Ownership of result / data (a reference) passes to the
 * function". Every encoder must take exactly the one reference it is given
 * (em_encode_request already drops it on its error path), else every
 * request the CLI sends leaks its args.
 */
static void test_encoders_take_the_reference(void **state)
{
	json_t *v = json_object();
	char *s;

	json_incref(v); /* ours, kept to look at the count */
	s = em_encode_ok(1, v);
	free(s);
	assert_int_equal(v->refcount, 1);

	json_incref(v);
	s = em_encode_event("x", v);
	free(s);
	assert_int_equal(v->refcount, 1);

	json_incref(v);
	s = em_encode_request(1, EM_OP_PING, v);
	free(s);
	assert_int_equal(v->refcount, 1);
	json_decref(v);
}

static void test_incoming_rejects_malformed(void **state)
{
	static const struct {
		const char *frame;
		int err;
	} cases[] = {
	    {"nope", EM_ERR_BAD_JSON},
	    {"{\"re\":1,", EM_ERR_BAD_JSON},
	    {"[]", EM_ERR_BAD_FRAME},
	    {"{\"re\":\"1\",\"ok\":{}}", EM_ERR_BAD_FRAME},
	    {"{\"re\":1.5,\"ok\":{}}", EM_ERR_BAD_FRAME},
	    {"{\"ev\":1,\"data\":{}}", EM_ERR_BAD_FRAME},
	    {"{\"re\":1}", EM_ERR_BAD_FRAME},
	    {"{\"re\":1,\"error\":\"bad\"}", EM_ERR_BAD_FRAME},
	};
	struct em_incoming in;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = em_incoming_parse(cases[i].frame, strlen(cases[i].frame), &in);

		if (rc != cases[i].err)
			fail_msg("%s: got %s", cases[i].frame, em_err_code(rc));
		assert_null(in.result);
		assert_null(in.err_message);
		assert_null(in.ev);
		assert_null(in.data);
		em_incoming_clear(&in);
	}
	/* an error code this client does not know yet reads as internal */
	{
		const char *f =
		    "{\"re\":2,\"error\":{\"code\":\"from_the_future\",\"message\":\"m\"}}";

		assert_int_equal(em_incoming_parse(f, strlen(f), &in), EM_OK);
		assert_int_equal(in.re, 2);
		assert_int_equal(in.err, EM_ERR_INTERNAL);
		em_incoming_clear(&in);
	}
	em_incoming_clear(NULL);
}

/* --- error table ----------------------------------------------------------- */

/*
 * Every error of the table: the codes em_strerror() knows between -1 and
 * -127, so an error added to em_errors.c is covered without touching this.
 */
static int all_errors[128];
static size_t n_errors;

static int collect_errors(void **state)
{
	n_errors = 0;
	for (int e = -1; e >= -127; e--)
		if (strcmp(em_strerror(e), "unknown error") != 0)
			all_errors[n_errors++] = e;
	return 0;
}

static void test_error_table_round_trips(void **state)
{
	assert_true(n_errors >= 30);
	for (size_t i = 0; i < n_errors; i++) {
		int e = all_errors[i];
		const char *code = em_err_code(e);

		assert_non_null(code);
		assert_true(strlen(em_strerror(e)) > 0);
		if (e == EM_ERR_NOMEM) {
			/* out of memory is reported to peers as internal */
			assert_string_equal(code, "internal");
			assert_int_equal(em_err_from_code(code), EM_ERR_INTERNAL);
			continue;
		}
		if (em_err_from_code(code) != e)
			fail_msg("em_err_from_code(\"%s\") is %d, not %d", code,
			         em_err_from_code(code), e);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(em_err_code(all_errors[j]), code))
				fail_msg("errors %d and %d share the code \"%s\"", all_errors[j], e,
				         code);
		for (const char *p = code; *p; p++)
			assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
	}
	assert_string_equal(em_err_code(EM_OK), "ok");
	assert_int_equal(em_err_from_code("ok"), EM_OK);
	assert_int_equal(em_err_from_code("no_such_code"), EM_ERR_INTERNAL);
	assert_int_equal(em_err_from_code(NULL), EM_ERR_INTERNAL);
	assert_string_equal(em_err_code(12345), "internal");
	assert_string_equal(em_err_code(-12345), "internal");
	assert_true(em_err_retryable(EM_ERR_NOMEM));
}

/*
 * docs/PROTOCOL.md section 3 is the contract: every code in its table is in
 * em_errors.c and vice versa, and its "retry?" column is what
 * em_err_retryable() says.
 */
static void test_error_codes_match_protocol_md(void **state)
{
	FILE *f = fopen(EM_SOURCE_DIR "/docs/PROTOCOL.md", "r");
	char line[1024];
	int in_section = 0, n_doc = 0, problems = 0, documented[128] = {0};

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char code[64];
		const char *retry;
		int err;

		if (!strncmp(line, "## ", 3))
			in_section = !strncmp(line, "## 3. Errors", 12);
		if (!in_section || sscanf(line, "| `%63[a-z_]` |", code) != 1)
			continue;
		n_doc++;
		err = em_err_from_code(code);
		if (strcmp(em_err_code(err), code) != 0) {
			print_error("PROTOCOL.md lists `%s`, which em_errors.c does not know\n",
			            code);
			problems++;
			continue;
		}
		/* the last cell: "| yes |", "| no |", "| no: log in again |" */
		line[strcspn(line, "\n")] = '\0';
		*strrchr(line, '|') = '\0';
		retry = strrchr(line, '|') + 1;
		retry += strspn(retry, " ");
		if (!!em_err_retryable(err) != !strncmp(retry, "yes", 3)) {
			print_error(
			    "`%s`: PROTOCOL.md says retry \"%s\", em_err_retryable() says %d\n",
			    code, retry, em_err_retryable(err));
			problems++;
		}
		for (size_t i = 0; i < n_errors; i++)
			if (!strcmp(em_err_code(all_errors[i]), code))
				documented[i] = 1;
	}
	fclose(f);
	assert_true(n_doc > 0);
	for (size_t i = 0; i < n_errors; i++) {
		if (!documented[i]) {
			print_error("error code `%s` is missing from PROTOCOL.md section 3\n",
			            em_err_code(all_errors[i]));
			problems++;
		}
	}
	assert_int_equal(problems, 0);
}

/* --- base64url, usernames, dates -------------------------------------------- */

static void test_b64_round_trip(void **state)
{
	unsigned char bin[200], out[200];

	for (size_t n = 0; n <= sizeof(bin); n += (n < 40 ? 1 : 17)) {
		char *s;

		randombytes_buf(bin, n);
		s = em_b64_encode(bin, n);
		assert_non_null(s);
		assert_int_equal(strlen(s), (n * 4 + 2) / 3);
		assert_null(strchr(s, '='));
		assert_null(strchr(s, '+'));
		assert_null(strchr(s, '/'));
		assert_int_equal(em_b64_decode(s, out, sizeof(out)), (int)n);
		assert_memory_equal(out, bin, n);
		/* exactly big enough is enough; one byte less is not */
		assert_int_equal(em_b64_decode(s, out, n), (int)n);
		if (n > 0)
			assert_int_equal(em_b64_decode(s, out, n - 1), -1);
		free(s);
	}
}

static void test_b64_known_vectors(void **state)
{
	/* RFC 4648 section 10, without padding, plus the two url-safe characters */
	static const struct {
		const char *bin, *b64;
	} v[] = {{"", ""},
	         {"f", "Zg"},
	         {"fo", "Zm8"},
	         {"foo", "Zm9v"},
	         {"foob", "Zm9vYg"},
	         {"fooba", "Zm9vYmE"},
	         {"foobar", "Zm9vYmFy"},
	         {"\xfb\xff", "-_8"},
	         {"\xff\xff\xfe", "___-"}};
	unsigned char out[16];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		size_t n = strlen(v[i].bin);
		char *s = em_b64_encode((const unsigned char *)v[i].bin, n);

		assert_string_equal(s, v[i].b64);
		assert_int_equal(em_b64_decode(v[i].b64, out, sizeof(out)), (int)n);
		assert_memory_equal(out, v[i].bin, n);
		free(s);
	}
}

static void test_b64_rejects(void **state)
{
	static const char *bad[] = {
	    "Zm8=",       /* padding */
	    "Zg==",       /* padding */
	    "+_8",        /* standard alphabet */
	    "-/8",        /* standard alphabet */
	    "Zm9v YmFy",  /* space */
	    "Zm9v\nYmFy", /* newline */
	    "Z",          /* impossible length */
	    "Zm9vY",      /* impossible length */
	    "Zm9",        /* non-zero trailing bits: not the canonical "Zm8" */
	    "Zh",         /* non-zero trailing bits: not the canonical "Zg" */
	    "Zm9v!",
	    "\xff\xff\xff\xff", /* libsodium 1.0.18 alone decodes this to ff ff ff */
	    "\xc3\xbf\xc3\xbf", /* "ÿÿ" in UTF-8, as a JSON string could carry it */
	    "AA\x80"
	    "A",
	};
	unsigned char out[64];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (em_b64_decode(bad[i], out, sizeof(out)) != -1)
			fail_msg("em_b64_decode accepted \"%s\"", bad[i]);
	/* an absent field (json_string_value() gave NULL) */
	assert_int_equal(em_b64_decode(NULL, out, sizeof(out)), -1);
}

/* em_b64_decoded_len() accepts exactly what em_b64_decode() accepts, with its length. */
static void test_b64_decoded_len(void **state)
{
	static const char chars[] = "AQgw-_Zz09+/= \x80";
	unsigned char out[64];
	char s[48];

	assert_int_equal(em_b64_decoded_len(NULL), -1);
	assert_int_equal(em_b64_decoded_len(""), 0);
	assert_int_equal(em_b64_decoded_len("Zm9vYmE"), 5);
	assert_int_equal(em_b64_decoded_len("Zm9"), -1);
	for (int i = 0; i < 200000; i++) {
		size_t n = randombytes_uniform(41);

		for (size_t k = 0; k < n; k++)
			s[k] = chars[randombytes_uniform(i % 3 ? 10 : sizeof(chars) - 1)];
		s[n] = '\0';
		if (em_b64_decoded_len(s) != em_b64_decode(s, out, sizeof(out)))
			fail_msg("\"%s\": em_b64_decoded_len %d, em_b64_decode %d", s,
			         em_b64_decoded_len(s), em_b64_decode(s, out, sizeof(out)));
	}
}

static void test_subject_ids(void **state)
{
	static const char *bad[] = {
	    "room:",
	    "room:0",
	    "room:05",
	    "room:+5",
	    "room:-5",
	    "room: 5",
	    "room:5 ",
	    "room:5x",
	    "Room:5",
	    "room5",
	    "programme:5",
	    "room:9007199254740992",
	    "room:12345678901234567",
	};
	int64_t id = -1;

	(void)state;
	assert_int_equal(em_subject_id("room:5", "room:", &id), 0);
	assert_int_equal(id, 5);
	assert_int_equal(em_subject_id("programme:9007199254740991", "programme:", &id), 0);
	assert_int_equal(id, 9007199254740991LL);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (em_subject_id(bad[i], "room:", &id) != -1)
			fail_msg("em_subject_id accepted \"%s\"", bad[i]);
	assert_int_equal(em_subject_id(NULL, "room:", &id), -1);
}

static void test_usernames(void **state)
{
	static const char *good[] = {"abc",     "alice", "Alice",
	                             "a.b_c-d", "0day",  "abcdefghijklmnopqrstuvwxyz012345"};
	static const char *bad[] = {
	    "",     "ab",   "_abc",       ".abc",    "-abc",
	    "a bc", "a+bc", "al\xc3\xa9", "abc\x7f", "abcdefghijklmnopqrstuvwxyz0123456"};
	char folded[EM_USERNAME_MAX + 1];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (em_check_username(good[i]) != EM_OK)
			fail_msg("username \"%s\" refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (em_check_username(bad[i]) != EM_ERR_BAD_VALUE)
			fail_msg("username \"%s\" accepted", bad[i]);
	em_username_fold("AlIcE.Smith_2", folded);
	assert_string_equal(folded, "alice.smith_2");
	em_username_fold("ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", folded);
	assert_string_equal(folded, "abcdefghijklmnopqrstuvwxyz012345");
}

/* The one intrusive list (em_list.h): order, count and links after every move. */
struct list_item {
	int value;
	struct em_link link;
};

/* The list's values head to tail, checked against its count and its back links. */
static void list_expect(const struct em_list *list, const char *want)
{
	char got[32] = "", back[32] = "";
	size_t n = 0;

	for (const struct em_link *l = list->head; l; l = l->next, n++)
		snprintf(got + strlen(got), sizeof(got) - strlen(got), "%d",
		         em_item(l, struct list_item, link)->value);
	for (const struct em_link *l = list->tail; l; l = l->prev)
		snprintf(back + strlen(back), sizeof(back) - strlen(back), "%d",
		         em_item(l, struct list_item, link)->value);
	assert_string_equal(got, want);
	assert_int_equal(n, list->count);
	assert_int_equal(strlen(back), strlen(got));
	for (size_t i = 0; i < n; i++)
		assert_int_equal(back[i], got[n - 1 - i]);
	assert_int_equal(em_list_empty(list), n == 0);
}

static void test_list(void **state)
{
	struct list_item it[6];
	struct em_list a = {0}, b = {0};
	struct em_link *l, *tmp;

	(void)state;
	for (int i = 0; i < 6; i++)
		it[i].value = i;
	list_expect(&a, "");
	assert_null(em_list_pop(&a));
	assert_null(em_list_first(&a, struct list_item, link));
	em_list_append(&a, &it[1].link);
	em_list_append(&a, &it[2].link);
	em_list_prepend(&a, &it[0].link);
	em_list_append(&a, &it[3].link);
	list_expect(&a, "0123");
	assert_ptr_equal(em_list_first(&a, struct list_item, link), &it[0]);
	em_list_remove(&a, &it[2].link); /* middle */
	list_expect(&a, "013");
	em_list_remove(&a, &it[3].link); /* tail */
	list_expect(&a, "01");
	assert_ptr_equal(em_item(em_list_pop(&a), struct list_item, link), &it[0]);
	list_expect(&a, "1");
	em_list_remove(&a, &it[1].link); /* the only one */
	list_expect(&a, "");

	em_list_splice(&a, &b); /* empty into empty */
	list_expect(&a, "");
	em_list_append(&b, &it[4].link);
	em_list_append(&b, &it[5].link);
	em_list_splice(&a, &b); /* into empty */
	list_expect(&a, "45");
	list_expect(&b, "");
	em_list_append(&b, &it[0].link);
	em_list_append(&b, &it[1].link);
	em_list_splice(&a, &b); /* onto a tail */
	list_expect(&a, "4501");
	list_expect(&b, "");

	/* a walk that removes as it goes */
	em_list_each (&a, l, tmp) {
		if (em_item(l, struct list_item, link)->value % 2 == 0)
			em_list_remove(&a, l);
	}
	list_expect(&a, "51");
	em_list_each (&a, l, tmp) {
		em_list_remove(&a, l);
	}
	list_expect(&a, "");
}

static void test_dates(void **state)
{
	static const char *good[] = {"2027-03-01", "2028-02-29", "2000-02-29",
	                             "2027-12-31", "2027-01-31", "2027-04-30"};
	static const char *bad[] = {
	    "2027-02-30",           "2027-02-29", "2100-02-29", "2027-04-31", "2027-13-01",
	    "2027-00-01",           "2027-01-00", "2027-01-32", "2027-1-01",  "2027/01/01",
	    "2027-01-01T00:00:00Z", "",           "abcd-ef-gh", "2027-01-0a", " 2027-01-01"};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (em_check_date(good[i]) != EM_OK)
			fail_msg("date \"%s\" refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (em_check_date(bad[i]) != EM_ERR_BAD_VALUE)
			fail_msg("date \"%s\" accepted", bad[i]);
}

static void test_utc_minutes(void **state)
{
	static const char *good[] = {"2027-03-01T00:00:00Z", "2028-02-29T23:59:00Z",
	                             "2027-12-31T12:30:00Z"};
	static const char *bad[] = {
	    "2027-03-01T10:00:30Z", /* seconds must be 00 */
	    "2027-03-01T24:00:00Z", "2027-03-01T10:60:00Z", "2027-02-30T10:00:00Z",
	    "2027-03-01 10:00:00Z", "2027-03-01T10:00:00",  "2027-03-01T10:00:00+01:00",
	    "2027-03-01T1a:00:00Z", "2027-03-01T10:00Z",    ""};

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (em_check_utc_minute(good[i]) != EM_OK)
			fail_msg("time \"%s\" refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (em_check_utc_minute(bad[i]) != EM_ERR_BAD_VALUE)
			fail_msg("time \"%s\" accepted", bad[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_utc_minutes),
	    cmocka_unit_test_setup_teardown(test_every_op_accepts_a_valid_frame, valid_frames_setup,
	                                    valid_frames_teardown),
	    cmocka_unit_test_setup_teardown(test_required_optional_and_types_of_every_arg,
	                                    valid_frames_setup, valid_frames_teardown),
	    cmocka_unit_test(test_op_names_and_flags),
	    cmocka_unit_test(test_bad_json),
	    cmocka_unit_test(test_bad_frame),
	    cmocka_unit_test(test_bad_frame_for_json_scalars),
	    cmocka_unit_test(test_unknown_op),
	    cmocka_unit_test(test_missing_field),
	    cmocka_unit_test(test_wrong_type),
	    cmocka_unit_test(test_unknown_field),
	    cmocka_unit_test(test_too_long_and_too_short),
	    cmocka_unit_test(test_out_of_range),
	    cmocka_unit_test(test_bad_encoding),
	    cmocka_unit_test(test_bad_value),
	    cmocka_unit_test(test_frame_too_large),
	    cmocka_unit_test(test_accessors),
	    cmocka_unit_test(test_every_refusal_can_be_answered),
	    cmocka_unit_test(test_encode_ok_reads_back),
	    cmocka_unit_test(test_encode_error_reads_back),
	    cmocka_unit_test(test_encode_event_reads_back),
	    cmocka_unit_test(test_encode_request_parses_back),
	    cmocka_unit_test(test_encoders_take_the_reference),
	    cmocka_unit_test(test_incoming_rejects_malformed),
	    cmocka_unit_test_setup(test_error_table_round_trips, collect_errors),
	    cmocka_unit_test_setup(test_error_codes_match_protocol_md, collect_errors),
	    cmocka_unit_test(test_b64_round_trip),
	    cmocka_unit_test(test_b64_known_vectors),
	    cmocka_unit_test(test_b64_rejects),
	    cmocka_unit_test(test_b64_decoded_len),
	    cmocka_unit_test(test_subject_ids),
	    cmocka_unit_test(test_usernames),
	    cmocka_unit_test(test_dates),
	    cmocka_unit_test(test_list),
	};

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("proto", tests, NULL, NULL);
}
