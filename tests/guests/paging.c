/* Test guest: 32-bit paging with 4 KiB, 4 MiB and global pages, TLB invalidation, A/D bits and CR3 switches. */
#include "pagetables.h"

/*
 * Runs at CPL 0. Every translation checked here is one the architecture
 * guarantees: a changed entry is looked at only after an INVLPG, a CR3 load,
 * a CR4.PGE toggle or a CR0.PG toggle, never relying on a stale TLB entry
 * still being there (a TLB may drop entries whenever it likes).
 *
 * Linear layout, beyond the identity-mapped first 4 MiB:
 */
#define WIN          0x40000000u /* 4 KiB test pages, WIN_PAGE(0..7) */
#define WIN_PAGE(n)  (WIN + (uint32_t)(n) * PAGE_SIZE)
#define LARGE_WIN    0x80000000u /* a 4 MiB test page, and the one after it */
#define SELF_MAP     0xffc00000u /* the page tables, through PDE 1023 = the directory */
/* Physical 4 MiB frames above the image (the run has 64 MiB of RAM),
   identity-mapped with 4 MiB pages once CR4.PSE is on. */
#define LARGE_PHYS_A 0x00800000u
#define LARGE_PHYS_B 0x00c00000u

/* Offsets probed in a 4 MiB page: its first and last dword, and two inside
   that lie in different 4 KiB pieces of it. */
static const uint32_t large_offsets[] = {0x0, 0x1000, 0x123454, 0x3ffffc};
#define N_LARGE_OFFSETS (sizeof large_offsets / sizeof large_offsets[0])

/* `movl $CODE_MAGIC, %eax; ret`, copied into a frame and run from there. */
#define CODE_MAGIC 0x5a5a1234u
static const uint8_t code_bytes[] = {0xb8, 0x34, 0x12, 0x5a, 0x5a, 0xc3};

static uint32_t *pd_a, *pd_b;
static uint32_t *frame_a, *frame_b, *frame_c, *frame_code;
static volatile uint32_t data_probe = 0x600dda7au;

/* Fill a frame with a pattern that tells frames (seed) and dwords (index) apart. */
static void fill(uint32_t *frame, uint32_t seed)
{
	for (uint32_t i = 0; i < 1024; i++)
		frame[i] = seed + i;
}

static uint32_t large_value(uint32_t phys, uint32_t offset)
{
	return phys ^ offset ^ 0x5eed0000u;
}

/* Write a distinct value at each probed offset of a 4 MiB frame (through its identity mapping). */
static void fill_large(uint32_t phys)
{
	for (uint32_t i = 0; i < N_LARGE_OFFSETS; i++)
		write32(phys + large_offsets[i], large_value(phys, large_offsets[i]));
}

/* Check that the 4 MiB page at linear shows the frame at phys. */
static void check_large(uint32_t linear, uint32_t phys)
{
	for (uint32_t i = 0; i < N_LARGE_OFFSETS; i++)
		RT_CHECK_EQ(read32(linear + large_offsets[i]), large_value(phys, large_offsets[i]));
}

