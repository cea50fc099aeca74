/* monitor: instructions whose memory operand the S-view cannot reach, done through the monitor's view of memory (and so against device models). */
#include "emulate.h"
#include "monitor.h"

/*
 * Translated code reaches guest RAM through the S-view; an access it cannot
 * make there (a device's MMIO page, an address no RAM backs, the pages
 * below vm.mmap_min_addr, a page-table write adaptive translation sends
 * here) comes to emu_memory. Every operand goes through emu_read_op and
 * emu_write_op, so memory.c sends device addresses to the device models:
 * a read-modify-write instruction reads the device once and writes it once,
 * a CMP or TEST only reads it, a store only writes it — what the bus sees
 * from a real CPU. One vCPU: LOCK needs nothing more.
 *
 * Arithmetic runs on the host (same architecture): the guest's arithmetic
 * flags go in, the host's instruction computes result and flags. Defined
 * flags are exact; undefined ones are what this CPU leaves (QEMU computes
 * its own: docs/fidelity.md).
 */

#define ARITH (BT_FL_CF | BT_FL_PF | BT_FL_AF | BT_FL_ZF | BT_FL_SF | BT_FL_OF)

/* One host instruction on x (and y), with the flags in `fl`. The asm
 * pushes, so it steps over the red zone below RSP first. */
#define HOST_OP(text, T, ycons)                                                \
	do {                                                                   \
		T x_ = (T)a;                                                   \
		T y_ = (T)b;                                                   \
		__asm__ volatile("lea -128(%%rsp), %%rsp\n\tpush %[fl]\n\tpopfq\n\t" \
				 text "\n\tpushfq\n\tpop %[fl]\n\tlea 128(%%rsp), %%rsp" \
				 : [x] "+r"(x_), [fl] "+r"(fl)                 \
				 : [y] ycons(y_)                               \
				 : "cc");                                      \
		r = x_;                                                        \
	} while (0)

/* host_NAME(size, a, b, &eflags): `a OP b` at 1, 2 or 4 bytes. */
#define HOST_FN(name, text, ycons)                                             \
	static uint32_t host_##name(unsigned size, uint32_t a, uint32_t b,    \
				    uint32_t *eflags)                          \
	{                                                                      \
		uint64_t fl = (*eflags & ARITH) | 2;                           \
		uint32_t r;                                                    \
		if (size == 1)                                                 \
			HOST_OP(text, uint8_t, ycons);                         \
		else if (size == 2)                                            \
			HOST_OP(text, uint16_t, ycons);                        \
		else                                                           \
			HOST_OP(text, uint32_t, ycons);                        \
		*eflags = (*eflags & ~ARITH) | ((uint32_t)fl & ARITH);         \
		return r;                                                      \
	}

/* The same for instructions without a byte form (BT, IMUL r, r/m). */
#define HOST_FN_WIDE(name, text, ycons)                                        \
	static uint32_t host_##name(unsigned size, uint32_t a, uint32_t b,    \
				    uint32_t *eflags)                          \
	{                                                                      \
		uint64_t fl = (*eflags & ARITH) | 2;                           \
		uint32_t r;                                                    \
		if (size == 2)                                                 \
			HOST_OP(text, uint16_t, ycons);                        \
		else                                                           \
			HOST_OP(text, uint32_t, ycons);                        \
		*eflags = (*eflags & ~ARITH) | ((uint32_t)fl & ARITH);         \
		return r;                                                      \
	}

