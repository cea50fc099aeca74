/* bench: nanobenchmark guest — single operations (system calls, port I/O, faults, MMU, interrupts) timed with RDTSC. */
#include "rt.h"
#include "guestargs.h"

/*
 * Command line: "[op=NAME] [iters=N]".
 *   no iters=  check mode: every op (or op=NAME) 200 times, its result
 *              checked; prints "ok NAME" per op and nothing timing-related,
 *              so the output is the same under any VMM (guest.nano).
 *   iters=N    timing mode: every op (or op=NAME) N times, each loop timed
 *              with RDTSC; prints "nano tsc-khz=K" once, then per op
 *              "nano op=NAME iters=N cycles=C ns=T" (per iteration, one
 *              decimal, loop overhead included) after its "ok NAME".
 * An unknown op prints one line and exits with code 1 (status 3).
 *
 * The TSC is calibrated against the ACPI PM timer (port 0x608, 24 bits at
 * 3.579545 MHz), where the firmware (SeaBIOS under QEMU, btvmm's own
 * tables) puts it on a PIIX4-style PC.
 *
 * Ring-3 ops (syscall-*, pgfault, divzero) read RDTSC in ring 3 around
 * their loop, so entering and leaving ring 3 is not counted; the others
 * run at ring 0. Paging is on throughout: the first 16 MiB identity-mapped
 * user read/write (bench/userguest.c does the same: a benchmark, not a
 * sandbox), the local APIC page supervisor-only and uncached.
 */

#define CHECK_ITERS 200u

#define PM_TMR_PORT 0x608
#define PM_TMR_HZ 3579545u
#define PM_TMR_MASK 0xffffffu
#define CALIBRATE_TICKS (PM_TMR_HZ / 50) /* 20 ms */

#define COM1_LSR 0x3fd
#define LSR_THRE_TEMT 0x60 /* transmitter idle: what polling output leaves */
#define UNCLAIMED_PORT 0x2e0 /* no device at it under QEMU's pc nor btvmm */

#define LAPIC 0xfee00000u
#define APIC_VER 0x30
#define APIC_EOI 0xb0
#define APIC_SVR 0xf0
#define APIC_ICR 0x300
#define ICR_SELF (1u << 18) /* destination shorthand: self; fixed delivery */
#define LAPIC_VERSION 0x14u /* QEMU's, and btvmm's (devices/pc_map.h) */
#define TIMER_VECTOR 0x40
#define SPIN_LIMIT 10000000u

#define PTE_P 1u
#define PTE_W 2u
#define PTE_U 4u
#define PTE_PWT 8u
#define PTE_PCD 16u
#define PTE_A 32u
#define CR0_WP 0x10000u

/* Linear 400 MiB: mapped through spare_pt, a page table in use whose
 * entries ptemod rewrites (a traced table under shadow paging). */
#define SPARE_PDE 100u
/* Linear 404 MiB: page_a through pd[0], page_b through pd[1] (cr3). */
#define ALIAS_PDE 101u

static uint32_t pd[2][1024] __attribute__((aligned(4096)));
static uint32_t pt[4][1024] __attribute__((aligned(4096)));
static uint32_t spare_pt[1024] __attribute__((aligned(4096)));
static uint32_t alias_pt[2][1024] __attribute__((aligned(4096)));
static uint32_t apic_pt[1024] __attribute__((aligned(4096)));
static volatile uint32_t page_a[1024] __attribute__((aligned(4096)));
static volatile uint32_t page_b[1024] __attribute__((aligned(4096)));
static volatile uint8_t ro_page[4096] __attribute__((aligned(4096)));
static volatile uint8_t fault_pages[2][4096] __attribute__((aligned(4096)));
static uint8_t kstack[8192] __attribute__((aligned(16)));
static uint8_t ustack[8192] __attribute__((aligned(16)));

/* Shared with the assembly below (and with ring 3: every page is U). */
volatile uint32_t nano_n, nano_calls, nano_ticks;
volatile uint64_t nano_t0, nano_t1;

