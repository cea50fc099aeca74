/*
 * Unit tests for exception and interrupt delivery (monitor/interrupt.c,
 * with segments.c's loads and task.c's task gates): a minimal VM around
 * the real code — guest RAM in a memfd, the real shadow MMU (paging off,
 * or one identity-mapping page table) and an idle translator — with a GDT,
 * an IDT and TSSes the test writes. Each case delivers one event and checks
 * the state the SDM (vol. 3 ch. 6) says it leaves: CS:EIP, SS:ESP, the
 * stacked words, EFLAGS, the error code, CR2. Also here: IRET back
 * (emulate_seg.c, through the emulator and the translator's inline form),
 * and the run loop's side, an interrupt from the real local APIC taken or
 * held off by IF and the STI/MOV SS shadow (interrupt.c:mon_take_interrupt).
 * Reserves the guest space like unit.sview: not in the AddressSanitizer
 * run; skips (77) where the reservation fails.
 */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "monitor.h"

/*
 * Guest-physical (and, paging off or identity-mapped, linear) layout.
 *
 *   0x01000 GDT          0x02000 IDT (256 gates)   0x03000 TSS, 0x03100 TSS 2
 *   0x05000 page dir     0x06000 page table (identity, 0-4 MiB)
 *   0x18000 ring-0 ESP while at CPL 0              0x1c000 TSS 2's ESP
 *   0x20000 TSS.ESP0     0x28000 TSS.ESP1 (its page 0x27000 unmapped with paging)
 *   0x30000 ring-3 ESP   0x80000 the current instruction
 *   0x100000 + 16 * v    the handler of vector v
 */
#define RAM_SIZE (4u << 20)
#define GDT 0x1000u
#define IDT 0x2000u
#define TSS 0x3000u
#define TSS2 0x3100u
#define PD 0x5000u
#define PT 0x6000u
#define ESP_CPL0 0x18000u
#define ESP_TSS2 0x1c000u
#define ESP0 0x20000u
#define ESP1 0x28000u
#define ESP_CPL3 0x30000u
#define CODE 0x80000u
#define HANDLER(v) (0x100000u + 16u * (v))
#define TASK2_EIP 0x90000u

/* GDT selectors; RPL as each is loaded. */
#define KCODE 0x08
#define KDATA 0x10
#define UCODE 0x1b
#define UDATA 0x23
#define TSS_SEL 0x28
#define TSS2_SEL 0x30
#define R1CODE 0x39
#define R1DATA 0x41
#define GDT_ENTRIES 9

/* Gate types (interrupt.c's diagram). */
#define TASK_GATE 0x5
#define INT16_GATE 0x6
#define INT_GATE 0xe
#define TRAP_GATE 0xf

#define EXT 1u /* the error code's external-event bit */
#define IDT_ERR(v) ((uint32_t)(v) * 8 + 2)
#define FL_RESERVED 0x2u
#define FL_CLEARED (BT_FL_TF | BT_FL_NT | BT_FL_RF | BT_FL_VM)

static uint8_t *ram;
static int ram_fd;
static struct mon_vm vm;
static struct bt_cpu *cpu;

static unsigned no_fetch(void *ctx, uint32_t eip, uint8_t *buf, unsigned len, uint32_t *page)
{
	(void)ctx, (void)eip, (void)buf, (void)len, (void)page;
	return 0; /* nothing is translated here */
}

static void no_protect(void *ctx, uint32_t page, bool on)
{
	(void)ctx, (void)page, (void)on;
}

static void no_serial(void *ctx, const uint8_t *bytes, size_t len)
{
	(void)ctx, (void)bytes, (void)len;
}

static void put32(uint32_t at, uint32_t v)
{
	memcpy(ram + at, &v, 4);
}

static uint32_t get32(uint32_t at)
{
	uint32_t v;
	memcpy(&v, ram + at, 4);
	return v;
}

static uint64_t get64(uint32_t at)
{
	uint64_t v;
	memcpy(&v, ram + at, 8);
	return v;
}

/* A flat 4 GiB 32-bit segment: access byte 0x9a/0x92 with the DPL. */
static uint64_t flat(bool code, unsigned dpl)
{
	uint64_t access = (code ? 0x9a : 0x92) | dpl << 5;
	return 0xffffull | access << 40 | 0xfull << 48 | 0xcull << 52;
}

/* An available 32-bit TSS (type 9) at base, limit 0x67. */
static uint64_t tss_desc(uint32_t base)
{
	return 0x67 | (uint64_t)(base & 0xffffff) << 16 | 0x89ull << 40 |
	       (uint64_t)(base >> 24) << 56;
}

static void set_gdt(uint16_t sel, uint64_t d)
{
	memcpy(ram + GDT + (sel & ~7u), &d, 8);
}

