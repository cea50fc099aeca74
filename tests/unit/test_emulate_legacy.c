/* Unit tests for emulate_legacy.c (PUSHA POPA BOUND ARPL BCD SALC ENTER) over fake guest memory. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "emulate.h"

/*
 * The emulator is compiled into this test with small fakes of the monitor
 * services it calls: guest linear memory is one flat buffer, one page of
 * which can be made to fault, and the operand helpers follow the contracts
 * of emulate.h. Instructions are decoded from bytes by Zydis exactly as the
 * dispatcher does, so the tests also pin the operand layouts relied on.
 */

#define RAM_SIZE 0x40000u
#define PAGE 4096u
#define NO_PAGE 0xffffffffu

static uint8_t ram[RAM_SIZE];
static uint32_t fault_page = NO_PAGE; /* linear page whose accesses #PF */
static bool fault_writes_only;        /* ... only its writes */
static unsigned writes;               /* mon_write calls that succeeded */
static struct bt_cpu cpu;
static struct mon_vm vm;

/* ---- Fakes of the monitor services ---- */

void mon_fault_set(struct mon_fault *f, uint8_t vector, bool has_error,
		   uint32_t error)
{
	*f = (struct mon_fault){ .raised = true, .vector = vector,
				 .has_error = has_error, .error = error };
}

/* Fail with #PF for bytes outside the buffer or on the faulting page. */
static bool access_ok(uint32_t linear, unsigned len, bool write,
		      struct mon_fault *f)
{
	for (unsigned i = 0; i < len; i++) {
		uint32_t a = linear + i;
		if (a >= RAM_SIZE ||
		    (a / PAGE == fault_page && (write || !fault_writes_only))) {
			vm.vcpu.cr2 = a;
			mon_fault_set(f, EXC_PF, true, write ? 2 : 0);
			return false;
		}
	}
	return true;
}

bool mon_read(struct mon_vm *m, uint32_t linear, void *buf, unsigned len,
	      struct mon_fault *f)
{
	(void)m;
	if (!access_ok(linear, len, false, f))
		return false;
	memcpy(buf, ram + linear, len);
	return true;
}

bool mon_write(struct mon_vm *m, uint32_t linear, const void *buf,
	       unsigned len, struct mon_fault *f)
{
	(void)m;
	if (!access_ok(linear, len, true, f))
		return false;
	memcpy(ram + linear, buf, len);
	writes++;
	return true;
}

/* emulate_legacy.c must not use these: it checks limits and commits ESP
 * itself, so that a fault leaves the stack pointer untouched. */
bool mon_push(struct mon_vm *m, uint32_t value, unsigned size, struct mon_fault *f)
{
	(void)m; (void)value; (void)size; (void)f;
	ck_abort_msg("mon_push called");
	return false;
}

bool mon_pop(struct mon_vm *m, uint32_t *value, unsigned size, struct mon_fault *f)
{
	(void)m; (void)value; (void)size; (void)f;
	ck_abort_msg("mon_pop called");
	return false;
}

/* Register index (EAX..EDI order), byte shift and width of a GPR. */
static void reg_slot(ZydisRegister r, unsigned *index, unsigned *shift,
		     uint32_t *mask)
{
	ZyanU8 id = ZydisRegisterGetId(r);

	switch (ZydisRegisterGetClass(r)) {
	case ZYDIS_REGCLASS_GPR32:
		*index = id, *shift = 0, *mask = 0xffffffffu;
		break;
	case ZYDIS_REGCLASS_GPR16:
		*index = id, *shift = 0, *mask = 0xffffu;
		break;
	case ZYDIS_REGCLASS_GPR8: /* AL CL DL BL AH CH DH BH */
		*index = id & 3, *shift = id >= 4 ? 8 : 0, *mask = 0xffu;
		break;
	default:
		ck_abort_msg("not a general register: %s", ZydisRegisterGetString(r));
	}
}

uint32_t emu_get_reg(struct mon_vm *m, ZydisRegister r)
{
	unsigned index, shift;
	uint32_t mask;

	reg_slot(r, &index, &shift, &mask);
	return (m->vcpu.cpu->gpr[index] >> shift) & mask;
}

void emu_set_reg(struct mon_vm *m, ZydisRegister r, uint32_t value)
{
	unsigned index, shift;
	uint32_t mask;

	reg_slot(r, &index, &shift, &mask);
	uint32_t *g = &m->vcpu.cpu->gpr[index];
	*g = (*g & ~(mask << shift)) | ((value & mask) << shift);
}

