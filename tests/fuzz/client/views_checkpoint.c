/* views_checkpoint.c - client/cmd_checkpoint.c with its printers exported (views.h). */
#include "cmd_checkpoint.c"
#include "views.h"

void view_checkpoint(json_t *cp)
{
	cp_print(cp);
}

void view_notice(json_t *notice)
{
	notice_print(notice);
}
