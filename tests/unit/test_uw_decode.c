/* Tests of hd_uw_decode: every host vendor's shape of each user-world trap, on any host. */
/*
 * The stub reports the facts of a host signal (struct uw_trap); these
 * tests build the facts an Intel host and an AMD host produce for the
 * same guest instruction (uw_decode.c has the table) and check that both
 * decode to the same guest event with the same guest registers. They need
 * no compat mode, no user world and no particular CPU: CI on either
 * vendor covers the other's paths.
 */
#define _GNU_SOURCE
#include <check.h>
#include <linux/audit.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "hostdriver.h"

#define CODE 0x00401000u        /* the guest code page */
#define HOST_CS32 0x23u         /* the host's compat user CS */
#define HOST_CS64 0x33u         /* the host's 64-bit user CS */
#define LANDING 0x7ffff7fc1577ull /* a host vDSO return point (above 4 GiB) */

static uint8_t page[4096];      /* guest code at CODE */
static unsigned reads;

static bool read_code(void *ctx, uint32_t linear, uint8_t *buf, unsigned n)
{
	(void)ctx;
	reads++;
	if (linear < CODE || linear - CODE + n > sizeof page)
		return false;
	memcpy(buf, page + (linear - CODE), n);
	return true;
}

/* Guest code at CODE + off. */
static void code_at(uint32_t off, const uint8_t *bytes, size_t n)
{
	memcpy(page + off, bytes, n);
}
#define CODE_AT(off, ...) code_at(off, (const uint8_t[]){ __VA_ARGS__ }, \
				  sizeof((const uint8_t[]){ __VA_ARGS__ }))

/* The guest's registers just before the instruction under test. */
static struct uw_regs guest(uint32_t eip)
{
	struct uw_regs r = {
		.gpr = { 20, 0xc0c0c0c0, 0xd0d0d0d0, 0xb0b0b0b0, 0xbfff0000, 0xbfff0100,
			 0x51515151, 0xd1d1d1d1 },
		.eip = eip, .eflags = 0x202,
	};
	return r;
}

static struct hd_uw_event ev;

static enum hd_uw_result decode(const struct uw_trap *t, struct uw_regs *r)
{
	memset(&ev, 0xa5, sizeof ev);
	return hd_uw_decode(t, r, &ev, read_code, NULL);
}

static void setup(void)
{
	memset(page, 0x90, sizeof page); /* nops */
	reads = 0;
}

/* ---- int $0x80: one shape on both vendors ---- */

START_TEST(int80_is_a_system_call_after_it)
{
	CODE_AT(0x10, 0xcd, 0x80);
	struct uw_regs r = guest(CODE + 0x12), want = r;
	struct uw_trap t = { .sig = SIGSYS, .cs = UW_SEL_CODE, .rip = CODE + 0x12,
			     .call_addr = CODE + 0x12, .arch = AUDIT_ARCH_I386, .nr = 20,
			     .rsp = 0xbfff0000, .rcx = 0xc0c0c0c0 };
	ck_assert_int_eq(decode(&t, &r), HD_UW_SYSCALL);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_INT80);
	ck_assert_uint_eq(ev.syscall_nr, 20);
	ck_assert_mem_eq(&r, &want, sizeof r);
}
END_TEST

/* ---- SYSENTER: Intel's host entry (two shapes), AMD's #UD ---- */