HOST_FN(add, "add %[y], %[x]", "r")
HOST_FN(or, "or %[y], %[x]", "r")
HOST_FN(adc, "adc %[y], %[x]", "r")
HOST_FN(sbb, "sbb %[y], %[x]", "r")
HOST_FN(and, "and %[y], %[x]", "r")
HOST_FN(sub, "sub %[y], %[x]", "r")
HOST_FN(xor, "xor %[y], %[x]", "r")
HOST_FN(cmp, "cmp %[y], %[x]", "r")
HOST_FN(test, "test %[y], %[x]", "r")
HOST_FN(inc, "inc %[x]", "r")
HOST_FN(dec, "dec %[x]", "r")
HOST_FN(neg, "neg %[x]", "r")
HOST_FN(rol, "rol %b[y], %[x]", "c")
HOST_FN(ror, "ror %b[y], %[x]", "c")
HOST_FN(rcl, "rcl %b[y], %[x]", "c")
HOST_FN(rcr, "rcr %b[y], %[x]", "c")
HOST_FN(shl, "shl %b[y], %[x]", "c")
HOST_FN(shr, "shr %b[y], %[x]", "c")
HOST_FN(sar, "sar %b[y], %[x]", "c")
HOST_FN_WIDE(bt, "bt %[y], %[x]", "r")
HOST_FN_WIDE(bts, "bts %[y], %[x]", "r")
HOST_FN_WIDE(btr, "btr %[y], %[x]", "r")
HOST_FN_WIDE(btc, "btc %[y], %[x]", "r")
HOST_FN_WIDE(imul2, "imul %[y], %[x]", "r")

/* SHLD/SHRD x, y, CL: the third operand rides in the flags word's place. */
static uint32_t host_double_shift(bool left, unsigned size, uint32_t a,
				  uint32_t b, uint8_t count, uint32_t *eflags)
{
	uint64_t fl = (*eflags & ARITH) | 2;
	uint32_t r;
#define DSHIFT(text, T)                                                        \
	do {                                                                   \
		T x_ = (T)a, y_ = (T)b;                                        \
		__asm__ volatile("lea -128(%%rsp), %%rsp\n\tpush %[fl]\n\tpopfq\n\t" \
				 text "\n\tpushfq\n\tpop %[fl]\n\tlea 128(%%rsp), %%rsp" \
				 : [x] "+r"(x_), [fl] "+r"(fl)                 \
				 : [y] "r"(y_), [c] "c"(count)                 \
				 : "cc");                                      \
		r = x_;                                                        \
	} while (0)
	if (size == 2 && left)
		DSHIFT("shld %[c], %[y], %[x]", uint16_t);
	else if (size == 2)
		DSHIFT("shrd %[c], %[y], %[x]", uint16_t);
	else if (left)
		DSHIFT("shld %[c], %[y], %[x]", uint32_t);
	else
		DSHIFT("shrd %[c], %[y], %[x]", uint32_t);
#undef DSHIFT
	*eflags = (*eflags & ~ARITH) | ((uint32_t)fl & ARITH);
	return r;
}

typedef uint32_t host_fn(unsigned size, uint32_t a, uint32_t b, uint32_t *eflags);

/* The two-operand ALU instructions and what each does with its result. */
static const struct alu_row {
	ZydisMnemonic m;
	host_fn *fn;
	bool writes; /* false: CMP, TEST, BT only set flags */
	bool wide;   /* no byte form */
	bool count_operand; /* the source is a shift count or bit offset */
} alu_rows[] = {
	{ ZYDIS_MNEMONIC_ADD, host_add, true, false, false },
	{ ZYDIS_MNEMONIC_OR, host_or, true, false, false },
	{ ZYDIS_MNEMONIC_ADC, host_adc, true, false, false },
	{ ZYDIS_MNEMONIC_SBB, host_sbb, true, false, false },
	{ ZYDIS_MNEMONIC_AND, host_and, true, false, false },
	{ ZYDIS_MNEMONIC_SUB, host_sub, true, false, false },
	{ ZYDIS_MNEMONIC_XOR, host_xor, true, false, false },
	{ ZYDIS_MNEMONIC_CMP, host_cmp, false, false, false },
	{ ZYDIS_MNEMONIC_TEST, host_test, false, false, false },
	{ ZYDIS_MNEMONIC_INC, host_inc, true, false, false },
	{ ZYDIS_MNEMONIC_DEC, host_dec, true, false, false },
	{ ZYDIS_MNEMONIC_NEG, host_neg, true, false, false },
	{ ZYDIS_MNEMONIC_ROL, host_rol, true, false, true },
	{ ZYDIS_MNEMONIC_ROR, host_ror, true, false, true },
	{ ZYDIS_MNEMONIC_RCL, host_rcl, true, false, true },
	{ ZYDIS_MNEMONIC_RCR, host_rcr, true, false, true },
	{ ZYDIS_MNEMONIC_SHL, host_shl, true, false, true },
	{ ZYDIS_MNEMONIC_SHR, host_shr, true, false, true },
	{ ZYDIS_MNEMONIC_SAR, host_sar, true, false, true },
	{ ZYDIS_MNEMONIC_BT, host_bt, false, true, true },
	{ ZYDIS_MNEMONIC_BTS, host_bts, true, true, true },
	{ ZYDIS_MNEMONIC_BTR, host_btr, true, true, true },
	{ ZYDIS_MNEMONIC_BTC, host_btc, true, true, true },
	{ ZYDIS_MNEMONIC_IMUL, host_imul2, true, true, false },
};

