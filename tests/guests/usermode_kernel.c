/* Usermode guest: a tiny ring-0 kernel: GDT/TSS/IDT, per-process page tables, system calls, ring-3 faults, timer preemption. */
#include <stddef.h>
#include "usermode.h"

/*
 * The kernel runs with IF=0 except inside int $0x80 (a trap gate, as in
 * older Linux), where a timer interrupt may nest; it then only counts, and
 * the system calls that switch processes disable interrupts first. The
 * kernel is compiled with -mgeneral-regs-only, so it never touches the x87
 * or SSE state itself; a process switch saves and restores that state with
 * FXSAVE/FXRSTOR (eager switching, as Linux does).
 *
 * A process switch copies frames: the running process's trap frame is
 * saved in its struct and the next one's copied over it, and the return
 * from the trap enters the next process. Each process has its own kernel
 * stack, which TSS.ESP0 and SYSENTER_ESP name while it runs, so every
 * ring-3 trap checks that the CPU put its frame at the top of that stack.
 */

#define PIC1_CMD  0x20
#define PIC1_DATA 0x21
#define PIC2_CMD  0xa0
#define PIC2_DATA 0xa1
#define PIC_EOI   0x20 /* OCW2: non-specific end of interrupt */
#define OCW3_ISR  0x0b /* OCW3: next read of the command port returns ISR */
#define PIT_CH0   0x40
#define PIT_CMD   0x43
#define PIT_RELOAD 11932u /* 1193182 Hz / 11932: ~100 Hz */

#define MSR_SYSENTER_CS  0x174
#define MSR_SYSENTER_ESP 0x175
#define MSR_SYSENTER_EIP 0x176

#define CR0_MP 0x02u
#define CR0_EM 0x04u
#define CR0_TS 0x08u
#define CR0_NE 0x20u
#define CR4_OSFXSR     0x200u
#define CR4_OSXMMEXCPT 0x400u

/* Timer ticks a process runs before the next one gets the CPU. */
#define SLICE_TICKS 2
/* The preemption tests stop after this many switches even if a process
   never made progress (the test then fails instead of hanging). */
#define SWITCH_LIMIT 1000

/* The user_page layout the ring-3 programs use through the UP_* offsets. */
_Static_assert(offsetof(struct user_page, fail) == UP_FAIL, "UP_FAIL");
_Static_assert(offsetof(struct user_page, value) == UP_VALUE, "UP_VALUE");
_Static_assert(offsetof(struct user_page, stop) == UP_STOP, "UP_STOP");
_Static_assert(offsetof(struct user_page, saved_esp) == UP_SAVED_ESP, "UP_SAVED_ESP");
_Static_assert(offsetof(struct user_page, progress_lo) == UP_PROGRESS, "UP_PROGRESS");
_Static_assert(offsetof(struct user_page, fcw_in) == UP_FCW_IN, "UP_FCW_IN");
_Static_assert(offsetof(struct user_page, mxcsr_in) == UP_MXCSR_IN, "UP_MXCSR_IN");
_Static_assert(offsetof(struct user_page, fcw_out) == UP_FCW_OUT, "UP_FCW_OUT");
_Static_assert(offsetof(struct user_page, fsw_out) == UP_FSW_OUT, "UP_FSW_OUT");
_Static_assert(offsetof(struct user_page, mxcsr_out) == UP_MXCSR_OUT, "UP_MXCSR_OUT");
_Static_assert(offsetof(struct user_page, scratch) == UP_SCRATCH, "UP_SCRATCH");
_Static_assert(offsetof(struct user_page, x87_in) == UP_X87_IN, "UP_X87_IN");
_Static_assert(offsetof(struct user_page, x87_out) == UP_X87_OUT, "UP_X87_OUT");
_Static_assert(offsetof(struct user_page, xmm_in) == UP_XMM_IN, "UP_XMM_IN");
_Static_assert(offsetof(struct user_page, xmm_out) == UP_XMM_OUT, "UP_XMM_OUT");
_Static_assert(sizeof(struct user_page) <= PAGE_SIZE, "user_page fits its page");
/* The entry stubs push exactly this. */
_Static_assert(sizeof(struct trap_frame) == 19 * 4, "trap_frame layout");

