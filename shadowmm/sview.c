/* shadowmm: the S-view: identity map with paging off, a lazily filled shadow with paging on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hostdriver.h"
#include "smm_private.h"

#define CR0_PG 0x80000000u
#define CR0_WP 0x00010000u
#define CR4_PSE 0x00000010u
#define CR4_PGE 0x00000080u
#define CR4_PAE 0x00000020u
#define MAX_SNAPS 8192u /* traced frames before everything is dropped */

static void *alloc_zero(size_t n)
{
	/* Untouched anonymous pages cost nothing: the big per-linear-page
	 * arrays stay mostly virtual. */
	return hd_alloc(n ? n : 1);
}

struct smm *smm_create(const struct smm_config *cfg, char *err, size_t errlen)
{
	struct smm *smm = calloc(1, sizeof *smm);
	if (!smm) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	smm->cfg = *cfg;
	smm->frames = (uint32_t)(cfg->ram_size / HD_PAGE_SIZE);
	smm->max_snaps = MAX_SNAPS;
	smm->frame_flags = alloc_zero(smm->frames);
	smm->lin_map = alloc_zero(SMM_LPAGES * 4);
	smm->alias_next = alloc_zero(SMM_LPAGES * 4);
	smm->frame_alias = alloc_zero((size_t)smm->frames * 4);
	smm->mapped = alloc_zero(SMM_LPAGES * 4);
	smm->nonglobal = alloc_zero(SMM_LPAGES * 4);
	smm->code_frame = alloc_zero(SMM_LPAGES * 4);
	smm->code_pages = alloc_zero(SMM_MAX_CODE_PAGES * sizeof *smm->code_pages);
	smm->snap_of = alloc_zero((size_t)smm->frames * 4);
	smm->flood = alloc_zero(smm->frames ? smm->frames : 1);
	smm->snap_frame = alloc_zero(MAX_SNAPS * 4);
	smm->snaps = alloc_zero((size_t)MAX_SNAPS * HD_PAGE_SIZE);
	smm->users = alloc_zero(MAX_SNAPS * sizeof *smm->users);
	if (!smm->frame_flags || !smm->lin_map || !smm->alias_next ||
	    !smm->frame_alias || !smm->mapped || !smm->nonglobal || !smm->code_frame ||
	    !smm->code_pages ||
	    !smm->snap_of || !smm->flood || !smm->snap_frame || !smm->snaps || !smm->users) {
		snprintf(err, errlen, "cannot allocate shadow structures");
		smm_destroy(smm);
		return NULL;
	}
	int r = hd_view_map(cfg->fd, 0, 0, cfg->ram_size, HD_PROT_RW);
	if (r) {
		snprintf(err, errlen, "cannot map guest RAM into the S-view: %s",
			 strerror(-r));
		smm_destroy(smm);
		return NULL;
	}
	return smm;
}

void smm_destroy(struct smm *smm)
{
	if (!smm)
		return;
	hd_free(smm->frame_flags, smm->frames ? smm->frames : 1);
	hd_free(smm->lin_map, SMM_LPAGES * 4);
	hd_free(smm->alias_next, SMM_LPAGES * 4);
	size_t per_frame = smm->frames ? (size_t)smm->frames * 4 : 1;
	hd_free(smm->frame_alias, per_frame);
	hd_free(smm->mapped, SMM_LPAGES * 4);
	hd_free(smm->nonglobal, SMM_LPAGES * 4);
	hd_free(smm->code_frame, SMM_LPAGES * 4);
	hd_free(smm->code_pages, SMM_MAX_CODE_PAGES * sizeof *smm->code_pages);
	hd_free(smm->snap_of, per_frame);
	hd_free(smm->flood, smm->frames ? smm->frames : 1);
	hd_free(smm->snap_frame, MAX_SNAPS * 4);
	hd_free(smm->snaps, (size_t)MAX_SNAPS * HD_PAGE_SIZE);
	hd_free(smm->users, MAX_SNAPS * sizeof *smm->users);
	free(smm);
}

bool smm_paging(const struct smm *smm)
{
	return smm->paging;
}

/* Host protection of a mapped linear page: read-write only if the guest
 * allows the write, D is set, and the frame is neither code nor a table. */