void nano_int80(void);
void nano_sysenter(void);
void nano_timer_isr(void);
void nano_ret(void);
extern char user_int80[], user_sysenter[], user_pgfault[], user_divzero[];

/*
 * Kernel entries. int $0x80 and SYSENTER are null system calls that count
 * themselves; int $0x80 with EAX = -1 means the ring-3 program is done:
 * back to rt_run_user's caller. The timer ISR counts and EOIs the self-IPI.
 */
__asm__(".text\n"
	".globl nano_int80\n"
	"nano_int80:\n"
	"\tcmpl $-1, %eax\n\tje rt_resume_kernel\n"
	"\tincl nano_calls\n"
	"\tiret\n"
	/* SYSEXIT returns to EDX with ESP = ECX, both the caller's. */
	".globl nano_sysenter\n"
	"nano_sysenter:\n"
	"\tincl nano_calls\n"
	"\tsti\n" /* SYSENTER cleared IF, SYSEXIT does not set it */
	"\tsysexit\n"
	".globl nano_timer_isr\n"
	"nano_timer_isr:\n"
	"\tincl nano_ticks\n"
	"\tmovl $0, 0xfee000b0\n" /* APIC_EOI */
	"\tiret\n"
	".globl nano_ret\n"
	"nano_ret:\n"
	"\tret\n");

/*
 * Ring-3 programs: TSC into nano_t0, nano_n iterations of the op, TSC into
 * nano_t1, then the exit call. ESI counts down.
 */
__asm__(".macro USER_BEGIN\n"
	"\trdtsc\n\tmovl %eax, nano_t0\n\tmovl %edx, nano_t0+4\n"
	"\tmovl nano_n, %esi\n"
	"\ttestl %esi, %esi\n\tjz 2f\n"
	"1:\n"
	".endm\n"
	".macro USER_END\n"
	"\tdecl %esi\n\tjnz 1b\n"
	"2:\trdtsc\n\tmovl %eax, nano_t1\n\tmovl %edx, nano_t1+4\n"
	"\tmovl $-1, %eax\n\tint $0x80\n"
	".endm\n"
	".text\n"
	"user_int80:\n"
	"\tUSER_BEGIN\n"
	"\txorl %eax, %eax\n\tint $0x80\n"
	"\tUSER_END\n"
	/* Linux's vDSO convention: the caller's EBP saved at ESP, EBP = ESP. */
	"user_sysenter:\n"
	"\tUSER_BEGIN\n"
	"\txorl %eax, %eax\n\tpushl %ebp\n\tmovl %esp, %ebp\n"
	"\tmovl %esp, %ecx\n\tmovl $3f, %edx\n\tsysenter\n"
	"3:\tpopl %ebp\n"
	"\tUSER_END\n"
	/* Reads fault_pages[ESI & 1]: the kernel keeps only the other present. */
	"user_pgfault:\n"
	"\tUSER_BEGIN\n"
	"\tmovl %esi, %eax\n\tandl $1, %eax\n\tshll $12, %eax\n"
	"\tmovzbl fault_pages(%eax), %eax\n"
	"\tUSER_END\n"
	/* DIV by zero; the kernel skips the two-byte divl %ecx. */
	"user_divzero:\n"
	"\tUSER_BEGIN\n"
	"\txorl %ecx, %ecx\n\txorl %edx, %edx\n\tmovl $1, %eax\n"
	"\tdivl %ecx\n"
	"\tUSER_END\n");

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

static inline uint32_t lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(LAPIC + reg);
}

static inline void lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(LAPIC + reg) = v;
}

static void wrmsr(uint32_t msr, uint32_t v)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"(v), "d"(0));
}

static inline void invlpg(const volatile void *p)
{
	__asm__ volatile("invlpg (%0)" ::"r"(p) : "memory");
}

/* a / b without libgcc: two 64/32 DIVs, the high word's remainder carried
 * into the low word's (so the second quotient fits in 32 bits). */
