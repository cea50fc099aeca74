/* Tests of the monitor's checks of user-world reports, against a fake world that forges them (runs on any host). */
#define _GNU_SOURCE
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "hostdriver.h"

/*
 * fake_world answers the n-th run with the n-th report of its script: a
 * good preemption, then an FP image with reserved MXCSR bits, an unknown
 * event, unknown flags, a failed map, a SIGSEGV another process sent, R8
 * left set by 64-bit code, and last its death by SIGKILL. Each must come
 * out as what it is, never as a guest event.
 */

static bool read_nothing(void *ctx, uint32_t linear, uint8_t *buf, unsigned n)
{
	(void)ctx, (void)linear, (void)buf, (void)n;
	return false;
}

START_TEST(forged_reports_are_caught)
{
	char err[256];
	int ram = memfd_create("ram", 0);
	ck_assert_int_ge(ram, 0);
	ck_assert_int_eq(ftruncate(ram, 1 << 20), 0);
	struct hd_uworld *w = hd_uworld_spawn(FAKE_WORLD_PATH, ram, err, sizeof err);
	ck_assert_msg(w != NULL, "%s", err);
	struct uw_regs regs = { .eip = 0x401000 };
	uint8_t fx[512] __attribute__((aligned(16))) = { 0 };
	struct hd_uw_event ev;
	static const enum hd_uw_result want[] = {
		HD_UW_PREEMPT, HD_UW_FORGED, HD_UW_FORGED, HD_UW_FORGED,
		HD_UW_MAP_FAILED, HD_UW_EXTERNAL, HD_UW_FORGED, HD_UW_DEAD,
	};
	for (unsigned i = 0; i < sizeof want / sizeof want[0]; i++) {
		ck_assert_msg(hd_uworld_run(w, &regs, fx, &ev, read_nothing, NULL) == want[i],
			      "report %u", i);
		uint32_t mxcsr;
		memcpy(&mxcsr, fx + 24, 4);
		ck_assert_uint_eq(mxcsr, 0); /* the forged image never got through */
		if (want[i] == HD_UW_EXTERNAL) {
			ck_assert_uint_eq(ev.trapno, SIGSEGV);
			ck_assert_uint_eq(ev.addr, 1234);
		}
	}
	int how;
	ck_assert_int_eq(hd_uworld_death(w, &how), HD_UW_DIED_EXTERNAL);
	ck_assert_int_eq(how, SIGKILL);
	hd_uworld_destroy(w);
	close(ram);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("uw_reports");
	TCase *t = tcase_create("reports");
	tcase_set_timeout(t, 30);
	tcase_add_test(t, forged_reports_are_caught);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? 1 : 0;
}
