/* monitor: adaptive translation: instructions that keep writing traced page
 * tables are retranslated to go through the store callout or the emulator. */
#include "monitor.h"
#include "run.h"

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

static unsigned hot_slot(struct mon_vm *vm, uint32_t eip, bool insert)
{
	unsigned h = (eip * 2654435761u) >> 22;
	for (unsigned i = 0; i < MON_HOT_SLOTS; i++) {
		unsigned s = (h + i) % MON_HOT_SLOTS;
		if (vm->hot[s].eip1 == eip + 1)
			return s;
		if (!vm->hot[s].eip1) {
			if (!insert)
				return MON_HOT_SLOTS;
			vm->hot[s].eip1 = eip + 1;
			return s;
		}
	}
	return MON_HOT_SLOTS; /* full: the instruction stays on the trap path */
}

bool mon_is_hot_writer(struct mon_vm *vm, uint32_t eip)
{
	unsigned s = hot_slot(vm, eip, false);
	return s < MON_HOT_SLOTS && vm->hot[s].count >= HOT_AFTER &&
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

void mon_note_pt_write(struct mon_vm *vm, uint32_t eip)
{
	vm->stats.pt_writes_trapped++;
	if (vm->opt.no_adaptive)
		return;
	unsigned s = hot_slot(vm, eip, true);
	if (s >= MON_HOT_SLOTS || vm->hot[s].count == HOT_NEVER ||
	    ++vm->hot[s].count != HOT_AFTER)
		return;
	vm->hot[s].clean = 0;
	retranslate_at(vm, eip);
}

void mon_hot_writer_done(struct mon_vm *vm, uint32_t eip, bool emulated, bool wrote_pt)
{
	unsigned s = hot_slot(vm, eip, false);
	if (s >= MON_HOT_SLOTS)
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
		vm->stats.hot_demotions++;
	}
	retranslate_at(vm, eip);
}
