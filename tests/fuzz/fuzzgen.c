/* fuzzgen: random straight-line ring-0 integer sequences for the differential translator fuzzer. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <Zydis/Zydis.h>

#include "fuzz.h"
#include "splitmix.h"

/*
 * usage: fuzzgen --seed S [--count N] --image IN.elf --out OUT.elf
 *                [--only I [--keep LIST]] [--verbose] [--ring3]
 *        fuzzgen --seed S [--count N] --only I [--keep LIST] --print
 *
 * Sequence I of seed S is the same whatever N is: each sequence has its own
 * generator state, derived from (S, I). --only writes just that one;
 * --keep (comma-separated item indices) keeps only those of its items, to
 * minimise a divergence (tests/fuzz/run.sh does); a list that leaves the
 * sequence invalid (a POP with nothing pushed, a flag read that is no
 * longer defined) exits with status 3. --print disassembles instead.
 *
 * --ring3 has the guest run the sequences at CPL 3 (translated as U blocks
 * where the host cannot run them directly).
 *
 * Exit status: 0 done; 2 bad usage or image; 3 the --keep list is invalid.
 *
 * What a sequence may do (fuzz.h): registers EAX..EDI but ESP and EBP as
 * destinations; memory at [ebp + d] inside the 256-byte buffer, and at
 * [esp + d] inside what the sequence itself pushed; string instructions
 * with ESI/EDI/ECX set up just before; forward conditional jumps over the
 * next instruction. Flags an instruction leaves undefined (per the Intel
 * SDM and AMD APM: MUL's SF/ZF/AF/PF, a shift's OF for counts above 1,
 * AND's AF, BT's all but CF, ...) are tracked: an instruction that reads
 * one gets `add r32, 0` in front, and the end state is compared only on
 * the defined ones.
 */

/* ---- random numbers ---- */

static uint64_t rng;

static uint64_t next64(void)
{
	return splitmix64(&rng);
}

static uint32_t rnd(uint32_t n)
{
	return (uint32_t)(next64() % n);
}

static bool chance(uint32_t percent)
{
	return rnd(100) < percent;
}

/* A register value that makes edge cases likely. */
static uint32_t interesting(void)
{
	static const uint32_t v[] = { 0, 1, 2, 7, 8, 0x1f, 0x20, 0x21, 0x7f, 0x80, 0xff,
				      0x100, 0x7fff, 0x8000, 0xffff, 0x10000, 0x7fffffff,
				      0x80000000, 0x80000001, 0xfffffffe, 0xffffffff };
	switch (rnd(4)) {
	case 0:
		return v[rnd(sizeof v / sizeof v[0])];
	case 1:
		return rnd(64);
	default:
		return (uint32_t)next64();
	}
}

/* ---- items: one instruction (or a group that belongs together) ---- */

struct item {
	uint8_t b[64];
	unsigned len;
	uint32_t reads;      /* flags read (an undefined one gets a definer) */
	uint32_t undef;      /* flags left undefined */
	uint32_t defines;    /* flags left defined */
	int depth_delta;     /* bytes pushed (negative: popped) */
	int need_depth;      /* bytes that must be pushed before it */
	bool has_definer;    /* starts with `add r32, 0` */
};

enum { EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI };

static void put(struct item *it, uint8_t v)
{
	if (it->len < sizeof it->b)
		it->b[it->len++] = v;
}

static void put32(struct item *it, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		put(it, (uint8_t)(v >> (8 * i)));
}

/* A destination register: never ESP or EBP (8-bit: any, AH..BH are fine). */
static unsigned dst_reg(unsigned size)
{
	if (size == 8)
		return rnd(8);
	static const unsigned r[] = { EAX, ECX, EDX, EBX, ESI, EDI };
	return r[rnd(6)];
}

/* A source register: any (ESP and EBP now and then). */
static unsigned src_reg(unsigned size)
{
	if (size == 8 || chance(10))
		return rnd(8);
	return dst_reg(size);
}

/* An r/m operand: a register, [ebp + d] or [esp + d] inside the pushed
 * bytes. Emits ModRM (+SIB, displacement) with reg field `r`. */
struct rm {
	bool mem;
	bool esp;
	unsigned reg;
	int disp;
	unsigned bytes;  /* the access's size */
};

static struct rm pick_rm(unsigned size, bool dst, int depth, bool allow_mem)
{
	struct rm o = { .bytes = size / 8 };
	unsigned bytes = size / 8;
	if (!allow_mem || chance(45)) {
		o.reg = dst ? dst_reg(size) : src_reg(size);
		return o;
	}
	o.mem = true;
	if (depth >= (int)bytes && chance(25)) {
		o.esp = true;
		o.disp = (int)rnd((uint32_t)(depth - (int)bytes) + 1);
		return o;
	}
	o.disp = (int)rnd(256 - bytes) - 128;
	return o;
}

