/* monitor: the run loop: translated code, emulation, host faults, and stops. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <x86intrin.h>

#include "hostdriver.h"
#include "monitor.h"

static struct mon_vm *the_vm; /* for the host signal handlers */
static volatile sig_atomic_t stop_signal;

void mon_stop(struct mon_vm *vm, int status, const char *fmt, ...)
{
	if (vm->stop)
		return; /* the first reason wins */
	vm->stop = true;
	vm->status = status;
	vm->stop_message[0] = 0;
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(vm->stop_message, sizeof vm->stop_message, fmt, ap);
		va_end(ap);
	}
}

static enum hd_fault_action on_fault(int signo, siginfo_t *si, ucontext_t *uc)
{
	if (the_vm && the_vm->bt && bt_handle_host_fault(the_vm->bt, signo, si, uc))
		return HD_FAULT_REDIRECT;
	return HD_FAULT_FATAL;
}

/* After a monitor bug's first line: where the guest was, and the exits
 * that led there. */
static void report_guest(void *ctx)
{
	struct mon_vm *vm = ctx;
	fprintf(stderr, "btvmm: guest EIP %#x, CPL %u\n", vm->vcpu.cpu->eip, mon_cpl(&vm->vcpu));
	mon_print_ring(vm, stderr);
}

static void on_crash(int signo, const siginfo_t *si, const ucontext_t *uc)
{
	hd_term_restore();
	fprintf(stderr,
		"btvmm: internal error: signal %d (%s) at host pc %#llx, address %p\n",
		signo, strsignal(signo),
		(unsigned long long)uc->uc_mcontext.gregs[REG_RIP], si->si_addr);
	if (the_vm)
		report_guest(the_vm);
}

/*
 * A device deadline passed. The guest can take the interrupt only with
 * IF set: then stop translated code (or the user world, where IF is
 * always set). With IF clear nothing is disturbed -- interrupts-off
 * timing loops such as Linux's TSC calibration must not see kicks --
 * but the interrupt is marked as waiting: the inline STI and POPF then
 * leave translated code when they set IF, and the IRET and SYSEXIT
 * callouts refuse (they are emulated), so the run loop takes it as soon as
 * the guest can.
 */
static void on_timer(void)
{
	if (!the_vm)
		return;
	if (the_vm->kvm)
		hd_kvm_kick(the_vm->kvm); /* KVM injects only between runs */
	else if (the_vm->uw_running)
		hd_uworld_preempt(the_vm->uw_running);
	else if (the_vm->bt && ((the_vm->vcpu.cpu->eflags & BT_FL_IF) || the_vm->poll_watch))
		bt_request_exit(the_vm->bt);
	else if (the_vm->bt)
		the_vm->vcpu.cpu->irq_waiting = 1; /* inline STI/POPF: come back */
}

static void on_stop_signal(int signo)
{
	stop_signal = signo;
	if (the_vm && the_vm->uw_running)
		hd_uworld_preempt(the_vm->uw_running);
	if (the_vm && the_vm->bt)
		bt_request_exit(the_vm->bt);
	if (the_vm && the_vm->kvm)
		hd_kvm_kick(the_vm->kvm);
}

int mon_install_handlers(struct mon_vm *vm);
int mon_install_handlers(struct mon_vm *vm)
{
	the_vm = vm;
	hd_set_failure_report(report_guest, vm);
	int r = hd_faults_install(on_fault, on_crash);
	if (!r)
		r = hd_stop_signals_install(on_stop_signal);
	if (!r)
		r = hd_timer_init(on_timer);
	return r;
}

/* A host fault in translated code (below): complete_step may meet one. */
static void handle_fault(struct mon_vm *vm, unsigned depth);

