/* The basic guest's shared pieces: flag bits, the result hash, and its test groups. */
#ifndef BASIC_H
#define BASIC_H

#include "rt.h"

/* EFLAGS bits. */
#define F_CF 0x001u
#define F_PF 0x004u
#define F_AF 0x010u
#define F_ZF 0x040u
#define F_SF 0x080u
#define F_DF 0x400u
#define F_OF 0x800u
#define F_ARITH (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)
#define F_FIXED 0x002u	/* bit 1 always reads as 1 */

/*
 * Every result a test computes (values and *defined* flags only) is folded
 * into basic_hash, and each group prints its hash: a value that differs from
 * QEMU's shows up in the differential comparison even where no in-guest
 * check looks at it.
 */
extern uint32_t basic_hash;
static inline void mix(uint32_t v)
{
	basic_hash = (basic_hash ^ v) * 16777619u;	/* FNV-1a step */
}
/* Starts a group: resets the hash and opens an rt section. */
void group_begin(const char *name);
/* Ends it: prints "<name>: <cases> cases, hash <h>" and the verdict. */
void group_end(uint32_t cases);

/* Interesting operand values, shared by the ALU-style groups. */
#define NVALS 20
extern const uint32_t vals[NVALS];

/* Checks got == want for one case (a, b: its inputs, for the message) and
   folds got into the hash; prints the first few mismatches of a group. */
void basic_expect(const char *what, uint32_t a, uint32_t b, uint32_t got, uint32_t want);

/* Parity of the low byte: PF is set when the number of ones is even. */
static inline int even_parity(uint32_t v)
{
	int ones = 0;
	for (int i = 0; i < 8; i++)
		ones += (v >> i) & 1;
	return !(ones & 1);
}

void test_alu(void);
void test_shift(void);
void test_muldiv(void);
void test_bits(void);
void test_cond(void);
void test_mov(void);
void test_lea(void);
void test_xchg(void);
void test_string(void);
void test_stack(void);
void test_calls(void);
void test_jumps(void);
void test_loops(void);
void test_recursion(void);

#endif
