/* monitor: the virtual CPU's state as text, in the layout of QEMU's "info registers" and "-d cpu_reset". */
#include "monitor.h"

/*
 * A segment's hidden flags as QEMU prints them: the descriptor's high
 * dword (base 31:24 and 23:16, limit 19:16, type, S, DPL, P, AVL, D/B, G),
 * rebuilt from the cached base, limit and attributes.
 */
static uint32_t descriptor_high(const struct mon_seg *s)
{
	uint32_t raw_limit = seg_attr_g(s->attr) ? s->limit >> 12 : s->limit;
	return (uint32_t)(desc_make(s->base, raw_limit, s->attr) >> 32);
}

static void dump_segment(FILE *out, const char *name, const struct mon_seg *s)
{
	fprintf(out, "%-3s=%04x %08x %08x %08x\n", name, s->sel, s->base, s->limit,
		descriptor_high(s));
}

/* EFLAGS' arithmetic flags as QEMU shows them: "[D-SZAPC]", O first. */
static void flag_letters(uint32_t fl, char text[8])
{
	static const struct { uint32_t bit; char letter; } row[7] = {
		{ BT_FL_DF, 'D' }, { BT_FL_OF, 'O' }, { BT_FL_SF, 'S' }, { BT_FL_ZF, 'Z' },
		{ BT_FL_AF, 'A' }, { BT_FL_PF, 'P' }, { BT_FL_CF, 'C' },
	};
	for (int i = 0; i < 7; i++)
		text[i] = fl & row[i].bit ? row[i].letter : '-';
	text[7] = 0;
}

void mon_dump_cpu(struct mon_vm *vm, FILE *out)
{
	const struct vcpu *v = &vm->vcpu;
	const struct bt_cpu *c = v->cpu;
	static const char *const seg_names[SEG_COUNT] = { "ES", "CS", "SS", "DS", "FS", "GS" };
	char flags[8];
	flag_letters(c->eflags, flags);
	fprintf(out, "EAX=%08x EBX=%08x ECX=%08x EDX=%08x\n", c->gpr[BT_EAX],
		c->gpr[BT_EBX], c->gpr[BT_ECX], c->gpr[BT_EDX]);
	fprintf(out, "ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n", c->gpr[BT_ESI],
		c->gpr[BT_EDI], c->gpr[BT_EBP], c->gpr[BT_ESP]);
	fprintf(out, "EIP=%08x EFL=%08x [%s] CPL=%u II=%d A20=1 SMM=0 HLT=%d\n", c->eip,
		c->eflags, flags, mon_cpl(v), vm->irq_shadow, v->halted);
	for (int s = 0; s < SEG_COUNT; s++)
		dump_segment(out, seg_names[s], &v->seg[s]);
	dump_segment(out, "LDT", &v->ldtr);
	dump_segment(out, "TR", &v->tr);
	fprintf(out, "GDT=     %08x %08x\n", v->gdtr.base, v->gdtr.limit);
	fprintf(out, "IDT=     %08x %08x\n", v->idtr.base, v->idtr.limit);
	fprintf(out, "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n", v->cr0, v->cr2, v->cr3, v->cr4);
	fprintf(out, "DR0=%08x DR1=%08x DR2=%08x DR3=%08x\n", v->dr[0], v->dr[1], v->dr[2],
		v->dr[3]);
	fprintf(out, "DR6=%08x DR7=%08x\n", v->dr[6], v->dr[7]);
	fprintf(out, "EFER=%016llx\n", (unsigned long long)v->efer);
}