static void test_enable_4k(void)
{
	rt_section("paging-4k");
	frame_a = pg_alloc();
	frame_b = pg_alloc();
	frame_c = pg_alloc();
	frame_code = pg_alloc();
	fill(frame_a, 0xa0000000u);
	fill(frame_b, 0xb0000000u);
	fill(frame_c, 0xc0000000u);
	pd_a = pg_new_directory();
	pg_map(pd_a, WIN_PAGE(0), (uint32_t)frame_a, PTE_P | PTE_W);
	/* U=1: at CPL 0 a user page is as usable as a supervisor one. */
	pg_map(pd_a, WIN_PAGE(1), (uint32_t)frame_b, PTE_P | PTE_W | PTE_U);
	pg_enable(pd_a);
	RT_CHECK(READ_CR(0) & CR0_PG);
	RT_CHECK_EQ(READ_CR(3), (uint32_t)pd_a);
	RT_CHECK_EQ(data_probe, 0x600dda7au);
	RT_CHECK_EQ(read32(WIN_PAGE(0)), 0xa0000000u);
	RT_CHECK_EQ(read32(WIN_PAGE(0) + 0xffc), 0xa0000000u + 1023);
	RT_CHECK_EQ(read32(WIN_PAGE(1) + 8), 0xb0000002u);
	write32(WIN_PAGE(0) + 16, 0x12345678u);
	RT_CHECK_EQ(frame_a[4], 0x12345678u);
	write32(WIN_PAGE(1) + 0x800, 0x87654321u);
	RT_CHECK_EQ(frame_b[0x200], 0x87654321u);
	/* An unaligned dword across two linear pages whose frames are not
	   adjacent: two bytes from the end of frame_a, two from frame_b. */
	RT_CHECK_EQ(read32(WIN_PAGE(1) - 2), (frame_a[1023] >> 16) | (frame_b[0] << 16));
	write32(WIN_PAGE(1) - 2, 0x44332211u);
	RT_CHECK_EQ(frame_a[1023] >> 16, 0x2211u);
	RT_CHECK_EQ(frame_b[0] & 0xffffu, 0x4433u);
	frame_a[1023] = 0xa0000000u + 1023;
	frame_b[0] = 0xb0000000u;
	rt_section_end();
}

static void test_invlpg(void)
{
	uint32_t *pte0 = pg_pte(pd_a, WIN_PAGE(0));

	rt_section("paging-invlpg");
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_a[0]);
	*pte0 = (uint32_t)frame_b | PTE_P | PTE_W;
	invlpg(WIN_PAGE(0));
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_b[0]);
	RT_CHECK_EQ(read32(WIN_PAGE(0) + 0x40), 0xb0000010u);
	/* Writes follow the new mapping too, and leave the old frame alone. */
	write32(WIN_PAGE(0) + 0x20, 0x55aa55aau);
	RT_CHECK_EQ(frame_b[8], 0x55aa55aau);
	RT_CHECK_EQ(frame_a[8], 0xa0000008u);
	frame_b[8] = 0xb0000008u;

	/* Two linear pages on one frame: a write through one is read through the other. */
	pg_map(pd_a, WIN_PAGE(2), (uint32_t)frame_c, PTE_P | PTE_W);
	pg_map(pd_a, WIN_PAGE(3), (uint32_t)frame_c, PTE_P | PTE_W);
	RT_CHECK_EQ(read32(WIN_PAGE(3) + 0x44), 0xc0000011u);
	write32(WIN_PAGE(2) + 0x44, 0x0a11a5edu);
	RT_CHECK_EQ(read32(WIN_PAGE(3) + 0x44), 0x0a11a5edu);
	frame_c[0x11] = 0xc0000011u;
	RT_CHECK_EQ(read32(WIN_PAGE(2) + 0x44), 0xc0000011u);

	/* The PTE rewritten through a linear alias of its own page table,
	   not through the identity map. */
	uint32_t table = (uint32_t)pte0 & PTE_FRAME;
	pg_map(pd_a, WIN_PAGE(4), table, PTE_P | PTE_W);
	write32(WIN_PAGE(4) + (uint32_t)pte0 % PAGE_SIZE, (uint32_t)frame_c | PTE_P | PTE_W);
	RT_CHECK_EQ(*pte0 & PTE_FRAME, (uint32_t)frame_c);
	invlpg(WIN_PAGE(0));
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_c[0]);

	*pte0 = (uint32_t)frame_a | PTE_P | PTE_W;
	invlpg(WIN_PAGE(0));
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_a[0]);
	rt_section_end();
}

