/* Test guest: SYSENTER at CPL 0 enters through the SYSENTER MSRs with the architectural side effects. */
#include "rt.h"

static uint8_t entry_stack[512] __attribute__((aligned(16)));

/* Written by the asm around the SYSENTER. */
volatile uint32_t se_saved_esp, se_cs, se_ss, se_esp, se_flags, se_ebx;

static void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

extern char se_target[];

/* SYSENTER from CPL 0 to se_target: CS = SYSENTER_CS, SS = CS + 8, ESP and
 * EIP from the MSRs, IF and VM cleared; general registers untouched. */
static __attribute__((noinline)) void enter_once(void)
{
	__asm__ volatile(
		"pushl %%ebp\n\t"
		"pushl %%ebx\n\t"
		"movl %%esp, se_saved_esp\n\t"
		"movl $0x5eb0c0de, %%ebx\n\t"
		"sti\n\t"
		"sysenter\n"
		".globl se_target\n"
		"se_target:\n\t"
		"pushfl\n\t"
		"popl se_flags\n\t"
		"cli\n\t"
		"movl %%ebx, se_ebx\n\t"
		"movl %%esp, se_esp\n\t"
		"xorl %%eax, %%eax\n\t"
		"movw %%cs, %%ax\n\t"
		"movl %%eax, se_cs\n\t"
		"movw %%ss, %%ax\n\t"
		"movl %%eax, se_ss\n\t"
		"movl se_saved_esp, %%esp\n\t"
		"popl %%ebx\n\t"
		"popl %%ebp\n\t"
		::: "eax", "ecx", "edx", "esi", "edi", "memory", "cc");
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_magic;
	(void)mb_info;
	uint32_t top = (uint32_t)(entry_stack + sizeof entry_stack);

	rt_section("sysenter");
	wrmsr(0x174, RT_CS);          /* IA32_SYSENTER_CS: SS becomes RT_DS */
	wrmsr(0x175, top);            /* IA32_SYSENTER_ESP */
	wrmsr(0x176, (uint32_t)se_target);
	enter_once();
	RT_CHECK_EQ(se_cs, RT_CS);
	RT_CHECK_EQ(se_ss, RT_CS + 8);
	RT_CHECK_EQ(se_esp, top);
	RT_CHECK_EQ(se_ebx, 0x5eb0c0de);
	RT_CHECK_EQ(se_flags & 0x200, 0); /* IF cleared */
	rt_section_end();

	/* A second entry with another stack: the MSRs are re-read each time. */
	rt_section("sysenter-again");
	wrmsr(0x175, top - 64);
	enter_once();
	RT_CHECK_EQ(se_esp, top - 64);
	RT_CHECK_EQ(se_cs, RT_CS);
	rt_section_end();
}
