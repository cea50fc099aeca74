/* The demo guest of the README's first command: a tiny ring-0 kernel that shows what it sees. */
#include "rt.h"

struct __attribute__((packed)) dtr {
	uint16_t limit;
	uint32_t base;
};

/* Sieve of Eratosthenes over [0, n): a loop-heavy workload. */
static uint8_t composite[100000];

static unsigned count_primes(unsigned n)
{
	unsigned count = 0;
	for (unsigned i = 2; i < n; i++) {
		if (composite[i])
			continue;
		count++;
		for (unsigned j = i * 2; j < n; j += i)
			composite[j] = 1;
	}
	return count;
}

static const char *find_arg(const char *cmdline, const char *key)
{
	for (const char *p = cmdline; *p; p++) {
		unsigned k = 0;
		while (key[k] && p[k] == key[k])
			k++;
		if (!key[k] && (p == cmdline || p[-1] == ' '))
			return p + k;
	}
	return NULL;
}

static unsigned breakpoints;

static void on_exception(struct rt_frame *f)
{
	if (f->vector == 3)
		breakpoints++; /* a trap: f->eip is already past the int3 */
}

void guest_main(uint32_t magic, uint32_t info)
{
	const uint32_t *mbi = (const uint32_t *)info;
	struct dtr gdtr, idtr;
	uint32_t cr0, eflags;
	uint16_t cs;

	rt_puts("btvmm demo: a 32-bit guest kernel, started by a multiboot loader\n");
	RT_CHECK_EQ(magic, 0x2badb002);
	/* The exact size differs with the firmware's memory map (QEMU's BIOS
	 * reserves a little more), so only its order of magnitude is shown. */
	RT_CHECK(mbi[0] & 1);
	rt_printf("  multiboot magic %08x, %s MiB of memory above 1 MiB\n", magic,
		  mbi[2] >= 60 * 1024 ? "more than 60" : "less than 60");
	if (mbi[0] & 4) {
		const char *cmd = (const char *)mbi[4];
		const char *who = find_arg(cmd, "greet=");
		rt_puts("  hello, ");
		if (who)
			while (*who && *who != ' ')
				rt_putc(*who++);
		else
			rt_puts("world");
		rt_puts("\n");
	}

	/* Sensitive instructions answer with the guest's own state. */
	__asm__ volatile("sgdt %0; sidt %1; mov %%cr0, %2; pushf; pop %3; mov %%cs, %4"
			 : "=m"(gdtr), "=m"(idtr), "=r"(cr0), "=r"(eflags), "=r"(cs));
	rt_printf("  CPL %u, CS %04x, CR0 %08x (PE=%u PG=%u), IF=%u\n", cs & 3, cs,
		  cr0, cr0 & 1, cr0 >> 31, (eflags >> 9) & 1);
	rt_printf("  GDT %u entries, IDT %u gates\n", (gdtr.limit + 1) / 8,
		  (idtr.limit + 1) / 8);
	RT_CHECK_EQ(cs, RT_CS);
	RT_CHECK_EQ(cr0 & 1, 1);

	unsigned primes = count_primes(sizeof composite);
	rt_printf("  %u primes below %u\n", primes, (unsigned)sizeof composite);
	RT_CHECK_EQ(primes, 9592);

	/* A breakpoint, handled by the guest's own IDT. */
	rt_set_exception_hook(on_exception);
	__asm__ volatile("int3");
	rt_set_exception_hook(NULL);
	RT_CHECK_EQ(breakpoints, 1);
	rt_puts("  int3 came back through the guest IDT\n");
	rt_puts("done: writing 0 to the isa-debug-exit port\n");
}
