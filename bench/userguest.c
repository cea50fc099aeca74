/* bench: guest kernel timing ring-3 work: null system calls (int $0x80, SYSENTER) and a CPU-bound loop. */
#include "rt.h"
#include "loops.h"
#include "guestargs.h"

/*
 * Command line: "op=int80|sysenter|loop iters=N" (default: all three with
 * 1000 iterations, as the guest.userbench correctness test). The kernel
 * maps everything user-accessible (this is a benchmark, not a sandbox
 * test), builds a TSS, a DPL-3 gate for int $0x80 and the SYSENTER MSRs,
 * masks the PIC, and enters ring 3 with IRET. A null system call returns
 * at once. bench/run-user.sh times whole runs: (t(N) - t(0)) / N.
 */

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt[8][1024] __attribute__((aligned(4096)));
static uint8_t kstack[8192] __attribute__((aligned(16)));
static uint8_t ustack[16384] __attribute__((aligned(4096)));
static uint32_t tss[26];
static uint32_t loop_buf[64];
volatile uint32_t kernel_esp, sys_calls, user_result;

void sys_int80(void);
void sys_sysenter(void);
uint32_t enter_user(uint32_t eip, uint32_t esp, uint32_t iterations);

/*
 * enter_user: save the kernel's callee-saved registers and ESP, IRET to
 * ring 3. The exit call (EAX = 0xffffffff) comes back here through either
 * entry and returns EBX (the user's result) from enter_user.
 */
__asm__(".text\n"
	".globl enter_user\n"
	"enter_user:\n"
	"\tpushl %ebp\n\tpushl %ebx\n\tpushl %esi\n\tpushl %edi\n"
	"\tmovl %esp, kernel_esp\n"
	"\tmovl 20(%esp), %eax\n\tmovl 24(%esp), %ecx\n\tmovl 28(%esp), %esi\n"
	"\tpushl $0x23\n\tpushl %ecx\n\tpushl $0x202\n\tpushl $0x1b\n\tpushl %eax\n"
	"\tiret\n"
	"user_exit:\n"
	"\tmovl kernel_esp, %esp\n"
	"\tmovl %ebx, %eax\n"
	"\tpopl %edi\n\tpopl %esi\n\tpopl %ebx\n\tpopl %ebp\n"
	"\tret\n"
	/* int $0x80: a null call unless EAX is the exit call */
	".globl sys_int80\n"
	"sys_int80:\n"
	"\tcmpl $-1, %eax\n\tje user_exit\n"
	"\tincl sys_calls\n"
	"\tiret\n"
	/* SYSENTER: returns with SYSEXIT to EDX, stack ECX (the caller's) */
	".globl sys_sysenter\n"
	"sys_sysenter:\n"
	"\tcmpl $-1, %eax\n\tje user_exit\n"
	"\tincl sys_calls\n"
	"\tsti\n"
	"\tsysexit\n");

/* Ring-3 programs: ESI = iterations. */
extern char user_int80[], user_sysenter[], user_loop[];
__asm__(".text\n"
	"user_int80:\n"
	"1:\ttestl %esi, %esi\n\tjz 2f\n"
	"\txorl %eax, %eax\n\tint $0x80\n"
	"\tdecl %esi\n\tjmp 1b\n"
	"2:\tmovl $-1, %eax\n\tmovl $1, %ebx\n\tint $0x80\n"
	/* As Linux's vDSO: EBP = ESP with the caller's EBP saved there (the
	 * host's compat SYSENTER path relies on that convention too). */
	"user_sysenter:\n"
	"1:\ttestl %esi, %esi\n\tjz 2f\n"
	"\txorl %eax, %eax\n\tpushl %ebp\n\tmovl %esp, %ebp\n"
	"\tmovl %esp, %ecx\n\tmovl $3f, %edx\n\tsysenter\n"
	"3:\tpopl %ebp\n\tdecl %esi\n\tjmp 1b\n"
	"2:\tmovl $-1, %eax\n\tmovl $1, %ebx\n\tint $0x80\n"
	"user_loop:\n"
	"\tpushl %esi\n\tcall loop_reg\n\taddl $4, %esp\n"
	"\tmovl %eax, %ebx\n\tmovl $-1, %eax\n\tint $0x80\n");

static void wrmsr(uint32_t msr, uint32_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"(v), "d"(0));
}

static void setup(void)
{
	outb(0x21, 0xff); /* no interrupts: only the work being timed */
	outb(0xa1, 0xff);
	rt_gdt_set(3, 0, 0xfffff, 0xfa, 0xc); /* 0x1b: user code */
	rt_gdt_set(4, 0, 0xfffff, 0xf2, 0xc); /* 0x23: user data */
	tss[1] = (uint32_t)(kstack + sizeof kstack);
	tss[2] = RT_DS;
	rt_gdt_set(5, (uint32_t)tss, sizeof tss - 1, 0x89, 0x0);
	rt_lgdt();
	__asm__ volatile("ltr %w0" ::"r"(0x28));
	rt_idt_set(0x80, sys_int80, 0xee);
	rt_lidt();
	/* SYSENTER: CS 0x08, SS 0x10; SYSEXIT: CS 0x1b, SS 0x23 (+16, +24). */
	wrmsr(0x174, RT_CS);
	wrmsr(0x175, (uint32_t)(kstack + sizeof kstack));
	wrmsr(0x176, (uint32_t)sys_sysenter);
	for (uint32_t t = 0; t < 8; t++) {
		for (uint32_t e = 0; e < 1024; e++)
			pt[t][e] = ((t * 1024 + e) << 12) | 7;
		pd[t] = (uint32_t)pt[t] | 7;
	}
	__asm__ volatile("mov %0, %%cr3\n\tmov %%cr0, %%eax\n\t"
			 "or $0x80010000, %%eax\n\tmov %%eax, %%cr0" ::"r"(pd) : "eax");
}

/* Run a ring-3 program (ESI = n) until its exit call; return its EBX. */
static uint32_t run_user(char *entry, uint32_t n)
{
	return enter_user((uint32_t)entry, (uint32_t)(ustack + sizeof ustack), n);
}

void guest_main(uint32_t magic, uint32_t info)
{
	const char *cmd = guestargs_cmdline(magic, info);
	uint32_t n = guestargs_iters(cmd, 1000);
	const char *op = guestargs_after(cmd, "op=");
	(void)loop_buf;
	setup();
	if (!op || *op == 'i') {
		sys_calls = 0;
		RT_CHECK_EQ(run_user(user_int80, n), 1);
		RT_CHECK_EQ(sys_calls, n);
	}
	if (!op || *op == 's') {
		sys_calls = 0;
		RT_CHECK_EQ(run_user(user_sysenter, n), 1);
		RT_CHECK_EQ(sys_calls, n);
	}
	if (!op || *op == 'l') {
		uint32_t got = run_user(user_loop, n);
		/* The same loop at CPL 0 (translated) must agree; at bench
		 * sizes that would double the time measured, so small N only. */
		if (n <= 1000000)
			RT_CHECK_EQ(got, loop_reg(n));
	}
	rt_printf("user: %s done\n", op ? op : "all ops");
}
