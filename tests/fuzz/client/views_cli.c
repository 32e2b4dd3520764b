/* views_cli.c - client/cli.c with its defanging exported (views.h). */
#include "cli.c"
#include "views.h"

void view_defang(json_t *result)
{
	cli_defang_json(result);
}

void view_defang_text(char *text)
{
	cli_defang(text);
}