static void put_rm(struct item *it, const struct rm *o, unsigned r)
{
	r &= 7;
	if (o->esp && o->disp + (int)o->bytes > it->need_depth)
		it->need_depth = o->disp + (int)o->bytes;
	if (!o->mem) {
		put(it, (uint8_t)(0xc0 | r << 3 | o->reg));
		return;
	}
	bool d32 = chance(10);
	uint8_t mod = d32 ? 0x80 : 0x40;
	if (o->esp) {
		if (o->disp == 0 && chance(50)) {
			put(it, (uint8_t)(r << 3 | 4));
			put(it, 0x24);
			return;
		}
		put(it, (uint8_t)(mod | r << 3 | 4));
		put(it, 0x24);
	} else {
		put(it, (uint8_t)(mod | r << 3 | 5));
	}
	if (d32)
		put32(it, (uint32_t)o->disp);
	else
		put(it, (uint8_t)(int8_t)o->disp);
}

/* Prefixes of a memory operand: sometimes a segment override (all flat;
 * FS and GS take the translator's inline address path), sometimes LOCK on
 * a read-modify-write. */
static void put_mem_prefixes(struct item *it, const struct rm *o, bool lockable)
{
	if (!o->mem)
		return;
	if (lockable && chance(15))
		put(it, 0xf0);
	if (chance(15)) {
		static const uint8_t seg[] = { 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65 };
		put(it, seg[rnd(6)]);
	}
}

static unsigned pick_size(void)
{
	unsigned r = rnd(10);
	return r < 6 ? 32 : r < 8 ? 8 : 16;
}

static void put_imm(struct item *it, unsigned size, uint32_t v)
{
	put(it, (uint8_t)v);
	if (size >= 16)
		put(it, (uint8_t)(v >> 8));
	if (size == 32) {
		put(it, (uint8_t)(v >> 16));
		put(it, (uint8_t)(v >> 24));
	}
}

#define ALL_FLAGS FUZZ_FL_ARITH

/* ALU: add or adc sbb and sub xor cmp, in its r/m,r r,r/m and immediate forms. */
static void gen_alu(struct item *it, int depth)
{
	unsigned op = rnd(8), size = pick_size();
	if (size == 16)
		put(it, 0x66);
	unsigned form = rnd(3);
	struct rm o = pick_rm(size, op != 7, depth, true);
	if (form == 0) { /* op r/m, r */
		put_mem_prefixes(it, &o, op != 7);
		put(it, (uint8_t)(op << 3 | (size == 8 ? 0 : 1)));
		put_rm(it, &o, src_reg(size));
	} else if (form == 1) { /* op r, r/m */
		o = pick_rm(size, false, depth, true);
		put_mem_prefixes(it, &o, false);
		put(it, (uint8_t)(op << 3 | (size == 8 ? 2 : 3)));
		put_rm(it, &o, op == 7 ? src_reg(size) : dst_reg(size));
	} else { /* op r/m, imm */
		put_mem_prefixes(it, &o, op != 7);
		bool imm8 = size != 8 && chance(50);
		put(it, size == 8 ? 0x80 : imm8 ? 0x83 : 0x81);
		put_rm(it, &o, op);
		put_imm(it, imm8 ? 8 : size, interesting());
	}
	if (op == 2 || op == 3)
		it->reads = FUZZ_FL_CF;
	it->defines = ALL_FLAGS;
	if (op == 1 || op == 4 || op == 6)
		it->undef = FUZZ_FL_AF;
}

/* group 3: test, not, neg, mul, imul, div, idiv */
static void gen_group3(struct item *it, int depth)
{
	unsigned op = rnd(8), size = pick_size();
	if (op == 1)
		op = 0; /* /1 is an alias of test */
	if (op >= 6 && chance(60)) {
		/* mostly divisions that do not overflow: a zero high half */
		if (size == 8)
			put(it, 0xb4), put(it, 0); /* mov ah, 0 */
		else {
			if (size == 16)
				put(it, 0x66);
			put(it, 0xba); /* mov (e)dx, 0 */
			put_imm(it, size, 0);
		}
	}
	if (size == 16)
		put(it, 0x66);
	struct rm o = pick_rm(size, op == 2 || op == 3, depth, true);
	put_mem_prefixes(it, &o, op == 2 || op == 3);
	put(it, size == 8 ? 0xf6 : 0xf7);
	put_rm(it, &o, op);
	if (op == 0)
		put_imm(it, size, interesting());
	switch (op) {
	case 0:
		it->defines = ALL_FLAGS, it->undef = FUZZ_FL_AF;
		break;
	case 2:
		break;
	case 3:
		it->defines = ALL_FLAGS;
		break;
	case 4:
	case 5:
		it->defines = FUZZ_FL_CF | FUZZ_FL_OF;
		it->undef = FUZZ_FL_SF | FUZZ_FL_ZF | FUZZ_FL_AF | FUZZ_FL_PF;
		break;
	default:
		it->undef = ALL_FLAGS;
		break;
	}
}

/* INC/DEC r/m (and the one-byte register forms) */
static void gen_incdec(struct item *it, int depth)
{
	unsigned size = pick_size();
	if (size == 32 && chance(40)) {
		put(it, (uint8_t)((chance(50) ? 0x40 : 0x48) | dst_reg(32)));
	} else {
		if (size == 16)
			put(it, 0x66);
		struct rm o = pick_rm(size, true, depth, true);
		put_mem_prefixes(it, &o, true);
		put(it, size == 8 ? 0xfe : 0xff);
		put_rm(it, &o, rnd(2));
	}
	it->defines = ALL_FLAGS & ~FUZZ_FL_CF;
}

