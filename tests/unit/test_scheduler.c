/*
 * test_scheduler.c - server/scheduler.c against stubs of db.h and log.h
 * (tests/unit/stubs): no timer (scheduler_start with no context), the test
 * drives scheduler_run_due() with its own clock. Entries turn at first_ms
 * and then every every_ms; a DB entry never has two jobs at once (busy from
 * its submission until the job's finished callback has run, whatever else
 * happens meanwhile); its turn is skipped while the database is down, when
 * its args() has nothing to do, and when the queue is full (then the entry
 * is not busy and the next turn tries again); tick entries run on time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "job.h"
#include "scheduler.h"
#include "stubs.h"

static int ticks_a, ticks_b;
static int64_t tick_a_at[16];
static int64_t clock_ms; /* what the test's clock says at each scheduler_run_due() */

static void tick_a(void)
{
	if (ticks_a < 16)
		tick_a_at[ticks_a] = clock_ms;
	ticks_a++;
}

static void tick_b(void)
{
	ticks_b++;
}

/* Two DB entries with distinct run functions (the scheduler tells jobs apart by run). */
static int run_one(struct db_conn *c, struct db_job *job)
{
	(void)c;
	(void)job;
	return 0;
}

static int run_two(struct db_conn *c, struct db_job *job)
{
	(void)c;
	(void)job;
	return 0;
}

static int args_rc = 1; /* what args_one() answers */
static int args_calls;

static int args_one(json_t **args)
{
	args_calls++;
	if (args_rc > 0)
		*args = json_pack("{sI}", "turn", (json_int_t)args_calls);
	return args_rc;
}

static int finished_one, finished_two;
static json_t *finished_one_args; /* the args the last finished job carried (borrowed) */
static int finished_one_saw_busy; /* the entry's busy flag inside its finished callback */
static struct sched_entry *entry_one;

static void finished_cb_one(struct db_job *job)
{
	finished_one++;
	finished_one_args = job->args;
	finished_one_saw_busy = entry_one ? entry_one->busy : -1;
	if (job->args)
		assert_int_equal(json_integer_value(json_object_get(job->args, "turn")),
		                 args_calls);
}

static void finished_cb_two(struct db_job *job)
{
	(void)job;
	finished_two++;
}

static int64_t run_due(int64_t now)
{
	clock_ms = now;
	return scheduler_run_due(now);
}

static int setup(void **state)
{
	(void)state;
	stub_db_reset();
	stub_log_reset();
	ticks_a = ticks_b = 0;
	memset(tick_a_at, 0, sizeof(tick_a_at));
	args_rc = 1;
	args_calls = 0;
	finished_one = finished_two = 0;
	finished_one_args = NULL;
	finished_one_saw_busy = -1;
	entry_one = NULL;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	scheduler_stop();
	stub_db_reset();
	return 0;
}

static void test_tick_turns(void **state)
{
	struct sched_entry table[] = {
	    {.name = "a", .first_ms = 100, .every_ms = 1000, .tick = tick_a},
	    {.name = "b", .first_ms = 0, .every_ms = 250, .tick = tick_b},
	};

	(void)state;
	scheduler_start(NULL, table, 2);
	/* b is due at once, a at 100 */
	assert_int_equal(run_due(0), 100);
	assert_int_equal(ticks_a, 0);
	assert_int_equal(ticks_b, 1);
	assert_int_equal(run_due(99), 100);
	assert_int_equal(ticks_a, 0);
	assert_int_equal(run_due(100), 250);
	assert_int_equal(ticks_a, 1);
	assert_int_equal(tick_a_at[0], 100);
	/* b's next turn is 250 after its first (at 0) */
	assert_int_equal(run_due(249), 250);
	assert_int_equal(ticks_b, 1);
	assert_int_equal(run_due(250), 500);
	assert_int_equal(ticks_b, 2);
	/* a: every 1000 after its turn at 100 */
	for (int64_t t = 500; t <= 3100; t += 50)
		run_due(t);
	assert_int_equal(ticks_a, 4);
	assert_int_equal(tick_a_at[1], 1100);
	assert_int_equal(tick_a_at[2], 2100);
	assert_int_equal(tick_a_at[3], 3100);
	/* a late call runs each entry once, not once per missed turn */
	ticks_b = 0;
	run_due(10000);
	assert_int_equal(ticks_b, 1);
	assert_int_equal(ticks_a, 5);
	assert_int_equal(stub_db_n_submitted, 0);
}

