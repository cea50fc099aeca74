/* monitor: the run loop's pieces that call each other across run.c, step.c,
 * hostfault.c, hotwriter.c and transition.c (private header). */
#ifndef BTVMM_RUN_H
#define BTVMM_RUN_H

#include "monitor.h"

/* ---- step.c ---- */
/* Finish a step (bt_step) that exited with `r`: emulate, or handle the
 * host fault; a step or poll exit needs nothing. `depth` counts the host
 * faults being handled around it (their handlers step to complete a
 * write), so that faults that never settle end as a monitor bug. */
void mon_complete_step(struct mon_vm *vm, enum bt_exit r, unsigned depth);
/* EFLAGS.TF set: run one instruction, then the single-step #DB. */
void mon_single_step(struct mon_vm *vm);

/* ---- hostfault.c ---- */
/* Translated code exited with BT_EXIT_FAULT (cpu->exit_signo, fault_*
 * say what): a fetch outside the guest's tables or RAM, a shadow-paging
 * fault, a write to translated code or a traced page table, or the
 * guest's own exception. `depth` as for mon_complete_step (0 from the
 * run loop). */
void mon_host_fault(struct mon_vm *vm, unsigned depth);

/* ---- hotwriter.c ---- */
/* The instruction at eip wrote a traced page table through a host fault:
 * count it; once it is hot, retranslate it to take the callout (not with
 * --adaptive off). */
void mon_note_pt_write(struct mon_vm *vm, uint32_t eip);

/* ---- transition.c ---- */
/* Before translated code runs at `cpl`: point it at the S-view or at the
 * current address space's user view, writing the host GS base when that
 * changes. Stops the VM (status 10) if no user view can be had. */
void mon_select_view(struct mon_vm *vm, unsigned cpl);

#endif