static uint64_t div64(uint64_t a, uint32_t b)
{
	uint32_t hi = (uint32_t)(a >> 32), qhi = hi / b, r = hi % b, qlo;
	__asm__("divl %4" : "=a"(qlo), "=d"(r) : "a"((uint32_t)a), "d"(r), "rm"(b));
	return (uint64_t)qhi << 32 | qlo;
}

static uint32_t *pte_of(const volatile void *p)
{
	uint32_t l = (uint32_t)p;
	return &pt[l >> 22][(l >> 12) & 1023];
}

/*
 * #PF from ring 3 on fault_pages[k]: map page k, unmap the other (so the
 * next access, to the other page, faults again). #DE from ring 3: skip
 * the DIV. Both count in nano_calls. Anything else ends the run.
 */
static void on_exception(struct rt_frame *f)
{
	uint32_t cr2;
	if ((f->cs & 3) != 3)
		goto unexpected;
	if (f->vector == 0) {
		f->eip += 2;
		nano_calls++;
		return;
	}
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	uint32_t k = (cr2 - (uint32_t)fault_pages) >> 12;
	if (f->vector != 14 || k > 1)
		goto unexpected;
	*pte_of(fault_pages[k]) |= PTE_P;
	*pte_of(fault_pages[k ^ 1]) &= ~PTE_P;
	invlpg(fault_pages[k ^ 1]);
	nano_calls++;
	return;
unexpected:
	rt_printf("nano: unexpected exception %u at %x\n", f->vector, f->eip);
	rt_exit(1);
}

/* Called by rt_identity_16m before paging goes on: the extra mappings. */
static void map_extras(void)
{
	for (uint32_t e = 0; e < 1024; e++)
		spare_pt[e] = (uint32_t)page_a | PTE_P | PTE_W;
	pd[0][SPARE_PDE] = (uint32_t)spare_pt | PTE_P | PTE_W;
	alias_pt[0][0] = (uint32_t)page_a | PTE_P | PTE_W;
	alias_pt[1][0] = (uint32_t)page_b | PTE_P | PTE_W;
	pd[0][ALIAS_PDE] = (uint32_t)alias_pt[0] | PTE_P | PTE_W;
	apic_pt[(LAPIC >> 12) & 1023] = LAPIC | PTE_P | PTE_W | PTE_PCD | PTE_PWT;
	pd[0][LAPIC >> 22] = (uint32_t)apic_pt | PTE_P | PTE_W;
	*pte_of(ro_page) &= ~PTE_W;
	*pte_of(fault_pages[0]) &= ~PTE_P;
	*pte_of(fault_pages[1]) &= ~PTE_P;
}

static void setup(void)
{
	outb(0x21, 0xff); /* PIC masked: only the self-IPI interrupts */
	outb(0xa1, 0xff);
	rt_ring3_init(kstack + sizeof kstack);
	rt_idt_set(0x80, nano_int80, 0xee);
	rt_idt_set(TIMER_VECTOR, nano_timer_isr, 0x8e);
	rt_lidt();
	/* SYSENTER: CS 0x08, SS 0x10; SYSEXIT: CS 0x1b, SS 0x23 (+16, +24). */
	wrmsr(0x174, RT_CS);
	wrmsr(0x175, (uint32_t)(kstack + sizeof kstack));
	wrmsr(0x176, (uint32_t)nano_sysenter);
	rt_identity_16m(pd[0], pt, map_extras);
	for (uint32_t e = 0; e < 1024; e++)
		pd[1][e] = pd[0][e];
	pd[1][ALIAS_PDE] = (uint32_t)alias_pt[1] | PTE_P | PTE_W;
	/* Touch the spare table's region: from now on it is in use (traced). */
	(void)*(volatile uint32_t *)(SPARE_PDE << 22);
	lapic_write(APIC_SVR, 0x1ff); /* software-enabled, spurious 0xff */
	rt_set_exception_hook(on_exception);
	/* Ring 3 with IF set: btvmm runs ring 3 directly (--de on) only then.
	 * Nothing interrupts it: the PIC is masked, the LAPIC sends nothing
	 * unasked. */
	rt_user_eflags = 0x202;
}

