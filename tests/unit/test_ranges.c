/*
 * test_ranges.c - server/ranges.c: the sorted, merging seq-range list that
 * holds what other nodes announced and this node has not read yet. Ranges
 * added in any order merge when they touch or overlap and stay sorted; once
 * the list holds RANGES_MAX ranges the closest neighbours merge, counted in
 * the return value, and no seq added is ever lost; ranges_covered with and
 * without the `also` range; ranges_take_first. A randomized run (fixed seed)
 * checks every invariant against a plain bitmap of the seqs added.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ranges.h"

/* The list is sorted, disjoint and no two ranges touch. */
static void check_shape(const struct range_list *l)
{
	assert_true(l->n >= 0 && l->n <= l->cap && l->cap <= RANGES_MAX);
	for (int i = 0; i < l->n; i++) {
		assert_true(l->r[i].first <= l->r[i].last);
		if (i > 0)
			assert_true(l->r[i - 1].last + 1 < l->r[i].first);
	}
}

static void check_ranges(const struct range_list *l, const struct range *want, int n)
{
	check_shape(l);
	assert_int_equal(l->n, n);
	for (int i = 0; i < n; i++) {
		assert_int_equal(l->r[i].first, want[i].first);
		assert_int_equal(l->r[i].last, want[i].last);
	}
}

static void test_merges_in_any_order(void **state)
{
	struct range_list l = {0};
	const struct range three[] = {{1, 3}, {10, 12}, {20, 20}};
	const struct range two[] = {{1, 12}, {20, 20}};
	const struct range one[] = {{0, 30}};

	(void)state;
	/* out of order, none touching */
	assert_int_equal(ranges_add(&l, 20, 20), 0);
	assert_int_equal(ranges_add(&l, 10, 12), 0);
	assert_int_equal(ranges_add(&l, 1, 3), 0);
	check_ranges(&l, three, 3);
	/* inside an existing range: nothing changes */
	assert_int_equal(ranges_add(&l, 11, 11), 0);
	check_ranges(&l, three, 3);
	/* touching on both sides: 4..9 joins 1..3 and 10..12 */
	assert_int_equal(ranges_add(&l, 4, 9), 0);
	check_ranges(&l, two, 2);
	/* a backwards range adds nothing */
	assert_int_equal(ranges_add(&l, 9, 8), 0);
	check_ranges(&l, two, 2);
	/* one range over everything swallows all */
	assert_int_equal(ranges_add(&l, 0, 30), 0);
	check_ranges(&l, one, 1);
	ranges_free(&l);
	assert_null(l.r);
	assert_int_equal(l.n, 0);
}

static void test_touching_and_overlapping(void **state)
{
	struct range_list l = {0};
	const struct range after_touch[] = {{5, 11}};
	const struct range after_overlap[] = {{2, 11}};
	const struct range after_gap[] = {{2, 11}, {13, 14}};
	const struct range after_bridge[] = {{2, 14}};

	(void)state;
	assert_int_equal(ranges_add(&l, 5, 7), 0);
	assert_int_equal(ranges_add(&l, 8, 11), 0); /* touches at the end */
	check_ranges(&l, after_touch, 1);
	assert_int_equal(ranges_add(&l, 2, 6), 0); /* overlaps the start */
	check_ranges(&l, after_overlap, 1);
	assert_int_equal(ranges_add(&l, 13, 14), 0); /* a gap of one seq stays */
	check_ranges(&l, after_gap, 2);
	assert_int_equal(ranges_add(&l, 12, 12), 0); /* the gap filled */
	check_ranges(&l, after_bridge, 1);
	ranges_free(&l);
}

static void test_covered(void **state)
{
	struct range_list l = {0};
	struct range also = {40, 49};

	(void)state;
	assert_int_equal(ranges_covered(&l, NULL, 0, 100), 0);
	assert_int_equal(ranges_covered(&l, &also, 0, 100), 10);
	assert_int_equal(ranges_add(&l, 10, 19), 0);
	assert_int_equal(ranges_add(&l, 30, 34), 0);
	assert_int_equal(ranges_covered(&l, NULL, 0, 100), 15);
	assert_int_equal(ranges_covered(&l, NULL, 15, 31), 7); /* 15..19 and 30..31 */
	assert_int_equal(ranges_covered(&l, NULL, 20, 29), 0);
	assert_int_equal(ranges_covered(&l, NULL, 19, 19), 1);
	assert_int_equal(ranges_covered(&l, &also, 0, 100), 25);
	assert_int_equal(ranges_covered(&l, &also, 45, 100), 5);
	assert_int_equal(ranges_covered(&l, &also, 33, 41), 4); /* 33..34 and 40..41 */
	ranges_free(&l);
}

