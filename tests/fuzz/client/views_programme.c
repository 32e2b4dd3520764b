/* views_programme.c - client/cmd_programme.c with its printer exported (views.h). */
#include "cmd_programme.c"
#include "views.h"

void view_programme(json_t *programme)
{
	programme_print_one(programme);
}
