/* monitor: hardware task switches (SDM vol. 3 §7.3): far JMP/CALL to a TSS or task gate, IDT task gates, IRET with NT. */
#include <stddef.h>
#include <string.h>

#include "monitor.h"

_Static_assert(sizeof ((struct tss32 *)0)->seg / sizeof (uint32_t) == SEG_COUNT,
	       "the TSS holds every segment register, in the SEG_* order");
/* What a task switch saves of the old task: EIP through GS. */
#define TSS_STATE_AT offsetof(struct tss32, eip)
#define TSS_STATE_LEN (offsetof(struct tss32, ldt) - TSS_STATE_AT)

/* EFLAGS bits a task switch loads from the new TSS (VM is refused). */
#define FL_FROM_TSS (BT_FL_LIVE | BT_FL_TF | BT_FL_IF | BT_FL_IOPL | BT_FL_NT | BT_FL_RF | \
		     BT_FL_AC | BT_FL_ID)

static bool set_busy(struct mon_vm *vm, uint16_t sel, bool busy, struct mon_fault *f)
{
	uint32_t at = vm->vcpu.gdtr.base + sel_offset(sel) + DESC_ACCESS_BYTE;
	uint8_t access;
	if (!mon_read_sys(vm, at, &access, 1, f))
		return false;
	access = (uint8_t)(busy ? access | SYS_TSS_BUSY : access & ~SYS_TSS_BUSY);
	return mon_write_sys(vm, at, &access, 1, f);
}

/* The new task's LDT: a present LDT descriptor in the GDT, else #TS(sel). */
static bool load_task_ldt(struct mon_vm *vm, uint16_t sel, struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	uint64_t d;
	v->ldtr = (struct mon_seg){ .sel = (uint16_t)(sel & ~SEL_TI) };
	if (sel_null(sel))
		return true;
	if ((sel & SEL_TI) || sel_offset(sel) + DESC_SIZE - 1 > v->gdtr.limit)
		goto ts;
	if (!mon_read_sys(vm, v->gdtr.base + sel_offset(sel), &d, DESC_SIZE, f))
		return false;
	if (desc_s(d) || desc_type(d) != SYS_LDT || !desc_p(d))
		goto ts;
	mon_desc_to_seg(d, sel, &v->ldtr);
	return true;
ts:
	mon_fault_set(f, EXC_TS, true, sel_error(sel));
	return false;
}

/*
 * The new task's segment registers, in QEMU's order, with the checks of
 * ordinary loads at the privilege of the new CS's RPL: what would be a
 * #GP there is #TS(selector) here (SDM vol. 3 table 7-1); not present
 * stays #NP, or #SS for the stack.
 */
static bool load_task_segments(struct mon_vm *vm, const uint32_t seg[SEG_COUNT],
			       struct mon_fault *f)
{
	static const int order[] = { SEG_CS, SEG_SS, SEG_ES, SEG_DS, SEG_FS, SEG_GS };
	for (unsigned i = 0; i < SEG_COUNT; i++) {
		int s = order[i];
		uint16_t sel = (uint16_t)seg[s];
		bool ok = s == SEG_CS ? mon_load_cs_at(vm, sel, sel_rpl(sel), f)
				      : mon_load_seg(vm, s, sel, f);
		if (!ok) {
			if (f->raised && f->vector == EXC_GP)
				f->vector = EXC_TS;
			return false;
		}
	}
	return true;
}

/* Where the old task is written: its TSS must be a 32-bit one. */
static bool old_task_supported(struct mon_vm *vm)
{
	const struct mon_seg *tr = &vm->vcpu.tr;
	if (sel_null(tr->sel)) {
		mon_stop(vm, MON_EXIT_UNSUPPORTED,
			 "unsupported: task switch with no current task (TR is null)");
		return false;
	}
	if (!(seg_attr_type(tr->attr) & SYS_32BIT)) {
		mon_stop(vm, MON_EXIT_UNSUPPORTED, "unsupported: 16-bit task switch (from TSS %#x)",
			 tr->sel);
		return false;
	}
	return true;
}

/*
 * The old task's side of a switch (its TSS `ot` as read): its busy bit,
 * then its state, NT cleared by IRET only (a JMP leaves it, as QEMU and
 * the SDM's step 7 do); a nested task links back to it.
 */
static bool leave_old_task(struct mon_vm *vm, enum mon_task_reason why, uint32_t next_eip,
			   struct tss32 *ot, uint32_t new_base, struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	struct bt_cpu *cpu = v->cpu;
	if ((why == MON_TASK_JMP || why == MON_TASK_IRET) && !set_busy(vm, v->tr.sel, false, f))
		return false;
	ot->eip = next_eip;
	ot->eflags = why == MON_TASK_IRET ? cpu->eflags & ~BT_FL_NT : cpu->eflags;
	memcpy(ot->gpr, cpu->gpr, sizeof ot->gpr);
	for (int s = 0; s < SEG_COUNT; s++)
		ot->seg[s] = (ot->seg[s] & 0xffff0000u) | v->seg[s].sel;
	if (!mon_write_sys(vm, v->tr.base + TSS_STATE_AT, (uint8_t *)ot + TSS_STATE_AT,
			   TSS_STATE_LEN, f))
		return false;
	return !(why == MON_TASK_CALL || why == MON_TASK_INT) ||
	       mon_write_sys(vm, new_base + offsetof(struct tss32, link), &v->tr.sel, 2, f);
}

/* The new task's state from its TSS `nt`. A fault here belongs to the
 * new task (SDM §7.3 step 13): cpu->eip is already its EIP. */