/*
 * The 32-bit TSS. Only SS0:ESP0 matter (the stack for entries from ring 3)
 * and the I/O map base: pointing it at the TSS limit means there is no
 * bitmap, so with IOPL 0 every IN/OUT at CPL 3 raises #GP(0).
 */
struct tss32 {
	uint16_t link, reserved0;
	uint32_t esp0;
	uint16_t ss0, reserved1;
	uint32_t esp1;
	uint16_t ss1, reserved2;
	uint32_t esp2;
	uint16_t ss2, reserved3;
	uint32_t cr3, eip, eflags, eax, ecx, edx, ebx, esp, ebp, esi, edi;
	uint16_t es, reserved4, cs, reserved5, ss, reserved6, ds, reserved7;
	uint16_t fs, reserved8, gs, reserved9, ldt, reserved10;
	uint16_t trap, iomap_base;
};
_Static_assert(sizeof(struct tss32) == 104, "TSS size");
_Static_assert(offsetof(struct tss32, esp0) == 4 && offsetof(struct tss32, ss0) == 8, "TSS ESP0");
_Static_assert(offsetof(struct tss32, iomap_base) == 102, "TSS I/O map base");

struct process processes[MAX_PROCESSES];
struct kernel_stats kstats;
uint32_t kernel_secret = 0x5ec12e75u;
uint32_t tss_type_after_ltr;

/* Aligned so that it does not cross a page: the CPU reads it at every entry from ring 3. */
static struct tss32 tss __attribute__((aligned(128)));
static uint32_t *kernel_pd;
/* PDE 0 of every process: the identity map, supervisor-only but for the
   user programs' pages (user, read-only). */
static uint32_t process_identity_table[1024] __attribute__((aligned(4096)));
static uint8_t kstacks[MAX_PROCESSES][KSTACK_SIZE] __attribute__((aligned(16)));
static uint8_t fx_areas[MAX_PROCESSES][512] __attribute__((aligned(16)));
/* Each process's USER_DATA, USER_RO and stack frames; then its demand frames. */
static uint8_t user_frames[MAX_PROCESSES][6][PAGE_SIZE] __attribute__((aligned(4096)));
/* SYS_REUSE_PD's new USER_DATA tables. */
static uint32_t reuse_tables[MAX_PROCESSES][1024] __attribute__((aligned(4096)));
static uint8_t demand_frames[MAX_PROCESSES][DEMAND_FRAMES][PAGE_SIZE] __attribute__((aligned(4096)));
/* The FPU state after FNINIT with MXCSR at its reset value: what a process starts with. */
static uint8_t fx_initial[512] __attribute__((aligned(16)));

static struct {
	struct process *current;  /* NULL while the kernel itself runs */
	int n;                    /* processes 0..n-1 take part */
	int preempt;
	uint32_t stop_after;      /* slices with progress each process needs */
	uint32_t slice_ticks;
} sched;

static inline void cli(void) { __asm__ volatile("cli" ::: "memory"); }

static void wrmsr(uint32_t msr, uint32_t lo)
{
	__asm__ volatile("wrmsr" ::"c"(msr), "a"(lo), "d"(0u));
}

static uint32_t read_eflags(void)
{
	uint32_t v;
	__asm__ volatile("pushfl; popl %0" : "=r"(v));
	return v;
}

static int in_user_text(uint32_t addr)
{
	return addr >= (uint32_t)user_text_start && addr < (uint32_t)user_text_end;
}

static void fxsave(uint8_t *area)
{
	__asm__ volatile("fxsave (%0)" ::"r"(area) : "memory");
}

static void fxrstor(const uint8_t *area)
{
	__asm__ volatile("fxrstor (%0)" ::"r"(area) : "memory");
}

/* ---- setup ---- */

static void setup_segments(void)
{
	rt_gdt_set(USER_CS >> 3, 0, 0xfffff, 0xfa, 0xc); /* P, DPL 3, code exec/read; 4 KiB gran, 32-bit */
	rt_gdt_set(USER_DS >> 3, 0, 0xfffff, 0xf2, 0xc); /* P, DPL 3, data read/write */
	tss.ss0 = KERNEL_DS;
	tss.iomap_base = sizeof(tss);
	rt_gdt_set(TSS_SEL >> 3, (uint32_t)&tss, sizeof(tss) - 1, 0x89, 0x0); /* P, DPL 0, 32-bit TSS available */
	rt_lgdt();
	__asm__ volatile("ltr %w0" ::"r"(TSS_SEL));
	/* LTR marks the descriptor busy (type 0x9 -> 0xB): the tests check it. */
	tss_type_after_ltr = (rt_gdt[TSS_SEL >> 3].hi >> 8) & 0xf;
}

