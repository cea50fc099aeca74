/* Test guest: ring-3 processes: int $0x80 and SYSENTER system calls, demand paging, user faults, preemption, FPU state, address spaces. */
#include "usermode.h"

/*
 * The kernel (usermode_kernel.c, entry stubs in usermode_entry.S) runs the
 * ring-3 programs of usermode_user.S as processes with their own page
 * directories, and each group below checks what the kernel recorded and
 * what the programs found (their exit status: a bit per failed check of
 * their own). Only ok/FAILED lines and the programs' fixed greetings are
 * printed: timer-driven groups check counts with wide margins.
 */

#define CPUID_SEP  (1u << 11)
#define CPUID_FXSR (1u << 24)
#define CPUID_SSE  (1u << 25)
#define CPUID_SSE2 (1u << 26)

#define PF_P 0x1u
#define PF_W 0x2u
#define PF_U 0x4u

extern uint32_t tss_type_after_ltr;

static void test_setup(void)
{
	rt_section("setup");
	uint32_t tr;
	__asm__ volatile("str %0" : "=r"(tr));
	RT_CHECK_EQ(tr & 0xffff, TSS_SEL);
	RT_CHECK_EQ(tss_type_after_ltr, 0xb); /* 32-bit TSS, busy */
	RT_CHECK_EQ(READ_CR(0) & (CR0_PG | CR0_WP), CR0_PG | CR0_WP);
	/* The user programs' pages are whole pages of their own. */
	RT_CHECK_EQ((uint32_t)user_text_start & (PAGE_SIZE - 1), 0);
	RT_CHECK_EQ((uint32_t)user_text_end & (PAGE_SIZE - 1), 0);
	RT_CHECK((uint32_t)user_text_end > (uint32_t)user_text_start);
	rt_section_end();
}

/* Run one program that says hello through the kernel and counts; check
 * the kernel saw exactly that and nothing went wrong on the way. */
static void check_hello_program(const char *section, void (*entry)(void),
				uint32_t counter, const char *hello)
{
	rt_section(section);
	kernel_stats_reset();
	process_setup(0, entry, 0);
	run_processes(1, 0, 0);
	struct process *p = &processes[0];
	RT_CHECK_EQ(p->exit_status, 0);
	RT_CHECK_EQ(p->counter, counter);
	RT_CHECK_EQ(kstats.n_reports, 1);
	RT_CHECK_EQ(kstats.reports_failed, 0);
	RT_CHECK_EQ(kstats.bad_user_frames, 0);
	RT_CHECK_EQ(kstats.first_bad_frame, 0);
	RT_CHECK_EQ(kstats.n_faults, 0);
	RT_CHECK_EQ(kstats.n_written, rt_strlen(hello));
	RT_CHECK(rt_strcmp(kstats.written, hello) == 0);
	rt_section_end();
}

static void test_syscall(void)
{
	check_hello_program("syscall", user_syscall_main, 4,
			    "  ring 3: hello through int $0x80\n");
}

static void test_sysenter(void)
{
	check_hello_program("sysenter", user_sysenter_main, 3,
			    "  ring 3: hello through sysenter\n");
}

static void check_fault(const struct fault_record *r, uint32_t vector, uint32_t error,
			uint32_t cr2, uint32_t eip, uint32_t user_esp)
{
	RT_CHECK_EQ(r->vector, vector);
	RT_CHECK_EQ(r->error, error);
	RT_CHECK_EQ(r->cr2, cr2);
	RT_CHECK_EQ(r->eip, eip);
	RT_CHECK_EQ(r->cs, USER_CS);
	RT_CHECK_EQ(r->user_esp, user_esp);
}