static const struct alu_row *alu_row_of(ZydisMnemonic m)
{
	for (size_t i = 0; i < sizeof alu_rows / sizeof alu_rows[0]; i++)
		if (alu_rows[i].m == m)
			return &alu_rows[i];
	return NULL;
}

/* Is condition `cc` (the low nibble of Jcc/SETcc/CMOVcc) true? */
static bool cond_true(uint32_t fl, unsigned cc)
{
	bool cf = fl & BT_FL_CF, zf = fl & BT_FL_ZF, sf = fl & BT_FL_SF,
	     of = fl & BT_FL_OF, pf = fl & BT_FL_PF;
	bool r;
	switch (cc >> 1) {
	case 0: r = of; break;
	case 1: r = cf; break;
	case 2: r = zf; break;
	case 3: r = cf || zf; break;
	case 4: r = sf; break;
	case 5: r = pf; break;
	case 6: r = sf != of; break;
	default: r = zf || sf != of; break;
	}
	return (cc & 1) ? !r : r;
}

static const ZydisDecodedOperand *memory_operand(const struct emu_insn *in)
{
	for (unsigned i = 0; i < in->zi.operand_count_visible; i++)
		if (in->ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY)
			return &in->ops[i];
	return NULL;
}

/*
 * BT/BTS/BTR/BTC with a register bit offset address memory beyond the
 * operand: the offset's signed word/dword index moves the address (SDM
 * vol. 2, BT). The returned operand copy points there; *bit is the offset
 * within it.
 */
static ZydisDecodedOperand bit_operand(struct mon_vm *vm, const struct emu_insn *in,
				       const ZydisDecodedOperand *m,
				       const ZydisDecodedOperand *off, uint32_t *bit)
{
	ZydisDecodedOperand moved = *m;
	unsigned bits = m->size;
	uint32_t v = emu_get_reg(vm, off->reg.value);
	int32_t index = bits == 16 ? (int16_t)v : (int32_t)v;
	int32_t words = index >= 0 ? index / (int32_t)bits
				   : -((-(index + 1)) / (int32_t)bits) - 1;
	moved.mem.disp.value += (int64_t)words * (int64_t)(bits / 8);
	*bit = (uint32_t)(index - words * (int32_t)bits);
	return moved;
}

/* ADD ... BTC, IMUL r, r/m (, imm): the table's instructions. */
static enum emu_result emu_alu(struct mon_vm *vm, const struct emu_insn *in,
			       const struct alu_row *row, struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	unsigned n = in->zi.operand_count_visible;
	unsigned size = dst->size / 8;
	uint32_t a = 0, b = 1; /* INC, DEC, NEG; shifts by 1 are explicit */
	if (row->wide && size == 1)
		return EMU_UNHANDLED;
	if (row->m == ZYDIS_MNEMONIC_IMUL) {
		/* IMUL r, r/m, imm: dst = src * imm; IMUL r, r/m: dst *= src.
		 * The one-operand form is emu_muldiv's. */
		if (n < 2)
			return EMU_UNHANDLED;
		const ZydisDecodedOperand *x = n == 3 ? src : dst, *y = n == 3 ? &in->ops[2] : src;
		if (!emu_read_op(vm, in, x, size, &a, f) || !emu_read_op(vm, in, y, size, &b, f))
			return EMU_FAULT;
		emu_set_reg(vm, dst->reg.value, row->fn(size, a, b, &cpu->eflags));
		return EMU_NEXT;
	}
	ZydisDecodedOperand target = *dst;
	if (n >= 2 && (row->m == ZYDIS_MNEMONIC_BT || row->m == ZYDIS_MNEMONIC_BTS ||
		       row->m == ZYDIS_MNEMONIC_BTR || row->m == ZYDIS_MNEMONIC_BTC) &&
	    dst->type == ZYDIS_OPERAND_TYPE_MEMORY && src->type == ZYDIS_OPERAND_TYPE_REGISTER) {
		target = bit_operand(vm, in, dst, src, &b);
	} else if (n >= 2 && !emu_read_op(vm, in, src, row->count_operand ? src->size / 8 : size,
					  &b, f)) {
		/* A count or bit offset is read at its own size; an
		 * immediate is sign-extended to the destination's. */
		return EMU_FAULT;
	}
	if (!emu_read_op(vm, in, &target, size, &a, f))
		return EMU_FAULT;
	uint32_t r = row->fn(size, a, b, &cpu->eflags);
	if (row->writes && !emu_write_op(vm, in, &target, size, r, f))
		return EMU_FAULT;
	return EMU_NEXT;
}

