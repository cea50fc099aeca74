/* shadowmm: write tracing of guest page-table frames: snapshots and diffs. */
#include <string.h>

#include "hostdriver.h"
#include "smm_private.h"

/*
 * Every frame the walker read a directory or table from while filling the
 * S-view is traced: its aliases in the S-view are read-only and a copy of
 * its 1024 entries is kept. After a guest write (or a write by the monitor
 * on the guest's behalf), the entries that differ from the copy name the
 * shadow mappings to drop:
 *   directory entry i      -> linear [i << 22, (i + 1) << 22)
 *   table entry i, used by
 *   directory slot d       -> linear page (d << 10) | i
 * The walker's own A/D updates go to both the frame and its copy, so they
 * are not mistaken for the guest's.
 *
 * With PAE the entries are 8 bytes, 512 to a frame, and the linear pages
 * they name are
 *   directory entry i, found
 *   at PDPTE q             -> linear [(q << 30) | (i << 21), + 2 MiB)
 *   table entry i, used by
 *   directory slot d       -> linear page (d << 9) | i  (d = linear >> 21)
 * The PDPT itself is not traced: the CPU reads it only at CR3 loads.
 */

void smm_trace(struct smm *smm, uint32_t frame, uint8_t kind, uint32_t pdi, uint32_t pd_frame)
{
	if (frame >= smm->frames)
		return;
	uint32_t idx = smm->snap_of[frame];
	if (!idx) {
		if (smm->n_snaps == smm->max_snaps) {
			/* Out of snapshots: start over. The caller's walk
			 * result stays valid; it only loses the tracing. */
			smm_drop_all(smm);
			smm->stats.snapshot_drops++;
		}
		idx = ++smm->n_snaps;
		smm->snap_of[frame] = idx;
		smm->snap_frame[idx - 1] = frame;
		memcpy(smm->snaps + (size_t)(idx - 1) * HD_PAGE_SIZE,
		       smm->cfg.ram + (uint64_t)frame * HD_PAGE_SIZE, HD_PAGE_SIZE);
		memset(&smm->users[idx - 1], 0, sizeof smm->users[0]);
	}
	uint8_t before = smm->frame_flags[frame];
	smm->frame_flags[frame] |= kind;
	smm->flood[frame] = 0; /* a walk went through it: in use as a table */
	if (kind == FRAME_PD && smm->pae)
		smm->users[idx - 1].quarters |= (uint8_t)(1u << (pdi & 3));
	if (kind == FRAME_PT) {
		struct smm_pt_users *u = &smm->users[idx - 1];
		u->slots[(pdi % SMM_PT_SLOTS) / 32] |= 1u << (pdi % 32);
		bool known = false;
		for (uint32_t i = 0; i < u->n_pd && i < SMM_PT_SPACES && !known; i++)
			known = u->pd[i] == pd_frame;
		if (!known && u->n_pd <= SMM_PT_SPACES) {
			if (u->n_pd < SMM_PT_SPACES)
				u->pd[u->n_pd] = pd_frame;
			u->n_pd++;
		}
	}
	if (!(before & FRAME_TRACED))
		smm_update_frame_prot(smm, frame); /* aliases become read-only */
}

void smm_trace_reset(struct smm *smm)
{
	for (uint32_t i = 0; i < smm->n_snaps; i++) {
		uint32_t f = smm->snap_frame[i];
		smm->snap_of[f] = 0;
		smm->frame_flags[f] &= (uint8_t)~FRAME_TRACED;
	}
	smm->n_snaps = 0;
}

void smm_apply_changes(struct smm *smm, uint32_t frame)
{
	smm_apply_entries(smm, frame, 0, smm->pae ? PAE_ENTRIES : PT32_ENTRIES);
}

/*
 * Linear pages [first, first + count) changed in the tables of the
 * address spaces with directories pd[0 .. n) (n > SMM_PT_SPACES: any).
 * Their other views (user worlds, user views) drop them; the S-view,
 * which shows only the current address space, drops them only if
 * `current` (the change is in the current one's tables). A global mapping
 * the S-view keeps from another directory is what a TLB may keep too: the
 * guest's INVLPG drops it (smm_invlpg).
 */
