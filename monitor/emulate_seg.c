/* monitor: emulation of descriptor-table, segment and far control-transfer instructions. */
#include "emulate.h"

static bool cpl0(struct mon_vm *vm, struct mon_fault *f)
{
	if (mon_cpl(&vm->vcpu) == 0)
		return true;
	mon_fault_set(f, EXC_GP, true, 0);
	return false;
}

static int sreg_of(ZydisRegister r)
{
	return ZydisRegisterGetId(r); /* ES CS SS DS FS GS: the x86 order */
}

/* LGDT/LIDT/SGDT/SIDT: a 6-byte pseudo-descriptor {u16 limit, u32 base}. */
static enum emu_result emu_dtr(struct mon_vm *vm, const struct emu_insn *in,
			       struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	ZydisMnemonic m = in->zi.mnemonic;
	struct mon_dtr *t = (m == ZYDIS_MNEMONIC_LGDT || m == ZYDIS_MNEMONIC_SGDT)
				    ? &v->gdtr : &v->idtr;
	uint32_t addr = emu_linear(vm, in, &in->ops[0]);
	if (m == ZYDIS_MNEMONIC_SGDT || m == ZYDIS_MNEMONIC_SIDT) {
		uint8_t b[6] = { (uint8_t)t->limit, (uint8_t)(t->limit >> 8),
				 (uint8_t)t->base, (uint8_t)(t->base >> 8),
				 (uint8_t)(t->base >> 16), (uint8_t)(t->base >> 24) };
		return mon_write(vm, addr, b, 6, f) ? EMU_NEXT : EMU_FAULT;
	}
	if (!cpl0(vm, f))
		return EMU_FAULT;
	uint8_t b[6];
	if (!mon_read(vm, addr, b, 6, f))
		return EMU_FAULT;
	t->limit = (uint16_t)(b[0] | b[1] << 8);
	t->base = (uint32_t)b[2] | (uint32_t)b[3] << 8 | (uint32_t)b[4] << 16 |
		  (uint32_t)b[5] << 24;
	if (in->zi.operand_width == 16)
		t->base &= 0xffffff;
	return EMU_NEXT;
}

/* SLDT, STR, and MOV r/m, Sreg: a selector to a register (zero-extended
 * at 32-bit operand size) or a 16-bit memory word. */
static enum emu_result store_selector(struct mon_vm *vm, const struct emu_insn *in,
				      uint16_t sel, struct mon_fault *f)
{
	const ZydisDecodedOperand *op = &in->ops[0];
	if (op->type == ZYDIS_OPERAND_TYPE_REGISTER) {
		emu_set_reg(vm, op->reg.value, sel);
		return EMU_NEXT;
	}
	return emu_write_op(vm, in, op, 2, sel, f) ? EMU_NEXT : EMU_FAULT;
}

static enum emu_result emu_lldt_ltr(struct mon_vm *vm, const struct emu_insn *in,
				    struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	bool ltr = in->zi.mnemonic == ZYDIS_MNEMONIC_LTR;
	uint32_t sel;
	if (!cpl0(vm, f) || !emu_read_op(vm, in, &in->ops[0], 2, &sel, f))
		return EMU_FAULT;
	if (sel_null(sel)) {
		if (ltr) {
			mon_fault_set(f, EXC_GP, true, 0);
			return EMU_FAULT;
		}
		v->ldtr = (struct mon_seg){ .sel = (uint16_t)sel };
		return EMU_NEXT;
	}
	uint64_t d;
	if (sel & SEL_TI) { /* must come from the GDT */
		mon_fault_set(f, EXC_GP, true, sel_error(sel));
		return EMU_FAULT;
	}
	if (!mon_read_descriptor(vm, (uint16_t)sel, &d, f))
		return EMU_FAULT;
	unsigned type = desc_type(d);
	bool ok = !desc_s(d) && (ltr ? (type == SYS_TSS32 || type == SYS_TSS16) : type == SYS_LDT);
	if (!ok) {
		mon_fault_set(f, EXC_GP, true, sel_error(sel));
		return EMU_FAULT;
	}
	if (!desc_p(d)) {
		mon_fault_set(f, EXC_NP, true, sel_error(sel));
		return EMU_FAULT;
	}
	if (ltr) { /* mark the TSS busy in the GDT */
		d |= DESC_TSS_BUSY;
		uint8_t a = (uint8_t)desc_access(d);
		if (!mon_write_sys(vm, v->gdtr.base + sel_offset(sel) + DESC_ACCESS_BYTE, &a, 1, f))
			return EMU_FAULT;
		mon_desc_to_seg(d, (uint16_t)sel, &v->tr);
	} else {
		mon_desc_to_seg(d, (uint16_t)sel, &v->ldtr);
	}
	return EMU_NEXT;
}

