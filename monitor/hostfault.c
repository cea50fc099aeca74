/* monitor: host faults in translated code, sent to shadow paging, code-write
 * detection, adaptive translation or the guest. */
#define _GNU_SOURCE
#include <signal.h>
#include <string.h>

#include "hostdriver.h"
#include "monitor.h"
#include "run.h"

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
	vm->stats.view_faults++;
	switch (smm_user_fault(vm->smm, linear, write, &frame, &writable, &err)) {
	case SMM_OK: /* hidden: mapped now, the access runs again */
		mon_user_view_map(vm, linear, frame, writable);
		break;
	case SMM_PAGE_FAULT: /* mon_select_view maps the page when the guest retries */
		mon_user_page_fault(vm, linear, write, err);
		break;
	case SMM_CODE_WRITE:
		/* Ring-3 code writes a page with translations: drop them, and
		 * let the write complete from a throw-away translation (its
		 * own block may be on that page). */
		vm->stats.smc_faults++;
		bt_invalidate_page(vm->bt, frame);
		if (smm_user_fault(vm->smm, linear, write, &frame, &writable, &err) == SMM_OK)
			mon_user_view_map(vm, linear, frame, writable);
		mon_complete_step(vm, bt_step(vm->bt), depth);
		break;
	case SMM_PT_WRITE:
		/* Ring 3 may write a page table its tables map for it: the
		 * write goes through the monitor, whose writes the shadow
		 * follows. */
		vm->stats.pt_writes_trapped++;
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
	if (cpu->fault_trapno != EXC_PF) {
		/* #GP from a copied instruction (misaligned SSE operand, ...):
		 * the guest's own #GP(0). */
		mon_deliver(vm, cpu->fault_trapno == EXC_AC ? EXC_AC : EXC_GP, true, 0,
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
		vm->stats.smc_faults++;
		bt_invalidate_page(vm->bt, frame);
		mon_complete_step(vm, bt_step(vm->bt), depth);
		break;
	case SMM_PT_WRITE:
		mon_note_pt_write(vm, cpu->eip);
		smm_pt_write_begin(vm->smm, (uint32_t)addr);
		mon_complete_step(vm, bt_step(vm->bt), depth);
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

void mon_host_fault(struct mon_vm *vm, unsigned depth)
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
		mon_deliver(vm, hd_fpe_vector(cpu->fault_trapno), false, 0, cpu->eip, false);
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
