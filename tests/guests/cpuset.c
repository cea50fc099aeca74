/* Test guest: the virtual CPU runs exactly the instruction set its CPUID claims, at CPL 0 and CPL 3; each outcome matches QEMU's. */
#include <stdbool.h>

#include "rt.h"

/*
 * Each attempt is a few instructions ending in `int $0x80`, run once at
 * CPL 0 (translated) and once at CPL 3 (translated with --de off; the host
 * CPU decodes ring-3 code under direct execution, so this guest is not run
 * there: docs/security.md). One line per attempt and level: the vector
 * (0x80 when the attempt ran through), where, EAX and EDX.
 *
 * The instructions are those of extensions neither this virtual CPU nor
 * QEMU's qemu32 claims (each line prints the CPUID bit too, so a CPU model
 * that claims one shows up as a changed line, not as a silent pass), the
 * F3-prefixed BSR/BSF that a CPU without LZCNT/TZCNT runs as BSR/BSF, and
 * ring-0-style memory operands with 16-bit addressing (0x67).
 *
 * CR4.OSFXSR is set, so SSE-register forms fail only for want of their
 * extension. Memory: the first 16 MiB identity-mapped for ring 3.
 */

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt[4][1024] __attribute__((aligned(4096)));
static uint8_t kstack[8192] __attribute__((aligned(16)));
static uint8_t ustack[4096] __attribute__((aligned(4096)));
/* Scratch for memory operands, addressed with 16-bit registers too: its
 * own page, below 64 KiB (the linker places the image at 1 MiB). */
#define LOW 0x9000

struct attempt {
	const char *name;
	const char *code;
	uint32_t leaf; /* CPUID leaf, register (0 EAX .. 3 EDX), bit claiming it; */
	uint32_t reg;  /* leaf 0: no feature bit */
	uint32_t bit;
};
extern const struct attempt attempts[], attempts_end[];

#define STR_(x) #x
#define STR(x) STR_(x)
#define ATTEMPT(name, leaf, reg, bit, code)                                      \
	".section .rodata.str\n" "1:\t.asciz \"" name "\"\n"                     \
	".section .rodata.attempts, \"a\"\n" ".long 1b, 2f, " #leaf ", " STR(reg) ", " #bit "\n" \
	".text\n" "2:\n" code "\tint $0x80\n"
#define EBX 1
#define ECX 2
#define EDX 3