START_TEST(sysenter_is_the_same_on_both_vendors)
{
	/* As Linux's vDSO: push ebp; mov ebp, esp; sysenter. */
	CODE_AT(0x20, 0x0f, 0x34);
	struct uw_regs before = guest(CODE + 0x20);
	before.gpr[5] = before.gpr[4]; /* EBP = ESP */

	/* Intel: the host entry ran; RSP holds the guest's EBP, RBP was
	 * loaded from [EBP]; the host's own return point is reported. */
	struct uw_regs intel = before;
	intel.gpr[4] = 0xffffd000;   /* the host's stack pointer bits */
	intel.gpr[5] = 0x12345678;   /* [EBP] */
	intel.eip = (uint32_t)LANDING;
	struct uw_trap ti = { .sig = SIGSYS, .cs = HOST_CS32, .rip = LANDING,
			      .call_addr = LANDING, .arch = AUDIT_ARCH_I386, .nr = 20,
			      .rsp = before.gpr[5] };
	ck_assert_int_eq(decode(&ti, &intel), HD_UW_SYSCALL);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_SYSENTER);
	ck_assert_uint_eq(ev.syscall_nr, 20);

	/* AMD: #UD at the instruction; nothing moved. */
	struct uw_regs amd = before;
	struct uw_trap ta = { .sig = SIGILL, .cs = UW_SEL_CODE, .trapno = 6,
			      .rip = CODE + 0x20, .addr = CODE + 0x20 };
	ck_assert_int_eq(decode(&ta, &amd), HD_UW_SYSCALL);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_SYSENTER);
	ck_assert_uint_eq(ev.syscall_nr, 20);

	/* The guest state its kernel sees (EIP and ESP come from the
	 * SYSENTER MSRs): the same. */
	static const int kept[] = { 0, 1, 2, 3, 5, 6, 7 }; /* all but ESP */
	for (unsigned i = 0; i < sizeof kept / sizeof kept[0]; i++) {
		ck_assert_uint_eq(intel.gpr[kept[i]], before.gpr[kept[i]]);
		ck_assert_uint_eq(amd.gpr[kept[i]], before.gpr[kept[i]]);
	}
}
END_TEST

START_TEST(sysenter_with_ebp_unreadable_on_intel)
{
	/* The host skipped the call and returned to its landing pad,
	 * unreachable from compat mode: a fetch fault there. */
	struct uw_regs r = guest(0);
	r.gpr[5] = 0x5eed;
	uint32_t pad = (uint32_t)LANDING;
	struct uw_trap t = { .sig = SIGSEGV, .cs = HOST_CS32, .trapno = 14, .err = 0x14,
			     .rip = pad, .addr = pad, .rsp = 0x700000 };
	ck_assert_int_eq(decode(&t, &r), HD_UW_SYSCALL);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_SYSENTER);
	ck_assert_uint_eq(r.gpr[5], 0x700000);  /* EBP as the guest left it */
	ck_assert_uint_eq(ev.syscall_nr, 20);
}
END_TEST

START_TEST(sysenter_with_prefixes_on_amd)
{
	CODE_AT(0x30, 0x66, 0x2e, 0x0f, 0x34);
	struct uw_regs r = guest(CODE + 0x30);
	struct uw_trap t = { .sig = SIGILL, .cs = UW_SEL_CODE, .trapno = 6, .rip = CODE + 0x30 };
	ck_assert_int_eq(decode(&t, &r), HD_UW_SYSCALL);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_SYSENTER);
}
END_TEST

/* ---- SYSCALL: Intel's #UD, AMD's host entry ---- */

START_TEST(syscall_is_the_same_on_both_vendors)
{
	CODE_AT(0x40, 0x0f, 0x05);
	struct uw_regs before = guest(CODE + 0x40);

	/* Intel: #UD at the instruction. */
	struct uw_regs intel = before;
	struct uw_trap ti = { .sig = SIGILL, .cs = UW_SEL_CODE, .trapno = 6, .rip = CODE + 0x40 };
	ck_assert_int_eq(decode(&ti, &intel), HD_UW_ILLEGAL);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_SYSCALL);
	ck_assert_mem_eq(&intel, &before, sizeof before);

	/* AMD: the host's compat SYSCALL entry: RIP and ECX after the
	 * instruction, the guest's EBP in RCX, RBP loaded from [ESP], the
	 * host's compat CS. */
	struct uw_regs amd = before;
	amd.gpr[1] = before.gpr[5];   /* the frame's ECX: the stashed EBP */
	amd.gpr[5] = 0x0badf00d;      /* [ESP] */
	amd.eip = CODE + 0x42;
	struct uw_trap ta = { .sig = SIGSYS, .cs = HOST_CS32, .rip = CODE + 0x42,
			      .call_addr = CODE + 0x42, .arch = AUDIT_ARCH_I386, .nr = 20,
			      .rsp = before.gpr[4], .rcx = before.gpr[5] };
	ck_assert_int_eq(decode(&ta, &amd), HD_UW_SYSCALL);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_SYSCALL);
	/* Back at the instruction, EBP restored; ECX is what the CPU put
	 * there (the return address): the guest's value is lost. */
	ck_assert_uint_eq(amd.eip, before.eip);
	ck_assert_uint_eq(amd.gpr[5], before.gpr[5]);
	ck_assert_uint_eq(amd.gpr[1], CODE + 0x42);
	for (int i = 0; i < 8; i++)
		if (i != 1)
			ck_assert_uint_eq(amd.gpr[i], before.gpr[i]);
}
END_TEST

