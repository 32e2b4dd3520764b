/*
 * lws.c (stub) - the libwebsockets calls of server/session.c, recorded
 * instead of made: a write request counted, a close reason kept, a written
 * frame copied (and optionally cut short, as a failed socket write). A raw
 * write (LWS_WRITE_HTTP: frames joined by session.c, headers included) is
 * taken apart into its frames, each header checked as RFC 6455 5.2 writes an
 * unfragmented, unmasked text frame; a malformed one fails the write.
 */
#include <stdlib.h>
#include <string.h>
#include <libwebsockets.h>

#include "stubs.h"

int stub_lws_writable;
struct lws *stub_lws_last_wsi;
int stub_lws_close_status;
char stub_lws_close_text[128];
int stub_lws_n_frames;
int stub_lws_n_writes;
int stub_lws_kills;
char *stub_lws_frames[STUB_LWS_FRAMES];
int stub_lws_write_short;
int stub_lws_choked = 1; /* lws_send_pipe_choked(): by default one frame per callback */

void stub_lws_reset(void)
{
	for (int i = 0; i < stub_lws_n_frames; i++)
		free(stub_lws_frames[i]);
	stub_lws_n_frames = 0;
	stub_lws_n_writes = 0;
	stub_lws_kills = 0;
	stub_lws_h2_network = NULL;
	stub_lws_writable = 0;
	stub_lws_last_wsi = NULL;
	stub_lws_close_status = 0;
	stub_lws_close_text[0] = '\0';
	stub_lws_write_short = 0;
	stub_lws_choked = 1;
}

int lws_send_pipe_choked(struct lws *wsi)
{
	(void)wsi;
	return stub_lws_choked;
}

int lws_callback_on_writable(struct lws *wsi)
{
	stub_lws_writable++;
	stub_lws_last_wsi = wsi;
	return 1;
}

struct lws *stub_lws_h2_network; /* non-NULL: every connection is a stream of this one */

struct lws *lws_get_network_wsi(struct lws *wsi)
{
	return stub_lws_h2_network ? stub_lws_h2_network : wsi;
}

void lws_set_timeout(struct lws *wsi, enum pending_timeout reason, int secs)
{
	stub_lws_last_wsi = wsi;
	/* only the close session.c starts: the close frame must survive it */
	if (secs == LWS_TO_KILL_ASYNC && reason == PENDING_TIMEOUT_HTTP_KEEPALIVE_IDLE)
		stub_lws_kills++;
}

void lws_close_reason(struct lws *wsi, enum lws_close_status status, unsigned char *buf, size_t len)
{
	stub_lws_last_wsi = wsi;
	stub_lws_close_status = (int)status;
	if (len >= sizeof(stub_lws_close_text))
		len = sizeof(stub_lws_close_text) - 1;
	memcpy(stub_lws_close_text, buf, len);
	stub_lws_close_text[len] = '\0';
}

static void stub_lws_record(const unsigned char *buf, size_t len)
{
	if (stub_lws_n_frames < STUB_LWS_FRAMES) {
		char *copy = malloc(len + 1);

		if (copy) {
			memcpy(copy, buf, len);
			copy[len] = '\0';
		}
		stub_lws_frames[stub_lws_n_frames++] = copy;
	}
}

/* Records the frames of a raw write; -1 if it is not a sequence of whole frames. */
static int stub_lws_record_raw(const unsigned char *buf, size_t len)
{
	size_t at = 0;

	while (at < len) {
		size_t hdr = 2, n;

		if (len - at < 2 || buf[at] != 0x81 || (buf[at + 1] & 0x80))
			return -1;
		n = buf[at + 1];
		if (n == 126) {
			if (len - at < 4)
				return -1;
			n = (size_t)buf[at + 2] << 8 | buf[at + 3];
			hdr = 4;
			if (n < 126) /* not the shortest form */
				return -1;
		} else if (n == 127) {
			return -1; /* never joined: over WRITE_JOIN_BYTES */
		}
		if (len - at - hdr < n)
			return -1;
		stub_lws_record(buf + at + hdr, n);
		at += hdr + n;
	}
	return 0;
}

int lws_write(struct lws *wsi, unsigned char *buf, size_t len, enum lws_write_protocol protocol)
{
	stub_lws_last_wsi = wsi;
	if (protocol != LWS_WRITE_TEXT && protocol != LWS_WRITE_HTTP)
		return -1;
	if (stub_lws_write_short)
		return (int)len - 1;
	if (protocol == LWS_WRITE_HTTP) {
		if (stub_lws_record_raw(buf, len))
			return -1;
	} else {
		stub_lws_record(buf, len);
	}
	stub_lws_n_writes++;
	return (int)len;
}