static bool enter_new_task(struct mon_vm *vm, const struct mon_seg *tr, const struct tss32 *nt,
			   struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	struct bt_cpu *cpu = v->cpu;
	v->tr = *tr;
	v->cr0 |= CR0_TS;
	/* With PAE paging the new CR3's PDPTEs are loaded; a bad one is a
	 * #GP in the new task, which then runs with the old CR3. */
	bool pdptes_ok = mon_load_pdptes(vm, v->cr0, nt->cr3, v->cr4);
	if (v->cr0 & CR0_PG && pdptes_ok)
		v->cr3 = nt->cr3;
	mon_sync_mode(vm); /* CR3 and CR0.TS, as MOV CR3 and MOV CR0 */
	if (!pdptes_ok) {
		mon_fault_set(f, EXC_GP, true, 0);
		return false;
	}
	mon_segc_flush(vm); /* the LDT and maybe the GDT's mapping change */
	cpu->eip = nt->eip;
	cpu->eflags = (nt->eflags & FL_FROM_TSS) | 2;
	memcpy(cpu->gpr, nt->gpr, sizeof cpu->gpr);
	/* The selectors first, with empty caches: a fault while loading one
	 * finds the others already the new task's, as QEMU leaves them. */
	for (int s = 0; s < SEG_COUNT; s++)
		v->seg[s] = (struct mon_seg){ .sel = (uint16_t)nt->seg[s] };
	mon_sync_seg_bases(vm);
	if (!load_task_ldt(vm, (uint16_t)nt->ldt, f) || !load_task_segments(vm, nt->seg, f))
		return false;
	if (cpu->eip > v->seg[SEG_CS].limit) {
		mon_fault_set(f, EXC_GP, true, 0);
		return false;
	}
	return true;
}

bool mon_task_switch(struct mon_vm *vm, uint16_t sel, uint64_t desc,
		     enum mon_task_reason why, uint32_t next_eip, struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	*f = mon_tss_check(desc, sel, why);
	if (f->raised)
		return false;
	if (!(desc_type(desc) & SYS_32BIT)) {
		mon_stop(vm, MON_EXIT_UNSUPPORTED, "unsupported: 16-bit task switch (to TSS %#x)", sel);
		return false;
	}
	if (!old_task_supported(vm))
		return false;
	/* Both TSSes are read before anything changes, so a #PF on either
	 * leaves the old task as it was (SDM §7.3 step 5). */
	struct mon_seg new_tr;
	mon_desc_to_seg(desc | DESC_TSS_BUSY, sel, &new_tr);
	struct tss32 nt, ot;
	if (!mon_read_sys(vm, new_tr.base, &nt, sizeof nt, f) ||
	    !mon_read_sys(vm, v->tr.base, &ot, sizeof ot, f))
		return false;
	if (nt.eflags & BT_FL_VM) {
		mon_stop(vm, MON_EXIT_UNSUPPORTED,
			 "unsupported: task switch to virtual-8086 mode (TSS %#x)", sel);
		return false;
	}
	if (!leave_old_task(vm, why, next_eip, &ot, new_tr.base, f) ||
	    (why != MON_TASK_IRET && !set_busy(vm, sel, true, f)))
		return false;
	/* A nested task returns by IRET: NT says so. */
	if (why == MON_TASK_CALL || why == MON_TASK_INT)
		nt.eflags |= BT_FL_NT;
	return enter_new_task(vm, &new_tr, &nt, f);
}

/* The TSS a task gate names (gate error code `gate_error`), and its descriptor. */
static bool gate_target(struct mon_vm *vm, uint64_t gate, uint32_t gate_error,
			uint16_t *sel, uint64_t *desc, struct mon_fault *f)
{
	if (!desc_p(gate)) {
		mon_fault_set(f, EXC_NP, true, gate_error);
		return false;
	}
	*sel = gate_sel(gate);
	if (*sel & SEL_TI) {
		mon_fault_set(f, EXC_TS, true, sel_error(*sel));
		return false;
	}
	return mon_read_descriptor(vm, *sel, desc, f);
}

bool mon_task_far(struct mon_vm *vm, uint16_t sel, uint64_t desc, bool call,
		  uint32_t next_eip, struct mon_fault *f)
{
	unsigned dpl = desc_dpl(desc), cpl = mon_cpl(&vm->vcpu);
	if (dpl < cpl || dpl < sel_rpl(sel)) {
		mon_fault_set(f, EXC_GP, true, sel_error(sel));
		return false;
	}
	uint16_t tss = sel;
	uint64_t tss_desc = desc;
	if (desc_type(desc) == SYS_TASK_GATE &&
	    !gate_target(vm, desc, sel_error(sel), &tss, &tss_desc, f))
		return false;
	return mon_task_switch(vm, tss, tss_desc, call ? MON_TASK_CALL : MON_TASK_JMP,
			       next_eip, f);
}

bool mon_task_gate_deliver(struct mon_vm *vm, uint64_t gate, uint32_t gate_error,
			   bool has_error, uint32_t error, uint32_t next_eip,
			   struct mon_fault *f)
{
	uint16_t tss;
	uint64_t desc;
	if (!gate_target(vm, gate, gate_error, &tss, &desc, f) ||
	    !mon_task_switch(vm, tss, desc, MON_TASK_INT, next_eip, f))
		return false;
	vm->vcpu.halted = false;
	/* A 32-bit TSS: the error code is a dword on the new task's stack. */
	return !has_error || mon_push(vm, error, 4, f);
}