static void test_take_first(void **state)
{
	struct range_list l = {0};
	struct range r;

	(void)state;
	assert_int_equal(ranges_take_first(&l, &r), -1);
	assert_int_equal(ranges_add(&l, 50, 60), 0);
	assert_int_equal(ranges_add(&l, 5, 6), 0);
	assert_int_equal(ranges_add(&l, 20, 21), 0);
	assert_int_equal(ranges_take_first(&l, &r), 0);
	assert_int_equal(r.first, 5);
	assert_int_equal(r.last, 6);
	assert_int_equal(ranges_take_first(&l, &r), 0);
	assert_int_equal(r.first, 20);
	assert_int_equal(r.last, 21);
	assert_int_equal(l.n, 1);
	assert_int_equal(ranges_take_first(&l, &r), 0);
	assert_int_equal(r.first, 50);
	assert_int_equal(r.last, 60);
	assert_int_equal(ranges_take_first(&l, &r), -1);
	assert_int_equal(l.n, 0);
	/* the list is usable again after it emptied */
	assert_int_equal(ranges_add(&l, 7, 7), 0);
	assert_int_equal(l.n, 1);
	ranges_free(&l);
}

/* The range holding SEQ, or -1. */
static int find(const struct range_list *l, int64_t seq)
{
	for (int i = 0; i < l->n; i++)
		if (l->r[i].first <= seq && seq <= l->r[i].last)
			return i;
	return -1;
}

/*
 * Fills the list with RANGES_MAX single seqs 0, 3, 6, ..., 1500, 1502, 1505,
 * ...: every gap between neighbours is 2 seqs but one, of 1, in the middle.
 * The next separate range must merge that closest pair and nothing else.
 */
static void test_full_merges_closest(void **state)
{
	struct range_list l = {0};
	int64_t seq = 0, top = 0;
	int at;

	(void)state;
	for (int i = 0; i < RANGES_MAX; i++) {
		assert_int_equal(ranges_add(&l, seq, seq), 0);
		top = seq;
		seq += i == 500 ? 2 : 3;
	}
	check_shape(&l);
	assert_int_equal(l.n, RANGES_MAX);
	assert_int_equal(l.cap, RANGES_MAX);
	/* touching an existing range needs no merge even when full */
	assert_int_equal(ranges_add(&l, top + 1, top + 1), 0);
	assert_int_equal(l.n, RANGES_MAX);
	/* a new separate range: one merge, of the closest pair (1500 and 1502) */
	assert_int_equal(ranges_add(&l, top + 10, top + 10), 1);
	check_shape(&l);
	assert_int_equal(l.n, RANGES_MAX);
	at = find(&l, 1500);
	assert_true(at > 0);
	assert_int_equal(l.r[at].first, 1500);
	assert_int_equal(l.r[at].last, 1502);
	assert_int_equal(l.r[at - 1].last, 1497);
	assert_int_equal(l.r[at + 1].first, 1505);
	assert_int_equal(l.r[0].last, 0);
	assert_int_equal(l.r[1].first, 3);
	assert_int_equal(l.r[l.n - 1].first, top + 10);
	/* more separate ranges: one merge each, the list stays full */
	for (int i = 0; i < 50; i++)
		assert_int_equal(ranges_add(&l, top + 20 + 3 * i, top + 20 + 3 * i), 1);
	check_shape(&l);
	assert_int_equal(l.n, RANGES_MAX);
	/* and no seq added was lost */
	seq = 0;
	for (int i = 0; i < RANGES_MAX; i++) {
		assert_int_equal(ranges_covered(&l, NULL, seq, seq), 1);
		seq += i == 500 ? 2 : 3;
	}
	assert_int_equal(ranges_covered(&l, NULL, top + 1, top + 1), 1);
	assert_int_equal(ranges_covered(&l, NULL, top + 10, top + 10), 1);
	for (int i = 0; i < 50; i++)
		assert_int_equal(ranges_covered(&l, NULL, top + 20 + 3 * i, top + 20 + 3 * i), 1);
	ranges_free(&l);
}

/* A simple model: one bit per seq in 0..MODEL_SEQS-1. */
#define MODEL_SEQS 20000

static int64_t model_count(const unsigned char *bits, int64_t first, int64_t last)
{
	int64_t n = 0;

	for (int64_t s = first; s <= last; s++)
		n += bits[s];
	return n;
}

/* Every seq set in the model lies in a range of the (sorted) list: one walk. */
static void check_covers_model(const struct range_list *l, const unsigned char *bits)
{
	int i = 0;

	for (int64_t s = 0; s < MODEL_SEQS; s++) {
		while (i < l->n && l->r[i].last < s)
			i++;
		if (bits[s])
			assert_true(i < l->n && l->r[i].first <= s);
	}
}