static void test_demand_paging(void)
{
	rt_section("demand-paging");
	kernel_stats_reset();
	process_setup(0, user_demand_main, 0);
	run_processes(1, 0, 0);
	struct process *p = &processes[0];
	RT_CHECK_EQ(p->exit_status, 0);
	RT_CHECK_EQ(kstats.n_faults, 4);
	RT_CHECK_EQ(p->demand_used, 4);
	/* Each push into a new page: user|write|not-present, at the dword
	   below ESP, with ESP not yet decremented. */
	for (uint32_t i = 0; i < 3 && i < kstats.n_faults; i++) {
		uint32_t esp = USER_STACK_PAGE - i * PAGE_SIZE;
		check_fault(&kstats.faults[i], VEC_PF, PF_U | PF_W, esp - 4,
			    (uint32_t)user_demand_push, esp);
	}
	if (kstats.n_faults >= 4)
		check_fault(&kstats.faults[3], VEC_PF, PF_U, DEMAND_READ_ADDR,
			    (uint32_t)user_demand_read, USER_STACK_PAGE);
	/* The pages it got are the ones it wrote: the deepest holds 1..1024. */
	RT_CHECK_EQ(((uint32_t *)p->demand[2])[0], 1 ^ DEMAND_PATTERN);
	RT_CHECK_EQ(((uint32_t *)p->demand[0])[1023], DEMAND_PUSHES ^ DEMAND_PATTERN);
	RT_CHECK_EQ(kstats.bad_user_frames, 0);
	RT_CHECK_EQ(kstats.first_bad_frame, 0);
	rt_section_end();
}

/* Labels in usermode_user.S: each faulting instruction and the one after it. */
#define UF(name) extern char uf_##name[], uf_##name##_end[];
UF(ud2) UF(div0) UF(int3) UF(int21) UF(read_kernel) UF(write_kernel) UF(write_ro)
UF(exec_kernel) UF(cli) UF(sti) UF(hlt) UF(in) UF(out) UF(lgdt) UF(lidt)
UF(read_cr3) UF(write_cr3) UF(read_cr0) UF(rdmsr) UF(wrmsr) UF(invlpg) UF(clts)
UF(read_dr7) UF(wbinvd) UF(syscall) UF(sysret) UF(sysexit)
extern char uf_fatal[];

struct expected_fault {
	const char *name;
	const char *eip;  /* where the CPU reports it */
	uint32_t vector, error, cr2;
	uint32_t esp;     /* ESP (and EBP) at the fault; 0: USER_STACK_TOP */
};

