/* Translator fuzzing: the blob format the generator writes and the fuzz guest runs. */
#ifndef BTVMM_FUZZ_H
#define BTVMM_FUZZ_H

#include <stdint.h>

/*
 * The generator (fuzzgen.c) patches a blob of random straight-line ring-0
 * sequences into a copy of the fuzz guest (fuzzguest.c), at its symbol
 * fuzz_blob. The guest runs each sequence from the state its record gives,
 * then prints one line per sequence: its index and a hash of the state it
 * ended in (registers, the flags the record says are defined, the 256-byte
 * scratch buffer, and the exception it raised, if any). QEMU TCG and btvmm
 * run the same image; any line that differs is a divergence.
 *
 * The sequences only touch the scratch buffer (through EBP, which they
 * never write, and string instructions whose ESI/EDI/ECX they set up) and
 * the stack below the return address (through pushes and [esp+d] inside
 * what they pushed), so every one of them ends, by RET or by an exception.
 */

#define FUZZ_MAGIC 0x315a4642u /* "BFZ1" */
#define FUZZ_BLOB_SIZE (512u * 1024u)
#define FUZZ_BUF_SIZE 256u     /* scratch buffer; EBP points at its middle */
#define FUZZ_MAX_ITEMS 32u

/* The arithmetic flags and DF. */
#define FUZZ_FL_CF 0x001u
#define FUZZ_FL_PF 0x004u
#define FUZZ_FL_AF 0x010u
#define FUZZ_FL_ZF 0x040u
#define FUZZ_FL_SF 0x080u
#define FUZZ_FL_DF 0x400u
#define FUZZ_FL_OF 0x800u
#define FUZZ_FL_ARITH 0x8d5u

struct fuzz_header {
	uint32_t magic;
	uint32_t count;   /* records that follow */
	uint32_t verbose; /* print every register, not just the hash */
	uint32_t first;   /* index printed for the first record */
	uint32_t ring3;   /* run the sequences at CPL 3 (paging on, flat
			     ring-3 segments), not at CPL 0 */
};

/*
 * One sequence. `items` gives, per instruction group, where its code
 * starts and which flags are defined there: a sequence stopped by an
 * exception is compared on those. The code (at code_off from the record)
 * ends with RET; the record is padded to 4 bytes.
 */
struct fuzz_record {
	uint32_t size;      /* whole record, header included */
	uint32_t gpr[6];    /* EAX ECX EDX EBX ESI EDI at the start */
	uint32_t eflags;    /* arithmetic flags and DF at the start */
	uint32_t buf_seed;  /* the scratch buffer's content */
	uint32_t end_mask;  /* flags defined at the RET */
	uint32_t code_len;
	uint32_t n_items;
	struct {
		uint16_t off;   /* from the code's start */
		uint16_t mask;  /* defined flags there */
	} items[FUZZ_MAX_ITEMS];
	/* code follows */
};

/* The scratch buffer's fill: both sides compute it from buf_seed. */
static inline uint32_t fuzz_next(uint32_t *s)
{
	uint32_t x = *s;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*s = x ? x : 0x9e3779b9u;
	return *s;
}

#endif