static void set_gate(uint8_t v, uint16_t sel, uint32_t offset, unsigned type, unsigned dpl,
		     bool present)
{
	uint64_t access = type | dpl << 5 | (present ? 0x80u : 0);
	uint64_t g = (offset & 0xffff) | (uint64_t)sel << 16 | access << 40 |
		     (uint64_t)(offset >> 16) << 48;
	memcpy(ram + IDT + v * 8u, &g, 8);
}

static void load(int sreg, uint16_t sel)
{
	mon_desc_to_seg(get64(GDT + (sel & ~7u)), sel, &vm.vcpu.seg[sreg]);
}

/* The vCPU at CPL 3 (CS, SS and ESP of ring 3), EIP at CODE. */
static void at_cpl3(void)
{
	load(SEG_CS, UCODE);
	load(SEG_SS, UDATA);
	cpu->gpr[BT_ESP] = ESP_CPL3;
}

static void setup(void)
{
	memset(ram, 0, RAM_SIZE);
	set_gdt(KCODE, flat(true, 0));
	set_gdt(KDATA, flat(false, 0));
	set_gdt(UCODE, flat(true, 3));
	set_gdt(UDATA, flat(false, 3));
	set_gdt(TSS_SEL, tss_desc(TSS) | 2ull << 40); /* busy: the current task */
	set_gdt(TSS2_SEL, tss_desc(TSS2));
	set_gdt(R1CODE, flat(true, 1));
	set_gdt(R1DATA, flat(false, 1));
	put32(TSS + 4, ESP0);
	put32(TSS + 8, KDATA);
	put32(TSS + 12, ESP1);
	put32(TSS + 16, R1DATA);
	for (unsigned v = 0; v < 256; v++)
		set_gate((uint8_t)v, KCODE, HANDLER(v), INT_GATE, 0, true);

	memset(&vm, 0, sizeof vm);
	vm.ram = ram;
	vm.ram_size = RAM_SIZE;
	vm.ram_fd = ram_fd;
	vm.log = stderr;
	vm.input_fd = -1;
	struct dev_platform_config pc = { .serial = { .write = no_serial } };
	vm.plat = dev_platform_create(&pc); /* CPUID reads the APIC base */
	ck_assert_ptr_nonnull(vm.plat);
	vm.bus = dev_platform_bus(vm.plat);
	char err[256];
	struct smm_config sc = { .fd = ram_fd, .ram = ram, .ram_size = RAM_SIZE };
	vm.smm = smm_create(&sc, err, sizeof err);
	ck_assert_msg(vm.smm != NULL, "%s", err);
	static const struct bt_env env = { .fetch = no_fetch, .protect_code = no_protect };
	struct bt_config bc = { .ram_pages = RAM_SIZE / 4096 };
	vm.bt = bt_create(&bc, &env, &cpu, err, sizeof err);
	ck_assert_msg(vm.bt != NULL, "%s", err);
	vm.vcpu.cpu = cpu;

	struct vcpu *v = &vm.vcpu;
	v->cr0 = CR0_PE | CR0_ET;
	v->gdtr = (struct mon_dtr){ GDT, GDT_ENTRIES * 8 - 1 };
	v->idtr = (struct mon_dtr){ IDT, 256 * 8 - 1 };
	mon_desc_to_seg(get64(GDT + TSS_SEL), TSS_SEL, &v->tr);
	load(SEG_CS, KCODE);
	load(SEG_SS, KDATA);
	load(SEG_DS, KDATA);
	load(SEG_ES, KDATA);
	cpu->eip = CODE;
	cpu->gpr[BT_ESP] = ESP_CPL0;
	cpu->eflags = FL_RESERVED | BT_FL_IF;
	mon_sync_mode(&vm);
}

static void teardown(void)
{
	bt_destroy(vm.bt);
	smm_destroy(vm.smm);
	dev_platform_destroy(vm.plat);
}

/* For a case that tries several events: the fixture's VM again. */
static void fresh_vm(void)
{
	teardown();
	setup();
}

/* Paging on, through one page table mapping 0-4 MiB to itself, with the
 * page under TSS.ESP1 not present. */
static void paging_without_ring1_stack(void)
{
	put32(PD, PT | 7);
	for (uint32_t i = 0; i < 1024; i++)
		put32(PT + 4 * i, i << 12 | 7);
	put32(PT + 4 * ((ESP1 - 4) >> 12), 0);
	vm.vcpu.cr3 = PD;
	vm.vcpu.cr0 |= CR0_PG;
	mon_sync_mode(&vm);
}

/* The word i slots above the current SS:ESP. */
static uint32_t stacked(unsigned i)
{
	return get32(vm.vcpu.seg[SEG_SS].base + cpu->gpr[BT_ESP] + 4 * i);
}