/* Shifts and rotates by 1, an immediate or CL. */
static void gen_shift(struct item *it, int depth)
{
	unsigned op = rnd(8), size = pick_size(), form = rnd(3);
	if (op == 6)
		op = 4; /* /6 is an undocumented alias of shl */
	if (size == 16)
		put(it, 0x66);
	struct rm o = pick_rm(size, true, depth, true);
	put_mem_prefixes(it, &o, false);
	unsigned base = form == 0 ? 0xd0 : form == 1 ? 0xc0 : 0xd2;
	put(it, (uint8_t)(base | (size == 8 ? 0 : 1)));
	put_rm(it, &o, op);
	unsigned count = 1;
	if (form == 1) {
		count = chance(50) ? rnd(33) : rnd(256);
		put(it, (uint8_t)count);
	}
	bool known = form != 2;
	unsigned masked = count & 31;
	if (op == 2 || op == 3)
		it->reads = FUZZ_FL_CF;
	if (known && masked == 0)
		return; /* flags untouched */
	if (!known) {
		/* CL may be 0 (flags untouched, defined or not) or not:
		 * nothing becomes defined, OF, AF and CF may become undefined */
		it->undef = FUZZ_FL_OF | FUZZ_FL_AF | FUZZ_FL_CF;
		return;
	}
	bool one = known && masked == 1;
	if (op <= 3) { /* rol ror rcl rcr: CF, and OF for a count of 1 */
		it->defines = FUZZ_FL_CF | (one ? FUZZ_FL_OF : 0);
		it->undef = one ? 0 : FUZZ_FL_OF;
		if (size < 32 && (op <= 1 ? masked % size : masked % (size + 1)) == 0) {
			/* a rotation by a multiple of the width: the value is
			 * unchanged, and models differ on CF: leave it out */
			it->undef |= FUZZ_FL_CF;
			it->defines &= ~FUZZ_FL_CF;
		}
	} else {
		it->defines = ALL_FLAGS & ~FUZZ_FL_AF & ~(one ? 0 : FUZZ_FL_OF);
		it->undef = FUZZ_FL_AF | (one ? 0 : FUZZ_FL_OF);
		if (size < 32 && masked >= size) {
			/* shifting everything out (or maybe nothing): CF per model */
			it->undef |= FUZZ_FL_CF;
			it->defines &= ~FUZZ_FL_CF;
		}
	}
}

/* SHLD/SHRD, 32-bit (a 16-bit count above 16 leaves the result undefined) */
static void gen_shxd(struct item *it, int depth)
{
	bool cl = chance(50);
	struct rm o = pick_rm(32, true, depth, true);
	put_mem_prefixes(it, &o, false);
	put(it, 0x0f);
	put(it, (uint8_t)((chance(50) ? 0xa4 : 0xac) + (cl ? 1 : 0)));
	put_rm(it, &o, src_reg(32));
	unsigned count = 1;
	if (!cl) {
		count = rnd(32);
		put(it, (uint8_t)count);
	}
	if (!cl && count == 0)
		return;
	it->undef = FUZZ_FL_AF | FUZZ_FL_OF | FUZZ_FL_CF;
	if (cl)
		return; /* CL may be 0: nothing becomes defined */
	it->defines = FUZZ_FL_SF | FUZZ_FL_ZF | FUZZ_FL_PF;
	if (!cl && count == 1)
		it->undef &= ~FUZZ_FL_OF, it->defines |= FUZZ_FL_OF;
	if (!cl)
		it->undef &= ~FUZZ_FL_CF, it->defines |= FUZZ_FL_CF;
}

/* imul r, r/m and imul r, r/m, imm */
static void gen_imul(struct item *it, int depth)
{
	unsigned size = chance(25) ? 16 : 32, form = rnd(3);
	if (size == 16)
		put(it, 0x66);
	struct rm o = pick_rm(size, false, depth, true);
	put_mem_prefixes(it, &o, false);
	if (form == 0) {
		put(it, 0x0f);
		put(it, 0xaf);
		put_rm(it, &o, dst_reg(size));
	} else {
		put(it, form == 1 ? 0x6b : 0x69);
		put_rm(it, &o, dst_reg(size));
		put_imm(it, form == 1 ? 8 : size, interesting());
	}
	it->defines = FUZZ_FL_CF | FUZZ_FL_OF;
	it->undef = FUZZ_FL_SF | FUZZ_FL_ZF | FUZZ_FL_AF | FUZZ_FL_PF;
}

/* bt bts btr btc: register offsets only on registers (a register offset
 * on memory addresses a bit string beyond the operand) */
