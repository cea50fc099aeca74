/*
 * Unit tests for the shadow coherence engine (shadowmm/sview.c,
 * sview_flush.c, trace.c): a small guest page-table tree in a memfd
 * "RAM", the S-view built from it by host faults, and every way it must
 * follow the guest's changes — the first write setting D, guest #PFs, a
 * traced page-table write, the monitor's own write, code write-protection
 * over aliases, CR3 switches and the ghosts they leave, global pages and
 * CR4.PGE, CR0.WP, INVLPG, 4 MiB pages, PAE's PDPTEs, paging off. What each
 * case expects is what the guest's tables say a CPU would show. What the
 * S-view shows is probed through the kernel (a pipe copies from or to the
 * page: EFAULT if the access is refused), so no test takes a host fault
 * itself. Needs the guest space reserved: not
 * in the AddressSanitizer run; skips (77) where the reservation fails.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "hostdriver.h"
#include "shadowmm.h"

#define RAM_SIZE (8u << 20)
#define PTE_P 0x001u
#define PTE_W 0x002u
#define PTE_U 0x004u
#define PTE_A 0x020u
#define PTE_D 0x040u
#define PDE_PS 0x080u
#define PTE_G 0x100u
#define CR0_PE 0x00000001u
#define CR0_WP 0x00010000u
#define CR0_PG 0x80000000u

/* The guest's tables: directory A (frame 1) maps linear 4-8 MiB through
 * table frame 2; directory B (frame 3) maps it through table frame 4. */
#define PD_A 1u
#define PT_A 2u
#define PD_B 3u
#define PT_B 4u
#define PT_C 5u                 /* a spare table */
#define LIN 0x400000u           /* linear page n is LIN + n * 4096 */
#define LIN2 0x800000u          /* directory slot 2 */
#define MARK(frame) (0xd0000000u | (frame))

static uint8_t *ram;
static int ram_fd;
static int probe[2];
static struct smm *smm;
static uint32_t dropped_first, dropped_count, drops;
/* Every drop the other views were told of since `drops` was last zeroed
 * (the first DROP_LOG of them). */
#define DROP_LOG 64
static struct { uint32_t first, count, space; } drop_log[DROP_LOG];

static void on_linear_dropped(void *ctx, uint32_t first, uint32_t count, uint32_t space)
{
	if (drops < DROP_LOG) {
		drop_log[drops].first = first;
		drop_log[drops].count = count;
		drop_log[drops].space = space;
	}
	drops++;
	dropped_first = first;
	dropped_count = count;
}

/* Were the other views of address space `space` (or of all) told to drop
 * exactly [first, first + count)? */
static bool told_to_drop(uint32_t first, uint32_t count, uint32_t space)
{
	for (uint32_t i = 0; i < drops && i < DROP_LOG; i++)
		if (drop_log[i].first == first && drop_log[i].count == count &&
		    (drop_log[i].space == space || drop_log[i].space == SMM_ANY_SPACE))
			return true;
	return false;
}

static uint32_t *entry(uint32_t frame, uint32_t i)
{
	return (uint32_t *)(ram + frame * 4096u) + i;
}

static bool readable(uint32_t linear)
{
	char c;
	if (write(probe[1], (const void *)(uintptr_t)linear, 1) != 1) {
		ck_assert_int_eq(errno, EFAULT);
		return false;
	}
	ck_assert_int_eq(read(probe[0], &c, 1), 1);
	return true;
}

/* Writes the byte it read back, so a successful probe changes nothing. */
static bool writable(uint32_t linear)
{
	if (!readable(linear))
		return false;
	char c = *(volatile char *)(uintptr_t)linear;
	ck_assert_int_eq(write(probe[1], &c, 1), 1);
	if (read(probe[0], (void *)(uintptr_t)linear, 1) != 1) {
		ck_assert_int_eq(errno, EFAULT);
		ck_assert_int_eq(read(probe[0], &c, 1), 1); /* drain */
		return false;
	}
	return true;
}

static uint32_t word(uint32_t linear)
{
	return *(volatile uint32_t *)(uintptr_t)linear;
}

static enum smm_result fault(uint32_t linear, bool write, uint32_t *frame, uint32_t *err)
{
	uint32_t f = 0, e = 0;
	enum smm_result r = smm_host_fault(smm, linear, write, false, &f, &e);
	if (frame)
		*frame = f;
	if (err)
		*err = e;
	return r;
}

static void paging(uint32_t cr0, uint32_t pd)
{
	smm_set_mode(smm, cr0, pd << 12, 0, false, NULL);
}

/* Paging with CR0.WP and the given CR4 (PSE, PGE). */
static void paging_cr4(uint32_t cr4, uint32_t pd)
{
	smm_set_mode(smm, CR0_PE | CR0_PG | CR0_WP, pd << 12, cr4, false, NULL);
}

/* A read or write as the guest's CPU makes it: each host fault it would
 * take goes to the S-view, which must then map the page (one fault for a
 * read, two at most for a write to a page not yet dirty). */
static uint32_t load(uint32_t linear)
{
	for (int i = 0; i < 2 && !readable(linear); i++)
		ck_assert_int_eq(fault(linear, false, NULL, NULL), SMM_OK);
	ck_assert(readable(linear));
	return word(linear);
}

static void store(uint32_t linear, uint32_t value)
{
	for (int i = 0; i < 2 && !writable(linear); i++)
		ck_assert_int_eq(fault(linear, true, NULL, NULL), SMM_OK);
	ck_assert(writable(linear));
	*(volatile uint32_t *)(uintptr_t)linear = value;
}

