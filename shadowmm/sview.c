/* shadowmm: the S-view: identity map with paging off, a lazily filled shadow with paging on. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "invariant.h"
#include "hostdriver.h"
#include "smm_private.h"

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
void smm_forget(struct smm *smm, uint32_t lpage)
{
	uint32_t e = smm->lin_map[lpage];
	if (!(e & LIN_MAPPED))
		return;
	alias_remove(smm, lpage, LIN_FRAME(e));
	smm->lin_map[lpage] = (e & ~0xfffu) | LIN_GHOST;
}

/*
 * Change the protection of S-view pages [first, first + count). The host
 * may refuse (ENOMEM: splitting a mapping would pass vm.max_map_count),
 * and a refused change that should have taken rights away must not leave
 * them: the whole S-view then starts over, unmapped (one mapping, fewer
 * rights than anything wanted), and the caller must stop using what it
 * knew of it. Return true if the change was made. Paging off, the
 * identity map cannot start over: the host has failed us.
 */
bool smm_view_protect(struct smm *smm, uint32_t first, uint32_t count, enum hd_prot prot)
{
	int r = hd_view_protect((uint64_t)first * HD_PAGE_SIZE, (uint64_t)count * HD_PAGE_SIZE, prot);
	if (r == 0)
		return true;
	if (r != -ENOMEM || !smm->paging)
		hd_host_failed("cannot change the protection of the guest view", -r);
	smm->stats.map_evictions++;
	smm->stats.map_evicted_pages += smm->n_mapped;
	smm_drop_all(smm);
	return false;
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
			smm_forget(smm, l);
			any = true;
		}
	/* mprotect, not a new mapping: the pages stay ghosts of their
	 * frames (cheaper here than mmap, and no first-touch fault later). */
	if (any)
		smm_view_protect(smm, first, count, HD_PROT_NONE);
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

/*
 * Have the lists of pages mapped since the last drop no room for n more
 * (and the 1024 of a large page)? mapped[] lists a page when it gets a
 * new host mapping; nonglobal[] lists it again each time it is mapped over
 * its ghost (an entry changed and restored, A cleared, a first write
 * setting D): with no CR3 load in between, nothing else bounds that one.
 */
static bool lists_full(const struct smm *smm, uint32_t n)
{
	return smm->n_mapped + n >= SMM_LPAGES - 1024 ||
	       smm->n_nonglobal + n >= SMM_LPAGES - 1024;
}

