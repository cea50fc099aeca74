/* Test guest: page faults reach the guest's IDT with the right error code, CR2 and EIP, and resume cleanly. */
#include "pagetables.h"

/*
 * Each case brackets one instruction between the local labels 1 (its first
 * byte) and 2 (the next instruction) and stores both addresses in
 * pf_fault_at / pf_resume_at before running it. The hook records what the
 * CPU delivered, then either repairs a page-table entry and returns to the
 * faulting instruction (a retry), or resumes at label 2 (a skip).
 *
 * Linear layout, beyond the identity-mapped first 4 MiB: */
#define WIN         0x40000000u /* 4 KiB test pages WIN_PAGE(0..15), one page table */
#define WIN_PAGE(n) (WIN + (uint32_t)(n) * PAGE_SIZE)
#define WIN_RO_PDE  0x44000000u /* a page under a read-only PDE */
#define WIN_NO_PDE  0x48000000u /* a page under a not-present PDE */
#define WIN_LARGE   0x4c000000u /* a 4 MiB page (not present) */

/* Page-fault error code bits (32-bit paging, CPL 0, no NX: bit 4 never set). */
#define PF_P 0x1u /* protection violation, not a not-present entry */
#define PF_W 0x2u /* the access was a write */

#define V_UD 6
#define V_PF 14
#define V_SYSCALL 0x80

volatile uint32_t pf_fault_at, pf_resume_at;

/* What the hook saw, in order; at most a few per case. */
struct event {
	uint32_t vector, error, cr2, eip, ecx, esi, edi;
};
#define MAX_EVENTS 4
static volatile struct event events[MAX_EVENTS];
static volatile uint32_t n_events;

/* The repair for the next fault: *fix_entry = fix_value, then a retry. */
static volatile uint32_t *volatile fix_entry;
static volatile uint32_t fix_value;
static volatile int fix_without_invlpg;

#define MARK "movl $1f, pf_fault_at\n\tmovl $2f, pf_resume_at\n"

static void hook(struct rt_frame *f)
{
	uint32_t cr2 = READ_CR(2);
	if (n_events == MAX_EVENTS || (!pf_resume_at && !fix_entry)) {
		rt_printf("UNEXPECTED EXCEPTION %u error %x eip %x\n", f->vector, f->error, f->eip);
		rt_exit(3);
	}
	volatile struct event *e = &events[n_events++];
	e->vector = f->vector;
	e->error = f->error;
	e->cr2 = cr2;
	e->eip = f->eip;
	e->ecx = f->ecx;
	e->esi = f->esi;
	e->edi = f->edi;
	if (fix_entry && f->vector == V_PF) {
		*fix_entry = fix_value;
		fix_entry = 0;
		/* A page fault already drops the translation it came from:
		   the INVLPG is left out on purpose where that is tested. */
		if (!fix_without_invlpg)
			invlpg(cr2);
		return;
	}
	f->eip = pf_resume_at;
}

/* Arm a repair for the next page fault. */
static void fix_next(uint32_t *entry, uint32_t value)
{
	fix_value = value;
	fix_entry = entry;
}

/* One #PF with this error code and CR2, at the instruction at label 1
   (or at eip for instruction fetches); then get ready for the next case. */
#define EXPECT_PF_AT(err, addr, at)                              \
	do {                                                     \
		RT_CHECK_EQ(n_events, 1);                        \
		RT_CHECK_EQ(events[0].vector, V_PF);             \
		RT_CHECK_EQ(events[0].error, (err));             \
		RT_CHECK_EQ(events[0].cr2, (addr));              \
		RT_CHECK_EQ(events[0].eip, (at));                \
		RT_CHECK(fix_entry == 0);                        \
		n_events = 0;                                    \
		pf_resume_at = 0;                                \
	} while (0)
#define EXPECT_PF(err, addr) EXPECT_PF_AT(err, addr, pf_fault_at)
#define EXPECT_NONE()                     \
	do {                              \
		RT_CHECK_EQ(n_events, 0); \
		pf_resume_at = 0;         \
	} while (0)

static uint32_t *pd;

/* Set the PTE of a window page and drop its old translation. */
static uint32_t *set_pte(uint32_t linear, uint32_t value)
{
	uint32_t *pte = pg_pte(pd, linear);
	*pte = value;
	invlpg(linear);
	return pte;
}

