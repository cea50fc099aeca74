/* monitor: the view translated code runs in, and the SYSENTER, SYSEXIT,
 * IRETD and INT n that translated code makes by a callout, without leaving. */
#include <string.h>

#include "hostdriver.h"
#include "monitor.h"
#include "run.h"

/*
 * The view translated code runs in: the S-view (at host address 0, S
 * blocks) at CPL 0-2 or with paging off; at CPL 3 with paging, the current
 * address space's user view, whose window holds only the pages the guest's
 * tables give ring 3 (U blocks, through the host GS base). S blocks never
 * use GS, so the base stays at the last user view across kernel entries:
 * only running another address space's ring 3 writes it (bt.h:
 * bt_set_user_view).
 */
void mon_select_view(struct mon_vm *vm, unsigned cpl)
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
		vm->stats.view_switches++;
	}
	bt_set_user_view(vm->bt, base != 0);
	cpu->view_base = base;
	if (base && vm->de_retry.valid)
		mon_user_view_retry(vm);
}

/*
 * SYSENTER, SYSEXIT, IRETD and INT n by a callout from translated code:
 * the emulator's transition and the change of view mon_select_view would
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
		vm->stats.fast_sys[0]++;
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
		vm->stats.fast_sys[1]++;
		return BT_TR_DONE;
	}
	case BT_TR_IRET:
		if (!mon_iretd_inline(vm, cpu->callout_eip))
			return BT_TR_REFUSED;
		vm->stats.fast_sys[2]++;
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
		vm->stats.fast_sys[3]++;
		break;
	}
	}
	/* Where the IRET or the INT went: the run loop's own checks. */
	unsigned cpl = mon_cpl(v);
	if (vm->stop || (cpu->eflags & (BT_FL_TF | BT_FL_VM)) ||
	    (cpu->irq_waiting && (cpu->eflags & BT_FL_IF)) || (cpl == 3 && mon_de_possible(vm)))
		return BT_TR_DONE_EXIT;
	mon_select_view(vm, cpl);
	if (vm->stop)
		return BT_TR_DONE_EXIT;
	cpu->ring0 = cpl == 0;
	return BT_TR_DONE;
}