uint32_t emu_ea(struct mon_vm *m, const struct emu_insn *in,
		const ZydisDecodedOperand *op)
{
	uint32_t ea = (uint32_t)op->mem.disp.value;

	if (op->mem.base != ZYDIS_REGISTER_NONE)
		ea += emu_get_reg(m, op->mem.base);
	if (op->mem.index != ZYDIS_REGISTER_NONE)
		ea += emu_get_reg(m, op->mem.index) * op->mem.scale;
	return in->zi.address_width == 16 ? ea & 0xffffu : ea;
}

uint32_t emu_linear(struct mon_vm *m, const struct emu_insn *in,
		    const ZydisDecodedOperand *op)
{
	int seg = op->mem.segment - ZYDIS_REGISTER_ES; /* ES CS SS DS FS GS */

	return m->vcpu.seg[seg].base + emu_ea(m, in, op);
}

bool emu_read_op(struct mon_vm *m, const struct emu_insn *in,
		 const ZydisDecodedOperand *op, unsigned size, uint32_t *value,
		 struct mon_fault *f)
{
	switch (op->type) {
	case ZYDIS_OPERAND_TYPE_REGISTER:
		*value = emu_get_reg(m, op->reg.value);
		return true;
	case ZYDIS_OPERAND_TYPE_IMMEDIATE:
		*value = (uint32_t)op->imm.value.u;
		return true;
	case ZYDIS_OPERAND_TYPE_MEMORY: {
		uint32_t v = 0;
		if (!mon_read(m, emu_linear(m, in, op), &v, size, f))
			return false;
		*value = v;
		return true;
	}
	default:
		ck_abort_msg("operand type %d", op->type);
		return false;
	}
}

bool emu_write_op(struct mon_vm *m, const struct emu_insn *in,
		  const ZydisDecodedOperand *op, unsigned size, uint32_t value,
		  struct mon_fault *f)
{
	switch (op->type) {
	case ZYDIS_OPERAND_TYPE_REGISTER:
		emu_set_reg(m, op->reg.value, value);
		return true;
	case ZYDIS_OPERAND_TYPE_MEMORY:
		return mon_write(m, emu_linear(m, in, op), &value, size, f);
	default:
		ck_abort_msg("operand type %d", op->type);
		return false;
	}
}

/* Sizes in bytes, as emulate.c implements it. */
void emu_set_szp(struct mon_vm *m, uint32_t result, unsigned size)
{
	uint32_t *fl = &m->vcpu.cpu->eflags;
	uint32_t sign = 1u << (size * 8 - 1);
	uint32_t mask = sign | (sign - 1);

	*fl &= ~(BT_FL_SF | BT_FL_ZF | BT_FL_PF);
	if (result & sign)
		*fl |= BT_FL_SF;
	if ((result & mask) == 0)
		*fl |= BT_FL_ZF;
	if (!__builtin_parity(result & 0xff))
		*fl |= BT_FL_PF;
}

/* ---- Helpers ---- */

#define FLAT_DATA 0xc093u  /* present writable data, DPL 0, D/B, G */
#define STACK_TOP 0x20000u /* ESP at the start of the stack tests */

/* Flat 32-bit protected mode, no faulting page, a recognisable RAM fill. */
static void setup(void)
{
	memset(&cpu, 0, sizeof(cpu));
	memset(&vm, 0, sizeof(vm));
	memset(ram, 0xcc, sizeof(ram));
	vm.vcpu.cpu = &cpu;
	vm.vcpu.cr0 = CR0_PE | CR0_ET;
	for (int s = 0; s < SEG_COUNT; s++)
		vm.vcpu.seg[s] = (struct mon_seg){ .sel = 0x10, .attr = FLAT_DATA,
						   .base = 0, .limit = 0xffffffffu };
	vm.vcpu.seg[SEG_CS].attr = 0xc09bu;
	cpu.eflags = 0x2;
	cpu.gpr[BT_ESP] = STACK_TOP;
	fault_page = NO_PAGE;
	fault_writes_only = false;
	writes = 0;
}

static void teardown(void)
{
}

static void decode(const uint8_t *bytes, unsigned len, struct emu_insn *in)
{
	ZydisDecoder d;

	memset(in, 0, sizeof(*in));
	ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LEGACY_32, ZYDIS_STACK_WIDTH_32);
	ck_assert(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, bytes, len, &in->zi, in->ops)));
	ck_assert_uint_eq(in->zi.length, len);
	in->eip = 0x1000;
	in->next_eip = 0x1000 + len;
}