static void complete_step(struct mon_vm *vm, enum bt_exit r, unsigned depth)
{
	switch (r) {
	case BT_EXIT_STEP:
	case BT_EXIT_POLL:
		break;
	case BT_EXIT_EMULATE:
		mon_emulate(vm);
		break;
	case BT_EXIT_FAULT:
		handle_fault(vm, depth + 1);
		break;
	default:
		MON_BUG(vm, "unexpected step exit %d", r);
	}
}

/*
 * Adaptive translation ("innocent until proven guilty", as VMware did): an
 * instruction that takes HOT_AFTER traced-write faults is retranslated to
 * go through the store callout (a 32-bit MOV) or an emulate exit (other
 * forms), so its later page-table writes cost no host fault. It
 * goes back to running natively once CLEAN_AFTER emulations in a row wrote
 * no page table (Linux's page-clearing and spin-unlock stores write page
 * tables only while a freed table's frame is being reused), and for good
 * if the emulator cannot do it (it would only be single-stepped).
 */
#define HOT_AFTER 2
#define CLEAN_AFTER 64
#define HOT_NEVER UINT32_MAX
#define HOT_SLOTS (sizeof the_vm->hot / sizeof the_vm->hot[0])

static unsigned hot_slot(struct mon_vm *vm, uint32_t eip, bool insert)
{
	unsigned h = (eip * 2654435761u) >> 22;
	for (unsigned i = 0; i < HOT_SLOTS; i++) {
		unsigned s = (h + i) % HOT_SLOTS;
		if (vm->hot[s].eip1 == eip + 1)
			return s;
		if (!vm->hot[s].eip1) {
			if (!insert)
				return HOT_SLOTS;
			vm->hot[s].eip1 = eip + 1;
			return s;
		}
	}
	return HOT_SLOTS; /* full: the instruction stays on the trap path */
}

bool mon_is_hot_writer(struct mon_vm *vm, uint32_t eip)
{
	unsigned s = hot_slot(vm, eip, false);
	return s < HOT_SLOTS && vm->hot[s].count >= HOT_AFTER &&
	       vm->hot[s].count != HOT_NEVER;
}

/* Drop the translations holding the instruction at eip: the next
 * translation asks force_emulate afresh. */
static void retranslate_at(struct mon_vm *vm, uint32_t eip)
{
	uint64_t phys;
	uint32_t err;
	if (smm_translate(vm->smm, vm->vcpu.seg[SEG_CS].base + eip, SMM_READ, false,
			  &phys, &err) == SMM_OK)
		bt_invalidate_insn(vm->bt, (uint32_t)(phys >> 12), eip);
}

static void note_pt_write(struct mon_vm *vm, uint32_t eip)
{
	vm->pt_writes_trapped++;
	if (vm->opt.no_adaptive)
		return;
	unsigned s = hot_slot(vm, eip, true);
	if (s >= HOT_SLOTS || vm->hot[s].count == HOT_NEVER ||
	    ++vm->hot[s].count != HOT_AFTER)
		return;
	vm->hot[s].clean = 0;
	retranslate_at(vm, eip);
}

void mon_hot_writer_done(struct mon_vm *vm, uint32_t eip, bool emulated, bool wrote_pt)
{
	unsigned s = hot_slot(vm, eip, false);
	if (s >= HOT_SLOTS)
		return;
	if (!emulated) {
		vm->hot[s].count = HOT_NEVER;
	} else if (wrote_pt) {
		vm->hot[s].clean = 0;
		return;
	} else if (++vm->hot[s].clean < CLEAN_AFTER) {
		return;
	} else {
		vm->hot[s].count = 0;
		vm->hot[s].clean = 0;
		vm->hot_demotions++;
	}
	retranslate_at(vm, eip);
}