/* ---- SYSEXIT and SYSRET at CPL 3: #GP(0) on one vendor, #UD on the other ---- */

START_TEST(sysexit_and_sysret_are_named_on_both_vendors)
{
	static const struct { uint8_t op; enum hd_uw_insn insn; } cases[] = {
		{ 0x35, HD_UW_INSN_SYSEXIT }, { 0x07, HD_UW_INSN_SYSRET },
	};
	for (unsigned i = 0; i < 2; i++) {
		CODE_AT(0x50, 0x0f, cases[i].op);
		struct uw_regs before = guest(CODE + 0x50), r = before;
		struct uw_trap gp = { .sig = SIGSEGV, .cs = UW_SEL_CODE, .trapno = 13,
				      .rip = CODE + 0x50 };
		ck_assert_int_eq(decode(&gp, &r), HD_UW_FAULT);
		ck_assert_int_eq(ev.insn, cases[i].insn);
		ck_assert_mem_eq(&r, &before, sizeof r);
		struct uw_trap ud = { .sig = SIGILL, .cs = UW_SEL_CODE, .trapno = 6,
				      .rip = CODE + 0x50 };
		ck_assert_int_eq(decode(&ud, &r), HD_UW_ILLEGAL);
		ck_assert_int_eq(ev.insn, cases[i].insn);
		ck_assert_mem_eq(&r, &before, sizeof r);
	}
}
END_TEST

/* ---- everything else keeps its meaning ---- */

START_TEST(other_traps_are_not_system_calls)
{
	CODE_AT(0x60, 0x0f, 0x0b);  /* ud2 */
	CODE_AT(0x70, 0xfa);        /* cli */
	struct uw_regs r = guest(CODE + 0x60);
	struct uw_trap ud = { .sig = SIGILL, .cs = UW_SEL_CODE, .trapno = 6, .rip = CODE + 0x60 };
	ck_assert_int_eq(decode(&ud, &r), HD_UW_ILLEGAL);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_OTHER);

	r = guest(CODE + 0x70);
	struct uw_trap gp = { .sig = SIGSEGV, .cs = UW_SEL_CODE, .trapno = 13, .rip = CODE + 0x70 };
	ck_assert_int_eq(decode(&gp, &r), HD_UW_FAULT);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_OTHER);
	ck_assert_uint_eq(ev.trapno, 13);

	/* INT n through a DPL-0 host gate: #GP with the IDT bit, no code read. */
	reads = 0;
	struct uw_trap intn = { .sig = SIGSEGV, .cs = UW_SEL_CODE, .trapno = 13,
				.err = 0x21 * 8 + 2, .rip = CODE + 0x70 };
	ck_assert_int_eq(decode(&intn, &r), HD_UW_FAULT);
	ck_assert_uint_eq(ev.err, 0x21 * 8 + 2);
	ck_assert_uint_eq(reads, 0);

	struct uw_trap pf = { .sig = SIGSEGV, .cs = UW_SEL_CODE, .trapno = 14, .err = 6,
			      .rip = CODE, .addr = 0x300000 };
	ck_assert_int_eq(decode(&pf, &r), HD_UW_FAULT);
	ck_assert_uint_eq(ev.addr, 0x300000);
	ck_assert_uint_eq(ev.err, 6);

	struct uw_trap fpe = { .sig = SIGFPE, .cs = UW_SEL_CODE, .trapno = 0, .rip = CODE };
	ck_assert_int_eq(decode(&fpe, &r), HD_UW_FPE);
	struct uw_trap trap = { .sig = SIGTRAP, .cs = UW_SEL_CODE, .trapno = 3, .rip = CODE };
	ck_assert_int_eq(decode(&trap, &r), HD_UW_TRAP);
	struct uw_trap pre = { .sig = SIGUSR1, .cs = UW_SEL_CODE, .rip = CODE };
	ck_assert_int_eq(decode(&pre, &r), HD_UW_PREEMPT);
	/* What the stub cannot report: a signal it does not handle, a RIP
	 * above 4 GiB in the 32-bit segment. */
	struct uw_trap odd = { .sig = SIGTERM, .cs = UW_SEL_CODE, .rip = CODE };
	ck_assert_int_eq(decode(&odd, &r), HD_UW_FORGED);
	struct uw_trap high = { .sig = SIGSEGV, .cs = UW_SEL_CODE, .trapno = 14,
				.rip = (1ull << 32) | CODE, .addr = CODE };
	ck_assert_int_eq(decode(&high, &r), HD_UW_FORGED);
	/* A 64-bit round trip that left R8-R15 behind, back in the guest's
	 * segment and making its system call. */
	CODE_AT(0x90, 0xcd, 0x80);
	struct uw_trap wide = { .sig = SIGSYS, .cs = UW_SEL_CODE, .arch = AUDIT_ARCH_I386,
				.rip = CODE + 0x92, .call_addr = CODE + 0x92, .wide = 1 };
	ck_assert_int_eq(decode(&wide, &r), HD_UW_FORGED);
}
END_TEST