/* LAR, LSL, VERR, VERW: never fault on a bad selector; ZF says whether it
 * passed. SDM vol. 2: LAR/LSL accept the listed system types. */
static enum emu_result emu_probe(struct mon_vm *vm, const struct emu_insn *in,
				 struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	struct bt_cpu *cpu = v->cpu;
	ZydisMnemonic m = in->zi.mnemonic;
	const ZydisDecodedOperand *selop = (m == ZYDIS_MNEMONIC_LAR ||
					    m == ZYDIS_MNEMONIC_LSL) ? &in->ops[1]
								     : &in->ops[0];
	uint32_t sel;
	if (!emu_read_op(vm, in, selop, 2, &sel, f))
		return EMU_FAULT;
	bool ok = false;
	uint64_t d = 0;
	struct mon_fault ignored = { 0 };
	if (!sel_null(sel) && mon_read_descriptor(vm, (uint16_t)sel, &d, &ignored)) {
		unsigned type = desc_type(d), dpl = desc_dpl(d), rpl = sel_rpl(sel), cpl = mon_cpl(v);
		bool s = desc_s(d), code = type & DESC_TYPE_CODE;
		bool conforming = s && code && (type & DESC_TYPE_CONFORMING);
		bool priv = conforming || (dpl >= cpl && dpl >= rpl);
		switch (m) {
		case ZYDIS_MNEMONIC_LAR:
			ok = priv && (s || type == SYS_TSS16 || type == SYS_LDT ||
				      type == SYS_TSS16_BUSY || type == SYS_CALL_GATE16 ||
				      type == SYS_TASK_GATE || type == SYS_TSS32 ||
				      type == SYS_TSS32_BUSY || type == SYS_CALL_GATE32);
			break;
		case ZYDIS_MNEMONIC_LSL:
			ok = priv && (s || type == SYS_TSS16 || type == SYS_LDT ||
				      type == SYS_TSS16_BUSY || type == SYS_TSS32 ||
				      type == SYS_TSS32_BUSY);
			break;
		case ZYDIS_MNEMONIC_VERR:
			ok = s && priv && (!code || (type & DESC_TYPE_READABLE));
			break;
		default: /* VERW */
			ok = s && priv && !code && (type & DESC_TYPE_WRITABLE);
			break;
		}
	}
	if (m == ZYDIS_MNEMONIC_VERW)
		mon_segc_note(vm, (uint16_t)sel);
	cpu->eflags &= ~BT_FL_ZF;
	if (!ok)
		return EMU_NEXT;
	cpu->eflags |= BT_FL_ZF;
	if (m == ZYDIS_MNEMONIC_LAR) {
		uint32_t hi = (uint32_t)(d >> 32);
		uint32_t r = in->zi.operand_width == 32 ? hi & 0x00f0ff00u : hi & 0xff00u;
		emu_set_reg(vm, in->ops[0].reg.value, r);
	} else if (m == ZYDIS_MNEMONIC_LSL) {
		struct mon_seg s;
		mon_desc_to_seg(d, (uint16_t)sel, &s);
		emu_set_reg(vm, in->ops[0].reg.value, s.limit);
	}
	return EMU_NEXT;
}

/*
 * A far CALL or JMP through a 32-bit call gate (SDM vol. 2, CALL and JMP):
 * the gate's DPL must admit CPL and the selector's RPL; the code segment
 * it names must not be less privileged. A CALL to a more privileged
 * non-conforming segment switches to that level's stack from the TSS and
 * copies the gate's parameter count of dwords across; a JMP never changes
 * privilege.
 */