static void test_job_one_at_a_time(void **state)
{
	struct sched_entry table[] = {
	    {.name = "one",
	     .first_ms = 10,
	     .every_ms = 100,
	     .args = args_one,
	     .run = run_one,
	     .finished = finished_cb_one},
	    {.name = "two",
	     .first_ms = 10,
	     .every_ms = 100,
	     .run = run_two,
	     .finished = finished_cb_two},
	};

	(void)state;
	entry_one = &table[0];
	scheduler_start(NULL, table, 2);
	assert_int_equal(run_due(0), 10);
	assert_int_equal(stub_db_n_submitted, 0);
	assert_int_equal(run_due(10), 110);
	/* both submitted, each with its own run; two takes no args */
	assert_int_equal(stub_db_n_submitted, 2);
	assert_ptr_equal(stub_db_submitted[0].run, run_one);
	assert_int_equal(json_integer_value(json_object_get(stub_db_submitted[0].args, "turn")), 1);
	assert_ptr_equal(stub_db_submitted[1].run, run_two);
	assert_null(stub_db_submitted[1].args);
	assert_true(table[0].busy && table[1].busy);
	/* many turns while the jobs run: nothing more is submitted, args not even built */
	for (int64_t t = 110; t <= 1010; t += 100)
		run_due(t);
	assert_int_equal(stub_db_n_submitted, 2);
	assert_int_equal(args_calls, 1);
	/* one finishes: its entry is free at its next turn; the other stays busy */
	stub_db_finish(0);
	assert_int_equal(finished_one, 1);
	assert_int_equal(finished_one_saw_busy, 0); /* not busy by the time finished runs */
	assert_non_null(finished_one_args);
	assert_false(table[0].busy);
	assert_true(table[1].busy);
	run_due(1110);
	assert_int_equal(stub_db_n_submitted, 3);
	assert_ptr_equal(stub_db_submitted[2].run, run_one);
	assert_int_equal(args_calls, 2);
	assert_true(table[0].busy);
	/* the second entry's job completes: it turns again, the first still busy */
	stub_db_finish(1);
	assert_int_equal(finished_two, 1);
	run_due(1210);
	assert_int_equal(stub_db_n_submitted, 4);
	assert_ptr_equal(stub_db_submitted[3].run, run_two);
	assert_int_equal(args_calls, 2);
}

static void test_skipped_while_db_down(void **state)
{
	struct sched_entry table[] = {
	    {.name = "one", .first_ms = 0, .every_ms = 100, .args = args_one, .run = run_one},
	    {.name = "a", .first_ms = 0, .every_ms = 100, .tick = tick_a},
	};

	(void)state;
	scheduler_start(NULL, table, 2);
	stub_db_up = 0;
	for (int64_t t = 0; t <= 500; t += 100)
		run_due(t);
	/* the DB entry waited; the tick did not */
	assert_int_equal(stub_db_n_submitted, 0);
	assert_int_equal(args_calls, 0);
	assert_false(table[0].busy);
	assert_int_equal(ticks_a, 6);
	stub_db_up = 1;
	run_due(600);
	assert_int_equal(stub_db_n_submitted, 1);
	assert_true(table[0].busy);
}

static void test_nothing_to_do(void **state)
{
	struct sched_entry table[] = {
	    {.name = "one", .first_ms = 0, .every_ms = 100, .args = args_one, .run = run_one},
	};

	(void)state;
	scheduler_start(NULL, table, 1);
	args_rc = 0;
	run_due(0);
	run_due(100);
	assert_int_equal(args_calls, 2);
	assert_int_equal(stub_db_n_submitted, 0);
	assert_false(table[0].busy);
	/* an error building args: logged, nothing submitted, not busy */
	args_rc = -1;
	run_due(200);
	assert_int_equal(args_calls, 3);
	assert_int_equal(stub_db_n_submitted, 0);
	assert_false(table[0].busy);
	assert_int_equal(stub_log_lines[2], 1); /* LOG_WARN */
	args_rc = 1;
	run_due(300);
	assert_int_equal(stub_db_n_submitted, 1);
}

static void test_queue_full(void **state)
{
	struct sched_entry table[] = {
	    {.name = "one", .first_ms = 0, .every_ms = 100, .args = args_one, .run = run_one},
	};

	(void)state;
	scheduler_start(NULL, table, 1);
	stub_db_full = 1;
	run_due(0);
	assert_int_equal(args_calls, 1);
	assert_int_equal(stub_db_n_submitted, 0);
	assert_false(table[0].busy); /* not waiting for a job that was never queued */
	assert_int_equal(stub_log_lines[2], 1);
	stub_db_full = 0;
	run_due(50); /* not its turn yet */
	assert_int_equal(stub_db_n_submitted, 0);
	run_due(100);
	assert_int_equal(stub_db_n_submitted, 1);
	assert_int_equal(args_calls, 2);
	assert_true(table[0].busy);
}

/* A job finished after the table is gone (scheduler_stop) changes nothing. */
static void test_finished_after_stop(void **state)
{
	struct sched_entry table[] = {
	    {.name = "one",
	     .first_ms = 0,
	     .every_ms = 100,
	     .args = args_one,
	     .run = run_one,
	     .finished = finished_cb_one},
	};

	(void)state;
	scheduler_start(NULL, table, 1);
	run_due(0);
	assert_int_equal(stub_db_n_submitted, 1);
	scheduler_stop();
	stub_db_finish(0);
	assert_int_equal(finished_one, 0);
	/* a restart begins with every entry free, its clock from 0 again */
	scheduler_start(NULL, table, 1);
	assert_false(table[0].busy);
	assert_int_equal(run_due(0), 100);
	assert_int_equal(stub_db_n_submitted, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_tick_turns, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_job_one_at_a_time, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_skipped_while_db_down, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_nothing_to_do, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_queue_full, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_finished_after_stop, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