static uint32_t load32(uint32_t linear, uint32_t old)
{
	__asm__ volatile(MARK "1:\tmovl (%1), %0\n2:" : "+r"(old) : "r"(linear) : "memory");
	return old;
}

static void store32(uint32_t linear, uint32_t v)
{
	__asm__ volatile(MARK "1:\tmovl %0, (%1)\n2:" ::"r"(v), "r"(linear) : "memory");
}

static void test_not_present(void)
{
	uint32_t *frame = pg_alloc();
	frame[0x48] = 0x11223344u;
	frame[0x49] = 0x55667788u;
	uint32_t *pte = set_pte(WIN_PAGE(0), (uint32_t)frame | PTE_W); /* P=0 */

	rt_section("pf-not-present");
	RT_CHECK_EQ(load32(WIN_PAGE(0) + 0x120, 0xdeadbeefu), 0xdeadbeefu);
	EXPECT_PF(0, WIN_PAGE(0) + 0x120);
	store32(WIN_PAGE(0) + 0x124, 0xfeedfaceu);
	EXPECT_PF(PF_W, WIN_PAGE(0) + 0x124);
	RT_CHECK_EQ(frame[0x49], 0x55667788u);
	/* CR2 is the byte address, not the page. */
	uint32_t b = 0;
	__asm__ volatile(MARK "1:\tmovzbl (%1), %0\n2:" : "+r"(b) : "r"(WIN_PAGE(0) + 7) : "memory");
	EXPECT_PF(0, WIN_PAGE(0) + 7);
	/* Repaired by the handler, the load is retried and completes. */
	fix_next(pte, (uint32_t)frame | PTE_P | PTE_W);
	RT_CHECK_EQ(load32(WIN_PAGE(0) + 0x120, 0), 0x11223344u);
	EXPECT_PF(0, WIN_PAGE(0) + 0x120);
	*pte = (uint32_t)frame | PTE_W;
	invlpg(WIN_PAGE(0));
	fix_next(pte, (uint32_t)frame | PTE_P | PTE_W);
	store32(WIN_PAGE(0) + 0x124, 0xfeedfaceu);
	EXPECT_PF(PF_W, WIN_PAGE(0) + 0x124);
	RT_CHECK_EQ(frame[0x49], 0xfeedfaceu);
	rt_section_end();
}

/*
 * A fault in the middle of a run of pushes and ESP-based operands (which
 * the translator runs with ESP lagging behind): the exception frame goes
 * below the pushed words, and after the retry they pop back intact.
 */
static void test_stack_run(void)
{
	uint32_t *frame = pg_alloc();
	frame[0] = 5;
	uint32_t *pte = set_pte(WIN_PAGE(1), (uint32_t)frame | PTE_W); /* P=0 */
	uint32_t a = 0x1000, c = 0, d = 0, moved;

	rt_section("pf-in-stack-run");
	fix_next(pte, (uint32_t)frame | PTE_P | PTE_W);
	__asm__ volatile("movl %%esp, %[moved]\n\t" MARK
			 "pushl $0x11111111\n\t"
			 "pushl $0x22222222\n"
			 "1:\taddl (%[p]), %[a]\n"
			 "2:\taddl 4(%%esp), %[a]\n\t"
			 "popl %[c]\n\t"
			 "popl %[d]\n\t"
			 "subl %%esp, %[moved]"
			 : [a] "+r"(a), [c] "=&r"(c), [d] "=&r"(d), [moved] "=&r"(moved)
			 : [p] "r"(WIN_PAGE(1))
			 : "memory");
	EXPECT_PF(0, WIN_PAGE(1));
	RT_CHECK_EQ(a, 0x1000u + 5 + 0x11111111u);
	RT_CHECK_EQ(c, 0x22222222u);
	RT_CHECK_EQ(d, 0x11111111u);
	RT_CHECK_EQ(moved, 0);
	rt_section_end();
}

