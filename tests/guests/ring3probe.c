/* Test guest: ring-3 code tries every way out (far transfers, segment loads, gates, privileged and sensitive instructions, supervisor memory); each outcome matches QEMU's. */
#include <stdbool.h>

#include "rt.h"

/*
 * Each attempt is a few instructions of ring-3 code ending in `int $0x80`
 * (a DPL-3 gate: "done"). The kernel enters it with IRET and records what
 * came back: the vector (0x80 when the attempt ran through), the error
 * code, where in the attempt it happened, CR2 for a page fault, and EAX and
 * EDX for the attempts that compute something. One line per attempt;
 * run-guest.sh compares the lines with QEMU's byte for byte. A transfer
 * that lands anywhere but inside the attempt, or an attempt that does not
 * come back, shows up as a wrong or missing line.
 *
 * GDT: 0x08/0x10 ring-0 code/data (rt), 0x1b/0x23 ring-3 code/data, 0x28
 * TSS, 0x33 ring-3 data with base 0xfffff000 (it wraps; loaded into FS
 * and GS only: btvmm stops with exit 8 on a DS, ES or SS that is not
 * flat, see docs/fidelity.md), 0x3b a ring-3
 * code segment marked not present; 0x83 lies past the GDT's limit and
 * 0x07 in an LDT the guest never loads. Memory: the first 16 MiB
 * identity-mapped for ring 3, except 0x800000 (supervisor), 0x801000 (not
 * present), 0x802000 (read-only) and 0x803000 (a page table).
 */

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt[4][1024] __attribute__((aligned(4096)));
static uint8_t kstack[8192] __attribute__((aligned(16)));
static uint8_t ustack[4096] __attribute__((aligned(4096)));

struct attempt {
	const char *name;
	const char *code;
};
extern const struct attempt attempts[], attempts_end[];

static uint32_t ustack_top;

/* The attempts: code in .text, a table of (name, code) in .rodata. */
#define ATTEMPT_BEGIN(name)                                  \
	".section .rodata.str\n" "1:\t.asciz \"" name "\"\n" \
	".section .rodata.attempts, \"a\"\n" ".long 1b, 2f\n" \
	".text\n" "2:\n"
#define DONE "\tint $0x80\n"

