/* monitor: the instruction emulator's dispatcher (classify.def's rows name the routines) and operand helpers. */
#include <string.h>

#include "emulate.h"

static struct bt_cpu *cpu_of(struct mon_vm *vm)
{
	return vm->vcpu.cpu;
}

/* ---- operands ---- */

uint32_t emu_get_reg(struct mon_vm *vm, ZydisRegister r)
{
	struct bt_cpu *cpu = cpu_of(vm);
	ZyanI8 id = ZydisRegisterGetId(r);
	switch (ZydisRegisterGetClass(r)) {
	case ZYDIS_REGCLASS_GPR8:
		return id < 4 ? cpu->gpr[id] & 0xff : (cpu->gpr[id - 4] >> 8) & 0xff;
	case ZYDIS_REGCLASS_GPR16:
		return cpu->gpr[id] & 0xffff;
	case ZYDIS_REGCLASS_GPR32:
		return cpu->gpr[id];
	case ZYDIS_REGCLASS_SEGMENT:
		return vm->vcpu.seg[id].sel;
	default:
		return 0;
	}
}

void emu_set_reg(struct mon_vm *vm, ZydisRegister r, uint32_t value)
{
	struct bt_cpu *cpu = cpu_of(vm);
	ZyanI8 id = ZydisRegisterGetId(r);
	switch (ZydisRegisterGetClass(r)) {
	case ZYDIS_REGCLASS_GPR8:
		if (id < 4)
			cpu->gpr[id] = (cpu->gpr[id] & ~0xffu) | (value & 0xff);
		else
			cpu->gpr[id - 4] = (cpu->gpr[id - 4] & ~0xff00u) |
					   (value & 0xff) << 8;
		break;
	case ZYDIS_REGCLASS_GPR16:
		cpu->gpr[id] = (cpu->gpr[id] & ~0xffffu) | (value & 0xffff);
		break;
	case ZYDIS_REGCLASS_GPR32:
		cpu->gpr[id] = value;
		break;
	default:
		break;
	}
}

int emu_seg_index(ZydisRegister r)
{
	switch (r) {
	case ZYDIS_REGISTER_ES: return SEG_ES;
	case ZYDIS_REGISTER_CS: return SEG_CS;
	case ZYDIS_REGISTER_SS: return SEG_SS;
	case ZYDIS_REGISTER_FS: return SEG_FS;
	case ZYDIS_REGISTER_GS: return SEG_GS;
	default: return SEG_DS;
	}
}

uint32_t emu_ea(struct mon_vm *vm, const struct emu_insn *in,
		const ZydisDecodedOperand *op)
{
	uint32_t ea = (uint32_t)op->mem.disp.value;
	if (op->mem.base != ZYDIS_REGISTER_NONE)
		ea += emu_get_reg(vm, op->mem.base);
	if (op->mem.index != ZYDIS_REGISTER_NONE)
		ea += emu_get_reg(vm, op->mem.index) * op->mem.scale;
	if (in->zi.address_width == 16)
		ea &= 0xffff;
	return ea;
}

uint32_t emu_linear(struct mon_vm *vm, const struct emu_insn *in,
		    const ZydisDecodedOperand *op)
{
	return vm->vcpu.seg[emu_seg_index(op->mem.segment)].base + emu_ea(vm, in, op);
}

bool emu_read_op(struct mon_vm *vm, const struct emu_insn *in,
		 const ZydisDecodedOperand *op, unsigned size, uint32_t *value,
		 struct mon_fault *f)
{
	uint32_t v = 0;
	switch (op->type) {
	case ZYDIS_OPERAND_TYPE_REGISTER:
		v = emu_get_reg(vm, op->reg.value);
		break;
	case ZYDIS_OPERAND_TYPE_IMMEDIATE:
		v = (uint32_t)op->imm.value.u;
		break;
	case ZYDIS_OPERAND_TYPE_MEMORY:
		if (!mon_read(vm, emu_linear(vm, in, op), &v, size, f))
			return false;
		break;
	default:
		return false;
	}
	*value = v & emu_size_mask(size);
	return true;
}

bool emu_write_op(struct mon_vm *vm, const struct emu_insn *in,
		  const ZydisDecodedOperand *op, unsigned size, uint32_t value,
		  struct mon_fault *f)
{
	if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
		emu_set_reg(vm, op->reg.value, value);
		return true;
	}
	if (op->type == ZYDIS_OPERAND_TYPE_MEMORY)
		return mon_write(vm, emu_linear(vm, in, op), &value, size, f);
	return false;
}

