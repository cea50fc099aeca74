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
 */

void smm_trace(struct smm *smm, uint32_t frame, uint8_t kind, uint32_t pdi)
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
	if (kind == FRAME_PT) {
		struct smm_pt_users *u = &smm->users[idx - 1];
		bool known = u->many;
		for (unsigned i = 0; i < u->n && !known; i++)
			known = u->pdi[i] == pdi;
		if (!known) {
			if (u->n < SMM_MAX_USERS)
				u->pdi[u->n++] = (uint16_t)pdi;
			else
				u->many = true;
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
	smm_apply_entries(smm, frame, 0, 1024);
}

void smm_apply_entries(struct smm *smm, uint32_t frame, uint32_t first, uint32_t end)
{
	if (frame >= smm->frames || !smm->snap_of[frame])
		return;
	uint32_t idx = smm->snap_of[frame] - 1;
	uint32_t *snap = (uint32_t *)(smm->snaps + (size_t)idx * HD_PAGE_SIZE);
	const uint32_t *now = (const uint32_t *)(smm->cfg.ram + (uint64_t)frame * HD_PAGE_SIZE);
	uint8_t flags = smm->frame_flags[frame];
	struct smm_pt_users users = smm->users[idx];
	/* A directory entry of any traced address space: its range goes from
	 * every view (only the current one is in the S-view; the others may
	 * be in cached user worlds). */
	bool is_pd = flags & FRAME_PD;

	for (uint32_t i = first; i < end; i++) {
		if (now[i] == snap[i])
			continue;
		snap[i] = now[i];
		if (is_pd)
			smm_unmap_range(smm, i << 10, 1024);
		if (flags & FRAME_PT) {
			if (users.many) {
				smm_drop_all(smm);
				return;
			}
			for (unsigned u = 0; u < users.n; u++)
				smm_unmap_range(smm, (uint32_t)users.pdi[u] << 10 | i, 1);
		}
		/* A drop above may have ended this frame's tracing. */
		if (!smm->snap_of[frame])
			return;
	}
}