/* The guest's store to an entry of a traced table through a linear
 * mapping of it, as the monitor runs it (monitor/hostfault.c): the host
 * fault says SMM_PT_WRITE, the store goes through, the table is diffed. */
static void table_store(uint32_t linear, uint32_t value)
{
	ck_assert_int_eq(fault(linear, true, NULL, NULL), SMM_PT_WRITE);
	smm_pt_write_begin(smm, linear);
	*(volatile uint32_t *)(uintptr_t)linear = value;
	smm_pt_write_end(smm, linear);
}

static void setup(void)
{
	memset(ram, 0, RAM_SIZE);
	for (uint32_t f = 0x10; f < 0x20; f++)
		*entry(f, 0) = MARK(f);
	*entry(PD_A, LIN >> 22) = PT_A << 12 | PTE_P | PTE_W;
	*entry(PT_A, 0) = 0x10u << 12 | PTE_P | PTE_W;
	*entry(PT_A, 1) = 0x11u << 12 | PTE_P;          /* read-only */
	/* entry 2: not present */
	*entry(PT_A, 3) = 0x10u << 12 | PTE_P | PTE_W;  /* an alias of page 0 */
	*entry(PT_A, 4) = PT_A << 12 | PTE_P | PTE_W;   /* the table itself */
	*entry(PD_B, LIN >> 22) = PT_B << 12 | PTE_P | PTE_W;
	*entry(PT_B, 0) = 0x14u << 12 | PTE_P | PTE_W;
	drops = 0;
	struct smm_config cfg = { .fd = ram_fd, .ram = ram, .ram_size = RAM_SIZE,
				  .linear_dropped = on_linear_dropped };
	char err[256];
	smm = smm_create(&cfg, err, sizeof err);
	ck_assert_msg(smm != NULL, "%s", err);
	paging(CR0_PE | CR0_PG | CR0_WP, PD_A);
}

static void teardown(void)
{
	smm_destroy(smm);
	smm = NULL;
}

START_TEST(a_hidden_fault_maps_the_page_read_only_until_the_first_write)
{
	ck_assert(!readable(LIN));
	ck_assert_int_eq(fault(LIN, false, NULL, NULL), SMM_OK);
	ck_assert(readable(LIN));
	ck_assert_uint_eq(word(LIN), MARK(0x10));
	ck_assert_uint_eq(*entry(PT_A, 0) & (PTE_A | PTE_D), PTE_A);
	ck_assert(!writable(LIN));
	ck_assert_int_eq(fault(LIN, true, NULL, NULL), SMM_OK);
	ck_assert_uint_eq(*entry(PT_A, 0) & (PTE_A | PTE_D), PTE_A | PTE_D);
	ck_assert(writable(LIN));
	*(volatile uint32_t *)(uintptr_t)LIN = 0x1234;
	ck_assert_uint_eq(*entry(0x10, 0), 0x1234); /* the frame itself */
}
END_TEST

