/* Unit tests for the user views' windows (hostdriver/userworld.c): mappings
 * made at once, unmaps queued until the flush before code runs there. */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hostdriver.h"

static int ram_fd = -1;
static struct hd_uworld *w;
static uint64_t base;
static int probe[2];

/* Can the monitor read the window page? (The kernel checks the buffer of
 * a pipe write: EFAULT if nothing is mapped there.) */
static bool readable(uint32_t lpage)
{
	char c;
	if (write(probe[1], (const void *)(base + ((uint64_t)lpage << 12)), 1) != 1) {
		ck_assert_int_eq(errno, EFAULT);
		return false;
	}
	ck_assert_int_eq(read(probe[0], &c, 1), 1);
	return true;
}

static uint32_t word(uint32_t lpage)
{
	return *(volatile uint32_t *)(base + ((uint64_t)lpage << 12));
}

static void map(uint32_t lpage, uint32_t frame)
{
	hd_uworld_map(w, lpage << 12, frame, 1, HD_PROT_READ);
}

static void unmap(uint32_t lpage, uint32_t pages)
{
	hd_uworld_map(w, lpage << 12, 0, pages, HD_PROT_NONE);
}

START_TEST(unmaps_wait_for_the_flush)
{
	map(5, 1);
	ck_assert(readable(5));
	ck_assert_uint_eq(word(5), 0xf0000001u);
	ck_assert(!hd_uworld_unmaps_queued(w));
	unmap(5, 1);
	ck_assert(readable(5)); /* queued: nothing runs in the window yet */
	ck_assert(hd_uworld_unmaps_queued(w));
	ck_assert(hd_uworld_flush(w));
	ck_assert(!readable(5));
	ck_assert(!hd_uworld_unmaps_queued(w));
	/* Adjacent and overlapping ranges, in any order: all made. */
	map(6, 1), map(7, 2), map(9, 3);
	unmap(7, 1), unmap(6, 1), unmap(8, 2);
	ck_assert(hd_uworld_flush(w));
	ck_assert(!readable(6) && !readable(7) && !readable(9));
}
END_TEST

START_TEST(a_mapping_overrides_a_queued_unmap)
{
	/* The same page unmapped then mapped again before the flush: the
	 * new mapping stays. */
	map(20, 1);
	unmap(20, 1);
	map(20, 2);
	ck_assert(hd_uworld_flush(w));
	ck_assert(readable(20));
	ck_assert_uint_eq(word(20), 0xf0000002u);
	/* Inside a longer queued range: the range is made first, then the
	 * mapping; its neighbours are gone. */
	for (uint32_t p = 30; p < 34; p++)
		map(p, 1);
	unmap(30, 4);
	map(31, 3);
	ck_assert(readable(31));
	ck_assert_uint_eq(word(31), 0xf0000003u);
	ck_assert(hd_uworld_flush(w));
	ck_assert(readable(31));
	ck_assert(!readable(30) && !readable(32) && !readable(33));
	/* An unmap of the whole window drops what was queued. */
	map(40, 1);
	unmap(40, 1);
	unmap(0, 1u << 20);
	ck_assert(!readable(40) && !readable(31));
	ck_assert(hd_uworld_flush(w));
}
END_TEST

START_TEST(a_full_queue_is_made)
{
	for (uint32_t p = 100; p < 300; p += 2)
		map(p, 1);
	for (uint32_t p = 100; p < 300; p += 2)
		unmap(p, 1); /* 100 separate ranges: the queue fills and is made */
	ck_assert(!readable(100));
	ck_assert(hd_uworld_flush(w));
	for (uint32_t p = 100; p < 300; p += 2)
		ck_assert(!readable(p));
}
END_TEST

int main(void)
{
	char err[256];
	/* The windows' host range may be taken (an instrumented build's
	 * shadow memory): nothing to test then. */
	if (hd_windows_reserve(1, err, sizeof err)) {
		printf("skipped: %s\n", err);
		return 77;
	}
	ram_fd = memfd_create("btvmm-test-ram", MFD_CLOEXEC);
	if (ram_fd < 0 || ftruncate(ram_fd, 4 * 4096) || pipe(probe)) {
		perror("test_windows");
		return 1;
	}
	for (uint32_t f = 0; f < 4; f++) {
		uint32_t v = 0xf0000000u + f;
		if (pwrite(ram_fd, &v, 4, (off_t)f * 4096) != 4) {
			perror("test_windows");
			return 1;
		}
	}
	w = hd_uworld_window(0, ram_fd);
	if (!w) {
		fprintf(stderr, "test_windows: no window\n");
		return 1;
	}
	base = hd_uworld_base(w);
	Suite *s = suite_create("windows");
	TCase *t = tcase_create("window");
	tcase_add_test(t, unmaps_wait_for_the_flush);
	tcase_add_test(t, a_mapping_overrides_a_queued_unmap);
	tcase_add_test(t, a_full_queue_is_made);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_set_fork_status(r, CK_NOFORK);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	hd_uworld_destroy(w);
	return failed ? 1 : 0;
}
