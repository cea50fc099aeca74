/* Unit tests for shadowmm/walk32.c: the 2-level walker against hand-made page tables. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "smm_private.h"

/* Fakes of what the walker calls in sview.c and trace.c. */
static unsigned traced[16], n_traced;
void smm_write_entry(struct smm *smm, uint64_t phys, uint32_t value)
{
	memcpy(smm->cfg.ram + phys, &value, 4);
}
void smm_trace(struct smm *smm, uint32_t frame, uint8_t kind, uint32_t pdi, uint32_t pd_frame)
{
	(void)smm;
	(void)pdi;
	(void)pd_frame;
	if (n_traced < 16)
		traced[n_traced++] = frame << 4 | kind;
}

#define RAM (16u << 20)
#define PD 0x1000u
#define PT 0x2000u
static struct smm smm;
static uint8_t *ram;

static uint32_t *entry(uint32_t phys)
{
	return (uint32_t *)(ram + phys);
}

static void setup(void)
{
	ram = calloc(1, RAM);
	memset(&smm, 0, sizeof smm);
	smm.cfg.ram = ram;
	smm.cfg.ram_size = RAM;
	smm.frames = RAM >> 12;
	smm.cr0 = 0x80010011; /* PG WP ET PE */
	smm.cr3 = PD;
	smm.cr4 = 0x10;       /* PSE */
	n_traced = 0;
	/* linear 0x00400000.. through PT; PDE 1 */
	*entry(PD + 1 * 4) = PT | 0x7;            /* P W U */
	*entry(PT + 0 * 4) = 0x00123000 | 0x3;     /* P W, supervisor */
	*entry(PT + 1 * 4) = 0x00124000 | 0x1;     /* P, read-only */
	*entry(PT + 2 * 4) = 0x00125000 | 0x7;     /* P W U */
	*entry(PT + 3 * 4) = 0x00126000;           /* not present */
	/* linear 0x00800000: a 4 MiB page at 0x00c00000 */
	*entry(PD + 2 * 4) = 0x00c00000 | 0x83;    /* P W PS */
}

static void teardown(void)
{
	free(ram);
}

static enum smm_result walk(uint32_t linear, enum smm_access a, bool user,
			    struct smm_walk *w, uint32_t *err)
{
	*err = 0xdead;
	return smm_walk32(&smm, linear, a, user, true, w, err);
}

START_TEST(maps_4k_and_sets_accessed)
{
	struct smm_walk w;
	uint32_t err;
	ck_assert_int_eq(walk(0x00400abc, SMM_READ, false, &w, &err), SMM_OK);
	ck_assert_uint_eq(w.frame, 0x123);
	ck_assert(!w.large);
	ck_assert(w.writable);
	ck_assert(!w.dirty);
	ck_assert_uint_eq(*entry(PD + 4) & 0x60, 0x20);      /* PDE: A */
	ck_assert_uint_eq(*entry(PT) & 0x60, 0x20);          /* PTE: A, not D */
	ck_assert_int_eq(walk(0x00400abc, SMM_WRITE, false, &w, &err), SMM_OK);
	ck_assert_uint_eq(*entry(PT) & 0x60, 0x60);          /* PTE: A and D */
	ck_assert_uint_eq(*entry(PD + 4) & 0x40, 0);         /* never D in a PDE of a table */
	ck_assert(w.dirty);
	/* both levels were traced: directory, then table used by slot 1 */
	ck_assert_uint_ge(n_traced, 2);
	ck_assert_uint_eq(traced[0], (PD >> 12) << 4 | FRAME_PD);
	ck_assert_uint_eq(traced[1], (PT >> 12) << 4 | FRAME_PT);
}
END_TEST

