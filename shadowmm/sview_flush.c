/*
 * shadowmm: what the guest's TLB-flushing acts do to the S-view — a new
 * paging mode or address space (CR0, CR3, CR4 and EFER.NXE changes), INVLPG —
 * and the pages code was fetched from, whose translations must go when
 * their linear page stops showing the frame they came from. (sview.c makes
 * the mappings; this file takes them away.)
 */
#include <stdlib.h>
#include <string.h>

#include "invariant.h"
#include "hostdriver.h"
#include "smm_private.h"

/* Replace a range of the view; nothing sensible is left if that fails. */
static void view_map_or_die(struct smm *smm, uint64_t offset, uint64_t len, enum hd_prot prot)
{
	int r = hd_view_map(smm->cfg.fd, offset, offset, len, prot);
	if (r)
		hd_host_failed("cannot map the guest view", -r);
}

/* Forget every code page: the caller drops linear-keyed translations. */
static void code_forget_all(struct smm *smm)
{
	if (smm->code_overflow)
		memset(smm->code_frame, 0, SMM_LPAGES * 4);
	else
		for (uint32_t i = 0; i < smm->n_code; i++)
			smm->code_frame[smm->code_pages[i].lpage] = 0;
	smm->n_code = 0;
	smm->code_overflow = false;
}

static bool code_fetched(const struct smm *smm, uint32_t lpage)
{
	return smm->code_frame[lpage] != 0;
}

/* Remember that code was fetched from lpage, mapping frame. A page seen
 * with another frame than before (a PTE changed without INVLPG, which
 * the guest may do while it does not run the old code) gets a second
 * pair: both are checked. */
void smm_code_note(struct smm *smm, uint32_t lpage, uint32_t frame, bool global)
{
	if (smm->code_frame[lpage] == frame + 1)
		return;
	smm->code_frame[lpage] = frame + 1;
	if (smm->n_code < SMM_MAX_CODE_PAGES) {
		smm->code_pages[smm->n_code].lpage = lpage;
		smm->code_pages[smm->n_code].frame = frame;
		smm->code_pages[smm->n_code].global = global;
		smm->n_code++;
	} else {
		smm->code_overflow = true;
	}
}

/* Every translation goes (too many code pages to check one by one). */
static void code_drop_all(struct smm *smm)
{
	code_forget_all(smm);
	if (smm->cfg.code_mapping_dropped)
		smm->cfg.code_mapping_dropped(smm->cfg.ctx);
}

/* Drop the pair at index i: its frame's translations go. */
static void code_drop_pair(struct smm *smm, uint32_t i)
{
	uint32_t l = smm->code_pages[i].lpage, frame = smm->code_pages[i].frame;
	if (smm->code_frame[l] == frame + 1)
		smm->code_frame[l] = 0;
	smm->code_pages[i] = smm->code_pages[--smm->n_code];
	smm->stats.code_pages_dropped++;
	if (smm->cfg.code_frame_dropped)
		smm->cfg.code_frame_dropped(smm->cfg.ctx, frame);
	else if (smm->cfg.code_mapping_dropped)
		smm->cfg.code_mapping_dropped(smm->cfg.ctx);
}

/*
 * After a CR3 load: do the code pages still map the frames they were
 * translated from? (Linux's kernel text does, in every address space; a
 * static binary's text does in each process running it.) The pairs that
 * no longer hold lose their translations; the rest stay. Global pages
 * stay with CR4.PGE as they stay in a TLB. The walk sets A as a fetch
 * would; the CPU may set it speculatively.
 */
static void code_recheck(struct smm *smm, bool keep_global)
{
	if (smm->code_overflow) {
		code_drop_all(smm);
		return;
	}
	for (uint32_t i = 0; i < smm->n_code;) {
		if (keep_global && smm->code_pages[i].global) {
			i++;
			continue;
		}
		struct smm_walk w;
		uint32_t err;
		if (smm_walk(smm, smm->code_pages[i].lpage << 12, SMM_FETCH, false,
			     false, &w, &err) == SMM_OK &&
		    w.frame == smm->code_pages[i].frame) {
			i++;
			continue;
		}
		code_drop_pair(smm, i); /* the last pair moved to i: check it next */
	}
}