/* Decode and emulate `bytes`; return the result, the fault in *f. */
#define RUN(f, ...) run((const uint8_t[]){ __VA_ARGS__ }, \
			sizeof((const uint8_t[]){ __VA_ARGS__ }), (f))

static enum emu_result run(const uint8_t *bytes, unsigned len, struct mon_fault *f)
{
	struct emu_insn in;

	decode(bytes, len, &in);
	memset(f, 0, sizeof(*f));
	return emu_legacy(&vm, &in, f);
}

static uint32_t ram32(uint32_t a)
{
	uint32_t v;
	memcpy(&v, ram + a, 4);
	return v;
}

static uint16_t ram16(uint32_t a)
{
	uint16_t v;
	memcpy(&v, ram + a, 2);
	return v;
}

static void put32(uint32_t a, uint32_t v)
{
	memcpy(ram + a, &v, 4);
}

static void put16(uint32_t a, uint16_t v)
{
	memcpy(ram + a, &v, 2);
}

static void expect_fault(enum emu_result r, const struct mon_fault *f,
			 uint8_t vector, bool has_error, uint32_t error)
{
	ck_assert_int_eq(r, EMU_FAULT);
	ck_assert(f->raised);
	ck_assert_uint_eq(f->vector, vector);
	ck_assert_int_eq(f->has_error, has_error);
	ck_assert_uint_eq(f->error, error);
}

#define ARITH (BT_FL_CF | BT_FL_PF | BT_FL_AF | BT_FL_ZF | BT_FL_SF | BT_FL_OF)

/* ---- BCD ---- */

/*
 * One BCD case: EAX and the arithmetic flags before and after. Expected
 * values are worked out from the SDM pseudocode; undefined flags follow
 * Intel hardware as emulate_legacy.c's top comment describes.
 */
struct bcd_case {
	const char *what;
	uint8_t insn[2];
	unsigned len;
	uint32_t eax_in, flags_in;
	uint32_t eax_out, flags_out;
};

