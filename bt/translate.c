/* bt: the block translator: guest code (ring 0, and ring 3 in U blocks) into 64-bit host code. */
#include "bt_private.h"

#include "invariant.h"
#include <string.h>

/*
 * Passes, per guest basic block:
 *  1. poll: the block opens with `mov r11d, [r15 - 4096]`, a load from the
 *     poll page; bt_request_exit() makes that page unreadable, so running
 *     code stops at its next block entry with precise state (no flags are
 *     touched, which matters: guest flags live in host RFLAGS);
 *  2. decode each instruction with Zydis (32-bit legacy mode) and classify
 *     it with the table in classify.def: its class, and for a sensitive
 *     one its row (bt_form_of);
 *  3. emit it: IDENT copies (emit_ident.c), STACK rewrites (emit_stack.c),
 *     BRANCH ends the block (emit_branch.c); EMULATE takes the inline form
 *     or callout its row names where it has the shape for it
 *     (emit_sensitive), or the page-table store callout adaptive
 *     translation asks for, and otherwise ends the block with an exit that
 *     hands the instruction to the monitor;
 *  4. record (guest offset, host offset) per instruction: the fault handler
 *     maps a host PC back to the guest instruction that contains it;
 *  5. end the block at a branch, an emulated instruction, the instruction
 *     limit, or the end of the page; then emit the pending exit stubs.
 *     An instruction bt_env.stop_before names (a debugger's breakpoint)
 *     ends it too, with a BT_EXIT_BREAK exit before that instruction runs.
 * Invariants the fault handler relies on: guest registers live in host
 * registers at every host instruction boundary; each emitted sequence
 * touches memory before it changes any guest register; state is therefore
 * precise at the start of the guest instruction whose code faulted.
 */

/* mov r11d, [r15 - 4096] */
const uint8_t bt_poll_load[7] = { 0x45, 0x8b, 0x9f, 0x00, 0xf0, 0xff, 0xff };

static bool decode(struct bt *bt, uint32_t eip, uint8_t *buf, unsigned avail,
		   struct bt_insn *in)
{
	memset(in, 0, sizeof *in);
	if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&bt->dec, buf, avail, &in->zi,
						 in->ops)))
		return false;
	in->bytes = buf;
	in->eip = eip;
	in->next_eip = eip + in->zi.length;
	for (unsigned i = 0; i < in->zi.operand_count; i++)
		if (in->ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY)
			in->has_mem = true;
	return true;
}

static void trace_block(struct bt *bt, struct bt_block *b, uint8_t (*code)[16],
			const uint8_t *lens)
{
	FILE *f = bt->trace;
	fprintf(f, "bt: block %#010x (%u guest bytes) -> host %p (%u bytes)\n",
		b->eip, b->guest_len, (void *)b->host, b->host_len);
	for (unsigned i = 0; i < b->n_insns; i++) {
		ZydisDecodedInstruction zi;
		ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
		char text[96] = "(undecodable)";
		uint32_t eip = b->eip + b->guest_off[i];
		if (ZYAN_SUCCESS(ZydisDecoderDecodeFull(&bt->dec, code[i], lens[i],
							&zi, ops)))
			ZydisFormatterFormatInstruction(&bt->fmt, &zi, ops,
							zi.operand_count_visible,
							text, sizeof text, eip,
							NULL);
		fprintf(f, "  %08x  %-40s  +%u\n", eip, text, b->host_off[i]);
	}
	ZydisDecoder d64;
	ZydisDecoderInit(&d64, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64);
	for (uint32_t off = 0; off < b->host_len;) {
		ZydisDecodedInstruction zi;
		ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
		char text[96];
		if (!ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d64, b->host + off,
							 b->host_len - off, &zi, ops)))
			break;
		ZydisFormatterFormatInstruction(&bt->fmt, &zi, ops,
						zi.operand_count_visible, text,
						sizeof text,
						(ZyanU64)(b->host + off), NULL);
		fprintf(f, "      host +%-4u %s\n", off, text);
		off += zi.length;
	}
}

/*
 * Is the instruction at `next` certain to be part of this block (its bytes
 * on the block's first page)? An inline STI needs that: no poll can then
 * come between it and the next instruction, and an emulated next
 * instruction (SYSEXIT, HLT) is emulated as soon as the block exits,
 * before the run loop looks for interrupts: the shadow holds.
 */
static bool next_in_block(struct bt *bt, uint32_t next, uint32_t block_eip)
{
	uint8_t buf[15];
	uint32_t pg;
	struct bt_insn nx;
	if ((next >> 12) != (block_eip >> 12))
		return false;
	unsigned avail = bt->env.fetch(bt->env.ctx, next, buf, sizeof buf, &pg);
	return avail && decode(bt, next, buf, avail, &nx) &&
	       ((next + nx.zi.length - 1) >> 12) == (next >> 12);
}