static void test_pde_not_present(void)
{
	uint32_t *frame = pg_alloc();
	frame[3] = 0x0badcafeu;
	uint32_t *table = pg_alloc();
	table[(WIN_NO_PDE >> 12) & 0x3ff] = (uint32_t)frame | PTE_P | PTE_W;

	rt_section("pf-pde-not-present");
	/* An empty PDE. */
	load32(WIN_NO_PDE + 12, 0);
	EXPECT_PF(0, WIN_NO_PDE + 12);
	store32(WIN_NO_PDE + 12, 1);
	EXPECT_PF(PF_W, WIN_NO_PDE + 12);
	/* A PDE that points at a good table but has P=0: the PTE is not looked at. */
	uint32_t *pde = &pd[WIN_NO_PDE >> 22];
	*pde = (uint32_t)table | PTE_W;
	load32(WIN_NO_PDE + 12, 0);
	EXPECT_PF(0, WIN_NO_PDE + 12);
	fix_next(pde, (uint32_t)table | PTE_P | PTE_W);
	RT_CHECK_EQ(load32(WIN_NO_PDE + 12, 0), 0x0badcafeu);
	EXPECT_PF(0, WIN_NO_PDE + 12);
	/* A not-present 4 MiB page. */
	uint32_t *pde_large = &pd[WIN_LARGE >> 22];
	*pde_large = 0x00800000u | PDE_PS | PTE_W;
	store32(WIN_LARGE + 0x2ffff0, 2);
	EXPECT_PF(PF_W, WIN_LARGE + 0x2ffff0);
	fix_next(pde_large, 0x00800000u | PDE_PS | PTE_W | PTE_P);
	store32(WIN_LARGE + 0x2ffff0, 0x4a4a4a4au);
	EXPECT_PF(PF_W, WIN_LARGE + 0x2ffff0);
	RT_CHECK_EQ(read32(WIN_LARGE + 0x2ffff0), 0x4a4a4a4au);
	*pde_large = 0;
	invlpg(WIN_LARGE);
	rt_section_end();
}

static void test_write_protect(void)
{
	uint32_t *frame = pg_alloc();
	uint32_t *frame2 = pg_alloc();
	frame[5] = 0x50505050u;
	uint32_t *pte = set_pte(WIN_PAGE(1), (uint32_t)frame | PTE_P); /* read-only */
	/* A writable PTE under a read-only PDE. */
	uint32_t *pte_ro_pde = pg_pte(pd, WIN_RO_PDE);
	*pte_ro_pde = (uint32_t)frame2 | PTE_P | PTE_W;
	pd[WIN_RO_PDE >> 22] &= ~PTE_W;
	uint32_t cr0 = READ_CR(0);

	rt_section("pf-write-protect");
	WRITE_CR(0, cr0 | CR0_WP);
	RT_CHECK_EQ(load32(WIN_PAGE(1) + 20, 0), 0x50505050u);
	EXPECT_NONE();
	store32(WIN_PAGE(1) + 20, 0x60606060u);
	EXPECT_PF(PF_P | PF_W, WIN_PAGE(1) + 20);
	RT_CHECK_EQ(frame[5], 0x50505050u);
	/* A read-modify-write faults as a write and changes nothing. */
	__asm__ volatile(MARK "1:\taddl $1, (%0)\n2:" ::"r"(WIN_PAGE(1) + 20) : "memory", "cc");
	EXPECT_PF(PF_P | PF_W, WIN_PAGE(1) + 20);
	RT_CHECK_EQ(frame[5], 0x50505050u);
	store32(WIN_RO_PDE + 0x10, 0x70707070u);
	EXPECT_PF(PF_P | PF_W, WIN_RO_PDE + 0x10);
	RT_CHECK_EQ(frame2[4], 0);

	/* CR0.WP=0: supervisor writes ignore R/W at both levels. */
	WRITE_CR(0, cr0 & ~CR0_WP);
	store32(WIN_PAGE(1) + 20, 0x60606060u);
	EXPECT_NONE();
	RT_CHECK_EQ(frame[5], 0x60606060u);
	store32(WIN_RO_PDE + 0x10, 0x70707070u);
	EXPECT_NONE();
	RT_CHECK_EQ(frame2[4], 0x70707070u);
	RT_CHECK_EQ(*pte & PTE_W, 0);

	/* WP back on: the page is read-only again, however it was written before. */
	WRITE_CR(0, cr0 | CR0_WP);
	store32(WIN_PAGE(1) + 24, 0x61616161u);
	EXPECT_PF(PF_P | PF_W, WIN_PAGE(1) + 24);
	RT_CHECK_EQ(frame[6], 0);
	store32(WIN_RO_PDE + 0x14, 0x71717171u);
	EXPECT_PF(PF_P | PF_W, WIN_RO_PDE + 0x14);
	RT_CHECK_EQ(frame2[5], 0);
	rt_section_end();
}