void mon_step_native(struct mon_vm *vm)
{
	uint32_t eip = vm->vcpu.cpu->eip;
	enum bt_exit r = bt_step(vm->bt);
	if (r == BT_EXIT_EMULATE && vm->vcpu.cpu->eip == eip) {
		/* The translator hands back what the emulator handed it: a
		 * form neither does (asking again would recurse without end). */
		char text[96];
		mon_describe_insn(vm, text, sizeof text);
		mon_stop(vm, MON_EXIT_UNSUPPORTED,
			 "unsupported instruction '%s' at EIP %#x (this form is neither "
			 "translated nor emulated)", text, eip);
		return;
	}
	if (r != BT_EXIT_POLL)
		complete_step(vm, r, 1);
}

/*
 * A host fault in the user view of translated CPL-3 code, at guest linear
 * `linear`: the user world's events, taken here (direct.c maps the page).
 */
static void handle_view_fault(struct mon_vm *vm, uint32_t linear, bool write,
			      unsigned depth)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	uint32_t frame = 0, err = 0;
	bool writable = false;
	if (depth > 8) {
		MON_BUG(vm, "user-view faults do not settle at EIP %#x", cpu->eip);
		return;
	}
	vm->view_faults++;
	switch (smm_user_fault(vm->smm, linear, write, &frame, &writable, &err)) {
	case SMM_OK: /* hidden: mapped now, the access runs again */
		mon_user_view_map(vm, linear, frame, writable);
		break;
	case SMM_PAGE_FAULT: /* select_view maps the page when the guest retries */
		mon_user_page_fault(vm, linear, write, err);
		break;
	case SMM_CODE_WRITE:
		/* Ring-3 code writes a page with translations: drop them, and
		 * let the write complete from a throw-away translation (its
		 * own block may be on that page). */
		vm->smc_faults++;
		bt_invalidate_page(vm->bt, frame);
		if (smm_user_fault(vm->smm, linear, write, &frame, &writable, &err) == SMM_OK)
			mon_user_view_map(vm, linear, frame, writable);
		complete_step(vm, bt_step(vm->bt), depth);
		break;
	case SMM_PT_WRITE:
		/* Ring 3 may write a page table its tables map for it: the
		 * write goes through the monitor, whose writes the shadow
		 * follows. */
		vm->pt_writes_trapped++;
		mon_emulate_memory(vm);
		break;
	case SMM_UNBACKED:
		mon_emulate_memory(vm);
		break;
	}
}

static void handle_segv(struct mon_vm *vm, unsigned depth)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	uint64_t addr = cpu->fault_addr;
	if (cpu->fault_trapno != 14) {
		/* #GP from a copied instruction (misaligned SSE operand, ...):
		 * the guest's own #GP(0). */
		mon_deliver(vm, cpu->fault_trapno == 17 ? EXC_AC : EXC_GP, true, 0,
			    cpu->eip, false);
		return;
	}
	if (addr >= HD_GUEST_SPACE) {
		/* Translated CPL-3 code reaches the guest through its user
		 * view's window; anything else beyond 4 GiB is a string
		 * instruction that ran off the top of the guest's space. */
		uint64_t base = cpu->view_base;
		if (base && addr >= base && addr - base < HD_WINDOW_SIZE) {
			handle_view_fault(vm, (uint32_t)(addr - base), cpu->fault_err & PF_W, depth);
			return;
		}
		mon_stop(vm, MON_EXIT_UNSUPPORTED,
			 "unsupported: a string instruction wrapped past 4 GiB at EIP %#x",
			 cpu->eip);
		return;
	}
	uint32_t frame, err;
	bool write = cpu->fault_err & PF_W;
	if (depth > 8) {
		MON_BUG(vm, "faults on writes to traced pages do not settle at EIP %#x", cpu->eip);
		return;
	}
	switch (smm_host_fault(vm->smm, (uint32_t)addr, write,
			       mon_cpl(&vm->vcpu) == 3, &frame, &err)) {
	case SMM_OK: /* hidden fault: the page is mapped now */
		break;
	case SMM_PAGE_FAULT: {
		struct mon_fault f = { 0 };
		mon_page_fault(&f, (uint32_t)addr, err);
		mon_deliver_fault(vm, &f);
		break;
	}
	case SMM_CODE_WRITE:
		vm->smc_faults++;
		bt_invalidate_page(vm->bt, frame);
		complete_step(vm, bt_step(vm->bt), depth);
		break;
	case SMM_PT_WRITE:
		note_pt_write(vm, cpu->eip);
		smm_pt_write_begin(vm->smm, (uint32_t)addr);
		complete_step(vm, bt_step(vm->bt), depth);
		smm_pt_write_end(vm->smm, (uint32_t)addr);
		break;
	case SMM_UNBACKED:
		mon_emulate_memory(vm);
		break;
	}
}