/* The vCPU is in the handler of vector v at CS cs, on stack ss:esp. */
static void ck_handler(uint8_t v, uint16_t cs, uint16_t ss, uint32_t esp)
{
	ck_assert(!vm.stop);
	ck_assert_uint_eq(vm.vcpu.seg[SEG_CS].sel, cs);
	ck_assert_uint_eq(cpu->eip, HANDLER(v));
	ck_assert_uint_eq(vm.vcpu.seg[SEG_SS].sel, ss);
	ck_assert_uint_eq(cpu->gpr[BT_ESP], esp);
}

/* What brings a vector to the IDT. */
enum kind { EXCEPTION, SOFT, EXTERNAL };

/* Vector v, with no error code, at the instruction at CODE (INT n: 2 bytes). */
static void send_event(uint8_t v, enum kind kind)
{
	if (kind == EXTERNAL)
		mon_deliver_irq(&vm, v, CODE);
	else
		mon_deliver(&vm, v, false, 0, kind == SOFT ? CODE + 2 : CODE, kind == SOFT);
}

/* The frame on the stack, from ESP up: n words. */
static void ck_frame(const uint32_t *words, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		ck_assert_msg(stacked(i) == words[i], "stacked word %u: %#x, not %#x", i,
			      stacked(i), words[i]);
}

/* ---- gates at CPL 0 ---- */

#define FL_BEFORE (FL_RESERVED | BT_FL_IF | BT_FL_TF | BT_FL_NT | BT_FL_RF | BT_FL_CF | BT_FL_ZF)

START_TEST(an_interrupt_gate_clears_if_tf_nt_and_rf)
{
	cpu->eflags = FL_BEFORE;
	mon_deliver_irq(&vm, 0x30, CODE + 2);
	ck_handler(0x30, KCODE, KDATA, ESP_CPL0 - 12);
	ck_frame((const uint32_t[]){ CODE + 2, KCODE, FL_BEFORE }, 3);
	ck_assert_uint_eq(cpu->eflags, FL_RESERVED | BT_FL_CF | BT_FL_ZF);
	ck_assert_uint_eq(vm.events, 1);
}
END_TEST

START_TEST(a_trap_gate_leaves_if_set)
{
	set_gate(0x31, KCODE, HANDLER(0x31), TRAP_GATE, 0, true);
	cpu->eflags = FL_BEFORE;
	mon_deliver(&vm, 0x31, false, 0, CODE + 2, true); /* INT 0x31 */
	ck_handler(0x31, KCODE, KDATA, ESP_CPL0 - 12);
	ck_frame((const uint32_t[]){ CODE + 2, KCODE, FL_BEFORE }, 3);
	ck_assert_uint_eq(cpu->eflags, FL_RESERVED | BT_FL_IF | BT_FL_CF | BT_FL_ZF);
}
END_TEST

/* A fault with an error code pushes it last, and EIP is the faulting
 * instruction's; a fault without one makes the three-word frame. */
START_TEST(an_error_code_is_pushed_after_eip)
{
	struct mon_fault f = { 0 };
	mon_fault_set(&f, EXC_GP, true, 0x10);
	mon_deliver_fault(&vm, &f);
	ck_handler(EXC_GP, KCODE, KDATA, ESP_CPL0 - 16);
	ck_frame((const uint32_t[]){ 0x10, CODE, KCODE, FL_RESERVED | BT_FL_IF }, 4);

	mon_fault_set(&f, EXC_UD, false, 0);
	cpu->eip = CODE;
	mon_deliver_fault(&vm, &f);
	ck_handler(EXC_UD, KCODE, KDATA, ESP_CPL0 - 16 - 12);
	ck_frame((const uint32_t[]){ CODE, KCODE, FL_RESERVED }, 3);
}
END_TEST

START_TEST(a_page_fault_sets_cr2)
{
	struct mon_fault f = { 0 };
	mon_page_fault(&f, 0x12345678, 0x6); /* a ring-3 write to a page not present */
	mon_deliver_fault(&vm, &f);
	ck_assert_uint_eq(vm.vcpu.cr2, 0x12345678);
	ck_handler(EXC_PF, KCODE, KDATA, ESP_CPL0 - 16);
	ck_frame((const uint32_t[]){ 0x6, CODE, KCODE, FL_RESERVED | BT_FL_IF }, 4);
}
END_TEST

/* ---- privilege changes ---- */