/*
 * One store instruction that writes a page table now and then, and
 * ordinary memory in between (as Linux's page clearing does once a freed
 * table's frame is reused). btvmm's adaptive translation makes it an
 * emulate exit after two page-table writes and native again after it has
 * written only ordinary memory for a while; this runs it through that
 * cycle three times. Whichever way it runs, its page-table writes must
 * take effect and its other writes land.
 */
static volatile uint32_t scratch[16];

static void __attribute__((noinline)) store_dword(volatile uint32_t *p, uint32_t v)
{
	*p = v;
}

static void test_adaptive_cycle(void)
{
	uint32_t *pte0 = pg_pte(pd_a, WIN_PAGE(0));

	rt_section("paging-adaptive-cycle");
	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < 4; i++) {
			uint32_t *f = (i & 1) ? frame_b : frame_c;
			store_dword(pte0, (uint32_t)f | PTE_P | PTE_W);
			invlpg(WIN_PAGE(0));
			RT_CHECK_EQ(read32(WIN_PAGE(0) + 0x10), f[4]);
		}
		for (uint32_t i = 0; i < 200; i++)
			store_dword(&scratch[i & 15], i + (uint32_t)round);
		RT_CHECK_EQ(scratch[7], 199u + (uint32_t)round);
		RT_CHECK_EQ(scratch[0], 192u + (uint32_t)round);
	}
	store_dword(pte0, (uint32_t)frame_a | PTE_P | PTE_W);
	invlpg(WIN_PAGE(0));
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_a[0]);
	rt_section_end();
}

static void test_cr3_reload(void)
{
	uint32_t *pte0 = pg_pte(pd_a, WIN_PAGE(0));

	rt_section("paging-cr3-reload");
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_a[0]);
	*pte0 = (uint32_t)frame_b | PTE_P | PTE_W;
	reload_cr3();
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_b[0]);
	*pte0 = (uint32_t)frame_a | PTE_P | PTE_W;
	reload_cr3();
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_a[0]);

	/* A changed PDE: the window's table swapped for another one. */
	uint32_t *other = pg_alloc();
	other[0] = (uint32_t)frame_c | PTE_P | PTE_W;
	uint32_t saved = pd_a[WIN >> 22];
	pd_a[WIN >> 22] = (uint32_t)other | PTE_P | PTE_W;
	reload_cr3();
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_c[0]);
	pd_a[WIN >> 22] = saved;
	reload_cr3();
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_a[0]);
	rt_section_end();
}

static void test_two_directories(void)
{
	rt_section("paging-two-directories");
	pd_b = pg_new_directory();
	pg_map(pd_b, WIN_PAGE(0), (uint32_t)frame_b, PTE_P | PTE_W);
	for (int i = 0; i < 3; i++) {
		WRITE_CR(3, (uint32_t)pd_b);
		RT_CHECK_EQ(read32(WIN_PAGE(0) + 4 * (uint32_t)i), frame_b[i]);
		WRITE_CR(3, (uint32_t)pd_a);
		RT_CHECK_EQ(read32(WIN_PAGE(0) + 4 * (uint32_t)i), frame_a[i]);
	}
	WRITE_CR(3, (uint32_t)pd_b);
	write32(WIN_PAGE(0) + 0x30, 0xd1d2d3d4u);
	/* WIN_PAGE(1) exists only in pd_a: pd_b got a table of its own. */
	RT_CHECK_EQ(*pg_pte(pd_b, WIN_PAGE(1)), 0);
	WRITE_CR(3, (uint32_t)pd_a);
	RT_CHECK_EQ(frame_b[12], 0xd1d2d3d4u);
	RT_CHECK_EQ(frame_a[12], 0xa000000cu);
	RT_CHECK_EQ(read32(WIN_PAGE(0) + 0x30), 0xa000000cu);
	frame_b[12] = 0xb000000cu;
	rt_section_end();
}

/* A page table taken out of use and its frame reused for data, then for
 * a table again: the data is data (it looks like entries), and the table
 * maps what it says. */
