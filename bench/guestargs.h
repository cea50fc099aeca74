/* bench: command-line words for the benchmark and laboratory guests ("op=... iters=N"). */
#ifndef BTVMM_BENCH_GUESTARGS_H
#define BTVMM_BENCH_GUESTARGS_H

#include <stddef.h>
#include <stdint.h>

/* The text after the first occurrence of key in s, or NULL. */
static inline const char *guestargs_after(const char *s, const char *key)
{
	for (; *s; s++) {
		const char *p = s, *k = key;
		while (*k && *p == *k)
			p++, k++;
		if (!*k)
			return p;
	}
	return NULL;
}

/* The multiboot command line (or ""), and "iters=N" from it (or dflt). */
static inline const char *guestargs_cmdline(uint32_t magic, uint32_t info)
{
	const uint32_t *mbi = (const uint32_t *)info;
	return magic == 0x2badb002 && (mbi[0] & 4) ? (const char *)mbi[4] : "";
}

/* The decimal number after key ("iters=", "from=") in cmd, or dflt. */
static inline uint32_t guestargs_number(const char *cmd, const char *key, uint32_t dflt)
{
	const char *v = guestargs_after(cmd, key);
	if (!v)
		return dflt;
	uint32_t n = 0;
	for (; *v >= '0' && *v <= '9'; v++)
		n = n * 10 + (uint32_t)(*v - '0');
	return n;
}

static inline uint32_t guestargs_iters(const char *cmd, uint32_t dflt)
{
	return guestargs_number(cmd, "iters=", dflt);
}

#endif