START_TEST(from_cpl3_the_stack_switches_to_ss0_esp0)
{
	at_cpl3();
	set_gate(0x80, KCODE, HANDLER(0x80), INT_GATE, 3, true);
	cpu->eflags = FL_RESERVED | BT_FL_IF | BT_FL_TF;
	mon_deliver(&vm, 0x80, false, 0, CODE + 2, true); /* INT 0x80 */
	ck_handler(0x80, KCODE, KDATA, ESP0 - 20);
	ck_frame((const uint32_t[]){ CODE + 2, UCODE, FL_RESERVED | BT_FL_IF | BT_FL_TF,
				     ESP_CPL3, UDATA }, 5);
	ck_assert_uint_eq(cpu->eflags, FL_RESERVED);
	ck_assert_uint_eq(mon_cpl(&vm.vcpu), 0);
}
END_TEST

/* A handler in ring 1 runs on the TSS's ring-1 stack (SDM vol. 3 §6.12.1:
 * the stack for the handler's privilege level). */
START_TEST(a_ring1_handler_gets_ss1_esp1)
{
	at_cpl3();
	set_gate(0x81, R1CODE & ~3, HANDLER(0x81), INT_GATE, 3, true);
	mon_deliver(&vm, 0x81, false, 0, CODE + 2, true);
	ck_handler(0x81, R1CODE, R1DATA, ESP1 - 20);
	ck_frame((const uint32_t[]){ CODE + 2, UCODE, FL_RESERVED | BT_FL_IF, ESP_CPL3, UDATA }, 5);
	ck_assert_uint_eq(mon_cpl(&vm.vcpu), 1);
}
END_TEST

/* A TSS too short to hold the ring's SS:ESP: #TS(TR), from where the
 * event came (SSn ends at 8n + 11; ring 0's fits in this limit). */
START_TEST(a_tss_without_the_rings_stack_is_ts)
{
	at_cpl3();
	set_gate(0x81, R1CODE & ~3, HANDLER(0x81), INT_GATE, 3, true);
	vm.vcpu.tr.limit = 8 * 1 + 10;
	mon_deliver(&vm, 0x81, false, 0, CODE + 2, true);
	ck_handler(EXC_TS, KCODE, KDATA, ESP0 - 24);
	ck_frame((const uint32_t[]){ TSS_SEL, CODE, UCODE, FL_RESERVED | BT_FL_IF, ESP_CPL3, UDATA },
		 6);
}
END_TEST

/* INT n checks the gate's DPL against CPL: #GP(n * 8 + 2), pointing at
 * the INT instruction; an external interrupt is not checked. */
START_TEST(int_n_through_a_dpl0_gate_from_cpl3_is_gp)
{
	at_cpl3();
	mon_deliver(&vm, 0x31, false, 0, CODE + 2, true);
	ck_handler(EXC_GP, KCODE, KDATA, ESP0 - 24);
	ck_frame((const uint32_t[]){ IDT_ERR(0x31), CODE, UCODE, FL_RESERVED | BT_FL_IF,
				     ESP_CPL3, UDATA }, 6);
	ck_assert_uint_eq(vm.stats.exc_count[EXC_GP], 1);
}
END_TEST

START_TEST(an_external_interrupt_ignores_the_gate_dpl)
{
	at_cpl3();
	mon_deliver_irq(&vm, 0x31, CODE);
	ck_handler(0x31, KCODE, KDATA, ESP0 - 20);
	ck_frame((const uint32_t[]){ CODE, UCODE, FL_RESERVED | BT_FL_IF, ESP_CPL3, UDATA }, 5);
	ck_assert_uint_eq(vm.stats.exc_count[EXC_GP], 0);
}
END_TEST

/* ---- faults of the delivery itself ---- */

/* #NP(n * 8 + 2), with EXT for an event the program did not ask for. */
START_TEST(a_gate_not_present_is_np_with_its_index)
{
	static const struct { uint8_t v; enum kind kind; uint32_t error; } cases[] = {
		{ 0x32, SOFT, IDT_ERR(0x32) },
		{ 0x33, EXTERNAL, IDT_ERR(0x33) | EXT },
		{ EXC_UD, EXCEPTION, IDT_ERR(EXC_UD) | EXT },
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		uint32_t esp = cpu->gpr[BT_ESP];
		set_gate(cases[i].v, KCODE, HANDLER(cases[i].v), INT_GATE, 0, false);
		send_event(cases[i].v, cases[i].kind);
		ck_handler(EXC_NP, KCODE, KDATA, esp - 16);
		ck_assert_uint_eq(stacked(0), cases[i].error);
		cpu->eip = CODE;
	}
}
END_TEST

START_TEST(a_vector_beyond_the_idt_limit_is_gp)
{
	vm.vcpu.idtr.limit = 0x40 * 8 - 1;
	mon_deliver_irq(&vm, 0x3f, CODE); /* the last gate: inside */
	ck_handler(0x3f, KCODE, KDATA, ESP_CPL0 - 12);
	cpu->eip = CODE;
	mon_deliver_irq(&vm, 0x40, CODE);
	ck_handler(EXC_GP, KCODE, KDATA, ESP_CPL0 - 12 - 16);
	ck_assert_uint_eq(stacked(0), IDT_ERR(0x40) | EXT);
	cpu->eip = CODE;
	mon_deliver(&vm, 0x50, false, 0, CODE + 2, true); /* INT 0x50 */
	ck_handler(EXC_GP, KCODE, KDATA, ESP_CPL0 - 12 - 16 - 16);
	ck_assert_uint_eq(stacked(0), IDT_ERR(0x50));
}
END_TEST

/* SDM vol. 3 table 6-5: a contributory exception while delivering a
 * contributory one is a double fault, error code 0. */
START_TEST(a_contributory_fault_while_delivering_one_is_df)
{
	set_gate(EXC_GP, KCODE, HANDLER(EXC_GP), INT_GATE, 0, false);
	struct mon_fault f = { 0 };
	mon_fault_set(&f, EXC_GP, true, 0);
	mon_deliver_fault(&vm, &f);
	ck_handler(EXC_DF, KCODE, KDATA, ESP_CPL0 - 16);
	ck_frame((const uint32_t[]){ 0, CODE, KCODE, FL_RESERVED | BT_FL_IF }, 4);
	ck_assert_uint_eq(vm.stats.exc_count[EXC_DF], 1);
	ck_assert_uint_eq(vm.stats.exc_count[EXC_NP], 0); /* it became the #DF */
}
END_TEST

START_TEST(a_fault_while_delivering_df_is_a_triple_fault)
{
	ram[CODE] = 0x0f; /* ud2, for the message */
	ram[CODE + 1] = 0x0b;
	set_gate(EXC_GP, KCODE, HANDLER(EXC_GP), INT_GATE, 0, false);
	set_gate(EXC_DF, KCODE, HANDLER(EXC_DF), INT_GATE, 0, false);
	struct mon_fault f = { 0 };
	mon_fault_set(&f, EXC_GP, true, 0);
	mon_deliver_fault(&vm, &f);
	ck_assert(vm.stop);
	ck_assert_int_eq(vm.status, MON_EXIT_TRIPLE);
	ck_assert_str_eq(vm.stop_message,
			 "guest triple fault: #GP(0) at EIP 0x80000 (ud2) -> #DF -> "
			 "triple fault (a fault while delivering #DF)");
}
END_TEST

/* Table 6-5's benign rows: an external interrupt, INT n or a benign
 * exception whose delivery faults gets that fault, not #DF. Table 6-4
 * counts every INT n and external interrupt benign, whatever its vector:
 * INT 13, or IRQ 5 and IRQ 0 from a PIC left at its reset base of 8. */
START_TEST(a_benign_event_then_a_contributory_fault_is_no_df)
{
	static const struct { uint8_t v; enum kind kind; } cases[] = {
		{ 0x30, EXTERNAL }, { EXC_NMI, EXCEPTION }, { EXC_UD, EXCEPTION },
		{ EXC_GP, SOFT }, { EXC_GP, EXTERNAL }, { EXC_DF, EXTERNAL },
	};
	for (unsigned i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		fresh_vm();
		set_gate(cases[i].v, KCODE, HANDLER(cases[i].v), INT_GATE, 3, false);
		send_event(cases[i].v, cases[i].kind);
		ck_assert_msg(!vm.stop && vm.stats.exc_count[EXC_DF] == (cases[i].v == EXC_DF),
			      "vector %u, kind %d: a #DF", cases[i].v, cases[i].kind);
		ck_handler(EXC_NP, KCODE, KDATA, ESP_CPL0 - 16);
		ck_assert_uint_eq(stacked(0),
				  IDT_ERR(cases[i].v) | (cases[i].kind == SOFT ? 0 : EXT));
	}
}
END_TEST

/* A #PF while switching to the handler's stack: CR2 is the stack address,
 * and after a benign or a contributory exception it is delivered as
 * itself (table 6-5), on the ring-0 stack its own gate leads to. */
START_TEST(a_page_fault_while_pushing_the_frame_sets_cr2)
{
	static const struct { uint8_t v; bool has_error; } first[] = {
		{ EXC_UD, false }, { EXC_GP, true },
	};
	for (unsigned i = 0; i < 2; i++) {
		fresh_vm();
		paging_without_ring1_stack();
		at_cpl3();
		set_gate(first[i].v, R1CODE & ~3, HANDLER(first[i].v), INT_GATE, 0, true);
		mon_deliver(&vm, first[i].v, first[i].has_error, 0, CODE, false);
		ck_assert_uint_eq(vm.vcpu.cr2, ESP1 - 4);
		ck_handler(EXC_PF, KCODE, KDATA, ESP0 - 24);
		/* A supervisor write to a page not present: error code 2. */
		ck_frame((const uint32_t[]){ 2, CODE, UCODE, FL_RESERVED | BT_FL_IF, ESP_CPL3, UDATA },
			 6);
		ck_assert_uint_eq(vm.stats.exc_count[EXC_DF], 0);
	}
}
END_TEST