static void gen_bt(struct item *it, int depth)
{
	unsigned size = chance(25) ? 16 : 32, op = rnd(4);
	if (size == 16)
		put(it, 0x66);
	if (chance(50)) {
		struct rm o = pick_rm(size, op != 0, depth, true);
		put_mem_prefixes(it, &o, op != 0);
		put(it, 0x0f);
		put(it, 0xba);
		put_rm(it, &o, 4 + op);
		put(it, (uint8_t)rnd(256));
	} else {
		struct rm o = pick_rm(size, op != 0, depth, false);
		put(it, 0x0f);
		put(it, (uint8_t)(0xa3 + 8 * op));
		put_rm(it, &o, src_reg(size));
	}
	it->defines = FUZZ_FL_CF;
	it->undef = ALL_FLAGS & ~FUZZ_FL_CF;
}

/* bsf bsr (a zero source leaves the destination as it was); with a REP
 * now and then, which the virtual CPU (no LZCNT/TZCNT) ignores */
static void gen_bsx(struct item *it, int depth)
{
	unsigned size = chance(25) ? 16 : 32;
	if (size == 16)
		put(it, 0x66);
	if (chance(30))
		put(it, 0xf3);
	struct rm o = pick_rm(size, false, depth, true);
	put_mem_prefixes(it, &o, false);
	put(it, 0x0f);
	put(it, chance(50) ? 0xbc : 0xbd);
	put_rm(it, &o, dst_reg(size));
	it->defines = FUZZ_FL_ZF;
	it->undef = ALL_FLAGS & ~FUZZ_FL_ZF;
}

/* mov in all its integer forms, movzx/movsx, lea, xchg, bswap */
static void gen_move(struct item *it, int depth)
{
	unsigned size = pick_size();
	struct rm o;
	switch (rnd(8)) {
	case 0: /* mov r/m, r */
		if (size == 16)
			put(it, 0x66);
		o = pick_rm(size, true, depth, true);
		put_mem_prefixes(it, &o, false);
		put(it, size == 8 ? 0x88 : 0x89);
		put_rm(it, &o, src_reg(size));
		break;
	case 1: /* mov r, r/m */
		if (size == 16)
			put(it, 0x66);
		o = pick_rm(size, false, depth, true);
		put_mem_prefixes(it, &o, false);
		put(it, size == 8 ? 0x8a : 0x8b);
		put_rm(it, &o, dst_reg(size));
		break;
	case 2: /* mov r/m, imm or mov r, imm */
		if (size == 16)
			put(it, 0x66);
		if (chance(50)) {
			o = pick_rm(size, true, depth, true);
			put_mem_prefixes(it, &o, false);
			put(it, size == 8 ? 0xc6 : 0xc7);
			put_rm(it, &o, 0);
		} else {
			put(it, (uint8_t)((size == 8 ? 0xb0 : 0xb8) | dst_reg(size)));
		}
		put_imm(it, size, interesting());
		break;
	case 3: { /* movzx / movsx */
		unsigned from = chance(50) ? 8 : 16, to = from == 8 && chance(30) ? 16 : 32;
		if (to == 16)
			put(it, 0x66);
		o = pick_rm(from, false, depth, true);
		put_mem_prefixes(it, &o, false);
		put(it, 0x0f);
		put(it, (uint8_t)((chance(50) ? 0xb6 : 0xbe) | (from == 16 ? 1 : 0)));
		put_rm(it, &o, dst_reg(to));
		break;
	}
	case 4: { /* lea r32, [base + index*scale + disp]: any registers */
		put(it, 0x8d);
		unsigned reg = dst_reg(32), base = rnd(8), index = rnd(8), scale = rnd(4);
		unsigned mod = rnd(3);
		if (base == 5 && mod == 0)
			mod = 1;
		put(it, (uint8_t)(mod << 6 | reg << 3 | 4));
		put(it, (uint8_t)(scale << 6 | index << 3 | base));
		if (mod == 1)
			put(it, (uint8_t)rnd(256));
		else if (mod == 2)
			put32(it, interesting());
		break;
	}
	case 5: /* xchg r/m, r (lock implied on memory) */
		if (size == 16)
			put(it, 0x66);
		o = pick_rm(size, true, depth, true);
		put_mem_prefixes(it, &o, true);
		put(it, size == 8 ? 0x86 : 0x87);
		put_rm(it, &o, dst_reg(size));
		break;
	case 6: /* bswap */
		put(it, 0x0f);
		put(it, (uint8_t)(0xc8 | dst_reg(32)));
		break;
	default: /* cbw/cwde, cwd/cdq */
		if (chance(30))
			put(it, 0x66);
		put(it, chance(50) ? 0x98 : 0x99);
		break;
	}
}

/* cmpxchg, xadd */
static void gen_atomic(struct item *it, int depth)
{
	unsigned size = pick_size();
	/* Not CMPXCHG8B: QEMU 7.2's TCG leaves stray bits in EFLAGS after it
	 * (CF and OF cleared, DF set after a SUB), so it is no oracle there. */
	unsigned kind = rnd(2);
	if (size == 16)
		put(it, 0x66);
	struct rm o = pick_rm(size, true, depth, true);
	put_mem_prefixes(it, &o, true);
	put(it, 0x0f);
	put(it, (uint8_t)((kind == 0 ? 0xb0 : 0xc0) | (size == 8 ? 0 : 1)));
	put_rm(it, &o, dst_reg(size));
	it->defines = ALL_FLAGS;
}

