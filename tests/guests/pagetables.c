/* Test-guest paging helpers: a page pool, identity-mapped directories, 4 KiB and 4 MiB mappings. */
#include "pagetables.h"

#define POOL_PAGES 24

/* .bss is identity-mapped, so a pool page's address is also its frame. */
static uint32_t pool[POOL_PAGES][1024] __attribute__((aligned(4096)));
static int pool_used;

/* Shared by every directory: one table mapping 0..4 MiB onto itself. */
static uint32_t identity_table[1024] __attribute__((aligned(4096)));
static int identity_ready;

extern char _end[];

uint32_t *pg_alloc(void)
{
	if (pool_used == POOL_PAGES) {
		rt_puts("FAIL pagetables: page pool exhausted\n");
		rt_exit(3);
	}
	uint32_t *page = pool[pool_used++];
	rt_memset(page, 0, PAGE_SIZE);
	return page;
}

uint32_t *pg_new_directory(void)
{
	if (!identity_ready) {
		/* Everything the guest touches must be inside the identity map. */
		RT_CHECK((uint32_t)_end <= PG_IDENTITY_END);
		for (uint32_t i = 0; i < 1024; i++)
			identity_table[i] = i * PAGE_SIZE | PTE_P | PTE_W;
		identity_ready = 1;
	}
	uint32_t *pd = pg_alloc();
	pd[0] = (uint32_t)identity_table | PTE_P | PTE_W;
	return pd;
}

uint32_t *pg_pte(uint32_t *pd, uint32_t linear)
{
	uint32_t *pde = &pd[linear >> 22];
	if (!(*pde & PTE_FRAME))
		*pde = (uint32_t)pg_alloc() | PTE_P | PTE_W;
	RT_CHECK(!(*pde & PDE_PS));
	uint32_t *table = (uint32_t *)(*pde & PTE_FRAME);
	return &table[(linear >> 12) & 0x3ff];
}

void pg_map(uint32_t *pd, uint32_t linear, uint32_t phys, uint32_t flags)
{
	*pg_pte(pd, linear) = (phys & PTE_FRAME) | flags;
}

void pg_map_large(uint32_t *pd, uint32_t linear, uint32_t phys, uint32_t flags)
{
	pd[linear >> 22] = (phys & PDE_FRAME_4M) | flags | PDE_PS;
}

void pg_enable(uint32_t *pd)
{
	WRITE_CR(3, (uint32_t)pd);
	WRITE_CR(0, READ_CR(0) | CR0_PG);
}

void pg_disable(void)
{
	WRITE_CR(0, READ_CR(0) & ~CR0_PG);
}