static enum emu_result far_through_gate(struct mon_vm *vm, const struct emu_insn *in,
					uint16_t sel, uint64_t gate, struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	struct bt_cpu *cpu = v->cpu;
	unsigned cpl = mon_cpl(v), gdpl = desc_dpl(gate);
	bool call = in->zi.mnemonic == ZYDIS_MNEMONIC_CALL;
	if (gdpl < cpl || gdpl < sel_rpl(sel)) {
		mon_fault_set(f, EXC_GP, true, sel_error(sel));
		return EMU_FAULT;
	}
	if (!desc_p(gate)) {
		mon_fault_set(f, EXC_NP, true, sel_error(sel));
		return EMU_FAULT;
	}
	uint16_t csel = gate_sel(gate);
	uint32_t off = gate_offset(gate);
	unsigned nparams = gate_params(gate);
	uint64_t cd;
	if (sel_null(csel)) {
		mon_fault_set(f, EXC_GP, true, 0);
		return EMU_FAULT;
	}
	if (!mon_read_descriptor(vm, csel, &cd, f))
		return EMU_FAULT;
	unsigned dpl = desc_dpl(cd);
	bool code = desc_s(cd) && (desc_type(cd) & DESC_TYPE_CODE);
	bool conforming = code && (desc_type(cd) & DESC_TYPE_CONFORMING);
	if (!code || dpl > cpl || (!call && !conforming && dpl != cpl)) {
		mon_fault_set(f, EXC_GP, true, sel_error(csel));
		return EMU_FAULT;
	}
	unsigned new_cpl = conforming ? cpl : dpl;
	uint32_t old_esp = cpu->gpr[BT_ESP];
	struct mon_seg old_cs = v->seg[SEG_CS], old_ss = v->seg[SEG_SS];
	uint32_t new_esp = 0;
	uint16_t new_ss = 0;
	if (new_cpl < cpl && !mon_tss_stack(vm, new_cpl, &new_ss, &new_esp, f))
		return EMU_FAULT;
	if (!mon_load_cs_at(vm, csel, new_cpl, f))
		return vm->stop ? EMU_STOPPED : EMU_FAULT;
	if (new_cpl < cpl) {
		if (sel_rpl(new_ss) != new_cpl || !mon_load_seg(vm, SEG_SS, new_ss, f)) {
			mon_fault_set(f, EXC_TS, true, sel_error(new_ss));
			goto undo;
		}
		cpu->gpr[BT_ESP] = new_esp;
		if (!mon_push(vm, old_ss.sel, 4, f) || !mon_push(vm, old_esp, 4, f))
			goto undo;
		for (unsigned i = nparams; i-- > 0;) {
			uint32_t p = 0;
			if (!mon_read(vm, old_ss.base + old_esp + 4 * i, &p, 4, f) ||
			    !mon_push(vm, p, 4, f))
				goto undo;
		}
	}
	if (call && (!mon_push(vm, old_cs.sel, 4, f) || !mon_push(vm, in->next_eip, 4, f)))
		goto undo;
	cpu->eip = off;
	return EMU_JUMPED;
undo:
	cpu->gpr[BT_ESP] = old_esp;
	v->seg[SEG_CS] = old_cs;
	v->seg[SEG_SS] = old_ss;
	return vm->stop ? EMU_STOPPED : EMU_FAULT;
}

