/* Unit tests: --de auto's choice per address space (monitor/adapt.c), fed
 * synthetic runs: no user world, no host timing, any host. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "adapt.h"

#define TPU 1000ull /* ticks per microsecond of the synthetic clock */

static struct adapt a;

static void setup(void)
{
	memset(&a, 0, sizeof a);
	a.ticks_per_us = TPU;
}

/* n direct runs of us microseconds, each ending in an exit. */
static void de_runs(uint32_t cr3, unsigned n, uint64_t us)
{
	for (unsigned i = 0; i < n && adapt_de(&a, cr3); i++)
		adapt_de_ran(&a, cr3, us * TPU, true);
}

/* Translated for us microseconds, in 1 ms pieces. */
static void bt_time(uint32_t cr3, uint64_t us)
{
	for (uint64_t t = 0; t < us; t += 1000)
		adapt_bt_ran(&a, cr3, 1000 * TPU);
}

START_TEST(cpu_bound_space_stays_direct)
{
	de_runs(0x1000, 1000, 2000); /* 2 ms between exits */
	ck_assert(adapt_de(&a, 0x1000));
	ck_assert_uint_eq(a.to_bt, 0);
}
END_TEST

START_TEST(system_call_loop_goes_to_the_translator)
{
	de_runs(0x1000, ADAPT_WINDOW_EXITS - 1, 5);
	ck_assert(adapt_de(&a, 0x1000)); /* a window is not full yet */
	de_runs(0x1000, 1, 5);
	ck_assert(!adapt_de(&a, 0x1000));
	ck_assert_uint_eq(a.to_bt, 1);
	ck_assert_uint_eq(adapt_translated(&a), 1);
	/* Other spaces keep their own way. */
	ck_assert(adapt_de(&a, 0x2000));
}
END_TEST

/* Preemptions are not the space's doing: they do not count as exits. */
START_TEST(preemptions_do_not_count)
{
	for (int i = 0; i < 10 * ADAPT_WINDOW_EXITS; i++)
		adapt_de_ran(&a, 0x1000, 5 * TPU, false);
	ck_assert(adapt_de(&a, 0x1000));
}
END_TEST

/* Back to direct execution after its stay; a space that is still busy
 * goes back for twice as long, and a quiet one comes back for good. */
START_TEST(hysteresis)
{
	de_runs(0x1000, ADAPT_WINDOW_EXITS, 5);
	ck_assert(!adapt_de(&a, 0x1000));
	bt_time(0x1000, ADAPT_BT_US - 1000);
	ck_assert(!adapt_de(&a, 0x1000));
	bt_time(0x1000, 1000);
	ck_assert(adapt_de(&a, 0x1000));
	ck_assert_uint_eq(a.to_de, 1);
	/* Still a system-call loop: a second stay, twice as long. */
	de_runs(0x1000, ADAPT_WINDOW_EXITS, 5);
	ck_assert(!adapt_de(&a, 0x1000));
	bt_time(0x1000, ADAPT_BT_US);
	ck_assert(!adapt_de(&a, 0x1000));
	bt_time(0x1000, ADAPT_BT_US);
	ck_assert(adapt_de(&a, 0x1000));
	/* The stays stop growing. */
	for (int i = 0; i < 20; i++) {
		de_runs(0x1000, ADAPT_WINDOW_EXITS, 5);
		bt_time(0x1000, (uint64_t)ADAPT_BT_US << ADAPT_MAX_SHIFT);
		ck_assert(adapt_de(&a, 0x1000));
	}
	/* Now CPU-bound: clean windows, and it stays direct. */
	uint64_t to_bt = a.to_bt;
	de_runs(0x1000, 100 * ADAPT_WINDOW_EXITS, 1000);
	ck_assert(adapt_de(&a, 0x1000));
	ck_assert_uint_eq(a.to_bt, to_bt);
	/* Its stays shrank back: busy again, it returns after the first. */
	de_runs(0x1000, ADAPT_WINDOW_EXITS, 5);
	ck_assert(!adapt_de(&a, 0x1000));
	bt_time(0x1000, ADAPT_BT_US);
	ck_assert(adapt_de(&a, 0x1000));
}
END_TEST

/* A long window by time with few exits is a clean one. */
START_TEST(window_by_time)
{
	de_runs(0x1000, 3, ADAPT_WINDOW_US);
	ck_assert(adapt_de(&a, 0x1000));
	ck_assert_uint_eq(a.s[0].exits + a.s[1].exits + a.s[2].exits, 0);
}
END_TEST

/* No rate known yet: no decision. */
START_TEST(no_rate_no_decision)
{
	a.ticks_per_us = 0;
	de_runs(0x1000, 10 * ADAPT_WINDOW_EXITS, 1);
	ck_assert(adapt_de(&a, 0x1000));
}
END_TEST

/* More spaces than slots: the least recently used is forgotten (and runs
 * directly again, as a new space would). */
START_TEST(spaces_beyond_the_table)
{
	de_runs(0x1000, ADAPT_WINDOW_EXITS, 5);
	ck_assert(!adapt_de(&a, 0x1000));
	for (uint32_t i = 1; i <= ADAPT_SPACES; i++)
		de_runs(0x1000 + i * 0x1000, 1, 2000);
	ck_assert(adapt_de(&a, 0x1000));
	ck_assert_uint_eq(a.spaces_seen, ADAPT_SPACES + 1);
	ck_assert_uint_eq(adapt_translated(&a), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("adapt");
	TCase *t = tcase_create("choice");
	tcase_add_checked_fixture(t, setup, NULL);
	tcase_add_test(t, cpu_bound_space_stays_direct);
	tcase_add_test(t, system_call_loop_goes_to_the_translator);
	tcase_add_test(t, preemptions_do_not_count);
	tcase_add_test(t, hysteresis);
	tcase_add_test(t, window_by_time);
	tcase_add_test(t, no_rate_no_decision);
	tcase_add_test(t, spaces_beyond_the_table);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