/* Run one ring-3 program over n iterations; its cycles. */
static uint64_t run_user(char *code, uint32_t n)
{
	nano_n = n;
	nano_calls = 0;
	rt_run_user(code, (uint32_t)(ustack + sizeof ustack));
	return nano_t1 - nano_t0;
}

static uint64_t op_syscall_int80(uint32_t n)
{
	uint64_t c = run_user(user_int80, n);
	RT_CHECK_EQ(nano_calls, n);
	return c;
}

static uint64_t op_syscall_sysenter(uint32_t n)
{
	uint64_t c = run_user(user_sysenter, n);
	RT_CHECK_EQ(nano_calls, n);
	return c;
}

static uint64_t op_pgfault(uint32_t n)
{
	uint64_t c = run_user(user_pgfault, n);
	RT_CHECK_EQ(nano_calls, n);
	return c;
}

static uint64_t op_divzero(uint32_t n)
{
	uint64_t c = run_user(user_divzero, n);
	RT_CHECK_EQ(nano_calls, n);
	return c;
}

static uint64_t op_in(uint32_t n)
{
	uint8_t lsr = 0;
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		lsr = inb(COM1_LSR);
	uint64_t t1 = rdtsc();
	RT_CHECK_EQ(lsr & LSR_THRE_TEMT, LSR_THRE_TEMT);
	return t1 - t0;
}

static uint64_t op_out(uint32_t n)
{
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		outb(UNCLAIMED_PORT, (uint8_t)i);
	uint64_t t1 = rdtsc();
	RT_CHECK_EQ(inb(UNCLAIMED_PORT), 0xff); /* still nothing there */
	return t1 - t0;
}

static uint32_t eflags(void)
{
	uint32_t f;
	__asm__ volatile("pushfl\n\tpopl %0" : "=r"(f));
	return f;
}

static uint64_t op_cli_sti(uint32_t n)
{
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		__asm__ volatile("cli\n\tsti");
	uint64_t t1 = rdtsc();
	RT_CHECK_EQ(eflags() & 0x200, 0x200);
	__asm__ volatile("cli");
	return t1 - t0;
}

/* POPF alternating IF set and clear (an IF change is what a BT VMM must
 * virtualize; the PUSH of a register is not sensitive). */
static uint64_t op_popf(uint32_t n)
{
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		__asm__ volatile("pushl %0\n\tpopfl" ::"r"(0x2 | (i & 1) << 9) : "cc");
	uint64_t t1 = rdtsc();
	RT_CHECK_EQ(eflags() & 0x200, (n & 1) ? 0 : 0x200);
	__asm__ volatile("cli");
	return t1 - t0;
}

static uint64_t op_call_ret(uint32_t n)
{
	uint32_t i;
	uint64_t t0 = rdtsc();
	for (i = 0; i < n; i++)
		__asm__ volatile("call nano_ret" ::: "memory");
	uint64_t t1 = rdtsc();
	RT_CHECK_EQ(i, n);
	return t1 - t0;
}

/* JMP through a register to one of two targets, alternating. */
static uint64_t op_jmp_indirect(uint32_t n)
{
	uint32_t odd = 0;
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		__asm__ volatile("testl $1, %1\n\t"
				 "movl $1f, %%eax\n\t"
				 "jz 3f\n\t"
				 "movl $2f, %%eax\n"
				 "3:\tjmp *%%eax\n"
				 "1:\tjmp 4f\n"
				 "2:\tincl %0\n"
				 "4:"
				 : "+r"(odd) : "r"(i) : "eax", "cc");
	uint64_t t1 = rdtsc();
	RT_CHECK_EQ(odd, n / 2);
	return t1 - t0;
}

