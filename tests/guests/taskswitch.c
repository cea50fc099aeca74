/* Test guest: hardware task switches through IDT and GDT task gates, far CALL/JMP to TSSes, IRET with NT, and their faults. */
#include <stdbool.h>

#include "rt.h"

/*
 * The runtime's TSS (0x28, rt_ring3_init) is the main task's. The other
 * tasks are short assembly bodies that record what they see in globals,
 * then return to the main task (IRET with NT, or a JMP back to 0x28) and
 * loop, so a second switch into one resumes it after its return.
 *
 * GDT: 0x1b/0x23 ring-3 code/data, 0x28 main TSS, 0x30 TSS A, 0x38 TSS B
 * (#DF), 0x40 task gate -> A (DPL 0), 0x48 TSS with limit 0x66, 0x50 TSS
 * not present, 0x58 task gate -> 0x28 (busy), 0x60 TSS C (JMP), 0x68 TSS D
 * (its DS is beyond the GDT), 0x70 task gate -> A (DPL 3), 0x78 task gate
 * not present. IDT: 8 task gate -> B, 0x41 task gate -> A (DPL 0), 0x42
 * task gate -> A (DPL 3). Paging is on; task A runs on a page directory
 * of its own (the same mappings) so its CR3 load is seen.
 */

#define SEL_MAIN 0x28
#define SEL_A 0x30
#define SEL_B 0x38
#define SEL_GATE_A 0x40
#define SEL_SMALL 0x48
#define SEL_NP 0x50
#define SEL_GATE_BUSY 0x58
#define SEL_C 0x60
#define SEL_D 0x68
#define SEL_GATE_A3 0x70
#define SEL_GATE_NP 0x78
#define BAD_DS 0x7ff8

#define EFL_NT 0x4000u
#define CR0_TS 0x8u

/* TSS dword indexes (SDM vol. 3 figure 7-2). */
enum { T_LINK, T_ESP0, T_SS0, T_CR3 = 7, T_EIP, T_EFLAGS, T_EAX, T_ECX, T_EDX, T_EBX,
       T_ESP, T_EBP, T_ESI, T_EDI, T_ES, T_CS, T_SS, T_DS, T_FS, T_GS, T_LDT, T_IOMAP };

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pd_a[1024] __attribute__((aligned(4096)));
static uint32_t pt[4][1024] __attribute__((aligned(4096)));
static uint8_t kstack[4096] __attribute__((aligned(16)));
static uint8_t ustack[4096] __attribute__((aligned(16)));
static uint8_t stack_a[4096] __attribute__((aligned(16)));
static uint8_t stack_b[4096] __attribute__((aligned(16)));
static uint8_t stack_c[4096] __attribute__((aligned(16)));
static uint8_t stack_d[4096] __attribute__((aligned(16)));
uint32_t tss_a[26] __attribute__((aligned(128)));
uint32_t tss_b[26] __attribute__((aligned(128)));
uint32_t tss_c[26] __attribute__((aligned(128)));
uint32_t tss_d[26] __attribute__((aligned(128)));
static uint32_t tss_small[26] __attribute__((aligned(128)));

/* What the tasks saw. */
uint32_t a_runs, a_eflags, a_regs[8], a_tr, a_cr3, a_cr0, a_old_eip, a_old_cs;
uint8_t a_busy_main, a_busy_a;
uint32_t b_runs, b_error, b_eflags, b_old_eip, b_old_eax, b_old_ebx, b_esp;
uint32_t c_runs, c_eflags, c_tr;
uint8_t c_busy_main, c_busy_c;
uint32_t d_runs;
/* The main task's registers after its instruction, and where it resumes. */
uint32_t m_regs[8], m_eflags, far_ptr[2], resume_at;