void emu_set_szp(struct mon_vm *vm, uint32_t result, unsigned size)
{
	struct bt_cpu *cpu = cpu_of(vm);
	uint32_t r = result & emu_size_mask(size);
	cpu->eflags &= ~(BT_FL_SF | BT_FL_ZF | BT_FL_PF);
	if (!r)
		cpu->eflags |= BT_FL_ZF;
	if (r >> (size * 8 - 1) & 1)
		cpu->eflags |= BT_FL_SF;
	if (!__builtin_parity(r & 0xff))
		cpu->eflags |= BT_FL_PF;
}

/* JCXZ, and LOOP/LOOPE/LOOPNE counting in CX. */
static enum emu_result emu_loop16(struct mon_vm *vm, const struct emu_insn *in)
{
	struct bt_cpu *cpu = cpu_of(vm);
	ZydisMnemonic m = in->zi.mnemonic;
	bool taken;
	if (m == ZYDIS_MNEMONIC_JCXZ) {
		taken = !(cpu->gpr[BT_ECX] & 0xffff);
	} else if (m == ZYDIS_MNEMONIC_LOOP || m == ZYDIS_MNEMONIC_LOOPE ||
		   m == ZYDIS_MNEMONIC_LOOPNE) {
		uint32_t cx = (cpu->gpr[BT_ECX] - 1) & 0xffff;
		cpu->gpr[BT_ECX] = (cpu->gpr[BT_ECX] & ~0xffffu) | cx;
		bool zf = cpu->eflags & BT_FL_ZF;
		taken = cx && (m == ZYDIS_MNEMONIC_LOOP || (m == ZYDIS_MNEMONIC_LOOPE) == zf);
	} else {
		return EMU_UNHANDLED;
	}
	if (!taken)
		return EMU_NEXT;
	ZyanU64 t = 0;
	ZydisCalcAbsoluteAddress(&in->zi, &in->ops[0], in->eip, &t);
	cpu->eip = (uint32_t)t;
	return EMU_JUMPED;
}

/* ---- dispatch ---- */

/* The --stats class of an emulated instruction: its row's family; an
 * ordinary MOV is a page-table writer of adaptive translation. */
static enum mon_emu_class class_of(const struct emu_insn *in, enum bt_form form)
{
	static const enum mon_emu_class of_group[] = {
		[BT_GROUP_NONE] = EMU_OTHER,       [BT_GROUP_FLAGS] = EMU_FLAGS,
		[BT_GROUP_DESCTAB] = EMU_DESCTAB,  [BT_GROUP_SEGMENT] = EMU_SEGMENT,
		[BT_GROUP_FAR] = EMU_FAR,          [BT_GROUP_CONTROL] = EMU_CONTROL,
		[BT_GROUP_IO] = EMU_IO,            [BT_GROUP_CPU] = EMU_CPU,
		[BT_GROUP_LEGACY] = EMU_LEGACY,    [BT_GROUP_OTHER] = EMU_OTHER,
	};
	if (form == BT_FORM_NONE && in->zi.mnemonic == ZYDIS_MNEMONIC_MOV)
		return EMU_MEMORY;
	return of_group[bt_form_row(form)->group];
}

void mon_sync_mode(struct mon_vm *vm)
{
	struct vcpu *v = &vm->vcpu;
	bt_set_fp_trap(vm->bt, v->cr0 & (CR0_TS | CR0_EM), !(v->cr4 & CR4_OSFXSR));
	bt_set_native_tsc(vm->bt, v->tsc_offset == 0 && !(v->cr4 & CR4_TSD));
	struct bt_isa isa;
	mon_isa(vm, &isa);
	bt_set_isa(vm->bt, &isa);
	/* Translations are keyed by linear address: a new address space
	 * makes them stale. */
	if (smm_set_mode(vm->smm, v->cr0, v->cr3, v->cr4, v->efer & EFER_NXE, v->pdpte))
		bt_flush(vm->bt);
}

/* An FP instruction translated as EMULATE because CR0.TS or CR0.EM is set
 * (SDM vol. 3 table 2-2): EM makes x87 raise #NM and MMX/SSE #UD; TS makes
 * all of them raise #NM, and WAIT only when MP is set too. */