/* The translator could not fetch the instruction at EIP. */
static void fetch_fault(struct mon_vm *vm)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	uint64_t phys;
	uint32_t err;
	uint32_t at = vm->vcpu.seg[SEG_CS].base + cpu->eip;
	if (smm_translate(vm->smm, at, SMM_FETCH, mon_cpl(&vm->vcpu) == 3, &phys,
			  &err) == SMM_PAGE_FAULT) {
		struct mon_fault f = { 0 };
		mon_page_fault(&f, at, err);
		mon_deliver_fault(vm, &f);
		return;
	}
	mon_stop(vm, MON_EXIT_UNSUPPORTED, "guest jumped outside RAM: EIP %#x", cpu->eip);
}

/*
 * The view translated code runs in: the S-view (at host address 0, S
 * blocks) at CPL 0-2 or with paging off; at CPL 3 with paging, the current
 * address space's user view, whose window holds only the pages the guest's
 * tables give ring 3 (U blocks, through the host GS base). S blocks never
 * use GS, so the base stays at the last user view across kernel entries:
 * only running another address space's ring 3 writes it (bt.h:
 * bt_set_user_view).
 */
static void select_view(struct mon_vm *vm, unsigned cpl)
{
	uint64_t base = 0;
	if (cpl == 3 && smm_paging(vm->smm)) {
		base = mon_user_view(vm);
		if (!base) { /* never the S-view: ring 3 would see kernel pages */
			mon_stop(vm, MON_EXIT_HOST, "out of memory for a user view");
			return;
		}
		hd_uworld_flush(vm->view_cur->uw); /* its queued unmaps, before ring 3 */
	}
	struct bt_cpu *cpu = vm->vcpu.cpu;
	if (base == cpu->view_base)
		return;
	if (base && base != vm->host_gs) {
		int r = hd_set_view_base(base);
		if (r) {
			mon_stop(vm, MON_EXIT_HOST, "cannot set the host GS base: %s",
				 strerror(-r));
			return;
		}
		vm->host_gs = base;
		vm->view_switches++;
	}
	bt_set_user_view(vm->bt, base != 0);
	cpu->view_base = base;
	if (base && vm->de_retry.valid)
		mon_user_view_retry(vm);
}

/*
 * SYSENTER, SYSEXIT, IRETD and INT n by a callout from translated code:
 * the emulator's transition and the change of view select_view would
 * make, with nothing between them for the run loop to do. Left to the
 * monitor (refused): virtual-8086 mode, single-stepping, and where the
 * instruction faults; a SYSEXIT also while an interrupt waits, a retried
 * access is pending or direct execution may take ring 3, and when ring
 * 3's view is not the one the host GS base shows (another address space
 * now). IRETD and INT n, which may go either way, are done and leave the
 * rest to the run loop (BT_TR_DONE_EXIT) where it has something to do.
 */