static void entries_changed(struct smm *smm, uint32_t first, uint32_t count, bool current,
			    const uint32_t *pd, uint32_t n)
{
	if (current)
		smm_sview_unmap(smm, first, count);
	else
		smm->stats.other_space_changes++;
	if (!smm->cfg.linear_dropped)
		return;
	if (n > SMM_PT_SPACES || smm->pae) {
		smm->cfg.linear_dropped(smm->cfg.ctx, first, count, SMM_ANY_SPACE);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		smm->cfg.linear_dropped(smm->cfg.ctx, first, count, pd[i]);
}

/* Does the current directory's entry for slot name table `frame`? */
static bool current_table(const struct smm *smm, uint32_t slot, uint32_t frame)
{
	if (!smm->paging)
		return false;
	if (smm->pae) {
		uint64_t pde = smm_pae_pde(smm, slot);
		return (pde & (PDE_PS | PTE_P)) == PTE_P && pae_frame(pde) == frame;
	}
	uint64_t at = (uint64_t)(smm->cr3 & CR3_PD) + slot * 4;
	uint32_t pde = 0;
	if (at + 4 <= smm->cfg.ram_size)
		memcpy(&pde, smm->cfg.ram + at, 4);
	return (pde & (PDE_PS | PTE_P)) == PTE_P && pte32_frame(pde) == frame;
}

/* Is frame one of the current PAE directories (a PDPTE names it)? */
static bool current_pae_directory(const struct smm *smm, uint32_t frame, unsigned q)
{
	return smm->paging && (smm->pdpte[q] & PTE_P) && pae_frame(smm->pdpte[q]) == frame;
}

/* smm_apply_entries for PAE tables: entries [first, end) of 512. */
static void apply_entries_pae(struct smm *smm, uint32_t frame, uint32_t first, uint32_t end)
{
	uint32_t idx = smm->snap_of[frame] - 1;
	uint64_t *snap = (uint64_t *)(smm->snaps + (size_t)idx * HD_PAGE_SIZE);
	const uint64_t *now = (const uint64_t *)(smm->cfg.ram + (uint64_t)frame * HD_PAGE_SIZE);
	uint8_t flags = smm->frame_flags[frame];
	const struct smm_pt_users *users = &smm->users[idx];

	/* No page is mapped ahead of its use here (smm_premap): a PTE made
	 * present by its low half may get its high half (frame bits 35:32,
	 * XD) from the next store, and the walk's A update would outlive the
	 * torn entry. */
	for (uint32_t i = first; i < end && i < PAE_ENTRIES; i++) {
		if (now[i] == snap[i])
			continue;
		snap[i] = now[i];
		for (unsigned q = 0; q < 4 && (flags & FRAME_PD); q++)
			if (users->quarters & (1u << q))
				entries_changed(smm, q << 18 | i << 9, PAE_ENTRIES,
						current_pae_directory(smm, frame, q), NULL,
						SMM_PT_SPACES + 1);
		if (flags & FRAME_PT) {
			for (uint32_t k = 0; k < SMM_PT_SLOTS / 32; k++)
				for (uint32_t bits = users->slots[k]; bits; bits &= bits - 1) {
					uint32_t slot = k * 32 + (uint32_t)__builtin_ctz(bits);
					bool current = current_table(smm, slot, frame);
					entries_changed(smm, slot << 9 | i, 1, current, NULL,
							SMM_PT_SPACES + 1);
				}
		}
		if (!smm->snap_of[frame])
			return;
	}
}

void smm_apply_entries(struct smm *smm, uint32_t frame, uint32_t first, uint32_t end)
{
	if (frame >= smm->frames || !smm->snap_of[frame])
		return;
	if (smm->pae) {
		apply_entries_pae(smm, frame, first, end);
		return;
	}
	uint32_t idx = smm->snap_of[frame] - 1;
	uint32_t *snap = (uint32_t *)(smm->snaps + (size_t)idx * HD_PAGE_SIZE);
	const uint32_t *now = (const uint32_t *)(smm->cfg.ram + (uint64_t)frame * HD_PAGE_SIZE);
	uint8_t flags = smm->frame_flags[frame];
	const struct smm_pt_users *users = &smm->users[idx];
	/* A directory entry of any traced address space: its range goes from
	 * every view (the S-view only if it is the current directory). */
	bool is_pd = flags & FRAME_PD;
	bool current_pd = smm->paging && frame == pte32_frame(smm->cr3);

	for (uint32_t i = first; i < end; i++) {
		if (now[i] == snap[i])
			continue;
		bool made_present = !(snap[i] & PTE_P) && (now[i] & PTE_P);
		snap[i] = now[i];
		if (is_pd)
			entries_changed(smm, i << 10, PT32_ENTRIES, current_pd, &frame, 1);
		if (flags & FRAME_PT) {
			for (uint32_t k = 0; k < PT32_ENTRIES / 32; k++)
				for (uint32_t bits = users->slots[k]; bits; bits &= bits - 1) {
					uint32_t slot = k * 32 + (uint32_t)__builtin_ctz(bits);
					bool current = current_table(smm, slot, frame);
					entries_changed(smm, slot << 10 | i, 1, current,
							users->pd, users->n_pd);
					/* A supervisor page made present is used at
					 * once (kmap, fixmap); user pages are mapped
					 * in their view at the retried access
					 * (monitor/transition.c:mon_select_view). */
					if (current && made_present && !(now[i] & PTE_U))
						smm_premap(smm, slot << 10 | i);
				}
		}
		/* A drop above may have ended this frame's tracing. */
		if (!smm->snap_of[frame])
			return;
	}
}

/*
 * Write flooding (as KVM's shadow MMU calls it): a page table written
 * FLOOD_WRITES times with no walk through it in between is most likely a
 * freed table's frame being reused (cleared, filled with data), or a new
 * table being filled before anyone uses it: either way tracing it costs a
 * trap or an emulation per store and buys nothing. It stops being traced:
 * every mapping made through it goes (the whole range at each directory
 * slot it was found at), its snapshot is released, and its aliases become
 * writable. If it is a table after all, the next walk through it traces
 * it again from its contents then. The same holds for a directory other
 * than the current one (a dead process's, its frame reused), whose views
 * are emptied with it.
 */
void smm_flooded(struct smm *smm, uint32_t frame)
{
	if (frame >= smm->frames || !smm->snap_of[frame])
		return;
	uint32_t idx = smm->snap_of[frame] - 1;
	struct smm_pt_users users = smm->users[idx];
	/* The running address space's directory is in use whatever is
	 * written to it. */
	bool is_pd = smm->frame_flags[frame] & FRAME_PD;
	bool current_pd = smm->paging && frame == pte32_frame(smm->cr3) && !smm->pae;
	for (unsigned q = 0; q < 4 && smm->pae; q++)
		current_pd |= current_pae_directory(smm, frame, q);
	if (is_pd && current_pd) {
		smm->flood[frame] = 0;
		return;
	}
	/* A table of the running address space is in use: its entries are
	 * being updated (munmap, mprotect), not its frame reused. */
	for (uint32_t k = 0; k < SMM_PT_SLOTS / 32; k++)
		for (uint32_t bits = users.slots[k]; bits; bits &= bits - 1) {
			if (current_table(smm, k * 32 + (uint32_t)__builtin_ctz(bits), frame)) {
				smm->flood[frame] = 0;
				return;
			}
		}
	/* Another address space's directory (a dead process's, its frame
	 * reused): its views are emptied, as they would no longer follow
	 * its changes. The S-view shows none of its mappings. A PAE
	 * directory names no address space: what it mapped goes from all. */
	if (is_pd && smm->pae)
		for (unsigned q = 0; q < 4; q++)
			if (users.quarters & (1u << q))
				entries_changed(smm, q << 18, 1u << 18, false, NULL,
						SMM_PT_SPACES + 1);
	if (is_pd && !smm->pae && smm->cfg.space_dropped)
		smm->cfg.space_dropped(smm->cfg.ctx, frame);
	/* Its mappings go from the S-view (which may keep global ones from
	 * another directory) and from the views of the spaces that walked
	 * through it: no other view can have one. */
	unsigned shift = smm->pae ? 9 : 10;
	for (uint32_t k = 0; k < SMM_PT_SLOTS / 32; k++)
		for (uint32_t bits = users.slots[k]; bits; bits &= bits - 1)
			entries_changed(smm, (k * 32 + (uint32_t)__builtin_ctz(bits)) << shift,
					1u << shift, true, users.pd, users.n_pd);
	if (!smm->snap_of[frame])
		return; /* a drop above ended all tracing */
	idx = smm->snap_of[frame] - 1;
	uint32_t last = smm->n_snaps - 1;
	if (idx != last) {
		memcpy(smm->snaps + (size_t)idx * HD_PAGE_SIZE,
		       smm->snaps + (size_t)last * HD_PAGE_SIZE, HD_PAGE_SIZE);
		smm->snap_frame[idx] = smm->snap_frame[last];
		smm->snap_of[smm->snap_frame[idx]] = idx + 1;
		smm->users[idx] = smm->users[last];
	}
	smm->n_snaps--;
	smm->snap_of[frame] = 0;
	smm->flood[frame] = 0;
	smm->frame_flags[frame] &= (uint8_t)~FRAME_TRACED;
	smm_update_frame_prot(smm, frame);
	smm->stats.untraced++;
}