/* ---- escapes: none of the shapes above may hide one ---- */

START_TEST(escapes_are_reported)
{
	CODE_AT(0x80, 0xcd, 0x80);
	struct uw_regs r = guest(CODE + 0x82);
	/* 64-bit code faulting or preempted. */
	struct uw_trap t64 = { .sig = SIGSEGV, .cs = HOST_CS64, .trapno = 14, .rip = 0x1234,
			       .addr = 0x5678 };
	ck_assert_int_eq(decode(&t64, &r), HD_UW_ESCAPE);
	ck_assert_uint_eq(ev.syscall_nr, HOST_CS64);
	struct uw_trap pre = { .sig = SIGUSR1, .cs = HOST_CS64 };
	ck_assert_int_eq(decode(&pre, &r), HD_UW_ESCAPE);
	/* An x86-64 system call (the filter traps what it does not kill). */
	struct uw_trap sys64 = { .sig = SIGSYS, .cs = HOST_CS64, .arch = AUDIT_ARCH_X86_64,
				 .call_addr = LANDING, .rip = LANDING };
	ck_assert_int_eq(decode(&sys64, &r), HD_UW_ESCAPE);
	/* int $0x80 from 64-bit code above 4 GiB: not Intel's SYSENTER. */
	struct uw_trap int80_64 = { .sig = SIGSYS, .cs = HOST_CS64, .arch = AUDIT_ARCH_I386,
				    .call_addr = LANDING, .rip = LANDING };
	ck_assert_int_eq(decode(&int80_64, &r), HD_UW_ESCAPE);
	/* int $0x80 from the host's compat CS (the guest far-jumped there). */
	struct uw_trap int80_32 = { .sig = SIGSYS, .cs = HOST_CS32, .arch = AUDIT_ARCH_I386,
				    .call_addr = CODE + 0x82, .rip = CODE + 0x82 };
	ck_assert_int_eq(decode(&int80_32, &r), HD_UW_ESCAPE);
	/* AMD's SYSCALL shape, but from 64-bit code or above 4 GiB. */
	CODE_AT(0xa0, 0x0f, 0x05);
	struct uw_trap sc64 = { .sig = SIGSYS, .cs = HOST_CS64, .arch = AUDIT_ARCH_I386,
				.rip = CODE + 0xa2, .call_addr = CODE + 0xa2 };
	ck_assert_int_eq(decode(&sc64, &r), HD_UW_ESCAPE);
	sc64.cs = HOST_CS32;
	sc64.rip |= 1ull << 32;
	ck_assert_int_eq(decode(&sc64, &r), HD_UW_ESCAPE);
	/* A #UD or a fault in the host's compat CS that is no landing pad. */
	struct uw_trap ud32 = { .sig = SIGILL, .cs = HOST_CS32, .trapno = 6, .rip = CODE + 0x80 };
	ck_assert_int_eq(decode(&ud32, &r), HD_UW_ESCAPE);
	struct uw_trap pf32 = { .sig = SIGSEGV, .cs = HOST_CS32, .trapno = 14, .rip = CODE,
				.addr = 0x300000 };
	ck_assert_int_eq(decode(&pf32, &r), HD_UW_ESCAPE);
}
END_TEST

