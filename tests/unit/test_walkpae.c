/* Unit tests for shadowmm/walkpae.c: the PAE walker against hand-made page tables. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "smm_private.h"

/* Fakes of what the walker calls in sview.c and trace.c. */
static unsigned traced[16], slots[16], n_traced;
void smm_write_entry(struct smm *smm, uint64_t phys, uint32_t value)
{
	memcpy(smm->cfg.ram + phys, &value, 4);
}
void smm_trace(struct smm *smm, uint32_t frame, uint8_t kind, uint32_t slot, uint32_t pd_frame)
{
	(void)smm;
	(void)pd_frame;
	if (n_traced < 16) {
		slots[n_traced] = slot;
		traced[n_traced++] = frame << 4 | kind;
	}
}

#define RAM (16u << 20)
#define PDPT 0x1fe0u /* 32-byte aligned, sharing its page with other data */
#define PD 0x3000u
#define PT 0x4000u
#define XD (1ull << 63)
static struct smm smm;
static uint8_t *ram;

static uint64_t *entry(uint32_t phys)
{
	return (uint64_t *)(ram + phys);
}

static void load_cr3(uint32_t cr3)
{
	smm.cr3 = cr3;
	ck_assert(smm_pae_load_pdptes(ram, RAM, cr3, smm.pdpte));
}

static void setup(void)
{
	ram = calloc(1, RAM);
	memset(&smm, 0, sizeof smm);
	smm.cfg.ram = ram;
	smm.cfg.ram_size = RAM;
	smm.frames = RAM >> 12;
	smm.cr0 = 0x80010011; /* PG WP ET PE */
	smm.cr4 = 0xa0;       /* PAE PGE */
	smm.pae = true;
	smm.nxe = true;
	n_traced = 0;
	/* PDPTE 1: linear 0x40000000.. through PD */
	*entry(PDPT + 1 * 8) = PD | 1;
	/* PDE 2: linear 0x40400000.. through PT */
	*entry(PD + 2 * 8) = PT | 0x7;                       /* P W U */
	*entry(PT + 0 * 8) = 0x00123000 | 0x103;             /* P W G, supervisor */
	*entry(PT + 1 * 8) = 0x00124000 | 0x1;               /* P, read-only */
	*entry(PT + 2 * 8) = 0x00125000 | 0x7 | XD;          /* P W U, no execute */
	*entry(PT + 3 * 8) = 0x00126000;                     /* not present */
	*entry(PT + 4 * 8) = 0x0000000345678000ull | 0x3;    /* a frame above 4 GiB */
	*entry(PT + 5 * 8) = 0x0000001000000000ull | 0x3;    /* bit 36: reserved */
	/* PDE 3: linear 0x40600000, a 2 MiB page at 0x00a00000 */
	*entry(PD + 3 * 8) = 0x00a00000 | 0x83;              /* P W PS */
	/* PDE 4: a 2 MiB page with bit 13 set (reserved) */
	*entry(PD + 4 * 8) = 0x00c02000 | 0x83;
	load_cr3(PDPT);
}

static void teardown(void)
{
	free(ram);
}

static enum smm_result walk(uint32_t linear, enum smm_access a, bool user,
			    struct smm_walk *w, uint32_t *err)
{
	*err = 0xdead;
	return smm_walk_pae(&smm, linear, a, user, true, w, err);
}

START_TEST(maps_4k_and_sets_accessed)
{
	struct smm_walk w;
	uint32_t err;
	ck_assert_int_eq(walk(0x40400abc, SMM_READ, false, &w, &err), SMM_OK);
	ck_assert_uint_eq(w.frame, 0x123);
	ck_assert(!w.large && w.writable && !w.dirty && w.global && !w.no_exec);
	ck_assert_uint_eq(*entry(PD + 16) & 0x60, 0x20);   /* PDE: A */
	ck_assert_uint_eq(*entry(PT) & 0x60, 0x20);        /* PTE: A, not D */
	ck_assert_int_eq(walk(0x40400abc, SMM_WRITE, false, &w, &err), SMM_OK);
	ck_assert_uint_eq(*entry(PT) & 0x60, 0x60);        /* PTE: A and D */
	ck_assert_uint_eq(*entry(PD + 16) & 0x40, 0);      /* never D in a PDE of a table */
	ck_assert(w.dirty);
	/* directory (PDPTE slot 1), then table (slot linear >> 21) */
	ck_assert_uint_ge(n_traced, 2);
	ck_assert_uint_eq(traced[0], (PD >> 12) << 4 | FRAME_PD);
	ck_assert_uint_eq(slots[0], 1);
	ck_assert_uint_eq(traced[1], (PT >> 12) << 4 | FRAME_PT);
	ck_assert_uint_eq(slots[1], 0x40400000u >> 21);
	/* G counts only with CR4.PGE */
	smm.cr4 &= ~0x80u;
	ck_assert_int_eq(walk(0x40400abc, SMM_READ, false, &w, &err), SMM_OK);
	ck_assert(!w.global);
}
END_TEST

