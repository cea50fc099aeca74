/* Test-guest paging helpers: 32-bit (non-PAE) page tables shared by the paging and pagefault guests. */
#ifndef PAGETABLES_H
#define PAGETABLES_H

#include "rt.h"

/*
 * 32-bit paging, as the CPU walks it:
 *
 *   linear:  31        22 21        12 11          0
 *           | PDE index  | PTE index  | page offset |
 *
 * A PDE with PS=1 (and CR4.PSE=1) maps a 4 MiB page directly: bits 31:22
 * are the frame and bits 21:0 of the linear address the offset.
 *
 *   entry:   31       12 11  9  8   7   6   5   4    3   2   1   0
 *           |  frame    | AVL | G | PS| D | A |PCD|PWT|U/S|R/W| P |
 */
#define PTE_P     0x001u
#define PTE_W     0x002u
#define PTE_U     0x004u
#define PTE_A     0x020u
#define PTE_D     0x040u
#define PDE_PS    0x080u  /* in a PDE: this entry maps a 4 MiB page */
#define PTE_G     0x100u  /* in a PTE or a 4 MiB PDE: global */
#define PTE_FRAME 0xfffff000u
#define PDE_FRAME_4M 0xffc00000u

#define PAGE_SIZE    0x1000u
#define LARGE_SIZE   0x400000u

#define CR0_WP  0x00010000u
#define CR0_PG  0x80000000u
#define CR4_PSE 0x010u
#define CR4_PGE 0x080u

/* CPUID.1:EDX bits the guests require. */
#define CPUID_PSE (1u << 3)
#define CPUID_PGE (1u << 13)

/*
 * The guest image (code, data, .bss with every table and test frame) lies
 * in the first 4 MiB, which pg_identity maps with 4 KiB pages so that the
 * code keeps running at the same addresses with paging on or off.
 */
#define PG_IDENTITY_END 0x00400000u

#define READ_CR(n) ({ uint32_t v_; __asm__ volatile("movl %%cr" #n ", %0" : "=r"(v_)); v_; })
#define WRITE_CR(n, v) __asm__ volatile("movl %0, %%cr" #n ::"r"((uint32_t)(v)) : "memory")

static inline void invlpg(uint32_t linear)
{
	__asm__ volatile("invlpg (%0)" ::"r"(linear) : "memory");
}

/* Reload CR3 with itself: flushes every non-global translation. */
static inline void reload_cr3(void)
{
	WRITE_CR(3, READ_CR(3));
}

static inline uint32_t read32(uint32_t linear)
{
	return *(volatile uint32_t *)linear;
}

static inline void write32(uint32_t linear, uint32_t v)
{
	*(volatile uint32_t *)linear = v;
}

static inline uint32_t cpuid1_edx(void)
{
	uint32_t a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	return d;
}

/* Return a zeroed, page-aligned page from a fixed pool in .bss, for use as
   a page directory, a page table or a test frame; fails the run when the
   pool is exhausted. */
uint32_t *pg_alloc(void);

/* Return a new page directory whose first 4 MiB are identity-mapped
   (present, writable, not global) through one shared page table. */
uint32_t *pg_new_directory(void);

/* Return the address of the PTE in page directory pd for linear. If the PDE
   is empty, install a new page table (present, writable) first; the PDE
   must not map a 4 MiB page. */
uint32_t *pg_pte(uint32_t *pd, uint32_t linear);

/* Map the 4 KiB page at linear to frame phys with the given flags (no
   invalidation: callers INVLPG or reload CR3 when they replace a mapping). */
void pg_map(uint32_t *pd, uint32_t linear, uint32_t phys, uint32_t flags);

/* Map the 4 MiB page at linear (4 MiB aligned) to phys with flags | PS. */
void pg_map_large(uint32_t *pd, uint32_t linear, uint32_t phys, uint32_t flags);

/* Load CR3 with pd and set CR0.PG (the identity map keeps EIP valid). */
void pg_enable(uint32_t *pd);

/* Clear CR0.PG. */
void pg_disable(void);

#endif
