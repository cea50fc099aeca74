/* monitor: --mode=trap-emulate, the naive monitor of the Popek–Goldberg laboratory (docs/popek-goldberg.md). */
#include "monitor.h"

/*
 * Classical trap-and-emulate, done on purpose on an architecture where it
 * cannot work: guest CPL-0 code runs deprivileged, at host CPL 3, in the
 * same user world that direct execution gives guest ring-3 code (direct.c,
 * hostdriver/userworld.c), with the guest kernel's pages mapped there
 * (a supervisor walk: smm_world_fault). Whatever traps is emulated with the
 * guest's virtual state: privileged instructions (CLI/STI, HLT, MOV CR,
 * LGDT, IN/OUT, IRET to ring 0, ...) raise #GP at host CPL 3, and the
 * accesses the world cannot make itself (page tables, device memory) fault.
 * Whatever does not trap runs on the host's state and shows it: SGDT, SIDT,
 * SLDT, STR, SMSW, PUSHF (host IF and IOPL), POPF (IF and IOPL changes
 * silently dropped), LAR, LSL, VERR, VERW and the segment instructions
 * (host selectors and descriptors), CPUID. That is the point of the mode:
 * bench/pglab.sh tabulates the damage next to the translator's results.
 *
 * Containment is the user world's and unchanged (ARCHITECTURE.md §7.1):
 * seccomp, no host system call, an escape ends the VM with exit 14. What
 * the mode gives up is the guest's own protection: ring-3 code run in
 * the same address space finds the kernel's pages mapped.
 *
 * Only paged, 32-bit protected-mode code runs this way (what the user
 * world's views are kept coherent for); the rest is translated as usual.
 */

bool mon_te_possible(struct mon_vm *vm)
{
	const struct vcpu *v = &vm->vcpu;
	return vm->uw && (v->cr0 & CR0_PE) && !(v->cpu->eflags & BT_FL_VM) &&
	       smm_paging(vm->smm) && seg_attr_db(v->seg[SEG_CS].attr);
}

bool mon_te_emulate(struct mon_vm *vm)
{
	if (mon_cpl(&vm->vcpu) != 0)
		return false; /* ring 3: the guest's fault, as in direct execution */
	vm->stats.te_emulated++;
	mon_emulate(vm);
	return true;
}
