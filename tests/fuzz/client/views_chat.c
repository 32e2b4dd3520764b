/* views_chat.c - client/cmd_chat.c with its event handler exported (views.h). */
#include "cmd_chat.c"
#include "views.h"

void view_chat_event(struct msg_ctx *m, int64_t room, int64_t cursor, struct em_incoming *ev)
{
	struct chat ch;

	memset(&ch, 0, sizeof(ch));
	ch.m = m;
	ch.room_id = room;
	ch.cursor = cursor;
	ch.saved_cursor = cursor;
	ch.stdin_open = 1;
	chat_on_event(&ch, ev);
}