/* setcc, cmovcc, and flag instructions */
static void gen_flags(struct item *it, int depth)
{
	static const uint32_t cc_reads[16] = {
		FUZZ_FL_OF, FUZZ_FL_OF, FUZZ_FL_CF, FUZZ_FL_CF, FUZZ_FL_ZF, FUZZ_FL_ZF,
		FUZZ_FL_CF | FUZZ_FL_ZF, FUZZ_FL_CF | FUZZ_FL_ZF, FUZZ_FL_SF, FUZZ_FL_SF,
		FUZZ_FL_PF, FUZZ_FL_PF, FUZZ_FL_SF | FUZZ_FL_OF, FUZZ_FL_SF | FUZZ_FL_OF,
		FUZZ_FL_SF | FUZZ_FL_OF | FUZZ_FL_ZF, FUZZ_FL_SF | FUZZ_FL_OF | FUZZ_FL_ZF,
	};
	unsigned cc = rnd(16);
	switch (rnd(5)) {
	case 0: {
		struct rm o = pick_rm(8, true, depth, true);
		put_mem_prefixes(it, &o, false);
		put(it, 0x0f);
		put(it, (uint8_t)(0x90 | cc));
		put_rm(it, &o, 0);
		it->reads = cc_reads[cc];
		break;
	}
	case 1: {
		unsigned size = chance(25) ? 16 : 32;
		if (size == 16)
			put(it, 0x66);
		struct rm o = pick_rm(size, false, depth, true);
		put_mem_prefixes(it, &o, false);
		put(it, 0x0f);
		put(it, (uint8_t)(0x40 | cc));
		put_rm(it, &o, dst_reg(size));
		it->reads = cc_reads[cc];
		break;
	}
	case 2: /* clc stc cmc */
		put(it, (uint8_t[]){ 0xf8, 0xf9, 0xf5 }[rnd(3)]);
		it->reads = it->b[it->len - 1] == 0xf5 ? FUZZ_FL_CF : 0;
		it->defines = FUZZ_FL_CF;
		break;
	case 3: /* lahf, sahf */
		if (chance(50)) {
			put(it, 0x9f);
			it->reads = FUZZ_FL_SF | FUZZ_FL_ZF | FUZZ_FL_AF | FUZZ_FL_PF | FUZZ_FL_CF;
		} else {
			put(it, 0x9e);
			it->defines = FUZZ_FL_SF | FUZZ_FL_ZF | FUZZ_FL_AF | FUZZ_FL_PF | FUZZ_FL_CF;
		}
		break;
	default: /* cld, std */
		put(it, chance(50) ? 0xfc : 0xfd);
		break;
	}
}

/* push and pop */
static void gen_stack(struct item *it, int depth)
{
	unsigned kind = rnd(depth >= 4 ? 6 : 3);
	switch (kind) {
	case 0:
		put(it, (uint8_t)(0x50 | rnd(8)));
		it->depth_delta = 4;
		break;
	case 1:
		if (chance(50)) {
			put(it, 0x6a);
			put(it, (uint8_t)interesting());
		} else {
			put(it, 0x68);
			put32(it, interesting());
		}
		it->depth_delta = 4;
		break;
	case 2: { /* push [mem] */
		struct rm o = pick_rm(32, false, depth, true);
		if (!o.mem)
			o = (struct rm){ .mem = true, .disp = (int)rnd(252) - 128, .bytes = 4 };
		put_mem_prefixes(it, &o, false);
		put(it, 0xff);
		put_rm(it, &o, 6);
		it->depth_delta = 4;
		break;
	}
	case 3:
	case 4:
		put(it, (uint8_t)(0x58 | dst_reg(32)));
		it->depth_delta = -4;
		it->need_depth = 4;
		break;
	default: { /* pop [ebp + d] */
		struct rm o = { .mem = true, .disp = (int)rnd(252) - 128, .bytes = 4 };
		put_mem_prefixes(it, &o, false);
		put(it, 0x8f);
		put_rm(it, &o, 0);
		it->depth_delta = -4;
		it->need_depth = 4;
		break;
	}
	}
}

/* string instructions (rep forms included) and xlat, with their setup */
static void gen_string(struct item *it, int depth)
{
	(void)depth;
	if (chance(15)) {
		put(it, 0x8d); put(it, 0x5d); put(it, 0x80); /* lea ebx, [ebp-128] */
		put(it, 0xd7);                               /* xlat */
		return;
	}
	put(it, 0x8d); put(it, 0x75); put(it, (uint8_t)(int8_t)((int)rnd(177) - 88)); /* lea esi, [ebp+x] */
	put(it, 0x8d); put(it, 0x7d); put(it, (uint8_t)(int8_t)((int)rnd(177) - 88)); /* lea edi, [ebp+y] */
	uint32_t n = rnd(9);
	put(it, 0xb9); put32(it, n);                                                 /* mov ecx, n */
	static const uint8_t ops[] = { 0xa4, 0xa5, 0xa6, 0xa7, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf };
	uint8_t op = ops[rnd(sizeof ops)];
	bool cmp = op == 0xa6 || op == 0xa7 || op == 0xae || op == 0xaf;
	bool rep = chance(70);
	if (rep)
		put(it, cmp && chance(50) ? 0xf2 : 0xf3);
	if ((op & 1) && chance(30))
		put(it, 0x66);
	if (chance(10))
		put(it, (uint8_t[]){ 0x26, 0x2e, 0x36, 0x3e, 0x64, 0x65 }[rnd(6)]);
	put(it, op);
	it->reads = FUZZ_FL_DF;
	if (cmp && (!rep || n))
		it->defines = ALL_FLAGS; /* a REP with ECX 0 leaves them */
}