/* A #PF while delivering a #PF is a double fault; CR2 holds the second
 * fault's address, as QEMU leaves it. */
START_TEST(a_page_fault_while_delivering_one_is_df)
{
	paging_without_ring1_stack();
	at_cpl3();
	set_gate(EXC_PF, R1CODE & ~3, HANDLER(EXC_PF), INT_GATE, 0, true);
	struct mon_fault f = { 0 };
	mon_page_fault(&f, 0x00500000, 0x4); /* a ring-3 read beyond the table */
	mon_deliver_fault(&vm, &f);
	ck_assert_uint_eq(vm.vcpu.cr2, ESP1 - 4);
	ck_handler(EXC_DF, KCODE, KDATA, ESP0 - 24);
	ck_frame((const uint32_t[]){ 0, CODE, UCODE, FL_RESERVED | BT_FL_IF, ESP_CPL3, UDATA }, 6);
}
END_TEST

/* 16-bit gates are not supported: the VM stops (status 8), nothing pushed. */
START_TEST(a_16_bit_gate_stops_the_vm)
{
	set_gate(0x30, KCODE, HANDLER(0x30), INT16_GATE, 0, true);
	mon_deliver_irq(&vm, 0x30, CODE);
	ck_assert(vm.stop);
	ck_assert_int_eq(vm.status, MON_EXIT_UNSUPPORTED);
	ck_assert_uint_eq(cpu->gpr[BT_ESP], ESP_CPL0);
	ck_assert_uint_eq(cpu->eip, CODE);
}
END_TEST

/* ---- task gates ---- */

/* An IDT task gate switches to its TSS as a nested task: the new TSS
 * links back to the old one, NT is set, both TSSes are busy, CR0.TS is
 * set, the old task's state is saved with EIP where it resumes, and an
 * error code goes on the new task's stack (SDM vol. 3 §7.3, §6.11). */
/* Vector v's gate leads to task 2: ring 0 at TASK2_EIP, IF clear. */
static void task2_gate(uint8_t v)
{
	put32(TSS2 + 0x20, TASK2_EIP);
	put32(TSS2 + 0x24, FL_RESERVED);
	put32(TSS2 + 0x28 + 4 * BT_ESP, ESP_TSS2);
	put32(TSS2 + 0x48 + 4 * SEG_CS, KCODE);
	put32(TSS2 + 0x48 + 4 * SEG_SS, KDATA);
	put32(TSS2 + 0x48 + 4 * SEG_DS, KDATA);
	put32(TSS2 + 0x48 + 4 * SEG_ES, KDATA);
	set_gate(v, TSS2_SEL, 0, TASK_GATE, 0, true);
}

START_TEST(a_task_gate_switches_to_a_nested_task)
{
	task2_gate(EXC_GP);
	cpu->gpr[BT_EAX] = 0xaaaa5555;
	struct mon_fault f = { 0 };
	mon_fault_set(&f, EXC_GP, true, 0x18);
	mon_deliver_fault(&vm, &f);
	ck_assert(!vm.stop);
	ck_assert_uint_eq(vm.vcpu.tr.sel, TSS2_SEL);
	ck_assert_uint_eq(get32(TSS2) & 0xffff, TSS_SEL);
	ck_assert_uint_eq(cpu->eflags, FL_RESERVED | BT_FL_NT);
	ck_assert_uint_eq(cpu->eip, TASK2_EIP);
	ck_assert_uint_eq(vm.vcpu.seg[SEG_CS].sel, KCODE);
	ck_assert_uint_eq(cpu->gpr[BT_ESP], ESP_TSS2 - 4);
	ck_assert_uint_eq(stacked(0), 0x18);
	ck_assert_uint_eq(desc_type(get64(GDT + TSS_SEL)), 0xb);
	ck_assert_uint_eq(desc_type(get64(GDT + TSS2_SEL)), 0xb);
	ck_assert(vm.vcpu.cr0 & CR0_TS);
	ck_assert_uint_eq(get32(TSS + 0x20), CODE);
	ck_assert_uint_eq(get32(TSS + 0x24), FL_RESERVED | BT_FL_IF);
	ck_assert_uint_eq(get32(TSS + 0x28 + 4 * BT_EAX), 0xaaaa5555);
	ck_assert_uint_eq(get32(TSS + 0x28 + 4 * BT_ESP), ESP_CPL0);
}
END_TEST