/* Task A: the target of CALLs, gates and INTs (IRET back). */
void task_a(void), task_a_resumed(void);
__asm__(".text\n"
	"task_a:\n"
	"	pushfl\n"
	"	popl a_eflags\n"
	"	movl %eax, a_regs\n"
	"	movl %ecx, a_regs+4\n"
	"	movl %edx, a_regs+8\n"
	"	movl %ebx, a_regs+12\n"
	"	movl %esp, a_regs+16\n"
	"	movl %ebp, a_regs+20\n"
	"	movl %esi, a_regs+24\n"
	"	movl %edi, a_regs+28\n"
	"	str a_tr\n"
	"	movl %cr3, %eax\n"
	"	movl %eax, a_cr3\n"
	"	movl %cr0, %eax\n"
	"	movl %eax, a_cr0\n"
	"	movb rt_gdt+0x2d, %al\n"
	"	movb %al, a_busy_main\n"
	"	movb rt_gdt+0x35, %al\n"
	"	movb %al, a_busy_a\n"
	"	movl rt_tss+0x20, %eax\n"
	"	movl %eax, a_old_eip\n"
	"	movl rt_tss+0x4c, %eax\n"
	"	movl %eax, a_old_cs\n"
	"	incl a_runs\n"
	"	movl $0xdead0001, %eax\n"
	"	movl $0xdead0002, %ebx\n"
	"	iret\n"
	"task_a_resumed:\n"
	"	jmp task_a\n");

/* Task B: the #DF handler. It takes its error code, makes the faulting
 * task resume at resume_at, and returns to it. */
void task_b(void);
__asm__(".text\n"
	"task_b:\n"
	"	popl b_error\n"
	"	pushfl\n"
	"	popl b_eflags\n"
	"	movl rt_tss+0x20, %eax\n"
	"	movl %eax, b_old_eip\n"
	"	movl rt_tss+0x28, %eax\n"
	"	movl %eax, b_old_eax\n"
	"	movl rt_tss+0x34, %eax\n"
	"	movl %eax, b_old_ebx\n"
	"	movl %esp, b_esp\n"
	"	incl b_runs\n"
	"	movl resume_at, %eax\n"
	"	movl %eax, rt_tss+0x20\n"
	"	iret\n"
	"	jmp task_b\n");

/* Task C: reached by JMP, leaves by JMP back to the main task. */
void task_c(void), task_c_resumed(void);
__asm__(".text\n"
	"task_c:\n"
	"	pushfl\n"
	"	popl c_eflags\n"
	"	str c_tr\n"
	"	movb rt_gdt+0x2d, %al\n"
	"	movb %al, c_busy_main\n"
	"	movb rt_gdt+0x65, %al\n"
	"	movb %al, c_busy_c\n"
	"	incl c_runs\n"
	"	ljmp $0x28, $0\n"
	"task_c_resumed:\n"
	"	jmp task_c\n");

/* Task D: its DS load faults (#TS in its own context); the handler
 * resumes it at task_d_fixup, which loads good data segments and returns. */
void task_d(void), task_d_fixup(void);
__asm__(".text\n"
	"task_d:\n"
	"	hlt\n" /* never runs: the switch faults first */
	"task_d_fixup:\n"
	"	movw $0x10, %ax\n"
	"	movw %ax, %ds\n"
	"	movw %ax, %fs\n"
	"	movw %ax, %gs\n"
	"	incl d_runs\n"
	"	iret\n"
	"	jmp task_d_fixup\n");

/*
 * Main-task routines: each loads known values into every register, runs
 * one instruction (the selector argument in far_ptr+4 for the far ones)
 * and stores the registers it finds after it in m_regs. A fault resumes
 * at the same place (the hook goes to resume_at).
 */
#define SETREGS                                                         \
	"	movl $0x11111111, %eax\n	movl $0x33333333, %ecx\n"     \
	"	movl $0x44444444, %edx\n	movl $0x22222222, %ebx\n"     \
	"	movl $0x77777777, %ebp\n	movl $0x55555555, %esi\n"     \
	"	movl $0x66666666, %edi\n"
#define SAVEREGS                                                        \
	"	movl %eax, m_regs\n	movl %ecx, m_regs+4\n"                \
	"	movl %edx, m_regs+8\n	movl %ebx, m_regs+12\n"               \
	"	movl %esp, m_regs+16\n	movl %ebp, m_regs+20\n"               \
	"	movl %esi, m_regs+24\n	movl %edi, m_regs+28\n"               \
	"	pushfl\n	popl m_eflags\n"