static enum emu_result emu_far_jmp_call(struct mon_vm *vm, const struct emu_insn *in,
					struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	struct bt_cpu *cpu = v->cpu;
	const ZydisDecodedOperand *op = &in->ops[0];
	unsigned size = in->zi.operand_width / 8;
	uint32_t off;
	uint16_t sel;
	if (op->type == ZYDIS_OPERAND_TYPE_POINTER) {
		off = op->ptr.offset;
		sel = op->ptr.segment;
	} else if (op->type == ZYDIS_OPERAND_TYPE_MEMORY) {
		uint32_t a = emu_linear(vm, in, op);
		uint32_t s = 0;
		off = 0;
		if (!mon_read(vm, a, &off, size, f) || !mon_read(vm, a + size, &s, 2, f))
			return EMU_FAULT;
		sel = (uint16_t)s;
	} else {
		return EMU_UNHANDLED;
	}
	if (size == 2)
		off &= 0xffff;
	/* A call gate (system descriptor type 0xC), an available TSS (1, 9)
	 * or a task gate (5) in protected mode. */
	uint64_t gd;
	struct mon_fault probe = { 0 };
	if ((v->cr0 & CR0_PE) && !sel_null(sel) && mon_read_descriptor(vm, sel, &gd, &probe) &&
	    !desc_s(gd)) {
		unsigned type = desc_type(gd);
		if (type == SYS_CALL_GATE32)
			return size == 4 ? far_through_gate(vm, in, sel, gd, f) : EMU_UNHANDLED;
		if (type == SYS_TSS16 || type == SYS_TSS32 || type == SYS_TASK_GATE) {
			bool call = in->zi.mnemonic == ZYDIS_MNEMONIC_CALL;
			if (mon_task_far(vm, sel, gd, call, in->next_eip, f))
				return EMU_JUMPED;
			return vm->stop ? EMU_STOPPED : EMU_FAULT;
		}
	}
	uint32_t saved_esp = cpu->gpr[BT_ESP];
	uint16_t old_cs = v->seg[SEG_CS].sel;
	struct mon_seg saved = v->seg[SEG_CS];
	if (!mon_load_cs(vm, sel, f))
		return vm->stop ? EMU_STOPPED : EMU_FAULT;
	if (in->zi.mnemonic == ZYDIS_MNEMONIC_CALL &&
	    (!mon_push(vm, old_cs, size, f) || !mon_push(vm, in->next_eip, size, f))) {
		cpu->gpr[BT_ESP] = saved_esp;
		v->seg[SEG_CS] = saved;
		return EMU_FAULT;
	}
	cpu->eip = off;
	return EMU_JUMPED;
}