/* A store to an entry of the spare table (in use), then INVLPG of the
 * address it maps; A alternates so every store changes the entry. */
static uint64_t op_ptemod(uint32_t n)
{
	volatile uint32_t *pte = &spare_pt[7];
	volatile uint32_t *lin = (volatile uint32_t *)((SPARE_PDE << 22) + 7 * 4096);
	uint32_t base = (uint32_t)page_b | PTE_P | PTE_W;
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++) {
		*pte = base | (i & 1) * PTE_A;
		invlpg(lin);
	}
	uint64_t t1 = rdtsc();
	page_b[0] = 0x6e616e6f;
	RT_CHECK_EQ(*lin, 0x6e616e6f);
	return t1 - t0;
}

/* MOV CR3 to the other page directory, then one read through ALIAS_PDE:
 * page_a (1) under pd[0], page_b (2) under pd[1]. */
static uint64_t op_cr3(uint32_t n)
{
	volatile uint32_t *alias = (volatile uint32_t *)(ALIAS_PDE << 22);
	uint32_t sum = 0, want = 0;
	page_a[0] = 1;
	page_b[0] = 2;
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++) {
		__asm__ volatile("mov %0, %%cr3" ::"r"(pd[(i + 1) & 1]) : "memory");
		sum += *alias;
	}
	uint64_t t1 = rdtsc();
	__asm__ volatile("mov %0, %%cr3" ::"r"(pd[0]) : "memory");
	for (uint32_t i = 0; i < n; i++)
		want += (i & 1) ? 1 : 2;
	RT_CHECK_EQ(sum, want);
	return t1 - t0;
}

/* CR0.WP cleared, a ring-0 store to a read-only page, WP set again:
 * Linux's way of patching its own text. */
static uint64_t op_cr0_wp(uint32_t n)
{
	uint32_t cr0;
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++) {
		__asm__ volatile("mov %0, %%cr0" ::"r"(cr0 & ~CR0_WP) : "memory");
		ro_page[i & 63] = (uint8_t)i;
		__asm__ volatile("mov %0, %%cr0" ::"r"(cr0 | CR0_WP) : "memory");
	}
	uint64_t t1 = rdtsc();
	if (n)
		RT_CHECK_EQ(ro_page[(n - 1) & 63], (uint8_t)(n - 1));
	return t1 - t0;
}

static uint64_t op_cpuid(uint32_t n)
{
	uint32_t a = 0, b, c, d;
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0));
	uint64_t t1 = rdtsc();
	if (n)
		RT_CHECK(a >= 1); /* leaf 0: the highest leaf, at least 1 */
	return t1 - t0;
}

static uint64_t op_rdtsc(uint32_t n)
{
	uint32_t backwards = 0;
	uint64_t last = 0;
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++) {
		uint64_t t = rdtsc();
		backwards += t < last;
		last = t;
	}
	uint64_t t1 = rdtsc();
	RT_CHECK_EQ(backwards, 0);
	return t1 - t0;
}

/* A fixed self-IPI through the ICR, waited for: delivery, ISR, EOI. */
static uint64_t op_timer(uint32_t n)
{
	uint32_t lost = 0;
	nano_ticks = 0;
	__asm__ volatile("sti");
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n && !lost; i++) {
		lapic_write(APIC_ICR, ICR_SELF | TIMER_VECTOR);
		for (uint32_t spin = 0; nano_ticks == i; spin++)
			if (spin == SPIN_LIMIT) {
				lost = 1;
				break;
			}
	}
	uint64_t t1 = rdtsc();
	__asm__ volatile("cli");
	RT_CHECK_EQ(nano_ticks, n);
	return t1 - t0;
}

static uint64_t op_mmio(uint32_t n)
{
	uint32_t v = LAPIC_VERSION;
	uint64_t t0 = rdtsc();
	for (uint32_t i = 0; i < n; i++)
		v = lapic_read(APIC_VER);
	uint64_t t1 = rdtsc();
	RT_CHECK_EQ(v & 0xff, LAPIC_VERSION);
	return t1 - t0;
}