/* MUL, IMUL, DIV, IDIV r/m: the accumulator forms. */
static enum emu_result emu_muldiv(struct mon_vm *vm, const struct emu_insn *in,
				  struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	ZydisMnemonic m = in->zi.mnemonic;
	const ZydisDecodedOperand *op = &in->ops[0];
	unsigned size = op->size / 8, bits = size * 8;
	uint32_t v;
	if (!emu_read_op(vm, in, op, size, &v, f))
		return EMU_FAULT;
	uint64_t mask = emu_size_mask(size);
	uint64_t lo = cpu->gpr[BT_EAX] & mask;
	uint64_t hi = size == 1 ? (cpu->gpr[BT_EAX] >> 8) & 0xff : cpu->gpr[BT_EDX] & mask;
	uint64_t q, rem;
	bool sign = m == ZYDIS_MNEMONIC_IMUL || m == ZYDIS_MNEMONIC_IDIV;
	if (m == ZYDIS_MNEMONIC_MUL || m == ZYDIS_MNEMONIC_IMUL) {
		uint64_t prod;
		bool spill;
		if (sign) {
			int64_t p = (int64_t)((int32_t)(lo << (32 - bits)) >> (32 - bits)) *
				    (int64_t)((int32_t)(v << (32 - bits)) >> (32 - bits));
			prod = (uint64_t)p;
			spill = p != (int64_t)((int32_t)((uint32_t)p << (32 - bits)) >> (32 - bits));
		} else {
			prod = lo * v;
			spill = (prod >> bits) != 0;
		}
		q = prod & mask;
		rem = (prod >> bits) & mask; /* the high half */
		cpu->eflags &= ~(BT_FL_CF | BT_FL_OF);
		if (spill)
			cpu->eflags |= BT_FL_CF | BT_FL_OF;
	} else {
		uint64_t dividend = hi << bits | lo;
		if (v == 0) {
			mon_fault_set(f, EXC_DE, false, 0);
			return EMU_FAULT;
		}
		if (sign) {
			int64_t d = (int64_t)(dividend << (64 - 2 * bits)) >> (64 - 2 * bits);
			int64_t s = (int64_t)((int32_t)(v << (32 - bits)) >> (32 - bits));
			if (d == INT64_MIN && s == -1) {
				mon_fault_set(f, EXC_DE, false, 0);
				return EMU_FAULT;
			}
			int64_t sq = d / s, sr = d % s;
			int64_t limit = (int64_t)1 << (bits - 1);
			if (sq >= limit || sq < -limit) {
				mon_fault_set(f, EXC_DE, false, 0);
				return EMU_FAULT;
			}
			q = (uint64_t)sq & mask;
			rem = (uint64_t)sr & mask;
		} else {
			q = dividend / v;
			rem = dividend % v;
			if (q > mask) {
				mon_fault_set(f, EXC_DE, false, 0);
				return EMU_FAULT;
			}
		}
	}
	/* q: AL/AX/EAX; rem: AH/DX/EDX (product high half, or remainder). */
	if (size == 1) {
		emu_set_reg(vm, ZYDIS_REGISTER_AX, (uint32_t)(rem << 8 | q));
	} else {
		emu_set_reg(vm, size == 2 ? ZYDIS_REGISTER_AX : ZYDIS_REGISTER_EAX, (uint32_t)q);
		emu_set_reg(vm, size == 2 ? ZYDIS_REGISTER_DX : ZYDIS_REGISTER_EDX, (uint32_t)rem);
	}
	return EMU_NEXT;
}