START_TEST(not_present_faults)
{
	struct smm_walk w;
	uint32_t err;
	ck_assert_int_eq(walk(0x40403000, SMM_READ, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0);
	ck_assert_int_eq(walk(0x40403000, SMM_WRITE, true, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 6);
	/* a fetch with NXE: the I/D bit */
	ck_assert_int_eq(walk(0x40403000, SMM_FETCH, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0x10);
	/* the table's PDE was used: A set there; not in the faulting PTE */
	ck_assert_uint_eq(*entry(PD + 16) & 0x20, 0x20);
	ck_assert_uint_eq(*entry(PT + 24) & 0x20, 0);
	/* not-present PDE, not-present PDPTE */
	ck_assert_int_eq(walk(0x40c00000, SMM_READ, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0);
	ck_assert_int_eq(walk(0x00400000, SMM_WRITE, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 2);
	ck_assert_int_eq(walk(0xc0000000, SMM_READ, true, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 4);
}
END_TEST

START_TEST(protection)
{
	struct smm_walk w;
	uint32_t err;
	ck_assert_int_eq(walk(0x40401000, SMM_WRITE, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 3);
	ck_assert_uint_eq(*entry(PT + 8) & 0x60, 0);       /* no A/D on a fault */
	smm.cr0 &= ~0x00010000u;                          /* WP off */
	ck_assert_int_eq(walk(0x40401000, SMM_WRITE, false, &w, &err), SMM_OK);
	ck_assert(w.writable);
	ck_assert_uint_eq(*entry(PT + 8) & 0x60, 0x60);
	ck_assert_int_eq(walk(0x40401000, SMM_WRITE, true, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 7);
	/* supervisor page, user read */
	ck_assert_int_eq(walk(0x40400000, SMM_READ, true, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 5);
}
END_TEST

START_TEST(no_execute)
{
	struct smm_walk w;
	uint32_t err;
	ck_assert_int_eq(walk(0x40402000, SMM_READ, true, &w, &err), SMM_OK);
	ck_assert(w.no_exec);
	ck_assert_int_eq(walk(0x40402000, SMM_FETCH, true, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0x15);                      /* P U I/D */
	ck_assert_int_eq(walk(0x40402000, SMM_FETCH, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0x11);
	/* XD in the PDE forbids fetches from every page under it */
	*entry(PD + 16) |= XD;
	ck_assert_int_eq(walk(0x40400000, SMM_FETCH, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0x11);
	/* without NXE, bit 63 is reserved: a read faults with RSVD, and
	 * fetches get no I/D bit */
	smm.nxe = false;
	ck_assert_int_eq(walk(0x40400000, SMM_READ, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0x9);
	*entry(PD + 16) &= ~XD;
	ck_assert_int_eq(walk(0x40400000, SMM_FETCH, false, &w, &err), SMM_OK);
	ck_assert(!w.no_exec);
	ck_assert_int_eq(walk(0x40402000, SMM_FETCH, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0x9);
	ck_assert_int_eq(walk(0x40403000, SMM_FETCH, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0);
}
END_TEST

START_TEST(reserved_bits)
{
	struct smm_walk w;
	uint32_t err;
	ck_assert_int_eq(walk(0x40405000, SMM_WRITE, true, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0xf);                       /* P W U RSVD */
	ck_assert_int_eq(walk(0x40805000, SMM_FETCH, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0x19);                      /* 2 MiB, bit 13: P RSVD I/D */
	ck_assert_uint_eq(*entry(PD + 32) & 0x20, 0);      /* no A on a faulting entry */
	/* a frame above 4 GiB but below MAXPHYADDR: translated */
	ck_assert_int_eq(walk(0x40404000, SMM_READ, false, &w, &err), SMM_OK);
	ck_assert_uint_eq(w.frame, 0x345678);
}
END_TEST

START_TEST(large_pages)
{
	struct smm_walk w;
	uint32_t err;
	ck_assert_int_eq(walk(0x40723456, SMM_READ, false, &w, &err), SMM_OK);
	ck_assert(w.large);
	ck_assert_uint_eq(w.large_base, 0xa00);
	ck_assert_uint_eq(w.frame, 0xa00 + 0x123);
	ck_assert_uint_eq(*entry(PD + 24) & 0x60, 0x20);
	ck_assert(!w.dirty);
	ck_assert_int_eq(walk(0x40600000, SMM_WRITE, false, &w, &err), SMM_OK);
	ck_assert_uint_eq(*entry(PD + 24) & 0x60, 0x60);   /* D in the PDE */
	ck_assert(w.dirty);
	ck_assert_uint_eq(n_traced, 2);                    /* only the directory, twice */
	/* PAT (bit 12) is not part of the frame */
	*entry(PD + 24) |= 0x1000;
	ck_assert_int_eq(walk(0x40723456, SMM_READ, false, &w, &err), SMM_OK);
	ck_assert_uint_eq(w.frame, 0xa00 + 0x123);
}
END_TEST

START_TEST(pdptes_are_loaded_not_walked)
{
	struct smm_walk w;
	uint32_t err;
	/* a PDPT change takes effect at the next load only */
	*entry(PDPT + 0 * 8) = PD | 1;
	ck_assert_int_eq(walk(0x00400000, SMM_READ, false, &w, &err), SMM_PAGE_FAULT);
	load_cr3(PDPT);
	ck_assert_int_eq(walk(0x00400000, SMM_READ, false, &w, &err), SMM_OK);
	ck_assert_uint_eq(w.frame, 0x123);
	/* reserved bits of a present PDPTE: 2:1, 8:5, 63:36 */
	static const uint64_t bad[] = { 0x2, 0x4, 0x20, 0x100, 1ull << 36, XD };
	uint64_t p[4];
	for (unsigned i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		*entry(PDPT + 3 * 8) = PD | 1 | bad[i];
		ck_assert(!smm_pae_load_pdptes(ram, RAM, PDPT, p));
		*entry(PDPT + 3 * 8) = bad[i]; /* not present: anything goes */
		ck_assert(smm_pae_load_pdptes(ram, RAM, PDPT, p));
	}
	/* PWT, PCD and the available bits are not reserved */
	*entry(PDPT + 3 * 8) = PD | 0xe19;
	ck_assert(smm_pae_load_pdptes(ram, RAM, PDPT, p));
	ck_assert_uint_eq(p[3], PD | 0xe19);
	/* a PDPT beyond RAM reads as not present */
	ck_assert(smm_pae_load_pdptes(ram, RAM, 0xfffff000u, p));
	ck_assert_uint_eq(p[0] | p[1] | p[2] | p[3], 0);
}
END_TEST

START_TEST(tables_outside_ram_are_not_present)
{
	struct smm_walk w;
	uint32_t err;
	*entry(PD + 5 * 8) = 0xff000000u | 3;  /* a table far beyond RAM */
	ck_assert_int_eq(walk(0x40a00000, SMM_READ, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0);
	smm.pdpte[2] = 0xfe000000u | 1;        /* a directory beyond RAM */
	ck_assert_int_eq(walk(0x80000000, SMM_READ, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("walkpae");
	TCase *t = tcase_create("walker");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, maps_4k_and_sets_accessed);
	tcase_add_test(t, not_present_faults);
	tcase_add_test(t, protection);
	tcase_add_test(t, no_execute);
	tcase_add_test(t, reserved_bits);
	tcase_add_test(t, large_pages);
	tcase_add_test(t, pdptes_are_loaded_not_walked);
	tcase_add_test(t, tables_outside_ram_are_not_present);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
