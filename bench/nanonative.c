/* bench: the nanobenchmarks that exist natively, run as a 64-bit host process (nanoguest.c's output format). */
/*
 * usage: nanonative [op=NAME] iters=N
 *
 * Prints "nano tsc-khz=K" (the TSC against CLOCK_MONOTONIC over 20 ms),
 * then per op "nano op=NAME iters=N cycles=C ns=T" per iteration, loop
 * overhead included, like the guest. The ops and what stands for the
 * guest's:
 *   syscall       getppid through syscall(2): the 64-bit SYSCALL
 *                 instruction (the guest's int $0x80 and SYSENTER rows)
 *   cpuid, rdtsc  the instructions, as in the guest (leaf 0)
 *   call-ret      CALL of a bare RET
 *   jmp-indirect  JMP through a register to one of two targets, alternating
 *   pgfault       a minor fault: the read of an anonymous page that
 *                 madvise(MADV_DONTNEED) just dropped, the host kernel
 *                 mapping its zero page. Only the read is timed (an RDTSC
 *                 pair around it, whose own cost is included); the
 *                 madvise call is not.
 *   divzero       DIV by zero: SIGFPE delivered to a handler that skips
 *                 the two-byte DIV, and the sigreturn
 * Exit status 0, or 2 with one line on stderr for a bad command line.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#define CALIBRATE_NS 20000000ull
#define DIV_LEN 2 /* divl %ecx: F7 F1 */

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static uint64_t now_ns(void)
{
	struct timespec t;
	if (clock_gettime(CLOCK_MONOTONIC, &t) != 0) {
		perror("nanonative: clock_gettime");
		exit(1);
	}
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t op_syscall(uint32_t n)
{
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		syscall(SYS_getppid);
	return rdtsc() - t0;
}

static uint64_t op_cpuid(uint32_t n)
{
	uint32_t a, b, c, d;
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0));
	return rdtsc() - t0;
}

static uint64_t op_rdtsc(uint32_t n)
{
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		(void)rdtsc();
	return rdtsc() - t0;
}

void nano_ret(void);
__asm__(".text\n.globl nano_ret\nnano_ret:\n\tret\n");

static uint64_t op_call_ret(uint32_t n)
{
	uint64_t t0 = rdtsc();
	/* The red zone lies below RSP: CALL must not clobber the compiler's. */
	for (uint32_t i = 0; i < n; i++)
		__asm__ volatile("subq $128, %%rsp\n\tcall nano_ret\n\taddq $128, %%rsp"
				 ::: "memory", "cc");
	return rdtsc() - t0;
}

static uint64_t op_jmp_indirect(uint32_t n)
{
	uint32_t odd = 0;
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		__asm__ volatile("leaq 1f(%%rip), %%rax\n\t"
				 "testl $1, %1\n\t"
				 "jz 3f\n\t"
				 "leaq 2f(%%rip), %%rax\n"
				 "3:\tjmp *%%rax\n"
				 "1:\tjmp 4f\n"
				 "2:\tincl %0\n"
				 "4:"
				 : "+r"(odd) : "r"(i) : "rax", "cc");
	uint64_t t = rdtsc() - t0;
	if (odd != n / 2) {
		fprintf(stderr, "nanonative: jmp-indirect took %u odd branches of %u\n", odd, n / 2);
		exit(1);
	}
	return t;
}

static uint64_t op_pgfault(uint32_t n)
{
	long page = sysconf(_SC_PAGESIZE);
	volatile uint8_t *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("nanonative: mmap");
		exit(1);
	}
	uint64_t sum = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (madvise((void *)p, (size_t)page, MADV_DONTNEED) != 0) {
			perror("nanonative: madvise");
			exit(1);
		}
		uint64_t t0 = rdtsc();
		(void)p[0];
		sum += rdtsc() - t0;
	}
	munmap((void *)p, (size_t)page);
	return sum;
}

static volatile uint32_t fpe_count;

static void on_sigfpe(int sig, siginfo_t *si, void *ctx)
{
	(void)sig, (void)si;
	((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP] += DIV_LEN;
	fpe_count++;
}

static uint64_t op_divzero(uint32_t n)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_sigfpe;
	sa.sa_flags = SA_SIGINFO;
	if (sigaction(SIGFPE, &sa, NULL) != 0) {
		perror("nanonative: sigaction");
		exit(1);
	}
	fpe_count = 0;
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		__asm__ volatile("xorl %%ecx, %%ecx\n\txorl %%edx, %%edx\n\tmovl $1, %%eax\n\t"
				 ".byte 0xf7, 0xf1" /* divl %%ecx, DIV_LEN bytes */
				 ::: "eax", "ecx", "edx", "cc");
	uint64_t t = rdtsc() - t0;
	if (fpe_count != n) {
		fprintf(stderr, "nanonative: divzero saw %u SIGFPEs of %u\n", fpe_count, n);
		exit(1);
	}
	return t;
}

static const struct {
	const char *name;
	uint64_t (*run)(uint32_t n);
} ops[] = {
	{ "syscall", op_syscall },
	{ "call-ret", op_call_ret },
	{ "jmp-indirect", op_jmp_indirect },
	{ "pgfault", op_pgfault },
	{ "divzero", op_divzero },
	{ "cpuid", op_cpuid },
	{ "rdtsc", op_rdtsc },
};

static double tsc_khz(void)
{
	uint64_t n0 = now_ns(), t0 = rdtsc(), n1;
	while ((n1 = now_ns()) - n0 < CALIBRATE_NS)
		;
	return (double)(rdtsc() - t0) * 1e6 / (double)(n1 - n0);
}

static __attribute__((noreturn)) void usage(const char *why)
{
	fprintf(stderr, "nanonative: %s (usage: nanonative [op=NAME] iters=N)\n", why);
	exit(2);
}

int main(int argc, char **argv)
{
	const char *want = NULL;
	long n = -1;
	for (int i = 1; i < argc; i++) {
		char *end;
		if (strncmp(argv[i], "op=", 3) == 0)
			want = argv[i] + 3;
		else if (strncmp(argv[i], "iters=", 6) == 0) {
			n = strtol(argv[i] + 6, &end, 10);
			if (*end || n < 0 || n > UINT32_MAX)
				usage("bad iters=");
		} else
			usage("unknown argument");
	}
	if (n < 0)
		usage("iters= is required");
	double khz = tsc_khz();
	int found = 0;
	printf("nano tsc-khz=%.0f\n", khz);
	for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
		if (want && strcmp(want, ops[i].name) != 0)
			continue;
		found = 1;
		double cycles = n ? (double)ops[i].run((uint32_t)n) / (double)n : 0;
		printf("nano op=%s iters=%ld cycles=%.1f ns=%.1f\n", ops[i].name, n,
		       cycles, cycles * 1e6 / khz);
	}
	if (!found)
		usage("unknown op");
	return 0;
}