/* XADD, CMPXCHG, CMPXCHG8B: the exchanges (LOCK or not). */
static enum emu_result emu_exchange(struct mon_vm *vm, const struct emu_insn *in,
				    struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	unsigned size = dst->size / 8;
	uint32_t a, b;
	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_XADD:
		if (!emu_read_op(vm, in, dst, size, &a, f))
			return EMU_FAULT;
		b = emu_get_reg(vm, src->reg.value);
		if (!emu_write_op(vm, in, dst, size, host_add(size, a, b, &cpu->eflags), f))
			return EMU_FAULT;
		emu_set_reg(vm, src->reg.value, a);
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_CMPXCHG: {
		/* The destination is written either way (with its own value
		 * on a mismatch), as the processor's bus cycle does. */
		ZydisRegister acc = size == 1 ? ZYDIS_REGISTER_AL :
				    size == 2 ? ZYDIS_REGISTER_AX : ZYDIS_REGISTER_EAX;
		if (!emu_read_op(vm, in, dst, size, &a, f))
			return EMU_FAULT;
		uint32_t want = emu_get_reg(vm, acc);
		host_cmp(size, want, a, &cpu->eflags);
		bool equal = cpu->eflags & BT_FL_ZF;
		if (!emu_write_op(vm, in, dst, size, equal ? emu_get_reg(vm, src->reg.value) : a, f))
			return EMU_FAULT;
		if (!equal)
			emu_set_reg(vm, acc, a);
		return EMU_NEXT;
	}
	case ZYDIS_MNEMONIC_CMPXCHG8B: {
		uint32_t at = emu_linear(vm, in, dst);
		uint32_t cur[2];
		if (!mon_read(vm, at, cur, 8, f))
			return EMU_FAULT;
		bool equal = cur[0] == cpu->gpr[BT_EAX] && cur[1] == cpu->gpr[BT_EDX];
		uint32_t put[2] = { cpu->gpr[BT_EBX], cpu->gpr[BT_ECX] };
		if (!mon_write(vm, at, equal ? put : cur, 8, f))
			return EMU_FAULT;
		cpu->eflags = (cpu->eflags & ~BT_FL_ZF) | (equal ? BT_FL_ZF : 0);
		if (!equal) {
			cpu->gpr[BT_EAX] = cur[0];
			cpu->gpr[BT_EDX] = cur[1];
		}
		return EMU_NEXT;
	}
	default:
		return EMU_UNHANDLED;
	}
}

/* SHLD/SHRD r/m, r, imm8/CL. */
static enum emu_result emu_double_shift(struct mon_vm *vm, const struct emu_insn *in,
					struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	const ZydisDecodedOperand *dst = &in->ops[0];
	unsigned size = dst->size / 8;
	uint32_t a, b, count;
	if (!emu_read_op(vm, in, dst, size, &a, f) ||
	    !emu_read_op(vm, in, &in->ops[1], size, &b, f) ||
	    !emu_read_op(vm, in, &in->ops[2], 1, &count, f))
		return EMU_FAULT;
	uint32_t r = host_double_shift(in->zi.mnemonic == ZYDIS_MNEMONIC_SHLD, size, a, b,
				       (uint8_t)count, &cpu->eflags);
	return emu_write_op(vm, in, dst, size, r, f) ? EMU_NEXT : EMU_FAULT;
}