static void test_fault_invalidates(void)
{
	uint32_t *frame = pg_alloc();
	frame[1] = 0x12121212u;
	uint32_t *pte = set_pte(WIN_PAGE(2), (uint32_t)frame | PTE_P);

	rt_section("pf-retry-without-invlpg");
	fix_without_invlpg = 1;
	/* The read caches a read-only translation; the write's fault must
	   drop it, so the retry sees the writable PTE without an INVLPG. */
	RT_CHECK_EQ(load32(WIN_PAGE(2) + 4, 0), 0x12121212u);
	EXPECT_NONE();
	fix_next(pte, (uint32_t)frame | PTE_P | PTE_W);
	store32(WIN_PAGE(2) + 4, 0x13131313u);
	EXPECT_PF(PF_P | PF_W, WIN_PAGE(2) + 4);
	RT_CHECK_EQ(frame[1], 0x13131313u);
	/* Not-present entries are never cached. */
	*pte = (uint32_t)frame | PTE_W;
	invlpg(WIN_PAGE(2));
	load32(WIN_PAGE(2) + 4, 0);
	EXPECT_PF(0, WIN_PAGE(2) + 4);
	fix_next(pte, (uint32_t)frame | PTE_P | PTE_W);
	RT_CHECK_EQ(load32(WIN_PAGE(2) + 4, 0), 0x13131313u);
	EXPECT_PF(0, WIN_PAGE(2) + 4);
	fix_without_invlpg = 0;
	rt_section_end();
}

/*
 * A slot page cycled as Linux's kmap_local does it: the entry set (A and D
 * already set) then flushed, the page used, the entry cleared then
 * flushed. The flush after the set finds the translation already right
 * (btvmm keeps it); the one after the clear must leave the slot faulting.
 * Then a flush that must not keep: the same frame made read-only.
 */
static void test_kmap_slot(void)
{
	uint32_t *frames[3] = { pg_alloc(), pg_alloc(), pg_alloc() };
	uint32_t cr0 = READ_CR(0);

	rt_section("pf-kmap-slot");
	WRITE_CR(0, cr0 | CR0_WP);
	for (uint32_t i = 0; i < 3; i++)
		frames[i][0] = 0x6b6d0000u + i;
	for (uint32_t round = 0; round < 30; round++) {
		uint32_t k = round % 3;
		set_pte(WIN_PAGE(3), (uint32_t)frames[k] | PTE_P | PTE_W | PTE_A | PTE_D);
		RT_CHECK_EQ(load32(WIN_PAGE(3), 0), 0x6b6d0000u + k);
		store32(WIN_PAGE(3) + 4, round);
		EXPECT_NONE();
		RT_CHECK_EQ(frames[k][1], round);
		set_pte(WIN_PAGE(3), 0);
		load32(WIN_PAGE(3) + 8, 0);
		EXPECT_PF(0, WIN_PAGE(3) + 8);
	}
	uint32_t *pte = set_pte(WIN_PAGE(3), (uint32_t)frames[0] | PTE_P | PTE_W | PTE_A | PTE_D);
	store32(WIN_PAGE(3) + 8, 1);
	invlpg(WIN_PAGE(3));
	store32(WIN_PAGE(3) + 8, 2);
	EXPECT_NONE();
	RT_CHECK_EQ(frames[0][2], 2);
	*pte = (uint32_t)frames[0] | PTE_P | PTE_A | PTE_D;
	invlpg(WIN_PAGE(3));
	store32(WIN_PAGE(3) + 8, 3);
	EXPECT_PF(PF_P | PF_W, WIN_PAGE(3) + 8);
	RT_CHECK_EQ(frames[0][2], 2);
	set_pte(WIN_PAGE(3), 0);
	WRITE_CR(0, cr0);
	rt_section_end();
}