static enum emu_result emu_fp_trap(struct mon_vm *vm, const struct emu_insn *in,
				   struct mon_fault *f)
{
	uint32_t cr0 = vm->vcpu.cr0;
	bool x87 = in->zi.meta.isa_ext == ZYDIS_ISA_EXT_X87;
	if (!(vm->vcpu.cr4 & CR4_OSFXSR) && bt_xmm_insn(&in->zi, in->ops)) {
		mon_fault_set(f, EXC_UD, false, 0); /* before #NM, as decoding is */
	} else if (in->zi.mnemonic == ZYDIS_MNEMONIC_FWAIT) {
		if ((cr0 & (CR0_TS | CR0_MP)) != (CR0_TS | CR0_MP))
			return EMU_NEXT;
		mon_fault_set(f, EXC_NM, false, 0);
	} else if ((cr0 & CR0_EM) && !x87) {
		mon_fault_set(f, EXC_UD, false, 0);
	} else if (cr0 & (CR0_EM | CR0_TS)) {
		mon_fault_set(f, EXC_NM, false, 0);
	} else {
		/* Nothing traps: the instruction came here because its block
		 * was translated while its last bytes lay on a page not yet
		 * present (see dispatch). Run it natively. */
		return EMU_STEP;
	}
	return EMU_FAULT;
}

/* #UD: UD0, UD1, UD2. */
static enum emu_result emu_ud(struct mon_vm *vm, const struct emu_insn *in,
			      struct mon_fault *f)
{
	(void)vm, (void)in;
	mon_fault_set(f, EXC_UD, false, 0);
	return EMU_FAULT;
}

/* Run the instruction: its row in classify.def names the routine (after
 * the cases that are not the row's: an instruction the virtual CPU lacks,
 * a memory access the S-view cannot map, adaptive translation's
 * page-table writers, 16-bit addressing, FP traps). */
static enum emu_result dispatch(struct mon_vm *vm, const struct emu_insn *in,
				enum bt_form form, struct mon_fault *f, bool memory_fault)
{
	enum emu_result r;
	ZydisMnemonic m = in->zi.mnemonic;
	switch (bt_isa_check(bt_get_isa(vm->bt), &in->zi)) {
	case BT_ISA_UD:
		mon_fault_set(f, EXC_UD, false, 0);
		return EMU_FAULT;
	case BT_ISA_NOP:
		return EMU_NEXT;
	default:
		break;
	}
	if (memory_fault)
		return emu_memory(vm, in, f);
	/* Adaptive translation sent an ordinary instruction here because it
	 * writes page tables: MOV and XCHG are done through the monitor's RAM
	 * view (the shadow follows in mon_write); others run natively once. */
	if (bt_classify_mnemonic(m) != BT_CLASS_EMULATE &&
	    mon_is_hot_writer(vm, in->eip)) {
		vm->pt_written = false;
		r = emu_memory(vm, in, f);
		mon_hot_writer_done(vm, in->eip, r != EMU_UNHANDLED, vm->pt_written);
		if (r == EMU_UNHANDLED)
			return EMU_STEP;
		vm->stats.pt_writes_emulated++;
		return r;
	}
	/* 16-bit addressing (0x67 in 32-bit code) has no translation; the
	 * forms with general-register operands are emulated (a near CALL or
	 * JMP through memory, PUSH and POP included). */
	bool fsgs = in->zi.attributes & (ZYDIS_ATTRIB_HAS_SEGMENT_FS |
					 ZYDIS_ATTRIB_HAS_SEGMENT_GS);
	if (fsgs && ((r = emu_string(vm, in, f)) != EMU_UNHANDLED ||
		     (r = emu_xlat(vm, in, f)) != EMU_UNHANDLED))
		return r;
	if (in->zi.address_width == 16) {
		if ((r = emu_loop16(vm, in)) != EMU_UNHANDLED ||
		    (r = emu_string(vm, in, f)) != EMU_UNHANDLED)
			return r;
		if (bt_classify_mnemonic(m) != BT_CLASS_EMULATE &&
		    (r = emu_memory(vm, in, f)) != EMU_UNHANDLED)
			return r;
	}
	if (bt_fp_family(&in->zi))
		return emu_fp_trap(vm, in, f);
	static enum emu_result (*const handler[BT_EMU_COUNT])(struct mon_vm *,
							      const struct emu_insn *,
							      struct mon_fault *) = {
		[BT_EMU_FLAGS] = emu_flags,   [BT_EMU_IO] = emu_io,
		[BT_EMU_CPU] = emu_cpu,       [BT_EMU_SYS] = emu_sys,
		[BT_EMU_SEG] = emu_segments,  [BT_EMU_LEGACY] = emu_legacy,
		[BT_EMU_UD] = emu_ud,         [BT_EMU_MOV_CR] = emu_mov_cr,
		[BT_EMU_MOV_DR] = emu_mov_dr,
	};
	enum bt_handler h = bt_form_row(form)->handler;
	if (handler[h] && (r = handler[h](vm, in, f)) != EMU_UNHANDLED)
		return r;
	/* An ordinary instruction reaches here when its block was translated
	 * while its last bytes could not be fetched (they lie on a page that
	 * was not present then): it can be fetched now, so run it natively,
	 * translated on its own. */
	return bt_classify_mnemonic(m) == BT_CLASS_EMULATE ? EMU_UNHANDLED : EMU_STEP;
}