static void test_user_faults(void)
{
	const struct expected_fault want[] = {
		{"ud2", uf_ud2, VEC_UD, 0, 0, 0},
		{"div0", uf_div0, VEC_DE, 0, 0, 0},
		{"int3", uf_int3_end, VEC_BP, 0, 0, 0},      /* a trap: EIP after it */
		/* INT n through a DPL-0 gate: #GP(vector * 8 + 2, the IDT bit). */
		{"int21", uf_int21, VEC_GP, 0x21 * 8 + 2, 0, 0},
		{"read_kernel", uf_read_kernel, VEC_PF, PF_U | PF_P, (uint32_t)&kernel_secret, 0},
		{"write_kernel", uf_write_kernel, VEC_PF, PF_U | PF_W | PF_P, (uint32_t)&kernel_secret, 0},
		{"write_ro", uf_write_ro, VEC_PF, PF_U | PF_W | PF_P, USER_RO + 8, 0},
		/* A fetch from a supervisor page: no I/D bit without NX or SMEP. */
		{"exec_kernel", (const char *)guest_main, VEC_PF, PF_U | PF_P, (uint32_t)guest_main, 0},
		{"cli", uf_cli, VEC_GP, 0, 0, 0},
		{"sti", uf_sti, VEC_GP, 0, 0, 0},
		{"hlt", uf_hlt, VEC_GP, 0, 0, 0},
		{"in", uf_in, VEC_GP, 0, 0, 0},
		{"out", uf_out, VEC_GP, 0, 0, 0},
		{"lgdt", uf_lgdt, VEC_GP, 0, 0, 0},
		{"lidt", uf_lidt, VEC_GP, 0, 0, 0},
		{"read_cr3", uf_read_cr3, VEC_GP, 0, 0, 0},
		{"write_cr3", uf_write_cr3, VEC_GP, 0, 0, 0},
		{"read_cr0", uf_read_cr0, VEC_GP, 0, 0, 0},
		{"rdmsr", uf_rdmsr, VEC_GP, 0, 0, 0},
		{"wrmsr", uf_wrmsr, VEC_GP, 0, 0, 0},
		{"invlpg", uf_invlpg, VEC_GP, 0, 0, 0},
		{"clts", uf_clts, VEC_GP, 0, 0, 0},
		{"read_dr7", uf_read_dr7, VEC_GP, 0, 0, 0},
		{"wbinvd", uf_wbinvd, VEC_GP, 0, 0, 0},
		/* No SYSCALL in the CPUID (EFER.SCE clear): #UD for both;
		 * SYSEXIT outside ring 0: #GP(0). The same on either host
		 * vendor, under direct execution or translation. */
		{"syscall", uf_syscall, VEC_UD, 0, 0, USER_STACK_TOP - 4},
		{"sysret", uf_sysret, VEC_UD, 0, 0, USER_STACK_TOP - 4},
		{"sysexit", uf_sysexit, VEC_GP, 0, 0, USER_STACK_TOP - 4},
	};
	const uint32_t n_want = sizeof want / sizeof want[0];

	rt_section("user-faults");
	kernel_stats_reset();
	process_setup(0, user_faults_main, 0);
	run_processes(1, 0, 0);
	struct process *p = &processes[0];
	RT_CHECK_EQ(kstats.n_faults, n_want);
	/* Found by EIP, so that a missing fault is named rather than shifting the rest. */
	for (uint32_t i = 0; i < n_want; i++) {
		const struct fault_record *r = NULL;
		uint32_t esp = want[i].esp ? want[i].esp : USER_STACK_TOP;
		for (uint32_t k = 0; k < kstats.n_faults && !r; k++)
			if (kstats.faults[k].eip == (uint32_t)want[i].eip)
				r = &kstats.faults[k];
		if (!r) {
			rt_printf("FAIL user-faults %s: no fault\n", want[i].name);
			rt_failures++;
		} else if (r->vector != want[i].vector || r->error != want[i].error ||
			   r->cr2 != want[i].cr2 || r->cs != USER_CS ||
			   r->user_esp != esp || r->user_ebp != esp) {
			rt_printf("FAIL user-faults %s: vector %u error %x cr2 %08x cs %x esp %08x; "
				  "want vector %u error %x cr2 %08x\n",
				  want[i].name, r->vector, r->error, r->cr2, r->cs, r->user_esp,
				  want[i].vector, want[i].error, want[i].cr2);
			rt_failures++;
		}
	}
	/* The last fault did not ask to be skipped: the process ended there. */
	RT_CHECK_EQ(p->exit_status, KILLED | VEC_PF);
	RT_CHECK_EQ(p->killed_by.vector, VEC_PF);
	RT_CHECK_EQ(p->killed_by.error, PF_U);
	RT_CHECK_EQ(p->killed_by.cr2, USER_UNMAPPED);
	RT_CHECK_EQ(p->killed_by.eip, (uint32_t)uf_fatal);
	RT_CHECK_EQ(p->killed_by.cs, USER_CS);
	/* Its own checks ran before that: none failed. */
	RT_CHECK_EQ(p->data->fail, 0);
	RT_CHECK_EQ(p->ro_frame[2], USER_RO_FILL);
	RT_CHECK_EQ(kernel_secret, 0x5ec12e75u);
	RT_CHECK_EQ(kstats.bad_user_frames, 0);
	RT_CHECK_EQ(kstats.first_bad_frame, 0);
	rt_section_end();
}

/* Common to the two timer-driven groups: both processes ran in turns, interrupted at CPL 3. */
static void check_preemption(uint32_t stop_after)
{
	for (int i = 0; i < 2; i++) {
		struct process *p = &processes[i];
		RT_CHECK_EQ(p->exit_status, 0);
		RT_CHECK(p->slices_with_progress >= stop_after);
		RT_CHECK(p->preempted >= stop_after);
		RT_CHECK(p->data->progress_lo != 0 || p->data->progress_hi != 0);
	}
	RT_CHECK(processes[1].switches_in >= stop_after);
	RT_CHECK(kstats.switches < 1000);       /* stopped by progress, not by the limit */
	RT_CHECK(kstats.irq0_user >= 2 * stop_after);
	RT_CHECK_EQ(kstats.irq0_outside_user_text, 0);
	RT_CHECK_EQ(kstats.unexpected_irqs, 0);
	RT_CHECK_EQ(kstats.bad_user_frames, 0);
	RT_CHECK_EQ(kstats.first_bad_frame, 0);
	RT_CHECK_EQ(kstats.n_faults, 0);
}