static void test_string_ops(void)
{
	static uint32_t buf[8];
	uint32_t *src_lo = pg_alloc(), *src_hi = pg_alloc();
	uint32_t *dst_lo = pg_alloc(), *dst_hi = pg_alloc();
	for (uint32_t i = 0; i < 1024; i++) {
		src_lo[i] = 0x5100000u + i;
		src_hi[i] = 0x5200000u + i;
	}
	set_pte(WIN_PAGE(3), (uint32_t)src_lo | PTE_P | PTE_W);
	uint32_t *pte = set_pte(WIN_PAGE(4), (uint32_t)src_hi | PTE_W);
	uint32_t s, d, c;

	rt_section("pf-rep-movsd");
	/* Read fault: three dwords come from the present page, then the
	   fault with the registers of the first uncompleted iteration. */
	s = WIN_PAGE(4) - 12, d = (uint32_t)buf, c = 8;
	fix_next(pte, (uint32_t)src_hi | PTE_P | PTE_W);
	__asm__ volatile(MARK "1:\trep movsl\n2:" : "+S"(s), "+D"(d), "+c"(c)::"memory");
	RT_CHECK_EQ(n_events, 1);
	RT_CHECK_EQ(events[0].ecx, 5);
	RT_CHECK_EQ(events[0].esi, WIN_PAGE(4));
	RT_CHECK_EQ(events[0].edi, (uint32_t)buf + 12);
	EXPECT_PF(0, WIN_PAGE(4));
	/* Resumed after the repair, the copy completes. */
	RT_CHECK_EQ(c, 0);
	RT_CHECK_EQ(s, WIN_PAGE(4) + 20);
	RT_CHECK_EQ(d, (uint32_t)buf + 32);
	for (uint32_t i = 0; i < 3; i++)
		RT_CHECK_EQ(buf[i], src_lo[1021 + i]);
	for (uint32_t i = 0; i < 5; i++)
		RT_CHECK_EQ(buf[3 + i], src_hi[i]);

	/* Write fault on the destination. */
	set_pte(WIN_PAGE(5), (uint32_t)dst_lo | PTE_P | PTE_W);
	pte = set_pte(WIN_PAGE(6), (uint32_t)dst_hi | PTE_W);
	s = (uint32_t)buf, d = WIN_PAGE(6) - 8, c = 8;
	fix_next(pte, (uint32_t)dst_hi | PTE_P | PTE_W);
	__asm__ volatile(MARK "1:\trep movsl\n2:" : "+S"(s), "+D"(d), "+c"(c)::"memory");
	RT_CHECK_EQ(n_events, 1);
	RT_CHECK_EQ(events[0].ecx, 6);
	RT_CHECK_EQ(events[0].esi, (uint32_t)buf + 8);
	RT_CHECK_EQ(events[0].edi, WIN_PAGE(6));
	EXPECT_PF(PF_W, WIN_PAGE(6));
	RT_CHECK_EQ(c, 0);
	RT_CHECK_EQ(dst_lo[1022], buf[0]);
	RT_CHECK_EQ(dst_lo[1023], buf[1]);
	for (uint32_t i = 0; i < 6; i++)
		RT_CHECK_EQ(dst_hi[i], buf[2 + i]);

	/* Backwards (DF=1) into a not-present page below. */
	pte = set_pte(WIN_PAGE(5), (uint32_t)dst_lo | PTE_W);
	d = WIN_PAGE(6) + 8, c = 6;
	fix_next(pte, (uint32_t)dst_lo | PTE_P | PTE_W);
	__asm__ volatile("std\n\t" MARK "1:\trep stosl\n2:\tcld"
	                 : "+D"(d), "+c"(c)
	                 : "a"(0x5eeeeee5u)
	                 : "memory");
	RT_CHECK_EQ(n_events, 1);
	RT_CHECK_EQ(events[0].ecx, 3);
	RT_CHECK_EQ(events[0].edi, WIN_PAGE(6) - 4);
	EXPECT_PF(PF_W, WIN_PAGE(6) - 4);
	RT_CHECK_EQ(c, 0);
	RT_CHECK_EQ(d, WIN_PAGE(6) - 16);
	RT_CHECK_EQ(dst_hi[0], 0x5eeeeee5u);
	RT_CHECK_EQ(dst_lo[1021], 0x5eeeeee5u);
	RT_CHECK_EQ(dst_lo[1020], 0);
	rt_section_end();
}