enum bt_tr_result mon_transition(struct mon_vm *vm, enum bt_transition kind, uint8_t vector,
				 uint32_t ecx, uint32_t edx)
{
	struct vcpu *v = &vm->vcpu;
	struct bt_cpu *cpu = v->cpu;
	bool from_user = kind == BT_TR_SYSENTER || kind == BT_TR_INT;
	if (!(v->cr0 & CR0_PE) || !smm_paging(vm->smm) || (cpu->eflags & (BT_FL_TF | BT_FL_VM)) ||
	    mon_cpl(v) != (from_user ? 3u : 0u))
		return BT_TR_REFUSED;
	switch (kind) {
	case BT_TR_SYSENTER:
		if (sel_null((uint16_t)v->sysenter_cs))
			return BT_TR_REFUSED;
		mon_sysenter_state(v);
		cpu->ring0 = 1;
		cpu->view_base = 0;
		bt_set_user_view(vm->bt, false);
		vm->fast_sys[0]++;
		return BT_TR_DONE;
	case BT_TR_SYSEXIT: {
		struct mon_world *w = vm->view_cur;
		if (sel_null((uint16_t)v->sysenter_cs) || cpu->irq_waiting || vm->de_retry.valid ||
		    mon_de_wanted(vm) || !w || !w->valid || w->cr3 != mon_space_key(v) ||
		    hd_uworld_base(w->uw) != vm->host_gs)
			return BT_TR_REFUSED;
		if (!hd_uworld_flush(w->uw))
			return BT_TR_REFUSED; /* the world is gone: the slow path says so */
		mon_sysexit_state(v, ecx, edx);
		w->last_use = ++vm->world_clock;
		cpu->ring0 = 0;
		cpu->view_base = vm->host_gs;
		bt_set_user_view(vm->bt, true);
		vm->fast_sys[1]++;
		return BT_TR_DONE;
	}
	case BT_TR_IRET:
		if (!mon_iretd_inline(vm, cpu->callout_eip))
			return BT_TR_REFUSED;
		vm->fast_sys[2]++;
		break;
	case BT_TR_INT: {
		uint32_t eip = cpu->eip;
		cpu->eip = cpu->callout_eip; /* where a fault of the delivery points */
		vm->refuse_task_gate = true;
		mon_deliver(vm, vector, false, 0, cpu->callout_eip + 2, true);
		vm->refuse_task_gate = false;
		if (vm->task_gate_refused) { /* the emulator switches tasks */
			vm->task_gate_refused = false;
			vm->events--;
			cpu->eip = eip;
			return BT_TR_REFUSED;
		}
		vm->fast_sys[3]++;
		break;
	}
	}
	/* Where the IRET or the INT went: the run loop's own checks. */
	unsigned cpl = mon_cpl(v);
	if (vm->stop || (cpu->eflags & (BT_FL_TF | BT_FL_VM)) ||
	    (cpu->irq_waiting && (cpu->eflags & BT_FL_IF)) || (cpl == 3 && mon_de_possible(vm)))
		return BT_TR_DONE_EXIT;
	select_view(vm, cpl);
	if (vm->stop)
		return BT_TR_DONE_EXIT;
	cpu->ring0 = cpl == 0;
	return BT_TR_DONE;
}

static void handle_fault(struct mon_vm *vm, unsigned depth)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	switch (cpu->exit_signo) {
	case 0:
		fetch_fault(vm);
		break;
	case SIGSEGV:
		handle_segv(vm, depth);
		break;
	case SIGFPE:
		mon_deliver(vm, cpu->fault_trapno == 16 ? EXC_MF :
				cpu->fault_trapno == 19 ? EXC_XM : EXC_DE,
			    false, 0, cpu->eip, false);
		break;
	case SIGILL:
		mon_deliver(vm, EXC_UD, false, 0, cpu->eip, false);
		break;
	case SIGTRAP:
		mon_deliver(vm, EXC_DB, false, 0, cpu->eip, false);
		break;
	default:
		mon_stop(vm, MON_EXIT_HOST, "host signal %u (%s) at guest EIP %#x",
			 cpu->exit_signo, strsignal((int)cpu->exit_signo), cpu->eip);
	}
}

