/* shadowmm: private state of the S-view and its page-table tracing. */
#ifndef BTVMM_SMM_PRIVATE_H
#define BTVMM_SMM_PRIVATE_H

#include "hostdriver.h"
#include "shadowmm.h"
#include "x86.h"

#define SMM_LPAGES (1u << 20) /* 4 KiB linear pages in 4 GiB */

#define SMM_MAX_CODE_PAGES 8192u

/* Guest-physical frame flags. */
#define FRAME_CODE 0x1 /* holds translated code: every alias read-only */
#define FRAME_PT 0x2   /* a traced page table (level 1) */
#define FRAME_PD 0x4   /* a traced page directory */
#define FRAME_TRACED (FRAME_PT | FRAME_PD)

/*
 * lin_map entry, one per linear page of the S-view:
 *
 *   31                 12 11     4    3        2        1         0
 *  +---------------------+--------+--------+-------+----------+--------+
 *  | guest-physical frame|   0    | GLOBAL | GHOST | WRITABLE | MAPPED |
 *  +---------------------+--------+--------+-------+----------+--------+
 *  WRITABLE: the guest's tables allow the write and D is set, so the page
 *  may be mapped read-write unless its frame is CODE or traced.
 *  GHOST (bit 2, without MAPPED): dropped, but the host mapping of that
 *  frame is still there with PROT_NONE, so mapping the same frame again
 *  is one mprotect and no first-touch fault.
 */
#define LIN_MAPPED 0x1u
#define LIN_WRITABLE 0x2u
#define LIN_GHOST 0x4u
#define LIN_GLOBAL 0x8u /* a global page (G with CR4.PGE): survives CR3 loads */
#define LIN_FRAME(e) ((e) >> 12)


/* The directory slots a page table was found at (any address space): a
 * change to entry i drops linear page (slot << 10 | i) at each. Slots are
 * never forgotten while the table is traced; a stale one costs only a
 * needless drop. */
#define SMM_PT_SPACES 4
#define SMM_PT_SLOTS 2048 /* 1024 directory slots; 2048 PAE (linear >> 21) */
struct smm_pt_users {
	uint32_t slots[SMM_PT_SLOTS / 32];
	/* PAE: the PDPTE indices a directory was found at (bit q: linear
	 * [q << 30, (q + 1) << 30)). */
	uint8_t quarters;
	/* The directories whose walks went through the table (the address
	 * spaces whose views may map through it); more than SMM_PT_SPACES:
	 * any. */
	uint32_t pd[SMM_PT_SPACES];
	uint32_t n_pd;
};

/* What a walker found. */
struct smm_walk {
	uint32_t frame;    /* guest-physical frame of the page */
	bool writable;     /* the access rights allow a write (with CR0.WP) */
	bool rw, us;       /* R/W and U/S set in every level */
	bool dirty;        /* D is set (after the walk's own update) */
	bool large;        /* a 4 MiB page (2 MiB with PAE) */
	bool no_exec;      /* XD set with EFER.NXE (PAE only) */
	bool global;       /* G set and CR4.PGE on */
	uint32_t pd_frame; /* frame of the page directory (with PAE: of the
			      one the PDPTE names) */
	uint32_t pt_frame; /* frame of the page table (not for large pages) */
	uint32_t large_base; /* first frame of a large page */
};

struct smm {
	struct smm_config cfg;
	uint32_t frames;
	uint32_t cr0, cr3, cr4;
	bool paging;
	bool pae;                  /* paging with CR4.PAE: walk_pae */
	bool peeking;              /* a debugger's walk: A/D stay as they are */
	bool nxe;                  /* EFER.NXE */
	uint64_t pdpte[4];         /* loaded at the last CR3 load (PAE) */

	uint8_t *frame_flags;      /* [frames] */
	uint32_t *lin_map;         /* [SMM_LPAGES] */
	uint32_t *alias_next;      /* [SMM_LPAGES] next linear page + 1 */
	uint32_t *frame_alias;     /* [frames] first linear page + 1 */
	uint32_t *mapped;          /* linear pages mapped since the last drop */
	uint32_t n_mapped;
	uint32_t *nonglobal;       /* of those, the non-global ones (CR3 loads) */
	uint32_t n_nonglobal;
	bool globals_mapped;       /* a global page was mapped since the last
				      full drop (drop_sview) */
	bool wp_lenient;           /* a walk found a supervisor write allowed
				      only by CR0.WP = 0 since WP was last set */
	/* Linear pages code was fetched from, with the frame each mapped to:
	 * translations are keyed by linear address and stay valid while
	 * these pairs hold (checked again at each CR3 load and INVLPG; the
	 * translations of a pair that no longer holds are dropped). */
	uint32_t *code_frame;      /* [linear page] last frame fetched + 1, or 0 */
	struct { uint32_t lpage, frame; bool global; } *code_pages;
	uint32_t n_code;
	bool code_overflow;        /* more than SMM_MAX_CODE_PAGES */

