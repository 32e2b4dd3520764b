/* views_account.c - client/cmd_account.c with whoami's printer exported (views.h). */
#include "cmd_account.c"
#include "views.h"

void view_whoami(const struct cli *cli, const struct home_session *s, json_t *res)
{
	whoami_print(cli, s, res);
}