static void setup_idt(void)
{
	for (int v = 0; v < 32; v++)
		rt_idt_set(v, trap_stubs[v], 0x8e);  /* interrupt gates, DPL 0 */
	rt_idt_set(VEC_BP, trap_stubs[VEC_BP], 0xee);  /* int3 allowed from ring 3 */
	for (int irq = 0; irq < 16; irq++)
		rt_idt_set(IRQ_BASE + irq, trap_stubs[32 + irq], 0x8e);
	rt_idt_set(VEC_SYSCALL, trap_stub_syscall, 0xef); /* trap gate, DPL 3 */
	rt_lidt();
}

static void setup_paging(void)
{
	kernel_pd = pg_new_directory();
	for (uint32_t i = 0; i < 1024; i++) {
		uint32_t addr = i * PAGE_SIZE;
		process_identity_table[i] = addr | PTE_P | PTE_W;
		if (in_user_text(addr))
			process_identity_table[i] = addr | PTE_P | PTE_U;
	}
	WRITE_CR(0, READ_CR(0) | CR0_WP);
	pg_enable(kernel_pd);
}

/* Master on vectors 0x20.., slave on 0x28.., everything masked; PIT channel 0 at ~100 Hz. */
static void setup_pic_pit(void)
{
	outb(PIC1_CMD, 0x11);      /* ICW1: edge, cascade, ICW4 follows */
	outb(PIC2_CMD, 0x11);
	outb(PIC1_DATA, IRQ_BASE); /* ICW2 */
	outb(PIC2_DATA, IRQ_BASE + 8);
	outb(PIC1_DATA, 0x04);     /* ICW3: slave on IRQ 2 */
	outb(PIC2_DATA, 0x02);
	outb(PIC1_DATA, 0x01);     /* ICW4: 8086 mode */
	outb(PIC2_DATA, 0x01);
	outb(PIC1_DATA, 0xff);
	outb(PIC2_DATA, 0xff);
	outb(PIT_CMD, 0x34);       /* channel 0, lobyte/hibyte, mode 2 */
	outb(PIT_CH0, PIT_RELOAD & 0xff);
	outb(PIT_CH0, PIT_RELOAD >> 8);
}