#define ROUTINE(name, insn)                                             \
	".text\n.globl " name "\n" name ":\n"                           \
	"	pushal\n	movl 36(%esp), %eax\n	movl %eax, far_ptr+4\n" \
	"	movl $" name "_ret, resume_at\n" SETREGS                 \
	".globl " name "_at\n" name "_at:\n" insn "\n"                   \
	".globl " name "_ret\n" name "_ret:\n" SAVEREGS "	popal\n	ret\n"
void far_call(uint32_t sel), far_jmp(uint32_t sel), int41(uint32_t unused), load_bad_ds(uint32_t unused);
extern const char far_call_at[], far_jmp_at[], load_bad_ds_at[];
extern const char far_call_ret[], int41_ret[];
__asm__(ROUTINE("far_call", "	lcall *far_ptr")
	ROUTINE("far_jmp", "	ljmp *far_ptr")
	ROUTINE("int41", "	int $0x41")
	ROUTINE("load_bad_ds", "	movw %dx, %ds"));

static uint32_t ustack_top;
extern const char user_gate_dpl0[], user_int41[], user_int42[], user_int42_ret[],
	user_gate_dpl3[], user_gate_dpl3_ret[];
__asm__(".text\n"
	"user_gate_dpl0:\n	lcall $0x43, $0\n	int $0x80\n"
	"user_int41:\n	int $0x41\n	int $0x80\n"
	"user_int42:\n	movl $0x12345678, %esi\n	int $0x42\n"
	"user_int42_ret:\n	movl %esi, %eax\n	int $0x80\n"
	"user_gate_dpl3:\n	movl $0x9abcdef0, %esi\n	lcall $0x73, $0\n"
	"user_gate_dpl3_ret:\n	movl %esi, %eax\n	int $0x80\n");

static struct {
	uint32_t count, vector, error, eip, cs, eax;
} ex;
static bool in_user;
static uint16_t ex_tr;
static bool ex_eip_ok;

static void hook(struct rt_frame *f)
{
	ex.count++;
	ex.vector = f->vector;
	ex.error = f->error;
	ex.eip = f->eip;
	ex.cs = f->cs;
	ex.eax = f->eax;
	if (f->vector == 10 && f->error == BAD_DS) {
		/* In task D. The SDM says the fault points at its first
		 * instruction; QEMU reports the far CALL's EIP: either is
		 * taken, and neither printed, so the outputs still compare. */
		__asm__ volatile("str %0" : "=m"(ex_tr));
		ex_eip_ok = f->eip == (uint32_t)task_d || f->eip == (uint32_t)far_call_at;
		f->eip = (uint32_t)task_d_fixup;
		return;
	}
	if (in_user) {
		f->eip = (uint32_t)rt_resume_kernel;
		f->cs = RT_CS;
		f->eflags = 0x2;
		return;
	}
	if (!resume_at) {
		rt_printf("UNEXPECTED EXCEPTION %u error %x eip %x\n", f->vector, f->error, f->eip);
		rt_exit(3);
	}
	f->eip = resume_at;
}

static void init_tss(uint32_t *t, void (*eip)(void), uint8_t *stack, uint32_t *cr3)
{
	rt_memset(t, 0, 26 * 4);
	t[T_CR3] = (uint32_t)cr3;
	t[T_EIP] = (uint32_t)eip;
	t[T_EFLAGS] = 0x2;
	for (int r = T_EAX; r <= T_EDI; r++)
		t[r] = 0xa0000000u + (uint32_t)r;
	t[T_ESP] = (uint32_t)stack + 4096;
	t[T_ES] = t[T_SS] = t[T_DS] = t[T_FS] = t[T_GS] = RT_DS;
	t[T_CS] = RT_CS;
	t[T_IOMAP] = 0x68u << 16;
}

static void set_tss_desc(int slot, uint32_t *t, uint32_t limit, uint8_t access)
{
	rt_gdt_set(slot, (uint32_t)t, limit, access, 0);
}

/* A task gate: TSS selector in bits 16-31, P DPL 0 0101 in the access byte. */
static void set_task_gate(struct rt_desc *d, uint16_t tss, unsigned dpl, bool present)
{
	d->lo = (uint32_t)tss << 16;
	d->hi = (present ? 0x8000u : 0) | dpl << 13 | 0x500u;
}

