/* shadowmm: the walker for 2-level 32-bit page tables (4 KiB and 4 MiB pages). */
#include <string.h>

#include "smm_private.h"

/*
 * Linear address, 4 KiB pages:        4 MiB pages (CR4.PSE, PDE.PS):
 *  31      22 21      12 11      0     31      22 21                0
 * +----------+----------+---------+   +----------+-------------------+
 * | dir      | table    | offset  |   | dir      | offset            |
 * +----------+----------+---------+   +----------+-------------------+
 * The entries and the #PF error code: x86.h.
 */
static bool read_entry(const struct smm *smm, uint64_t phys, uint32_t *e)
{
	if (phys + 4 > smm->cfg.ram_size)
		return false; /* tables outside RAM read as not present */
	memcpy(e, smm->cfg.ram + phys, 4);
	return true;
}

enum smm_result smm_walk32(struct smm *smm, uint32_t linear,
			   enum smm_access access, bool user, bool trace,
			   struct smm_walk *w, uint32_t *pf_error)
{
	bool write = access == SMM_WRITE;
	uint32_t err = (write ? PF_W : 0u) | (user ? PF_U : 0u);
	uint32_t pdi = linear >> 22, pti = (linear >> 12) & (PT32_ENTRIES - 1);
	uint64_t pde_addr = (uint64_t)(smm->cr3 & CR3_PD) + pdi * 4;
	uint32_t pde, pte = 0;

	memset(w, 0, sizeof *w);
	w->pd_frame = pte32_frame(smm->cr3);
	if (!read_entry(smm, pde_addr, &pde) || !(pde & PTE_P)) {
		*pf_error = err;
		return SMM_PAGE_FAULT;
	}
	bool large = (pde & PDE_PS) && (smm->cr4 & CR4_PSE);
	uint64_t pte_addr = 0;
	uint32_t rights = pde;
	if (!large) {
		pte_addr = (uint64_t)(pde & PTE_FRAME) + pti * 4;
		if (!read_entry(smm, pte_addr, &pte) || !(pte & PTE_P)) {
			*pf_error = err;
			return SMM_PAGE_FAULT;
		}
		rights &= pte;
	}
	/* Access rights: user pages need U/S in both levels; writes need
	 * R/W in both, except supervisor writes with CR0.WP clear. */
	bool can_write = (rights & PTE_W) || (!user && !(smm->cr0 & CR0_WP));
	if ((user && !(rights & PTE_U)) || (write && !can_write)) {
		*pf_error = err | PF_P;
		return SMM_PAGE_FAULT;
	}
	/* Writable only because WP is clear: setting WP must take it back. */
	if (can_write && !(rights & PTE_W))
		smm->wp_lenient = true;

	/* The CPU sets A in each level it used, and D in the last one on a
	 * write, as locked writes to the tables. */
	if (!(pde & PTE_A) || (large && write && !(pde & PTE_D))) {
		pde |= PTE_A | (large && write ? PTE_D : 0);
		smm_write_entry(smm, pde_addr, pde);
	}
	if (!large && (!(pte & PTE_A) || (write && !(pte & PTE_D)))) {
		pte |= PTE_A | (write ? PTE_D : 0);
		smm_write_entry(smm, pte_addr, pte);
	}

	w->large = large;
	w->writable = can_write;
	w->rw = rights & PTE_W;
	w->us = rights & PTE_U;
	w->global = (smm->cr4 & CR4_PGE) && ((large ? pde : pte) & PTE_G);
	if (large) {
		w->large_base = pte32_frame(pde & PDE4M_FRAME);
		w->frame = w->large_base + pti;
		w->dirty = pde & PTE_D;
	} else {
		w->pt_frame = pte32_frame(pde);
		w->frame = pte32_frame(pte);
		w->dirty = pte & PTE_D;
	}
	if (trace) {
		smm_trace(smm, w->pd_frame, FRAME_PD, 0, w->pd_frame);
		if (!large)
			smm_trace(smm, w->pt_frame, FRAME_PT, pdi, w->pd_frame);
	}
	return SMM_OK;
}