static const struct bcd_case bcd_cases[] = {
	/* 0x79 + 0x35 = 0xae (CF 0, AF 0): 79 + 35 = 114 */
	{ "daa after 79+35", { 0x27 }, 1, 0x123400ae, 0,
	  0x12340014, BT_FL_CF | BT_FL_AF | BT_FL_PF },
	/* 0x35 - 0x47 = 0xee (CF 1, AF 1): 35 - 47 = -12, i.e. 88 borrow 1 */
	{ "das after 35-47", { 0x2f }, 1, 0x000000ee, BT_FL_CF | BT_FL_AF,
	  0x00000088, BT_FL_CF | BT_FL_AF | BT_FL_SF | BT_FL_PF },
	/* Already valid BCD: nothing to adjust; OF is cleared. */
	{ "daa no adjust", { 0x27 }, 1, 0x00000042, BT_FL_OF,
	  0x00000042, BT_FL_PF },
	/* 0x99 + 0x01 = 0x9a: low digit and then the high digit carry. */
	{ "daa 99+01", { 0x27 }, 1, 0x0000009a, 0,
	  0x00000000, BT_FL_CF | BT_FL_AF | BT_FL_ZF | BT_FL_PF },
	/* DAS keeps CF from its first step when the second is not taken:
	   AL 0x00 with AF: 0x00 - 6 borrows, CF 1; 0x00 <= 0x99, CF stays 1. */
	{ "das borrow low digit", { 0x2f }, 1, 0x00000000, BT_FL_AF,
	  0x000000fa, BT_FL_CF | BT_FL_AF | BT_FL_SF | BT_FL_PF },
	/* 5 + 6 = 0x0b: AL 0x01, AH 0x01 (AX + 0x106, AL & 0x0f). */
	{ "aaa 5+6", { 0x37 }, 1, 0x0000000b, 0,
	  0x00000101, BT_FL_CF | BT_FL_AF },
	/* 9 + 9 = 0x12 with AF: AL 0x08, AH + 1. */
	{ "aaa af set", { 0x37 }, 1, 0x00000312, BT_FL_AF,
	  0x00000408, BT_FL_CF | BT_FL_AF },
	/* Nothing to adjust: AL & 0x0f only, flags from AL. */
	{ "aaa af clear", { 0x37 }, 1, 0x00000365, BT_FL_OF | BT_FL_SF,
	  0x00000305, BT_FL_PF },
	/* AL 0xfa: the carry out of AL reaches AH as well (AX + 0x106). */
	{ "aaa carry into ah", { 0x37 }, 1, 0x000000fa, 0,
	  0x00000200, BT_FL_CF | BT_FL_AF | BT_FL_ZF | BT_FL_PF },
	/* 2 - 5 = 0xfd with AF: AL 0x07, AH - 1. */
	{ "aas 2-5", { 0x3f }, 1, 0x000000fd, BT_FL_AF,
	  0x0000ff07, BT_FL_CF | BT_FL_AF },
	/* AL 3 with AF: AX - 6 borrows from AH, and AH - 1 again. */
	{ "aas borrow into ah", { 0x3f }, 1, 0x00000503, BT_FL_AF,
	  0x0000030d, BT_FL_CF | BT_FL_AF },
	{ "aas af clear", { 0x3f }, 1, 0x00000508, BT_FL_CF | BT_FL_ZF,
	  0x00000508, 0 },
	/* 0x4f = 79: AH 7, AL 9. */
	{ "aam 10 of 4f", { 0xd4, 0x0a }, 2, 0xabcd004f, ARITH,
	  0xabcd0709, BT_FL_PF },
	{ "aam 16 of ff", { 0xd4, 0x10 }, 2, 0x000012ff, 0,
	  0x00000f0f, BT_FL_PF },
	{ "aam 10 of 0", { 0xd4, 0x0a }, 2, 0x00000500, 0,
	  0x00000000, BT_FL_ZF | BT_FL_PF },
	/* 7 * 10 + 9 = 79 = 0x4f (odd parity). */
	{ "aad 10 of 0709", { 0xd5, 0x0a }, 2, 0xabcd0709, ARITH,
	  0xabcd004f, 0 },
	/* 10 + 8: the low digits carry, AF set as by the ADD. */
	{ "aad 10 of 0108", { 0xd5, 0x0a }, 2, 0x00000108, 0,
	  0x00000012, BT_FL_AF | BT_FL_PF },
	/* 0x80 + 9 * 16 = 0x80 + 0x90: CF and OF of the 8-bit ADD. */
	{ "aad 16 of 0980", { 0xd5, 0x10 }, 2, 0x00000980, 0,
	  0x00000010, BT_FL_CF | BT_FL_OF },
	{ "salc cf set", { 0xd6 }, 1, 0x12345678, BT_FL_CF | BT_FL_ZF,
	  0x123456ff, BT_FL_CF | BT_FL_ZF },
	{ "salc cf clear", { 0xd6 }, 1, 0x123456aa, BT_FL_SF,
	  0x12345600, BT_FL_SF },
};

START_TEST(bcd_table)
{
	const struct bcd_case *c = &bcd_cases[_i];
	struct mon_fault f;

	cpu.gpr[BT_EAX] = c->eax_in;
	cpu.gpr[BT_EBX] = 0x5a5a5a5a;
	cpu.eflags = 0x202 | c->flags_in;
	ck_assert_msg(run(c->insn, c->len, &f) == EMU_NEXT, "%s", c->what);
	ck_assert_msg(cpu.gpr[BT_EAX] == c->eax_out, "%s: EAX %#x, want %#x",
		      c->what, cpu.gpr[BT_EAX], c->eax_out);
	ck_assert_msg((cpu.eflags & ARITH) == c->flags_out,
		      "%s: flags %#x, want %#x", c->what, cpu.eflags & ARITH,
		      c->flags_out);
	/* Nothing outside AX and the arithmetic flags changes. */
	ck_assert_uint_eq(cpu.eflags & ~ARITH, 0x202);
	ck_assert_uint_eq(cpu.gpr[BT_EBX], 0x5a5a5a5a);
	ck_assert(!f.raised);
}
END_TEST

START_TEST(aam_zero_is_divide_error)
{
	struct mon_fault f;

	cpu.gpr[BT_EAX] = 0x1234;
	cpu.eflags = 0x2 | BT_FL_CF;
	expect_fault(RUN(&f, 0xd4, 0x00), &f, EXC_DE, false, 0);
	ck_assert_uint_eq(cpu.gpr[BT_EAX], 0x1234);
	ck_assert_uint_eq(cpu.eflags, 0x2 | BT_FL_CF);
}
END_TEST

/* ---- PUSHA / POPA ---- */

