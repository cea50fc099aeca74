/* Unit tests for task_check.c: the checks on a task switch's new TSS descriptor. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>

#include "monitor.h"

/*
 * Descriptors are built here from the SDM's layout (vol. 3 figure 3-8),
 * independently of the monitor's accessors; the expected faults are those
 * of SDM vol. 2 (CALL, JMP, IRET) and vol. 3 table 7-1, in the order
 * QEMU, the test oracle, checks them.
 */

#define SEL 0x30

/* A system descriptor: byte limit (no G), type, present. */
static uint64_t tss_desc(uint32_t limit, unsigned type, bool present)
{
	return (uint64_t)(limit & 0xffff) | (uint64_t)0x1000 << 16 |
	       (uint64_t)(type | (present ? 0x80 : 0)) << 40 |
	       (uint64_t)((limit >> 16) & 0xf) << 48;
}

static void assert_fault(struct mon_fault f, uint8_t vector, uint32_t error)
{
	ck_assert(f.raised);
	ck_assert_uint_eq(f.vector, vector);
	ck_assert(f.has_error);
	ck_assert_uint_eq(f.error, error);
}

START_TEST(available_tss_passes_jmp_call_int)
{
	static const enum mon_task_reason r[] = { MON_TASK_JMP, MON_TASK_CALL, MON_TASK_INT };
	for (unsigned i = 0; i < 3; i++) {
		ck_assert(!mon_tss_check(tss_desc(0x67, 0x9, true), SEL, r[i]).raised);
		ck_assert(!mon_tss_check(tss_desc(0x2b, 0x1, true), SEL, r[i]).raised);
	}
}
END_TEST

START_TEST(busy_tss_is_gp_for_jmp_call_int)
{
	assert_fault(mon_tss_check(tss_desc(0x67, 0xb, true), SEL | 3, MON_TASK_CALL), EXC_GP, SEL);
	assert_fault(mon_tss_check(tss_desc(0x67, 0xb, true), SEL, MON_TASK_JMP), EXC_GP, SEL);
	assert_fault(mon_tss_check(tss_desc(0x67, 0x3, true), SEL, MON_TASK_INT), EXC_GP, SEL);
}
END_TEST

START_TEST(iret_wants_a_busy_tss)
{
	ck_assert(!mon_tss_check(tss_desc(0x67, 0xb, true), SEL, MON_TASK_IRET).raised);
	assert_fault(mon_tss_check(tss_desc(0x67, 0x9, true), SEL, MON_TASK_IRET), EXC_TS, SEL);
}
END_TEST

START_TEST(other_descriptors_are_not_tsses)
{
	/* An LDT, a call gate, a task gate, and a data segment (S = 1)
	 * whose type bits look like a TSS's. */
	static const unsigned types[] = { 0x2, 0xc, 0x5, 0x10 | 0x9 };
	for (unsigned i = 0; i < 4; i++) {
		uint64_t d = tss_desc(0x67, types[i], true);
		assert_fault(mon_tss_check(d, SEL, MON_TASK_CALL), EXC_GP, SEL);
		assert_fault(mon_tss_check(d, SEL, MON_TASK_IRET), EXC_TS, SEL);
	}
}
END_TEST

START_TEST(not_present_is_np_after_the_type)
{
	assert_fault(mon_tss_check(tss_desc(0x67, 0x9, false), SEL, MON_TASK_JMP), EXC_NP, SEL);
	assert_fault(mon_tss_check(tss_desc(0x67, 0xb, false), SEL, MON_TASK_IRET), EXC_NP, SEL);
	/* the type is checked first */
	assert_fault(mon_tss_check(tss_desc(0x67, 0xb, false), SEL, MON_TASK_JMP), EXC_GP, SEL);
}
END_TEST

START_TEST(short_limit_or_ldt_selector_is_ts)
{
	assert_fault(mon_tss_check(tss_desc(0x66, 0x9, true), SEL, MON_TASK_CALL), EXC_TS, SEL);
	assert_fault(mon_tss_check(tss_desc(0x2a, 0x1, true), SEL, MON_TASK_CALL), EXC_TS, SEL);
	assert_fault(mon_tss_check(tss_desc(0x67, 0x9, true), SEL | 4, MON_TASK_CALL), EXC_TS, SEL | 4);
	/* G: a limit field of 0 means 4 KiB */
	uint64_t g = tss_desc(0, 0x9, true) | (uint64_t)0x8 << 52;
	ck_assert(!mon_tss_check(g, SEL, MON_TASK_CALL).raised);
}
END_TEST

static Suite *task_check_suite(void)
{
	Suite *s = suite_create("task_check");
	TCase *tc = tcase_create("tss");
	tcase_add_test(tc, available_tss_passes_jmp_call_int);
	tcase_add_test(tc, busy_tss_is_gp_for_jmp_call_int);
	tcase_add_test(tc, iret_wants_a_busy_tss);
	tcase_add_test(tc, other_descriptors_are_not_tsses);
	tcase_add_test(tc, not_present_is_np_after_the_type);
	tcase_add_test(tc, short_limit_or_ldt_selector_is_ts);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(task_check_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