static struct rt_desc *idt(void)
{
	struct __attribute__((packed)) { uint16_t limit; uint32_t base; } idtr;
	__asm__ volatile("sidt %0" : "=m"(idtr));
	return (struct rt_desc *)idtr.base;
}

static uint8_t access_of(uint16_t sel)
{
	return (uint8_t)(rt_gdt[sel >> 3].hi >> 8);
}

static uint32_t read_cr0(void)
{
	uint32_t v;
	__asm__ volatile("mov %%cr0, %0" : "=r"(v));
	return v;
}

static uint32_t read_cr3(void)
{
	uint32_t v;
	__asm__ volatile("mov %%cr3, %0" : "=r"(v));
	return v;
}

static void clts(void)
{
	__asm__ volatile("clts");
}

/* The main task's registers came back from its TSS as they were. */
static void check_main_regs(void)
{
	static const uint32_t want[8] = { 0x11111111, 0x33333333, 0x44444444, 0x22222222,
					  0, 0x77777777, 0x55555555, 0x66666666 };
	for (int r = 0; r < 8; r++)
		if (r != 4)
			RT_CHECK_EQ(m_regs[r], want[r]);
	RT_CHECK_EQ(m_eflags & EFL_NT, 0);
}

/* One fault, with this vector and error code, at the routine's instruction. */
static void expect_fault(uint32_t vector, uint32_t error, const char *at)
{
	RT_CHECK_EQ(ex.count, 1);
	RT_CHECK_EQ(ex.vector, vector);
	RT_CHECK_EQ(ex.error, error);
	RT_CHECK_EQ(ex.eip, (uint32_t)at);
	rt_printf("  vector %u error %x\n", ex.vector, ex.error);
	ex.count = 0;
}

/* Task A was entered once by a nested switch from the main task. */
static void check_task_a_entry(uint32_t saved_eip, uint32_t old_cs)
{
	RT_CHECK_EQ(a_runs, 1);
	RT_CHECK_EQ(a_tr, SEL_A);
	RT_CHECK_EQ(tss_a[T_LINK], SEL_MAIN);
	RT_CHECK_EQ(a_eflags & EFL_NT, EFL_NT);
	RT_CHECK_EQ(a_regs[0], 0xa000000a);
	RT_CHECK_EQ(a_regs[3], 0xa000000d);
	RT_CHECK_EQ(a_regs[4], (uint32_t)stack_a + 4096);
	RT_CHECK_EQ(a_regs[7], 0xa0000011);
	RT_CHECK_EQ(a_cr3, (uint32_t)pd_a);
	RT_CHECK_EQ(a_cr0 & CR0_TS, CR0_TS);
	RT_CHECK_EQ(a_busy_main, 0x8b);
	RT_CHECK_EQ(a_busy_a, 0x8b);
	RT_CHECK_EQ(a_old_eip, saved_eip);
	RT_CHECK_EQ(a_old_cs & 0xffff, old_cs);
	/* Back: A saved where it returned, and is available again. */
	RT_CHECK_EQ(tss_a[T_EIP], (uint32_t)task_a_resumed);
	RT_CHECK_EQ(tss_a[T_EAX], 0xdead0001);
	RT_CHECK_EQ(tss_a[T_EFLAGS] & EFL_NT, 0);
	RT_CHECK_EQ(access_of(SEL_A), 0x89);
	RT_CHECK_EQ(access_of(SEL_MAIN), 0x8b);
	rt_printf("  task A: tr %x link %x eflags %x cr3 %s busy %x/%x\n", a_tr, tss_a[T_LINK],
		  a_eflags, a_cr3 == (uint32_t)pd_a ? "own" : "other", a_busy_main, a_busy_a);
	a_runs = 0;
	init_tss(tss_a, task_a, stack_a, pd_a);
}