static void test_preemption(void)
{
	rt_section("preemption");
	kernel_stats_reset();
	process_setup(0, user_spin_main, 0);
	process_setup(1, user_spin_main, 1);
	run_processes(2, 1, 4);
	check_preemption(4);
	rt_section_end();
}

static void test_fpu_preserved(void)
{
	static const uint32_t fcw[2] = {0x0f7f, 0x027f};   /* truncate / 53-bit precision */
	static const uint32_t mxcsr[2] = {0x3f80, 0x5f80}; /* round down / round up */

	rt_section("fpu-preserved");
	kernel_stats_reset();
	for (int i = 0; i < 2; i++) {
		process_setup(i, user_fpu_main, (uint32_t)i);
		struct user_page *d = processes[i].data;
		d->fcw_in = fcw[i];
		d->mxcsr_in = mxcsr[i];
		for (int k = 0; k < 4; k++)
			d->x87_in[k] = (int32_t)(0x1000 * (i + 1) + k) * (k & 1 ? -1 : 1);
		for (int r = 0; r < 8; r++)
			for (int l = 0; l < 4; l++)
				d->xmm_in[r][l] = 0x11000000u * (uint32_t)(i + 1) + 0x100u * (uint32_t)r + (uint32_t)l;
	}
	run_processes(2, 1, 3);
	check_preemption(3);
	for (int i = 0; i < 2; i++) {
		struct user_page *d = processes[i].data;
		RT_CHECK_EQ(processes[i].counter, 2);
		RT_CHECK_EQ(d->fcw_out & 0xffff, fcw[i]);
		RT_CHECK_EQ(d->fsw_out & 0xffff, 0x2000); /* TOP = 4 after four loads, nothing else */
		RT_CHECK_EQ(d->mxcsr_out, mxcsr[i]);
		/* One line for the first lost value: a broken switch loses them all. */
		for (int k = 0; k < 4; k++)
			if (d->x87_out[k] != d->x87_in[k]) {
				RT_CHECK_EQ(d->x87_out[k], d->x87_in[k]);
				break;
			}
		for (int r = 0; r < 32; r++)
			if (d->xmm_out[r / 4][r % 4] != d->xmm_in[r / 4][r % 4]) {
				RT_CHECK_EQ(d->xmm_out[r / 4][r % 4], d->xmm_in[r / 4][r % 4]);
				break;
			}
	}
	rt_section_end();
}

/* The frame that linear maps to in directory pd (through the identity-mapped tables). */
static uint32_t frame_of(const uint32_t *pd, uint32_t linear)
{
	uint32_t pde = pd[linear >> 22];
	if (!(pde & PTE_P))
		return 0;
	return ((const uint32_t *)(pde & PTE_FRAME))[(linear >> 12) & 0x3ff] & PTE_FRAME;
}

static void test_address_spaces(void)
{
	rt_section("address-spaces");
	kernel_stats_reset();
	for (int i = 0; i < 2; i++) {
		process_setup(i, user_aspace_main, (uint32_t)i);
		processes[i].data->value = ASPACE_INITIAL + (uint32_t)i;
	}
	run_processes(2, 0, 0);
	for (int i = 0; i < 2; i++) {
		struct process *p = &processes[i];
		RT_CHECK_EQ(p->exit_status, 0);
		RT_CHECK_EQ(p->yields, 2);
		RT_CHECK_EQ(p->data->value, ASPACE_MINE + (uint32_t)i);
		RT_CHECK_EQ(frame_of(p->pd, USER_DATA), (uint32_t)p->data);
	}
	RT_CHECK(processes[0].pd != processes[1].pd);
	RT_CHECK(frame_of(processes[0].pd, USER_DATA) != frame_of(processes[1].pd, USER_DATA));
	/* Both share the kernel's and the programs' mappings. */
	RT_CHECK_EQ(processes[0].pd[0], processes[1].pd[0]);
	/* Four yields and an exit handing over to the survivor. */
	RT_CHECK_EQ(kstats.switches, 5);
	RT_CHECK_EQ(kstats.yield_cr3_mismatch, 0);
	RT_CHECK_EQ(kstats.bad_user_frames, 0);
	RT_CHECK_EQ(kstats.first_bad_frame, 0);
	RT_CHECK_EQ(kstats.n_faults, 0);
	rt_section_end();
}