START_TEST(not_present_faults)
{
	struct smm_walk w;
	uint32_t err;
	ck_assert_int_eq(walk(0x00403000, SMM_READ, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 0);
	ck_assert_int_eq(walk(0x00403000, SMM_WRITE, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 2);
	ck_assert_int_eq(walk(0x00403000, SMM_READ, true, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 4);
	/* a not-present PDE */
	ck_assert_int_eq(walk(0x10000000, SMM_WRITE, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 2);
	/* no A bit set by a faulting walk on the PTE */
	ck_assert_uint_eq(*entry(PT + 12) & 0x20, 0);
}
END_TEST

START_TEST(write_protect_follows_cr0_wp)
{
	struct smm_walk w;
	uint32_t err;
	ck_assert_int_eq(walk(0x00401000, SMM_WRITE, false, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 3);                         /* P, W */
	ck_assert_uint_eq(*entry(PT + 4) & 0x40, 0);      /* no D on a fault */
	smm.cr0 &= ~0x00010000u;                          /* WP off */
	ck_assert_int_eq(walk(0x00401000, SMM_WRITE, false, &w, &err), SMM_OK);
	ck_assert(w.writable);
	ck_assert_uint_eq(*entry(PT + 4) & 0x60, 0x60);
	/* a user write to a read-only page faults whatever WP says */
	ck_assert_int_eq(walk(0x00401000, SMM_WRITE, true, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 7);
}
END_TEST

START_TEST(user_supervisor)
{
	struct smm_walk w;
	uint32_t err;
	/* supervisor page, user access: protection fault */
	ck_assert_int_eq(walk(0x00400000, SMM_READ, true, &w, &err), SMM_PAGE_FAULT);
	ck_assert_uint_eq(err, 5);
	/* user page: fine for both */
	ck_assert_int_eq(walk(0x00402000, SMM_WRITE, true, &w, &err), SMM_OK);
	ck_assert_uint_eq(w.frame, 0x125);
	ck_assert_int_eq(walk(0x00402000, SMM_READ, false, &w, &err), SMM_OK);
}
END_TEST

START_TEST(large_pages)
{
	struct smm_walk w;
	uint32_t err;
	ck_assert_int_eq(walk(0x00923456, SMM_READ, false, &w, &err), SMM_OK);
	ck_assert(w.large);
	ck_assert_uint_eq(w.frame, 0xc00 + 0x123);
	ck_assert_uint_eq(w.large_base, 0xc00);
	ck_assert_uint_eq(*entry(PD + 8) & 0x60, 0x20);
	ck_assert_int_eq(walk(0x00800000, SMM_WRITE, false, &w, &err), SMM_OK);
	ck_assert_uint_eq(*entry(PD + 8) & 0x60, 0x60);   /* D in the PDE */
	/* without CR4.PSE the PS bit means nothing: PDE 2 names a table */
	smm.cr4 = 0;
	*entry(0x00c00000 + 0x123 * 4) = 0x00777000 | 1;
	ck_assert_int_eq(walk(0x00923000, SMM_READ, false, &w, &err), SMM_OK);
	ck_assert(!w.large);
	ck_assert_uint_eq(w.frame, 0x777);
}
END_TEST

START_TEST(tables_outside_ram_are_not_present)
{
	struct smm_walk w;
	uint32_t err;
	*entry(PD + 3 * 4) = 0xff000000u | 3; /* a table far beyond RAM */
	ck_assert_int_eq(walk(0x00c00000, SMM_READ, false, &w, &err), SMM_PAGE_FAULT);
	smm.cr3 = 0xfe000000u;
	ck_assert_int_eq(walk(0x00400000, SMM_READ, false, &w, &err), SMM_PAGE_FAULT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("walk32");
	TCase *t = tcase_create("walker");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, maps_4k_and_sets_accessed);
	tcase_add_test(t, not_present_faults);
	tcase_add_test(t, write_protect_follows_cr0_wp);
	tcase_add_test(t, user_supervisor);
	tcase_add_test(t, large_pages);
	tcase_add_test(t, tables_outside_ram_are_not_present);
	suite_add_tcase(s, t);
	SRunner *r = srunner_create(s);
	srunner_run_all(r, CK_NORMAL);
	int failed = srunner_ntests_failed(r);
	srunner_free(r);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
