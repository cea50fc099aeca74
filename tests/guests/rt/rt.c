/* Test-guest runtime: serial output, printf subset, checks, sections, GDT/IDT, exit. */
#include <stdarg.h>
#include "rt.h"

#define COM1		0x3f8
#define COM1_LSR	(COM1 + 5)
#define LSR_THRE	0x20	/* transmit holding register empty */
#define DEBUG_EXIT_PORT	0xf4

int rt_failures;

/* Flat 4 GiB segments; slots 3..15 stay zero (not present) for tests. */
struct rt_desc rt_gdt[16] = {
	[0] = { 0, 0 },
	[1] = { 0x0000ffff, 0x00cf9a00 },	/* 0x08: code, DPL 0, 32-bit, 4 KiB gran */
	[2] = { 0x0000ffff, 0x00cf9200 },	/* 0x10: data, DPL 0, 32-bit, 4 KiB gran */
};

struct rt_desc rt_idt[256];
static rt_exception_hook rt_hook;
static int rt_section_start_failures;
static const char *rt_section_name;

/*
 * Never written by anyone: rt_init checks it is still zero, which is the
 * loader's job (an ELF segment's memsz beyond filesz must read as zeros).
 */
static uint32_t rt_bss_canary[16];

extern void (*const rt_stub_table[32])(void);
extern void (*const rt_stub_int80)(void);

/* The compiler may emit calls to these for struct copies and zeroing. */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);
void *memmove(void *d, const void *s, size_t n);
int memcmp(const void *a, const void *b, size_t n);
void rt_init(void);
void rt_main_returned(void);
void rt_exception_dispatch(struct rt_frame *f);

void rt_putc(char c)
{
	while (!(inb(COM1_LSR) & LSR_THRE))
		;
	outb(COM1, (uint8_t)c);
}

void rt_puts(const char *s)
{
	while (*s)
		rt_putc(*s++);
}

/* Divide a 64-bit value by a small base with divl: no libgcc helper needed. */
static uint32_t rt_divmod64(uint64_t *n, uint32_t base)
{
	uint32_t hi = (uint32_t)(*n >> 32), lo = (uint32_t)*n;
	uint32_t qhi = hi / base, rem = hi % base, qlo;
	/* rem < base, so edx:eax / base cannot overflow. */
	__asm__("divl %[b]" : "=a"(qlo), "=d"(rem) : "a"(lo), "d"(rem), [b] "rm"(base));
	*n = ((uint64_t)qhi << 32) | qlo;
	return rem;
}

static void rt_put_number(uint64_t v, uint32_t base, int negative, int width, char pad)
{
	char buf[24];
	int n = 0;
	do {
		uint32_t digit = rt_divmod64(&v, base);
		buf[n++] = (char)(digit < 10 ? '0' + digit : 'a' + digit - 10);
	} while (v);
	if (negative)
		buf[n++] = '-';
	for (int i = n; i < width; i++)
		rt_putc(pad);
	while (n)
		rt_putc(buf[--n]);
}

static void rt_vprintf(const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			rt_putc(*fmt);
			continue;
		}
		fmt++;
		char pad = ' ';
		int width = 0, longs = 0;
		if (*fmt == '0') {
			pad = '0';
			fmt++;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		while (*fmt == 'l') {
			longs++;
			fmt++;
		}
		uint64_t u;
		switch (*fmt) {
		case 'd': {
			int64_t s = longs >= 2 ? va_arg(ap, int64_t) : va_arg(ap, int32_t);
			u = s < 0 ? -(uint64_t)s : (uint64_t)s;
			rt_put_number(u, 10, s < 0, width, pad);
			break;
		}
		case 'u':
		case 'x':
			u = longs >= 2 ? va_arg(ap, uint64_t) : va_arg(ap, uint32_t);
			rt_put_number(u, *fmt == 'u' ? 10 : 16, 0, width, pad);
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			int len = (int)rt_strlen(s);
			for (int i = len; i < width; i++)
				rt_putc(' ');
			rt_puts(s);
			break;
		}
		case 'c':
			rt_putc((char)va_arg(ap, int));
			break;
		case '%':
			rt_putc('%');
			break;
		case '\0':
			return;
		default:	/* unknown conversion: show it rather than guess */
			rt_putc('%');
			rt_putc(*fmt);
			break;
		}
	}
}

void rt_printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	rt_vprintf(fmt, ap);
	va_end(ap);
}

__attribute__((noreturn)) void rt_exit(uint32_t code)
{
	outl(DEBUG_EXIT_PORT, code);
	/* Reached only without an exit device: stop here for good. */
	for (;;)
		__asm__ volatile("cli; hlt");
}

/* __FILE__ is whatever path the build passed to gcc; print the name only. */
static const char *rt_basename(const char *path)
{
	const char *base = path;
	for (; *path; path++)
		if (*path == '/')
			base = path + 1;
	return base;
}