static enum emu_result emu_far_ret(struct mon_vm *vm, const struct emu_insn *in,
				   struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	struct bt_cpu *cpu = v->cpu;
	unsigned size = in->zi.operand_width / 8;
	uint32_t saved_esp = cpu->gpr[BT_ESP], off, sel;
	if (!mon_pop(vm, &off, size, f) || !mon_pop(vm, &sel, size, f))
		goto fault;
	if (size == 2)
		off &= 0xffff;
	unsigned cpl = mon_cpl(v), rpl = sel_rpl(sel);
	uint32_t imm = 0;
	if (in->zi.operand_count_visible && in->ops[0].type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
		imm = (uint32_t)(in->ops[0].imm.value.u & 0xffff);
	/* SDM vol. 2, RET: a return to a more privileged level is #GP(sel) */
	if (rpl < cpl) {
		mon_fault_set(f, EXC_GP, true, sel_error(sel));
		goto fault;
	}
	if (rpl == cpl) {
		if (!mon_load_cs(vm, (uint16_t)sel, f))
			goto fault;
		cpu->gpr[BT_ESP] += imm;
		cpu->eip = off;
		return EMU_JUMPED;
	}
	/* To an outer level: the caller's SS:ESP follow on this stack (after
	 * the parameters RET imm drops), and SS must match the new CPL. */
	uint32_t new_esp, new_ss;
	cpu->gpr[BT_ESP] += imm;
	if (!mon_pop(vm, &new_esp, size, f) || !mon_pop(vm, &new_ss, size, f))
		goto fault;
	struct mon_seg saved_cs = v->seg[SEG_CS];
	if (!mon_load_cs_at(vm, (uint16_t)sel, rpl, f))
		goto fault;
	if (sel_rpl(new_ss) != rpl || !mon_load_seg(vm, SEG_SS, (uint16_t)new_ss, f)) {
		if (!f->raised)
			mon_fault_set(f, EXC_GP, true, sel_error(new_ss));
		v->seg[SEG_CS] = saved_cs;
		goto fault;
	}
	cpu->gpr[BT_ESP] = (size == 2 ? (cpu->gpr[BT_ESP] & ~0xffffu) | (new_esp & 0xffff)
				      : new_esp) + imm;
	cpu->eip = off;
	mon_null_outer_segments(vm);
	return EMU_JUMPED;
fault:
	cpu->gpr[BT_ESP] = saved_esp;
	return vm->stop ? EMU_STOPPED : EMU_FAULT;
}

/* IRET of `size` bytes at `at` (the next instruction at `next`), in
 * protected mode. */
static enum emu_result iret(struct mon_vm *vm, unsigned size, uint32_t at, uint32_t next,
			    struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	struct bt_cpu *cpu = v->cpu;
	uint32_t saved_esp = cpu->gpr[BT_ESP], eip, cs, fl;
	if (cpu->eflags & BT_FL_NT) {
		/* A task return (SDM vol. 2, IRET): the current TSS's link
		 * must name a busy TSS in the GDT, else #TS(link). Ring 3 can
		 * set NT with POPF, so ring-3 code gets here too. */
		uint32_t link = 0;
		uint64_t d;
		if (!mon_read_sys(vm, v->tr.base + offsetof(struct tss32, link), &link, 2, f))
			return EMU_FAULT;
		if ((link & SEL_TI) || !mon_read_descriptor(vm, (uint16_t)link, &d, f)) {
			mon_fault_set(f, EXC_TS, true, sel_error(link));
			return EMU_FAULT;
		}
		if (mon_task_switch(vm, (uint16_t)link, d, MON_TASK_IRET, next, f))
			return EMU_JUMPED;
		return vm->stop ? EMU_STOPPED : EMU_FAULT;
	}
	if (!mon_pop(vm, &eip, size, f) || !mon_pop(vm, &cs, size, f) ||
	    !mon_pop(vm, &fl, size, f))
		goto fault;
	unsigned cpl = mon_cpl(v);
	if (sel_rpl(cs) < cpl || (size == 4 && (fl & BT_FL_VM) && cpl == 0)) {
		if (fl & BT_FL_VM)
			mon_stop(vm, MON_EXIT_UNSUPPORTED,
				 "unsupported: IRET to virtual-8086 mode at EIP %#x", at);
		else
			mon_fault_set(f, EXC_GP, true, sel_error(cs));
		goto fault_or_stop;
	}
	uint32_t new_esp = 0, new_ss = 0;
	bool outer = sel_rpl(cs) > cpl;
	if (outer && (!mon_pop(vm, &new_esp, size, f) || !mon_pop(vm, &new_ss, size, f)))
		goto fault;
	struct mon_seg saved_cs = v->seg[SEG_CS];
	if (!mon_load_cs_at(vm, (uint16_t)cs, sel_rpl(cs), f))
		goto fault;
	if (outer) {
		/* CS now carries the new CPL: SS is checked against it. */
		if (sel_rpl(new_ss) != sel_rpl(cs) || !mon_load_seg(vm, SEG_SS, (uint16_t)new_ss, f)) {
			if (!f->raised)
				mon_fault_set(f, EXC_GP, true, sel_error(new_ss));
			v->seg[SEG_CS] = saved_cs;
			goto fault;
		}
	}
	/* At CPL 0 every flag can be loaded; IOPL only at CPL 0 and IF only
	 * when CPL <= IOPL, as POPF. */
	uint32_t mask = BT_FL_LIVE | BT_FL_TF | BT_FL_NT | BT_FL_RF | BT_FL_AC | BT_FL_ID;
	if (cpl == 0)
		mask |= BT_FL_IOPL;
	if (cpl <= ((cpu->eflags & BT_FL_IOPL) >> 12))
		mask |= BT_FL_IF;
	if (size == 2)
		mask &= 0xffff;
	cpu->eflags = (cpu->eflags & ~mask) | (fl & mask) | 2;
	cpu->eip = eip;
	if (outer) {
		cpu->gpr[BT_ESP] = new_esp;
		mon_null_outer_segments(vm);
	}
	return EMU_JUMPED;
fault_or_stop:
	if (vm->stop)
		return EMU_STOPPED;
fault:
	cpu->gpr[BT_ESP] = saved_esp;
	return vm->stop ? EMU_STOPPED : EMU_FAULT;
}

static enum emu_result emu_iret(struct mon_vm *vm, const struct emu_insn *in,
				struct mon_fault *f)
{
	return iret(vm, in->zi.operand_width / 8, in->eip, in->next_eip, f);
}

bool mon_iretd_inline(struct mon_vm *vm, uint32_t at)
{
	struct mon_fault f = { 0 };
	if (vm->vcpu.cpu->eflags & (BT_FL_NT | BT_FL_VM))
		return false;
	return iret(vm, 4, at, 0, &f) == EMU_JUMPED; /* NT is clear: no next */
}

/* MOV Sreg, POP Sreg, PUSH Sreg, LDS/LES/LFS/LGS/LSS. */
static enum emu_result emu_sreg(struct mon_vm *vm, const struct emu_insn *in,
				struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	struct bt_cpu *cpu = v->cpu;
	const ZydisDecodedOperand *dst = &in->ops[0], *src = &in->ops[1];
	unsigned size = in->zi.operand_width / 8;
	uint32_t x;
	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_MOV:
		if (dst->type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    ZydisRegisterGetClass(dst->reg.value) == ZYDIS_REGCLASS_SEGMENT) {
			int s = sreg_of(dst->reg.value);
			if (s == SEG_CS) {
				mon_fault_set(f, EXC_UD, false, 0);
				return EMU_FAULT;
			}
			if (!emu_read_op(vm, in, src, 2, &x, f) ||
			    !mon_load_seg(vm, s, (uint16_t)x, f))
				return vm->stop ? EMU_STOPPED : EMU_FAULT;
			if (s == SEG_SS)
				vm->irq_shadow = true; /* MOV SS; MOV ESP stays atomic */
			else
				mon_segc_note(vm, (uint16_t)x);
			return EMU_NEXT;
		}
		return store_selector(vm, in, v->seg[sreg_of(src->reg.value)].sel, f);
	case ZYDIS_MNEMONIC_PUSH:
		/* QEMU (our test oracle) writes the zero-extended selector at
		 * 32-bit operand size; recent Intel CPUs write only 16 bits. */
		return mon_push(vm, v->seg[sreg_of(dst->reg.value)].sel, size, f)
			       ? EMU_NEXT : EMU_FAULT;
	case ZYDIS_MNEMONIC_POP: {
		uint32_t saved = cpu->gpr[BT_ESP];
		int s = sreg_of(dst->reg.value);
		if (!mon_pop(vm, &x, size, f))
			return EMU_FAULT;
		if (!mon_load_seg(vm, s, (uint16_t)x, f)) {
			cpu->gpr[BT_ESP] = saved;
			return vm->stop ? EMU_STOPPED : EMU_FAULT;
		}
		if (s == SEG_SS)
			vm->irq_shadow = true; /* POP SS, as MOV SS */
		else
			mon_segc_note(vm, (uint16_t)x);
		return EMU_NEXT;
	}
	default: { /* LxS r, m16:32 */
		static const struct { ZydisMnemonic m; int s; } map[] = {
			{ ZYDIS_MNEMONIC_LDS, SEG_DS }, { ZYDIS_MNEMONIC_LES, SEG_ES },
			{ ZYDIS_MNEMONIC_LFS, SEG_FS }, { ZYDIS_MNEMONIC_LGS, SEG_GS },
			{ ZYDIS_MNEMONIC_LSS, SEG_SS },
		};
		int s = -1;
		for (unsigned i = 0; i < sizeof map / sizeof map[0]; i++)
			if (map[i].m == in->zi.mnemonic)
				s = map[i].s;
		if (s < 0)
			return EMU_UNHANDLED;
		if (src->type != ZYDIS_OPERAND_TYPE_MEMORY) {
			mon_fault_set(f, EXC_UD, false, 0);
			return EMU_FAULT;
		}
		uint32_t a = emu_linear(vm, in, src), off = 0, sel = 0;
		if (!mon_read(vm, a, &off, size, f) || !mon_read(vm, a + size, &sel, 2, f))
			return EMU_FAULT;
		if (!mon_load_seg(vm, s, (uint16_t)sel, f))
			return vm->stop ? EMU_STOPPED : EMU_FAULT;
		emu_set_reg(vm, dst->reg.value, off);
		return EMU_NEXT;
	}
	}
}