static ZydisDecoder decoder32;
static bool decoder_ready;

/*
 * Decoded instructions by EIP. An entry is good while the translator's
 * code epoch is unchanged and CS and the address space are the same: every
 * way guest code can change (a write to a code page, a flush, a CR3 load
 * that remaps code) bumps the epoch.
 */
#define DECODE_CACHE 1024
static struct {
	uint64_t epoch;
	uint32_t eip, cr3;
	uint16_t cs;
	bool valid;
	struct emu_insn in;
} decode_cache[DECODE_CACHE];

/* Decode the instruction at cpu->eip into *in. Return true, or false with
 * *faulted telling a fetch fault (in *f) from bytes that decode to nothing. */
static bool decode_at_eip(struct mon_vm *vm, struct emu_insn *in,
			  struct mon_fault *f, bool *faulted)
{
	struct bt_cpu *cpu = cpu_of(vm);
	uint8_t buf[16];
	if (!decoder_ready) {
		bt_decoder_init(&decoder32);
		decoder_ready = true;
	}
	uint64_t epoch = bt_code_epoch(vm->bt);
	unsigned slot = (cpu->eip ^ (cpu->eip >> 10)) % DECODE_CACHE;
	if (decode_cache[slot].valid && decode_cache[slot].eip == cpu->eip &&
	    decode_cache[slot].epoch == epoch && decode_cache[slot].cr3 == vm->vcpu.cr3 &&
	    decode_cache[slot].cs == vm->vcpu.seg[SEG_CS].sel) {
		*in = decode_cache[slot].in;
		return true;
	}
	memset(in, 0, sizeof *in);
	in->eip = cpu->eip;
	/* Fetch page by page: only a byte the instruction really needs may
	 * raise the fetch's #PF. */
	uint32_t at = vm->vcpu.seg[SEG_CS].base + cpu->eip;
	unsigned got = 0;
	*faulted = false;
	while (got < 15) {
		unsigned n = 4096 - ((at + got) & 4095);
		if (n > 15 - got)
			n = 15 - got;
		if (!mon_read(vm, at + got, buf + got, n, f)) {
			*faulted = true;
			break;
		}
		got += n;
	}
	if (!got || !ZYAN_SUCCESS(ZydisDecoderDecodeFull(&decoder32, buf, got,
							 &in->zi, in->ops)))
		return false;
	*faulted = false;
	in->next_eip = cpu->eip + in->zi.length;
	decode_cache[slot].valid = true;
	decode_cache[slot].eip = cpu->eip;
	decode_cache[slot].epoch = epoch;
	decode_cache[slot].cr3 = vm->vcpu.cr3;
	decode_cache[slot].cs = vm->vcpu.seg[SEG_CS].sel;
	decode_cache[slot].in = *in;
	return true;
}

/* Decode the instruction at cpu->eip; false (with #UD or a fetch fault
 * delivered) if that is impossible. */
static bool fetch_decode(struct mon_vm *vm, struct emu_insn *in)
{
	struct mon_fault f = { 0 };
	bool faulted;
	if (decode_at_eip(vm, in, &f, &faulted))
		return true;
	if (faulted)
		mon_deliver_fault(vm, &f);
	else
		mon_deliver(vm, EXC_UD, false, 0, cpu_of(vm)->eip, false);
	return false;
}