static void call_tests(void)
{
	rt_section("far call to a tss, iret back");
	far_call(SEL_A);
	check_main_regs();
	RT_CHECK_EQ(read_cr3(), (uint32_t)pd);
	RT_CHECK_EQ(read_cr0() & CR0_TS, CR0_TS);
	clts();
	check_task_a_entry((uint32_t)far_call_ret, RT_CS); /* after the lcall */
	rt_section_end();

	rt_section("far call through a gdt task gate");
	far_call(SEL_GATE_A);
	check_main_regs();
	clts();
	check_task_a_entry((uint32_t)far_call_ret, RT_CS);
	rt_section_end();

	rt_section("int through an idt task gate");
	int41(0);
	check_main_regs();
	clts();
	check_task_a_entry((uint32_t)int41_ret, RT_CS);
	rt_section_end();
}

static void jmp_tests(void)
{
	rt_section("far jmp to a tss and back");
	tss_c[T_LINK] = 0x1234;
	rt_tss[T_LINK] = 0x5678;
	far_jmp(SEL_C);
	check_main_regs();
	clts();
	RT_CHECK_EQ(c_runs, 1);
	RT_CHECK_EQ(c_tr, SEL_C);
	RT_CHECK_EQ(c_eflags & EFL_NT, 0);
	RT_CHECK_EQ(c_busy_main, 0x89); /* the JMP cleared it */
	RT_CHECK_EQ(c_busy_c, 0x8b);
	RT_CHECK_EQ(tss_c[T_LINK], 0x1234); /* no back-link either way */
	RT_CHECK_EQ(rt_tss[T_LINK], 0x5678);
	RT_CHECK_EQ(tss_c[T_EIP], (uint32_t)task_c_resumed);
	RT_CHECK_EQ(access_of(SEL_C), 0x89);
	RT_CHECK_EQ(access_of(SEL_MAIN), 0x8b);
	rt_printf("  task C: tr %x eflags %x busy %x/%x\n", c_tr, c_eflags, c_busy_main, c_busy_c);
	far_jmp(SEL_C); /* again: C resumes after its JMP */
	clts();
	RT_CHECK_EQ(c_runs, 2);
	rt_tss[T_LINK] = 0;
	rt_section_end();
}

static void double_fault_test(void)
{
	rt_section("#df through an idt task gate");
	struct rt_desc *gp = &idt()[13], saved = *gp;
	gp->hi &= ~0x8000u; /* #GP's gate not present: #GP then #NP is #DF */
	load_bad_ds(0);
	*gp = saved;
	check_main_regs();
	clts();
	RT_CHECK_EQ(ex.count, 0);
	RT_CHECK_EQ(b_runs, 1);
	RT_CHECK_EQ(b_error, 0);
	RT_CHECK_EQ(b_eflags & EFL_NT, EFL_NT);
	RT_CHECK_EQ(tss_b[T_LINK], SEL_MAIN);
	RT_CHECK_EQ(b_old_eip, (uint32_t)load_bad_ds_at);
	RT_CHECK_EQ(b_old_eax, 0x11111111);
	RT_CHECK_EQ(b_old_ebx, 0x22222222);
	RT_CHECK_EQ(b_esp, (uint32_t)stack_b + 4096); /* the error code was on its stack */
	RT_CHECK_EQ(access_of(SEL_B), 0x89);
	rt_printf("  handler task: error %x link %x eflags %x\n", b_error, tss_b[T_LINK], b_eflags);
	rt_section_end();
}

static void fault_tests(void)
{
	rt_section("task switch faults");
	far_call(SEL_MAIN); /* busy */
	expect_fault(13, SEL_MAIN, far_call_at);
	far_jmp(SEL_SMALL);
	expect_fault(10, SEL_SMALL, far_jmp_at);
	far_call(SEL_NP);
	expect_fault(11, SEL_NP, far_call_at);
	far_call(SEL_GATE_BUSY); /* a gate to a busy TSS */
	expect_fault(13, SEL_MAIN, far_call_at);
	far_jmp(SEL_GATE_NP);
	expect_fault(11, SEL_GATE_NP, far_jmp_at);
	far_call(SEL_A | 3); /* RPL above the TSS's DPL */
	expect_fault(13, SEL_A, far_call_at);
	check_main_regs();
	RT_CHECK_EQ(access_of(SEL_A), 0x89);
	RT_CHECK_EQ(access_of(SEL_SMALL), 0x89);
	RT_CHECK_EQ(access_of(SEL_MAIN), 0x8b);
	RT_CHECK_EQ(a_runs, 0);
	rt_section_end();

	rt_section("fault in the new task's context");
	far_call(SEL_D);
	RT_CHECK_EQ(ex.count, 1);
	RT_CHECK_EQ(ex.vector, 10);
	RT_CHECK_EQ(ex.error, BAD_DS);
	RT_CHECK(ex_eip_ok);
	RT_CHECK_EQ(ex_tr, SEL_D);
	RT_CHECK_EQ(d_runs, 1);
	RT_CHECK_EQ(tss_d[T_LINK], SEL_MAIN);
	RT_CHECK_EQ(access_of(SEL_D), 0x89);
	check_main_regs();
	clts();
	rt_printf("  vector %u error %x in task D\n", ex.vector, ex.error);
	ex.count = 0;
	rt_section_end();
}