void mon_check_devices(struct mon_vm *vm)
{
	int status = 0;
	switch (dev_platform_stop_reason(vm->plat, &status)) {
	case DEV_STOP_DEBUG_EXIT:
		mon_stop(vm, status, NULL);
		break;
	case DEV_STOP_RESET:
		mon_stop(vm, MON_EXIT_RESET, "guest reset");
		break;
	case DEV_STOP_POWEROFF:
		mon_stop(vm, MON_EXIT_RESET, "guest powered off (ACPI S5)");
		break;
	default:
		break;
	}
}

/*
 * Interrupts are taken between instructions: here, at the top of the run
 * loop, which every exit from translated code passes. Translated code
 * exits when the host timer fires for the next device deadline with IF
 * set (the poll page), and when IF becomes set while an interrupt waits:
 * the IRET and SYSEXIT transition callouts refuse while irq_waiting is set
 * (they are then emulated), and the inline STI and POPF test it; it is
 * kept here.
 */
static bool take_interrupt(struct mon_vm *vm)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	dev_platform_update(vm->plat);
	bool requested = dev_platform_intr(vm->plat);
	cpu->irq_waiting = requested;
	if (!(cpu->eflags & BT_FL_IF) || vm->irq_shadow || !requested)
		return false;
	uint8_t vector = dev_platform_inta(vm->plat);
	cpu->irq_waiting = dev_platform_intr(vm->plat);
	vm->vcpu.halted = false;
	vm->irqs++;
	mon_deliver(vm, vector, false, 0, cpu->eip, false);
	return true;
}

/*
 * Host input for COM1, QEMU's way: Ctrl-A x ends btvmm, Ctrl-A h lists
 * the escapes, Ctrl-A c switches the terminal between COM1 and the
 * monitor console, Ctrl-A Ctrl-A sends one Ctrl-A, any other byte (Ctrl-C
 * included: the terminal is raw) goes to the guest or the console. Bytes
 * the UART cannot take yet wait here.
 */
/* Ctrl-A h: the escapes, as QEMU lists them (CR LF: the terminal is raw). */
static void escape_help(void)
{
	static const char text[] =
		"\r\nC-a h    print this help\r\n"
		"C-a x    exit btvmm\r\n"
		"C-a c    switch between console and monitor\r\n"
		"C-a C-a  sends C-a\r\n";
	/* The terminal is the user's: a failed write has no one to tell. */
	(void)hd_write_all(STDOUT_FILENO, text, sizeof text - 1);
}

void mon_pump_input(struct mon_vm *vm, uint64_t now, bool force)
{
	if (vm->input_fd < 0 && !vm->input_len)
		return;
	if (!force && now - vm->input_polled < MON_INPUT_POLL_NS && !vm->input_len)
		return;
	vm->input_polled = now;
	if (vm->input_fd >= 0 && vm->input_len < sizeof vm->input) {
		uint8_t buf[sizeof vm->input];
		int n = hd_read_nonblock(vm->input_fd, buf, sizeof vm->input - vm->input_len);
		if (n < 0)
			vm->input_fd = -1; /* end of input: the guest just hears nothing */
		for (int i = 0; i < n; i++) {
			uint8_t c = buf[i];
			if (vm->input_escape) {
				vm->input_escape = false;
				if (c == 'x' || c == 'X') {
					mon_stop(vm, MON_EXIT_SIGNAL, "terminated by Ctrl-A x");
					return;
				}
				if (c == 'h' || c == 'H')
					escape_help();
				if (c == 'c' || c == 'C') {
					vm->console_on = !vm->console_on;
					mon_console_terminal(vm, vm->console_on);
				}
				if (c != 0x01)
					continue;
			} else if (c == 0x01) {
				vm->input_escape = true;
				continue;
			}
			if (vm->console_on) {
				mon_console_typed(vm, &c, 1);
				if (vm->stop)
					return;
				continue;
			}
			vm->input[vm->input_len++] = c;
		}
	}
	if (vm->input_len) {
		size_t took = dev_uart_receive(dev_platform_com1(vm->plat), vm->input,
					       vm->input_len);
		memmove(vm->input, vm->input + took, vm->input_len - took);
		vm->input_len -= (unsigned)took;
	}
}