/* Instructions of extensions the virtual CPUID does not claim (POPCNT,
 * MOVBE, CRC32, SSSE3's PSHUFB, SSE4.1's PTEST): #UD, as on a CPU
 * without them. */
static void gen_absent(struct item *it, int depth)
{
	struct rm o = pick_rm(32, false, depth, false);
	switch (rnd(5)) {
	case 0:
		put(it, 0xf3), put(it, 0x0f), put(it, 0xb8); /* popcnt r32, r/m32 */
		break;
	case 1:
		o = (struct rm){ .mem = true, .disp = (int)rnd(252) - 128, .bytes = 4 };
		put(it, 0x0f), put(it, 0x38), put(it, 0xf0); /* movbe r32, m32 */
		break;
	case 2:
		put(it, 0xf2), put(it, 0x0f), put(it, 0x38), put(it, 0xf1); /* crc32 r32, r/m32 */
		break;
	case 3:
		put(it, 0x0f), put(it, 0x38), put(it, 0x00); /* pshufb mm, mm/m64 */
		o.mem = false;
		o.reg = rnd(8);
		break;
	default:
		put(it, 0x66), put(it, 0x0f), put(it, 0x38), put(it, 0x17); /* ptest xmm, xmm */
		o.mem = false;
		o.reg = rnd(8);
		break;
	}
	put_rm(it, &o, dst_reg(32));
}

typedef void (*gen_fn)(struct item *, int);
static const struct {
	gen_fn fn;
	unsigned weight;
} gens[] = {
	{ gen_alu, 20 }, { gen_group3, 8 }, { gen_incdec, 5 }, { gen_shift, 10 },
	{ gen_shxd, 3 }, { gen_imul, 4 }, { gen_bt, 4 }, { gen_bsx, 2 },
	{ gen_move, 14 }, { gen_atomic, 4 }, { gen_flags, 8 }, { gen_stack, 12 },
	{ gen_string, 5 }, { gen_absent, 1 },
};

static void gen_one(struct item *it, int depth)
{
	unsigned total = 0;
	for (size_t i = 0; i < sizeof gens / sizeof gens[0]; i++)
		total += gens[i].weight;
	unsigned r = rnd(total);
	for (size_t i = 0; i < sizeof gens / sizeof gens[0]; i++) {
		if (r < gens[i].weight) {
			gens[i].fn(it, depth);
			return;
		}
		r -= gens[i].weight;
	}
}

/* `add r32, 0`: every arithmetic flag defined, no register changed */
static void put_definer(struct item *it)
{
	struct item d = { 0 };
	put(&d, 0x83);
	put(&d, (uint8_t)(0xc0 | dst_reg(32)));
	put(&d, 0);
	memcpy(d.b + d.len, it->b, it->len);
	d.len += it->len;
	memcpy(it->b, d.b, d.len);
	it->len = d.len;
	it->has_definer = true;
}

/* A forward jcc, LOOP or JECXZ over `next` (both paths go on). */
static void wrap_jump(struct item *it, const struct item *next)
{
	static const uint32_t reads[8] = { FUZZ_FL_OF, FUZZ_FL_CF, FUZZ_FL_ZF,
					   FUZZ_FL_CF | FUZZ_FL_ZF, FUZZ_FL_SF, FUZZ_FL_PF,
					   FUZZ_FL_SF | FUZZ_FL_OF,
					   FUZZ_FL_SF | FUZZ_FL_OF | FUZZ_FL_ZF };
	unsigned kind = rnd(10);
	if (kind < 8) {
		unsigned cc = rnd(16);
		put(it, (uint8_t)(0x70 | cc));
		it->reads = reads[cc >> 1];
	} else {
		put(it, kind == 8 ? 0xe2 : 0xe3); /* loop / jecxz */
	}
	put(it, (uint8_t)next->len);
	memcpy(it->b + it->len, next->b, next->len);
	it->len += next->len;
	/* Taken or not: what next leaves undefined may be undefined. */
	it->undef = next->undef;
	it->need_depth = next->need_depth;
	it->reads |= next->reads;
}

/* ---- sequences ---- */

struct seq {
	struct item items[FUZZ_MAX_ITEMS];
	unsigned n;
	struct fuzz_record rec;
	uint8_t code[FUZZ_MAX_ITEMS * 64 + 16];
	unsigned body_len;  /* the code before the epilogue */
};

static void seed_for(uint64_t seed, uint32_t index)
{
	rng = seed * 0x100000001b3ull ^ ((uint64_t)index << 32 | index);
	(void)next64();
}