/* MOV, MOVZX, MOVSX, XCHG, NOT, SETcc, CMOVcc, PUSH m, POP m: no flags. */
static enum emu_result emu_move(struct mon_vm *vm, const struct emu_insn *in,
				struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	const ZydisDecodedInstruction *zi = &in->zi;
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	unsigned size = dst->size / 8;
	uint32_t v;
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_MOV:
		if (!emu_read_op(vm, in, src, size, &v, f) ||
		    !emu_write_op(vm, in, dst, size, v, f))
			return EMU_FAULT;
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_MOVZX:
	case ZYDIS_MNEMONIC_MOVSX:
		if (!emu_read_op(vm, in, src, src->size / 8, &v, f))
			return EMU_FAULT;
		if (zi->mnemonic == ZYDIS_MNEMONIC_MOVSX)
			v = src->size == 8 ? (uint32_t)(int32_t)(int8_t)v
					   : (uint32_t)(int32_t)(int16_t)v;
		emu_set_reg(vm, dst->reg.value, v);
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_XCHG: {
		const ZydisDecodedOperand *m = dst, *r = src;
		if (m->type != ZYDIS_OPERAND_TYPE_MEMORY) {
			m = src;
			r = dst;
		}
		uint32_t reg = emu_get_reg(vm, r->reg.value);
		if (!emu_read_op(vm, in, m, size, &v, f) ||
		    !emu_write_op(vm, in, m, size, reg, f))
			return EMU_FAULT;
		emu_set_reg(vm, r->reg.value, v);
		return EMU_NEXT;
	}
	case ZYDIS_MNEMONIC_NOT:
		if (!emu_read_op(vm, in, dst, size, &v, f) ||
		    !emu_write_op(vm, in, dst, size, ~v, f))
			return EMU_FAULT;
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_PUSH:
		if (!emu_read_op(vm, in, dst, size, &v, f) || !mon_push(vm, v, size, f))
			return EMU_FAULT;
		return EMU_NEXT;
	case ZYDIS_MNEMONIC_JMP:
	case ZYDIS_MNEMONIC_CALL:
		/* Near and indirect through memory (far forms have no GPR
		 * operand shape here: emulate_seg.c). */
		if (zi->meta.branch_type != ZYDIS_BRANCH_TYPE_NEAR ||
		    !emu_read_op(vm, in, dst, size, &v, f))
			return zi->meta.branch_type != ZYDIS_BRANCH_TYPE_NEAR ? EMU_UNHANDLED
									     : EMU_FAULT;
		if (zi->mnemonic == ZYDIS_MNEMONIC_CALL && !mon_push(vm, in->next_eip, size, f))
			return EMU_FAULT;
		cpu->eip = v;
		return EMU_JUMPED;
	case ZYDIS_MNEMONIC_POP: {
		/* The destination's address uses ESP after the pop (SDM). */
		uint32_t esp = cpu->gpr[BT_ESP];
		if (!mon_pop(vm, &v, size, f))
			return EMU_FAULT;
		if (!emu_write_op(vm, in, dst, size, v, f)) {
			cpu->gpr[BT_ESP] = esp;
			return EMU_FAULT;
		}
		return EMU_NEXT;
	}
	default:
		break;
	}
	if (zi->opcode_map == ZYDIS_OPCODE_MAP_0F && (zi->opcode & 0xf0) == 0x90) {
		/* SETcc r/m8 */
		v = cond_true(cpu->eflags, zi->opcode & 0xf);
		return emu_write_op(vm, in, dst, 1, v, f) ? EMU_NEXT : EMU_FAULT;
	}
	if (zi->opcode_map == ZYDIS_OPCODE_MAP_0F && (zi->opcode & 0xf0) == 0x40) {
		/* CMOVcc r, r/m: the source is read whatever the condition. */
		if (!emu_read_op(vm, in, src, size, &v, f))
			return EMU_FAULT;
		if (cond_true(cpu->eflags, zi->opcode & 0xf))
			emu_set_reg(vm, dst->reg.value, v);
		return EMU_NEXT;
	}
	return EMU_UNHANDLED;
}