/* Paging off: the identity map, with code frames read-only. */
static void map_identity(struct smm *smm)
{
	view_map_or_die(smm, 0, smm->cfg.ram_size, HD_PROT_RW);
	for (uint32_t f = 0; f < smm->frames; f++)
		if (smm->frame_flags[f] & FRAME_CODE)
			smm_view_protect(smm, f, 1, HD_PROT_READ);
}

static void drop_nonglobal(struct smm *smm);
static bool pae_no_exec(const struct smm *smm, uint32_t lpage);

/* While no global page is mapped, every live mapping made since the last
 * drop is in nonglobal[]: a drop of at most this many turns them into
 * ghosts (mprotect, as drop_nonglobal) instead of replacing all 4 GiB,
 * which makes the host free and later rebuild its page tables for the
 * whole range. */
#define DROP_GHOSTS_MAX 4096

/* Drop the S-view's mappings only: tracing (and with it the coherence of
 * other views of other address spaces) goes on. `ghosts`: the S-view is
 * described by mapped[] alone (paging was on before and stays on), so its
 * live mappings may just become ghosts. */
static void drop_sview(struct smm *smm, bool ghosts)
{
	if (ghosts && smm->paging && !smm->globals_mapped &&
	    smm->n_nonglobal <= DROP_GHOSTS_MAX) {
		/* The ghosts stay listed in mapped[]: a full drop clears
		 * them too. */
		drop_nonglobal(smm);
		return;
	}
	for (uint32_t i = 0; i < smm->n_mapped; i++) {
		uint32_t l = smm->mapped[i];
		if (smm->lin_map[l]) {
			smm->frame_alias[LIN_FRAME(smm->lin_map[l])] = 0;
			smm->lin_map[l] = 0;
			smm->alias_next[l] = 0;
		}
	}
	smm->n_mapped = 0;
	smm->n_nonglobal = 0;
	smm->globals_mapped = false;
	view_map_or_die(smm, 0, HD_GUEST_SPACE, HD_PROT_NONE);
	if (!smm->paging)
		map_identity(smm);
	smm->stats.flushes++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* A CR3 load with global pages on: only non-global translations go (TLB
 * semantics); Linux's kernel mappings, all global, stay mapped. */
static void drop_nonglobal(struct smm *smm)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < smm->n_nonglobal; i++) {
		uint32_t l = smm->nonglobal[i], e = smm->lin_map[l];
		if ((e & LIN_MAPPED) && !(e & LIN_GLOBAL)) {
			smm_forget(smm, l);
			smm->nonglobal[n++] = l; /* reuse the list as scratch */
		}
	}
	qsort(smm->nonglobal, n, sizeof *smm->nonglobal, cmp_u32);
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i + 1;
		while (j < n && smm->nonglobal[j] == smm->nonglobal[j - 1] + 1)
			j++;
		if (!smm_view_protect(smm, smm->nonglobal[i], j - i, HD_PROT_NONE))
			return; /* everything went */
		i = j;
	}
	smm->n_nonglobal = 0;
	smm->stats.partial_drops++;
}

void smm_drop_all(struct smm *smm)
{
	drop_sview(smm, false);
	smm_trace_reset(smm);
	if (smm->cfg.linear_dropped)
		smm->cfg.linear_dropped(smm->cfg.ctx, 0, SMM_LPAGES, SMM_ANY_SPACE);
}

void smm_drop_view(struct smm *smm)
{
	if (smm->paging)
		drop_sview(smm, true);
}

/*
 * Does the S-view's mapping of lpage show what the current tables give?
 * Same frame, A set, W and D set if it is writable, G if it is kept as
 * global. Every change to a traced entry drops the mappings made from it
 * at once, so only a global page kept from another directory can differ.
 */
static bool entry_shown(uint32_t e, uint64_t pde, uint64_t entry, uint32_t frame)
{
	return (entry & (PTE_P | PTE_A)) == (PTE_P | PTE_A) && frame == LIN_FRAME(e) &&
	       (!(e & LIN_GLOBAL) || (entry & PTE_G)) &&
	       (!(e & LIN_WRITABLE) ||
		((entry & (PTE_W | PTE_D)) == (PTE_W | PTE_D) && (pde & PTE_W)));
}

