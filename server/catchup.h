/*
 * catchup.h - the catch-up sweep: messages of other nodes that this node's
 * subscribers missed because an announcement (NOTIFY) was lost. See catchup.c.
 */
#ifndef EMENTORD_CATCHUP_H
#define EMENTORD_CATCHUP_H

/*
 * Service thread: compares the last_seq of every room with local subscribers
 * against what this node pushed there, and has the gaps read and pushed. At
 * most one sweep is in flight; one asked for meanwhile runs after it. A sweep
 * that fails (database unreachable, queue full) is tried again every second.
 */
void catchup_sweep(void);
/* Service thread, at shutdown: cancels a pending retry. */
void catchup_stop(void);

#endif