/* Map one linear page; on the host's mapping limit, drop all and retry. */
static void map_page(struct smm *smm, uint32_t lpage, uint32_t frame, bool writable,
		     bool global)
{
	if (lists_full(smm, 0))
		smm_drop_all(smm); /* start over */
	uint32_t old = smm->lin_map[lpage];
	if (old & LIN_MAPPED)
		smm_forget(smm, lpage);
	uint32_t e = frame << 12 | LIN_MAPPED | (writable ? LIN_WRITABLE : 0) |
		     (global ? LIN_GLOBAL : 0);
	if ((old & (LIN_MAPPED | LIN_GHOST)) && LIN_FRAME(old) == frame &&
	    smm_view_protect(smm, lpage, 1, lin_prot(smm, e))) {
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
		smm_view_protect(smm, frame, 1, ro ? HD_PROT_READ : HD_PROT_RW);
		return;
	}
	for (uint32_t a = smm->frame_alias[frame]; a; a = smm->alias_next[a - 1])
		if (!smm_view_protect(smm, a - 1, 1, lin_prot(smm, smm->lin_map[a - 1])))
			return;
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
		smm_code_note(smm, linear >> 12, frame, global);
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
		memcpy(&pte, pt + (l & (PAE_ENTRIES - 1)) * 8, 8);
		pte_frame = pae_frame(pte);
		if (pte & smm_pae_reserved(smm))
			return false; /* the walk would fault */
	} else {
		uint32_t pte32;
		memcpy(&pte32, pt + (l & (PT32_ENTRIES - 1)) * 4, 4);
		pte = pte32;
		pte_frame = pte32_frame(pte32);
	}
	uint32_t need = PTE_P | PTE_A | (writable ? PTE_W | PTE_D : 0);
	bool can_write = (pte & PTE_W) || !(smm->cr0 & CR0_WP);
	bool g = (smm->cr4 & CR4_PGE) && (pte & PTE_G);
	return (pte & need) == need && pte_frame == frame && g == global &&
	       (!writable || can_write) && (writable || !(pte & PTE_D) || !can_write) &&
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
	uint32_t first = lpage, last = lpage, in_table = smm->pae ? PAE_ENTRIES - 1 : PT32_ENTRIES - 1;
	while (last - first + 1 < RUN_MAX && ((last + 1) & in_table) &&
	       run_member(smm, last + 1, pt, w->frame + (last + 1 - lpage), writable,
			  w->global))
		last++;
	while (last - first + 1 < RUN_MAX && (first & in_table) &&
	       run_member(smm, first - 1, pt, w->frame - (lpage - first + 1), writable,
			  w->global))
		first--;
	if (first == last || lists_full(smm, last - first + 1))
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
	uint32_t pages = smm->pae ? PAE_ENTRIES : PT32_ENTRIES; /* in a large page */
	uint32_t first = lpage & ~(pages - 1);
	if (w.large && writable && (uint64_t)w.large_base + pages <= smm->frames &&
	    (uint64_t)first * HD_PAGE_SIZE >= hd_mmap_min_addr()) {
		/* A dirty large page: map all of it with one host call, then
		 * fix up the frames that must stay read-only. */
		if (lists_full(smm, 0))
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
				if ((smm->frame_flags[f] & (FRAME_CODE | FRAME_TRACED)) &&
				    !smm_view_protect(smm, l, 1, HD_PROT_READ))
					return SMM_OK; /* the access faults again */
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
	return smm_world_fault(smm, linear, write, true, frame, writable, pf_error);
}

enum smm_result smm_world_fault(struct smm *smm, uint32_t linear, bool write, bool user,
				uint32_t *frame, bool *writable, uint32_t *pf_error)
{
	struct smm_walk w;
	if (!smm->paging) {
		*pf_error = 0;
		return SMM_UNBACKED; /* no paging: never direct-executed */
	}
	enum smm_result r = smm_walk(smm, linear, write ? SMM_WRITE : SMM_READ,
				     user, true, &w, pf_error);
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
	const uint64_t need = PTE_P | PTE_U | PTE_A;
	uint64_t pde, pte;
	uint32_t f;
	if (!smm_pae_leaf(smm, lpage, &pde, &pte, &f) || (pde & PDE_PS) ||
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
	const uint32_t need = PTE_P | PTE_U | PTE_A;
	uint64_t pde_addr = (uint64_t)(smm->cr3 & CR3_PD) + (lpage >> 10) * 4;
	uint32_t pde, pte;
	if (pde_addr + 4 > smm->cfg.ram_size)
		return false;
	memcpy(&pde, smm->cfg.ram + pde_addr, 4);
	if ((pde & need) != need || ((pde & PDE_PS) && (smm->cr4 & CR4_PSE)))
		return false; /* 4 MiB pages: left to their faults */
	uint64_t pte_addr = (uint64_t)(pde & PTE_FRAME) + (lpage & (PT32_ENTRIES - 1)) * 4;
	if (pte_addr + 4 > smm->cfg.ram_size)
		return false;
	memcpy(&pte, smm->cfg.ram + pte_addr, 4);
	if ((pte & need) != need || !backed(smm, pte32_frame(pte)))
		return false;
	*frame = pte32_frame(pte);
	return true;
}

void smm_pt_write_begin(struct smm *smm, uint32_t linear)
{
	smm_view_protect(smm, linear >> 12, 1, HD_PROT_RW);
}

void smm_pt_write_end(struct smm *smm, uint32_t linear)
{
	uint32_t lpage = linear >> 12, e = smm->lin_map[lpage];
	if (!(e & LIN_MAPPED))
		return; /* the write itself dropped the mapping */
	if (smm_view_protect(smm, lpage, 1, lin_prot(smm, e)))
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