/* A signal another process sent (kill -SEGV, kill -SYS) is a host event,
 * never a guest exception nor a system call; outside the guest's code
 * segment it is still an escape. SIGUSR1 is always a preemption. */
START_TEST(sent_signals_are_host_events)
{
	struct uw_regs r = guest(CODE);
	static const uint32_t sigs[] = { SIGSEGV, SIGSYS, SIGILL, SIGTRAP, SIGBUS, SIGFPE };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		struct uw_trap t = { .sig = sigs[i], .cs = UW_SEL_CODE, .sent = 1, .pid = 4321,
				     .addr = 4321, .arch = 0 };
		ck_assert_int_eq(decode(&t, &r), HD_UW_EXTERNAL);
		ck_assert_uint_eq(ev.trapno, sigs[i]);
		ck_assert_uint_eq(ev.addr, 4321);
		t.cs = HOST_CS64;
		ck_assert_int_eq(decode(&t, &r), HD_UW_ESCAPE);
	}
	struct uw_trap usr1 = { .sig = SIGUSR1, .cs = UW_SEL_CODE, .sent = 1, .pid = 4321 };
	ck_assert_int_eq(decode(&usr1, &r), HD_UW_PREEMPT);
	/* The same SIGSEGV raised by the CPU is the guest's page fault. */
	struct uw_trap pf = { .sig = SIGSEGV, .cs = UW_SEL_CODE, .trapno = 14, .err = 4,
			      .addr = 0x5000, .rip = CODE };
	ck_assert_int_eq(decode(&pf, &r), HD_UW_FAULT);
}
END_TEST

/* Code the monitor cannot read is no fast system call. */
START_TEST(unreadable_code_is_no_system_call)
{
	struct uw_regs r = guest(0x10000000);
	struct uw_trap ud = { .sig = SIGILL, .cs = UW_SEL_CODE, .trapno = 6, .rip = 0x10000000 };
	ck_assert_int_eq(decode(&ud, &r), HD_UW_ILLEGAL);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_OTHER);
	/* The last byte of the page: the second opcode byte is not there. */
	CODE_AT(0xfff, 0x0f);
	r = guest(CODE + 0xfff);
	ud.rip = CODE + 0xfff;
	ck_assert_int_eq(decode(&ud, &r), HD_UW_ILLEGAL);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_OTHER);
	/* Fifteen prefixes: no opcode within an instruction's length. */
	memset(page + 0x100, 0x66, 15);
	r = guest(CODE + 0x100);
	ud.rip = CODE + 0x100;
	ck_assert_int_eq(decode(&ud, &r), HD_UW_ILLEGAL);
	ck_assert_int_eq(ev.insn, HD_UW_INSN_OTHER);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("uw_decode");
	TCase *t = tcase_create("uw_decode");
	tcase_add_checked_fixture(t, setup, NULL);
	tcase_add_test(t, int80_is_a_system_call_after_it);
	tcase_add_test(t, sysenter_is_the_same_on_both_vendors);
	tcase_add_test(t, sysenter_with_ebp_unreadable_on_intel);
	tcase_add_test(t, sysenter_with_prefixes_on_amd);
	tcase_add_test(t, syscall_is_the_same_on_both_vendors);
	tcase_add_test(t, sysexit_and_sysret_are_named_on_both_vendors);
	tcase_add_test(t, other_traps_are_not_system_calls);
	tcase_add_test(t, escapes_are_reported);
	tcase_add_test(t, unreadable_code_is_no_system_call);
	tcase_add_test(t, sent_signals_are_host_events);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