	uint32_t *snap_of;         /* [frames] snapshot index + 1 */
	uint8_t *flood;            /* [frames] writes to a traced table since a
				      walk last went through it */
	uint32_t *snap_frame;      /* [max_snaps] */
	uint8_t *snaps;            /* max_snaps pages */
	struct smm_pt_users *users;/* [max_snaps] */
	uint32_t n_snaps, max_snaps;

	struct smm_stats stats;
};

/*
 * PAE entries (x86.h draws them). With PAE, the views of other address
 * spaces are told of every change (SMM_ANY_SPACE): a PDPT is 32 bytes and
 * several share a page, so no frame names one address space.
 */

/* The reserved bits of a PAE PDE or PTE: 62:36, and 63 without NXE. */
static inline uint64_t smm_pae_reserved(const struct smm *smm)
{
	return PAE_RSVD_HIGH | (smm->nxe ? 0 : PTE_XD);
}

/* walk32.c */
enum smm_result smm_walk32(struct smm *smm, uint32_t linear,
			   enum smm_access access, bool user, bool trace,
			   struct smm_walk *w, uint32_t *pf_error);
/* walkpae.c: the same for PAE tables, with smm->pdpte as loaded. With
 * `trace`, a table's slot is linear >> 21 and a directory's the PDPTE
 * index. */
enum smm_result smm_walk_pae(struct smm *smm, uint32_t linear,
			     enum smm_access access, bool user, bool trace,
			     struct smm_walk *w, uint32_t *pf_error);

/* The current PAE directory entry for slot (linear >> 21), or 0 if its
 * PDPTE is not present or it lies beyond RAM: no A/D update, no trace. */
uint64_t smm_pae_pde(const struct smm *smm, uint32_t slot);
/* Is linear page lpage present in the current PAE tables, with no
 * reserved bit set? Then *leaf is the entry mapping it (its PDE for a
 * 2 MiB page) and *frame its frame; *pde is its PDE either way. Reads
 * only. */
bool smm_pae_leaf(const struct smm *smm, uint32_t lpage, uint64_t *pde, uint64_t *leaf,
		  uint32_t *frame);

/* The walker of the current paging mode. */
static inline enum smm_result smm_walk(struct smm *smm, uint32_t linear,
				       enum smm_access access, bool user, bool trace,
				       struct smm_walk *w, uint32_t *pf_error)
{
	if (smm->pae)
		return smm_walk_pae(smm, linear, access, user, trace, w, pf_error);
	return smm_walk32(smm, linear, access, user, trace, w, pf_error);
}

/* sview.c */
void smm_drop_all(struct smm *smm);
void smm_unmap_range(struct smm *smm, uint32_t first_lpage, uint32_t count);
/* The S-view's part of smm_unmap_range: the other views are told apart. */
void smm_sview_unmap(struct smm *smm, uint32_t first_lpage, uint32_t count);
void smm_premap(struct smm *smm, uint32_t lpage);
/* trace.c: a traced page table written FLOOD_WRITES times with no walk
 * through it in between stops being traced. */
#define FLOOD_WRITES 8
void smm_flooded(struct smm *smm, uint32_t frame);
void smm_update_frame_prot(struct smm *smm, uint32_t frame);
/* Write a guest page-table entry as the CPU does (A/D updates), keeping
 * its frame's snapshot in step so the change is not taken for the guest's. */
void smm_write_entry(struct smm *smm, uint64_t phys, uint32_t value);

/* trace.c */
void smm_trace(struct smm *smm, uint32_t frame, uint8_t kind, uint32_t pdi, uint32_t pd_frame);
void smm_trace_reset(struct smm *smm);
void smm_apply_changes(struct smm *smm, uint32_t frame);
/* The same for entries [first, end) only (a write known to touch no other). */
void smm_apply_entries(struct smm *smm, uint32_t frame, uint32_t first, uint32_t end);

/* sview.c: forget the mapping of lpage (it becomes a ghost); change the
 * protection of S-view pages (false: the host refused and the whole view
 * was dropped, see there). */
void smm_forget(struct smm *smm, uint32_t lpage);
bool smm_view_protect(struct smm *smm, uint32_t first, uint32_t count, enum hd_prot prot);
/* sview_flush.c: code was fetched through lpage from frame. */
void smm_code_note(struct smm *smm, uint32_t lpage, uint32_t frame, bool global);

#endif
