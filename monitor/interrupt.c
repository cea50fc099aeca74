/* monitor: exception and interrupt delivery through the guest IDT. */
#include "monitor.h"

void mon_fault_set(struct mon_fault *f, uint8_t vector, bool has_error,
		   uint32_t error)
{
	f->raised = true;
	f->vector = vector;
	f->has_error = has_error;
	f->error = error;
}

void mon_page_fault(struct mon_fault *f, uint32_t linear, uint32_t error)
{
	mon_fault_set(f, EXC_PF, true, error);
	f->cr2 = linear;
}

static bool contributory(unsigned v)
{
	return v == EXC_DE || v == EXC_TS || v == EXC_NP || v == EXC_SS ||
	       v == EXC_GP;
}

/* Try one delivery; false with *f set if it faulted (state restored). */
static bool try_deliver(struct mon_vm *vm, uint8_t v, bool has_error,
			uint32_t error, uint32_t next_eip, bool soft,
			struct mon_fault *f)
{
	struct vcpu *vc = &vm->vcpu;
	struct bt_cpu *cpu = vc->cpu;
	unsigned cpl = mon_cpl(vc);
	uint32_t idx_err = idt_error(v, !soft);

	if (!(vc->cr0 & CR0_PE)) {
		mon_stop(vm, MON_EXIT_UNSUPPORTED,
			 "unsupported: interrupt %u in real mode", v);
		return true;
	}
	if ((uint32_t)v * DESC_SIZE + DESC_SIZE - 1 > vc->idtr.limit) {
		mon_fault_set(f, EXC_GP, true, idx_err);
		return false;
	}
	uint64_t g;
	if (!mon_read_sys(vm, vc->idtr.base + (uint32_t)v * DESC_SIZE, &g, DESC_SIZE, f))
		return false;
	unsigned type = desc_type(g);
	bool gate16 = type == SYS_INT_GATE16 || type == SYS_TRAP_GATE16;
	if (type != SYS_INT_GATE32 && type != SYS_TRAP_GATE32 && type != SYS_TASK_GATE) {
		if (gate16)
			mon_stop(vm, MON_EXIT_UNSUPPORTED,
				 "unsupported: 16-bit gate for vector %u", v);
		else
			mon_fault_set(f, EXC_GP, true, idx_err);
		return gate16;
	}
	if (soft && desc_dpl(g) < cpl) {
		mon_fault_set(f, EXC_GP, true, idx_err);
		return false;
	}
	if (!desc_p(g)) {
		mon_fault_set(f, EXC_NP, true, idx_err);
		return false;
	}
	if (type == SYS_TASK_GATE && vm->refuse_task_gate) {
		vm->task_gate_refused = true; /* nothing has changed yet */
		return true;
	}
	if (type == SYS_TASK_GATE)
		return mon_task_gate_deliver(vm, g, idx_err, has_error, error, next_eip, f) ||
		       vm->stop;

	uint32_t saved_esp = cpu->gpr[BT_ESP];
	struct mon_seg saved_cs = vc->seg[SEG_CS], saved_ss = vc->seg[SEG_SS];
	uint32_t flags = cpu->eflags;
	uint16_t cs = vc->seg[SEG_CS].sel;
	/* The handler's privilege: its code segment's DPL, or CPL for a
	 * conforming one. An inner level switches to the TSS's stack. */
	uint64_t cd;
	if (!mon_read_descriptor(vm, gate_sel(g), &cd, f))
		return false;
	unsigned dpl = desc_dpl(cd);
	bool conforming = (desc_type(cd) & (DESC_TYPE_CODE | DESC_TYPE_CONFORMING)) ==
			  (DESC_TYPE_CODE | DESC_TYPE_CONFORMING);
	unsigned new_cpl = (!conforming && dpl < cpl) ? dpl : cpl;
	bool inner = new_cpl < cpl;
	uint32_t new_esp = 0;
	uint16_t new_ss = 0;
	if (inner && !mon_tss_stack(vm, new_cpl, &new_ss, &new_esp, f))
		return false;
	if (!mon_load_cs_at(vm, gate_sel(g), new_cpl, f))
		return false;
	if (vm->stop)
		return true;
	uint16_t old_ss = saved_ss.sel;
	if (inner && !mon_load_seg(vm, SEG_SS, new_ss, f)) {
		if (f->vector == EXC_GP || f->vector == EXC_SS)
			mon_fault_set(f, EXC_TS, true, sel_error(new_ss));
		vc->seg[SEG_CS] = saved_cs;
		return false;
	}
	if (inner)
		cpu->gpr[BT_ESP] = new_esp;
	if ((inner && (!mon_push(vm, old_ss, 4, f) || !mon_push(vm, saved_esp, 4, f))) ||
	    !mon_push(vm, flags, 4, f) || !mon_push(vm, cs, 4, f) ||
	    !mon_push(vm, next_eip, 4, f) ||
	    (has_error && !mon_push(vm, error, 4, f))) {
		cpu->gpr[BT_ESP] = saved_esp;
		vc->seg[SEG_CS] = saved_cs;
		vc->seg[SEG_SS] = saved_ss;
		return false;
	}
	cpu->eflags &= ~(BT_FL_TF | BT_FL_NT | BT_FL_RF | BT_FL_VM);
	if (type == SYS_INT_GATE32)
		cpu->eflags &= ~BT_FL_IF;
	cpu->eip = gate_offset(g);
	vc->halted = false;
	return true;
}