static bool has_sreg(const struct emu_insn *in)
{
	for (unsigned i = 0; i < in->zi.operand_count_visible; i++)
		if (in->ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER &&
		    ZydisRegisterGetClass(in->ops[i].reg.value) == ZYDIS_REGCLASS_SEGMENT)
			return true;
	return false;
}

enum emu_result emu_segments(struct mon_vm *vm, const struct emu_insn *in,
			     struct mon_fault *f)
{
	struct bt_cpu *cpu = vm->vcpu.cpu;
	switch (in->zi.mnemonic) {
	case ZYDIS_MNEMONIC_LGDT: case ZYDIS_MNEMONIC_LIDT:
	case ZYDIS_MNEMONIC_SGDT: case ZYDIS_MNEMONIC_SIDT:
		return emu_dtr(vm, in, f);
	case ZYDIS_MNEMONIC_SLDT:
		return store_selector(vm, in, vm->vcpu.ldtr.sel, f);
	case ZYDIS_MNEMONIC_STR:
		return store_selector(vm, in, vm->vcpu.tr.sel, f);
	case ZYDIS_MNEMONIC_LLDT: case ZYDIS_MNEMONIC_LTR:
		return emu_lldt_ltr(vm, in, f);
	case ZYDIS_MNEMONIC_LAR: case ZYDIS_MNEMONIC_LSL:
	case ZYDIS_MNEMONIC_VERR: case ZYDIS_MNEMONIC_VERW:
		return emu_probe(vm, in, f);
	case ZYDIS_MNEMONIC_JMP: case ZYDIS_MNEMONIC_CALL:
		if (in->zi.meta.branch_type != ZYDIS_BRANCH_TYPE_FAR)
			return EMU_UNHANDLED;
		return emu_far_jmp_call(vm, in, f);
	case ZYDIS_MNEMONIC_RET:
		if (in->zi.meta.branch_type != ZYDIS_BRANCH_TYPE_FAR)
			return EMU_UNHANDLED;
		return emu_far_ret(vm, in, f);
	case ZYDIS_MNEMONIC_IRET: case ZYDIS_MNEMONIC_IRETD:
		return emu_iret(vm, in, f);
	case ZYDIS_MNEMONIC_INT:
		mon_deliver(vm, (uint8_t)in->ops[0].imm.value.u, false, 0,
			    in->next_eip, true);
		return EMU_JUMPED;
	case ZYDIS_MNEMONIC_INT3:
		mon_deliver(vm, EXC_BP, false, 0, in->next_eip, true);
		return EMU_JUMPED;
	case ZYDIS_MNEMONIC_INTO:
		if (!(cpu->eflags & BT_FL_OF))
			return EMU_NEXT;
		mon_deliver(vm, EXC_OF, false, 0, in->next_eip, true);
		return EMU_JUMPED;
	case ZYDIS_MNEMONIC_INT1:
		mon_deliver(vm, EXC_DB, false, 0, in->next_eip, false);
		return EMU_JUMPED;
	case ZYDIS_MNEMONIC_MOV: case ZYDIS_MNEMONIC_PUSH: case ZYDIS_MNEMONIC_POP:
		if (!has_sreg(in))
			return EMU_UNHANDLED;
		return emu_sreg(vm, in, f);
	case ZYDIS_MNEMONIC_LDS: case ZYDIS_MNEMONIC_LES: case ZYDIS_MNEMONIC_LFS:
	case ZYDIS_MNEMONIC_LGS: case ZYDIS_MNEMONIC_LSS:
		return emu_sreg(vm, in, f);
	default:
		return EMU_UNHANDLED;
	}
}
