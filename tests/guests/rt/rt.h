/* Test-guest runtime: freestanding ring-0 helpers for btvmm's test guests. */
#ifndef RT_H
#define RT_H

#include <stdint.h>
#include <stddef.h>

/*
 * Every guest is a multiboot v1 ELF32 loaded at 1 MiB, entered at CPL 0 with
 * paging off. The runtime's entry (rt/start.S) loads its own flat GDT
 * (RT_CS = 0x08 code, RT_DS = 0x10 data, plus spare slots for tests), sets
 * up a stack and an IDT whose 32 exception vectors call rt_on_exception
 * hooks, then calls guest_main(). Returning from guest_main ends the run with
 * rt_exit(rt_failures ? 1 : 0).
 *
 * Output goes to COM1 (0x3f8) by polling; the exit is isa-debug-exit at port
 * 0xf4 (status (v << 1) | 1 under btvmm and QEMU alike).
 *
 * Sections: .text, .rodata and .data/.bss/stack are on separate 4 KiB pages,
 * so data writes never touch a page that holds code (btvmm write-protects
 * code pages; tests of self-modifying code do it on purpose).
 */

#define RT_CS 0x08
#define RT_DS 0x10

void guest_main(uint32_t mb_magic, uint32_t mb_info);

void rt_putc(char c);
void rt_puts(const char *s);
/* printf subset: %d %u %x %08x %s %c %% and the l/ll length modifiers. */
void rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void rt_exit(uint32_t code);

/* Failure count; RT_CHECK prints "FAIL file:line expr" and counts. */
extern int rt_failures;
void rt_check_failed(const char *file, int line, const char *expr);
#define RT_CHECK(e) ((e) ? (void)0 : rt_check_failed(__FILE__, __LINE__, #e))
/* Compare two 32-bit values, printing both on mismatch. */
#define RT_CHECK_EQ(a, b) rt_check_eq(__FILE__, __LINE__, #a, (uint32_t)(a), (uint32_t)(b))
void rt_check_eq(const char *file, int line, const char *expr, uint32_t got, uint32_t want);

/* Print "ok <name>" or "FAILED <name>" for a group; returns failures seen in it. */
void rt_section(const char *name);   /* starts a group */
int rt_section_end(void);            /* ends it, prints the verdict */

/* Port I/O. */
static inline void outb(uint16_t p, uint8_t v) { __asm__ volatile("outb %0,%1" ::"a"(v), "Nd"(p)); }
static inline void outw(uint16_t p, uint16_t v) { __asm__ volatile("outw %0,%1" ::"a"(v), "Nd"(p)); }
static inline void outl(uint16_t p, uint32_t v) { __asm__ volatile("outl %0,%1" ::"a"(v), "Nd"(p)); }
static inline uint8_t inb(uint16_t p) { uint8_t v; __asm__ volatile("inb %1,%0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint16_t inw(uint16_t p) { uint16_t v; __asm__ volatile("inw %1,%0" : "=a"(v) : "Nd"(p)); return v; }
static inline uint32_t inl(uint16_t p) { uint32_t v; __asm__ volatile("inl %1,%0" : "=a"(v) : "Nd"(p)); return v; }

/* Descriptor tables owned by the runtime (tests may add entries). */
struct rt_desc { uint32_t lo, hi; };
extern struct rt_desc rt_gdt[16];    /* slots 3..15 free for tests */
/* limit: the raw 20-bit field (in pages when G=1); flags: G, D/B, L, AVL as a
   nibble, given either as 0xC or as descriptor byte 6 (0xC0/0xCF, whose low
   nibble is ignored). */
void rt_gdt_set(int slot, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags);
void rt_lgdt(void);                  /* reload GDTR with rt_gdt */

/*
 * Exceptions: the IDT's 32 exception vectors and vector 0x80 go to
 * rt_exception_dispatch, which fills a frame and calls the hook. If the hook
 * returns, execution resumes at frame->eip (a hook may advance it past the
 * faulting instruction). Without a hook, an exception prints
 * "UNEXPECTED EXCEPTION v eip=..." and exits with code 3.
 */
struct rt_frame {
	uint32_t edi, esi, ebp, esp_dummy, ebx, edx, ecx, eax; /* pushad order */
	uint32_t vector, error;   /* error is 0 for vectors that push none */
	uint32_t eip, cs, eflags; /* the CPU's frame (CPL 0 -> CPL 0) */
};
typedef void (*rt_exception_hook)(struct rt_frame *f);
void rt_set_exception_hook(rt_exception_hook hook);  /* NULL removes it */
/* Point IDT vector v at a raw handler with gate type 0xE (int) or 0xF (trap);
   a bare type means present, DPL 0, a full attribute byte (0x8E, 0xEF) is
   used as given. The selector is RT_CS. */
void rt_idt_set(int v, void (*handler)(void), uint8_t type_attr);
void rt_lidt(void);                  /* IDTR: rt_idt, all 256 vectors */
extern struct rt_desc rt_idt[256];   /* what SIDT shows after rt_lidt */

/*
 * Ring 3 for a test guest: GDT 0x1b/0x23 flat ring-3 code and data, the
 * runtime's TSS at 0x28 (ring-0 stack: kstack_top; I/O bitmap offset 0,
 * so the TSS's own bytes are the bitmap within its limit) loaded with LTR,
 * and INT 0x80 as a DPL-3 gate. rt_tss is the caller's to adjust.
 */
extern uint32_t rt_tss[26];
void rt_ring3_init(void *kstack_top);
/* Run `code` at CPL 3 (flat 0x1b/0x23, ESP ustack_top, EFLAGS
 * rt_user_eflags: 0x2 unless the guest sets IF there, the general
 * registers zeroed); it ends with INT 0x80 or a fault, whose
 * handler returns to rt_run_user's caller by setting its frame's EIP to
 * rt_resume_kernel (ring 0 state as at the call). */
extern uint32_t rt_user_eflags;
void rt_run_user(const void *code, uint32_t ustack_top);
void rt_resume_kernel(void);
/* Paging on, the first 16 MiB identity-mapped read/write for ring 3
 * through pd and the four tables pt (the caller may change entries of pt
 * before: they are filled first, then CR3 and CR0.PG|WP are set). */
void rt_identity_16m(uint32_t pd[1024], uint32_t pt[4][1024], void (*adjust)(void));

uint32_t rt_strlen(const char *s);
void *rt_memset(void *d, int c, size_t n);
void *rt_memcpy(void *d, const void *s, size_t n);
int rt_memcmp(const void *a, const void *b, size_t n);
int rt_strcmp(const char *a, const char *b);

#endif