static bool mapping_current_pae(const struct smm *smm, uint32_t lpage)
{
	uint32_t e = smm->lin_map[lpage], frame;
	uint64_t pde, entry;
	return (e & LIN_MAPPED) && smm_pae_leaf(smm, lpage, &pde, &entry, &frame) &&
	       entry_shown(e, pde, entry, frame);
}

static bool mapping_current(const struct smm *smm, uint32_t lpage)
{
	if (smm->pae)
		return mapping_current_pae(smm, lpage);
	uint32_t e = smm->lin_map[lpage], pde = 0, entry, frame;
	uint64_t at = (uint64_t)(smm->cr3 & CR3_PD) + (lpage >> 10) * 4;
	if (at + 4 > smm->cfg.ram_size)
		return false;
	memcpy(&pde, smm->cfg.ram + at, 4);
	if ((pde & (PDE_PS | PTE_P)) == (PDE_PS | PTE_P) && (smm->cr4 & CR4_PSE)) {
		entry = pde;
		frame = pte32_frame(pde & PDE4M_FRAME) + (lpage & (PT32_ENTRIES - 1));
	} else {
		at = (uint64_t)(pde & PTE_FRAME) + (lpage & (PT32_ENTRIES - 1)) * 4;
		if (!(pde & PTE_P) || at + 4 > smm->cfg.ram_size)
			return false;
		memcpy(&entry, smm->cfg.ram + at, 4);
		frame = pte32_frame(entry);
	}
	return (e & LIN_MAPPED) && entry_shown(e, pde, entry, frame);
}

/* A global flush: global pages kept from another directory that this one
 * maps otherwise go, as from a TLB (every other mapping is current). */
static void drop_stale_globals(struct smm *smm)
{
	if (!smm->globals_mapped)
		return;
	for (uint32_t i = 0; i < smm->n_mapped; i++) {
		uint32_t l = smm->mapped[i];
		if ((smm->lin_map[l] & (LIN_MAPPED | LIN_GLOBAL)) == (LIN_MAPPED | LIN_GLOBAL) &&
		    !mapping_current(smm, l)) {
			smm_unmap_range(smm, l, 1);
			smm->stats.stale_globals++;
		}
	}
}

/* Does the new CR3 (and with PAE, the PDPTEs it loaded) name another
 * address space than the S-view shows? */
static bool new_space(const struct smm *smm, uint32_t cr3, const uint64_t *pdpte)
{
	if (!smm->pae)
		return (cr3 ^ smm->cr3) & CR3_PD;
	return ((cr3 ^ smm->cr3) & CR3_PDPT) || memcmp(pdpte, smm->pdpte, sizeof smm->pdpte);
}

