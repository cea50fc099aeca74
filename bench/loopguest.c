/* bench: multiboot ring-0 guest that runs one loop of loops.S as the command line asks and prints its result. */

#include "loops.h"

/*
 * Command line: "loop=reg|mem|spill iters=N" anywhere in the multiboot cmdline.
 * Output on COM1: the line loops_format_result() builds, or one "error:"
 * line. Exit through isa-debug-exit at 0xf4: value 0 on success (status 1
 * under QEMU and btvmm), 1 on a bad command line (status 3).
 */

#define COM1_DATA        0x3f8
#define COM1_LSR         0x3fd
#define COM1_LSR_THRE    0x20 /* transmit holding register empty */
#define DEBUG_EXIT_PORT  0xf4

/* Multiboot v1 info structure, read as 32-bit words (spec section 3.3). */
#define MB_BOOT_MAGIC       0x2badb002u
#define MB_INFO_FLAGS       0 /* word 0: which fields are valid */
#define MB_INFO_CMDLINE     4 /* word 4 (byte offset 16): cmdline address */
#define MB_INFO_HAS_CMDLINE (1u << 2)

/* Its own page, apart from the stack and from code (see loopguest.ld). */
static uint32_t loop_mem_buf[4096 / sizeof(uint32_t)]
	__attribute__((aligned(4096)));
_Static_assert(sizeof(loop_mem_buf) / sizeof(uint32_t) >= LOOP_MEM_WORDS,
	       "loop_mem needs LOOP_MEM_WORDS words");

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void serial_puts(const char *s)
{
	for (; *s != '\0'; s++) {
		while ((inb(COM1_LSR) & COM1_LSR_THRE) == 0)
			;
		outb(COM1_DATA, (uint8_t)*s);
	}
}

__attribute__((noreturn)) static void guest_exit(uint8_t code)
{
	outb(DEBUG_EXIT_PORT, code);
	for (;;)
		__asm__ volatile("cli; hlt");
}

__attribute__((noreturn)) static void fail(const char *why)
{
	serial_puts("error: ");
	serial_puts(why);
	serial_puts("\n");
	guest_exit(1);
}

__attribute__((noreturn)) void loopguest_main(uint32_t magic,
					      const uint32_t *info);

void loopguest_main(uint32_t magic, const uint32_t *info)
{
	struct loop_args args = { .kind = LOOP_NONE };
	char line[LOOPS_RESULT_MAX];
	uint32_t result;

	if (magic != MB_BOOT_MAGIC)
		fail("not started by a multiboot loader");
	if ((info[MB_INFO_FLAGS] & MB_INFO_HAS_CMDLINE) == 0)
		fail("no command line; want loop=reg|mem|spill iters=N");
	/* Paging is off: the physical address is the pointer. */
	loops_parse_line((const char *)(uintptr_t)info[MB_INFO_CMDLINE], &args);
	if (args.bad || args.kind == LOOP_NONE || !args.have_iters)
		fail("bad command line; want loop=reg|mem|spill iters=N");

	if (args.kind == LOOP_REG)
		result = loop_reg(args.iters);
	else if (args.kind == LOOP_MEM)
		result = loop_mem(args.iters, loop_mem_buf);
	else
		result = loop_spill(args.iters, loop_mem_buf);

	loops_format_result(line, args.kind, args.iters, result);
	serial_puts(line);
	guest_exit(0);
}
