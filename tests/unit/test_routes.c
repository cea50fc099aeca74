/* Unit tests for classify.def's rows: every sensitive form is translated and emulated where its row says. */
#include <check.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "bt_private.h"
#include "emulate.h"

/*
 * One sample instruction per row of classify.def (and a few shapes a row's
 * inline form or callout does not take), with where it must go, written
 * here from the manuals rather than from the table: the translator's
 * choice, seen in bt's --stats counts after translating a block that
 * starts with it, and the emulator's routine, seen through fakes of the
 * routines when the real dispatcher (emulate.c, compiled in) runs it.
 */

/* ---- guest code and the translator's environment ---- */

#define CODE_BASE 0x10000u
#define CODE_SIZE 0x10000u
static uint8_t code[CODE_SIZE]; /* linear CODE_BASE.. (NOPs between samples) */

static unsigned fake_fetch(void *ctx, uint32_t eip, uint8_t *buf, unsigned len,
			   uint32_t *page)
{
	(void)ctx;
	if (eip < CODE_BASE || eip >= CODE_BASE + CODE_SIZE)
		return 0;
	unsigned n = CODE_BASE + CODE_SIZE - eip;
	if (n > len)
		n = len;
	memcpy(buf, code + (eip - CODE_BASE), n);
	*page = eip >> 12;
	return n;
}

static void fake_protect(void *ctx, uint32_t page, bool on)
{
	(void)ctx, (void)page, (void)on;
}

/* Ports 0x40 (in) and 0x80 (out) are answered inline, as the PIT's and
 * the delay port are. */
static bool fake_inline_port(void *ctx, uint16_t port, bool out)
{
	(void)ctx;
	return out ? port == 0x80 : port == 0x40;
}

static bool fake_io_allowed(void *ctx)
{
	(void)ctx;
	return true;
}

static uint32_t fake_port_in(void *ctx, uint16_t port, unsigned size)
{
	(void)ctx, (void)port, (void)size;
	return 0;
}

static void fake_port_out(void *ctx, uint16_t port, unsigned size, uint32_t value)
{
	(void)ctx, (void)port, (void)size, (void)value;
}

static enum bt_tr_result fake_transition(void *ctx, enum bt_transition kind, uint8_t vector,
					 uint32_t ecx, uint32_t edx)
{
	(void)ctx, (void)kind, (void)vector, (void)ecx, (void)edx;
	return BT_TR_DONE;
}

static struct bt_seg_image seg_image[SEG_COUNT];
static uint32_t guest_cr2;

static const struct bt_env env = {
	.fetch = fake_fetch, .protect_code = fake_protect,
	.inline_port = fake_inline_port, .io_allowed = fake_io_allowed,
	.port_in = fake_port_in, .port_out = fake_port_out,
	.seg_regs = seg_image, .cr2 = &guest_cr2, .transition = fake_transition,
};

/* ---- fakes of the monitor around the dispatcher ---- */

static struct mon_vm vm;
static const char *ran;      /* the routine the dispatcher called */
static int fault_vector;     /* a fault delivered (-1: none) */
static int stop_status;      /* mon_stop's status (-1: not called) */

#define FAKE_ROUTINE(fn, name)                                                 \
	enum emu_result fn(struct mon_vm *m, const struct emu_insn *in,        \
			   struct mon_fault *f)                                \
	{                                                                      \
		(void)m, (void)in, (void)f;                                    \
		ran = name;                                                    \
		return EMU_NEXT;                                               \
	}
FAKE_ROUTINE(emu_flags, "FLAGS")
FAKE_ROUTINE(emu_io, "IO")
FAKE_ROUTINE(emu_cpu, "CPU")
FAKE_ROUTINE(emu_sys, "SYS")
FAKE_ROUTINE(emu_segments, "SEG")
FAKE_ROUTINE(emu_legacy, "LEGACY")
FAKE_ROUTINE(emu_mov_cr, "MOV_CR")
FAKE_ROUTINE(emu_mov_dr, "MOV_DR")
FAKE_ROUTINE(emu_memory, "memory")
FAKE_ROUTINE(emu_string, "string")
FAKE_ROUTINE(emu_xlat, "xlat")