bool smm_set_mode(struct smm *smm, uint32_t cr0, uint32_t cr3, uint32_t cr4, bool nxe,
		  const uint64_t pdpte[4])
{
	bool paging = cr0 & CR0_PG;
	bool pae = paging && (cr4 & CR4_PAE);
	bool mode = paging != smm->paging || pae != smm->pae || (pae && nxe != smm->nxe) ||
		    (paging && ((cr4 ^ smm->cr4) & CR4_PSE));
	bool space = paging && !mode && new_space(smm, cr3, pdpte);
	smm->nxe = nxe;
	if (pae)
		memcpy(smm->pdpte, pdpte, sizeof smm->pdpte);
	bool only_cr3 = paging && smm->paging && !((cr0 ^ smm->cr0) & CR0_WP) &&
			!((cr4 ^ smm->cr4) & (CR4_PGE | CR4_PSE));
	bool changed = mode || space ||
		       (paging && ((cr0 ^ smm->cr0) & CR0_WP)) ||
		       (paging && ((cr4 ^ smm->cr4) & CR4_PGE));
	/* Only CR4.PGE toggled (Linux's global TLB flush). */
	bool pge_only = only_cr3 == false && !mode && paging && !space &&
			!((cr0 ^ smm->cr0) & CR0_WP);
	/* Only CR0.WP toggled. Clearing it takes no right away (a write to
	 * a page mapped read-only faults and is looked at with WP clear);
	 * setting it takes away only what a walk allowed because WP was
	 * clear, and none may have. */
	bool wp_only = !mode && paging && smm->paging && ((cr0 ^ smm->cr0) & CR0_WP) &&
		       !space && !((cr4 ^ smm->cr4) & CR4_PGE);
	if (wp_only) {
		smm->cr0 = cr0;
		smm->cr3 = cr3;
		smm->cr4 = cr4;
		smm->stats.wp_toggles++;
		if ((cr0 & CR0_WP) && smm->wp_lenient) {
			smm->wp_lenient = false;
			drop_sview(smm, true);
		}
		return false;
	}
	smm->cr0 = cr0;
	smm->cr3 = cr3;
	smm->cr4 = cr4;
	if (!changed)
		return false;
	smm->paging = paging;
	smm->pae = pae;
	/*
	 * A TLB flush, global pages included: the S-view has almost nothing
	 * stale to drop. Every mapping in it came through a traced page
	 * table, and every change to one dropped the mappings it made
	 * (smm_apply_entries) when it was written, as A/D updates do; only a
	 * global page kept across CR3 loads may show another directory's
	 * entry, and goes if this one's differs. Mappings made while PGE was
	 * off are not marked global, so later CR3 loads drop them; with PGE
	 * now off, a CR3 load drops everything. Code pages are checked as
	 * after any flush.
	 */
	if (pge_only) {
		smm->stats.global_flushes++;
		drop_stale_globals(smm);
		code_recheck(smm, false);
		return false;
	}
	/* A new address space (CR3) or new supervisor rights (WP, PGE): only
	 * the S-view goes. Page tables stay traced, so the user worlds of the
	 * other address spaces stay coherent while they wait. A new paging
	 * mode starts over everywhere. */
	if (mode)
		smm_drop_all(smm);
	else if (only_cr3 && (cr4 & CR4_PGE))
		drop_nonglobal(smm);
	else
		drop_sview(smm, true);
	if (!mode) {
		code_recheck(smm, only_cr3 && (cr4 & CR4_PGE));
		return false;
	}
	code_forget_all(smm);
	return true;
}

void smm_invlpg(struct smm *smm, uint32_t linear)
{
	if (!smm->paging)
		return;
	bool large;
	uint32_t count;
	if (smm->pae) {
		large = (smm_pae_pde(smm, linear >> 21) & (PDE_PS | PTE_P)) == (PDE_PS | PTE_P);
		count = PAE_ENTRIES;
	} else {
		uint32_t pde = 0;
		uint64_t pde_addr = (uint64_t)(smm->cr3 & CR3_PD) + (linear >> 22) * 4;
		if (pde_addr + 4 <= smm->cfg.ram_size)
			memcpy(&pde, smm->cfg.ram + pde_addr, 4);
		large = (pde & (PDE_PS | PTE_P)) == (PDE_PS | PTE_P) && (smm->cr4 & CR4_PSE);
		count = PT32_ENTRIES;
	}
	uint32_t first = large ? (linear >> 12) & ~(count - 1) : linear >> 12;
	if (!large)
		count = 1;
	/* A mapping that already shows the current entry stays (Linux's
	 * kmap flushes right after it sets the entry); the other views are
	 * as coherent with traced tables as the S-view. */
	uint32_t keep = !large && mapping_current(smm, first) ? LIN_FRAME(smm->lin_map[first]) : ~0u;
	if (keep == ~0u)
		smm_unmap_range(smm, first, count);
	else
		smm->stats.invlpg_kept++;
	/* A page made no-execute keeps its mapping, not its translations. */
	if (keep != ~0u && smm->pae && smm->nxe && pae_no_exec(smm, first))
		keep = ~0u;
	/* The TLB entry goes: translations of code on that page too, unless
	 * they came from the frame it still maps. */
	bool code = false;
	for (uint32_t l = first; l < first + count && !code; l++)
		code = code_fetched(smm, l);
	if (!code)
		return;
	if (smm->code_overflow) {
		code_drop_all(smm);
		return;
	}
	for (uint32_t i = 0; i < smm->n_code;) {
		uint32_t l = smm->code_pages[i].lpage;
		if (l >= first && l < first + count && smm->code_pages[i].frame != keep)
			code_drop_pair(smm, i);
		else
			i++;
	}
}

/* Is linear page lpage, present in the current PAE tables, no-execute? */
static bool pae_no_exec(const struct smm *smm, uint32_t lpage)
{
	uint64_t pde, leaf;
	uint32_t frame;
	return smm_pae_leaf(smm, lpage, &pde, &leaf, &frame) && ((pde | leaf) >> 63);
}