#define REUSE_WIN 0x50000000u
static void test_table_reuse(void)
{
	rt_section("paging-table-reuse");
	uint32_t slot = REUSE_WIN >> 22;
	uint32_t *table = pg_alloc();
	table[0] = (uint32_t)frame_c | PTE_P | PTE_W;
	pd_a[slot] = (uint32_t)table | PTE_P | PTE_W;
	reload_cr3();
	RT_CHECK_EQ(read32(REUSE_WIN + 8), frame_c[2]);
	/* Out of use, then data: every other value has P set. */
	pd_a[slot] = 0;
	reload_cr3();
	fill(table, 0x7ab1e001u);
	uint32_t bad = 0;
	for (uint32_t i = 0; i < 1024; i++)
		bad += read32((uint32_t)&table[i]) != 0x7ab1e001u + i;
	RT_CHECK_EQ(bad, 0);
	for (uint32_t i = 0; i < 1024; i++)
		table[i] ^= 0xffffffffu;
	bad = 0;
	for (uint32_t i = 0; i < 1024; i++)
		bad += table[i] != ~(0x7ab1e001u + i);
	RT_CHECK_EQ(bad, 0);
	/* A table again, with other contents. */
	for (uint32_t i = 0; i < 1024; i++)
		table[i] = 0;
	table[1] = (uint32_t)frame_b | PTE_P | PTE_W;
	pd_a[slot] = (uint32_t)table | PTE_P | PTE_W;
	reload_cr3();
	RT_CHECK_EQ(read32(REUSE_WIN + PAGE_SIZE + 4), frame_b[1]);
	RT_CHECK_EQ(*pg_pte(pd_a, REUSE_WIN), 0);
	pd_a[slot] = 0;
	reload_cr3();
	rt_section_end();
}

static void test_large_pages(void)
{
	rt_section("paging-4m");
	WRITE_CR(4, READ_CR(4) | CR4_PSE);
	RT_CHECK(READ_CR(4) & CR4_PSE);
	pg_map_large(pd_a, LARGE_PHYS_A, LARGE_PHYS_A, PTE_P | PTE_W);
	pg_map_large(pd_a, LARGE_PHYS_B, LARGE_PHYS_B, PTE_P | PTE_W);
	pg_map_large(pd_a, LARGE_WIN, LARGE_PHYS_A, PTE_P | PTE_W);
	fill_large(LARGE_PHYS_A);
	fill_large(LARGE_PHYS_B);
	check_large(LARGE_WIN, LARGE_PHYS_A);
	write32(LARGE_WIN + 0x200000, 0x2badf00du);
	RT_CHECK_EQ(read32(LARGE_PHYS_A + 0x200000), 0x2badf00du);

	/* Remapped, then invalidated through an address that is not the
	   page's first: INVLPG drops the whole 4 MiB translation, however a
	   TLB (or a shadow MMU) splits it into smaller pieces. */
	check_large(LARGE_WIN, LARGE_PHYS_A);
	pg_map_large(pd_a, LARGE_WIN, LARGE_PHYS_B, PTE_P | PTE_W);
	invlpg(LARGE_WIN + 77 * PAGE_SIZE);
	check_large(LARGE_WIN, LARGE_PHYS_B);

	/* Two 4 MiB pages on non-adjacent frames in reverse order: a dword
	   across them takes two bytes from the end of B and two from A. */
	pg_map_large(pd_a, LARGE_WIN + LARGE_SIZE, LARGE_PHYS_A, PTE_P | PTE_W);
	uint32_t want = (read32(LARGE_PHYS_B + 0x3ffffc) >> 16) | (read32(LARGE_PHYS_A) << 16);
	RT_CHECK_EQ(read32(LARGE_WIN + LARGE_SIZE - 2), want);

	/* Running from a 4 MiB page: the first 4 MiB switched from the
	   shared 4 KiB table to one large page onto the same frames. */
	uint32_t saved = pd_a[0];
	pg_map_large(pd_a, 0, 0, PTE_P | PTE_W);
	reload_cr3();
	RT_CHECK_EQ(data_probe, 0x600dda7au);
	data_probe = 0x600dda7bu;
	pd_a[0] = saved;
	reload_cr3();
	RT_CHECK_EQ(data_probe, 0x600dda7bu);
	rt_section_end();
}