void rt_check_failed(const char *file, int line, const char *expr)
{
	rt_failures++;
	rt_printf("FAIL %s:%d %s\n", rt_basename(file), line, expr);
}

void rt_check_eq(const char *file, int line, const char *expr, uint32_t got, uint32_t want)
{
	if (got == want)
		return;
	rt_failures++;
	rt_printf("FAIL %s:%d %s: got 0x%08x want 0x%08x\n", rt_basename(file), line, expr,
		  got, want);
}

void rt_section(const char *name)
{
	rt_section_name = name;
	rt_section_start_failures = rt_failures;
}

int rt_section_end(void)
{
	int failed = rt_failures - rt_section_start_failures;
	if (failed)
		rt_printf("FAILED %s (%d)\n", rt_section_name, failed);
	else
		rt_printf("ok %s\n", rt_section_name);
	return failed;
}

/*
 * A descriptor as the CPU reads it:
 *   lo: base[15:0] << 16 | limit[15:0]
 *   hi: base[31:24] << 24 | flags[3:0] << 20 | limit[19:16] << 16 |
 *       access << 8 | base[23:16]
 */
void rt_gdt_set(int slot, uint32_t base, uint32_t limit, uint8_t access, uint8_t flags)
{
	/* flags may come as 0xC or as 0xC0/0xCF (byte 6 of the descriptor,
	   whose low nibble is limit bits and is ignored here). */
	uint32_t nibble = flags & 0xf0 ? flags >> 4 : flags & 0xf;
	rt_gdt[slot].lo = (base & 0xffff) << 16 | (limit & 0xffff);
	rt_gdt[slot].hi = (base & 0xff000000) | nibble << 20 |
			  (limit & 0xf0000) | (uint32_t)access << 8 | ((base >> 16) & 0xff);
}

void rt_lgdt(void)
{
	struct __attribute__((packed)) { uint16_t limit; uint32_t base; } gdtr = {
		sizeof(rt_gdt) - 1, (uint32_t)rt_gdt
	};
	__asm__ volatile("lgdt %0" : : "m"(gdtr) : "memory");
}

/*
 * An interrupt/trap gate:
 *   lo: selector << 16 | offset[15:0]
 *   hi: offset[31:16] << 16 | P << 15 | DPL << 13 | type << 8
 */
void rt_idt_set(int v, void (*handler)(void), uint8_t type_attr)
{
	uint32_t off = (uint32_t)handler;
	/* A bare gate type (0xE/0xF) means present, DPL 0; a full attribute
	   byte (0x8E, 0xEF, ...) is taken as given. */
	if (!(type_attr & 0xf0))
		type_attr |= 0x80;
	rt_idt[v].lo = (uint32_t)RT_CS << 16 | (off & 0xffff);
	rt_idt[v].hi = (off & 0xffff0000) | (uint32_t)type_attr << 8;
}

void rt_lidt(void)
{
	struct __attribute__((packed)) { uint16_t limit; uint32_t base; } idtr = {
		sizeof(rt_idt) - 1, (uint32_t)rt_idt
	};
	__asm__ volatile("lidt %0" : : "m"(idtr) : "memory");
}

uint32_t rt_tss[26];

void rt_ring3_init(void *kstack_top)
{
	rt_gdt_set(3, 0, 0xfffff, 0xfa, 0xc); /* 0x1b ring-3 code */
	rt_gdt_set(4, 0, 0xfffff, 0xf2, 0xc); /* 0x23 ring-3 data */
	rt_tss[1] = (uint32_t)kstack_top;
	rt_tss[2] = RT_DS;
	rt_gdt_set(5, (uint32_t)rt_tss, sizeof rt_tss - 1, 0x89, 0x0); /* 0x28 TSS */
	rt_lgdt();
	__asm__ volatile("ltr %w0" ::"r"(0x28));
	rt_idt_set(0x80, rt_stub_int80, 0xee);
	rt_lidt();
}

void rt_identity_16m(uint32_t pd[1024], uint32_t pt[4][1024], void (*adjust)(void))
{
	for (int t = 0; t < 4; t++) {
		for (int e = 0; e < 1024; e++)
			pt[t][e] = ((uint32_t)(t * 1024 + e) << 12) | 7;
		pd[t] = (uint32_t)pt[t] | 7;
	}
	if (adjust)
		adjust();
	__asm__ volatile("mov %0, %%cr3\n\tmov %%cr0, %%eax\n\t"
			 "or $0x80010000, %%eax\n\tmov %%eax, %%cr0" ::"r"(pd) : "eax", "memory");
}

void rt_set_exception_hook(rt_exception_hook hook)
{
	rt_hook = hook;
}

void rt_exception_dispatch(struct rt_frame *f)
{
	if (rt_hook) {
		rt_hook(f);
		return;
	}
	rt_printf("UNEXPECTED EXCEPTION %u eip=%08x error=%x\n", f->vector, f->eip, f->error);
	rt_exit(3);
}