/* Append "#GP(0x10)", "#DF" or "vector 0x20" to text[*len...size). */
static void append_exc(char *text, size_t size, size_t *len, const struct mon_exc_link *e)
{
	static const char *const names[32] = {
		"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO",
		"#TS", "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM",
		"#VE", "#CP",
	};
	const char *name = e->vector < 32 ? names[e->vector] : NULL;
	int n;
	if (*len >= size)
		return;
	if (!name)
		n = snprintf(text + *len, size - *len, "vector %#x", e->vector);
	else if (e->has_error && e->vector != EXC_DF)
		n = snprintf(text + *len, size - *len, "%s(%#x)", name, e->error);
	else
		n = snprintf(text + *len, size - *len, "%s", name);
	*len += n > 0 ? (size_t)n : 0;
}

/* Stop with "guest triple fault: #UD at EIP 0x1000 (ud2) -> #GP(0x32) ->
 * #DF -> triple fault (why)": what a user needs to find the first fault. */
static void triple_fault(struct mon_vm *vm, const char *why)
{
	char chain[256] = "", insn[96];
	size_t len = 0;
	mon_describe_insn(vm, insn, sizeof insn);
	for (unsigned i = 0; i < vm->exc_chain_len; i++) {
		if (i && len < sizeof chain)
			len += (size_t)snprintf(chain + len, sizeof chain - len, " -> ");
		append_exc(chain, sizeof chain, &len, &vm->exc_chain[i]);
		if (!i && len < sizeof chain)
			len += (size_t)snprintf(chain + len, sizeof chain - len, " at EIP %#x (%s)",
						vm->vcpu.cpu->eip, insn);
	}
	mon_stop(vm, MON_EXIT_TRIPLE, "guest triple fault: %s -> triple fault (%s)", chain, why);
}

/* What brings a vector to the IDT: it decides the error code's EXT bit,
 * the gate DPL check, and whether a fault in delivery can be a #DF. */
enum event { EV_EXCEPTION, EV_SOFT, EV_EXTERNAL };

static void deliver(struct mon_vm *vm, uint8_t v, bool has_error, uint32_t error,
		    uint32_t next_eip, enum event kind)
{
	struct mon_fault f = { 0 };
	vm->events++;
	if (v < 32)
		vm->stats.exc_count[v]++;
	if (vm->opt.trace_exc)
		fprintf(vm->log, "exc: vector %u error %#x at eip %#x\n", v,
			has_error ? error : 0, vm->vcpu.cpu->eip);
	unsigned depth = vm->delivering;
	if (depth < sizeof vm->exc_chain / sizeof vm->exc_chain[0]) {
		vm->exc_chain[depth] = (struct mon_exc_link){ v, has_error, error };
		vm->exc_chain_len = depth + 1;
	}
	if (try_deliver(vm, v, has_error, error, next_eip, kind == EV_SOFT, &f))
		return;
	/* The delivery itself faulted: the rules of SDM vol. 3 §6.15 table
	 * 6-5 decide between the second exception and a double fault. Only
	 * exceptions count there: INT n and every external interrupt are
	 * benign (table 6-4), whatever their vector: an IRQ that a PIC left
	 * at base 8 brings to vector 8 or 13 is taken for no #DF or #GP. */
	bool exception = kind == EV_EXCEPTION;
	if (exception && v == EXC_DF) {
		triple_fault(vm, "a fault while delivering #DF");
		return;
	}
	bool df = exception && ((contributory(v) && contributory(f.vector)) ||
				(v == EXC_PF && (f.vector == EXC_PF || contributory(f.vector))));
	if (vm->delivering > 4) {
		triple_fault(vm, "exceptions nest without end");
		return;
	}
	vm->delivering++;
	if (f.vector == EXC_PF)
		vm->vcpu.cr2 = f.cr2;
	if (df)
		deliver(vm, EXC_DF, true, 0, vm->vcpu.cpu->eip, EV_EXCEPTION);
	else
		deliver(vm, f.vector, f.has_error, f.error, vm->vcpu.cpu->eip, EV_EXCEPTION);
	vm->delivering--;
}

void mon_deliver(struct mon_vm *vm, uint8_t v, bool has_error, uint32_t error,
		 uint32_t next_eip, bool soft)
{
	deliver(vm, v, has_error, error, next_eip, soft ? EV_SOFT : EV_EXCEPTION);
}

void mon_deliver_irq(struct mon_vm *vm, uint8_t v, uint32_t next_eip)
{
	deliver(vm, v, false, 0, next_eip, EV_EXTERNAL);
}

void mon_deliver_fault(struct mon_vm *vm, const struct mon_fault *f)
{
	if (f->vector == EXC_PF)
		vm->vcpu.cr2 = f->cr2;
	mon_deliver(vm, f->vector, f->has_error, f->error, vm->vcpu.cpu->eip,
		    false);
}

/*
 * Interrupts are taken between instructions: here, called at the top of
 * the run loop (run.c:mon_run), which every exit from translated code
 * passes. Translated code exits when the host timer fires for the next
 * device deadline with IF set (the poll page), and when IF becomes set
 * while an interrupt waits: the IRET and SYSEXIT transition callouts
 * refuse while irq_waiting is set (they are then emulated), and the
 * inline STI and POPF test it; it is kept here.
 */
bool mon_take_interrupt(struct mon_vm *vm)
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
	vm->stats.irqs++;
	mon_deliver_irq(vm, vector, cpu->eip);
	return true;
}