static void setup_fpu(void)
{
	WRITE_CR(0, (READ_CR(0) & ~(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE);
	WRITE_CR(4, READ_CR(4) | CR4_OSFXSR | CR4_OSXMMEXCPT);
	/* FXSAVE layout: FCW at 0, FSW at 2, abridged tag at 4 (0: all
	   empty), MXCSR at 24. */
	rt_memset(fx_initial, 0, sizeof fx_initial);
	fx_initial[0] = 0x7f;
	fx_initial[1] = 0x03;      /* FCW 0x037f */
	fx_initial[24] = 0x80;
	fx_initial[25] = 0x1f;     /* MXCSR 0x1f80 */
}

void kernel_init(void)
{
	setup_segments();
	setup_idt();
	setup_paging();
	setup_pic_pit();
	setup_fpu();
	wrmsr(MSR_SYSENTER_CS, KERNEL_CS);
	wrmsr(MSR_SYSENTER_EIP, (uint32_t)sysenter_entry);
}

void kernel_stats_reset(void)
{
	rt_memset(&kstats, 0, sizeof kstats);
}

/* ---- processes ---- */

static void process_build_address_space(int idx, struct process *p)
{
	p->pd = pg_alloc();
	p->pd[0] = (uint32_t)process_identity_table | PTE_P | PTE_W | PTE_U;
	p->data = (struct user_page *)user_frames[idx][0];
	p->ro_frame = (uint32_t *)user_frames[idx][1];
	p->stack_frame = (uint32_t *)user_frames[idx][2];
	p->demand = demand_frames[idx];
	pg_map(p->pd, USER_DATA, (uint32_t)p->data, PTE_P | PTE_W | PTE_U);
	p->pd[USER_DATA >> 22] |= PTE_U; /* pg_pte made the table supervisor */
	p->user_table = (uint32_t *)(p->pd[USER_DATA >> 22] & PTE_FRAME);
	pg_map(p->pd, USER_RO, (uint32_t)p->ro_frame, PTE_P | PTE_U);
	pg_map(p->pd, USER_STACK_PAGE, (uint32_t)p->stack_frame, PTE_P | PTE_W | PTE_U);
	/* Two code frames: "mov $v, %eax; ret", v telling process and frame. */
	for (int k = 0; k < 2; k++) {
		uint8_t *c = p->code_frame[k] = user_frames[idx][3 + k];
		uint32_t v = CODE_VALUE + 0x10u * (uint32_t)idx + (uint32_t)k;
		c[0] = 0xb8;
		rt_memcpy(c + 1, &v, 4);
		c[5] = 0xc3;
	}
	p->kstack_top = (uint32_t)(kstacks[idx] + KSTACK_SIZE);
	p->fx = fx_areas[idx];
}

void process_setup(int idx, void (*entry)(void), uint32_t arg)
{
	struct process *p = &processes[idx];
	if (!p->pd)
		process_build_address_space(idx, p);
	/* USER_DATA may have moved (SYS_MIGRATE, SYS_REUSE_PD): back to its
	   own table and frame. */
	p->pd[USER_DATA >> 22] = (uint32_t)p->user_table | PTE_P | PTE_W | PTE_U;
	p->data = (struct user_page *)user_frames[idx][0];
	pg_map(p->pd, USER_DATA, (uint32_t)p->data, PTE_P | PTE_W | PTE_U);
	rt_memset(p->data, 0, PAGE_SIZE);
	for (int i = 0; i < 1024; i++)
		p->ro_frame[i] = USER_RO_FILL;
	rt_memset(p->stack_frame, 0, PAGE_SIZE);
	pg_map(p->pd, USER_CODE, (uint32_t)p->code_frame[0], PTE_P | PTE_U);
	/* Drop the last run's demand pages; the CR3 load when the process
	   next runs flushes their translations. */
	for (uint32_t a = USER_DEMAND_LOW; a < USER_STACK_PAGE; a += PAGE_SIZE)
		*pg_pte(p->pd, a) = 0;
	p->demand_used = 0;

	rt_memset(&p->saved, 0, sizeof p->saved);
	p->saved.eip = (uint32_t)entry;
	p->saved.cs = USER_CS;
	p->saved.eflags = EFL_USER_START;
	p->saved.user_esp = USER_STACK_TOP;
	p->saved.user_ss = USER_DS;
	p->saved.ds = p->saved.es = p->saved.fs = p->saved.gs = USER_DS;
	p->saved.ebx = arg;
	rt_memcpy(p->fx, fx_initial, sizeof fx_initial);

	p->exit_status = 0;
	rt_memset(&p->killed_by, 0, sizeof p->killed_by);
	p->counter = p->yields = p->switches_in = p->preempted = 0;
	p->last_progress = p->slices_with_progress = 0;
	p->state = PROC_RUNNABLE;
}

/* Make p the running process: its address space, kernel stack and FPU state. */
static void activate(struct process *p)
{
	sched.current = p;
	WRITE_CR(3, (uint32_t)p->pd);
	tss.esp0 = p->kstack_top;
	wrmsr(MSR_SYSENTER_ESP, p->kstack_top);
	fxrstor(p->fx);
}

/* The next runnable process after the current one, or NULL. */
static struct process *other_runnable(void)
{
	int cur = (int)(sched.current - processes);
	for (int i = 1; i < sched.n; i++) {
		struct process *p = &processes[(cur + i) % sched.n];
		if (p->state == PROC_RUNNABLE)
			return p;
	}
	return NULL;
}

/* Return from the trap in f to next instead; save_current keeps the
   current process's registers for when it runs again. */
static void switch_to(struct trap_frame *f, struct process *next, int save_current)
{
	if (save_current) {
		sched.current->saved = *f;
		fxsave(sched.current->fx);
	}
	activate(next);
	*f = next->saved;
	next->switches_in++;
	kstats.switches++;
}

/* The current process is finished: run another, or go back to the kernel. */
static void end_current(struct trap_frame *f, uint32_t status)
{
	sched.current->state = PROC_DONE;
	sched.current->exit_status = status;
	struct process *next = other_runnable();
	if (!next)
		kernel_resume();
	switch_to(f, next, 0);
}

/* Once every process has made progress in stop_after slices, tell their loops to stop. */
static void maybe_stop(void)
{
	int done = kstats.switches >= SWITCH_LIMIT;
	if (!done) {
		done = 1;
		for (int i = 0; i < sched.n; i++)
			done &= processes[i].slices_with_progress >= sched.stop_after;
	}
	if (done)
		for (int i = 0; i < sched.n; i++)
			processes[i].data->stop = 1;
}

void run_processes(int n, int preempt, uint32_t stop_after)
{
	sched.n = n;
	sched.preempt = preempt;
	sched.stop_after = stop_after;
	sched.slice_ticks = 0;
	struct process *first = &processes[0];
	activate(first);
	struct trap_frame *frame = (struct trap_frame *)first->kstack_top - 1;
	*frame = first->saved;
	outb(PIC1_DATA, preempt ? 0xfe : 0xff);
	kernel_enter_user(frame);
	/* Every process has ended (kernel_resume). */
	outb(PIC1_DATA, 0xff);
	WRITE_CR(3, (uint32_t)kernel_pd);
	sched.current = NULL;
}

/* ---- traps ---- */

/* What is wrong with a ring-3 frame (REPORT_* bits): selectors, flags, where it is, CR3. */
static uint32_t user_frame_problems(const struct trap_frame *f)
{
	uint32_t bits = 0;
	if ((f->cs & 0xffff) != USER_CS || (f->user_ss & 0xffff) != USER_DS ||
	    (f->ds & 0xffff) != USER_DS || (f->es & 0xffff) != USER_DS ||
	    (f->fs & 0xffff) != USER_DS || (f->gs & 0xffff) != USER_DS)
		bits |= REPORT_SEGMENTS;
	if (!(f->eflags & EFL_IF) || (f->eflags & (EFL_IOPL | EFL_VM)))
		bits |= REPORT_EFLAGS;
	if ((uint32_t)(f + 1) != tss.esp0)
		bits |= REPORT_STACK;
	if (!sched.current || READ_CR(3) != (uint32_t)sched.current->pd)
		bits |= REPORT_CR3;
	return bits;
}

static void log_fault(struct fault_record *r, const struct trap_frame *f, uint32_t cr2)
{
	r->vector = f->vector;
	r->error = f->error;
	r->cr2 = cr2;
	r->eip = f->eip;
	r->cs = f->cs & 0xffff;
	r->user_esp = f->user_esp;
	r->user_ebp = f->ebp;
}

/* Whether [addr, addr + len) is mapped user-accessible in the current directory. */
static int user_range_ok(uint32_t addr, uint32_t len)
{
	if (len == 0)
		return 1;
	if (addr + len < addr)
		return 0;
	const uint32_t *pd = sched.current->pd;
	for (uint32_t page = addr & PTE_FRAME; page <= ((addr + len - 1) & PTE_FRAME); page += PAGE_SIZE) {
		uint32_t pde = pd[page >> 22];
		if ((pde & (PTE_P | PTE_U)) != (PTE_P | PTE_U))
			return 0;
		uint32_t pte = ((const uint32_t *)(pde & PTE_FRAME))[(page >> 12) & 0x3ff];
		if ((pte & (PTE_P | PTE_U)) != (PTE_P | PTE_U))
			return 0;
		if (page == PTE_FRAME) /* the last page: page += PAGE_SIZE would wrap */
			break;
	}
	return 1;
}

static uint32_t sys_write(uint32_t buf, uint32_t len)
{
	if (len > 128 || !user_range_ok(buf, len))
		return (uint32_t)-EFAULT;
	/* Through the process's own mapping: CR3 is its directory. */
	const volatile char *s = (const volatile char *)buf;
	for (uint32_t i = 0; i < len; i++) {
		rt_putc(s[i]);
		if (kstats.n_written < sizeof kstats.written - 1)
			kstats.written[kstats.n_written++] = s[i];
	}
	return len;
}

static uint32_t sys_report(const struct trap_frame *f)
{
	uint32_t bits = user_frame_problems(f);
	if (f->user_esp != f->esi)
		bits |= REPORT_ESP;
	if (f->eip != f->edi)
		bits |= REPORT_EIP;
	uint32_t want_if = f->vector == VEC_SYSCALL ? EFL_IF : 0;
	if ((read_eflags() & EFL_IF) != want_if)
		bits |= REPORT_KERNEL_IF;
	uint32_t cs, ss, ds;
	__asm__ volatile("movl %%cs, %0; movl %%ss, %1; movl %%ds, %2" : "=r"(cs), "=r"(ss), "=r"(ds));
	if ((cs & 0xffff) != KERNEL_CS || (ss & 0xffff) != KERNEL_DS || (ds & 0xffff) != KERNEL_DS)
		bits |= REPORT_KERNEL_SEGS;
	if (f->vector == VEC_SYSENTER &&
	    (f->ebp != f->user_esp || !user_range_ok(f->ebp, 4) || read32(f->ebp) != REPORT_EBP_PROBE))
		bits |= REPORT_VDSO_EBP;
	kstats.n_reports++;
	kstats.reports_failed |= bits;
	return bits;
}

/* Returns nonzero when f is unchanged (no process switch), so SYSEXIT may use it. */
static int on_syscall(struct trap_frame *f)
{
	struct process *p = sched.current;
	struct process *next;
	switch (f->eax) {
	case SYS_WRITE:
		f->eax = sys_write(f->ebx, f->ecx);
		return 1;
	case SYS_COUNTER:
		f->eax = ++p->counter;
		return 1;
	case SYS_REPORT:
		f->eax = sys_report(f);
		return 1;
	case SYS_EXIT:
		cli(); /* int $0x80 came through a trap gate */
		end_current(f, f->ebx);
		return 0;
	case SYS_YIELD:
		cli();
		p->yields++;
		/* The kernel sees the caller's own USER_DATA through CR3. */
		if (read32(USER_DATA + UP_VALUE) != p->data->value)
			kstats.yield_cr3_mismatch++;
		f->eax = 0;
		next = other_runnable();
		if (!next)
			return 1;
		switch_to(f, next, 1);
		return 0;
	case SYS_MIGRATE: {
		int other = p == &processes[0] ? 1 : 0;
		struct process *o = &processes[other];
		struct user_page *to = (struct user_page *)user_frames[other][5];
		rt_memcpy(to, o->data, PAGE_SIZE);
		to->value = MIGRATE_AFTER;
		/* Through the kernel's mapping of the other's table, in the
		 * caller's address space: no INVLPG (the CR3 load is enough). */
		*pg_pte(o->pd, USER_DATA) = (uint32_t)to | PTE_P | PTE_W | PTE_U;
		o->data = to;
		f->eax = 0;
		return 1;
	}
	case SYS_REUSE_PD: {
		int other = p == &processes[0] ? 1 : 0;
		struct process *o = &processes[other];
		/* Every word stored as it is, twice: to the CPU only data
		   stores, nothing in the directory changes yet. */
		volatile uint32_t *pd = o->pd;
		for (int round = 0; round < 2; round++)
			for (int i = 0; i < 1024; i++)
				pd[i] = pd[i];
		uint32_t *table = reuse_tables[other];
		rt_memcpy(table, o->user_table, PAGE_SIZE);
		struct user_page *to = (struct user_page *)user_frames[other][5];
		rt_memcpy(to, o->data, PAGE_SIZE);
		to->value = MIGRATE_AFTER;
		table[(USER_DATA >> 12) & 1023] = (uint32_t)to | PTE_P | PTE_W | PTE_U;
		pd[USER_DATA >> 22] = (uint32_t)table | PTE_P | PTE_W | PTE_U;
		o->data = to;
		f->eax = 0;
		return 1;
	}
	case SYS_SHARED: {
		/* The copy's frame: the kernel's, in the identity map too. */
		static uint32_t copy[1024] __attribute__((aligned(4096)));
		uint32_t at = (uint32_t)user_shared, *pte = &process_identity_table[at >> 12];
		int original = (*pte & ~0xfffu) == at;
		if (original) {
			rt_memcpy(copy, user_shared, PAGE_SIZE);
			copy[0] = SHARED_AFTER;
		}
		/* No INVLPG: the caller reads it only after a CR3 load. */
		*pte = (original ? (uint32_t)copy : at) | PTE_P | PTE_U;
		f->eax = 0;
		return 1;
	}
	case SYS_REMAP:
		*pg_pte(p->pd, USER_CODE) = (uint32_t)p->code_frame[1] | PTE_P | PTE_U;
		invlpg(USER_CODE);
		f->eax = 0;
		return 1;
	default:
		f->eax = (uint32_t)-ENOSYS;
		return 1;
	}
}

static void on_timer(struct trap_frame *f)
{
	outb(PIC1_CMD, PIC_EOI);
	if ((f->cs & 3) != 3) {
		kstats.irq0_kernel++;
		return;
	}
	kstats.irq0_user++;
	if (!in_user_text(f->eip))
		kstats.irq0_outside_user_text++;
	if (!sched.preempt || ++sched.slice_ticks < SLICE_TICKS)
		return;
	sched.slice_ticks = 0;
	struct process *next = other_runnable();
	if (!next)
		return;
	struct process *p = sched.current;
	if (p->data->progress_lo != p->last_progress)
		p->slices_with_progress++;
	p->last_progress = p->data->progress_lo;
	p->preempted++;
	switch_to(f, next, 1);
	maybe_stop();
}

static void on_irq(struct trap_frame *f)
{
	uint32_t irq = f->vector - IRQ_BASE;
	if (irq == 0) {
		on_timer(f);
		return;
	}
	/* IRQ 7 or 15 without its ISR bit is spurious: no EOI (but the
	   master's for the cascade of a spurious 15). Timing, not counted. */
	outb(irq < 8 ? PIC1_CMD : PIC2_CMD, OCW3_ISR);
	if ((irq == 7 || irq == 15) && !(inb(irq < 8 ? PIC1_CMD : PIC2_CMD) & 0x80)) {
		if (irq == 15)
			outb(PIC1_CMD, PIC_EOI);
		return;
	}
	kstats.unexpected_irqs |= 1u << irq;
	if (irq >= 8)
		outb(PIC2_CMD, PIC_EOI);
	outb(PIC1_CMD, PIC_EOI);
}

/*
 * An exception from ring 3: a not-present page in the stack's growth area
 * gets a fresh zeroed frame and the instruction is retried (no INVLPG: the
 * CPU caches no not-present translation, and the fault dropped any for the
 * address); a fault the program asked to skip (EDI = SKIP_MAGIC, ESI = where
 * to resume) is logged and skipped; anything else ends the process.
 */
static void on_user_exception(struct trap_frame *f)
{
	struct process *p = sched.current;
	uint32_t cr2 = f->vector == VEC_PF ? READ_CR(2) : 0;
	if (f->vector == VEC_PF && !(f->error & PTE_P) && cr2 >= USER_DEMAND_LOW &&
	    cr2 < USER_STACK_PAGE && p->demand_used < DEMAND_FRAMES) {
		uint8_t *frame = p->demand[p->demand_used++];
		rt_memset(frame, 0, PAGE_SIZE);
		pg_map(p->pd, cr2, (uint32_t)frame, PTE_P | PTE_W | PTE_U);
		if (kstats.n_faults < FAULT_LOG)
			log_fault(&kstats.faults[kstats.n_faults++], f, cr2);
		return;
	}
	if (f->edi == SKIP_MAGIC && in_user_text(f->esi)) {
		if (kstats.n_faults < FAULT_LOG)
			log_fault(&kstats.faults[kstats.n_faults++], f, cr2);
		f->eip = f->esi;
		return;
	}
	log_fault(&p->killed_by, f, cr2);
	end_current(f, KILLED | f->vector);
}

int trap_dispatch(struct trap_frame *f)
{
	int from_user = (f->cs & 3) == 3;
	if (from_user) {
		uint32_t bits = user_frame_problems(f);
		if (bits && !kstats.bad_user_frames++)
			kstats.first_bad_frame = bits;
	}
	if (f->vector >= IRQ_BASE && f->vector < IRQ_BASE + 16) {
		on_irq(f);
		return 0;
	}
	if (from_user && (f->vector == VEC_SYSCALL || f->vector == VEC_SYSENTER))
		return on_syscall(f);
	if (from_user) {
		on_user_exception(f);
		return 0;
	}
	rt_printf("UNEXPECTED KERNEL EXCEPTION %u error %x eip %08x cr2 %08x\n", f->vector,
		  f->error, f->eip, READ_CR(2));
	rt_exit(3);
}