static void rt_serial_init(void)
{
	outb(COM1 + 1, 0x00);	/* IER: no interrupts, we poll */
	outb(COM1 + 3, 0x80);	/* LCR: DLAB on to reach the divisor */
	outb(COM1 + 0, 0x01);	/* divisor 1: 115200 baud */
	outb(COM1 + 1, 0x00);
	outb(COM1 + 3, 0x03);	/* LCR: 8N1, DLAB off */
	outb(COM1 + 2, 0x07);	/* FCR: enable and clear FIFOs */
	outb(COM1 + 4, 0x03);	/* MCR: DTR, RTS */
}

/* Called from _start with the stack set up and interrupts off. */
void rt_init(void)
{
	int dirty = 0;
	for (int i = 0; i < 16; i++)
		dirty |= rt_bss_canary[i] != 0;

	for (int v = 0; v < 32; v++)
		rt_idt_set(v, rt_stub_table[v], 0x8e);
	rt_idt_set(0x80, rt_stub_int80, 0x8e);
	rt_lidt();
	rt_serial_init();
	if (dirty)
		rt_check_failed(__FILE__, __LINE__, "loader zeroed .bss");
}

/* guest_main returned: print the verdict the harness looks for. */
void rt_main_returned(void)
{
	if (rt_failures)
		rt_printf("FAILED: %d check(s)\n", rt_failures);
	else
		rt_puts("ALL OK\n");
	rt_exit(rt_failures ? 1 : 0);
}

uint32_t rt_strlen(const char *s)
{
	uint32_t n = 0;
	while (s[n])
		n++;
	return n;
}

/*
 * Byte loops on purpose: the string instructions are under test elsewhere,
 * and the compiler must not turn these back into calls to themselves.
 */
__attribute__((optimize("no-tree-loop-distribute-patterns")))
void *rt_memset(void *d, int c, size_t n)
{
	uint8_t *p = d;
	while (n--)
		*p++ = (uint8_t)c;
	return d;
}

__attribute__((optimize("no-tree-loop-distribute-patterns")))
void *rt_memcpy(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

__attribute__((optimize("no-tree-loop-distribute-patterns")))
void *memmove(void *d, const void *s, size_t n)
{
	uint8_t *p = d;
	const uint8_t *q = s;
	if (p < q) {
		while (n--)
			*p++ = *q++;
	} else {
		while (n--)
			p[n] = q[n];
	}
	return d;
}

int rt_memcmp(const void *a, const void *b, size_t n)
{
	const uint8_t *p = a, *q = b;
	for (; n; n--, p++, q++)
		if (*p != *q)
			return *p < *q ? -1 : 1;
	return 0;
}

int rt_strcmp(const char *a, const char *b)
{
	while (*a && *a == *b)
		a++, b++;
	return (unsigned char)*a - (unsigned char)*b;
}

/* rt_run_user: the caller's registers saved on its stack, an IRET frame
 * to CPL 3; rt_resume_kernel drops back to that stack. */
uint32_t rt_user_saved_esp;
uint32_t rt_user_eflags = 0x2;
__asm__(".text\n"
	".globl rt_run_user\n"
	"rt_run_user:\n"
	"	pushal\n"
	"	movl %esp, rt_user_saved_esp\n"
	"	movl 36(%esp), %eax\n"
	"	movl 40(%esp), %ecx\n"
	"	pushl $0x23\n"
	"	pushl %ecx\n"
	"	pushl rt_user_eflags\n"
	"	pushl $0x1b\n"
	"	pushl %eax\n"
	"	movw $0x23, %bx\n"
	"	movw %bx, %ds\n"
	"	movw %bx, %es\n"
	"	movw %bx, %fs\n"
	"	movw %bx, %gs\n"
	"	xorl %eax, %eax\n"
	"	xorl %ebx, %ebx\n"
	"	xorl %ecx, %ecx\n"
	"	xorl %edx, %edx\n"
	"	xorl %esi, %esi\n"
	"	xorl %edi, %edi\n"
	"	xorl %ebp, %ebp\n"
	"	iret\n"
	".globl rt_resume_kernel\n"
	"rt_resume_kernel:\n"
	"	movl rt_user_saved_esp, %esp\n"
	"	movw $0x10, %ax\n"
	"	movw %ax, %ds\n"
	"	movw %ax, %es\n"
	"	movw %ax, %fs\n"
	"	movw %ax, %gs\n"
	"	popal\n"
	"	ret\n");

void *memset(void *d, int c, size_t n) { return rt_memset(d, c, n); }
void *memcpy(void *d, const void *s, size_t n) { return rt_memcpy(d, s, n); }
int memcmp(const void *a, const void *b, size_t n) { return rt_memcmp(a, b, n); }
