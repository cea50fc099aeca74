/* shadowmm: the S-view, a shadow of the guest's page tables (public header). */
#ifndef BTVMM_SHADOWMM_H
#define BTVMM_SHADOWMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The S-view is host [0, 4 GiB) in the monitor process: the guest's linear
 * address space as its kernel sees it. With paging off it is the identity
 * map of guest RAM. With paging on it is a shadow of the guest's current
 * page tables, filled lazily:
 *
 *   event                         reaction
 *   ----------------------------  ------------------------------------------
 *   host fault, guest PTE allows  walk, set A (and D on a write) in the
 *     ("hidden fault")            guest PTE/PDE, map the page, retry
 *   host fault, guest PTE denies  the guest's #PF (error code returned)
 *   read, page not yet dirty      mapped read-only: the first write faults
 *                                 again and sets D ("map read-only until
 *                                 the first write")
 *   write to a page-table frame   frames the walker used are traced: every
 *     ("traced write")            alias is read-only; the write is let
 *                                 through for one instruction, then the
 *                                 frame is diffed against its snapshot and
 *                                 the shadow mappings its changed entries
 *                                 produced are dropped
 *   write to a code frame         the caller drops the translations
 *   MOV CR3 naming another        the S-view's mappings are dropped (with
 *     address space (its table    CR4.PGE only the non-global ones) and
 *     or, with PAE, its PDPTEs)   refilled lazily; tables stay traced, so
 *                                 other views stay coherent; code pages
 *                                 that now show another frame lose their
 *                                 translations (code_frame_dropped)
 *   MOV CR3, the same space       nothing: every mapping came through a
 *                                 traced table, so none is stale
 *   CR4.PGE toggled               only global pages that no longer show
 *                                 the current tables go
 *   CR0.WP toggled                nothing, unless setting it takes away a
 *                                 right a walk gave while it was clear
 *   CR0.PG, CR4.PAE/PSE,          everything, tracing included
 *     EFER.NXE (with PAE)
 *   INVLPG                        that page's mapping, unless it already
 *                                 shows the current entry
 *
 * Two formats: 2-level 32-bit (walk32.c) and PAE (walkpae.c; a page
 * table's entries are 8 bytes, 512 to a frame). A 32-bit guest writes a
 * PAE entry in two 4-byte halves: each half's traced write drops what
 * the entry mapped, and a mapping is only made by a walk, so the S-view
 * shows a torn entry only between the two writes, as a TLB could.
 */
struct smm;

#define SMM_ANY_SPACE 0xffffffffu

struct smm_config {
	int fd;               /* guest RAM memfd */
	uint8_t *ram;         /* the monitor's view of guest RAM */
	uint64_t ram_size;
	/* Called when linear pages that code was fetched from lose their
	 * mappings and the pages are too many to name: every translation
	 * (keyed by linear address) is then stale. */
	void (*code_mapping_dropped)(void *ctx);
	/* Called when one such page no longer maps the frame its code was
	 * translated from: its translations from that frame must no longer be reached through
	 * that linear page (the monitor sets them aside: bt_detach_page). */
	void (*code_frame_dropped)(void *ctx, uint32_t frame);
	/* Called when linear pages [first, first + count) change in the
	 * address space whose page directory is frame `space` (a table's
	 * entry written), or in any (SMM_ANY_SPACE: INVLPG, a new address
	 * space, tracing given up): the other views of that space (its user
	 * world's, its user view) must drop them. May be NULL. */
	void (*linear_dropped)(void *ctx, uint32_t first_lpage, uint32_t count, uint32_t space);
	/* Called when a frame becomes read-only for everyone (it now holds
	 * translated code or a traced page table). May be NULL. */
	void (*frame_protected)(void *ctx, uint32_t frame);
	/* Called when a page directory other than the current one stops
	 * being traced (its frame is being written over as data): changes to
	 * that address space are no longer seen, so every view of it (CR3 =
	 * pd_frame) must be emptied. May be NULL. */
	void (*space_dropped)(void *ctx, uint32_t pd_frame);
	void *ctx;
};

struct smm *smm_create(const struct smm_config *cfg, char *err, size_t errlen);
void smm_destroy(struct smm *smm);

/* Follow the guest's CR0, CR3, CR4, EFER.NXE and, with PAE paging, the
 * PDPTEs loaded at its last CR3 load (smm_pae_load_pdptes; ignored
 * otherwise), as the table above says: a new address space drops the
 * S-view's mappings (with CR4.PGE set and unchanged, the non-global ones)
 * and rechecks the pages code was fetched from (code_frame_dropped for
 * those that changed); CR4.PGE toggled alone drops only stale global
 * pages, CR0.WP toggled alone nothing unless setting it takes back a
 * right a walk gave; the page tables stay traced. Return true only when
 * the paging mode changed (PG, PAE, PSE, NXE): then everything was
 * dropped, tracing included, and the caller's linear-keyed caches are
 * stale too. */
bool smm_set_mode(struct smm *smm, uint32_t cr0, uint32_t cr3, uint32_t cr4, bool nxe,
		  const uint64_t pdpte[4]);
bool smm_paging(const struct smm *smm);

/*
 * PAE: read the four PDPTEs at cr3 & ~0x1f from guest RAM (beyond RAM:
 * not present) into pdpte[]. Return false if a present one has a
 * reserved bit set (the MOV CR3/CR0/CR4 that loads them raises #GP).
 */
bool smm_pae_load_pdptes(const uint8_t *ram, uint64_t ram_size, uint32_t cr3,
			 uint64_t pdpte[4]);

enum smm_access { SMM_READ = 0, SMM_WRITE = 1, SMM_FETCH = 2 };

enum smm_result {
	SMM_OK,          /* translated; or the S-view now maps it: retry */
	SMM_PAGE_FAULT,  /* the guest's #PF, with *pf_error */
	SMM_CODE_WRITE,  /* a write to a frame that holds translated code */
	SMM_PT_WRITE,    /* a write to a traced page-table frame */
	SMM_UNBACKED,    /* not guest RAM (or below vm.mmap_min_addr): emulate */
};

/*
 * Translate `linear` for an access by the monitor on the guest's behalf
 * (emulated instructions, code fetch), setting A/D as the CPU would.
 * Return SMM_OK with *phys, SMM_PAGE_FAULT with *pf_error, or SMM_UNBACKED
 * with *phys (no RAM there: a device or nothing).
 */
enum smm_result smm_translate(struct smm *smm, uint32_t linear,
			      enum smm_access access, bool user,
			      uint64_t *phys, uint32_t *pf_error);

/*
 * Translate `linear` for a debugger (the GDB stub, the monitor console):
 * a supervisor read through the guest's current tables that changes
 * nothing (no A/D update, no statistics). Return true with *phys (which
 * may lie beyond RAM) and *rights (SMM_DEBUG_*: R/W and U/S set in every
 * level; both without paging), or false if the page is not mapped.
 */
#define SMM_DEBUG_RW 1u
#define SMM_DEBUG_US 2u
bool smm_debug_translate(struct smm *smm, uint32_t linear, uint64_t *phys, unsigned *rights);

/*
 * A host fault in the S-view at `linear` by translated code. Return
 * SMM_OK (hidden fault, now mapped: retry), SMM_PAGE_FAULT (*pf_error),
 * SMM_CODE_WRITE or SMM_PT_WRITE (*frame: the guest-physical page
 * written), or SMM_UNBACKED.
 */
enum smm_result smm_host_fault(struct smm *smm, uint32_t linear, bool write,
			       bool user, uint32_t *frame, uint32_t *pf_error);

/*
 * A traced write: make the S-view page at `linear` writable for one
 * instruction (begin), then re-protect it and apply what the instruction
 * changed in the page-table frame (end).
 */
void smm_pt_write_begin(struct smm *smm, uint32_t linear);
void smm_pt_write_end(struct smm *smm, uint32_t linear);

/* The monitor itself wrote guest-physical [phys, phys + len): keep the
 * shadow coherent if that was a page-table frame (then return true). */
bool smm_phys_written(struct smm *smm, uint64_t phys, unsigned len);

/*
 * May ring 3 read linear page lpage with no change to the guest's tables
 * (a 4 KiB page whose PDE and PTE are present, user and accessed)? Then
 * *frame is its frame: it may be shown read-only ahead of its use. The
 * caller has walked a page of the same table (smm_user_fault): the table
 * is traced, so a change of the entry is seen.
 */
bool smm_user_ready(struct smm *smm, uint32_t lpage, uint32_t *frame);

/*
 * A host fault in the user world's view (guest CPL 3, direct execution):
 * walk as a user access, setting A/D. Return SMM_OK with the frame and
 * whether it may be mapped writable now, SMM_PAGE_FAULT with *pf_error,
 * SMM_CODE_WRITE (*frame holds translated code), SMM_PT_WRITE, or
 * SMM_UNBACKED.
 */
enum smm_result smm_user_fault(struct smm *smm, uint32_t linear, bool write,
			       uint32_t *frame, bool *writable, uint32_t *pf_error);
/* The same for either privilege: `user` false walks as a supervisor
 * access (guest CPL 0 run in a user world by --mode=trap-emulate). */
enum smm_result smm_world_fault(struct smm *smm, uint32_t linear, bool write, bool user,
				uint32_t *frame, bool *writable, uint32_t *pf_error);

/* Drop every S-view mapping (not the translations' bookkeeping): the
 * view will be refilled for a different privilege level. */
void smm_drop_view(struct smm *smm);

/* INVLPG: drop the mapping of one linear page. */
void smm_invlpg(struct smm *smm, uint32_t linear);

/* Write-protect (on) or release a guest-physical frame holding code. */
void smm_protect_code(struct smm *smm, uint32_t frame, bool on);
bool smm_is_code_page(const struct smm *smm, uint32_t frame);
/* True if the frame is a traced page table or directory. */
bool smm_is_table(const struct smm *smm, uint32_t frame);

struct smm_stats {
	uint64_t hidden_faults;   /* host faults fixed by mapping a page */
	uint64_t guest_faults;    /* #PF the guest must see */
	uint64_t traced_writes;   /* writes to page-table frames */
	uint64_t pages_mapped;    /* S-view mappings made */
	uint64_t runs_mapped;     /* runs of several pages mapped in one call */
	uint64_t flushes;         /* whole S-view drops */
	uint64_t partial_drops;   /* CR3 loads that kept the global pages */
	uint64_t protects, unprotects;
	uint64_t map_evictions;   /* drops forced by the host's mapping limit
				     (vm.max_map_count, which btvmm never
				     raises: it is host-wide) */
	uint64_t map_evicted_pages; /* shadow mappings those drops removed */
	uint64_t snapshot_drops;  /* drops because every page-table snapshot
				     was in use */
	uint64_t global_flushes;  /* CR4.PGE toggles (dropping only stale globals) */
	uint64_t stale_globals;   /* global pages kept from another directory
				     that a global flush found stale */
	uint64_t untraced;        /* page tables no longer traced: written over
				     and over with no walk through them */
	uint64_t premapped;       /* pages mapped when a traced write made them
				     present, ahead of their first access */
	uint64_t other_space_changes; /* table changes the S-view did not need
					 to drop (another address space's) */
	uint64_t code_pages_dropped; /* code pages whose translations went
					because their mapping changed */
	uint64_t invlpg_kept;     /* INVLPGs of a page whose mapping already
				     showed the current entry */
	uint64_t wp_toggles;      /* CR0.WP changes (a drop only when setting it
				     takes a right away) */
};
void smm_get_stats(const struct smm *smm, struct smm_stats *out);

#endif