enum emu_result emu_memory(struct mon_vm *vm, const struct emu_insn *in,
			   struct mon_fault *f)
{
	const ZydisDecodedInstruction *zi = &in->zi;
	enum emu_result r;
	if (zi->mnemonic == ZYDIS_MNEMONIC_LEA) {
		emu_set_reg(vm, in->ops[0].reg.value, emu_ea(vm, in, &in->ops[1]));
		return EMU_NEXT;
	}
	if ((r = emu_string(vm, in, f)) != EMU_UNHANDLED ||
	    (r = emu_xlat(vm, in, f)) != EMU_UNHANDLED)
		return r;
	/* Everything below has one explicit memory operand (PUSH/POP's
	 * stack is the implicit other) and general-register operands. */
	if (!memory_operand(in))
		return EMU_UNHANDLED;
	for (unsigned i = 0; i < zi->operand_count_visible; i++)
		if (in->ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    ZydisRegisterGetClass(in->ops[i].reg.value) != ZYDIS_REGCLASS_GPR8 &&
		    ZydisRegisterGetClass(in->ops[i].reg.value) != ZYDIS_REGCLASS_GPR16 &&
		    ZydisRegisterGetClass(in->ops[i].reg.value) != ZYDIS_REGCLASS_GPR32)
			return EMU_UNHANDLED;
	switch (zi->mnemonic) {
	case ZYDIS_MNEMONIC_MUL: case ZYDIS_MNEMONIC_DIV: case ZYDIS_MNEMONIC_IDIV:
		return emu_muldiv(vm, in, f);
	case ZYDIS_MNEMONIC_IMUL:
		if (zi->operand_count_visible == 1)
			return emu_muldiv(vm, in, f);
		break;
	case ZYDIS_MNEMONIC_SHLD: case ZYDIS_MNEMONIC_SHRD:
		return emu_double_shift(vm, in, f);
	case ZYDIS_MNEMONIC_XADD: case ZYDIS_MNEMONIC_CMPXCHG:
	case ZYDIS_MNEMONIC_CMPXCHG8B:
		return emu_exchange(vm, in, f);
	default:
		break;
	}
	const struct alu_row *row = alu_row_of(zi->mnemonic);
	if (row)
		return emu_alu(vm, in, row, f);
	return emu_move(vm, in, f);
}

/* ---- string instructions the translator leaves ---- */

/* A REP runs at most this many rounds per exit, then the instruction
 * starts again (its registers say where it is): interrupts and the
 * monitor's timers are not held off by a long count. */
#define STRING_ROUNDS 4096

/*
 * MOVS STOS LODS CMPS SCAS, REP forms included, with 16-bit addressing
 * (SI/DI/CX: a 0x67 prefix in 32-bit code) or with an FS/GS override on
 * the source (forms the translator does not rewrite).
 */
