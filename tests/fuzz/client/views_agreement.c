/* views_agreement.c - client/cmd_agreement.c with a version's printer exported (views.h). */
#include "cmd_agreement.c"
#include "views.h"

void view_agreement_version(struct msg_ctx *m, struct msg_version *v, json_t *vj)
{
	agreement_print_version(m, "Active", v, vj);
	agreement_annotate(m, v);
}
