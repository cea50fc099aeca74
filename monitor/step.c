/* monitor: single instructions (EFLAGS.TF, a debugger's step, a throw-away
 * native step) and finishing the exit a step ends with. */
#include "monitor.h"
#include "run.h"

void mon_complete_step(struct mon_vm *vm, enum bt_exit r, unsigned depth)
{
	switch (r) {
	case BT_EXIT_STEP:
	case BT_EXIT_POLL:
		break;
	case BT_EXIT_EMULATE:
		mon_emulate(vm);
		break;
	case BT_EXIT_FAULT:
		mon_host_fault(vm, depth + 1);
		break;
	default:
		MON_BUG(vm, "unexpected step exit %d", r);
	}
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
		mon_complete_step(vm, r, 1);
}

/*
 * EFLAGS.TF: run one instruction, then raise the single-step trap (#DB
 * with DR6.BS) unless the instruction delivered an exception itself. A
 * POPF that sets TF traps only after the following instruction, which
 * falls out of testing TF before the step.
 */
void mon_single_step(struct mon_vm *vm)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	uint64_t events = vm->events;
	enum bt_exit r = bt_step(vm->bt);
	mon_ring_record(vm, cpu->eip, r, (unsigned)cpu->exit_signo);
	if (r == BT_EXIT_POLL)
		return; /* nothing ran */
	mon_complete_step(vm, r, 0);
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
	mon_select_view(vm, mon_cpl(&vm->vcpu));
	/* A poll request (the host timer) can end the step before the
	 * instruction ran: try again, a few times. */
	for (int tries = 0; tries < 4 && !vm->stop; tries++) {
		enum bt_exit r = bt_step(vm->bt);
		mon_ring_record(vm, cpu->eip, r, (unsigned)cpu->exit_signo);
		if (r == BT_EXIT_POLL && cpu->eip == before)
			continue;
		mon_complete_step(vm, r, 0);
		if (shadow)
			vm->irq_shadow = false; /* that instruction was the shadow's */
		break;
	}
	mon_check_devices(vm);
}