static void test_page_crossing(void)
{
	uint32_t *lo = pg_alloc(), *hi = pg_alloc();
	lo[1023] = 0xa1a2a3a4u;
	hi[0] = 0xb1b2b3b4u;
	uint32_t *pte_lo = set_pte(WIN_PAGE(7), (uint32_t)lo | PTE_P | PTE_W);
	uint32_t *pte_hi = set_pte(WIN_PAGE(8), (uint32_t)hi | PTE_W);
	uint32_t v;

	rt_section("pf-page-crossing");
	/* Only the second page is missing: CR2 is its first byte. */
	RT_CHECK_EQ(load32(WIN_PAGE(8) - 2, 0x77777777u), 0x77777777u);
	EXPECT_PF(0, WIN_PAGE(8));
	store32(WIN_PAGE(8) - 2, 0x99999999u);
	EXPECT_PF(PF_W, WIN_PAGE(8));
	RT_CHECK_EQ(lo[1023], 0xa1a2a3a4u); /* no half-done write */
	v = 0;
	__asm__ volatile(MARK "1:\tmovw (%1), %w0\n2:" : "+r"(v) : "r"(WIN_PAGE(8) - 1) : "memory");
	EXPECT_PF(0, WIN_PAGE(8));
	/* Only the first page is missing: CR2 is the access's first byte. */
	*pte_lo = (uint32_t)lo | PTE_W;
	*pte_hi = (uint32_t)hi | PTE_P | PTE_W;
	invlpg(WIN_PAGE(7));
	invlpg(WIN_PAGE(8));
	store32(WIN_PAGE(8) - 2, 0x99999999u);
	EXPECT_PF(PF_W, WIN_PAGE(8) - 2);
	RT_CHECK_EQ(hi[0], 0xb1b2b3b4u);
	/* Repaired, the access goes through. */
	fix_next(pte_lo, (uint32_t)lo | PTE_P | PTE_W);
	RT_CHECK_EQ(load32(WIN_PAGE(8) - 2, 0), 0xb3b4a1a2u);
	EXPECT_PF(0, WIN_PAGE(8) - 2);
	rt_section_end();
}

/* `movl $imm, %eax; ret` */
static void put_code(uint8_t *at, uint32_t imm)
{
	at[0] = 0xb8;
	rt_memcpy(at + 1, &imm, 4);
	at[5] = 0xc3;
}

static void test_fetch(void)
{
	uint8_t *code = (uint8_t *)pg_alloc();
	uint8_t *lo = (uint8_t *)pg_alloc(), *hi = (uint8_t *)pg_alloc();
	put_code(code, 0x0f37c4e5u);
	uint32_t *pte = set_pte(WIN_PAGE(9), (uint32_t)code | PTE_W);
	/* Two NOPs, then `movl $0x87654321, %eax` whose opcode and first
	   immediate byte end page 10; the rest of it, and a RET, start page 11. */
	static const uint8_t crossing[] = {0x90, 0x90, 0xb8, 0x21, 0x43, 0x65, 0x87, 0xc3};
	rt_memcpy(lo + PAGE_SIZE - 4, crossing, 4);
	rt_memcpy(hi, crossing + 4, 4);
	set_pte(WIN_PAGE(10), (uint32_t)lo | PTE_P | PTE_W);
	uint32_t *pte_hi = set_pte(WIN_PAGE(11), (uint32_t)hi | PTE_W);
	uint32_t (*fn)(void);

	rt_section("pf-fetch");
	/* A call into a not-present page: the fault is at the target. */
	pf_fault_at = pf_resume_at = 0;
	fn = (uint32_t (*)(void))WIN_PAGE(9);
	fix_next(pte, (uint32_t)code | PTE_P | PTE_W);
	RT_CHECK_EQ(fn(), 0x0f37c4e5u);
	EXPECT_PF_AT(0, WIN_PAGE(9), WIN_PAGE(9));
	/* An instruction across into a not-present page: CR2 is the missing
	   page, EIP the instruction, after the two NOPs did run. */
	fn = (uint32_t (*)(void))(WIN_PAGE(11) - 4);
	fix_next(pte_hi, (uint32_t)hi | PTE_P | PTE_W);
	RT_CHECK_EQ(fn(), 0x87654321u);
	EXPECT_PF_AT(0, WIN_PAGE(11), WIN_PAGE(11) - 2);
	rt_section_end();
}