static enum hd_prot lin_prot(const struct smm *smm, uint32_t e)
{
	if ((e & LIN_WRITABLE) &&
	    !(smm->frame_flags[LIN_FRAME(e)] & (FRAME_CODE | FRAME_TRACED)))
		return HD_PROT_RW;
	return HD_PROT_READ;
}

static void alias_remove(struct smm *smm, uint32_t lpage, uint32_t frame)
{
	uint32_t *pp = &smm->frame_alias[frame];
	while (*pp && *pp != lpage + 1)
		pp = &smm->alias_next[*pp - 1];
	if (*pp)
		*pp = smm->alias_next[lpage];
	smm->alias_next[lpage] = 0;
}

/* Take a mapped linear page off its frame's alias list; it becomes a
 * ghost (the caller makes the host page inaccessible). */
static void forget(struct smm *smm, uint32_t lpage)
{
	uint32_t e = smm->lin_map[lpage];
	if (!(e & LIN_MAPPED))
		return;
	alias_remove(smm, lpage, LIN_FRAME(e));
	smm->lin_map[lpage] = (e & ~0xfffu) | LIN_GHOST;
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
static void code_note(struct smm *smm, uint32_t lpage, uint32_t frame, bool global)
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

void smm_unmap_range(struct smm *smm, uint32_t first, uint32_t count)
{
	if (smm->cfg.linear_dropped)
		smm->cfg.linear_dropped(smm->cfg.ctx, first, count, SMM_ANY_SPACE);
	smm_sview_unmap(smm, first, count);
}

void smm_sview_unmap(struct smm *smm, uint32_t first, uint32_t count)
{
	bool any = false;
	for (uint32_t l = first; l < first + count; l++)
		if (smm->lin_map[l] & LIN_MAPPED) {
			forget(smm, l);
			any = true;
		}
	/* mprotect, not a new mapping: the pages stay ghosts of their
	 * frames (cheaper here than mmap, and no first-touch fault later). */
	if (any)
		hd_view_protect((uint64_t)first * HD_PAGE_SIZE,
				(uint64_t)count * HD_PAGE_SIZE, HD_PROT_NONE);
}

/* Paging off: the identity map, with code frames read-only. */
static void map_identity(struct smm *smm)
{
	hd_view_map(smm->cfg.fd, 0, 0, smm->cfg.ram_size, HD_PROT_RW);
	for (uint32_t f = 0; f < smm->frames; f++)
		if (smm->frame_flags[f] & FRAME_CODE)
			hd_view_protect((uint64_t)f * HD_PAGE_SIZE, HD_PAGE_SIZE,
					HD_PROT_READ);
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
	hd_view_map(smm->cfg.fd, 0, 0, HD_GUEST_SPACE, HD_PROT_NONE);
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
			forget(smm, l);
			smm->nonglobal[n++] = l; /* reuse the list as scratch */
		}
	}
	qsort(smm->nonglobal, n, sizeof *smm->nonglobal, cmp_u32);
	for (uint32_t i = 0; i < n;) {
		uint32_t j = i + 1;
		while (j < n && smm->nonglobal[j] == smm->nonglobal[j - 1] + 1)
			j++;
		hd_view_protect((uint64_t)smm->nonglobal[i] * HD_PAGE_SIZE,
				(uint64_t)(j - i) * HD_PAGE_SIZE, HD_PROT_NONE);
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
static bool mapping_current_pae(const struct smm *smm, uint32_t lpage)
{
	uint32_t e = smm->lin_map[lpage], frame;
	uint64_t pde, entry;
	return (e & LIN_MAPPED) && smm_pae_leaf(smm, lpage, &pde, &entry, &frame) &&
	       (entry & 0x21) == 0x21 && frame == LIN_FRAME(e) &&
	       (!(e & LIN_GLOBAL) || (entry & 0x100)) &&
	       (!(e & LIN_WRITABLE) || ((entry & 0x42) == 0x42 && (pde & 2)));
}

static bool mapping_current(const struct smm *smm, uint32_t lpage)
{
	if (smm->pae)
		return mapping_current_pae(smm, lpage);
	uint32_t e = smm->lin_map[lpage], pde = 0, entry, frame;
	uint64_t at = (uint64_t)(smm->cr3 & ~0xfffu) + (lpage >> 10) * 4;
	if (at + 4 > smm->cfg.ram_size)
		return false;
	memcpy(&pde, smm->cfg.ram + at, 4);
	if ((pde & 0x81) == 0x81 && (smm->cr4 & CR4_PSE)) {
		entry = pde;
		frame = ((pde >> 12) & ~0x3ffu) + (lpage & 1023);
	} else {
		at = (uint64_t)(pde & ~0xfffu) + (lpage & 1023) * 4;
		if (!(pde & 1) || at + 4 > smm->cfg.ram_size)
			return false;
		memcpy(&entry, smm->cfg.ram + at, 4);
		frame = entry >> 12;
	}
	return (e & LIN_MAPPED) && (entry & 0x21) == 0x21 && frame == LIN_FRAME(e) &&
	       (!(e & LIN_GLOBAL) || (entry & 0x100)) &&
	       (!(e & LIN_WRITABLE) || ((entry & 0x42) == 0x42 && (pde & 2)));
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
		return (cr3 ^ smm->cr3) & ~0xfffu;
	return ((cr3 ^ smm->cr3) & ~0x1fu) || memcmp(pdpte, smm->pdpte, sizeof smm->pdpte);
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

/* Remember a fresh mapping for the next drops (all, or the non-global). */
static void note_mapped(struct smm *smm, uint32_t lpage, bool global)
{
	smm->mapped[smm->n_mapped++] = lpage;
	if (!global)
		smm->nonglobal[smm->n_nonglobal++] = lpage;
	else
		smm->globals_mapped = true;
}

/* Map one linear page; on the host's mapping limit, drop all and retry. */
static void map_page(struct smm *smm, uint32_t lpage, uint32_t frame, bool writable,
		     bool global)
{
	if (smm->n_mapped >= SMM_LPAGES - 1024)
		smm_drop_all(smm); /* the list of mappings is full: start over */
	uint32_t old = smm->lin_map[lpage];
	if (old & LIN_MAPPED)
		forget(smm, lpage);
	uint32_t e = frame << 12 | LIN_MAPPED | (writable ? LIN_WRITABLE : 0) |
		     (global ? LIN_GLOBAL : 0);
	if ((old & (LIN_MAPPED | LIN_GHOST)) && LIN_FRAME(old) == frame &&
	    hd_view_protect((uint64_t)lpage * HD_PAGE_SIZE, HD_PAGE_SIZE,
			    lin_prot(smm, e)) == 0) {
		smm->lin_map[lpage] = e; /* already in the mapped list */
		if (!global)
			smm->nonglobal[smm->n_nonglobal++] = lpage;
		else
			smm->globals_mapped = true;
		smm->alias_next[lpage] = smm->frame_alias[frame];
		smm->frame_alias[frame] = lpage + 1;
		smm->stats.pages_mapped++;
		return;
	}
	int r = hd_view_map(smm->cfg.fd, (uint64_t)frame * HD_PAGE_SIZE,
			    (uint64_t)lpage * HD_PAGE_SIZE, HD_PAGE_SIZE, lin_prot(smm, e));
	if (r == -ENOMEM) {
		/* The host's vm.max_map_count is reached: start the S-view
		 * over rather than touch a host-wide setting. */
		smm->stats.map_evictions++;
		smm->stats.map_evicted_pages += smm->n_mapped;
		smm_drop_all(smm);
		r = hd_view_map(smm->cfg.fd, (uint64_t)frame * HD_PAGE_SIZE,
				(uint64_t)lpage * HD_PAGE_SIZE, HD_PAGE_SIZE,
				lin_prot(smm, e));
	}
	if (r)
		return; /* the access faults again and ends as unbacked */
	smm->lin_map[lpage] = e;
	smm->alias_next[lpage] = smm->frame_alias[frame];
	smm->frame_alias[frame] = lpage + 1;
	note_mapped(smm, lpage, global);
	smm->stats.pages_mapped++;
}

void smm_update_frame_prot(struct smm *smm, uint32_t frame)
{
	if (smm->cfg.frame_protected &&
	    (smm->frame_flags[frame] & (FRAME_CODE | FRAME_TRACED)))
		smm->cfg.frame_protected(smm->cfg.ctx, frame);
	if (!smm->paging) {
		bool ro = smm->frame_flags[frame] & FRAME_CODE;
		hd_view_protect((uint64_t)frame * HD_PAGE_SIZE, HD_PAGE_SIZE,
				ro ? HD_PROT_READ : HD_PROT_RW);
		return;
	}
	for (uint32_t a = smm->frame_alias[frame]; a; a = smm->alias_next[a - 1])
		hd_view_protect((uint64_t)(a - 1) * HD_PAGE_SIZE, HD_PAGE_SIZE,
				lin_prot(smm, smm->lin_map[a - 1]));
}

void smm_write_entry(struct smm *smm, uint64_t phys, uint32_t value)
{
	if (smm->peeking)
		return;
	memcpy(smm->cfg.ram + phys, &value, 4);
	uint32_t frame = (uint32_t)(phys >> 12);
	if (smm->snap_of[frame])
		memcpy(smm->snaps + (size_t)(smm->snap_of[frame] - 1) * HD_PAGE_SIZE +
			       (phys & 0xfff), &value, 4);
}

static bool backed(const struct smm *smm, uint32_t frame)
{
	return frame < smm->frames;
}

enum smm_result smm_translate(struct smm *smm, uint32_t linear,
			      enum smm_access access, bool user,
			      uint64_t *phys, uint32_t *pf_error)
{
	uint32_t frame = linear >> 12;
	bool global = false;
	if (smm->paging) {
		struct smm_walk w;
		enum smm_result r = smm_walk(smm, linear, access, user, false, &w, pf_error);
		if (r != SMM_OK) {
			smm->stats.guest_faults += r == SMM_PAGE_FAULT;
			return r;
		}
		frame = w.frame;
		global = w.global;
	}
	*phys = (uint64_t)frame << 12 | (linear & 0xfff);
	if (!backed(smm, frame))
		return SMM_UNBACKED; /* *phys says where: a device, or nothing */
	if (access == SMM_FETCH)
		code_note(smm, linear >> 12, frame, global);
	return SMM_OK;
}

bool smm_debug_translate(struct smm *smm, uint32_t linear, uint64_t *phys, unsigned *rights)
{
	if (!smm->paging) {
		*phys = linear;
		*rights = SMM_DEBUG_RW | SMM_DEBUG_US;
		return true;
	}
	struct smm_walk w;
	uint32_t pf_error;
	smm->peeking = true;
	enum smm_result r = smm_walk(smm, linear, SMM_READ, false, false, &w, &pf_error);
	smm->peeking = false;
	if (r != SMM_OK)
		return false;
	*phys = (uint64_t)w.frame << 12 | (linear & 0xfff);
	*rights = (w.rw ? SMM_DEBUG_RW : 0) | (w.us ? SMM_DEBUG_US : 0);
	return true;
}

/*
 * Can linear page l join a run mapped along with the faulting page? Only
 * if its PTE already says what the fault's walk would leave behind (P and
 * A set; D set too for a writable run), so mapping it early changes
 * nothing the guest can see; and only if its frame continues the run and
 * needs no protection of its own.
 */
#define RUN_MAX 32u
static bool run_member(const struct smm *smm, uint32_t l, const uint8_t *pt,
		       uint32_t frame, bool writable, bool global)
{
	uint64_t pte;
	uint32_t pte_frame;
	if (smm->pae) {
		memcpy(&pte, pt + (l & 0x1ff) * 8, 8);
		pte_frame = PAE_FRAME(pte);
		if (pte & smm_pae_reserved(smm))
			return false; /* the walk would fault */
	} else {
		uint32_t pte32;
		memcpy(&pte32, pt + (l & 0x3ff) * 4, 4);
		pte = pte32;
		pte_frame = pte32 >> 12;
	}
	uint32_t need = 0x21u | (writable ? 0x42u : 0); /* P A (+ W D) */
	bool can_write = (pte & 2) || !(smm->cr0 & CR0_WP);
	bool g = (smm->cr4 & CR4_PGE) && (pte & 0x100);
	return (pte & need) == need && pte_frame == frame && g == global &&
	       (!writable || can_write) && (writable || !(pte & 0x40) || !can_write) &&
	       frame < smm->frames &&
	       !(smm->frame_flags[frame] & (FRAME_CODE | FRAME_TRACED)) &&
	       !(smm->lin_map[l] & (LIN_MAPPED | LIN_GHOST)) &&
	       (uint64_t)l * HD_PAGE_SIZE >= hd_mmap_min_addr();
}

/* Map the faulting page together with its neighbours in the same page
 * table, when they form a run of consecutive frames: one host call. */
static bool map_run(struct smm *smm, uint32_t lpage, const struct smm_walk *w,
		    bool writable)
{
	if (smm->frame_flags[w->frame] & (FRAME_CODE | FRAME_TRACED) ||
	    (smm->lin_map[lpage] & (LIN_MAPPED | LIN_GHOST)) ||
	    (uint64_t)w->pt_frame * HD_PAGE_SIZE + HD_PAGE_SIZE > smm->cfg.ram_size)
		return false;
	const uint8_t *pt = smm->cfg.ram + (uint64_t)w->pt_frame * HD_PAGE_SIZE;
	uint32_t first = lpage, last = lpage, in_table = smm->pae ? 0x1ff : 0x3ff;
	while (last - first + 1 < RUN_MAX && ((last + 1) & in_table) &&
	       run_member(smm, last + 1, pt, w->frame + (last + 1 - lpage), writable,
			  w->global))
		last++;
	while (last - first + 1 < RUN_MAX && (first & in_table) &&
	       run_member(smm, first - 1, pt, w->frame - (lpage - first + 1), writable,
			  w->global))
		first--;
	if (first == last || smm->n_mapped + (last - first + 1) >= SMM_LPAGES - 1024)
		return false;
	uint32_t frame0 = w->frame - (lpage - first), n = last - first + 1;
	if (hd_view_map(smm->cfg.fd, (uint64_t)frame0 * HD_PAGE_SIZE,
			(uint64_t)first * HD_PAGE_SIZE, (uint64_t)n * HD_PAGE_SIZE,
			writable ? HD_PROT_RW : HD_PROT_READ))
		return false;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t l = first + i, f = frame0 + i;
		smm->lin_map[l] = f << 12 | LIN_MAPPED | (writable ? LIN_WRITABLE : 0) |
				  (w->global ? LIN_GLOBAL : 0);
		smm->alias_next[l] = smm->frame_alias[f];
		smm->frame_alias[f] = l + 1;
		note_mapped(smm, l, w->global);
	}
	smm->stats.pages_mapped += n;
	smm->stats.runs_mapped++;
	return true;
}

enum smm_result smm_host_fault(struct smm *smm, uint32_t linear, bool write,
			       bool user, uint32_t *frame, uint32_t *pf_error)
{
	uint32_t lpage = linear >> 12;
	if (!smm->paging) {
		*frame = lpage;
		if (!backed(smm, lpage) || linear < hd_mmap_min_addr())
			return SMM_UNBACKED;
		if (write && (smm->frame_flags[lpage] & FRAME_CODE))
			return SMM_CODE_WRITE;
		return SMM_UNBACKED;
	}
	struct smm_walk w;
	enum smm_result r = smm_walk(smm, linear, write ? SMM_WRITE : SMM_READ,
				     user, true, &w, pf_error);
	if (r != SMM_OK) {
		smm->stats.guest_faults++;
		return r;
	}
	*frame = w.frame;
	if (!backed(smm, w.frame) || linear < hd_mmap_min_addr())
		return SMM_UNBACKED;
	uint8_t flags = smm->frame_flags[w.frame];
	bool writable = w.writable && w.dirty;
	if (write && (flags & (FRAME_CODE | FRAME_TRACED))) {
		/* The caller lets this write through for one instruction:
		 * the page must map the guest's frame (read-only) first. */
		uint32_t e = smm->lin_map[lpage];
		if (!(e & LIN_MAPPED) || LIN_FRAME(e) != w.frame ||
		    (bool)(e & LIN_WRITABLE) != writable)
			map_page(smm, lpage, w.frame, writable, w.global);
		if (flags & FRAME_CODE)
			return SMM_CODE_WRITE;
		smm->stats.traced_writes++;
		if (++smm->flood[w.frame] >= FLOOD_WRITES) {
			/* A freed table's frame being reused (cleared, filled):
			 * no longer a table; the write runs natively. */
			smm_flooded(smm, w.frame);
			if (!(smm->frame_flags[w.frame] & (FRAME_CODE | FRAME_TRACED)))
				return SMM_OK;
		}
		return SMM_PT_WRITE;
	}
	smm->stats.hidden_faults++;
	uint32_t pages = smm->pae ? PAE_ENTRIES : 1024; /* in a large page */
	uint32_t first = lpage & ~(pages - 1);
	if (w.large && writable && (uint64_t)w.large_base + pages <= smm->frames &&
	    (uint64_t)first * HD_PAGE_SIZE >= hd_mmap_min_addr()) {
		/* A dirty large page: map all of it with one host call, then
		 * fix up the frames that must stay read-only. */
		if (smm->n_mapped >= SMM_LPAGES - 1024)
			smm_drop_all(smm);
		smm_unmap_range(smm, first, pages);
		if (hd_view_map(smm->cfg.fd, (uint64_t)w.large_base * HD_PAGE_SIZE,
				(uint64_t)first * HD_PAGE_SIZE, (uint64_t)pages * HD_PAGE_SIZE,
				HD_PROT_RW) == 0) {
			for (uint32_t i = 0; i < pages; i++) {
				uint32_t l = first + i, f = w.large_base + i;
				smm->lin_map[l] = f << 12 | LIN_MAPPED | LIN_WRITABLE |
						  (w.global ? LIN_GLOBAL : 0);
				smm->alias_next[l] = smm->frame_alias[f];
				smm->frame_alias[f] = l + 1;
				note_mapped(smm, l, w.global);
				if (smm->frame_flags[f] & (FRAME_CODE | FRAME_TRACED))
					hd_view_protect((uint64_t)l * HD_PAGE_SIZE,
							HD_PAGE_SIZE, HD_PROT_READ);
			}
			smm->stats.pages_mapped += pages;
			return SMM_OK;
		}
	}
	if (w.large || !map_run(smm, lpage, &w, writable))
		map_page(smm, lpage, w.frame, writable, w.global);
	return SMM_OK;
}

/*
 * A traced write just made linear page lpage present in the current
 * address space (a page-fault handler's PTE, most often): map it now
 * rather than take the host fault of the access that comes next. The walk
 * sets A, as a CPU's speculative walk may; the page is writable only if
 * the guest already set D. Large pages and pages below the host's
 * mmap_min_addr are left to their first access.
 */
void smm_premap(struct smm *smm, uint32_t lpage)
{
	uint32_t linear = lpage << 12;
	if (!smm->paging || linear < hd_mmap_min_addr() || (smm->lin_map[lpage] & LIN_MAPPED))
		return;
	struct smm_walk w;
	uint32_t err;
	if (smm_walk(smm, linear, SMM_READ, false, true, &w, &err) != SMM_OK ||
	    w.large || !backed(smm, w.frame) || (smm->lin_map[lpage] & LIN_MAPPED))
		return;
	map_page(smm, lpage, w.frame, w.writable && w.dirty, w.global);
	smm->stats.premapped++;
}

enum smm_result smm_user_fault(struct smm *smm, uint32_t linear, bool write,
			       uint32_t *frame, bool *writable, uint32_t *pf_error)
{
	struct smm_walk w;
	if (!smm->paging) {
		*pf_error = 0;
		return SMM_UNBACKED; /* ring 3 without paging: not direct-executed */
	}
	enum smm_result r = smm_walk(smm, linear, write ? SMM_WRITE : SMM_READ,
				     true, true, &w, pf_error);
	if (r != SMM_OK) {
		smm->stats.guest_faults++;
		return r;
	}
	*frame = w.frame;
	if (!backed(smm, w.frame))
		return SMM_UNBACKED;
	uint8_t flags = smm->frame_flags[w.frame];
	if (write && (flags & FRAME_CODE))
		return SMM_CODE_WRITE;
	if (write && (flags & FRAME_TRACED))
		return SMM_PT_WRITE;
	*writable = w.writable && w.dirty && !(flags & (FRAME_CODE | FRAME_TRACED));
	smm->stats.hidden_faults++;
	return SMM_OK;
}

static bool user_ready_pae(struct smm *smm, uint32_t lpage, uint32_t *frame)
{
	const uint64_t need = 0x25; /* P U A */
	uint64_t pde, pte;
	uint32_t f;
	if (!smm_pae_leaf(smm, lpage, &pde, &pte, &f) || (pde & 0x80) ||
	    (pde & need) != need || (pte & need) != need || !backed(smm, f))
		return false; /* 2 MiB pages: left to their faults */
	*frame = f;
	return true;
}

bool smm_user_ready(struct smm *smm, uint32_t lpage, uint32_t *frame)
{
	if (!smm->paging)
		return false;
	if (smm->pae)
		return user_ready_pae(smm, lpage, frame);
	const uint32_t need = 0x25; /* P U A */
	uint64_t pde_addr = (uint64_t)(smm->cr3 & ~0xfffu) + (lpage >> 10) * 4;
	uint32_t pde, pte;
	if (pde_addr + 4 > smm->cfg.ram_size)
		return false;
	memcpy(&pde, smm->cfg.ram + pde_addr, 4);
	if ((pde & need) != need || ((pde & 0x80) && (smm->cr4 & CR4_PSE)))
		return false; /* 4 MiB pages: left to their faults */
	uint64_t pte_addr = (uint64_t)(pde & ~0xfffu) + (lpage & 0x3ff) * 4;
	if (pte_addr + 4 > smm->cfg.ram_size)
		return false;
	memcpy(&pte, smm->cfg.ram + pte_addr, 4);
	if ((pte & need) != need || !backed(smm, pte >> 12))
		return false;
	*frame = pte >> 12;
	return true;
}

void smm_pt_write_begin(struct smm *smm, uint32_t linear)
{
	hd_view_protect((uint64_t)(linear >> 12) * HD_PAGE_SIZE, HD_PAGE_SIZE,
			HD_PROT_RW);
}

void smm_pt_write_end(struct smm *smm, uint32_t linear)
{
	uint32_t lpage = linear >> 12, e = smm->lin_map[lpage];
	if (!(e & LIN_MAPPED))
		return; /* the write itself dropped the mapping */
	hd_view_protect((uint64_t)lpage * HD_PAGE_SIZE, HD_PAGE_SIZE, lin_prot(smm, e));
	smm_apply_changes(smm, LIN_FRAME(e));
}

bool smm_phys_written(struct smm *smm, uint64_t phys, unsigned len)
{
	/* The monitor knows what it wrote: compare just those entries with
	 * the snapshot, not the whole table (a PTE store is 4 bytes). */
	uint64_t end = phys + len;
	bool traced = false;
	unsigned entry_size = smm->pae ? 8 : 4;
	for (uint64_t f = phys >> 12; f <= (end - 1) >> 12; f++) {
		if (f >= smm->frames || !(smm->frame_flags[f] & FRAME_TRACED))
			continue;
		traced = true;
		uint64_t lo = phys > f << 12 ? phys : f << 12;
		uint64_t hi = end < (f + 1) << 12 ? end : (f + 1) << 12;
		smm_apply_entries(smm, (uint32_t)f, (uint32_t)(lo & 4095) / entry_size,
				  (uint32_t)((hi - 1) & 4095) / entry_size + 1);
		if (++smm->flood[f] >= FLOOD_WRITES)
			smm_flooded(smm, (uint32_t)f);
	}
	return traced;
}

void smm_invlpg(struct smm *smm, uint32_t linear)
{
	if (!smm->paging)
		return;
	bool large;
	uint32_t count;
	if (smm->pae) {
		large = (smm_pae_pde(smm, linear >> 21) & 0x81) == 0x81;
		count = PAE_ENTRIES;
	} else {
		uint32_t pde = 0;
		uint64_t pde_addr = (uint64_t)(smm->cr3 & ~0xfffu) + (linear >> 22) * 4;
		if (pde_addr + 4 <= smm->cfg.ram_size)
			memcpy(&pde, smm->cfg.ram + pde_addr, 4);
		large = (pde & 0x81) == 0x81 && (smm->cr4 & CR4_PSE);
		count = 1024;
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

void smm_protect_code(struct smm *smm, uint32_t frame, bool on)
{
	if (frame >= smm->frames)
		return;
	bool was = smm->frame_flags[frame] & FRAME_CODE;
	if (was == on)
		return;
	if (on) {
		smm->frame_flags[frame] |= FRAME_CODE;
		smm->stats.protects++;
	} else {
		smm->frame_flags[frame] &= (uint8_t)~FRAME_CODE;
		smm->stats.unprotects++;
	}
	smm_update_frame_prot(smm, frame);
}

bool smm_is_table(const struct smm *smm, uint32_t frame)
{
	return frame < smm->frames && (smm->frame_flags[frame] & FRAME_TRACED);
}

bool smm_is_code_page(const struct smm *smm, uint32_t frame)
{
	return frame < smm->frames && (smm->frame_flags[frame] & FRAME_CODE);
}

void smm_get_stats(const struct smm *smm, struct smm_stats *out)
{
	*out = smm->stats;
}