static void user_tests(void)
{
	rt_section("task gates from ring 3");
	in_user = true;
	rt_run_user(user_gate_dpl0, ustack_top);
	RT_CHECK_EQ(ex.vector, 13);
	RT_CHECK_EQ(ex.error, SEL_GATE_A);
	RT_CHECK_EQ(ex.eip, (uint32_t)user_gate_dpl0);
	rt_run_user(user_int41, ustack_top);
	RT_CHECK_EQ(ex.vector, 13);
	RT_CHECK_EQ(ex.error, 0x41 * 8 + 2);
	RT_CHECK_EQ(ex.eip, (uint32_t)user_int41);
	RT_CHECK_EQ(a_runs, 0);
	/* Through DPL-3 gates to the ring-0 task A and back to ring 3. */
	rt_run_user(user_int42, ustack_top);
	RT_CHECK_EQ(ex.vector, 0x80);
	RT_CHECK_EQ(ex.cs & 3, 3);
	RT_CHECK_EQ(ex.eax, 0x12345678);
	clts();
	check_task_a_entry((uint32_t)user_int42_ret, 0x1b);
	rt_run_user(user_gate_dpl3, ustack_top);
	RT_CHECK_EQ(ex.vector, 0x80);
	RT_CHECK_EQ(ex.eax, 0x9abcdef0);
	clts();
	check_task_a_entry((uint32_t)user_gate_dpl3_ret, 0x1b);
	in_user = false;
	ex.count = 0;
	rt_section_end();
}

void guest_main(uint32_t magic, uint32_t info)
{
	(void)magic;
	(void)info;
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	rt_set_exception_hook(hook);
	__asm__ volatile("lldt %w0" ::"r"(0));
	rt_ring3_init(kstack + sizeof kstack);
	init_tss(tss_a, task_a, stack_a, pd_a);
	init_tss(tss_b, task_b, stack_b, pd);
	init_tss(tss_c, task_c, stack_c, pd);
	init_tss(tss_d, task_d, stack_d, pd);
	tss_d[T_DS] = BAD_DS;
	set_tss_desc(6, tss_a, 0x67, 0x89);
	set_tss_desc(7, tss_b, 0x67, 0x89);
	set_task_gate(&rt_gdt[8], SEL_A, 0, true);
	set_tss_desc(9, tss_small, 0x66, 0x89);
	set_tss_desc(10, tss_small, 0x67, 0x09);
	set_task_gate(&rt_gdt[11], SEL_MAIN, 0, true);
	set_tss_desc(12, tss_c, 0x67, 0x89);
	set_tss_desc(13, tss_d, 0x67, 0x89);
	set_task_gate(&rt_gdt[14], SEL_A, 3, true);
	set_task_gate(&rt_gdt[15], SEL_A, 0, false);
	rt_lgdt();
	struct rt_desc *t = idt();
	set_task_gate(&t[8], SEL_B, 0, true);
	set_task_gate(&t[0x41], SEL_A, 0, true);
	set_task_gate(&t[0x42], SEL_A, 3, true);
	rt_identity_16m(pd, pt, 0);
	for (int i = 0; i < 1024; i++)
		pd_a[i] = pd[i];
	rt_tss[T_CR3] = (uint32_t)pd; /* the main task's, loaded on every return */
	ustack_top = (uint32_t)ustack + sizeof ustack;

	call_tests();
	jmp_tests();
	double_fault_test();
	fault_tests();
	user_tests();
}