static void test_global_pages(void)
{
	uint32_t cr4 = READ_CR(4);
	uint32_t *pte0 = pg_pte(pd_a, WIN_PAGE(0));
	uint32_t *pte5 = pg_pte(pd_a, WIN_PAGE(5));

	rt_section("paging-global");
	WRITE_CR(4, cr4 | CR4_PGE);
	RT_CHECK(READ_CR(4) & CR4_PGE);
	*pte5 = (uint32_t)frame_a | PTE_P | PTE_W | PTE_G;
	RT_CHECK_EQ(read32(WIN_PAGE(5)), frame_a[0]);
	/* INVLPG drops a global translation too. */
	*pte5 = (uint32_t)frame_b | PTE_P | PTE_W | PTE_G;
	invlpg(WIN_PAGE(5));
	RT_CHECK_EQ(read32(WIN_PAGE(5)), frame_b[0]);
	/* So does a change of CR4.PGE. */
	*pte5 = (uint32_t)frame_c | PTE_P | PTE_W | PTE_G;
	WRITE_CR(4, cr4);
	WRITE_CR(4, cr4 | CR4_PGE);
	RT_CHECK_EQ(read32(WIN_PAGE(5)), frame_c[0]);

	/* A global page that both directories map alike stays right across CR3 loads. */
	pg_map(pd_b, WIN_PAGE(5), (uint32_t)frame_c, PTE_P | PTE_W | PTE_G);
	WRITE_CR(3, (uint32_t)pd_b);
	RT_CHECK_EQ(read32(WIN_PAGE(5) + 4), frame_c[1]);
	WRITE_CR(3, (uint32_t)pd_a);
	RT_CHECK_EQ(read32(WIN_PAGE(5) + 8), frame_c[2]);

	/* With PGE on, a CR3 load still drops the non-global translations. */
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_a[0]);
	*pte0 = (uint32_t)frame_b | PTE_P | PTE_W;
	reload_cr3();
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_b[0]);
	*pte0 = (uint32_t)frame_a | PTE_P | PTE_W;
	reload_cr3();
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_a[0]);

	/* A global 4 MiB page: INVLPG inside it, then a PGE toggle. */
	pg_map_large(pd_a, LARGE_WIN, LARGE_PHYS_A, PTE_P | PTE_W | PTE_G);
	invlpg(LARGE_WIN);
	check_large(LARGE_WIN, LARGE_PHYS_A);
	pg_map_large(pd_a, LARGE_WIN, LARGE_PHYS_B, PTE_P | PTE_W | PTE_G);
	invlpg(LARGE_WIN + 0x2000);
	check_large(LARGE_WIN, LARGE_PHYS_B);
	pg_map_large(pd_a, LARGE_WIN, LARGE_PHYS_A, PTE_P | PTE_W | PTE_G);
	WRITE_CR(4, cr4);
	WRITE_CR(4, cr4 | CR4_PGE);
	check_large(LARGE_WIN, LARGE_PHYS_A);

	/* A global page the directories map differently: after the CR3 load
	   the old translation may stay, as in a TLB, but a global flush (a
	   CR4.PGE toggle) must show pd_b's. */
	pg_map(pd_a, WIN_PAGE(7), (uint32_t)frame_a, PTE_P | PTE_W | PTE_G);
	pg_map(pd_b, WIN_PAGE(7), (uint32_t)frame_b, PTE_P | PTE_W | PTE_G);
	RT_CHECK_EQ(read32(WIN_PAGE(7) + 12), frame_a[3]);
	WRITE_CR(3, (uint32_t)pd_b);
	WRITE_CR(4, cr4);
	WRITE_CR(4, cr4 | CR4_PGE);
	RT_CHECK_EQ(read32(WIN_PAGE(7) + 12), frame_b[3]);
	WRITE_CR(3, (uint32_t)pd_a);
	WRITE_CR(4, cr4);
	WRITE_CR(4, cr4 | CR4_PGE);
	RT_CHECK_EQ(read32(WIN_PAGE(7) + 12), frame_a[3]);
	*pg_pte(pd_a, WIN_PAGE(7)) = 0;
	*pg_pte(pd_b, WIN_PAGE(7)) = 0;
	invlpg(WIN_PAGE(7));

	/* Global 4 MiB pages that differ between the directories: after the
	   CR3 load, an INVLPG anywhere inside shows pd_b's page everywhere
	   in it, however the one pd_a showed was kept. */
	pg_map_large(pd_b, LARGE_WIN, LARGE_PHYS_B, PTE_P | PTE_W | PTE_G);
	check_large(LARGE_WIN, LARGE_PHYS_A);
	WRITE_CR(3, (uint32_t)pd_b);
	invlpg(LARGE_WIN + 0x7000);
	check_large(LARGE_WIN, LARGE_PHYS_B);
	WRITE_CR(3, (uint32_t)pd_a);
	invlpg(LARGE_WIN + 0x3000);
	check_large(LARGE_WIN, LARGE_PHYS_A);
	pd_b[LARGE_WIN >> 22] = 0;
	rt_section_end();
}

