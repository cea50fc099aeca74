/* bench: ring-0 guest timing MMU operations: page faults, page-table writes, CR3 switches. */
#include "rt.h"
#include "guestargs.h"

/*
 * Command line: "op=pgfault|ptemod|cr3|wp iters=N" (default: every op, 1000
 * iterations, as a correctness run). The harness (bench/run-mmu.sh) times
 * whole runs with N and with 0 iterations; the difference over N is the
 * cost of one operation:
 *   pgfault  a PTE is cleared (+INVLPG), the page is read, the guest's #PF
 *            handler sets the PTE present again and the read is retried
 *   ptemod   one store to an entry of a page table in use (a traced write)
 *   cr3      MOV CR3 to the other of two page directories, then one read
 *            through the new address space
 *   wp       CR0.WP cleared then set again (two MOV CR0s; Linux toggles it
 *            around kernel text patching), then one write
 */

#define PTE_P 1u
#define PTE_W 2u
#define MAPPED_MIB 32u

static uint32_t pd[2][1024] __attribute__((aligned(4096)));
static uint32_t pt[MAPPED_MIB / 4][1024] __attribute__((aligned(4096)));
static uint32_t spare_pt[1024] __attribute__((aligned(4096)));
static volatile uint8_t target[4096] __attribute__((aligned(4096)));
#define SPARE_PDE 100u /* linear 400 MiB, mapped through spare_pt */

static volatile uint32_t faults;

static void on_exception(struct rt_frame *f)
{
	uint32_t cr2;
	if (f->vector != 14)
		rt_exit(3);
	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	pt[cr2 >> 22][(cr2 >> 12) & 1023] |= PTE_P;
	faults++;
}

static void setup_paging(void)
{
	for (uint32_t t = 0; t < MAPPED_MIB / 4; t++) {
		for (uint32_t e = 0; e < 1024; e++)
			pt[t][e] = ((t * 1024 + e) << 12) | PTE_P | PTE_W;
		pd[0][t] = pd[1][t] = (uint32_t)pt[t] | PTE_P | PTE_W;
	}
	for (uint32_t e = 0; e < 1024; e++)
		spare_pt[e] = (uint32_t)target | PTE_P | PTE_W;
	pd[0][SPARE_PDE] = pd[1][SPARE_PDE] = (uint32_t)spare_pt | PTE_P | PTE_W;
	__asm__ volatile("mov %0, %%cr3\n\t"
			 "mov %%cr0, %%eax\n\t"
			 "or $0x80010000, %%eax\n\t" /* PG | WP */
			 "mov %%eax, %%cr0" ::"r"(pd[0]) : "eax", "memory");
	/* Touch the spare table's region once: its table is now traced. */
	(void)*(volatile uint32_t *)(SPARE_PDE << 22);
}

static void op_pgfault(uint32_t n)
{
	uint32_t l = (uint32_t)target;
	volatile uint32_t *pte = &pt[l >> 22][(l >> 12) & 1023];
	rt_set_exception_hook(on_exception);
	for (uint32_t i = 0; i < n; i++) {
		*pte &= ~PTE_P;
		__asm__ volatile("invlpg (%0)" ::"r"(l) : "memory");
		(void)target[i & 63];
	}
	rt_set_exception_hook(NULL);
	RT_CHECK_EQ(faults, n);
}

static void op_ptemod(uint32_t n)
{
	volatile uint32_t *e = &spare_pt[7];
	for (uint32_t i = 0; i < n; i++)
		*e = (uint32_t)target | PTE_P | PTE_W | ((i & 1) << 5);
	RT_CHECK_EQ(*(volatile uint32_t *)((SPARE_PDE << 22) + 7 * 4096), *(volatile uint32_t *)target);
}

static void op_cr3(uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		__asm__ volatile("mov %0, %%cr3" ::"r"(pd[(i + 1) & 1]) : "memory");
		(void)target[i & 63];
	}
	__asm__ volatile("mov %0, %%cr3" ::"r"(pd[0]) : "memory");
}

static void op_wp(uint32_t n)
{
	uint32_t cr0;
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	for (uint32_t i = 0; i < n; i++) {
		__asm__ volatile("mov %0, %%cr0" ::"r"(cr0 & ~0x10000u) : "memory");
		__asm__ volatile("mov %0, %%cr0" ::"r"(cr0 | 0x10000u) : "memory");
		target[i & 63] = i;
	}
	__asm__ volatile("mov %0, %%cr0" ::"r"(cr0) : "memory");
	if (n)
		RT_CHECK_EQ(target[(n - 1) & 63], (uint8_t)(n - 1));
}

void guest_main(uint32_t magic, uint32_t info)
{
	const char *cmd = guestargs_cmdline(magic, info);
	uint32_t n = guestargs_iters(cmd, 1000);
	const char *op = guestargs_after(cmd, "op=");
	setup_paging();
	if (!op || *op == 'p') {
		if (!op || op[1] == 'g')
			op_pgfault(n);
		if (!op || op[1] == 't')
			op_ptemod(n);
	}
	if (!op || *op == 'c')
		op_cr3(n);
	if (!op || *op == 'w')
		op_wp(n);
	rt_printf("mmu: %s done\n", op ? op : "all ops");
}