void mon_fault_set(struct mon_fault *f, uint8_t vector, bool has_error, uint32_t error)
{
	*f = (struct mon_fault){ .raised = true, .vector = vector, .has_error = has_error,
				 .error = error };
}

void mon_deliver_fault(struct mon_vm *m, const struct mon_fault *f)
{
	(void)m;
	fault_vector = f->vector;
}

void mon_deliver(struct mon_vm *m, uint8_t vector, bool has_error, uint32_t error,
		 uint32_t return_eip, bool software)
{
	(void)m, (void)has_error, (void)error, (void)return_eip, (void)software;
	fault_vector = vector;
}

void mon_stop(struct mon_vm *m, int status, const char *fmt, ...)
{
	(void)m, (void)fmt;
	stop_status = status;
}

bool mon_read(struct mon_vm *m, uint32_t linear, void *buf, unsigned len, struct mon_fault *f)
{
	(void)m;
	if (linear < CODE_BASE || linear + len > CODE_BASE + CODE_SIZE) {
		mon_fault_set(f, EXC_PF, true, 0);
		return false;
	}
	memcpy(buf, code + (linear - CODE_BASE), len);
	return true;
}

bool mon_write(struct mon_vm *m, uint32_t linear, const void *buf, unsigned len,
	       struct mon_fault *f)
{
	(void)m, (void)linear, (void)buf, (void)len;
	mon_fault_set(f, EXC_PF, true, 2);
	return false;
}

bool mon_push(struct mon_vm *m, uint32_t value, unsigned size, struct mon_fault *f)
{
	(void)m, (void)value, (void)size, (void)f;
	ck_abort_msg("mon_push: only the routines push");
	return false;
}

bool mon_pop(struct mon_vm *m, uint32_t *value, unsigned size, struct mon_fault *f)
{
	(void)m, (void)value, (void)size, (void)f;
	ck_abort_msg("mon_pop: only the routines pop");
	return false;
}

unsigned mon_cpl(const struct vcpu *v)
{
	return v->seg[SEG_CS].sel & 3;
}

void mon_step_native(struct mon_vm *m)
{
	(void)m;
	ran = "step";
}

bool mon_is_hot_writer(struct mon_vm *m, uint32_t eip)
{
	(void)m, (void)eip;
	return false;
}

void mon_hot_writer_done(struct mon_vm *m, uint32_t eip, bool emulated, bool wrote_pt)
{
	(void)m, (void)eip, (void)emulated, (void)wrote_pt;
	ck_abort_msg("no hot writers here");
}

void mon_count_site(struct mon_vm *m, uint32_t eip, unsigned mnemonic, bool step)
{
	(void)m, (void)eip, (void)mnemonic, (void)step;
}

void mon_segc_flush(struct mon_vm *m)
{
	(void)m;
}

void mon_isa(struct mon_vm *m, struct bt_isa *isa)
{
	(void)m;
	memset(isa, 0xff, sizeof *isa);
}

bool smm_set_mode(struct smm *smm, uint32_t cr0, uint32_t cr3, uint32_t cr4, bool nxe,
		  const uint64_t pdpte[4])
{
	(void)smm, (void)cr0, (void)cr3, (void)cr4, (void)nxe, (void)pdpte;
	return false;
}

/* ---- the samples ---- */