static void test_accessed_dirty(void)
{
	uint32_t *pte0 = pg_pte(pd_a, WIN_PAGE(0));
	uint32_t *pde_win = &pd_a[WIN >> 22];
	uint32_t *pde_large = &pd_a[LARGE_WIN >> 22];

	rt_section("paging-accessed-dirty");
	/* 4 KiB page: a read sets A in the PTE and the PDE, not D. */
	*pte0 = (uint32_t)frame_a | PTE_P | PTE_W;
	*pde_win &= ~PTE_A;
	invlpg(WIN_PAGE(0));
	(void)read32(WIN_PAGE(0) + 4);
	RT_CHECK_EQ(*pte0 & (PTE_A | PTE_D), PTE_A);
	RT_CHECK_EQ(*pde_win & PTE_A, PTE_A);
	/* A write through the translation the read cached still sets D. */
	write32(WIN_PAGE(0) + 4, frame_a[1]);
	RT_CHECK_EQ(*pte0 & (PTE_A | PTE_D), PTE_A | PTE_D);
	/* A write first sets both at once. */
	*pte0 &= ~(PTE_A | PTE_D);
	invlpg(WIN_PAGE(0));
	write32(WIN_PAGE(0) + 4, frame_a[1]);
	RT_CHECK_EQ(*pte0 & (PTE_A | PTE_D), PTE_A | PTE_D);

	/* 4 MiB page: A and D live in the PDE. */
	*pde_large = LARGE_PHYS_A | PTE_P | PTE_W | PDE_PS;
	invlpg(LARGE_WIN);
	(void)read32(LARGE_WIN + 0x1000);
	RT_CHECK_EQ(*pde_large & (PTE_A | PTE_D), PTE_A);
	write32(LARGE_WIN + 0x2000, 0x0dd0dd0du);
	RT_CHECK_EQ(*pde_large & (PTE_A | PTE_D), PTE_A | PTE_D);
	*pde_large &= ~(PTE_A | PTE_D);
	invlpg(LARGE_WIN);
	write32(LARGE_WIN + 0x3ffffc, large_value(LARGE_PHYS_A, 0x3ffffc));
	RT_CHECK_EQ(*pde_large & (PTE_A | PTE_D), PTE_A | PTE_D);

	/* An instruction fetch sets A, not D. */
	rt_memcpy(frame_code, code_bytes, sizeof code_bytes);
	uint32_t *pte6 = pg_pte(pd_a, WIN_PAGE(6));
	*pte6 = (uint32_t)frame_code | PTE_P | PTE_W;
	uint32_t (*fn)(void) = (uint32_t (*)(void))WIN_PAGE(6);
	RT_CHECK_EQ(fn(), CODE_MAGIC);
	RT_CHECK_EQ(*pte6 & (PTE_A | PTE_D), PTE_A);
	rt_section_end();
}

