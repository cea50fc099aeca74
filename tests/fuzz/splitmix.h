/* Seeded random numbers for the fuzzers (fuzzgen, unit.loader_fuzz): splitmix64. */
#ifndef BTVMM_SPLITMIX_H
#define BTVMM_SPLITMIX_H

#include <stdint.h>

/* The next number of the sequence whose state is *s (any seed will do). */
static inline uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif
