/* monitor: segment descriptors, segment-register loads and their checks. */
#include <string.h>

#include "monitor.h"

unsigned mon_cpl(const struct vcpu *v)
{
	if (!(v->cr0 & CR0_PE))
		return 0;
	return sel_rpl(v->seg[SEG_CS].sel);
}

void mon_desc_to_seg(uint64_t desc, uint16_t sel, struct mon_seg *s)
{
	s->sel = sel;
	s->base = desc_base(desc);
	s->limit = desc_byte_limit(desc);
	s->attr = desc_attr(desc);
}

bool mon_read_descriptor(struct mon_vm *vm, uint16_t sel, uint64_t *desc,
			 struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	uint32_t base, limit;
	if (sel & SEL_TI) {
		if (!v->ldtr.sel || !seg_attr_p(v->ldtr.attr))
			goto bad;
		base = v->ldtr.base;
		limit = v->ldtr.limit;
	} else {
		base = v->gdtr.base;
		limit = v->gdtr.limit;
	}
	if (sel_offset(sel) + DESC_SIZE - 1 > limit)
		goto bad;
	return mon_read_sys(vm, base + sel_offset(sel), desc, DESC_SIZE, f);
bad:
	mon_fault_set(f, EXC_GP, true, sel_error(sel));
	return false;
}

/* Set the accessed bit in the descriptor table, as the CPU does on a load. */
static bool mark_accessed(struct mon_vm *vm, uint16_t sel, uint64_t *desc,
			  struct mon_fault *f)
{
	if (*desc & DESC_ACCESSED)
		return true;
	*desc |= DESC_ACCESSED;
	struct vcpu *v = &vm->vcpu;
	uint32_t base = (sel & SEL_TI) ? v->ldtr.base : v->gdtr.base;
	uint8_t access = (uint8_t)desc_access(*desc);
	return mon_write_sys(vm, base + sel_offset(sel) + DESC_ACCESS_BYTE, &access, 1, f);
}

void mon_sync_seg_bases(struct mon_vm *vm)
{
	struct vcpu *v = &vm->vcpu;
	v->cpu->fsbase = v->seg[SEG_FS].base;
	v->cpu->gsbase = v->seg[SEG_GS].base;
}

/*
 * Translated code assumes CS, DS, ES and SS have base 0 (flat), which
 * every 32-bit OS we target uses; FS and GS bases are honoured through
 * the host FS/GS bases. Limits are not enforced in translated code.
 */
static bool flat_check(struct mon_vm *vm, int sreg, const struct mon_seg *s)
{
	if (sreg == SEG_FS || sreg == SEG_GS || s->base == 0 || !s->sel)
		return true;
	mon_stop(vm, MON_EXIT_UNSUPPORTED,
		 "unsupported: segment %s loaded with base %#x (selector %#x); "
		 "only flat CS/DS/ES/SS are supported",
		 (const char *[]){ "ES", "CS", "SS", "DS", "FS", "GS" }[sreg],
		 s->base, s->sel);
	return false;
}

bool mon_load_seg(struct mon_vm *vm, int sreg, uint16_t sel, struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	unsigned cpl = mon_cpl(v), rpl = sel_rpl(sel);
	uint64_t d;
	struct mon_seg s;

	if (!(v->cr0 & CR0_PE)) { /* real mode: base = selector * 16 */
		s = v->seg[sreg];
		s.sel = sel;
		s.base = (uint32_t)sel << 4;
		if (!flat_check(vm, sreg, &s))
			return false;
		v->seg[sreg] = s;
		mon_sync_seg_bases(vm);
		return true;
	}
	if (sel_null(sel)) {
		if (sreg == SEG_SS) {
			mon_fault_set(f, EXC_GP, true, 0);
			return false;
		}
		v->seg[sreg] = (struct mon_seg){ .sel = sel };
		mon_sync_seg_bases(vm);
		return true;
	}
	if (!mon_read_descriptor(vm, sel, &d, f))
		return false;
	unsigned type = desc_type(d), dpl = desc_dpl(d);
	bool code = type & DESC_TYPE_CODE;
	if (!desc_s(d)) /* system descriptor */
		goto gp;
	if (sreg == SEG_SS) {
		if (code || !(type & DESC_TYPE_WRITABLE) || rpl != cpl || dpl != cpl)
			goto gp;
		if (!desc_p(d)) {
			mon_fault_set(f, EXC_SS, true, sel_error(sel));
			return false;
		}
	} else {
		if (code && !(type & DESC_TYPE_READABLE))
			goto gp;
		if ((!code || !(type & DESC_TYPE_CONFORMING)) && (rpl > dpl || cpl > dpl))
			goto gp;
		if (!desc_p(d)) {
			mon_fault_set(f, EXC_NP, true, sel_error(sel));
			return false;
		}
	}
	if (!mark_accessed(vm, sel, &d, f))
		return false;
	mon_desc_to_seg(d, sel, &s);
	if (!flat_check(vm, sreg, &s))
		return false;
	v->seg[sreg] = s;
	mon_sync_seg_bases(vm);
	return true;
gp:
	mon_fault_set(f, EXC_GP, true, sel_error(sel));
	return false;
}

bool mon_load_cs_at(struct mon_vm *vm, uint16_t sel, unsigned new_cpl,
		    struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	uint64_t d;
	struct mon_seg s;
	if (sel_null(sel)) {
		mon_fault_set(f, EXC_GP, true, 0);
		return false;
	}
	if (!mon_read_descriptor(vm, sel, &d, f))
		return false;
	unsigned type = desc_type(d), dpl = desc_dpl(d);
	bool conforming = type & DESC_TYPE_CONFORMING;
	if (!desc_s(d) || !(type & DESC_TYPE_CODE) ||
	    (conforming ? dpl > new_cpl : dpl != new_cpl)) {
		mon_fault_set(f, EXC_GP, true, sel_error(sel));
		return false;
	}
	if (!desc_p(d)) {
		mon_fault_set(f, EXC_NP, true, sel_error(sel));
		return false;
	}
	if (!mark_accessed(vm, sel, &d, f))
		return false;
	mon_desc_to_seg(d, (uint16_t)((sel & ~SEL_RPL) | new_cpl), &s);
	if (!flat_check(vm, SEG_CS, &s))
		return false;
	if (!seg_attr_db(s.attr)) {
		mon_stop(vm, MON_EXIT_UNSUPPORTED, "unsupported: 16-bit code segment %#x", sel);
		return false;
	}
	v->seg[SEG_CS] = s;
	return true;
}

bool mon_tss_stack(struct mon_vm *vm, unsigned cpl, uint16_t *ss, uint32_t *esp,
		   struct mon_fault *f)
{
	const struct mon_seg *tr = &vm->vcpu.tr;
	uint32_t at = tss32_stack(cpl); /* ESPn, then SSn */
	unsigned type = seg_attr_type(tr->attr);
	uint32_t t[2];
	if ((type != SYS_TSS32 && type != SYS_TSS32_BUSY) || tr->limit < at + 7) {
		mon_fault_set(f, EXC_TS, true, sel_error(tr->sel));
		return false;
	}
	if (!mon_read_sys(vm, tr->base + at, t, 8, f))
		return false;
	*esp = t[0];
	*ss = (uint16_t)t[1];
	return true;
}

/* On a return to an outer level, data segment registers the new CPL may
 * not use become null (SDM: IRET/RET "for each of ES, FS, GS, DS"). */
void mon_null_outer_segments(struct mon_vm *vm)
{
	struct vcpu *v = &vm->vcpu;
	unsigned cpl = mon_cpl(v);
	static const int sregs[] = { SEG_ES, SEG_DS, SEG_FS, SEG_GS };
	for (unsigned i = 0; i < 4; i++) {
		struct mon_seg *s = &v->seg[sregs[i]];
		unsigned type = seg_attr_type(s->attr);
		bool conforming_code = (type & DESC_TYPE_CODE) && (type & DESC_TYPE_CONFORMING);
		if (!sel_null(s->sel) && !conforming_code && seg_attr_dpl(s->attr) < cpl)
			*s = (struct mon_seg){ 0 };
	}
	mon_sync_seg_bases(vm);
}

bool mon_load_cs(struct mon_vm *vm, uint16_t sel, struct mon_fault *f)
{
	struct vcpu *v = &vm->vcpu;
	if (!(v->cr0 & CR0_PE)) {
		struct mon_seg s = v->seg[SEG_CS];
		s.sel = sel;
		s.base = (uint32_t)sel << 4;
		if (!flat_check(vm, SEG_CS, &s))
			return false;
		v->seg[SEG_CS] = s;
		return true;
	}
	/* A far JMP/CALL/RET to a code segment: the privilege stays (a more
	 * privileged non-conforming target is #GP, as on hardware). */
	return mon_load_cs_at(vm, sel, mon_cpl(v), f);
}

/* ---- the segment-load cache of translated code (bt.h: bt_seg_cache) ---- */

void mon_segc_flush(struct mon_vm *vm)
{
	memset(vm->vcpu.cpu->segc, 0, sizeof vm->vcpu.cpu->segc);
}

/*
 * After an emulated load of GDT selector `sel` into a data segment
 * register, or a VERW of it, at CPL 0 in protected mode: remember what
 * the descriptor allows, keyed by where it lies in RAM, so translated
 * code can repeat the load (or the VERW) while the descriptor stays the
 * same. Only flat DS/ES loads qualify (translated code adds no base).
 */
void mon_segc_note(struct mon_vm *vm, uint16_t sel)
{
	struct vcpu *v = &vm->vcpu;
	uint32_t linear = v->gdtr.base + sel_offset(sel);
	uint64_t phys;
	uint32_t err;
	if (!(v->cr0 & CR0_PE) || mon_cpl(v) != 0 || !sel_offset(sel) || (sel & SEL_TI) ||
	    sel_offset(sel) + DESC_SIZE - 1 > v->gdtr.limit || (linear & 4095) > 4088 ||
	    smm_translate(vm->smm, linear, SMM_READ, false, &phys, &err) != SMM_OK ||
	    phys + 8 > vm->ram_size)
		return;
	uint64_t d;
	memcpy(&d, vm->ram + phys, 8);
	unsigned type = desc_type(d), dpl = desc_dpl(d), rpl = sel_rpl(sel);
	bool code = type & DESC_TYPE_CODE, conforming = code && (type & DESC_TYPE_CONFORMING);
	struct mon_seg s;
	mon_desc_to_seg(d, sel, &s);
	uint32_t flags = 0;
	if (desc_s(d) && desc_p(d) && (d & DESC_ACCESSED) &&
	    (!code || (type & DESC_TYPE_READABLE)) && (conforming || rpl <= dpl))
		flags |= BT_SEGC_FSGS | (s.base == 0 ? BT_SEGC_DSES : 0);
	if (desc_s(d) && !code && (type & DESC_TYPE_WRITABLE) && rpl <= dpl)
		flags |= BT_SEGC_VERW;
	struct bt_seg_cache *c = &v->cpu->segc[sel_index(sel) & 7];
	c->desc = d;
	c->desc_host = (uint64_t)(vm->ram + phys);
	c->sel = sel;
	c->flags = flags;
	memcpy(&c->image, &s, sizeof s);
}
