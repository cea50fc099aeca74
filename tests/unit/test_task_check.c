/* Unit tests for task_check.c (the checks on a task switch's new TSS) and x86.h's accessors. */
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

/* ---- x86.h: descriptors, gates and selectors taken apart ---- */

/* Every field distinct: base 0x12345678, limit 0x9abcd, P DPL 3 S, type 2
 * (writable data), flags D/B only; and the flat code descriptor of
 * Linux's and QEMU's boot GDTs. */
START_TEST(descriptor_fields)
{
	uint64_t d = 0x1249f2345678abcdull;
	ck_assert_uint_eq(desc_base(d), 0x12345678u);
	ck_assert_uint_eq(desc_limit(d), 0x9abcdu);
	ck_assert_uint_eq(desc_byte_limit(d), 0x9abcdu);
	ck_assert_uint_eq(desc_type(d), DESC_TYPE_WRITABLE);
	ck_assert_uint_eq(desc_s(d), 1);
	ck_assert_uint_eq(desc_dpl(d), 3);
	ck_assert_uint_eq(desc_p(d), 1);
	ck_assert_uint_eq(desc_flags(d), DESC_FL_DB);
	ck_assert_uint_eq(desc_attr(d), 0x40f2u);
	ck_assert_uint_eq(seg_attr_dpl(desc_attr(d)), 3);
	ck_assert_uint_eq(seg_attr_db(desc_attr(d)), 1);
	ck_assert_uint_eq(seg_attr_g(desc_attr(d)), 0);
	ck_assert_uint_eq(desc_make(desc_base(d), desc_limit(d), desc_attr(d)), d);

	uint64_t code = 0x00cf9b000000ffffull;
	ck_assert_uint_eq(desc_base(code), 0);
	ck_assert_uint_eq(desc_byte_limit(code), 0xffffffffu);
	ck_assert_uint_eq(desc_type(code), DESC_TYPE_CODE_RA);
	ck_assert_uint_eq(desc_attr(code), seg_attr_flat(DESC_TYPE_CODE_RA, 0));
	ck_assert_uint_eq(desc_attr(code), 0xc09bu);
	ck_assert_uint_eq(desc_make(0, 0xfffff, 0xc09b), code);
	ck_assert_uint_eq(desc_attr(code | DESC_TSS_BUSY), 0xc09bu);
	ck_assert_uint_eq(desc_type(tss_desc(0x67, SYS_TSS32, true) | DESC_TSS_BUSY),
			  SYS_TSS32_BUSY);
}
END_TEST

/* A DPL-3 interrupt gate to 0x0010:0xc0101234, and a call gate copying
 * three dwords. */
START_TEST(gate_fields)
{
	uint64_t g = 0xc010ee0000101234ull;
	ck_assert_uint_eq(gate_offset(g), 0xc0101234u);
	ck_assert_uint_eq(gate_sel(g), 0x10);
	ck_assert_uint_eq(desc_type(g), SYS_INT_GATE32);
	ck_assert_uint_eq(desc_s(g), 0);
	ck_assert_uint_eq(desc_dpl(g), 3);
	ck_assert_uint_eq(desc_p(g), 1);
	uint64_t call = 0x00008c0300081000ull;
	ck_assert_uint_eq(desc_type(call), SYS_CALL_GATE32);
	ck_assert_uint_eq(gate_params(call), 3);
	ck_assert_uint_eq(gate_offset(call), 0x1000);
}
END_TEST

START_TEST(selector_fields)
{
	ck_assert_uint_eq(sel_rpl(0x2b), 3);     /* Linux's __USER_DS */
	ck_assert_uint_eq(sel_index(0x2b), 5);
	ck_assert_uint_eq(sel_offset(0x2b), 0x28);
	ck_assert_uint_eq(sel_error(0x2b), 0x28);
	ck_assert_uint_eq(0x0f & SEL_TI, SEL_TI); /* LDT entry 1, RPL 3 */
	ck_assert_uint_eq(sel_index(0x0f), 1);
	ck_assert_uint_eq(sel_error(0x0f), 0x0c);
	ck_assert(sel_null(0) && sel_null(3));
	ck_assert(!sel_null(4) && !sel_null(8));
	ck_assert_uint_eq(idt_error(13, true), 0x6b);
	ck_assert_uint_eq(idt_error(0x80, false), 0x402);
	ck_assert_uint_eq(tss32_stack(0), 0x04);
	ck_assert_uint_eq(tss32_stack(2), 0x14);
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
	TCase *fmt = tcase_create("x86");
	tcase_add_test(fmt, descriptor_fields);
	tcase_add_test(fmt, gate_fields);
	tcase_add_test(fmt, selector_fields);
	suite_add_tcase(s, fmt);
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