/* The PTE for linear, and the PDE, as seen through the self-map. */
#define SELF_PTE(linear) (SELF_MAP + ((linear) >> 12) * 4)
#define SELF_PDE(linear) (SELF_MAP + (SELF_MAP >> 12) * 4 + ((linear) >> 22) * 4)

static void test_self_map(void)
{
	uint32_t *pte0 = pg_pte(pd_a, WIN_PAGE(0));

	rt_section("paging-self-map");
	pd_a[SELF_MAP >> 22] = (uint32_t)pd_a | PTE_P | PTE_W;
	RT_CHECK_EQ(read32(SELF_PTE(WIN_PAGE(0))), *pte0);
	RT_CHECK_EQ(read32(SELF_PDE(WIN)), pd_a[WIN >> 22]);
	write32(SELF_PTE(WIN_PAGE(0)), (uint32_t)frame_c | PTE_P | PTE_W);
	RT_CHECK_EQ(*pte0 & PTE_FRAME, (uint32_t)frame_c);
	invlpg(WIN_PAGE(0));
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_c[0]);
	write32(SELF_PTE(WIN_PAGE(0)), (uint32_t)frame_a | PTE_P | PTE_W);
	invlpg(WIN_PAGE(0));
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_a[0]);
	pd_a[SELF_MAP >> 22] = 0;
	reload_cr3();
	rt_section_end();
}

static void test_off_and_on(void)
{
	uint32_t *pte0 = pg_pte(pd_a, WIN_PAGE(0));
	uint32_t *pte5 = pg_pte(pd_a, WIN_PAGE(5));

	rt_section("paging-off-on");
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_a[0]);
	RT_CHECK_EQ(read32(WIN_PAGE(5)), frame_c[0]);
	pg_disable();
	RT_CHECK(!(READ_CR(0) & CR0_PG));
	RT_CHECK_EQ(READ_CR(3), (uint32_t)pd_a);
	/* Changed while paging is off; turning it off dropped every
	   translation, global ones included. */
	*pte0 = (uint32_t)frame_b | PTE_P | PTE_W;
	*pte5 = (uint32_t)frame_a | PTE_P | PTE_W | PTE_G;
	frame_a[9] = 0x0ff0ff00u;
	RT_CHECK_EQ(read32((uint32_t)&frame_a[9]), 0x0ff0ff00u);
	pg_enable(pd_a);
	RT_CHECK(READ_CR(0) & CR0_PG);
	RT_CHECK_EQ(read32(WIN_PAGE(0)), frame_b[0]);
	RT_CHECK_EQ(read32(WIN_PAGE(5) + 36), 0x0ff0ff00u);
	check_large(LARGE_WIN, LARGE_PHYS_A);
	pg_disable();
	WRITE_CR(4, READ_CR(4) & ~(CR4_PSE | CR4_PGE));
	RT_CHECK_EQ(data_probe, 0x600dda7bu);
	rt_section_end();
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_magic;
	(void)mb_info;
	rt_puts("paging: begin\n");
	uint32_t edx = cpuid1_edx();
	RT_CHECK(edx & CPUID_PSE);
	RT_CHECK(edx & CPUID_PGE);
	test_enable_4k();
	test_invlpg();
	test_adaptive_cycle();
	test_cr3_reload();
	test_two_directories();
	test_table_reuse();
	test_large_pages();
	test_global_pages();
	test_accessed_dirty();
	test_self_map();
	test_off_and_on();
}
