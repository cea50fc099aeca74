/* monitor: the run loop, how a run stops, the host signals that reach it,
 * and HLT. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <x86intrin.h>

#include "hostdriver.h"
#include "monitor.h"
#include "run.h"

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

static enum hd_fault_action on_fault(struct hd_fault *f)
{
	if (the_vm && the_vm->bt && bt_handle_host_fault(the_vm->bt, f))
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

static void on_crash(const struct hd_fault *f)
{
	hd_term_restore();
	fprintf(stderr,
		"btvmm: internal error: signal %d (%s) at host pc %#llx, address %p\n",
		f->signo, strsignal(f->signo), (unsigned long long)f->rip,
		(void *)(uintptr_t)f->addr);
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
	vm->stats.halts++;
	hd_sleep_until_or_input(next, vm->input_fd);
	mon_pump_input(vm, hd_now_ns(), true);
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
	vm->stats.activity_ticks[what] += now - *since;
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
		mon_take_interrupt(vm);
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
			mon_select_view(vm, mon_cpl(&vm->vcpu));
			if (vm->stop)
				break;
			if (vm->opt.stats)
				mon_count_site(vm, before, 0, true);
			enum bt_exit r = bt_step(vm->bt);
			if (r != BT_EXIT_POLL)
				mon_complete_step(vm, r, 0);
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
		mon_select_view(vm, cpl);
		if (vm->stop)
			break;
		if (cpu->eflags & BT_FL_TF) {
			mon_single_step(vm);
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
			mon_host_fault(vm, 0);
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