static const uint32_t regs[8] = {
	0x11111111, 0x22222222, 0x33333333, 0x44444444,
	STACK_TOP, 0x66666666, 0x77777777, 0x88888888,
};

START_TEST(pushad_popad_round_trip)
{
	struct mon_fault f;

	memcpy(cpu.gpr, regs, sizeof(regs));
	ck_assert_int_eq(RUN(&f, 0x60), EMU_NEXT);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], STACK_TOP - 32);
	/* EAX at the top, EDI at the bottom, the original ESP in between. */
	for (unsigned i = 0; i < 8; i++)
		ck_assert_uint_eq(ram32(STACK_TOP - 4 * (i + 1)), regs[i]);
	ck_assert_uint_eq(ram32(STACK_TOP), 0xcccccccc); /* nothing above */

	/* POPAD skips the saved-ESP slot: spoil it and every register. */
	put32(STACK_TOP - 20, 0xdeadbeef);
	for (unsigned i = 0; i < 8; i++)
		if (i != BT_ESP)
			cpu.gpr[i] = 0;
	ck_assert_int_eq(RUN(&f, 0x61), EMU_NEXT);
	for (unsigned i = 0; i < 8; i++)
		ck_assert_uint_eq(cpu.gpr[i], regs[i]);
	ck_assert(!f.raised);
}
END_TEST

START_TEST(pusha_popa_16bit)
{
	struct mon_fault f;

	memcpy(cpu.gpr, regs, sizeof(regs));
	ck_assert_int_eq(RUN(&f, 0x66, 0x60), EMU_NEXT);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], STACK_TOP - 16);
	for (unsigned i = 0; i < 8; i++)
		ck_assert_uint_eq(ram16(STACK_TOP - 2 * (i + 1)), regs[i] & 0xffff);
	ck_assert_uint_eq(ram16(STACK_TOP - 18), 0xcccc);

	/* POPA writes only the low words. */
	put16(STACK_TOP - 10, 0xbeef); /* the SP slot: ignored */
	for (unsigned i = 0; i < 8; i++)
		if (i != BT_ESP)
			cpu.gpr[i] = 0xabcd0000u;
	ck_assert_int_eq(RUN(&f, 0x66, 0x61), EMU_NEXT);
	for (unsigned i = 0; i < 8; i++) {
		uint32_t want = i == BT_ESP ? STACK_TOP
				: 0xabcd0000u | (regs[i] & 0xffff);
		ck_assert_uint_eq(cpu.gpr[i], want);
	}
}
END_TEST

/* With SS.B clear only SP moves, wrapping inside the 64 KiB segment. */
START_TEST(pushad_16bit_stack_wraps)
{
	struct mon_fault f;

	vm.vcpu.seg[SEG_SS].attr = 0x0093;
	vm.vcpu.seg[SEG_SS].base = 0x10000;
	vm.vcpu.seg[SEG_SS].limit = 0xffff;
	memcpy(cpu.gpr, regs, sizeof(regs));
	cpu.gpr[BT_ESP] = 0xabcd0008;
	ck_assert_int_eq(RUN(&f, 0x60), EMU_NEXT);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], 0xabcdffe8);
	ck_assert_uint_eq(ram32(0x10004), regs[BT_EAX]);
	ck_assert_uint_eq(ram32(0x10000), regs[BT_ECX]);
	ck_assert_uint_eq(ram32(0x1fffc), regs[BT_EDX]);
	ck_assert_uint_eq(ram32(0x1fff4), 0xabcd0008); /* the original ESP */
	ck_assert_uint_eq(ram32(0x1ffe8), regs[BT_EDI]);

	memset(cpu.gpr, 0, sizeof(cpu.gpr));
	cpu.gpr[BT_ESP] = 0x1234ffe8;
	ck_assert_int_eq(RUN(&f, 0x61), EMU_NEXT);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], 0x12340008);
	ck_assert_uint_eq(cpu.gpr[BT_EAX], regs[BT_EAX]);
	ck_assert_uint_eq(cpu.gpr[BT_EDI], regs[BT_EDI]);
}
END_TEST

