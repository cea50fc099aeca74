/* Test guest: x87 (#MF) and SIMD (#XM) floating-point exceptions delivered through the IDT. */
#include <stdbool.h>

#include "rt.h"

/*
 * Both arise in natively run FP code: the host CPU raises them, the host
 * kernel sends SIGFPE, and btvmm must deliver them to the guest with the
 * right vector and saved EIP.
 *  #MF (16): CR0.NE=1 and an unmasked x87 exception pending: the *next*
 *            waiting x87 instruction faults, and EIP names that one.
 *  #XM (19): CR4.OSXMMEXCPT=1 and an unmasked SSE exception: the faulting
 *            SSE instruction itself. QEMU 7.2's TCG never raises it, so
 *            this group runs only when the command line says "xm" (a
 *            btvmm-only test), not in the comparison with QEMU.
 */

static volatile uint32_t seen_vector, seen_eip, seen_count;
extern char mf_at[], mf_resume[], xm_at[], xm_resume[];

static void hook(struct rt_frame *f)
{
	seen_vector = f->vector;
	seen_eip = f->eip;
	seen_count++;
	/* Clear the cause and resume after the faulting instruction. */
	if (f->vector == 16) {
		__asm__ volatile("fnclex");
		f->eip = (uint32_t)mf_resume;
	} else if (f->vector == 19) {
		f->eip = (uint32_t)xm_resume;
	}
}

static void test_mf(void)
{
	rt_section("mf");
	uint32_t cr0;
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	cr0 = (cr0 | 0x22) & ~0xcu; /* NE MP on; EM TS off */
	__asm__ volatile("mov %0, %%cr0" ::"r"(cr0));
	uint16_t fcw = 0x037b; /* default control word with ZM (bit 2) cleared */
	/* IEEE bit patterns: the guest is built without FP in C code. */
	volatile uint64_t zero = 0, one = 0x3ff0000000000000ull, r;
	seen_count = 0;
	__asm__ volatile("fninit\n\t"
			 "fldcw %[cw]\n\t"
			 "fldl %[one]\n\t"
			 "fdivl %[zero]\n\t"     /* sets ZE; the fault waits */
			 ".globl mf_at\n"
			 "mf_at:\n\t"
			 "fwait\n\t"             /* #MF here */
			 ".globl mf_resume\n"
			 "mf_resume:\n\t"
			 "fstpl %[r]\n\t"
			 "fninit"
			 : [r] "=m"(r)
			 : [cw] "m"(fcw), [one] "m"(one), [zero] "m"(zero));
	RT_CHECK_EQ(seen_count, 1);
	RT_CHECK_EQ(seen_vector, 16);
	RT_CHECK_EQ(seen_eip, (uint32_t)mf_at);
	rt_section_end();
}

static void test_xm(void)
{
	rt_section("xm");
	uint32_t cr4;
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	cr4 |= 0x600; /* OSFXSR | OSXMMEXCPT */
	__asm__ volatile("mov %0, %%cr4" ::"r"(cr4));
	uint32_t mxcsr = 0x1f80 & ~0x200u, restore = 0x1f80; /* unmask ZE */
	volatile uint32_t one = 0x3f800000u, zero = 0;
	seen_count = 0;
	__asm__ volatile("ldmxcsr %[m]\n\t"
			 "movss %[one], %%xmm0\n\t"
			 ".globl xm_at\n"
			 "xm_at:\n\t"
			 "divss %[zero], %%xmm0\n\t" /* #XM here */
			 ".globl xm_resume\n"
			 "xm_resume:\n\t"
			 "ldmxcsr %[r]"
			 :
			 : [m] "m"(mxcsr), [one] "m"(one), [zero] "m"(zero), [r] "m"(restore)
			 : "xmm0");
	RT_CHECK_EQ(seen_count, 1);
	RT_CHECK_EQ(seen_vector, 19);
	RT_CHECK_EQ(seen_eip, (uint32_t)xm_at);
	rt_section_end();
}

static bool cmdline_has(uint32_t magic, uint32_t info, const char *word)
{
	const uint32_t *mbi = (const uint32_t *)info;
	if (magic != 0x2badb002 || !(mbi[0] & 4))
		return false;
	for (const char *s = (const char *)mbi[4]; *s; s++) {
		unsigned i = 0;
		while (word[i] && s[i] == word[i])
			i++;
		if (!word[i])
			return true;
	}
	return false;
}

void guest_main(uint32_t magic, uint32_t info)
{
	rt_set_exception_hook(hook);
	test_mf();
	if (cmdline_has(magic, info, " xm"))
		test_xm();
	rt_set_exception_hook(NULL);
}