/* far jmp, call, ret and iret to a selector, at a target inside the attempt */
#define FAR_ALL(sel)                                                              \
	ATTEMPT_BEGIN("ljmp " #sel) "\tljmp $" #sel ", $3f\n3:" DONE                  \
	ATTEMPT_BEGIN("lcall " #sel) "\tlcall $" #sel ", $3f\n3:" DONE                \
	ATTEMPT_BEGIN("lret " #sel) "\tpushl $" #sel "\n\tpushl $3f\n\tlret\n3:" DONE \
	ATTEMPT_BEGIN("iret " #sel) "\tpushfl\n\tpushl $" #sel "\n\tpushl $3f\n\tiret\n3:" DONE
/* a segment load, then the flat selectors back */
#define LOAD(reg, sel)                                                         \
	ATTEMPT_BEGIN("mov " #reg " " #sel) "\tmovl $" #sel ", %eax\n\tmovw %ax, %" #reg \
	"\n\tmovw $0x23, %cx\n\tmovw %cx, %ds\n\tmovw %cx, %es\n\tmovw %cx, %ss\n" DONE
#define LOADS(sel) LOAD(ds, sel) LOAD(ss, sel) LOAD(fs, sel)
#define DESC(op, sel)                                                                     \
	ATTEMPT_BEGIN(#op " " #sel) "\tmovl $" #sel ", %ecx\n\tmovl $0x55, %eax\n\t" #op " %cx, %ax\n" \
	"\tpushfl\n\tpopl %edx\n\tandl $0x40, %edx\n" DONE
#define VER(op, sel) \
	ATTEMPT_BEGIN(#op " " #sel) "\tmovl $" #sel ", %ecx\n\t" #op " %cx\n\tpushfl\n\tpopl %edx\n\tandl $0x40, %edx\n" DONE

__asm__(
	".section .rodata.attempts, \"a\"\n.balign 4\n.globl attempts\nattempts:\n"
	FAR_ALL(0x08) FAR_ALL(0x10) FAR_ALL(0x1b) FAR_ALL(0x23) FAR_ALL(0x2b)
	FAR_ALL(0x33) FAR_ALL(0x3b) FAR_ALL(0x07) FAR_ALL(0x83) FAR_ALL(0xfffc)
	LOADS(0) LOADS(0x08) LOADS(0x10) LOADS(0x1b) LOADS(0x23) LOADS(0x2b)
	LOAD(fs, 0x33) LOAD(gs, 0x33) LOADS(0x3b) LOADS(0x07) LOADS(0x83)
	DESC(lar, 0x1b) DESC(lar, 0x2b) DESC(lar, 0x08) DESC(lar, 0x7b) DESC(lar, 0x83)
	DESC(lsl, 0x1b) DESC(lsl, 0x33) DESC(lsl, 0x2b) DESC(lsl, 0x7b) DESC(lsl, 0)
	VER(verr, 0x1b) VER(verr, 0x08) VER(verr, 0x3b) VER(verw, 0x23) VER(verw, 0x1b)
	VER(verw, 0x10)
	/* privileged instructions at CPL 3, IOPL 0 */
	ATTEMPT_BEGIN("cli") "\tcli\n" DONE
	ATTEMPT_BEGIN("sti") "\tsti\n" DONE
	ATTEMPT_BEGIN("hlt") "\thlt\n" DONE
	ATTEMPT_BEGIN("in 0x60") "\tinb $0x60, %al\n" DONE
	ATTEMPT_BEGIN("out 0x80") "\toutb %al, $0x80\n" DONE
	ATTEMPT_BEGIN("insb") "\tmovl $0x3f8, %edx\n\tmovl $0x700, %edi\n\tinsb\n" DONE
	ATTEMPT_BEGIN("mov cr0") "\tmovl %cr0, %eax\n" DONE
	ATTEMPT_BEGIN("mov cr3 write") "\tmovl %eax, %cr3\n" DONE
	ATTEMPT_BEGIN("mov dr7") "\tmovl %eax, %dr7\n" DONE
	ATTEMPT_BEGIN("lgdt") "\tlgdt (%esp)\n" DONE
	ATTEMPT_BEGIN("lidt") "\tlidt (%esp)\n" DONE
	ATTEMPT_BEGIN("lldt") "\txorl %eax, %eax\n\tlldt %ax\n" DONE
	ATTEMPT_BEGIN("ltr") "\tmovl $0x28, %eax\n\tltr %ax\n" DONE
	ATTEMPT_BEGIN("lmsw") "\tlmsw %ax\n" DONE
	ATTEMPT_BEGIN("clts") "\tclts\n" DONE
	ATTEMPT_BEGIN("invlpg") "\tinvlpg (%esp)\n" DONE
	ATTEMPT_BEGIN("wbinvd") "\twbinvd\n" DONE
	ATTEMPT_BEGIN("invd") "\tinvd\n" DONE
	ATTEMPT_BEGIN("rdmsr") "\tmovl $0x10, %ecx\n\trdmsr\n" DONE
	ATTEMPT_BEGIN("wrmsr") "\tmovl $0x174, %ecx\n\twrmsr\n" DONE
	ATTEMPT_BEGIN("rdpmc") "\txorl %ecx, %ecx\n\trdpmc\n" DONE
	/* gates and system calls */
	ATTEMPT_BEGIN("int3") "\tint3\n" DONE
	ATTEMPT_BEGIN("int 3") "\t.byte 0xcd, 0x03\n" DONE
	ATTEMPT_BEGIN("into") "\tmovl $0x7fffffff, %eax\n\taddl $1, %eax\n\tinto\n" DONE
	ATTEMPT_BEGIN("int 4") "\t.byte 0xcd, 0x04\n" DONE
	ATTEMPT_BEGIN("prefixed int3") "\t.byte 0x3e, 0xcc\n" DONE
	ATTEMPT_BEGIN("int 0x21") "\tint $0x21\n" DONE
	ATTEMPT_BEGIN("int 0x0e") "\tint $0x0e\n" DONE
	ATTEMPT_BEGIN("ud2") "\tud2\n" DONE
	ATTEMPT_BEGIN("iret with nt") "\tpushfl\n\torl $0x4000, (%esp)\n\tpopfl\n"
	"\tpushfl\n\tpushl $0x1b\n\tpushl $3f\n\tiret\n3:" DONE
	ATTEMPT_BEGIN("prefixed int 0x80") "\t.byte 0x3e\n\tint $0x80\n"
	ATTEMPT_BEGIN("int 0x80 twice") "\tmovl $5, %eax\n\tint $0x80\n\tint $0x80\n"
	ATTEMPT_BEGIN("host exit by int 0x80") "\tmovl $60, %eax\n\tmovl $0x100000, %ebx\n" DONE
	ATTEMPT_BEGIN("sysenter unset") "\tmovl $39, %eax\n\tmovl %esp, %ecx\n\tsysenter\n" DONE
	ATTEMPT_BEGIN("syscall") "\tmovl $39, %eax\n\t.byte 0x0f, 0x05\n" DONE
	/* memory the page tables keep from ring 3, and FS/GS wrapping */
	ATTEMPT_BEGIN("read supervisor") "\tmovl 0x800000, %eax\n" DONE
	ATTEMPT_BEGIN("write supervisor") "\tmovl $1, 0x800000\n" DONE
	ATTEMPT_BEGIN("read not present") "\tmovl 0x801000, %eax\n" DONE
	ATTEMPT_BEGIN("write read-only") "\tmovl $1, 0x802004\n" DONE
	ATTEMPT_BEGIN("fs wraps to 1 MiB") "\tmovl $0x33, %eax\n\tmovw %ax, %fs\n\tmovl %fs:0x101000, %eax\n" DONE
	ATTEMPT_BEGIN("gs past 4 GiB") "\tmovl $0x33, %eax\n\tmovw %ax, %gs\n\tmovl %gs:0x800, %eax\n" DONE
	ATTEMPT_BEGIN("fs write supervisor") "\tmovl $0x33, %eax\n\tmovw %ax, %fs\n\tmovl $7, %fs:0x801000\n" DONE
	ATTEMPT_BEGIN("stack in supervisor") "\tmovl $0x800800, %esp\n\tpushl $1\n" DONE
	/* a page table mapped for ring 3 (0x803000 is pt[2]): its write
	 * remaps 0x804000 to 0x805000, which the next read goes through */
	ATTEMPT_BEGIN("write own page table") "\tmovl $0x805007, 0x803010\n"
	"\tmovl 0x804000, %eax\n\tmovl 0x803010, %edx\n" DONE
	ATTEMPT_BEGIN("below 64 KiB") "\tmovl $0x5a, 0x9ffc\n\tmovl 0x9ffc, %eax\n\tmovl 0x1000, %edx\n" DONE
	/* self-modifying code: the store must be seen by the next fetch */
	ATTEMPT_BEGIN("smc") "\tmovb $2, 4f+1\n\tjmp 4f\n4:\tmovl $1, %eax\n" DONE
	/* what ring 3 may read of the machine */
	ATTEMPT_BEGIN("pushf") "\tpushfl\n\tpopl %eax\n\tandl $0x3200, %eax\n" DONE
	ATTEMPT_BEGIN("popf iopl if") "\tpushl $0x3202\n\tpopfl\n\tpushfl\n\tpopl %eax\n\tandl $0x3200, %eax\n" DONE
	ATTEMPT_BEGIN("sgdt") "\tsubl $8, %esp\n\tsgdt (%esp)\n\tmovl 2(%esp), %eax\n\tmovzwl (%esp), %edx\n\taddl $8, %esp\n" DONE
	ATTEMPT_BEGIN("sidt") "\tsubl $8, %esp\n\tsidt (%esp)\n\tmovl 2(%esp), %eax\n\tmovzwl (%esp), %edx\n\taddl $8, %esp\n" DONE
	ATTEMPT_BEGIN("sldt") "\tmovl $0x55, %eax\n\tsldt %ax\n" DONE
	ATTEMPT_BEGIN("str") "\tmovl $0x55, %eax\n\tstr %ax\n" DONE
	ATTEMPT_BEGIN("smsw") "\tsmsw %eax\n\tandl $0xffff, %eax\n" DONE
	ATTEMPT_BEGIN("push cs ss") "\tpushl %cs\n\tpopl %eax\n\tpushl %ss\n\tpopl %edx\n" DONE
	ATTEMPT_BEGIN("mov from cs") "\tmovl %cs, %eax\n" DONE
	/* CR4.OSFXSR is 0 here: XMM instructions and LDMXCSR are #UD, MMX
	 * and the fences are not */
	ATTEMPT_BEGIN("movaps without osfxsr") "\tmovaps %xmm1, %xmm0\n" DONE
	ATTEMPT_BEGIN("ldmxcsr without osfxsr") "\tldmxcsr (%esp)\n" DONE
	ATTEMPT_BEGIN("paddd xmm without osfxsr") "\tpaddd %xmm1, %xmm0\n" DONE
	ATTEMPT_BEGIN("paddd mmx") "\tpaddd %mm1, %mm0\n\temms\n" DONE
	ATTEMPT_BEGIN("sfence") "\tsfence\n" DONE
	/* call gates: 0x43 DPL 3 with 2 parameters to ring 0, 0x4b DPL 0,
	 * 0x53 not present (gate_target returns with RET 8 to ring 3) */
	ATTEMPT_BEGIN("lcall gate to ring 0") "\tpushl $0x1111\n\tpushl $0x2222\n"
	"\tlcall $0x43, $0\n" DONE
	ATTEMPT_BEGIN("ljmp gate to ring 0") "\tljmp $0x43, $0\n" DONE
	ATTEMPT_BEGIN("lcall gate dpl 0") "\tlcall $0x4b, $0\n" DONE
	ATTEMPT_BEGIN("lcall gate not present") "\tlcall $0x53, $0\n" DONE
	/* EFLAGS.AC set, CR0.AM clear: no alignment check */
	ATTEMPT_BEGIN("misaligned with ac") "\tpushfl\n\torl $0x40000, (%esp)\n\tpopfl\n"
	"\tmovl 1(%esp), %eax\n\tpushfl\n\tpopl %edx\n\tandl $0x40000, %edx\n" DONE
	".section .rodata.attempts, \"a\"\n.globl attempts_end\nattempts_end:\n"
	".text\n");

/* Ring 0, through the call gate: what it sees, back to ring 3 (popping
 * the two parameters from both stacks). EAX: its CS and SS; EDX: the
 * parameters; ECX: the caller's SS from the new stack. */
void gate_target(void);
__asm__(".text\n"
	"gate_target:\n"
	"	movl %cs, %eax\n"
	"	shll $16, %eax\n"
	"	movw %ss, %ax\n"
	"	movl 8(%esp), %edx\n"
	"	shll $16, %edx\n"
	"	orl 12(%esp), %edx\n"
	"	movl 20(%esp), %ecx\n"
	"	lret $8\n");

/* A 32-bit call gate descriptor. */
static void set_call_gate(int slot, void (*target)(void), unsigned dpl, bool present,
			  unsigned params)
{
	uint32_t off = (uint32_t)target;
	rt_gdt[slot].lo = (uint32_t)RT_CS << 16 | (off & 0xffff);
	rt_gdt[slot].hi = (off & 0xffff0000) | (present ? 0x8000u : 0) | dpl << 13 |
			  0xc00u | params;
}

static struct {
	uint32_t vector, error, eip, cr2, eax, edx;
} got;

static void hook(struct rt_frame *f)
{
	got.vector = f->vector;
	got.error = f->error;
	got.eip = f->eip;
	got.cr2 = 0;
	if (f->vector == 14)
		__asm__ volatile("mov %%cr2, %0" : "=r"(got.cr2));
	got.eax = f->eax;
	got.edx = f->edx;
	if ((f->cs & 3) != 3) {
		rt_printf("FAIL: vector %u in ring 0 at %x\n", f->vector, f->eip);
		rt_exit(3);
	}
	f->eip = (uint32_t)rt_resume_kernel;
	f->cs = RT_CS;
	f->eflags = 0x2;
}

/* 0x800000 supervisor, 0x801000 not present, 0x802000 read-only,
 * 0x803000 pt[2] itself; 0x804000 and 0x805000 hold markers (written
 * with paging still off: no TLB entry for them). */
static void special_pages(void)
{
	pt[2][0] = 0x800000 | 3;
	pt[2][1] = 0;
	pt[2][2] = 0x802000 | 5;
	pt[2][3] = (uint32_t)pt[2] | 7;
	*(volatile uint32_t *)0x804000 = 0x11111111;
	*(volatile uint32_t *)0x805000 = 0x22222222;
}

/*
 * With "de" on the command line, only the attempts whose outcome direct
 * execution must get right too (the host CPU runs them, the monitor
 * corrects what it reports): software interrupts through gates of either
 * DPL, prefixed; far transfers to the guest's own selectors and to ring 0;
 * call gates; page tables written from ring 3; memory below 64 KiB;
 * SYSCALL; EFLAGS.AC with CR0.AM clear. The rest read tables or flags the host CPU answers from its own
 * (docs/security.md).
 */
static const char *const de_subset[] = {
	"ljmp 0x08", "lcall 0x08", "lret 0x08", "iret 0x08",
	"ljmp 0x1b", "lcall 0x1b", "lret 0x1b", "iret 0x1b",
	"int3", "int 3", "into", "int 4", "prefixed int3", "int 0x21", "int 0x0e",
	"ud2", "prefixed int 0x80", "int 0x80 twice", "syscall",
	"write own page table", "below 64 KiB",
	"lcall gate to ring 0", "ljmp gate to ring 0", "lcall gate dpl 0",
	"lcall gate not present", "misaligned with ac",
};

static bool wanted(const char *name, bool de)
{
	if (!de)
		return true;
	for (unsigned i = 0; i < sizeof de_subset / sizeof de_subset[0]; i++)
		if (!rt_strcmp(name, de_subset[i]))
			return true;
	return false;
}

static bool has_word(const char *s, const char *w)
{
	uint32_t n = rt_strlen(w);
	for (const char *p = s; *p; p++)
		if ((p == s || p[-1] == ' ') && !rt_memcmp(p, w, n) && (p[n] == 0 || p[n] == ' '))
			return true;
	return false;
}

void guest_main(uint32_t magic, uint32_t info)
{
	const uint32_t *mbi = (const uint32_t *)info;
	bool de = magic == 0x2badb002 && (mbi[0] & 4) && has_word((const char *)mbi[4], "de");
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	rt_set_exception_hook(hook);
	/* No LDT: after reset LDTR is base 0, limit 0xffff, which would make
	 * the LDT selectors below read whatever lies at address 0. */
	__asm__ volatile("lldt %w0" ::"r"(0));
	rt_ring3_init(kstack + sizeof kstack);
	rt_gdt_set(6, 0xfffff000, 0xfffff, 0xf2, 0xc); /* 0x33 wraps */
	rt_gdt_set(7, 0, 0xfffff, 0x7a, 0xc);          /* 0x3b not present */
	set_call_gate(8, gate_target, 3, true, 2);     /* 0x43 */
	set_call_gate(9, gate_target, 0, true, 0);     /* 0x4b */
	set_call_gate(10, gate_target, 3, false, 0);   /* 0x53 */
	rt_lgdt();
	rt_identity_16m(pd, pt, special_pages);
	ustack_top = (uint32_t)(ustack + sizeof ustack);
	unsigned n = 0;
	for (const struct attempt *a = attempts; a < attempts_end; a++) {
		if (!wanted(a->name, de))
			continue;
		n++;
		got.vector = 0xff;
		rt_run_user(a->code, ustack_top);
		rt_printf("%s: v=%x e=%x at=+%x cr2=%x eax=%08x edx=%08x\n", a->name,
			  got.vector, got.error, got.eip - (uint32_t)a->code, got.cr2, got.eax,
			  got.edx);
	}
	rt_printf("%u attempts\n", n);
}