/* Items of sequence `index` (all of them; --keep filters later). */
static void generate(struct seq *s, uint64_t seed, uint32_t index)
{
	seed_for(seed, index);
	memset(s, 0, sizeof *s);
	for (int r = 0; r < 6; r++)
		s->rec.gpr[r] = interesting();
	s->rec.eflags = (uint32_t)next64() & ALL_FLAGS;
	if (chance(20))
		s->rec.eflags |= FUZZ_FL_DF;
	s->rec.buf_seed = (uint32_t)next64() | 1;
	unsigned n = 4 + rnd(FUZZ_MAX_ITEMS - 4);
	int depth = 0;
	uint32_t undef = 0;
	for (unsigned i = 0; i < n; i++) {
		struct item *it = &s->items[s->n];
		memset(it, 0, sizeof *it);
		if (chance(8)) {
			struct item next = { 0 };
			do {
				memset(&next, 0, sizeof next);
				gen_one(&next, depth);
			} while (next.depth_delta != 0 || next.len > 40);
			wrap_jump(it, &next);
		} else {
			gen_one(it, depth);
		}
		if (it->need_depth > depth)
			continue; /* a pop with nothing pushed: drop it */
		if (it->reads & undef)
			put_definer(it), undef = 0;
		undef = (undef & ~it->defines) | it->undef;
		depth += it->depth_delta;
		s->n++;
	}
}

/*
 * Lay out the kept items as code (ESP restored, then RET) and fill the
 * record; false if the kept items are not a valid sequence.
 */
static bool assemble(struct seq *s, const bool *keep)
{
	int depth = 0;
	uint32_t undef = 0;
	unsigned len = 0, n_items = 0;
	for (unsigned i = 0; i < s->n; i++) {
		const struct item *it = &s->items[i];
		if (keep && !keep[i])
			continue;
		if (it->need_depth > depth)
			return false;
		if (!it->has_definer && (it->reads & undef))
			return false;
		s->rec.items[n_items].off = (uint16_t)len;
		s->rec.items[n_items].mask = (uint16_t)((ALL_FLAGS & ~undef) | FUZZ_FL_DF);
		n_items++;
		if (it->has_definer)
			undef = 0;
		undef = (undef & ~it->defines) | it->undef;
		depth += it->depth_delta;
		memcpy(s->code + len, it->b, it->len);
		len += it->len;
	}
	s->body_len = len;
	if (depth) { /* lea esp, [esp + depth] */
		s->code[len++] = 0x8d;
		s->code[len++] = 0xa4;
		s->code[len++] = 0x24;
		uint32_t d = (uint32_t)depth;
		memcpy(s->code + len, &d, 4);
		len += 4;
	}
	s->code[len++] = 0xc3;
	s->rec.code_len = len;
	s->rec.n_items = n_items;
	s->rec.end_mask = (ALL_FLAGS & ~undef) | FUZZ_FL_DF;
	s->rec.size = (uint32_t)((sizeof s->rec + len + 3) & ~3u);
	return true;
}

/* ---- output ---- */

static void disassemble(const struct seq *s, const bool *keep)
{
	ZydisDecoder dec;
	ZydisFormatter fmt;
	ZydisDecoderInit(&dec, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
	ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_INTEL);
	printf("start: eax=%08x ecx=%08x edx=%08x ebx=%08x esi=%08x edi=%08x eflags=%03x "
	       "ebp=buffer+128 (buffer seed %08x)\n", s->rec.gpr[0], s->rec.gpr[1], s->rec.gpr[2],
	       s->rec.gpr[3], s->rec.gpr[4], s->rec.gpr[5], s->rec.eflags, s->rec.buf_seed);
	unsigned k = 0;
	for (unsigned i = 0; i < s->n; i++) {
		if (keep && !keep[i])
			continue;
		unsigned end = k + 1 < s->rec.n_items ? s->rec.items[k + 1].off : s->body_len;
		for (unsigned off = s->rec.items[k].off; off < end;) {
			ZydisDecodedInstruction zi;
			ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
			char text[128] = "(undecodable)";
			unsigned l = 1;
			if (ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, s->code + off, end - off, &zi, ops))) {
				ZydisFormatterFormatInstruction(&fmt, &zi, ops, zi.operand_count_visible,
								text, sizeof text, off, NULL);
				l = zi.length;
			}
			printf("  item %2u  +%03x  ", i, off);
			for (unsigned b = 0; b < 10; b++)
				printf(b < l ? "%02x" : "  ", s->code[off + b]);
			printf("  %s\n", text);
			off += l;
		}
		k++;
	}
	printf("  (then the epilogue: restore ESP, ret)\n");
}

/* File offset of symbol `name` in the ELF, and the room behind it. */
static bool find_symbol(int fd, const char *name, off_t *off, size_t *room)
{
	if (elf_version(EV_CURRENT) == EV_NONE)
		return false;
	Elf *e = elf_begin(fd, ELF_C_READ, NULL);
	if (!e)
		return false;
	bool found = false;
	Elf_Scn *scn = NULL;
	GElf_Addr value = 0;
	while (!found && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *n;
			if (gelf_getsym(d, (int)i, &sym) &&
			    (n = elf_strptr(e, sh.sh_link, sym.st_name)) && !strcmp(n, name)) {
				value = sym.st_value;
				found = true;
				break;
			}
		}
	}
	bool ok = false;
	for (scn = NULL; found && !ok && (scn = elf_nextscn(e, scn));) {
		GElf_Shdr sh;
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_PROGBITS &&
		    value >= sh.sh_addr && value < sh.sh_addr + sh.sh_size) {
			*off = (off_t)(sh.sh_offset + (value - sh.sh_addr));
			*room = (size_t)(sh.sh_addr + sh.sh_size - value);
			ok = true;
		}
	}
	elf_end(e);
	return ok;
}