void mon_halt(struct mon_vm *vm, bool interrupts_on, uint32_t eip)
{
	if (!interrupts_on) {
		/* Nothing can ever wake it (there is no NMI source): this is how
		 * a guest without ACPI powers off (Linux: "System halted"). */
		mon_stop(vm, MON_EXIT_RESET,
			 "guest halted the CPU with interrupts disabled (powered off)");
		return;
	}
	uint64_t next = dev_platform_next_event(vm->plat);
	if (next == UINT64_MAX && vm->input_fd < 0) {
		mon_stop(vm, MON_EXIT_HALTED,
			 "guest halted at EIP %#x waiting for an interrupt that no "
			 "device will raise", eip);
		return;
	}
	vm->halts++;
	hd_sleep_until_or_input(next, vm->input_fd);
	mon_pump_input(vm, hd_now_ns(), true);
}

/*
 * EFLAGS.TF: run one instruction, then raise the single-step trap (#DB
 * with DR6.BS) unless the instruction delivered an exception itself. A
 * POPF that sets TF traps only after the following instruction, which
 * falls out of testing TF before the step.
 */
static void single_step(struct mon_vm *vm)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	uint64_t events = vm->events;
	enum bt_exit r = bt_step(vm->bt);
	mon_ring_record(vm, cpu->eip, r, (unsigned)cpu->exit_signo);
	if (r == BT_EXIT_POLL)
		return; /* nothing ran */
	complete_step(vm, r, 0);
	if (vm->stop || vm->events != events || vm->vcpu.halted)
		return;
	vm->vcpu.dr[6] |= 0x4000;
	mon_deliver(vm, EXC_DB, false, 0, cpu->eip, false);
}

void mon_step_one(struct mon_vm *vm)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	uint32_t before = cpu->eip;
	bool shadow = vm->irq_shadow;
	select_view(vm, mon_cpl(&vm->vcpu));
	/* A poll request (the host timer) can end the step before the
	 * instruction ran: try again, a few times. */
	for (int tries = 0; tries < 4 && !vm->stop; tries++) {
		enum bt_exit r = bt_step(vm->bt);
		mon_ring_record(vm, cpu->eip, r, (unsigned)cpu->exit_signo);
		if (r == BT_EXIT_POLL && cpu->eip == before)
			continue;
		complete_step(vm, r, 0);
		if (shadow)
			vm->irq_shadow = false; /* that instruction was the shadow's */
		break;
	}
	mon_check_devices(vm);
}

bool mon_stopped_by_signal(struct mon_vm *vm)
{
	if (!stop_signal)
		return false;
	if (!vm->stop)
		mon_stop(vm, MON_EXIT_SIGNAL, "stopped by signal %d (%s)", (int)stop_signal,
			 strsignal((int)stop_signal));
	return true;
}

/* --stats: host time by activity, in TSC ticks (charged to `what`
 * since the last call). */
static void charge(struct mon_vm *vm, enum mon_activity what, uint64_t *since)
{
	uint64_t now = __rdtsc();
	vm->activity_ticks[what] += now - *since;
	*since = now;
}