struct dtr {
	uint16_t limit;
	uint32_t base;
} __attribute__((packed));

static void test_during_delivery(void)
{
	uint8_t *lo = (uint8_t *)pg_alloc(), *hi = (uint8_t *)pg_alloc();
	struct dtr orig, split;
	__asm__ volatile("sidt %0" : "=m"(orig));
	/* A copy of the IDT across two pages: vectors 0..0x3f (#PF's gate
	   among them) in a present page, 0x40 on in a not-present one. */
	split.base = WIN_PAGE(13) - 0x40 * 8;
	split.limit = 256 * 8 - 1;
	rt_memcpy(lo + PAGE_SIZE - 0x40 * 8, (const void *)orig.base, 0x40 * 8);
	rt_memcpy(hi, (const uint8_t *)orig.base + 0x40 * 8, (256 - 0x40) * 8);
	set_pte(WIN_PAGE(12), (uint32_t)lo | PTE_P | PTE_W);
	uint32_t *pte = set_pte(WIN_PAGE(13), (uint32_t)hi | PTE_W);

	rt_section("pf-during-delivery");
	__asm__ volatile("lidt %0" ::"m"(split) : "memory");
	/* Reading INT n's gate faults: a #PF at the INT, CR2 the gate. */
	__asm__ volatile(MARK "1:\tint $0x41\n2:" ::: "memory");
	EXPECT_PF(0, WIN_PAGE(13) + 8);
	__asm__ volatile(MARK "1:\tint $0x40\n2:" ::: "memory");
	EXPECT_PF(0, WIN_PAGE(13));
	/* Repaired, the INT is delivered: INT 0x80 reaches the runtime's
	   gate (a trap: EIP after the INT). */
	fix_next(pte, (uint32_t)hi | PTE_P | PTE_W);
	__asm__ volatile(MARK "1:\tint $0x80\n2:" ::: "memory");
	RT_CHECK_EQ(n_events, 2);
	RT_CHECK_EQ(events[0].vector, V_PF);
	RT_CHECK_EQ(events[0].cr2, WIN_PAGE(13) + 0x40 * 8);
	RT_CHECK_EQ(events[0].eip, pf_fault_at);
	RT_CHECK_EQ(events[1].vector, V_SYSCALL);
	RT_CHECK_EQ(events[1].eip, pf_resume_at);
	n_events = 0;
	pf_resume_at = 0;
	__asm__ volatile("lidt %0" ::"m"(orig) : "memory");
	rt_section_end();
}

static void test_cr2(void)
{
	rt_section("pf-cr2");
	WRITE_CR(2, 0x12345678u);
	RT_CHECK_EQ(READ_CR(2), 0x12345678u);
	set_pte(WIN_PAGE(14), 0);
	load32(WIN_PAGE(14) + 0x10, 0);
	EXPECT_PF(0, WIN_PAGE(14) + 0x10);
	RT_CHECK_EQ(READ_CR(2), WIN_PAGE(14) + 0x10);
	/* Another exception leaves CR2 alone. */
	__asm__ volatile(MARK "1:\tud2\n2:" ::: "memory");
	RT_CHECK_EQ(n_events, 1);
	RT_CHECK_EQ(events[0].vector, V_UD);
	n_events = 0;
	pf_resume_at = 0;
	RT_CHECK_EQ(READ_CR(2), WIN_PAGE(14) + 0x10);
	rt_section_end();
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_magic;
	(void)mb_info;
	rt_puts("pagefault: begin\n");
	RT_CHECK(cpuid1_edx() & CPUID_PSE);
	pd = pg_new_directory();
	pg_pte(pd, WIN); /* the window's table, before paging is on */
	WRITE_CR(4, READ_CR(4) | CR4_PSE);
	pg_enable(pd);
	rt_set_exception_hook(hook);
	test_not_present();
	test_stack_run();
	test_pde_not_present();
	test_write_protect();
	test_fault_invalidates();
	test_kmap_slot();
	test_string_ops();
	test_page_crossing();
	test_fetch();
	test_during_delivery();
	test_cr2();
	rt_set_exception_hook(NULL);
	pg_disable();
	WRITE_CR(0, READ_CR(0) & ~CR0_WP);
	WRITE_CR(4, READ_CR(4) & ~CR4_PSE);
}
