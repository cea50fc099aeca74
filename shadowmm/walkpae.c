/* shadowmm: the walker for PAE page tables (3 levels, 64-bit entries, 4 KiB and 2 MiB pages, NX). */
#include <string.h>

#include "smm_private.h"

/*
 * Linear address, 4 KiB pages:            2 MiB pages (PDE.PS):
 *  31 30 29     21 20     12 11      0     31 30 29     21 20            0
 * +-----+---------+---------+---------+   +-----+---------+---------------+
 * |pdpt | dir     | table   | offset  |   |pdpt | dir     | offset        |
 * +-----+---------+---------+---------+   +-----+---------+---------------+
 *
 * The four PDPTEs are loaded (and checked) at CR3 loads, not read by the
 * walk (smm_pae_load_pdptes). The entries: x86.h. A reserved bit set in a
 * present entry is a #PF with error bits P and RSVD; a fetch with
 * EFER.NXE adds the I/D bit to any #PF.
 */

static bool read_entry(const struct smm *smm, uint64_t phys, uint64_t *e)
{
	if (phys + 8 > smm->cfg.ram_size)
		return false; /* tables outside RAM read as not present */
	memcpy(e, smm->cfg.ram + phys, 8);
	return true;
}

bool smm_pae_load_pdptes(const uint8_t *ram, uint64_t ram_size, uint32_t cr3,
			 uint64_t pdpte[4])
{
	uint64_t at = cr3 & CR3_PDPT;
	for (unsigned i = 0; i < 4; i++) {
		pdpte[i] = 0;
		if (at + 8 * i + 8 <= ram_size)
			memcpy(&pdpte[i], ram + at + 8 * i, 8);
		if ((pdpte[i] & PTE_P) && (pdpte[i] & PDPTE_RSVD))
			return false;
	}
	return true;
}

enum smm_result smm_walk_pae(struct smm *smm, uint32_t linear,
			     enum smm_access access, bool user, bool trace,
			     struct smm_walk *w, uint32_t *pf_error)
{
	bool write = access == SMM_WRITE;
	uint32_t err = (write ? PF_W : 0u) | (user ? PF_U : 0u) |
		       (access == SMM_FETCH && smm->nxe ? PF_ID : 0u);
	uint32_t pdpti = linear >> 30, pdi = (linear >> 21) & (PAE_ENTRIES - 1);
	uint32_t pti = (linear >> 12) & (PAE_ENTRIES - 1);
	uint64_t pdpte = smm->pdpte[pdpti], pde, pte = 0, rsvd = smm_pae_reserved(smm);

	memset(w, 0, sizeof *w);
	*pf_error = err;
	if (!(pdpte & PTE_P))
		return SMM_PAGE_FAULT;
	w->pd_frame = pae_frame(pdpte);
	uint64_t pde_addr = (pdpte & PAE_FRAME_MASK) + pdi * 8;
	if (!read_entry(smm, pde_addr, &pde) || !(pde & PTE_P))
		return SMM_PAGE_FAULT;
	bool large = pde & PDE_PS;
	if (pde & (rsvd | (large ? PDE2M_RSVD : 0))) {
		*pf_error = err | PF_P | PF_RSVD;
		return SMM_PAGE_FAULT;
	}
	uint64_t pte_addr = 0, rights = pde, xd = pde & PTE_XD;
	if (!large) {
		/* The directory entry is used to find the table: A is set
		 * in it whatever the table entry then says (as QEMU does;
		 * the SDM: A is set in each entry the walk uses). */
		if (!(pde & PTE_A)) {
			pde |= PTE_A;
			smm_write_entry(smm, pde_addr, (uint32_t)pde);
		}
		pte_addr = (pde & PAE_FRAME_MASK) + pti * 8;
		if (!read_entry(smm, pte_addr, &pte) || !(pte & PTE_P))
			return SMM_PAGE_FAULT;
		if (pte & rsvd) {
			*pf_error = err | PF_P | PF_RSVD;
			return SMM_PAGE_FAULT;
		}
		rights &= pte;
		xd |= pte & PTE_XD;
	}
	bool can_write = (rights & PTE_W) || (!user && !(smm->cr0 & CR0_WP));
	if ((user && !(rights & PTE_U)) || (write && !can_write) ||
	    (access == SMM_FETCH && xd && smm->nxe)) {
		*pf_error = err | PF_P;
		return SMM_PAGE_FAULT;
	}
	if (can_write && !(rights & PTE_W))
		smm->wp_lenient = true;

	/* A (and D on a write) in the entry that maps the page: only its
	 * low half changes. */
	uint64_t leaf = large ? pde : pte, leaf_addr = large ? pde_addr : pte_addr;
	if (!(leaf & PTE_A) || (write && !(leaf & PTE_D))) {
		leaf |= PTE_A | (write ? PTE_D : 0);
		smm_write_entry(smm, leaf_addr, (uint32_t)leaf);
	}

	w->large = large;
	w->writable = can_write;
	w->rw = rights & PTE_W;
	w->us = rights & PTE_U;
	w->global = (smm->cr4 & CR4_PGE) && (leaf & PTE_G);
	w->dirty = leaf & PTE_D;
	w->no_exec = xd && smm->nxe;
	if (large) {
		w->large_base = pae_frame(pde) & ~(PAE_ENTRIES - 1);
		w->frame = w->large_base + pti;
	} else {
		w->pt_frame = pae_frame(pde);
		w->frame = pae_frame(pte);
	}
	if (trace) {
		smm_trace(smm, w->pd_frame, FRAME_PD, pdpti, w->pd_frame);
		if (!large)
			smm_trace(smm, w->pt_frame, FRAME_PT, linear >> 21, w->pd_frame);
	}
	return SMM_OK;
}

uint64_t smm_pae_pde(const struct smm *smm, uint32_t slot)
{
	uint64_t pdpte = smm->pdpte[(slot >> 9) & (PAE_PDPTES - 1)], pde = 0;
	if (pdpte & PTE_P)
		read_entry(smm, (pdpte & PAE_FRAME_MASK) + (slot & (PAE_ENTRIES - 1)) * 8, &pde);
	return pde;
}

bool smm_pae_leaf(const struct smm *smm, uint32_t lpage, uint64_t *pde, uint64_t *leaf,
		  uint32_t *frame)
{
	uint64_t rsvd = smm_pae_reserved(smm);
	*pde = smm_pae_pde(smm, lpage >> 9);
	*leaf = 0;
	if (!(*pde & PTE_P) || (*pde & rsvd))
		return false;
	if (*pde & PDE_PS) {
		*leaf = *pde;
		*frame = (pae_frame(*pde) & ~(PAE_ENTRIES - 1)) + (lpage & (PAE_ENTRIES - 1));
		return !(*pde & PDE2M_RSVD);
	}
	if (!read_entry(smm, (*pde & PAE_FRAME_MASK) + (lpage & (PAE_ENTRIES - 1)) * 8, leaf) ||
	    !(*leaf & PTE_P) || (*leaf & rsvd))
		return false;
	*frame = pae_frame(*leaf);
	return true;
}