int mon_run(struct mon_vm *vm)
{
	uint64_t t = __rdtsc();
	vm->run_tsc0 = t;
	vm->run_ns0 = hd_now_ns();
	while (!vm->stop) {
		if (mon_stopped_by_signal(vm))
			break;
		/* One clock read serves the device updates of this
		 * iteration; translated code and emulation read it afresh. */
		vm->clock_now = hd_now_ns();
		mon_pump_input(vm, vm->clock_now, false);
		if (mon_console_poll(vm, vm->clock_now) && !vm->stop) {
			/* "stop": nothing runs, no interrupt is taken. */
			vm->clock_now = 0;
			mon_console_wait(vm);
			mon_pump_input(vm, hd_now_ns(), true);
			charge(vm, ACT_HALT, &t);
			continue;
		}
		take_interrupt(vm);
		uint64_t next = dev_platform_next_event(vm->plat);
		if (vm->poll_watch) {
			/* Moved only once reached: re-arming the host timer
			 * is a system call. */
			if (vm->clock_now >= vm->poll_deadline)
				vm->poll_deadline = vm->clock_now + MON_INPUT_POLL_NS;
			if (vm->poll_deadline < next)
				next = vm->poll_deadline;
		}
		vm->clock_now = 0;
		if (vm->stop)
			break;
		if (mon_gdb_check(vm)) {
			charge(vm, ACT_STEP, &t);
			continue;
		}
		if (vm->vcpu.halted) {
			charge(vm, ACT_LOOP, &t);
			mon_halt(vm, vm->vcpu.cpu->eflags & BT_FL_IF, vm->vcpu.cpu->eip);
			charge(vm, ACT_HALT, &t);
			continue;
		}
		/* The host timer stays armed for the next deadline whatever IF
		 * says (on_timer decides): re-arming a host timer is a system
		 * call that reprograms a timer in the host, which costs several
		 * microseconds here, and IF changes on every guest system call. */
		hd_timer_arm(next);
		struct bt_cpu *cpu = vm->vcpu.cpu;
		charge(vm, ACT_LOOP, &t);
		if (vm->irq_shadow) {
			/* One instruction runs before interrupts are seen. */
			uint32_t before = cpu->eip;
			select_view(vm, mon_cpl(&vm->vcpu));
			if (vm->stop)
				break;
			if (vm->opt.stats)
				mon_count_site(vm, before, 0, true);
			enum bt_exit r = bt_step(vm->bt);
			if (r != BT_EXIT_POLL)
				complete_step(vm, r, 0);
			if (r != BT_EXIT_POLL || cpu->eip != before)
				vm->irq_shadow = false;
			mon_check_devices(vm);
			charge(vm, ACT_STEP, &t);
			continue;
		}
		if (mon_de_possible(vm)) {
			mon_de_run(vm);
			mon_check_devices(vm);
			charge(vm, ACT_DE, &t);
			continue;
		}
		unsigned cpl = mon_cpl(&vm->vcpu);
		select_view(vm, cpl);
		if (vm->stop)
			break;
		if (cpu->eflags & BT_FL_TF) {
			single_step(vm);
			mon_check_devices(vm);
			charge(vm, ACT_STEP, &t);
			continue;
		}
		cpu->ring0 = cpl == 0 && (vm->vcpu.cr0 & CR0_PE) && !(cpu->eflags & BT_FL_VM);
		uint64_t started = t;
		uint32_t space = mon_space_key(&vm->vcpu);
		enum bt_exit r = bt_run(vm->bt);
		mon_ring_record(vm, cpu->eip, r, (unsigned)cpu->exit_signo);
		charge(vm, ACT_TRANSLATED, &t);
		if (cpl == 3 && vm->uw && vm->opt.de_adaptive)
			adapt_bt_ran(&vm->adapt, space, t - started);
		switch (r) {
		case BT_EXIT_EMULATE:
			mon_emulate(vm);
			charge(vm, ACT_EMULATE, &t);
			break;
		case BT_EXIT_FAULT:
			handle_fault(vm, 0);
			charge(vm, ACT_FAULT, &t);
			break;
		case BT_EXIT_POLL:
		case BT_EXIT_IRQ:
		case BT_EXIT_RUNLOOP:
		case BT_EXIT_BREAK: /* mon_gdb_check stops there */
			break;
		default:
			MON_BUG(vm, "unexpected exit %d at EIP %#x", r, cpu->eip);
		}
		mon_check_devices(vm);
	}
	return vm->status;
}