START_TEST(what_the_guest_tables_deny_is_the_guests_page_fault)
{
	uint32_t err;
	ck_assert_int_eq(fault(LIN + 0x2000, false, NULL, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0); /* not present, read, supervisor */
	ck_assert_int_eq(fault(LIN + 0x1000, true, NULL, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 3); /* present, write: CR0.WP protects it */
	ck_assert_uint_eq(*entry(PT_A, 1) & PTE_D, 0);
	paging(CR0_PE | CR0_PG, PD_A); /* WP off: a supervisor write goes through */
	ck_assert_int_eq(fault(LIN + 0x1000, true, NULL, NULL), SMM_OK);
	ck_assert(writable(LIN + 0x1000));
}
END_TEST

START_TEST(a_traced_write_drops_what_the_changed_entry_mapped)
{
	uint32_t frame;
	ck_assert_int_eq(fault(LIN, false, NULL, NULL), SMM_OK);
	ck_assert(smm_is_table(smm, PT_A));
	ck_assert(smm_is_table(smm, PD_A));
	/* The table seen through its own mapping: readable, and a write is
	 * a traced one. */
	ck_assert_int_eq(fault(LIN + 0x4000, false, NULL, NULL), SMM_OK);
	ck_assert(!writable(LIN + 0x4000));
	ck_assert_int_eq(fault(LIN + 0x4000, true, &frame, NULL), SMM_PT_WRITE);
	ck_assert_uint_eq(frame, PT_A);
	table_store(LIN + 0x4000, 0x12u << 12 | PTE_P | PTE_W);
	ck_assert(!writable(LIN + 0x4000)); /* traced again */
	ck_assert(!readable(LIN));          /* the old mapping went */
	ck_assert(drops > 0);
	ck_assert(dropped_first <= LIN >> 12 && LIN >> 12 < dropped_first + dropped_count);
	ck_assert_int_eq(fault(LIN, false, NULL, NULL), SMM_OK);
	ck_assert_uint_eq(word(LIN), MARK(0x12));
	ck_assert_int_eq(fault(LIN + 0x3000, false, NULL, NULL), SMM_OK);
	ck_assert_uint_eq(word(LIN + 0x3000), MARK(0x10)); /* the other entry kept its frame */
}
END_TEST

START_TEST(the_monitors_own_write_to_a_table_is_followed)
{
	ck_assert_int_eq(fault(LIN, false, NULL, NULL), SMM_OK);
	ck_assert(readable(LIN));
	*entry(PT_A, 0) = 0x13u << 12 | PTE_P | PTE_W;
	ck_assert(smm_phys_written(smm, PT_A << 12, 4));
	ck_assert(!readable(LIN));
	ck_assert_int_eq(fault(LIN, false, NULL, NULL), SMM_OK);
	ck_assert_uint_eq(word(LIN), MARK(0x13));
	ck_assert(!smm_phys_written(smm, 0x15u << 12, 4)); /* data: nothing to do */
}
END_TEST

START_TEST(code_protection_covers_every_alias)
{
	uint32_t frame;
	ck_assert_int_eq(fault(LIN, true, NULL, NULL), SMM_OK);
	ck_assert_int_eq(fault(LIN + 0x3000, true, NULL, NULL), SMM_OK);
	ck_assert(writable(LIN) && writable(LIN + 0x3000));
	smm_protect_code(smm, 0x10, true);
	ck_assert(smm_is_code_page(smm, 0x10));
	ck_assert(readable(LIN) && readable(LIN + 0x3000));
	ck_assert(!writable(LIN) && !writable(LIN + 0x3000));
	ck_assert_int_eq(fault(LIN + 0x3000, true, &frame, NULL), SMM_CODE_WRITE);
	ck_assert_uint_eq(frame, 0x10);
	smm_protect_code(smm, 0x10, false);
	ck_assert_int_eq(fault(LIN + 0x3000, true, NULL, NULL), SMM_OK);
	ck_assert(writable(LIN + 0x3000));
}
END_TEST

START_TEST(a_cr3_switch_shows_the_other_space_and_back)
{
	ck_assert_int_eq(fault(LIN, false, NULL, NULL), SMM_OK);
	/* Same mode: only the S-view's mappings go (false: translations
	 * keyed by linear address may stay, their pages are rechecked). */
	ck_assert(!smm_set_mode(smm, CR0_PE | CR0_PG | CR0_WP, PD_B << 12, 0, false, NULL));
	ck_assert(!readable(LIN));
	ck_assert_int_eq(fault(LIN, false, NULL, NULL), SMM_OK);
	ck_assert_uint_eq(word(LIN), MARK(0x14));
	paging(CR0_PE | CR0_PG | CR0_WP, PD_A);
	ck_assert_int_eq(fault(LIN, false, NULL, NULL), SMM_OK);
	ck_assert_uint_eq(word(LIN), MARK(0x10));
}
END_TEST

/* INVLPG after an entry changed behind the tracing's back (as for a
 * table no longer traced) drops that page; after no change the mapping
 * already shows the entry and stays. */
START_TEST(invlpg_drops_one_stale_page)
{
	ck_assert_int_eq(fault(LIN, false, NULL, NULL), SMM_OK);
	ck_assert_int_eq(fault(LIN + 0x3000, false, NULL, NULL), SMM_OK);
	smm_invlpg(smm, LIN + 0x3000);
	ck_assert(readable(LIN + 0x3000));
	*entry(PT_A, 0) = 0x15u << 12 | PTE_P | PTE_A;
	smm_invlpg(smm, LIN);
	ck_assert(!readable(LIN));
	ck_assert(readable(LIN + 0x3000));
	ck_assert_int_eq(fault(LIN, false, NULL, NULL), SMM_OK);
	ck_assert_uint_eq(word(LIN), MARK(0x15));
}
END_TEST

START_TEST(paging_off_is_the_identity_map)
{
	ck_assert(smm_set_mode(smm, CR0_PE, 0, 0, false, NULL));
	ck_assert(!smm_paging(smm));
	ck_assert_uint_eq(word(0x11u << 12), MARK(0x11));
	ck_assert(writable(0x11u << 12));
	smm_protect_code(smm, 0x11, true);
	ck_assert(!writable(0x11u << 12));
	ck_assert(readable(0x11u << 12));
}
END_TEST

/*
 * Ghosts: a CR3 load turns the S-view's pages into ghosts (inaccessible
 * host pages that still hold their old frame). Each must come back
 * showing what the new tables say: their frame, their D bit, their
 * frame's protection.
 */
START_TEST(a_ghost_comes_back_with_the_frame_the_current_tables_name)
{
	*entry(PT_B, 3) = 0x10u << 12 | PTE_P | PTE_W; /* as in A, but not dirty */
	ck_assert_uint_eq(load(LIN), MARK(0x10));
	store(LIN + 0x3000, MARK(0x10));
	paging(CR0_PE | CR0_PG | CR0_WP, PD_B);
	ck_assert(!readable(LIN) && !readable(LIN + 0x3000));
	ck_assert_uint_eq(load(LIN), MARK(0x14)); /* the ghost's frame was 0x10 */
	ck_assert_uint_eq(load(LIN + 0x3000), MARK(0x10));
	/* Writable in A, but D is clear in B: the first write sets it. */
	ck_assert(!writable(LIN + 0x3000));
	ck_assert_uint_eq(*entry(PT_B, 3) & PTE_D, 0);
	store(LIN + 0x3000, 7);
	ck_assert_uint_eq(*entry(PT_B, 3) & PTE_D, PTE_D);
	ck_assert_uint_eq(*entry(0x10, 0), 7);
}
END_TEST

START_TEST(a_ghost_back_as_one_of_two_aliases_stays_coherent_and_protected)
{
	*entry(PT_B, 0) = 0x10u << 12 | PTE_P | PTE_W;
	*entry(PT_B, 5) = 0x10u << 12 | PTE_P | PTE_W;
	store(LIN, 1);
	paging(CR0_PE | CR0_PG | CR0_WP, PD_B);
	store(LIN + 0x5000, 2); /* the other alias first */
	ck_assert_uint_eq(load(LIN), 2);
	store(LIN, 3);
	ck_assert_uint_eq(load(LIN + 0x5000), 3);
	smm_protect_code(smm, 0x10, true);
	ck_assert(!writable(LIN) && !writable(LIN + 0x5000));
	ck_assert_int_eq(fault(LIN, true, NULL, NULL), SMM_CODE_WRITE);
	ck_assert_int_eq(fault(LIN + 0x5000, true, NULL, NULL), SMM_CODE_WRITE);
	/* Back in A, LIN is a ghost of a frame that became code meanwhile. */
	paging(CR0_PE | CR0_PG | CR0_WP, PD_A);
	ck_assert_uint_eq(load(LIN), 3);
	ck_assert(!writable(LIN));
	ck_assert_int_eq(fault(LIN, true, NULL, NULL), SMM_CODE_WRITE);
}
END_TEST

START_TEST(a_ghost_of_a_frame_now_a_page_table_comes_back_read_only)
{
	uint32_t frame;
	*entry(PT_A, 6) = 0x16u << 12 | PTE_P | PTE_W;
	store(LIN + 0x6000, 0); /* entry 0 of frame 0x16: not present */
	paging(CR0_PE | CR0_PG | CR0_WP, PD_B);
	*entry(PD_B, LIN2 >> 22) = 0x16u << 12 | PTE_P | PTE_W;
	*entry(0x16, 1) = 0x11u << 12 | PTE_P;
	ck_assert_uint_eq(load(LIN2 + 0x1000), MARK(0x11));
	ck_assert(smm_is_table(smm, 0x16));
	paging(CR0_PE | CR0_PG | CR0_WP, PD_A);
	ck_assert_uint_eq(load(LIN + 0x6000), 0);
	ck_assert(!writable(LIN + 0x6000));
	ck_assert_int_eq(fault(LIN + 0x6000, true, &frame, NULL), SMM_PT_WRITE);
	ck_assert_uint_eq(frame, 0x16);
}
END_TEST

/*
 * Global pages (PTE.G with CR4.PGE) stay in a TLB across CR3 loads; a
 * CR4.PGE toggle flushes them all. The S-view keeps a global page across
 * a CR3 load, and after a PGE toggle keeps only the mappings the current
 * tables would make again.
 */
START_TEST(a_cr3_switch_keeps_the_global_pages_with_pge)
{
	*entry(PT_A, 7) = 0x17u << 12 | PTE_P | PTE_W | PTE_G;
	*entry(PT_B, 7) = 0x18u << 12 | PTE_P | PTE_G;
	paging_cr4(CR4_PGE, PD_A);
	ck_assert_uint_eq(load(LIN), MARK(0x10));
	ck_assert_uint_eq(load(LIN + 0x7000), MARK(0x17));
	paging_cr4(CR4_PGE, PD_B);
	ck_assert(!readable(LIN));
	ck_assert(readable(LIN + 0x7000)); /* the TLB entry from A */
	ck_assert_uint_eq(word(LIN + 0x7000), MARK(0x17));
	smm_invlpg(smm, LIN + 0x7000);
	ck_assert_uint_eq(load(LIN + 0x7000), MARK(0x18));
}
END_TEST

START_TEST(without_pge_a_cr3_switch_drops_the_global_pages)
{
	*entry(PT_A, 7) = 0x17u << 12 | PTE_P | PTE_W | PTE_G;
	ck_assert_uint_eq(load(LIN + 0x7000), MARK(0x17)); /* CR4.PGE is off */
	paging(CR0_PE | CR0_PG | CR0_WP, PD_B);
	ck_assert(!readable(LIN + 0x7000));
	/* Mapped while PGE was on, then PGE turned off: the next CR3 load
	 * drops it. */
	paging_cr4(CR4_PGE, PD_A);
	ck_assert_uint_eq(load(LIN + 0x7000), MARK(0x17));
	paging_cr4(0, PD_A);
	ck_assert(readable(LIN + 0x7000)); /* PD_A's entry still: no need to drop it */
	paging_cr4(0, PD_B);
	ck_assert(!readable(LIN + 0x7000));
}
END_TEST

START_TEST(toggling_pge_drops_exactly_the_globals_the_tables_no_longer_show)
{
	*entry(PT_A, 7) = 0x17u << 12 | PTE_P | PTE_W | PTE_G;
	*entry(PT_A, 8) = 0x18u << 12 | PTE_P | PTE_G;
	*entry(PT_A, 9) = 0x19u << 12 | PTE_P | PTE_W | PTE_G;
	*entry(PT_B, 7) = 0x1au << 12 | PTE_P | PTE_A | PTE_G;          /* another frame */
	*entry(PT_B, 8) = 0x18u << 12 | PTE_P | PTE_A | PTE_G;          /* the same */
	*entry(PT_B, 9) = 0x19u << 12 | PTE_P | PTE_W | PTE_A | PTE_G;  /* not dirty */
	paging_cr4(CR4_PGE, PD_A);
	ck_assert_uint_eq(load(LIN + 0x7000), MARK(0x17));
	ck_assert_uint_eq(load(LIN + 0x8000), MARK(0x18));
	store(LIN + 0x9000, MARK(0x19));
	paging_cr4(CR4_PGE, PD_B);
	ck_assert_uint_eq(load(LIN), MARK(0x14));
	ck_assert(readable(LIN + 0x7000)); /* still A's, as in a TLB */
	ck_assert_uint_eq(word(LIN + 0x7000), MARK(0x17));
	paging_cr4(0, PD_B);
	ck_assert(!readable(LIN + 0x7000));
	ck_assert(readable(LIN + 0x8000));
	ck_assert(!writable(LIN + 0x9000));
	ck_assert(readable(LIN)); /* not global: already B's */
	ck_assert_uint_eq(load(LIN + 0x7000), MARK(0x1a));
	store(LIN + 0x9000, 9);
	ck_assert_uint_eq(*entry(PT_B, 9) & PTE_D, PTE_D);
}
END_TEST

/* The diff of a traced table: what changed goes, and nothing else. */
START_TEST(rewriting_an_entry_unchanged_drops_nothing)
{
	ck_assert_uint_eq(load(LIN), MARK(0x10));
	ck_assert_uint_eq(load(LIN + 0x3000), MARK(0x10));
	uint32_t pte = *entry(PT_A, 0);
	drops = 0;
	table_store(LIN + 0x4000, pte);
	ck_assert_uint_eq(drops, 0);
	ck_assert(readable(LIN) && readable(LIN + 0x3000));
}
END_TEST

START_TEST(clearing_d_or_a_then_invlpg_makes_the_next_access_set_it_again)
{
	store(LIN, 1);
	uint32_t pte = *entry(PT_A, 0);
	ck_assert_uint_eq(pte & (PTE_A | PTE_D), PTE_A | PTE_D);
	table_store(LIN + 0x4000, pte & ~PTE_D);
	smm_invlpg(smm, LIN);
	ck_assert(!writable(LIN));
	store(LIN, 2);
	ck_assert_uint_eq(*entry(PT_A, 0), pte);
	table_store(LIN + 0x4000, pte & ~PTE_A);
	smm_invlpg(smm, LIN);
	ck_assert_uint_eq(load(LIN), 2);
	ck_assert_uint_eq(*entry(PT_A, 0), pte);
}
END_TEST

START_TEST(clearing_p_drops_the_page)
{
	uint32_t err;
	ck_assert_uint_eq(load(LIN), MARK(0x10));
	ck_assert_uint_eq(load(LIN + 0x3000), MARK(0x10));
	table_store(LIN + 0x4000, 0);
	ck_assert(!readable(LIN));
	ck_assert_int_eq(fault(LIN, false, NULL, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0);
	ck_assert(readable(LIN + 0x3000)); /* the alias's entry did not change */
}
END_TEST

START_TEST(setting_wp_takes_back_what_wp_off_allowed)
{
	uint32_t err;
	paging(CR0_PE | CR0_PG, PD_A);
	store(LIN + 0x1000, 5); /* read-only, but a supervisor write with WP off */
	paging(CR0_PE | CR0_PG | CR0_WP, PD_A);
	ck_assert(!writable(LIN + 0x1000));
	ck_assert_int_eq(fault(LIN + 0x1000, true, NULL, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 3);
	ck_assert_uint_eq(load(LIN + 0x1000), 5);
}
END_TEST

/* A table written over and over with no walk through it (a dead space's
 * frame reused) stops being traced; used as a table again, it shows what
 * was written last, and is followed again from then on. */
START_TEST(a_table_written_over_is_followed_again_once_used)
{
	paging(CR0_PE | CR0_PG | CR0_WP, PD_B);
	ck_assert_uint_eq(load(LIN), MARK(0x14));
	paging(CR0_PE | CR0_PG | CR0_WP, PD_A);
	for (uint32_t f = 0x10; f < 0x20; f++) {
		*entry(PT_B, 0) = f << 12 | PTE_P;
		smm_phys_written(smm, PT_B << 12, 4);
	}
	paging(CR0_PE | CR0_PG | CR0_WP, PD_B);
	ck_assert_uint_eq(load(LIN), MARK(0x1f));
	*entry(PT_B, 0) = 0x15u << 12 | PTE_P;
	ck_assert(smm_phys_written(smm, PT_B << 12, 4));
	ck_assert_uint_eq(load(LIN), MARK(0x15));
}
END_TEST

/* A supervisor page a traced write makes present is mapped at once
 * (smm_premap): it must show the new entry, read-only until D is set. */
START_TEST(a_page_made_present_shows_its_entry_and_sets_d_on_the_first_write)
{
	table_store(LIN + 0x4000 + 2 * 4, 0x12u << 12 | PTE_P | PTE_W);
	ck_assert_uint_eq(load(LIN + 0x2000), MARK(0x12));
	ck_assert_uint_eq(*entry(PT_A, 2) & PTE_A, PTE_A);
	ck_assert(!writable(LIN + 0x2000));
	store(LIN + 0x2000, 4);
	ck_assert_uint_eq(*entry(PT_A, 2) & PTE_D, PTE_D);
	ck_assert_uint_eq(*entry(0x12, 0), 4);
}
END_TEST

/* PD_A seen at LIN + 0x5000: its entry for slot s is at LIN + 0x5000 + 4s. */
#define PD_A_ENTRY(slot) (LIN + 0x5000 + 4 * (slot))

START_TEST(a_directory_entry_write_drops_the_4mib_it_covered)
{
	*entry(PT_A, 5) = PD_A << 12 | PTE_P | PTE_W;
	*entry(PD_A, LIN2 >> 22) = PT_C << 12 | PTE_P | PTE_W;
	*entry(PT_C, 0) = 0x18u << 12 | PTE_P;
	ck_assert_uint_eq(load(LIN), MARK(0x10));
	ck_assert_uint_eq(load(LIN + 0x3000), MARK(0x10));
	ck_assert_uint_eq(load(LIN2), MARK(0x18));
	drops = 0;
	table_store(PD_A_ENTRY(LIN >> 22), PT_B << 12 | PTE_P | PTE_W);
	ck_assert(told_to_drop(LIN >> 12, 1024, PD_A));
	ck_assert(!readable(LIN) && !readable(LIN + 0x3000));
	ck_assert(readable(LIN2));
	ck_assert_uint_eq(load(LIN), MARK(0x14));
	ck_assert_int_eq(fault(LIN + 0x3000, false, NULL, NULL), SMM_PAGE_FAULT);
}
END_TEST

START_TEST(a_table_shared_by_two_slots_and_two_directories_drops_each_page)
{
	*entry(PD_A, 0xc00000u >> 22) = PT_A << 12 | PTE_P | PTE_W;
	*entry(PD_B, LIN >> 22) = PT_A << 12 | PTE_P | PTE_W;
	paging(CR0_PE | CR0_PG | CR0_WP, PD_B);
	ck_assert_uint_eq(load(LIN), MARK(0x10));
	paging(CR0_PE | CR0_PG | CR0_WP, PD_A);
	ck_assert_uint_eq(load(LIN), MARK(0x10));
	ck_assert_uint_eq(load(0xc00000u), MARK(0x10));
	drops = 0;
	table_store(LIN + 0x4000, 0x12u << 12 | PTE_P | PTE_W);
	ck_assert(!readable(LIN) && !readable(0xc00000u));
	ck_assert(told_to_drop(LIN >> 12, 1, PD_A) && told_to_drop(LIN >> 12, 1, PD_B));
	ck_assert(told_to_drop(0xc00000u >> 12, 1, PD_A));
	ck_assert_uint_eq(load(LIN), MARK(0x12));
	ck_assert_uint_eq(load(0xc00000u), MARK(0x12));
	paging(CR0_PE | CR0_PG | CR0_WP, PD_B);
	ck_assert_uint_eq(load(LIN), MARK(0x12));
}
END_TEST

START_TEST(a_4mib_page_split_into_a_table_and_back)
{
	uint32_t large = 0x400000u | PDE_PS | PTE_P | PTE_W;
	for (uint32_t f = 0x400; f < 0x800; f += 0x3ff)
		*entry(f, 0) = MARK(f);
	*entry(0x401, 0) = MARK(0x401);
	*entry(PT_A, 5) = PD_A << 12 | PTE_P | PTE_W;
	*entry(PD_A, LIN2 >> 22) = large;
	*entry(PT_C, 0) = 0x10u << 12 | PTE_P | PTE_W;
	*entry(PT_C, 1) = 0x11u << 12 | PTE_P;
	paging_cr4(CR4_PSE, PD_A);
	smm_protect_code(smm, 0x402, true);
	ck_assert_uint_eq(load(LIN2 + 0x1000), MARK(0x401));
	ck_assert_uint_eq(*entry(PD_A, LIN2 >> 22) & (PTE_A | PTE_D), PTE_A);
	ck_assert(!writable(LIN2 + 0x1000));
	store(LIN2, MARK(0x400));
	ck_assert_uint_eq(*entry(PD_A, LIN2 >> 22) & PTE_D, PTE_D);
	ck_assert_uint_eq(load(LIN2 + 0x3ff000), MARK(0x7ff));
	ck_assert_int_eq(fault(LIN2 + 0x2000, true, NULL, NULL), SMM_CODE_WRITE);
	ck_assert(!writable(LIN2 + 0x2000));
	/* Split: a table now maps the range. */
	table_store(PD_A_ENTRY(LIN2 >> 22), PT_C << 12 | PTE_P | PTE_W);
	ck_assert(!readable(LIN2) && !readable(LIN2 + 0x1000) && !readable(LIN2 + 0x3ff000));
	ck_assert_uint_eq(load(LIN2), MARK(0x10));
	ck_assert_uint_eq(load(LIN2 + 0x1000), MARK(0x11));
	ck_assert_int_eq(fault(LIN2 + 0x2000, false, NULL, NULL), SMM_PAGE_FAULT);
	/* And back to one large page. */
	table_store(PD_A_ENTRY(LIN2 >> 22), large);
	ck_assert(!readable(LIN2) && !readable(LIN2 + 0x1000));
	ck_assert_uint_eq(load(LIN2 + 0x1000), MARK(0x401));
	ck_assert_uint_eq(load(LIN2 + 0x2000), 0);
}
END_TEST

/*
 * A CR3 load turns up to DROP_GHOSTS_MAX (sview_flush.c: 4096) non-global
 * pages into ghosts one range at a time; with more it replaces the whole
 * view. Either way no page of A shows in B. `tables` tables of A, from
 * directory slot 4 on (table frames 0x20 on), map 1024 pages each over
 * 32 frames, in runs (all entries accessed and dirty).
 */
#define MANY_FIRST 0x1000000u
#define MANY_FRAME 0x100u

static void map_many(uint32_t tables)
{
	for (uint32_t f = 0; f < 32; f++)
		*entry(MANY_FRAME + f, 0) = MARK(MANY_FRAME + f);
	for (uint32_t t = 0; t < tables; t++) {
		*entry(PD_A, (MANY_FIRST >> 22) + t) = (0x20u + t) << 12 | PTE_P | PTE_W;
		for (uint32_t i = 0; i < 1024; i++)
			*entry(0x20u + t, i) = (MANY_FRAME + i % 32) << 12 |
					       PTE_P | PTE_W | PTE_A | PTE_D;
	}
	for (uint32_t l = 0; l < tables * 1024; l++)
		ck_assert_uint_eq(load(MANY_FIRST + l * 4096), MARK(MANY_FRAME + l % 32));
}

static void switch_drops_many(uint32_t tables, bool whole)
{
	struct smm_stats before, after;
	map_many(tables);
	smm_get_stats(smm, &before);
	paging(CR0_PE | CR0_PG | CR0_WP, PD_B);
	smm_get_stats(smm, &after);
	ck_assert_uint_eq(after.flushes - before.flushes, whole);
	ck_assert_uint_eq(after.partial_drops - before.partial_drops, !whole);
	for (uint32_t l = 0; l < tables * 1024; l++)
		ck_assert(!readable(MANY_FIRST + l * 4096));
	ck_assert_int_eq(fault(MANY_FIRST, false, NULL, NULL), SMM_PAGE_FAULT);
	paging(CR0_PE | CR0_PG | CR0_WP, PD_A);
	ck_assert_uint_eq(load(MANY_FIRST + 4096 * (tables * 1024 - 1)), MARK(MANY_FRAME + 31));
}

START_TEST(a_cr3_switch_makes_ghosts_of_up_to_drop_ghosts_max_pages)
{
	switch_drops_many(4, false);
}
END_TEST

START_TEST(a_cr3_switch_with_more_pages_mapped_drops_the_whole_view)
{
	switch_drops_many(5, true);
}
END_TEST

/*
 * PAE: the CPU reads the four PDPTEs at a CR3 load only. PDPT at frame 6,
 * directories 7 and 9, tables 8 and 10: slot 2 of directory 7 maps LIN
 * to frame 0x10 (and the next page to 0x11), directory 9 maps it to 0x14.
 */
static uint64_t *entry64(uint32_t frame, uint32_t i)
{
	return (uint64_t *)(ram + frame * 4096u) + i;
}

static void load_cr3_pae(uint32_t cr3)
{
	uint64_t pdpte[4];
	ck_assert(smm_pae_load_pdptes(ram, RAM_SIZE, cr3, pdpte));
	smm_set_mode(smm, CR0_PE | CR0_PG | CR0_WP, cr3, CR4_PAE, false, pdpte);
}

static void pae_tables(void)
{
	*entry64(6, 0) = 7u << 12 | PTE_P;
	*entry64(7, LIN >> 21) = 8u << 12 | PTE_P | PTE_W;
	*entry64(8, 0) = 0x10u << 12 | PTE_P | PTE_W;
	*entry64(8, 1) = 0x11u << 12 | PTE_P | PTE_W;
	*entry64(9, LIN >> 21) = 10u << 12 | PTE_P | PTE_W;
	*entry64(10, 0) = 0x14u << 12 | PTE_P | PTE_W;
	load_cr3_pae(6u << 12);
}

START_TEST(a_pae_cr3_load_reloads_the_pdptes)
{
	pae_tables();
	ck_assert_uint_eq(load(LIN), MARK(0x10));
	*entry64(6, 0) = 9u << 12 | PTE_P; /* not read until the next CR3 load */
	smm_invlpg(smm, LIN);
	ck_assert_uint_eq(load(LIN), MARK(0x10));
	load_cr3_pae(6u << 12);
	ck_assert(!readable(LIN));
	ck_assert_uint_eq(load(LIN), MARK(0x14));
}
END_TEST

START_TEST(a_pae_table_or_directory_write_drops_what_it_mapped)
{
	pae_tables();
	ck_assert_uint_eq(load(LIN), MARK(0x10));
	ck_assert_uint_eq(load(LIN + 0x1000), MARK(0x11));
	*entry64(8, 0) = 0x12u << 12 | PTE_P;
	ck_assert(smm_phys_written(smm, 8u << 12, 8));
	ck_assert(!readable(LIN) && readable(LIN + 0x1000));
	ck_assert_uint_eq(load(LIN), MARK(0x12));
	*entry64(7, LIN >> 21) = 10u << 12 | PTE_P | PTE_W; /* the 2 MiB range */
	ck_assert(smm_phys_written(smm, 7u * 4096 + (LIN >> 21) * 8, 8));
	ck_assert(!readable(LIN) && !readable(LIN + 0x1000));
	ck_assert_uint_eq(load(LIN), MARK(0x14));
}
END_TEST

START_TEST(a_pae_2mib_page_and_its_split_into_a_table)
{
	const uint32_t big = 0x600000u, slot = big >> 21;
	for (uint32_t f = 0x400; f < 0x600; f += 0x1ff)
		*entry(f, 0) = MARK(f);
	*entry(0x401, 0) = MARK(0x401);
	*entry64(7, slot) = 0x400000u | PDE_PS | PTE_P | PTE_W;
	pae_tables();
	ck_assert_uint_eq(load(big + 0x1000), MARK(0x401));
	ck_assert(!writable(big + 0x1000));
	store(big, MARK(0x400));
	ck_assert_uint_eq(*entry64(7, slot) & PTE_D, PTE_D);
	ck_assert_uint_eq(load(big + 0x1ff000), MARK(0x5ff));
	*entry64(7, slot) = 10u << 12 | PTE_P | PTE_W;
	ck_assert(smm_phys_written(smm, 7u * 4096 + slot * 8, 8));
	ck_assert(!readable(big) && !readable(big + 0x1ff000));
	ck_assert_uint_eq(load(big), MARK(0x14));
	ck_assert_int_eq(fault(big + 0x1000, false, NULL, NULL), SMM_PAGE_FAULT);
}
END_TEST

/*
 * A page mapped again and again over its own ghost with no CR3 load in
 * between (here: A and D cleared by the monitor, then a read and a
 * write, each mapping it again) is listed once more each time among the
 * pages a CR3 load must drop; past SMM_LPAGES (smm_private.h: 1 << 20) of
 * them the S-view must start over rather than write past that list (it
 * overwrote the list of every mapping: the first page mapped was then
 * left out of a full drop and came back showing another frame).
 */
START_TEST(a_page_mapped_over_its_ghost_a_million_times_stays_coherent)
{
	uint32_t pte = 0x10u << 12 | PTE_P | PTE_W;
	ck_assert_uint_eq(load(LIN + 0x3000), MARK(0x10));
	for (uint32_t i = 0; i < (1u << 19) + 16; i++) {
		*entry(PT_A, 0) = pte;
		smm_phys_written(smm, PT_A << 12, 4);
		ck_assert_int_eq(fault(LIN, false, NULL, NULL), SMM_OK);
		ck_assert_int_eq(fault(LIN, true, NULL, NULL), SMM_OK);
	}
	ck_assert_uint_eq(word(LIN), MARK(0x10));
	ck_assert(smm_set_mode(smm, CR0_PE, 0, 0, false, NULL));
	paging(CR0_PE | CR0_PG | CR0_WP, PD_A);
	ck_assert_uint_eq(load(LIN + 0x3000), MARK(0x10));
}
END_TEST

int main(void)
{
	char err[256];
	if (hd_reserve_guest_space(err, sizeof err)) {
		printf("skipped: %s\n", err);
		return 77;
	}
	uint8_t *phys;
	ram_fd = hd_ram_create(RAM_SIZE, &phys, err, sizeof err);
	if (ram_fd < 0 || pipe(probe)) {
		fprintf(stderr, "test_sview: %s\n", ram_fd < 0 ? err : strerror(errno));
		return 1;
	}
	ram = phys;
	Suite *s = suite_create("sview");
	TCase *tc = tcase_create("coherence");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_hidden_fault_maps_the_page_read_only_until_the_first_write);
	tcase_add_test(tc, what_the_guest_tables_deny_is_the_guests_page_fault);
	tcase_add_test(tc, a_traced_write_drops_what_the_changed_entry_mapped);
	tcase_add_test(tc, the_monitors_own_write_to_a_table_is_followed);
	tcase_add_test(tc, code_protection_covers_every_alias);
	tcase_add_test(tc, a_cr3_switch_shows_the_other_space_and_back);
	tcase_add_test(tc, invlpg_drops_one_stale_page);
	tcase_add_test(tc, paging_off_is_the_identity_map);
	suite_add_tcase(s, tc);
	tc = tcase_create("ghosts_globals_diff");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_ghost_comes_back_with_the_frame_the_current_tables_name);
	tcase_add_test(tc, a_ghost_back_as_one_of_two_aliases_stays_coherent_and_protected);
	tcase_add_test(tc, a_ghost_of_a_frame_now_a_page_table_comes_back_read_only);
	tcase_add_test(tc, a_cr3_switch_keeps_the_global_pages_with_pge);
	tcase_add_test(tc, without_pge_a_cr3_switch_drops_the_global_pages);
	tcase_add_test(tc, toggling_pge_drops_exactly_the_globals_the_tables_no_longer_show);
	tcase_add_test(tc, rewriting_an_entry_unchanged_drops_nothing);
	tcase_add_test(tc, clearing_d_or_a_then_invlpg_makes_the_next_access_set_it_again);
	tcase_add_test(tc, clearing_p_drops_the_page);
	tcase_add_test(tc, a_page_made_present_shows_its_entry_and_sets_d_on_the_first_write);
	tcase_add_test(tc, a_directory_entry_write_drops_the_4mib_it_covered);
	tcase_add_test(tc, a_table_shared_by_two_slots_and_two_directories_drops_each_page);
	tcase_add_test(tc, a_4mib_page_split_into_a_table_and_back);
	tcase_add_test(tc, a_cr3_switch_makes_ghosts_of_up_to_drop_ghosts_max_pages);
	tcase_add_test(tc, a_cr3_switch_with_more_pages_mapped_drops_the_whole_view);
	tcase_add_test(tc, a_pae_cr3_load_reloads_the_pdptes);
	tcase_add_test(tc, a_pae_table_or_directory_write_drops_what_it_mapped);
	tcase_add_test(tc, a_pae_2mib_page_and_its_split_into_a_table);
	tcase_add_test(tc, setting_wp_takes_back_what_wp_off_allowed);
	tcase_add_test(tc, a_table_written_over_is_followed_again_once_used);
	suite_add_tcase(s, tc);
	tc = tcase_create("limits"); /* a million host calls: more than Check's 4 s */
	tcase_set_timeout(tc, 300);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, a_page_mapped_over_its_ghost_a_million_times_stays_coherent);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
