/* bench: the loop functions of loops.S and the argument/result text shared by guest and native runner. */
#ifndef BTVMM_BENCH_LOOPS_H
#define BTVMM_BENCH_LOOPS_H

/*
 * Freestanding on purpose (no libc): loopguest.c has none. Both runners
 * parse the same words and print the same line through these helpers, so
 * the harness can compare their output byte for byte.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* loop_mem's buffer: 64 words indexed by the low bits of the counter. */
#define LOOP_MEM_WORDS 64

uint32_t loop_reg(uint32_t iters);
uint32_t loop_mem(uint32_t iters, uint32_t *buf);
uint32_t loop_spill(uint32_t iters, uint32_t *buf);

enum loop_kind { LOOP_NONE, LOOP_REG, LOOP_MEM, LOOP_SPILL };

struct loop_args {
	enum loop_kind kind;
	uint32_t iters;
	bool have_iters;
	bool bad; /* a loop= or iters= word we could not read */
};

/* Does word [w, w+len) start with the NUL-terminated prefix p? */
static inline bool loops_word_has_prefix(const char *w, size_t len,
					 const char *p)
{
	size_t i;

	for (i = 0; p[i] != '\0'; i++)
		if (i >= len || w[i] != p[i])
			return false;
	return true;
}

/* Read a decimal uint32; false on an empty word, a non-digit or overflow. */
static inline bool loops_parse_u32(const char *s, size_t len, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > UINT32_MAX)
			return false;
	}
	*out = (uint32_t)v;
	return true;
}

/*
 * Fold the words `loop=reg|mem|spill` and `iters=N` of a space-separated line
 * into *a; other words are ignored, because QEMU's multiboot loader puts
 * the kernel's path in front of the -append text.
 */
static inline void loops_parse_line(const char *line, struct loop_args *a)
{
	const char *w = line;

	for (;;) {
		size_t len = 0;

		while (*w == ' ' || *w == '\t' || *w == '\n')
			w++;
		if (*w == '\0')
			return;
		while (w[len] != '\0' && w[len] != ' ' && w[len] != '\t' &&
		       w[len] != '\n')
			len++;
		if (loops_word_has_prefix(w, len, "loop=")) {
			const char *v = w + 5;
			size_t vlen = len - 5;

			if (vlen == 3 && loops_word_has_prefix(v, 3, "reg"))
				a->kind = LOOP_REG;
			else if (vlen == 3 && loops_word_has_prefix(v, 3, "mem"))
				a->kind = LOOP_MEM;
			else if (vlen == 5 && loops_word_has_prefix(v, 5, "spill"))
				a->kind = LOOP_SPILL;
			else
				a->bad = true;
		} else if (loops_word_has_prefix(w, len, "iters=")) {
			if (loops_parse_u32(w + 6, len - 6, &a->iters))
				a->have_iters = true;
			else
				a->bad = true;
		}
		w += len;
	}
}

/* Append the NUL-terminated string s at *pos in out (caller sized it). */
static inline void loops_put(char *out, size_t *pos, const char *s)
{
	while (*s != '\0')
		out[(*pos)++] = *s++;
}

/*
 * Write "loop=K iters=N result=0xXXXXXXXX\n" into out, which must hold
 * LOOPS_RESULT_MAX bytes; NUL-terminated. The harness keys on "result=".
 */
#define LOOPS_RESULT_MAX 64
static inline void loops_format_result(char *out, enum loop_kind kind,
				       uint32_t iters, uint32_t result)
{
	static const char hex[] = "0123456789abcdef";
	char digits[10];
	size_t pos = 0, n = 0;
	int i;

	loops_put(out, &pos, kind == LOOP_REG ? "loop=reg iters=" :
			     kind == LOOP_MEM ? "loop=mem iters=" :
						"loop=spill iters=");
	do {
		digits[n++] = (char)('0' + iters % 10);
		iters /= 10;
	} while (iters != 0);
	while (n > 0)
		out[pos++] = digits[--n];
	loops_put(out, &pos, " result=0x");
	for (i = 28; i >= 0; i -= 4)
		out[pos++] = hex[(result >> i) & 0xf];
	out[pos++] = '\n';
	out[pos] = '\0';
}

#endif
