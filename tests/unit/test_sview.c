/*
 * Unit tests for the shadow coherence engine (shadowmm/sview.c, trace.c):
 * a small guest page-table tree in a memfd "RAM", the S-view built from it
 * by host faults, and every way it must follow the guest's changes — the
 * first write setting D, guest #PFs, a traced page-table write, the
 * monitor's own write, code write-protection over aliases, CR3 switches,
 * INVLPG, paging off. What the S-view shows is probed through the kernel
 * (a pipe copies from or to the page: EFAULT if the access is refused), so
 * no test takes a host fault itself. Needs the guest space reserved: not
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
#define CR0_PE 0x00000001u
#define CR0_WP 0x00010000u
#define CR0_PG 0x80000000u

/* The guest's tables: directory A (frame 1) maps linear 4-8 MiB through
 * table frame 2; directory B (frame 3) maps it through table frame 4. */
#define PD_A 1u
#define PT_A 2u
#define PD_B 3u
#define PT_B 4u
#define LIN 0x400000u           /* linear page n is LIN + n * 4096 */
#define MARK(frame) (0xd0000000u | (frame))

static uint8_t *ram;
static int ram_fd;
static int probe[2];
static struct smm *smm;
static uint32_t dropped_first, dropped_count, drops;

static void on_linear_dropped(void *ctx, uint32_t first, uint32_t count, uint32_t space)
{
	drops++;
	dropped_first = first;
	dropped_count = count;
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
	smm_pt_write_begin(smm, LIN + 0x4000);
	*(volatile uint32_t *)(uintptr_t)(LIN + 0x4000) = 0x12u << 12 | PTE_P | PTE_W;
	smm_pt_write_end(smm, LIN + 0x4000);
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
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