static int usage(void)
{
	fprintf(stderr, "usage: fuzzgen --seed S [--count N] (--image IN.elf --out OUT.elf | --print)\n"
			"               [--only I [--keep i,j,...]] [--verbose] [--ring3]\n");
	return 2;
}

static bool parse_keep(const char *list, bool *keep)
{
	memset(keep, 0, FUZZ_MAX_ITEMS * sizeof *keep);
	for (const char *p = list; *p;) {
		char *end;
		unsigned long v = strtoul(p, &end, 10);
		if (end == p || v >= FUZZ_MAX_ITEMS)
			return false;
		keep[v] = true;
		p = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return false;
	}
	return true;
}

int main(int argc, char **argv)
{
	uint64_t seed = 0;
	bool have_seed = false, print = false, verbose = false, only = false, ring3 = false;
	uint32_t count = 1000, index = 0;
	const char *image = NULL, *out = NULL, *keep_list = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--print")) {
			print = true;
			continue;
		}
		if (!strcmp(a, "--verbose")) {
			verbose = true;
			continue;
		}
		if (!strcmp(a, "--ring3")) {
			ring3 = true;
			continue;
		}
		if (!v)
			return usage();
		i++;
		char *end;
		if (!strcmp(a, "--seed")) {
			seed = strtoull(v, &end, 0);
			have_seed = *end == '\0';
		} else if (!strcmp(a, "--count")) {
			count = (uint32_t)strtoul(v, &end, 0);
			if (*end || count == 0 || count > 100000)
				return usage();
		} else if (!strcmp(a, "--only")) {
			index = (uint32_t)strtoul(v, &end, 0);
			only = *end == '\0';
			if (!only)
				return usage();
		} else if (!strcmp(a, "--keep")) {
			keep_list = v;
		} else if (!strcmp(a, "--image")) {
			image = v;
		} else if (!strcmp(a, "--out")) {
			out = v;
		} else {
			return usage();
		}
	}
	if (!have_seed || (keep_list && !only) || (!print && (!image || !out)))
		return usage();

	bool keep_buf[FUZZ_MAX_ITEMS], *keep = NULL;
	if (keep_list) {
		if (!parse_keep(keep_list, keep_buf))
			return usage();
		keep = keep_buf;
	}
	static struct seq s;
	if (print) {
		generate(&s, seed, index);
		if (!assemble(&s, keep))
			return 3;
		disassemble(&s, keep);
		return 0;
	}

	uint8_t *blob = calloc(1, FUZZ_BLOB_SIZE);
	if (!blob) {
		fprintf(stderr, "fuzzgen: out of memory\n");
		return 2;
	}
	struct fuzz_header h = { .magic = FUZZ_MAGIC, .verbose = verbose,
				 .first = only ? index : 0, .ring3 = ring3 };
	size_t len = sizeof h;
	uint32_t first = only ? index : 0, last = only ? index + 1 : count;
	for (uint32_t i = first; i < last; i++) {
		generate(&s, seed, i);
		if (!assemble(&s, keep)) {
			free(blob);
			return 3;
		}
		if (len + s.rec.size > FUZZ_BLOB_SIZE)
			break; /* full: the count printed says how many */
		memcpy(blob + len, &s.rec, sizeof s.rec);
		memcpy(blob + len + sizeof s.rec, s.code, s.rec.code_len);
		len += s.rec.size;
		h.count++;
	}
	memcpy(blob, &h, sizeof h);

	int status = 2;
	int in = open(image, O_RDONLY);
	off_t off;
	size_t room;
	if (in < 0 || !find_symbol(in, "fuzz_blob", &off, &room) || room < FUZZ_BLOB_SIZE) {
		fprintf(stderr, "fuzzgen: %s: no fuzz_blob of %u bytes in it\n", image, FUZZ_BLOB_SIZE);
		goto done;
	}
	off_t size = lseek(in, 0, SEEK_END);
	uint8_t *file = size > 0 ? malloc((size_t)size) : NULL;
	if (!file || pread(in, file, (size_t)size, 0) != size) {
		fprintf(stderr, "fuzzgen: cannot read %s\n", image);
		free(file);
		goto done;
	}
	memcpy(file + off, blob, FUZZ_BLOB_SIZE);
	FILE *f = fopen(out, "wb");
	if (!f || fwrite(file, 1, (size_t)size, f) != (size_t)size || fclose(f) != 0) {
		fprintf(stderr, "fuzzgen: cannot write %s: %s\n", out, strerror(errno));
		free(file);
		goto done;
	}
	free(file);
	printf("%u\n", h.count);
	status = 0;
done:
	if (in >= 0)
		close(in);
	free(blob);
	return status;
}