struct sample {
	uint8_t bytes[8];
	uint8_t len;
	bool user;            /* translated in a U block (ring 3), else S */
	const char *row;      /* classify.def's row */
	enum bt_xlate xlate;  /* what the translator makes of it */
	const char *handler;  /* the emulator's routine; "#UD"; NULL: not modelled */
};
#define S(row, xl, h, user, ...)                                                  \
	{ { __VA_ARGS__ }, sizeof((uint8_t[]){ __VA_ARGS__ }), user, row, BT_XL_##xl, h }

static const struct sample samples[] = {
	/* flags: the 32-bit forms inline (STI: a NOP follows in the block) */
	S("PUSHF", EXIT, "FLAGS", false, 0x66, 0x9c),
	S("PUSHFD", FLAGS, "FLAGS", false, 0x9c),
	S("POPF", EXIT, "FLAGS", false, 0x66, 0x9d),
	S("POPFD", FLAGS, "FLAGS", false, 0x9d),
	S("CLI", FLAGS, "FLAGS", false, 0xfa),
	S("STI", FLAGS, "FLAGS", false, 0xfb),
	/* far transfers and software interrupts: SYSENTER and INT n leave
	 * ring 3 by their callout, SYSEXIT and IRETD leave ring 0 by it */
	S("IRET", EXIT, "SEG", false, 0x66, 0xcf),
	S("IRETD", SYS, "SEG", false, 0xcf),
	S("IRETD", EXIT, "SEG", true, 0xcf),
	S("INT", SYS, "SEG", true, 0xcd, 0x80),
	S("INT", EXIT, "SEG", false, 0xcd, 0x80),
	S("INT", EXIT, "SEG", true, 0x3e, 0xcd, 0x80), /* prefixed */
	S("INT1", EXIT, "SEG", false, 0xf1),
	S("INT3", EXIT, "SEG", false, 0xcc),
	S("INTO", EXIT, "SEG", false, 0xce),
	S("FAR_BRANCH", EXIT, "SEG", false, 0xea, 0x00, 0x10, 0x00, 0x00, 0x08, 0x00),
	S("FAR_BRANCH", EXIT, "SEG", false, 0xcb), /* retf */
	S("FAR_BRANCH", EXIT, "SEG", false, 0xff, 0x28), /* jmp far [eax] */
	/* port I/O: an immediate port the monitor answers inline by callout */
	S("IN", PORT, "IO", false, 0xe4, 0x40),
	S("IN", EXIT, "IO", false, 0xe4, 0x60),
	S("IN", EXIT, "IO", false, 0xec), /* in al, dx */
	S("OUT", PORT, "IO", false, 0xe6, 0x80),
	S("OUT", EXIT, "IO", false, 0xee),
	S("INSB", EXIT, "IO", false, 0x6c),
	S("INSW", EXIT, "IO", false, 0x66, 0x6d),
	S("INSD", EXIT, "IO", false, 0x6d),
	S("OUTSB", EXIT, "IO", false, 0x6e),
	S("OUTSW", EXIT, "IO", false, 0x66, 0x6f),
	S("OUTSD", EXIT, "IO", false, 0x6f),
	/* descriptor tables */
	S("LGDT", EXIT, "SEG", false, 0x0f, 0x01, 0x10),
	S("LIDT", EXIT, "SEG", false, 0x0f, 0x01, 0x18),
	S("LLDT", EXIT, "SEG", false, 0x0f, 0x00, 0xd0),
	S("LTR", EXIT, "SEG", false, 0x0f, 0x00, 0xd8),
	S("SGDT", EXIT, "SEG", false, 0x0f, 0x01, 0x00),
	S("SIDT", EXIT, "SEG", false, 0x0f, 0x01, 0x08),
	S("SLDT", EXIT, "SEG", false, 0x0f, 0x00, 0xc0),
	S("STR", EXIT, "SEG", false, 0x0f, 0x00, 0xc8),
	/* segments: register moves and VERW inline */
	S("SREG", SEG, "SEG", false, 0x8e, 0xd8), /* mov ds, ax */
	S("SREG", SEG, "SEG", false, 0x8c, 0xd0), /* mov eax, ss */
	S("SREG", SEG, "SEG", false, 0x1e),       /* push ds */
	S("SREG", SEG, "SEG", false, 0x07),       /* pop es */
	S("SREG", EXIT, "SEG", false, 0x17),      /* pop ss: not inline */
	S("SREG", EXIT, "SEG", false, 0x8e, 0xd0), /* mov ss, ax: not inline */
	S("LDS", EXIT, "SEG", false, 0xc5, 0x00),
	S("LES", EXIT, "SEG", false, 0xc4, 0x00),
	S("LFS", EXIT, "SEG", false, 0x0f, 0xb4, 0x00),
	S("LGS", EXIT, "SEG", false, 0x0f, 0xb5, 0x00),
	S("LSS", EXIT, "SEG", false, 0x0f, 0xb2, 0x00),
	S("LAR", EXIT, "SEG", false, 0x0f, 0x02, 0xc0),
	S("LSL", EXIT, "SEG", false, 0x0f, 0x03, 0xc0),
	S("VERR", EXIT, "SEG", false, 0x0f, 0x00, 0xe0),
	S("VERW", SEG, "SEG", false, 0x0f, 0x00, 0xe8),
	/* control: only the read of CR2 inline */
	S("MOV_CR", CR2, "MOV_CR", false, 0x0f, 0x20, 0xd0), /* mov eax, cr2 */
	S("MOV_CR", EXIT, "MOV_CR", false, 0x0f, 0x20, 0xd8), /* mov eax, cr3 */
	S("MOV_CR", EXIT, "MOV_CR", false, 0x0f, 0x22, 0xd8), /* mov cr3, eax */
	S("MOV_DR", EXIT, "MOV_DR", false, 0x0f, 0x21, 0xc0),
	S("SMSW", EXIT, "CPU", false, 0x0f, 0x01, 0xe0),
	S("LMSW", EXIT, "CPU", false, 0x0f, 0x01, 0xf0),
	S("CLTS", EXIT, "CPU", false, 0x0f, 0x06),
	S("INVLPG", EXIT, "CPU", false, 0x0f, 0x01, 0x38),
	S("INVD", EXIT, "CPU", false, 0x0f, 0x08),
	S("WBINVD", EXIT, "CPU", false, 0x0f, 0x09),
	/* the CPU's own state */
	S("HLT", EXIT, "CPU", false, 0xf4),
	S("CPUID", EXIT, "CPU", false, 0x0f, 0xa2),
	S("RDTSC", EXIT, "CPU", false, 0x0f, 0x31),
	S("RDMSR", EXIT, "CPU", false, 0x0f, 0x32),
	S("WRMSR", EXIT, "CPU", false, 0x0f, 0x30),
	S("RDPMC", EXIT, "CPU", false, 0x0f, 0x33),
	S("SYSENTER", SYS, "SYS", true, 0x0f, 0x34),
	S("SYSENTER", EXIT, "SYS", false, 0x0f, 0x34),
	S("SYSEXIT", SYS, "SYS", false, 0x0f, 0x35),
	S("SYSEXIT", EXIT, "SYS", true, 0x0f, 0x35),
	/* not modelled */
	S("RDTSCP", EXIT, NULL, false, 0x0f, 0x01, 0xf9),
	S("SYSCALL", EXIT, NULL, false, 0x0f, 0x05),
	S("SYSRET", EXIT, NULL, false, 0x0f, 0x07),
	S("MONITOR", EXIT, NULL, false, 0x0f, 0x01, 0xc8),
	S("MWAIT", EXIT, NULL, false, 0x0f, 0x01, 0xc9),
	S("XGETBV", EXIT, NULL, false, 0x0f, 0x01, 0xd0),
	S("XSETBV", EXIT, NULL, false, 0x0f, 0x01, 0xd1),
	S("RSM", EXIT, NULL, false, 0x0f, 0xaa),
	S("RDRAND", EXIT, NULL, false, 0x0f, 0xc7, 0xf0),
	S("RDSEED", EXIT, NULL, false, 0x0f, 0xc7, 0xf8),
	S("RDPID", EXIT, NULL, false, 0xf3, 0x0f, 0xc7, 0xf8),
	S("CLAC", EXIT, NULL, false, 0x0f, 0x01, 0xca),
	S("STAC", EXIT, NULL, false, 0x0f, 0x01, 0xcb),
	/* #UD by definition */
	S("UD0", EXIT, "#UD", false, 0x0f, 0xff, 0xc0),
	S("UD1", EXIT, "#UD", false, 0x0f, 0xb9, 0xc0),
	S("UD2", EXIT, "#UD", false, 0x0f, 0x0b),
	/* invalid in 64-bit mode */
	S("PUSHA", EXIT, "LEGACY", false, 0x66, 0x60),
	S("PUSHAD", EXIT, "LEGACY", false, 0x60),
	S("POPA", EXIT, "LEGACY", false, 0x66, 0x61),
	S("POPAD", EXIT, "LEGACY", false, 0x61),
	S("BOUND", EXIT, "LEGACY", false, 0x62, 0x00),
	S("ARPL", EXIT, "LEGACY", false, 0x63, 0xc0),
	S("DAA", EXIT, "LEGACY", false, 0x27),
	S("DAS", EXIT, "LEGACY", false, 0x2f),
	S("AAA", EXIT, "LEGACY", false, 0x37),
	S("AAS", EXIT, "LEGACY", false, 0x3f),
	S("AAM", EXIT, "LEGACY", false, 0xd4, 0x0a),
	S("AAD", EXIT, "LEGACY", false, 0xd5, 0x0a),
	S("SALC", EXIT, "LEGACY", false, 0xd6),
	S("ENTER", EXIT, "LEGACY", false, 0xc8, 0x08, 0x00, 0x00),
};
#define N_SAMPLES (sizeof samples / sizeof samples[0])

/* Each sample at its own address, then NOP and RET. */
static uint32_t sample_eip(size_t i)
{
	return CODE_BASE + 16u * (uint32_t)i;
}

static struct bt *bt;

static void setup(void)
{
	struct bt_config cfg = { .ram_pages = (CODE_BASE + CODE_SIZE) >> 12 };
	char err[128];
	memset(code, 0x90, sizeof code);
	for (size_t i = 0; i < N_SAMPLES; i++) {
		uint8_t *at = code + (sample_eip(i) - CODE_BASE);
		memcpy(at, samples[i].bytes, samples[i].len);
		at[samples[i].len + 1] = 0xc3; /* nop; ret: the block ends there */
	}
	memset(&vm, 0, sizeof vm);
	bt = bt_create(&cfg, &env, &vm.vcpu.cpu, err, sizeof err);
	ck_assert_msg(bt != NULL, "%s", err);
	vm.bt = bt;
	struct bt_isa all;
	memset(&all, 0xff, sizeof all); /* the CPU claims everything: rows decide */
	bt_set_isa(bt, &all);
}

static void teardown(void)
{
	bt_destroy(bt);
}

static const char *row_of(const uint8_t *bytes, size_t len)
{
	ZydisDecoder dec;
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	bt_decoder_init(&dec);
	ck_assert(ZYAN_SUCCESS(ZydisDecoderDecodeFull(&dec, bytes, len, &zi, ops)));
	return bt_form_row(bt_form_of(&zi, ops))->name;
}

START_TEST(every_row_has_a_sample)
{
	for (int f = BT_FORM_NONE + 1; f < BT_FORM_COUNT; f++) {
		const char *name = bt_form_row((enum bt_form)f)->name;
		if (f == BT_FORM_HIDDEN_STACK)
			continue; /* no instruction has it: hidden_stack_guard */
		bool found = false;
		for (size_t i = 0; i < N_SAMPLES && !found; i++)
			found = !strcmp(samples[i].row, name);
		ck_assert_msg(found, "row %s has no sample", name);
	}
}
END_TEST

START_TEST(samples_decode_to_their_row)
{
	const struct sample *s = &samples[_i];
	ck_assert_str_eq(row_of(s->bytes, s->len), s->row);
}
END_TEST

/* Translate a block at the sample: the stats say which form the
 * translator took for it. */
START_TEST(translated_as_the_row_says)
{
	const struct sample *s = &samples[_i];
	static const char *const xl_name[] = { "exit", "flags", "seg", "cr2", "port", "sys" };
	bt_set_user_view(bt, s->user);
	uint64_t before[BT_XL_COUNT];
	memcpy(before, bt_get_stats(bt)->sensitive, sizeof before);
	bool full = false;
	struct bt_block *b = bt_translate(bt, sample_eip((size_t)_i), &full);
	ck_assert_ptr_nonnull(b);
	const uint64_t *after = bt_get_stats(bt)->sensitive;
	for (int x = 0; x < BT_XL_COUNT; x++)
		ck_assert_msg(after[x] - before[x] == (x == (int)s->xlate),
			      "%s: %s taken %llu times (want %s)", s->row, xl_name[x],
			      (unsigned long long)(after[x] - before[x]), xl_name[s->xlate]);
	/* An exit ends the block at the instruction; an inline form goes on
	 * to the NOP (a transition's callout ends it: the target is found by
	 * lookup). */
	if (s->xlate == BT_XL_EXIT)
		ck_assert_uint_eq(b->n_insns, 1);
	else if (s->xlate != BT_XL_SYS)
		ck_assert_uint_gt(b->n_insns, 1);
}
END_TEST

/* Emulate the sample at CPL 0 (ring-3 samples at CPL 3): the dispatcher
 * calls the row's routine, raises #UD, or stops (not modelled). */
START_TEST(emulated_by_the_row_s_routine)
{
	const struct sample *s = &samples[_i];
	struct bt_cpu *cpu = vm.vcpu.cpu;
	vm.vcpu.seg[SEG_CS] = (struct mon_seg){ .sel = s->user ? 0x1b : 0x08,
						.limit = 0xffffffffu, .attr = 0xc09b };
	vm.vcpu.cr0 = CR0_PE;
	cpu->eip = sample_eip((size_t)_i);
	ran = NULL;
	fault_vector = stop_status = -1;
	mon_emulate(&vm);
	if (!s->handler) {
		ck_assert_ptr_null(ran);
		ck_assert_msg(stop_status == MON_EXIT_UNSUPPORTED || fault_vector == EXC_UD,
			      "%s: stop %d, fault %d", s->row, stop_status, fault_vector);
	} else if (!strcmp(s->handler, "#UD")) {
		ck_assert_ptr_null(ran);
		ck_assert_int_eq(fault_vector, EXC_UD);
	} else {
		ck_assert_msg(ran && !strcmp(ran, s->handler), "%s: ran %s, want %s", s->row,
			      ran ? ran : "nothing", s->handler);
		ck_assert_int_eq(stop_status, -1);
	}
}
END_TEST

/* An instruction the virtual CPU does not claim is #UD whatever its row. */
START_TEST(unclaimed_instructions_are_ud)
{
	struct bt_isa none = { 0 };
	bt_set_isa(bt, &none);
	vm.vcpu.seg[SEG_CS] = (struct mon_seg){ .sel = 0x08, .limit = 0xffffffffu,
						.attr = 0xc09b };
	for (size_t i = 0; i < N_SAMPLES; i++) {
		if (strcmp(samples[i].row, "RDTSCP") && strcmp(samples[i].row, "SYSENTER"))
			continue;
		vm.vcpu.cpu->eip = sample_eip(i);
		ran = NULL;
		fault_vector = -1;
		mon_emulate(&vm);
		ck_assert_ptr_null(ran);
		ck_assert_int_eq(fault_vector, EXC_UD);
	}
}
END_TEST

/* A copied instruction with a hidden ESP-based operand would move 8 bytes
 * through RSP: no IDENT row has one, and the guard makes one EMULATE. */
START_TEST(hidden_stack_guard)
{
	ZydisDecodedInstruction zi = { .mnemonic = ZYDIS_MNEMONIC_ADD, .operand_count = 1 };
	ZydisDecodedOperand ops[1] = { { .type = ZYDIS_OPERAND_TYPE_MEMORY,
					 .visibility = ZYDIS_OPERAND_VISIBILITY_HIDDEN } };
	ops[0].mem.base = ZYDIS_REGISTER_ESP;
	ck_assert_int_eq(bt_form_of(&zi, ops), BT_FORM_HIDDEN_STACK);
	ck_assert_int_eq(bt_classify_insn(&zi, ops), BT_CLASS_EMULATE);
	ops[0].mem.base = ZYDIS_REGISTER_EBX;
	ck_assert_int_eq(bt_form_of(&zi, ops), BT_FORM_NONE);
	ck_assert_int_eq(bt_classify_insn(&zi, ops), BT_CLASS_IDENT);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("routes");
	TCase *tc = tcase_create("rows");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, every_row_has_a_sample);
	tcase_add_loop_test(tc, samples_decode_to_their_row, 0, (int)N_SAMPLES);
	tcase_add_loop_test(tc, translated_as_the_row_says, 0, (int)N_SAMPLES);
	tcase_add_loop_test(tc, emulated_by_the_row_s_routine, 0, (int)N_SAMPLES);
	tcase_add_test(tc, unclaimed_instructions_are_ud);
	tcase_add_test(tc, hidden_stack_guard);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