static void format_insn(const struct emu_insn *in, char *text, size_t size)
{
	ZydisFormatter fmt;
	ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_INTEL);
	if (!ZYAN_SUCCESS(ZydisFormatterFormatInstruction(&fmt, &in->zi, in->ops,
							  in->zi.operand_count_visible,
							  text, size, in->eip, NULL)))
		snprintf(text, size, "?");
}

void mon_describe_insn(struct mon_vm *vm, char *text, size_t size)
{
	struct emu_insn in;
	struct mon_fault f = { 0 };
	bool faulted;
	if (!decode_at_eip(vm, &in, &f, &faulted)) {
		snprintf(text, size, "?");
		return;
	}
	format_insn(&in, text, size);
	if (in.zi.mnemonic == ZYDIS_MNEMONIC_RDMSR || in.zi.mnemonic == ZYDIS_MNEMONIC_WRMSR) {
		size_t len = strlen(text);
		snprintf(text + len, size - len, " %#x", cpu_of(vm)->gpr[BT_ECX]);
	}
}

static void finish(struct mon_vm *vm, const struct emu_insn *in,
		   enum emu_result r, const struct mon_fault *f)
{
	struct bt_cpu *cpu = cpu_of(vm);
	switch (r) {
	case EMU_NEXT:
		cpu->eip = in->next_eip;
		break;
	case EMU_FAULT:
		mon_deliver_fault(vm, f);
		break;
	case EMU_STEP:
		mon_step_native(vm);
		break;
	case EMU_UNHANDLED: {
		char text[96];
		format_insn(in, text, sizeof text);
		mon_stop(vm, MON_EXIT_UNSUPPORTED, "unsupported instruction '%s' at EIP %#x",
			 text, in->eip);
		break;
	}
	default:
		break;
	}
}

/* LGDT, LLDT, a write to CR0/CR3/CR4 (LMSW too) or INVLPG: where the GDT
 * is, or how its linear address translates, may change. */
static bool moves_tables(const struct emu_insn *in)
{
	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_LGDT: case ZYDIS_MNEMONIC_LLDT: case ZYDIS_MNEMONIC_LMSW:
	case ZYDIS_MNEMONIC_INVLPG:
		return true;
	case ZYDIS_MNEMONIC_MOV:
		return in->ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
		       ZydisRegisterGetClass(in->ops[0].reg.value) == ZYDIS_REGCLASS_CONTROL;
	default:
		return false;
	}
}

void mon_emulate(struct mon_vm *vm)
{
	struct emu_insn in;
	struct mon_fault f = { 0 };
	if (!fetch_decode(vm, &in))
		return;
	enum bt_form form = bt_form_of(&in.zi, in.ops);
	vm->stats.emu_count[class_of(&in, form)]++;
	if (vm->opt.stats)
		mon_count_site(vm, in.eip, in.zi.mnemonic, false);
	/* Descriptor tables or address translation may change: translated
	 * code's segment loads must read the tables again. */
	if (moves_tables(&in))
		mon_segc_flush(vm);
	finish(vm, &in, dispatch(vm, &in, form, &f, false), &f);
}

bool mon_emulated_at_eip(struct mon_vm *vm)
{
	struct emu_insn in;
	struct mon_fault f = { 0 };
	bool faulted;
	if (!decode_at_eip(vm, &in, &f, &faulted))
		return false;
	return bt_classify_insn(&in.zi, in.ops) == BT_CLASS_EMULATE;
}

void mon_emulate_memory(struct mon_vm *vm)
{
	struct emu_insn in;
	struct mon_fault f = { 0 };
	if (!fetch_decode(vm, &in))
		return;
	vm->stats.emu_count[EMU_MEMORY]++;
	enum emu_result r = dispatch(vm, &in, BT_FORM_NONE, &f, true);
	if (r == EMU_UNHANDLED) {
		mon_stop(vm, MON_EXIT_UNSUPPORTED,
			 "unsupported: instruction at EIP %#x accesses guest memory "
			 "the monitor must reach for it (below vm.mmap_min_addr, beyond "
			 "RAM, or a page table written from ring 3), in a form it does "
			 "not emulate", in.eip);
		return;
	}
	finish(vm, &in, r, &f);
}