/* ---- and back: IRET (emulate_seg.c) ---- */

/* INT 0x80 from ring 3 and IRETD back, through the emulator: the ring-3
 * CS:EIP, SS:ESP and EFLAGS return; DS and ES, ring-0 segments, become
 * null at CPL 3 (SDM vol. 2, IRET: RETURN-TO-OUTER-PRIVILEGE-LEVEL). */
START_TEST(iretd_returns_to_ring3_as_int_left_it)
{
	static const uint8_t int80[] = { 0xcd, 0x80 }, iretd = 0xcf;
	memcpy(ram + CODE, int80, 2);
	ram[HANDLER(0x80)] = iretd;
	set_gate(0x80, KCODE, HANDLER(0x80), INT_GATE, 3, true);
	at_cpl3();
	cpu->eflags = FL_RESERVED | BT_FL_IF | BT_FL_CF;
	mon_emulate(&vm);
	ck_handler(0x80, KCODE, KDATA, ESP0 - 20);
	mon_emulate(&vm);
	ck_assert(!vm.stop);
	ck_assert_uint_eq(vm.vcpu.seg[SEG_CS].sel, UCODE);
	ck_assert_uint_eq(cpu->eip, CODE + 2);
	ck_assert_uint_eq(vm.vcpu.seg[SEG_SS].sel, UDATA);
	ck_assert_uint_eq(cpu->gpr[BT_ESP], ESP_CPL3);
	ck_assert_uint_eq(cpu->eflags, FL_RESERVED | BT_FL_IF | BT_FL_CF);
	ck_assert_uint_eq(vm.vcpu.seg[SEG_DS].sel, 0);
	ck_assert_uint_eq(vm.vcpu.seg[SEG_ES].sel, 0);
	/* The translator's inline IRETD does the same. */
	mon_deliver(&vm, 0x80, false, 0, CODE + 2, true);
	ck_assert(mon_iretd_inline(&vm, HANDLER(0x80)));
	ck_assert_uint_eq(vm.vcpu.seg[SEG_CS].sel, UCODE);
	ck_assert_uint_eq(cpu->eip, CODE + 2);
	ck_assert_uint_eq(cpu->gpr[BT_ESP], ESP_CPL3);
	ck_assert_uint_eq(cpu->eflags, FL_RESERVED | BT_FL_IF | BT_FL_CF);
}
END_TEST

/* IRET with NT set returns to the task the back-link names: its state as
 * saved, its TSS still busy and the nested one free, the nested task's
 * NT cleared in what is saved of it (SDM vol. 3 §7.4). */
START_TEST(iret_with_nt_returns_from_the_nested_task)
{
	task2_gate(0x40);
	ram[TASK2_EIP] = 0xcf; /* iretd */
	mon_deliver_irq(&vm, 0x40, CODE);
	ck_assert_uint_eq(vm.vcpu.tr.sel, TSS2_SEL);
	mon_emulate(&vm);
	ck_assert(!vm.stop);
	ck_assert_uint_eq(vm.vcpu.tr.sel, TSS_SEL);
	ck_assert_uint_eq(cpu->eip, CODE);
	ck_assert_uint_eq(cpu->gpr[BT_ESP], ESP_CPL0);
	ck_assert_uint_eq(cpu->eflags, FL_RESERVED | BT_FL_IF);
	ck_assert_uint_eq(desc_type(get64(GDT + TSS_SEL)), 0xb);
	ck_assert_uint_eq(desc_type(get64(GDT + TSS2_SEL)), 0x9);
	ck_assert_uint_eq(get32(TSS2 + 0x20), TASK2_EIP + 1);
	ck_assert_uint_eq(get32(TSS2 + 0x24), FL_RESERVED);
}
END_TEST

/* ---- from the interrupt controllers to the vCPU (run.c) ---- */

#define LAPIC 0xfee00000u

static void lapic_write(uint32_t reg, uint32_t v)
{
	ck_assert(dev_mmio_write(vm.plat, LAPIC + reg, 4, v));
}

/* The local APIC software-enabled (SVR), then a fixed self-IPI of v (ICR). */
static void self_ipi(uint8_t v)
{
	lapic_write(0xf0, 0x1ff);
	lapic_write(0x300, 0x40000u | v);
}

/* With IF clear or in the shadow of STI/MOV SS, a requested interrupt
 * waits (irq_waiting tells translated code to come back when IF is set);
 * then it is taken, through its gate, before the instruction at EIP. */