/* The same linear code address holds each process's own code: what runs
 * after a CR3 switch, or after a remap with INVLPG, is that code. */
static void test_code_per_process(void)
{
	rt_section("code-per-process");
	kernel_stats_reset();
	for (int i = 0; i < 2; i++)
		process_setup(i, user_code_main, (uint32_t)i);
	run_processes(2, 0, 0);
	for (int i = 0; i < 2; i++) {
		struct process *p = &processes[i];
		RT_CHECK_EQ(p->exit_status, 0);
		RT_CHECK_EQ(p->yields, 3);
		RT_CHECK_EQ(frame_of(p->pd, USER_CODE), (uint32_t)p->code_frame[1]);
	}
	RT_CHECK_EQ(kstats.yield_cr3_mismatch, 0);
	RT_CHECK_EQ(kstats.bad_user_frames, 0);
	RT_CHECK_EQ(kstats.n_faults, 0);
	rt_section_end();
}

/*
 * An address space that is not running is changed by the other process:
 * a page table (SYS_MIGRATE), or its directory, first written over as data
 * (a reused frame) then made a directory again (SYS_REUSE_PD). When it runs
 * again, its code and its kernel see the new mapping, however the old one
 * was cached.
 */
static void test_space_changed(const char *name, uint32_t nr)
{
	rt_section(name);
	kernel_stats_reset();
	for (int i = 0; i < 2; i++) {
		process_setup(i, user_migrate_main, (uint32_t)i | nr << 8);
		processes[i].data->value = MIGRATE_BEFORE;
	}
	uint32_t *before = (uint32_t *)processes[0].data;
	run_processes(2, 0, 0);
	for (int i = 0; i < 2; i++) {
		RT_CHECK_EQ(processes[i].exit_status, 0);
		RT_CHECK_EQ(processes[i].yields, 2);
	}
	RT_CHECK((uint32_t *)processes[0].data != before);
	RT_CHECK_EQ(frame_of(processes[0].pd, USER_DATA), (uint32_t)processes[0].data);
	RT_CHECK_EQ(processes[0].data->value, MIGRATE_AFTER);
	RT_CHECK_EQ(kstats.yield_cr3_mismatch, 0);
	RT_CHECK_EQ(kstats.bad_user_frames, 0);
	RT_CHECK_EQ(kstats.n_faults, 0);
	rt_section_end();
}

/* A page of the table every directory shares is remapped by one process
 * while the other's address space maps it too: the other reads the new
 * frame when it runs again, and the old one after the remap back. */
static void test_shared_table(void)
{
	rt_section("shared-table");
	kernel_stats_reset();
	for (int i = 0; i < 2; i++)
		process_setup(i, user_shared_main, (uint32_t)i);
	run_processes(2, 0, 0);
	for (int i = 0; i < 2; i++) {
		RT_CHECK_EQ(processes[i].exit_status, 0);
		RT_CHECK_EQ(processes[i].yields, 2);
	}
	RT_CHECK_EQ(user_shared[0], (char)(SHARED_BEFORE & 0xff));
	RT_CHECK_EQ(kstats.bad_user_frames, 0);
	RT_CHECK_EQ(kstats.n_faults, 0);
	rt_section_end();
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_magic;
	(void)mb_info;
	rt_puts("usermode: begin\n");
	uint32_t need = CPUID_SEP | CPUID_FXSR | CPUID_SSE | CPUID_SSE2;
	if ((cpuid1_edx() & need) != need) {
		rt_puts("FAIL usermode: the CPU lacks SYSENTER, FXSR or SSE2\n");
		rt_exit(1);
	}
	kernel_init();
	test_setup();
	test_syscall();
	test_sysenter();
	test_demand_paging();
	test_user_faults();
	test_preemption();
	test_fpu_preserved();
	test_address_spaces();
	test_code_per_process();
	test_space_changed("inactive-tables", SYS_MIGRATE);
	test_space_changed("directory-reuse", SYS_REUSE_PD);
	test_shared_table();
}