static const struct nano_op {
	const char *name;
	uint64_t (*run)(uint32_t n); /* cycles for n iterations */
} ops[] = {
	{ "syscall-int80", op_syscall_int80 },
	{ "syscall-sysenter", op_syscall_sysenter },
	{ "in", op_in },
	{ "out", op_out },
	{ "cli-sti", op_cli_sti },
	{ "popf", op_popf },
	{ "call-ret", op_call_ret },
	{ "jmp-indirect", op_jmp_indirect },
	{ "pgfault", op_pgfault },
	{ "divzero", op_divzero },
	{ "ptemod", op_ptemod },
	{ "cr3", op_cr3 },
	{ "cr0-wp", op_cr0_wp },
	{ "cpuid", op_cpuid },
	{ "rdtsc", op_rdtsc },
	{ "timer", op_timer },
	{ "mmio", op_mmio },
};

/* The TSC rate in kHz, from TSC ticks over CALIBRATE_TICKS PM-timer ticks
 * (0 if the PM timer does not move). */
static uint32_t tsc_khz(void)
{
	uint32_t start = inl(PM_TMR_PORT) & PM_TMR_MASK, now, ticks = 0;
	for (uint32_t spin = 0; (now = inl(PM_TMR_PORT) & PM_TMR_MASK) == start; spin++)
		if (spin == SPIN_LIMIT)
			return 0;
	uint64_t t0 = rdtsc();
	start = now;
	while (ticks < CALIBRATE_TICKS)
		ticks = ((inl(PM_TMR_PORT) & PM_TMR_MASK) - start) & PM_TMR_MASK;
	uint64_t t1 = rdtsc();
	return (uint32_t)div64((t1 - t0) * PM_TMR_HZ, ticks * 1000u);
}

/* Print v/10 with one decimal. */
static void print_tenths(const char *key, uint64_t v)
{
	uint64_t whole = div64(v, 10);
	rt_printf(" %s=%llu.%u", key, whole, (uint32_t)(v - whole * 10));
}

static void run_op(const struct nano_op *op, uint32_t n, uint32_t khz)
{
	rt_section(op->name);
	uint64_t cycles = op->run(n);
	rt_section_end();
	if (!khz)
		return;
	uint64_t cyc10 = n ? div64(cycles * 10, n) : 0;
	rt_printf("nano op=%s iters=%u", op->name, n);
	print_tenths("cycles", cyc10);
	print_tenths("ns", div64(cyc10 * 1000000, khz));
	rt_putc('\n');
}

/* Whether the op= word (ended by a blank or the end) is name. */
static int op_is(const char *word, const char *name)
{
	while (*name && *word == *name)
		word++, name++;
	return !*name && (*word == ' ' || *word == '\0');
}

void guest_main(uint32_t magic, uint32_t info)
{
	const char *cmd = guestargs_cmdline(magic, info);
	const char *want = guestargs_after(cmd, "op=");
	int timed = guestargs_after(cmd, "iters=") != NULL;
	uint32_t n = guestargs_iters(cmd, CHECK_ITERS), khz = 0, found = 0;
	setup();
	if (timed) {
		khz = tsc_khz();
		if (!khz) {
			rt_printf("nano: the PM timer at 0x%x does not run\n", PM_TMR_PORT);
			rt_exit(1);
		}
		rt_printf("nano tsc-khz=%u\n", khz);
	}
	for (uint32_t i = 0; i < sizeof ops / sizeof ops[0]; i++)
		if (!want || op_is(want, ops[i].name)) {
			run_op(&ops[i], n, khz);
			found++;
		}
	if (!found) {
		rt_printf("nano: unknown op (known: syscall-int80 syscall-sysenter in out "
			  "cli-sti popf call-ret jmp-indirect pgfault divzero ptemod "
			  "cr3 cr0-wp cpuid rdtsc timer mmio)\n");
		rt_exit(1);
	}
}