__asm__(
	".section .rodata.attempts, \"a\"\n.balign 4\n.globl attempts\nattempts:\n"
	/* F3 0F BD / F3 0F BC: LZCNT/TZCNT on CPUs with them, BSR/BSF here */
	ATTEMPT("rep bsr", 0x80000001, ECX, 5,
		"\tmovl $0x80, %ecx\n\tmovl $0x55, %eax\n\trep bsrl %ecx, %eax\n"
		"\tpushfl\n\tpopl %edx\n\tandl $0x40, %edx\n")
	ATTEMPT("rep bsf", 0x7, EBX, 3,
		"\tmovl $0x80, %ecx\n\tmovl $0x55, %eax\n\trep bsfl %ecx, %eax\n"
		"\tpushfl\n\tpopl %edx\n\tandl $0x40, %edx\n")
	ATTEMPT("rep bsf zero", 0x7, EBX, 3,
		"\txorl %ecx, %ecx\n\tmovl $0x55, %eax\n\trep bsfl %ecx, %eax\n"
		"\tpushfl\n\tpopl %edx\n\tandl $0x40, %edx\n")
	ATTEMPT("rep bsr 16", 0x80000001, ECX, 5,
		"\tmovl $0x100, %ecx\n\tmovl $0x55, %eax\n\trep bsrw %cx, %ax\n")
	ATTEMPT("popcnt", 1, ECX, 23, "\tmovl $0xff, %ecx\n\tpopcntl %ecx, %eax\n")
	ATTEMPT("movbe", 1, ECX, 22, "\tmovbel (%esp), %eax\n")
	ATTEMPT("crc32", 1, ECX, 20, "\tcrc32l %ecx, %eax\n")
	ATTEMPT("pshufb mmx", 1, ECX, 9, "\tpshufb %mm1, %mm0\n\temms\n")
	ATTEMPT("pshufb xmm", 1, ECX, 9, "\tpshufb %xmm1, %xmm0\n")
	ATTEMPT("pmulld", 1, ECX, 19, "\tpmulld %xmm1, %xmm0\n")
	ATTEMPT("ptest", 1, ECX, 19, "\tptest %xmm1, %xmm0\n")
	ATTEMPT("pcmpistri", 1, ECX, 20, "\tpcmpistri $0, %xmm1, %xmm0\n")
	ATTEMPT("aesenc", 1, ECX, 25, "\taesenc %xmm1, %xmm0\n")
	ATTEMPT("pclmulqdq", 1, ECX, 1, "\tpclmulqdq $0, %xmm1, %xmm0\n")
	ATTEMPT("vaddps", 1, ECX, 28, "\tvaddps %xmm2, %xmm1, %xmm0\n")
	ATTEMPT("vpxor ymm", 1, ECX, 28, "\tvpxor %ymm2, %ymm1, %ymm0\n")
	ATTEMPT("xgetbv", 1, ECX, 26, "\txorl %ecx, %ecx\n\txgetbv\n")
	ATTEMPT("xsave", 1, ECX, 26, "\txorl %eax, %eax\n\txorl %edx, %edx\n\txsave 0x9000\n")
	ATTEMPT("rdrand", 1, ECX, 30, "\trdrand %eax\n")
	ATTEMPT("monitor", 1, ECX, 3, "\tmovl $0x9000, %eax\n\txorl %ecx, %ecx\n\txorl %edx, %edx\n\tmonitor\n")
	ATTEMPT("rdtscp", 0x80000001, EDX, 27, "\trdtscp\n\txorl %eax, %eax\n\txorl %edx, %edx\n")
	ATTEMPT("rdpid", 7, ECX, 22, "\trdpid %eax\n")
	ATTEMPT("rdseed", 7, EBX, 18, "\trdseed %eax\n")
	ATTEMPT("adcx", 7, EBX, 19, "\tadcxl %ecx, %eax\n")
	ATTEMPT("andn", 7, EBX, 3, "\tandnl %ecx, %edx, %eax\n")
	ATTEMPT("shlx", 7, EBX, 8, "\tshlxl %ecx, %edx, %eax\n")
	ATTEMPT("clflushopt", 7, EBX, 23, "\tclflushopt 0x9000\n")
	ATTEMPT("clwb", 7, EBX, 24, "\tclwb 0x9000\n")
	ATTEMPT("sha1msg1", 7, EBX, 29, "\tsha1msg1 %xmm1, %xmm0\n")
	ATTEMPT("extrq", 0x80000001, ECX, 6, "\textrq $4, $4, %xmm0\n")
	ATTEMPT("femms", 0x80000001, EDX, 31, "\tfemms\n")
	/* what the virtual CPU has */
	ATTEMPT("cmov", 1, EDX, 15, "\tmovl $1, %ecx\n\tcmpl $0, %ecx\n\tcmovnel %ecx, %eax\n")
	ATTEMPT("cmpxchg8b", 1, EDX, 8,
		"\tmovl $0x9000, %esi\n\tcmpxchg8b (%esi)\n\tmovl (%esi), %eax\n")
	ATTEMPT("paddq", 1, EDX, 26,
		"\tmovl $3, %eax\n\tmovd %eax, %xmm0\n\tpaddq %xmm0, %xmm0\n\tmovd %xmm0, %eax\n")
	ATTEMPT("endbr32", 0, 0, 0, "\tendbr32\n\tmovl $1, %eax\n")
	/* 16-bit addressing: the operand at DS:BX+SI+disp, wrapped to 16 bits */
	ATTEMPT("addr16 mov", 0, 0, 0,
		"\tmovl $0x9000, %ebx\n\tmovl $0x55aa, 0x9010\n\taddr16 movl 0x10(%bx), %eax\n")
	ATTEMPT("addr16 wrap", 0, 0, 0,
		"\tmovl $0xfff0, %ebx\n\tmovl $0x9020, %esi\n\tmovl $0x77, 0x9010\n"
		"\taddr16 movl (%bx,%si), %eax\n")
	ATTEMPT("addr16 add", 0, 0, 0,
		"\tmovl $0x9000, %ebx\n\tmovl $5, 0x9018\n\tmovl $3, %ecx\n"
		"\taddr16 addl %ecx, 0x18(%bx)\n\tmovl 0x9018, %eax\n")
	ATTEMPT("addr16 lea", 0, 0, 0,
		"\tmovl $0xfffff, %ebx\n\tmovl $0x10, %esi\n\taddr16 leal 4(%bx,%si), %eax\n")
	ATTEMPT("addr16 push", 0, 0, 0,
		"\tmovl $0x9000, %ebx\n\tmovl $0x1234, 0x9000\n\taddr16 pushl (%bx)\n\tpopl %eax\n")
	ATTEMPT("addr16 pop", 0, 0, 0,
		"\tmovl $0x9000, %ebx\n\tpushl $0x4321\n\taddr16 popl 8(%bx)\n\tmovl 0x9008, %eax\n")
	ATTEMPT("addr16 xchg", 0, 0, 0,
		"\tmovl $0x9000, %ebx\n\tmovl $0x99, 0x900c\n\tmovl $7, %eax\n"
		"\taddr16 xchgl %eax, 0xc(%bx)\n\tmovl 0x900c, %edx\n")
	ATTEMPT("addr16 movzx", 0, 0, 0,
		"\tmovl $0x9000, %ebx\n\tmovl $0xfedc, 0x9004\n\taddr16 movzbl 5(%bx), %eax\n")
	ATTEMPT("addr16 bt", 0, 0, 0,
		"\tmovl $0x9000, %ebx\n\tmovl $0x8, 0x9004\n\taddr16 btl $3, 4(%bx)\n"
		"\tsetc %al\n\tmovzbl %al, %eax\n")
	ATTEMPT("addr16 call", 0, 0, 0,
		"\tmovl $0x9000, %ebx\n\tmovl $3f, 0x9000\n\taddr16 call *(%bx)\n\tmovl $1, %eax\n"
		"\tint $0x80\n3:\tpopl %edx\n\tmovl $2, %eax\n")
	ATTEMPT("addr16 jmp", 0, 0, 0,
		"\tmovl $0x9000, %ebx\n\tmovl $3f, 0x9000\n\taddr16 jmp *(%bx)\n\tmovl $1, %eax\n"
		"\tint $0x80\n3:\tmovl $2, %eax\n")
	ATTEMPT("addr16 sgdt", 0, 0, 0,
		"\tmovl $0x9000, %ebx\n\taddr16 sgdt (%bx)\n\tmovzwl 0x9000, %eax\n")
	".section .rodata.attempts, \"a\"\n.globl attempts_end\nattempts_end:\n"
	".text\n");