/* A #PF part-way leaves every register as it was. */
START_TEST(pusha_popa_fault_changes_no_register)
{
	struct mon_fault f;

	memcpy(cpu.gpr, regs, sizeof(regs));
	cpu.gpr[BT_ESP] = STACK_TOP + 16; /* 4 slots on each side of a page */
	fault_page = STACK_TOP / PAGE - 1;
	expect_fault(RUN(&f, 0x60), &f, EXC_PF, true, 2);
	ck_assert_uint_eq(writes, 4);
	cpu.gpr[BT_ESP] = STACK_TOP;
	ck_assert_uint_eq(memcmp(cpu.gpr, regs, sizeof(regs)), 0);

	cpu.gpr[BT_ESP] = STACK_TOP - 16; /* the upper half faults */
	fault_page = STACK_TOP / PAGE;
	expect_fault(RUN(&f, 0x61), &f, EXC_PF, true, 0);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], STACK_TOP - 16);
	ck_assert_uint_eq(cpu.gpr[BT_EAX], regs[BT_EAX]);
	ck_assert_uint_eq(cpu.gpr[BT_EDI], regs[BT_EDI]);
}
END_TEST

/* Outside SS's limit: #SS(0) before anything is written. */
START_TEST(pusha_popa_stack_limit)
{
	struct mon_fault f;

	vm.vcpu.seg[SEG_SS].limit = 0x1ffff;
	cpu.gpr[BT_ESP] = 0x20008; /* PUSHAD's top slot is beyond the limit */
	expect_fault(RUN(&f, 0x60), &f, EXC_SS, true, 0);
	ck_assert_uint_eq(writes, 0);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], 0x20008);

	cpu.gpr[BT_ESP] = 0x1ffe4; /* POPAD's last 4 bytes are beyond it */
	expect_fault(RUN(&f, 0x61), &f, EXC_SS, true, 0);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], 0x1ffe4);

	/* Expand-down: the valid offsets are those above the limit. */
	vm.vcpu.seg[SEG_SS].attr = FLAT_DATA | 0x4;
	vm.vcpu.seg[SEG_SS].limit = 0x1ffe0;
	cpu.gpr[BT_ESP] = 0x20000; /* lowest slot at 0x1ffe0: not above */
	expect_fault(RUN(&f, 0x60), &f, EXC_SS, true, 0);
	cpu.gpr[BT_ESP] = 0x20004;
	ck_assert_int_eq(RUN(&f, 0x60), EMU_NEXT);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], 0x1ffe4);
}
END_TEST

/* ---- BOUND ---- */

START_TEST(bound_32)
{
	struct mon_fault f;

	put32(0x3000, (uint32_t)-10);
	put32(0x3004, 100);
	cpu.gpr[BT_EBX] = 0x3000;
	static const int32_t inside[] = { -10, 0, 50, 100 };
	for (unsigned i = 0; i < 4; i++) {
		cpu.gpr[BT_EAX] = (uint32_t)inside[i];
		ck_assert_int_eq(RUN(&f, 0x62, 0x03), EMU_NEXT); /* bound eax,[ebx] */
		ck_assert(!f.raised);
	}
	static const int32_t outside[] = { -11, 101, INT32_MIN, INT32_MAX };
	for (unsigned i = 0; i < 4; i++) {
		cpu.gpr[BT_EAX] = (uint32_t)outside[i];
		expect_fault(RUN(&f, 0x62, 0x03), &f, EXC_BR, false, 0);
	}
	/* The bounds are read through the operand's segment. */
	vm.vcpu.seg[SEG_DS].base = 0x100;
	put32(0x3100, 200);
	put32(0x3104, 300);
	cpu.gpr[BT_EAX] = 250;
	ck_assert_int_eq(RUN(&f, 0x62, 0x03), EMU_NEXT);
	cpu.gpr[BT_EAX] = 100;
	expect_fault(RUN(&f, 0x62, 0x03), &f, EXC_BR, false, 0);
}
END_TEST

START_TEST(bound_16_is_signed)
{
	struct mon_fault f;

	put16(0x3000, 0xfff0); /* -16 */
	put16(0x3002, 0x0010); /* 16 */
	cpu.gpr[BT_EBX] = 0x3000;
	cpu.gpr[BT_EAX] = 0x1234fff8; /* AX = -8: the upper half is ignored */
	ck_assert_int_eq(RUN(&f, 0x66, 0x62, 0x03), EMU_NEXT);
	cpu.gpr[BT_EAX] = 0x0000ffe0; /* -32 */
	expect_fault(RUN(&f, 0x66, 0x62, 0x03), &f, EXC_BR, false, 0);
	cpu.gpr[BT_EAX] = 0x00000011;
	expect_fault(RUN(&f, 0x66, 0x62, 0x03), &f, EXC_BR, false, 0);
}
END_TEST

