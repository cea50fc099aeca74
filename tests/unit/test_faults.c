/* Unit tests: hostdriver/faults.c describes a real host fault in a struct hd_fault and resumes where the handler redirects it. */
#include <check.h>
#include <signal.h>
#include <stdint.h>
#include <unistd.h>

#include "hostdriver.h"
#include "invariant.h"

/*
 * fault_probe(addr, marker, divisor): RAX = marker; a load from addr, a
 * store of marker to addr, then EAX / divisor; returns RAX. Each may
 * fault: the handler below sees the registers at the faulting
 * instruction and resumes at the next label with a new RAX.
 */
__asm__(".text\n"
	"fault_probe:\n"
	"	mov %edx, %ecx\n"
	"	xor %edx, %edx\n"
	"	mov %rsi, %rax\n"
	"probe_load:\n"
	"	mov (%rdi), %rax\n"
	"probe_store:\n"
	"	mov %rsi, (%rdi)\n"
	"probe_div:\n"
	"	div %ecx\n"
	"probe_end:\n"
	"	ret\n");
uint64_t fault_probe(volatile void *addr, uint64_t marker, uint32_t divisor);
extern const char probe_load[], probe_store[], probe_div[], probe_end[];

static struct hd_fault seen[3];
static unsigned n_seen;

/* Each fault: record it, resume at the next step with RAX = its count. */
static enum hd_fault_action redirect_next(struct hd_fault *f)
{
	if (n_seen >= 3)
		return HD_FAULT_FATAL;
	seen[n_seen++] = *f;
	if (f->rip == (uint64_t)probe_load)
		f->rip = (uint64_t)probe_store;
	else if (f->rip == (uint64_t)probe_store)
		f->rip = (uint64_t)probe_div;
	else
		f->rip = (uint64_t)probe_end;
	f->gpr[HD_RAX] = n_seen;
	return HD_FAULT_REDIRECT;
}

static void *no_access_page(void)
{
	void *page = hd_alloc(HD_PAGE_SIZE);
	ck_assert_ptr_nonnull(page);
	ck_assert_int_eq(hd_page_set_readable(page, false), 0);
	return page;
}

/* A read and a write of a PROT_NONE page are #PF (the write with PF_W),
 * a division by zero #DE; each reaches the handler with its address and
 * the registers at the instruction, and the redirect's RAX comes back. */
START_TEST(faults_are_described_and_redirected)
{
	ck_assert_int_eq(hd_faults_install(redirect_next, NULL), 0);
	void *page = no_access_page();
	ck_assert_uint_eq(fault_probe(page, 0x5eed, 0), 3);
	ck_assert_uint_eq(n_seen, 3);

	const char *at[3] = { probe_load, probe_store, probe_div };
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_int_eq(seen[i].signo, SIGSEGV);
		ck_assert_uint_eq(seen[i].trapno, EXC_PF);
		ck_assert_uint_eq(seen[i].addr, (uint64_t)page);
		ck_assert_uint_eq(seen[i].gpr[HD_RDI], (uint64_t)page);
		ck_assert_uint_eq(seen[i].gpr[HD_RSI], 0x5eed);
	}
	for (unsigned i = 0; i < 3; i++)
		ck_assert_uint_eq(seen[i].rip, (uint64_t)at[i]);
	ck_assert_uint_eq(seen[0].gpr[HD_RAX], 0x5eed);
	ck_assert(!(seen[0].err & PF_W));
	ck_assert(seen[1].err & PF_W);
	ck_assert_uint_eq(seen[1].gpr[HD_RAX], 1); /* the first redirect's */
	ck_assert_int_eq(seen[2].signo, SIGFPE);
	ck_assert_uint_eq(seen[2].trapno, EXC_DE);
	ck_assert_uint_eq(seen[2].gpr[HD_RCX], 0);
	ck_assert_uint_eq(hd_fpe_vector(seen[2].trapno), EXC_DE);
}
END_TEST

/* Host SIGFPE trap numbers become the guest's #DE, #MF or #XM. */
START_TEST(fpe_vectors)
{
	ck_assert_uint_eq(hd_fpe_vector(EXC_DE), EXC_DE);
	ck_assert_uint_eq(hd_fpe_vector(EXC_MF), EXC_MF);
	ck_assert_uint_eq(hd_fpe_vector(EXC_XM), EXC_XM);
	ck_assert_uint_eq(hd_fpe_vector(EXC_GP), EXC_DE);
}
END_TEST

static void *crash_page;

static enum hd_fault_action not_ours(struct hd_fault *f)
{
	(void)f;
	return HD_FAULT_FATAL;
}

/* The crash hook sees the fault; exit 1 if it is not the one made. */
static void check_crash(const struct hd_fault *f)
{
	if (f->signo != SIGSEGV || f->trapno != EXC_PF || f->addr != (uint64_t)crash_page ||
	    f->rip != (uint64_t)probe_load)
		_exit(1);
}

/* A fault the handler does not take: the crash hook, then HD_EXIT_BUG. */
START_TEST(fatal_fault_reports_and_exits)
{
	ck_assert_int_eq(hd_faults_install(not_ours, check_crash), 0);
	crash_page = no_access_page();
	fault_probe(crash_page, 0, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("faults");
	tcase_add_test(tc, faults_are_described_and_redirected);
	tcase_add_test(tc, fpe_vectors);
	tcase_add_exit_test(tc, fatal_fault_reports_and_exits, HD_EXIT_BUG);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