/* Run `code` at CPL 0 with the general registers zeroed: what
 * rt_run_user does for CPL 3 (the hook's rt_resume_kernel returns). */
extern uint32_t rt_user_saved_esp;
void run_kernel(const void *code, uint32_t stack_top);
__asm__(".text\n"
	"run_kernel:\n"
	"	pushal\n"
	"	movl %esp, rt_user_saved_esp\n"
	"	movl 36(%esp), %eax\n"
	"	movl 40(%esp), %esp\n"
	"	pushl %eax\n"
	"	xorl %eax, %eax\n"
	"	xorl %ebx, %ebx\n"
	"	xorl %ecx, %ecx\n"
	"	xorl %edx, %edx\n"
	"	xorl %esi, %esi\n"
	"	xorl %edi, %edi\n"
	"	xorl %ebp, %ebp\n"
	"	ret\n");

static struct {
	uint32_t vector, eip, eax, edx;
} got;

static void hook(struct rt_frame *f)
{
	got.vector = f->vector;
	got.eip = f->eip;
	got.eax = f->eax;
	got.edx = f->edx;
	f->eip = (uint32_t)rt_resume_kernel;
	f->cs = RT_CS;
	f->eflags = 0x2;
}

static bool claimed(const struct attempt *a)
{
	uint32_t r[4];
	if (!a->leaf)
		return true;
	/* A leaf above the maximum answers for another leaf. */
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(a->leaf & 0x80000000u), "c"(0));
	if (a->leaf > r[0])
		return false;
	__asm__ volatile("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(a->leaf), "c"(0));
	return (r[a->reg] >> a->bit) & 1;
}

static void run_all(int cpl)
{
	uint32_t top = cpl ? (uint32_t)(ustack + sizeof ustack)
			   : (uint32_t)(ustack + sizeof ustack) - 256;
	for (const struct attempt *a = attempts; a < attempts_end; a++) {
		got.vector = 0xff;
		rt_memset((void *)LOW, 0, 64);
		if (cpl)
			rt_run_user(a->code, top);
		else
			run_kernel(a->code, top);
		rt_printf("cpl%d %s: cpuid=%d v=%x at=+%x eax=%08x edx=%08x\n", cpl, a->name,
			  claimed(a), got.vector, got.eip - (uint32_t)a->code, got.eax,
			  got.edx);
	}
}

void guest_main(uint32_t magic, uint32_t info)
{
	(void)magic;
	(void)info;
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	rt_set_exception_hook(hook);
	rt_ring3_init(kstack + sizeof kstack);
	rt_identity_16m(pd, pt, 0);
	uint32_t cr4;
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	__asm__ volatile("mov %0, %%cr4" ::"r"(cr4 | 0x600)); /* OSFXSR OSXMMEXCPT */
	uint32_t cr0;
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("mov %0, %%cr0" ::"r"((cr0 & ~0xcu) | 0x22)); /* EM TS off; MP NE */
	run_all(0);
	run_all(3);
}