START_TEST(bound_page_fault)
{
	struct mon_fault f;

	cpu.gpr[BT_EBX] = 0x3ffc; /* the upper bound lies on the next page */
	cpu.gpr[BT_EAX] = 0;
	fault_page = 0x4;
	expect_fault(RUN(&f, 0x62, 0x03), &f, EXC_PF, true, 0);
	ck_assert_uint_eq(vm.vcpu.cr2, 0x4000);
}
END_TEST

/* ---- ARPL ---- */

START_TEST(arpl_register)
{
	struct mon_fault f;

	cpu.gpr[BT_EBX] = 0xabcd0010; /* BX: RPL 0 */
	cpu.gpr[BT_EAX] = 0x0000002b; /* AX: RPL 3 */
	ck_assert_int_eq(RUN(&f, 0x63, 0xc3), EMU_NEXT); /* arpl bx, ax */
	ck_assert_uint_eq(cpu.gpr[BT_EBX], 0xabcd0013);
	ck_assert(cpu.eflags & BT_FL_ZF);

	cpu.gpr[BT_EAX] = 0x00000009; /* RPL 1 < 3: no change, ZF clear */
	ck_assert_int_eq(RUN(&f, 0x63, 0xc3), EMU_NEXT);
	ck_assert_uint_eq(cpu.gpr[BT_EBX], 0xabcd0013);
	ck_assert(!(cpu.eflags & BT_FL_ZF));
}
END_TEST

START_TEST(arpl_memory)
{
	struct mon_fault f;

	put32(0x3000, 0x77770008); /* a word at 0x3000, RPL 0 */
	cpu.gpr[BT_EBX] = 0x3000;
	cpu.gpr[BT_EAX] = 0x0002;
	ck_assert_int_eq(RUN(&f, 0x63, 0x03), EMU_NEXT); /* arpl [ebx], ax */
	ck_assert_uint_eq(ram32(0x3000), 0x7777000a);
	ck_assert(cpu.eflags & BT_FL_ZF);

	/* A destination that cannot be written faults even when its RPL
	   stays, and leaves ZF as it was. */
	fault_page = 0x3;
	fault_writes_only = true;
	cpu.gpr[BT_EAX] = 0x0001;
	expect_fault(RUN(&f, 0x63, 0x03), &f, EXC_PF, true, 2);
	ck_assert(cpu.eflags & BT_FL_ZF);
	ck_assert_uint_eq(ram32(0x3000), 0x7777000a);
}
END_TEST

START_TEST(arpl_real_mode_is_ud)
{
	struct mon_fault f;

	vm.vcpu.cr0 = 0;
	cpu.gpr[BT_EBX] = 0x10;
	cpu.gpr[BT_EAX] = 0x3;
	expect_fault(RUN(&f, 0x63, 0xc3), &f, EXC_UD, false, 0);
	ck_assert_uint_eq(cpu.gpr[BT_EBX], 0x10);
}
END_TEST

/* ---- ENTER ---- */

START_TEST(enter_level_0)
{
	struct mon_fault f;

	cpu.gpr[BT_EBP] = 0x12345678;
	ck_assert_int_eq(RUN(&f, 0xc8, 0x10, 0x00, 0x00), EMU_NEXT); /* enter 16,0 */
	ck_assert_uint_eq(ram32(STACK_TOP - 4), 0x12345678);
	ck_assert_uint_eq(cpu.gpr[BT_EBP], STACK_TOP - 4);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], STACK_TOP - 4 - 16);
	ck_assert_uint_eq(writes, 1);
}
END_TEST

START_TEST(enter_level_2)
{
	struct mon_fault f;
	const uint32_t old_ebp = 0x1f000;

	/* The caller's frame: its display entry at [EBP - 4]. */
	put32(old_ebp - 4, 0xaaaa0001);
	cpu.gpr[BT_EBP] = old_ebp;
	ck_assert_int_eq(RUN(&f, 0xc8, 0x08, 0x00, 0x02), EMU_NEXT); /* enter 8,2 */
	uint32_t frame = STACK_TOP - 4;
	ck_assert_uint_eq(ram32(frame), old_ebp);         /* pushed EBP */
	ck_assert_uint_eq(ram32(frame - 4), 0xaaaa0001);  /* copied pointer */
	ck_assert_uint_eq(ram32(frame - 8), frame);       /* the new frame */
	ck_assert_uint_eq(ram32(frame - 12), 0xcccccccc); /* the allocation */
	ck_assert_uint_eq(cpu.gpr[BT_EBP], frame);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], frame - 8 - 8);

	/* The level is taken modulo 32: 33 behaves as 1. */
	cpu.gpr[BT_ESP] = STACK_TOP;
	cpu.gpr[BT_EBP] = old_ebp;
	ck_assert_int_eq(RUN(&f, 0xc8, 0x00, 0x00, 0x21), EMU_NEXT);
	ck_assert_uint_eq(ram32(frame - 4), frame);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], frame - 4);
}
END_TEST