enum emu_result emu_string(struct mon_vm *vm, const struct emu_insn *in,
				  struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	ZydisMnemonic m = in->zi.mnemonic;
	enum { MOVS, STOS, LODS, CMPS, SCAS } kind;
	unsigned size;
	switch (m) {
	case ZYDIS_MNEMONIC_MOVSB: kind = MOVS, size = 1; break;
	case ZYDIS_MNEMONIC_MOVSW: kind = MOVS, size = 2; break;
	case ZYDIS_MNEMONIC_MOVSD: kind = MOVS, size = 4; break;
	case ZYDIS_MNEMONIC_STOSB: kind = STOS, size = 1; break;
	case ZYDIS_MNEMONIC_STOSW: kind = STOS, size = 2; break;
	case ZYDIS_MNEMONIC_STOSD: kind = STOS, size = 4; break;
	case ZYDIS_MNEMONIC_LODSB: kind = LODS, size = 1; break;
	case ZYDIS_MNEMONIC_LODSW: kind = LODS, size = 2; break;
	case ZYDIS_MNEMONIC_LODSD: kind = LODS, size = 4; break;
	case ZYDIS_MNEMONIC_CMPSB: kind = CMPS, size = 1; break;
	case ZYDIS_MNEMONIC_CMPSW: kind = CMPS, size = 2; break;
	case ZYDIS_MNEMONIC_CMPSD: kind = CMPS, size = 4; break;
	case ZYDIS_MNEMONIC_SCASB: kind = SCAS, size = 1; break;
	case ZYDIS_MNEMONIC_SCASW: kind = SCAS, size = 2; break;
	case ZYDIS_MNEMONIC_SCASD: kind = SCAS, size = 4; break;
	default:
		return EMU_UNHANDLED;
	}
	bool rep = in->zi.attributes & (ZYDIS_ATTRIB_HAS_REP | ZYDIS_ATTRIB_HAS_REPE |
					ZYDIS_ATTRIB_HAS_REPNE);
	bool repne = in->zi.attributes & ZYDIS_ATTRIB_HAS_REPNE;
	const uint32_t mask = in->zi.address_width == 16 ? 0xffff : 0xffffffff;
	uint32_t step = (cpu->eflags & BT_FL_DF) ? (uint32_t)-size : size;
	int src = SEG_DS;
	for (unsigned i = 0; i < in->zi.operand_count; i++)
		if (in->ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY &&
		    (in->ops[i].mem.base == ZYDIS_REGISTER_SI ||
		     in->ops[i].mem.base == ZYDIS_REGISTER_ESI))
			src = emu_seg_index(in->ops[i].mem.segment);
	for (unsigned round = 0; !rep || (cpu->gpr[BT_ECX] & mask); round++) {
		if (round == STRING_ROUNDS)
			return EMU_JUMPED; /* at the same EIP: it goes on from here */
		uint32_t a = cpu->gpr[BT_EAX] & emu_size_mask(size), v = 0, d = 0;
		uint32_t si = cpu->gpr[BT_ESI], di = cpu->gpr[BT_EDI];
		if (kind != STOS && kind != SCAS &&
		    !mon_read(vm, vm->vcpu.seg[src].base + (si & mask), &v, size, f))
			return EMU_FAULT;
		if ((kind == CMPS || kind == SCAS) &&
		    !mon_read(vm, vm->vcpu.seg[SEG_ES].base + (di & mask), &d, size, f))
			return EMU_FAULT;
		if (kind == MOVS || kind == STOS) {
			uint32_t w = kind == STOS ? a : v;
			if (!mon_write(vm, vm->vcpu.seg[SEG_ES].base + (di & mask), &w, size, f))
				return EMU_FAULT;
		}
		if (kind == LODS)
			emu_set_reg(vm, size == 1 ? ZYDIS_REGISTER_AL :
					size == 2 ? ZYDIS_REGISTER_AX : ZYDIS_REGISTER_EAX, v);
		if (kind == CMPS)
			host_cmp(size, v, d, &cpu->eflags);
		if (kind == SCAS)
			host_cmp(size, a, d, &cpu->eflags);
		if (kind != STOS && kind != SCAS)
			cpu->gpr[BT_ESI] = (si & ~mask) | ((si + step) & mask);
		if (kind != LODS)
			cpu->gpr[BT_EDI] = (di & ~mask) | ((di + step) & mask);
		if (!rep)
			break;
		cpu->gpr[BT_ECX] = (cpu->gpr[BT_ECX] & ~mask) | ((cpu->gpr[BT_ECX] - 1) & mask);
		if ((kind == CMPS || kind == SCAS) &&
		    (bool)(cpu->eflags & BT_FL_ZF) == repne)
			break; /* REPE stops on a difference, REPNE on a match */
	}
	return EMU_NEXT;
}

/* XLAT with an FS/GS override: AL = [seg: EBX + AL] (BX with 0x67). */
enum emu_result emu_xlat(struct mon_vm *vm, const struct emu_insn *in,
				struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	if (in->zi.mnemonic != ZYDIS_MNEMONIC_XLAT)
		return EMU_UNHANDLED;
	int seg = SEG_DS;
	for (unsigned i = 0; i < in->zi.operand_count; i++)
		if (in->ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY)
			seg = emu_seg_index(in->ops[i].mem.segment);
	uint32_t off = cpu->gpr[BT_EBX] + (cpu->gpr[BT_EAX] & 0xff);
	if (in->zi.address_width == 16)
		off &= 0xffff;
	uint32_t v = 0;
	if (!mon_read(vm, vm->vcpu.seg[seg].base + off, &v, 1, f))
		return EMU_FAULT;
	emu_set_reg(vm, ZYDIS_REGISTER_AL, v);
	return EMU_NEXT;
}
