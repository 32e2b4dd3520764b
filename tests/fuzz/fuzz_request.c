/*
 * fuzz_request.c - libFuzzer target for the frame decoders in proto/.
 *
 * Feeds arbitrary bytes to em_request_parse() (what the server does with every
 * text message) and em_incoming_parse() (what the CLI does with every frame
 * from the server), and checks the properties the server relies on:
 *   - a failure always carries an error code of the table and a message;
 *   - a request id, when one was read, is a valid id (0 .. 2^53-1);
 *   - the reply the server would send (ok or error, from em_encode_*) reads
 *     back through em_incoming_parse() with the same id and error code.
 * Any violation aborts, which libFuzzer reports as a crash. The same file is
 * linked into fuzz_replay (tests/fuzz/replay.c) to replay the corpus as a ctest.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "em_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "fuzz_request: property violated: %s\n", what);
		abort();
	}
}

/* The server's reply to a parsed request must read back on the client side. */
static void check_reply(int64_t id, int err, const char *message)
{
	struct em_incoming in;
	char *reply;

	if (err == EM_OK)
		reply = em_encode_ok(id, json_pack("{ss}", "echo", "ok"));
	else
		reply = em_encode_error(id, err, message, 0);
	/* the server must always be able to answer, whatever it was sent */
	check(reply != NULL, "the reply can be encoded");
	check(em_incoming_parse(reply, strlen(reply), &in) == EM_OK, "reply reads back");
	check(in.re == id, "reply carries the request id");
	check(!in.is_event, "reply is not an event");
	if (err == EM_OK) {
		check(in.result != NULL, "ok reply has a result");
	} else {
		check(!strcmp(em_err_code(in.err), em_err_code(err)), "error code reads back");
		check(in.err_message && !strcmp(in.err_message, message), "message reads back");
	}
	em_incoming_clear(&in);
	free(reply);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct em_request req;
	struct em_error_detail detail;
	struct em_incoming in;
	int rc;

	rc = em_request_parse((const char *)data, size, &req, &detail);
	check(req.id >= -1 && req.id <= EM_MAX_REQUEST_ID, "request id in range");
	if (rc == EM_OK) {
		const char *name = em_op_name(req.op);

		check(name != NULL, "a parsed request has a known op");
		check(em_op_from_name(name) == req.op, "op name round trip");
		check(json_is_object(req.args), "args is an object");
		check_reply(req.id, EM_OK, NULL);
	} else {
		check(rc < 0, "failure is negative");
		check(strcmp(em_strerror(rc), "unknown error") != 0,
		      "failure is in the error table");
		check(req.args == NULL && req.op == EM_OP_NONE, "failure leaves no request");
		check(detail.message[0] != '\0', "failure has a message");
		check_reply(req.id, rc, detail.message);
	}
	em_request_clear(&req);

	/* The same bytes as a frame from the server. */
	rc = em_incoming_parse((const char *)data, size, &in);
	if (rc == EM_OK)
		check(in.is_event ? in.ev != NULL : (in.result != NULL || in.err_message != NULL),
		      "an incoming frame is an event, a result or an error");
	else
		check(in.ev == NULL && in.result == NULL && in.err_message == NULL &&
		          in.data == NULL,
		      "a refused incoming frame holds nothing");
	em_incoming_clear(&in);
	return 0;
}