/*
 * A sensitive form's inline sequence or callout, as classify.def names
 * it, where the instruction has the shape its emitter knows (an STI only
 * with its shadow inside the block). False: the block exits to the
 * emulator. Not for bt_step: it runs the emulator's own fallback.
 */
static bool emit_sensitive(struct bt_tx *tx, const struct bt_insn *in, enum bt_form form,
			   unsigned n, uint32_t block_eip)
{
	if (tx->bt->single)
		return false;
	switch (bt_form_row(form)->xlate) {
	case BT_XL_FLAGS:
		if (in->zi.mnemonic == ZYDIS_MNEMONIC_STI &&
		    (n == BT_MAX_BLOCK_INSNS || !next_in_block(tx->bt, in->next_eip, block_eip)))
			return false;
		return emit_flags_inline(tx, in);
	case BT_XL_SEG:
		return emit_seg_inline(tx, in);
	case BT_XL_CR2:
		return emit_cr2_read(tx, in);
	case BT_XL_PORT:
		return emit_inline_io(tx, in);
	case BT_XL_SYS:
		return emit_inline_sys(tx, in);
	default:
		return false;
	}
}

#define X86_MAX_INSN 15 /* bytes in the longest x86 instruction */

struct bt_block *bt_translate(struct bt *bt, uint32_t eip, bool *full)
{
	uint16_t guest_off[BT_MAX_BLOCK_INSNS], host_off[BT_MAX_BLOCK_INSNS];
	int8_t esp_lag[BT_MAX_BLOCK_INSNS];
	uint8_t code[BT_MAX_BLOCK_INSNS][16];
	uint8_t lens[BT_MAX_BLOCK_INSNS];
	struct bt_tx tx = { .bt = bt };
	uint32_t page0 = 0, last_page = 0, cur = eip, end = eip;
	unsigned n = 0;
	bool cut = false;

	*full = false;
	if (bt->tc_size - bt->tc_used < 4096 ||
	    bt->n_blocks == bt->max_blocks) {
		*full = true;
		return NULL;
	}
	uint8_t *start = bt->tc + bt->tc_used;
	tx.e.p = tx.e.start = start;
	tx.e.user = bt->user;

	emit_bytes(&tx.e, bt_poll_load, sizeof bt_poll_load);

	for (;;) {
		uint32_t pg;
		unsigned avail = bt->env.fetch(bt->env.ctx, cur, code[n], X86_MAX_INSN, &pg);
		if (avail == 0) {
			if (n == 0)
				return NULL; /* the monitor reports the fetch fault */
			emit_esp_settle(&tx.e);
			emit_jump_to(&tx, cur);
			break;
		}
		if (n == 0)
			page0 = last_page = pg;
		guest_off[n] = (uint16_t)(cur - eip);
		host_off[n] = (uint16_t)(n == 0 ? 0 : tx.e.p - start);
		esp_lag[n] = (int8_t)tx.e.esp_lag;

		struct bt_insn in;
		if (!decode(bt, cur, code[n], avail, &in)) {
			/* Undecodable (or cut short by unfetchable bytes): the
			 * monitor raises #UD or the fetch fault. */
			cut = avail < X86_MAX_INSN;
			lens[n] = (uint8_t)avail;
			n++;
			end = cur + 1;
			emit_esp_settle(&tx.e);
			emit_exit(&tx, cur, BT_EXIT_EMULATE);
			break;
		}
		lens[n] = in.zi.length;
		end = in.next_eip;
		uint32_t last = cur + in.zi.length - 1;
		if ((last >> 12) != (cur >> 12)) {
			uint8_t byte;
			if (bt->env.fetch(bt->env.ctx, last, &byte, 1, &pg) == 1)
				last_page = pg;
		} else if (pg != page0) {
			last_page = pg;
		}
		n++;
		bt->stats.insns++;
		if (!bt->single && bt->env.stop_before &&
		    bt->env.stop_before(bt->env.ctx, cur)) {
			emit_esp_settle(&tx.e);
			emit_exit(&tx, cur, BT_EXIT_BREAK);
			break;
		}

		enum bt_class c = bt_classify(&in);
		enum bt_form form = c == BT_CLASS_EMULATE ? bt_form_of(&in.zi, in.ops)
							  : BT_FORM_NONE;
		if ((bt->fp_trap && bt_fp_family(&in.zi)) ||
		    (bt->xmm_off && bt_xmm_insn(&in.zi, in.ops)))
			c = BT_CLASS_EMULATE;
		/* RDTSC reads the host TSC, which is the guest's when the
		 * offset is 0: Linux's delay loops spin on it. */
		if (bt->native_tsc && in.zi.mnemonic == ZYDIS_MNEMONIC_RDTSC)
			c = BT_CLASS_IDENT;
		/* What the virtual CPU lacks never runs natively: the monitor
		 * raises #UD. (A hint NOP it lacks is copied only where the
		 * table says IDENT, ENDBR32 and the prefetches, NOPs on the
		 * host too; the emulator skips the others.) */
		if (bt_isa_check(&bt->isa, &in.zi) == BT_ISA_UD)
			c = BT_CLASS_EMULATE, form = BT_FORM_NONE;
		/* Adaptive translation; a bt_step is the emulator's own
		 * fallback and must run the instruction itself. */
		bool forced = false;
		if (!bt->single && bt->env.force_emulate &&
		    bt->env.force_emulate(bt->env.ctx, cur))
			c = BT_CLASS_EMULATE, forced = true;
		bt->stats.class_count[c]++;
		/* The lag must be settled before an instruction that cannot
		 * take it; it then starts where the settling LEA ends. */
		bool lags = bt_takes_esp_lag(&in, c);
		if (tx.e.esp_lag && (!lags || tx.e.esp_lag < -BT_ESP_LAG_MAX ||
				     tx.e.esp_lag > BT_ESP_LAG_MAX)) {
			emit_esp_settle(&tx.e);
			host_off[n - 1] = (uint16_t)(n == 1 ? 0 : tx.e.p - start);
			esp_lag[n - 1] = 0;
		}
		bool ok = false;
		switch (c) {
		case BT_CLASS_IDENT:
			ok = emit_ident(&tx, &in);
			break;
		case BT_CLASS_STACK:
			ok = emit_stack(&tx, &in);
			break;
		case BT_CLASS_BRANCH:
			ok = emit_branch(&tx, &in);
			break;
		default:
			/* Emulated, unless it has an inline form or callout. */
			ok = (forced && emit_inline_store(&tx, &in)) ||
			     emit_sensitive(&tx, &in, form, n, eip);
			if (ok) {
				bt->stats.class_count[c]--;
				bt->stats.class_count[BT_CLASS_IDENT]++;
			}
			if (form != BT_FORM_NONE)
				bt->stats.sensitive[ok ? bt_form_row(form)->xlate : BT_XL_EXIT]++;
			break;
		}
		if (!ok) {
			emit_esp_settle(&tx.e);
			emit_exit(&tx, cur, BT_EXIT_EMULATE);
			break;
		}
		/* An instruction that could not take the lag but moved ESP
		 * through it (a 2-byte PUSH, a POP to memory): settle now. */
		if (!lags)
			emit_esp_settle(&tx.e);
		if (tx.end)
			break;
		cur = in.next_eip;
		if (n == BT_MAX_BLOCK_INSNS || bt->single ||
		    (cur >> 12) != (eip >> 12) ||
		    /* long enough; but never right after an (inline) STI */
		    (tx.e.p - start > BT_MAX_BLOCK_HOST &&
		     in.zi.mnemonic != ZYDIS_MNEMONIC_STI)) {
			emit_esp_settle(&tx.e);
			emit_jump_to(&tx, cur);
			break;
		}
	}
	emit_pending_stubs(&tx);
	/* Where the entry jumps while the block is detached (bt_detach_page). */
	uint8_t *away = tx.e.p;
	emit_exit(&tx, eip, BT_EXIT_AWAY);

	size_t host_len = (size_t)(tx.e.p - start);
	BTVMM_CHECK(host_len < 4096);
	struct bt_block *b = bt_meta_alloc(bt, sizeof *b);
	uint16_t *offs = bt_meta_alloc(bt, 5u * n);
	if (!b || !offs) {
		*full = true;
		return NULL;
	}
	memset(b, 0, sizeof *b);
	b->eip = eip;
	b->guest_len = end - eip;
	b->page[0] = page0;
	b->page[1] = last_page;
	b->host = start;
	b->away = away;
	b->host_len = (uint32_t)host_len;
	b->n_insns = (uint16_t)n;
	b->guest_off = offs;
	b->host_off = offs + n;
	memcpy(b->guest_off, guest_off, 2u * n);
	memcpy(b->host_off, host_off, 2u * n);
	b->esp_lag = (int8_t *)(offs + 2 * n);
	memcpy(b->esp_lag, esp_lag, n);
	b->valid = true;
	b->user = bt->user;
	b->cut = cut;

	bt->tc_used += (host_len + 15) & ~(size_t)15;
	if (bt->tc_used > bt->stats.tc_resident)
		bt->stats.tc_resident = bt->tc_used;
	bt->blocks[bt->n_blocks++] = b;
	bt->stats.blocks++;
	bt->stats.tc_bytes += host_len;
	if (bt->trace)
		trace_block(bt, b, code, lens);
	if (bt->perf_map && !bt->single)
		fprintf(bt->perf_map, "%lx %x guest:%08x\n", (unsigned long)(uintptr_t)b->host,
			b->host_len, b->eip);
	return b;
}