/*
 * Random ranges, in random order, many more separate ones than RANGES_MAX:
 * after every add the list is well formed; every seq ever added is covered
 * (merging may cover more, never less); a merge is counted exactly when the
 * list was full and the new range touched none (one merge then makes room),
 * and otherwise the range count is what adding alone gives; until the first
 * merge the list covers exactly the model.
 */
static void test_random_against_bitmap(void **state)
{
	static unsigned char bits[MODEL_SEQS];
	struct range_list l = {0};
	int total_merges = 0;
	struct range r;

	(void)state;
	memset(bits, 0, sizeof(bits));
	srand(17);
	for (int step = 0; step < 6000; step++) {
		int64_t first = rand() % (MODEL_SEQS - 8);
		int64_t last = first + rand() % 8 - 1; /* now and then backwards: adds nothing */
		int n_before = l.n, touching = 0, got;

		for (int i = 0; i < l.n; i++)
			if (l.r[i].last + 1 >= first && l.r[i].first <= last + 1)
				touching++;
		got = ranges_add(&l, first, last);
		if (first > last) {
			assert_int_equal(got, 0);
			assert_int_equal(l.n, n_before);
		} else if (n_before == RANGES_MAX && !touching) {
			/* the merge may close the gap the new range sits in: it then joins */
			assert_int_equal(got, 1);
			assert_true(l.n == RANGES_MAX || l.n == RANGES_MAX - 1);
		} else {
			assert_int_equal(got, 0);
			assert_int_equal(l.n, n_before + 1 - touching);
		}
		total_merges += got;
		for (int64_t s = first; s <= last; s++)
			bits[s] = 1;
		check_shape(&l);
		if (step % 97 == 0 || step > 5990) {
			check_covers_model(&l, bits);
			if (!total_merges)
				assert_int_equal(ranges_covered(&l, NULL, 0, MODEL_SEQS - 1),
				                 model_count(bits, 0, MODEL_SEQS - 1));
		}
	}
	/* so many random ranges must have filled the list and merged */
	assert_true(total_merges > 0);
	assert_true(l.n >= RANGES_MAX - 1);
	/* taking all ranges out gives them in order, covering every seq added */
	{
		int64_t prev_last = -2, taken = 0;

		while (ranges_take_first(&l, &r) == 0) {
			assert_true(r.first > prev_last + 1);
			for (int64_t s = r.first; s <= r.last; s++)
				if (s >= 0 && s < MODEL_SEQS && bits[s]) {
					bits[s] = 0;
					taken++;
				}
			prev_last = r.last;
		}
		assert_true(taken > 0);
		assert_int_equal(model_count(bits, 0, MODEL_SEQS - 1), 0);
	}
	ranges_free(&l);
}

/* Without any merge, the list is exactly the bitmap model. */
static void test_random_exact_below_cap(void **state)
{
	static unsigned char bits[MODEL_SEQS];
	struct range_list l = {0};

	(void)state;
	memset(bits, 0, sizeof(bits));
	srand(4242);
	for (int step = 0; step < 1500; step++) {
		int64_t first = rand() % (MODEL_SEQS - 16);
		int64_t last = first + rand() % 16;

		assert_int_equal(ranges_add(&l, first, last), 0);
		for (int64_t s = first; s <= last; s++)
			bits[s] = 1;
		check_shape(&l);
	}
	assert_true(l.n < RANGES_MAX);
	for (int q = 0; q < 300; q++) {
		int64_t a = rand() % MODEL_SEQS, b = rand() % MODEL_SEQS;

		if (a > b) {
			int64_t t = a;

			a = b;
			b = t;
		}
		assert_int_equal(ranges_covered(&l, NULL, a, b), model_count(bits, a, b));
	}
	/* every range boundary is where the bitmap changes */
	for (int i = 0; i < l.n; i++) {
		assert_int_equal(bits[l.r[i].first], 1);
		assert_int_equal(bits[l.r[i].last], 1);
		if (l.r[i].first > 0)
			assert_int_equal(bits[l.r[i].first - 1], 0);
		if (l.r[i].last + 1 < MODEL_SEQS)
			assert_int_equal(bits[l.r[i].last + 1], 0);
	}
	ranges_free(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_merges_in_any_order),
	    cmocka_unit_test(test_touching_and_overlapping),
	    cmocka_unit_test(test_covered),
	    cmocka_unit_test(test_take_first),
	    cmocka_unit_test(test_full_merges_closest),
	    cmocka_unit_test(test_random_against_bitmap),
	    cmocka_unit_test(test_random_exact_below_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