START_TEST(enter_16bit_operand)
{
	struct mon_fault f;

	put16(0x1f000 - 2, 0xbbbb);
	cpu.gpr[BT_EBP] = 0x0001f000;
	ck_assert_int_eq(RUN(&f, 0x66, 0xc8, 0x04, 0x00, 0x02), EMU_NEXT);
	uint32_t frame = STACK_TOP - 2;
	ck_assert_uint_eq(ram16(frame), 0xf000);
	ck_assert_uint_eq(ram16(frame - 2), 0xbbbb);
	ck_assert_uint_eq(ram16(frame - 4), frame & 0xffff);
	/* A 32-bit stack: all of EBP and ESP change. */
	ck_assert_uint_eq(cpu.gpr[BT_EBP], frame);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], frame - 4 - 4);
}
END_TEST

START_TEST(enter_fault_changes_no_register)
{
	struct mon_fault f;

	cpu.gpr[BT_EBP] = 0x1f000;
	fault_page = 0x1e; /* the old frame's display cannot be read */
	expect_fault(RUN(&f, 0xc8, 0x08, 0x00, 0x03), &f, EXC_PF, true, 0);
	ck_assert_uint_eq(cpu.gpr[BT_EBP], 0x1f000);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], STACK_TOP);

	/* A frame allocated below offset 0 wraps beyond the limit: #SS(0). */
	fault_page = NO_PAGE;
	vm.vcpu.seg[SEG_SS].limit = 0x1ffff;
	cpu.gpr[BT_ESP] = 0x10;
	writes = 0;
	expect_fault(RUN(&f, 0xc8, 0x00, 0x01, 0x00), &f, EXC_SS, true, 0);
	ck_assert_uint_eq(writes, 0);
	ck_assert_uint_eq(cpu.gpr[BT_ESP], 0x10);
}
END_TEST

/* ---- Dispatch ---- */

START_TEST(other_instructions_unhandled)
{
	struct mon_fault f;

	ck_assert_int_eq(RUN(&f, 0x90), EMU_UNHANDLED);           /* nop */
	ck_assert_int_eq(RUN(&f, 0x0f, 0xa2), EMU_UNHANDLED);     /* cpuid */
	ck_assert_int_eq(RUN(&f, 0xc9), EMU_UNHANDLED);           /* leave */
	ck_assert_uint_eq(cpu.gpr[BT_ESP], STACK_TOP);
	ck_assert(!f.raised);
}
END_TEST

static Suite *legacy_suite(void)
{
	Suite *s = suite_create("emulate_legacy");
	TCase *tc = tcase_create("bcd");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, bcd_table, 0,
			    sizeof(bcd_cases) / sizeof(bcd_cases[0]));
	tcase_add_test(tc, aam_zero_is_divide_error);
	suite_add_tcase(s, tc);

	tc = tcase_create("stack");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, pushad_popad_round_trip);
	tcase_add_test(tc, pusha_popa_16bit);
	tcase_add_test(tc, pushad_16bit_stack_wraps);
	tcase_add_test(tc, pusha_popa_fault_changes_no_register);
	tcase_add_test(tc, pusha_popa_stack_limit);
	tcase_add_test(tc, enter_level_0);
	tcase_add_test(tc, enter_level_2);
	tcase_add_test(tc, enter_16bit_operand);
	tcase_add_test(tc, enter_fault_changes_no_register);
	suite_add_tcase(s, tc);

	tc = tcase_create("checks");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, bound_32);
	tcase_add_test(tc, bound_16_is_signed);
	tcase_add_test(tc, bound_page_fault);
	tcase_add_test(tc, arpl_register);
	tcase_add_test(tc, arpl_memory);
	tcase_add_test(tc, arpl_real_mode_is_ud);
	tcase_add_test(tc, other_instructions_unhandled);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(legacy_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
