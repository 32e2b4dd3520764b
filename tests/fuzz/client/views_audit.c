/* views_audit.c - client/cmd_audit.c with its printers exported (views.h). */
#include "cmd_audit.c"
#include "views.h"

void view_audit(json_t *report)
{
	audit_print_table(report, 0);
	audit_print_table(report, 1);
	audit_print_csv(report);
}
