/*
 * submit.h - a connection's jobs to the database threads (db.h), stamped with
 * who asked and counted in flight. Service thread.
 */
#ifndef EMENTORD_SUBMIT_H
#define EMENTORD_SUBMIT_H

struct db_job;
struct session;

/*
 * Stamps the job with the session and hands it to the workers (batched: the
 * batch writer). 0, or EM_ERR_BUSY when the queue is full (the caller still
 * owns the job).
 */
int submit_job(struct session *s, struct db_job *job, int batched);
/*
 * A continuation no request waits for (the next page of a replay): parked
 * while the session's output is more than half its cap (ws.c unparks it when
 * the client has read), the connection closed 1013 when the queue is full.
 * Takes the job.
 */
void submit_internal(struct session *s, struct db_job *job);
/* Submits the parked continuation, if any (ws.c, when output drained). */
void submit_unpark(struct session *s);

#endif