START_TEST(an_interrupt_waits_for_if_and_the_shadow)
{
	self_ipi(0x45);
	cpu->eflags = FL_RESERVED;
	ck_assert(!mon_take_interrupt(&vm));
	ck_assert(cpu->irq_waiting);
	cpu->eflags = FL_RESERVED | BT_FL_IF;
	vm.irq_shadow = true;
	ck_assert(!mon_take_interrupt(&vm));
	ck_assert(cpu->irq_waiting);
	ck_assert_uint_eq(cpu->eip, CODE);
	ck_assert_uint_eq(vm.events, 0);

	vm.irq_shadow = false;
	vm.vcpu.halted = true;
	ck_assert(mon_take_interrupt(&vm));
	ck_handler(0x45, KCODE, KDATA, ESP_CPL0 - 12);
	ck_frame((const uint32_t[]){ CODE, KCODE, FL_RESERVED | BT_FL_IF }, 3);
	ck_assert(!vm.vcpu.halted);
	ck_assert(!cpu->irq_waiting);
	ck_assert_uint_eq(vm.stats.irqs, 1);
}
END_TEST

/* The highest-priority vector goes first; one of a higher class than the
 * one in service is still requested (and waits for IF), a lower one not
 * until the EOI (SDM vol. 3 §11.8.3). */
START_TEST(the_highest_vector_is_taken_first)
{
	self_ipi(0x45);
	self_ipi(0x62);
	ck_assert(mon_take_interrupt(&vm));
	ck_assert_uint_eq(cpu->eip, HANDLER(0x62));
	ck_assert(!cpu->irq_waiting); /* 0x45: a lower class than 0x62 */
	self_ipi(0x90);
	ck_assert(!mon_take_interrupt(&vm)); /* the interrupt gate cleared IF */
	ck_assert(cpu->irq_waiting);
	cpu->eflags |= BT_FL_IF;
	ck_assert(mon_take_interrupt(&vm));
	ck_assert_uint_eq(cpu->eip, HANDLER(0x90));
	lapic_write(0xb0, 0); /* EOI: 0x90 */
	lapic_write(0xb0, 0); /* EOI: 0x62 */
	cpu->eflags |= BT_FL_IF;
	ck_assert(mon_take_interrupt(&vm));
	ck_assert_uint_eq(cpu->eip, HANDLER(0x45));
	ck_assert_uint_eq(vm.stats.irqs, 3);
}
END_TEST

int main(void)
{
	char err[256];
	if (hd_reserve_guest_space(err, sizeof err)) {
		printf("skipped: %s\n", err);
		return 77;
	}
	ram_fd = hd_ram_create(RAM_SIZE, &ram, err, sizeof err);
	if (ram_fd < 0) {
		fprintf(stderr, "test_interrupt: %s\n", err);
		return 1;
	}
	Suite *s = suite_create("interrupt");
	TCase *tc = tcase_create("delivery");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, an_interrupt_gate_clears_if_tf_nt_and_rf);
	tcase_add_test(tc, a_trap_gate_leaves_if_set);
	tcase_add_test(tc, an_error_code_is_pushed_after_eip);
	tcase_add_test(tc, a_page_fault_sets_cr2);
	tcase_add_test(tc, from_cpl3_the_stack_switches_to_ss0_esp0);
	tcase_add_test(tc, a_ring1_handler_gets_ss1_esp1);
	tcase_add_test(tc, a_tss_without_the_rings_stack_is_ts);
	tcase_add_test(tc, int_n_through_a_dpl0_gate_from_cpl3_is_gp);
	tcase_add_test(tc, an_external_interrupt_ignores_the_gate_dpl);
	tcase_add_test(tc, a_gate_not_present_is_np_with_its_index);
	tcase_add_test(tc, a_vector_beyond_the_idt_limit_is_gp);
	tcase_add_test(tc, a_contributory_fault_while_delivering_one_is_df);
	tcase_add_test(tc, a_fault_while_delivering_df_is_a_triple_fault);
	tcase_add_test(tc, a_benign_event_then_a_contributory_fault_is_no_df);
	tcase_add_test(tc, a_page_fault_while_pushing_the_frame_sets_cr2);
	tcase_add_test(tc, a_page_fault_while_delivering_one_is_df);
	tcase_add_test(tc, a_16_bit_gate_stops_the_vm);
	tcase_add_test(tc, a_task_gate_switches_to_a_nested_task);
	tcase_add_test(tc, iretd_returns_to_ring3_as_int_left_it);
	tcase_add_test(tc, iret_with_nt_returns_from_the_nested_task);
	suite_add_tcase(s, tc);
	TCase *tp = tcase_create("pending");
	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_add_test(tp, an_interrupt_waits_for_if_and_the_shadow);
	tcase_add_test(tp, the_highest_vector_is_taken_first);
	suite_add_tcase(s, tp);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
