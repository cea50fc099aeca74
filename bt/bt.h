/* bt: the binary translator for guest ring-0 code, and for ring-3 code where it is not executed directly (public header). */
#ifndef BTVMM_BT_H
#define BTVMM_BT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <Zydis/Zydis.h>

#include "bt_abi.h"

/* Guest general registers, in the x86 encoding order. */
enum { BT_EAX, BT_ECX, BT_EDX, BT_EBX, BT_ESP, BT_EBP, BT_ESI, BT_EDI };

/* EFLAGS bits. The "live" ones are held in host RFLAGS while translated code
 * runs; all others (IF, IOPL, TF, NT, RF, VM, AC, ID...) are virtual and
 * live only in bt_cpu.eflags. */
#define BT_FL_CF 0x00000001u
#define BT_FL_PF 0x00000004u
#define BT_FL_AF 0x00000010u
#define BT_FL_ZF 0x00000040u
#define BT_FL_SF 0x00000080u
#define BT_FL_TF 0x00000100u
#define BT_FL_IF 0x00000200u
#define BT_FL_DF 0x00000400u
#define BT_FL_OF 0x00000800u
#define BT_FL_IOPL 0x00003000u
#define BT_FL_NT 0x00004000u
#define BT_FL_RF 0x00010000u
#define BT_FL_VM 0x00020000u
#define BT_FL_AC 0x00040000u
#define BT_FL_ID 0x00200000u
/* BT_FL_LIVE (CF PF AF ZF SF DF OF): bt_abi.h */

/* Why translated code returned to the monitor. */
enum bt_exit {
	BT_EXIT_NONE = 0,
	BT_EXIT_LOOKUP,  /* internal: no chained block for eip yet */
	BT_EXIT_EMULATE, /* the instruction at eip is the monitor's to emulate */
	BT_EXIT_FAULT,   /* a host fault at the instruction at eip */
	BT_EXIT_POLL,    /* bt_request_exit() was called */
	BT_EXIT_STEP,    /* bt_step(): the single instruction completed */
	BT_EXIT_IRQ,     /* an inline POPF set IF while irq_waiting was set */
	BT_EXIT_AWAY,    /* internal: a detached block was entered (bt_detach_page) */
	BT_EXIT_RUNLOOP, /* a callout's transition (bt_env.transition) is done,
			    and the run loop must look before EIP runs */
	BT_EXIT_BREAK,   /* bt_env.stop_before named the instruction at eip,
			    which has not run */
	BT_EXIT_COUNT
};

/*
 * A segment register as the monitor keeps it, which translated code reads
 * (PUSH Sreg, MOV r/m, Sreg) and writes (the inline loads copy a cached
 * image over it: 8 bytes, then the limit). The monitor's own type for it
 * (struct mon_seg) is pinned to this layout.
 */
struct bt_seg_image {
	uint16_t sel;   /* +0 */
	uint16_t attr;  /* +2 access rights (x86.h: desc_attr) */
	uint32_t base;  /* +4 */
	uint32_t limit; /* +8 the byte limit, granularity applied */
};
_Static_assert(offsetof(struct bt_seg_image, base) == 4 &&
	       offsetof(struct bt_seg_image, limit) == 8 && sizeof(struct bt_seg_image) == 12,
	       "bt/emit_seg.c copies an image as 8 + 4 bytes and reads the base at +4");

/*
 * The register block translated code reads and writes through host R15.
 * Offsets are part of the contract with bt/entry.S and the emitters; the
 * _Static_asserts below pin them. Guest GPRs are in host registers while
 * translated code runs (guest reg i in host reg i; ESP in RSP) and here
 * otherwise.
 */
struct bt_cpu {
	uint32_t gpr[8];        /* 0x00 */
	uint32_t eip;           /* 0x20 */
	uint32_t eflags;        /* 0x24 full guest EFLAGS (live bits valid
				   whenever the monitor runs) */
	uint64_t host_rsp;      /* 0x28 monitor stack at bt_enter */
	uint32_t callout_addr;  /* 0x30 linear address of an inline store */
	uint32_t pad3;          /* 0x34 */
	uint64_t fsbase;        /* 0x38 guest FS base (inline FS accesses add it) */
	uint64_t gsbase;        /* 0x40 guest GS base (inline GS accesses add it) */
	uint32_t exit_reason;   /* 0x48 enum bt_exit */
	uint32_t exit_signo;    /* 0x4c host signal for BT_EXIT_FAULT */
	uint64_t exit_site;     /* 0x50 rel32 jump to patch when chaining */
	uint64_t exit_common;   /* 0x58 address of bt_exit_common */
	uint64_t ibl;           /* 0x60 address of the indirect-branch lookup */
	uint64_t ibl_table;     /* 0x68 base of the lookup table */
	uint64_t fault_addr;    /* 0x70 si_addr of a BT_EXIT_FAULT */
	uint64_t rflags;        /* 0x78 host RFLAGS at the exit */
	uint32_t fault_code;    /* 0x80 si_code of a BT_EXIT_FAULT */
	uint32_t fault_trapno;  /* 0x84 host trap number (14 = #PF ...) */
	uint64_t fault_err;     /* 0x88 host error code (bit 1: write) */
	uint64_t view_base;     /* 0x90 where the 4 GiB window of the running
				   code's view starts: 0 for S blocks (the
				   S-view), the host GS base for U blocks
				   (bt_set_user_view) */
	uint32_t callout_arg;   /* 0x98 port | size << 16 | out << 24 */
	uint8_t ring0;          /* 0x9c set by the monitor before running
				   translated code: CPL 0, not virtual-8086 (the
				   inline CLI/STI/PUSHF/POPF hold only then) */
	uint8_t irq_waiting;    /* 0x9d an interrupt is requested that IF holds
				   back: inline STI/POPF setting IF must exit */
	uint16_t pad0;          /* 0x9e */
	uint64_t callout_in;    /* 0xa0 address of bt_callout_port */
	uint64_t owner;         /* 0xa8 the struct bt this block belongs to */
	uint64_t callout_back[2]; /* 0xb0 where a callout goes: [0] back into the
				     block, [1] bt_callout_refused (an exit) */
	uint32_t callout_eip;   /* 0xc0 guest EIP of the callout's instruction */
	uint32_t scratch;       /* 0xc4 translated code's: a guest register
				   whose AH..BH byte an FS/GS access names */
	uint64_t flag_stack[7]; /* 0xc8 inline flag sequences push RFLAGS
				   here (the top is BT_CPU_FLAG_STACK) */
	uint8_t guest_fx[512] __attribute__((aligned(64))); /* 0x100 */
	uint8_t host_fx[512] __attribute__((aligned(64)));  /* 0x300 only the monitor's FCW
							     (+0) and MXCSR (+24), kept by bt_enter */
	uint8_t xmm_save[128] __attribute__((aligned(16))); /* 0x500 XMM0-7 */
	struct bt_seg_cache {   /* 0x580 + 40 * ((selector >> 3) & 7) */
		uint64_t desc;      /* +0  the GDT descriptor as the monitor loaded it */
		uint64_t desc_host; /* +8  where it is (in the monitor's view of RAM) */
		uint32_t sel;       /* +16 the selector (0: empty) */
		uint32_t flags;     /* +20 BT_SEGC_* */
		struct bt_seg_image image; /* +24 the segment register after a load */
		uint32_t pad;
	} segc[8];
};

/*
 * The segment-load cache (inline MOV/POP to DS ES FS GS, and VERW, in
 * ring 0): the monitor fills an entry when it emulates such an instruction
 * for a GDT selector, and empties them all whenever descriptor tables or
 * address translation change. Translated code uses an entry only while the
 * descriptor in guest memory still reads as cached, so a guest rewriting
 * its GDT is seen as on hardware, which also reads the table at each load.
 */
#define BT_SEGC_DSES 1u /* may be loaded into DS or ES at CPL 0 (flat) */
#define BT_SEGC_FSGS 2u /* may be loaded into FS or GS at CPL 0 */
#define BT_SEGC_VERW 4u /* VERW at CPL 0 sets ZF */

/* The offsets (BT_CPU_*): bt_abi.h, pinned here. */

_Static_assert(offsetof(struct bt_cpu, eip) == BT_CPU_EIP, "eip");
_Static_assert(offsetof(struct bt_cpu, eflags) == BT_CPU_EFLAGS, "eflags");
_Static_assert(offsetof(struct bt_cpu, host_rsp) == BT_CPU_HOST_RSP, "rsp");
_Static_assert(offsetof(struct bt_cpu, fsbase) == BT_CPU_FSBASE, "gfs");
_Static_assert(offsetof(struct bt_cpu, gsbase) == BT_CPU_GSBASE, "ggs");
_Static_assert(offsetof(struct bt_cpu, exit_reason) == BT_CPU_EXIT_REASON, "er");
_Static_assert(offsetof(struct bt_cpu, exit_site) == BT_CPU_EXIT_SITE, "es");
_Static_assert(offsetof(struct bt_cpu, exit_common) == BT_CPU_EXIT_COMMON, "ec");
_Static_assert(offsetof(struct bt_cpu, ibl) == BT_CPU_IBL, "ibl");
_Static_assert(offsetof(struct bt_cpu, ibl_table) == BT_CPU_IBL_TABLE, "iblt");
_Static_assert(offsetof(struct bt_cpu, rflags) == BT_CPU_RFLAGS, "rfl");
_Static_assert(offsetof(struct bt_cpu, callout_arg) == BT_CPU_CALLOUT_ARG, "carg");
_Static_assert(offsetof(struct bt_cpu, callout_addr) == BT_CPU_CALLOUT_ADDR, "caddr");
_Static_assert(offsetof(struct bt_cpu, callout_in) == BT_CPU_CALLOUT_PORT, "cin");
_Static_assert(offsetof(struct bt_cpu, xmm_save) == BT_CPU_XMM_SAVE, "xmm");
_Static_assert(offsetof(struct bt_cpu, ring0) == BT_CPU_RING0, "ring0");
_Static_assert(offsetof(struct bt_cpu, segc) == BT_CPU_SEGC, "segc");
_Static_assert(sizeof(struct bt_seg_cache) == BT_SEGC_SIZE, "segc size");
_Static_assert(offsetof(struct bt_cpu, irq_waiting) == BT_CPU_IRQ_WAITING, "irqw");
_Static_assert(offsetof(struct bt_cpu, view_base) == BT_CPU_VIEW_BASE, "view");
_Static_assert(offsetof(struct bt_cpu, flag_stack) + sizeof(uint64_t[7]) == BT_CPU_FLAG_STACK,
	       "flag stack");
_Static_assert(offsetof(struct bt_cpu, callout_back) == BT_CPU_CALLOUT_BACK, "cback");
_Static_assert(offsetof(struct bt_cpu, callout_eip) == BT_CPU_CALLOUT_EIP, "ceip");
_Static_assert(offsetof(struct bt_cpu, scratch) == BT_CPU_SCRATCH, "scratch");
_Static_assert(offsetof(struct bt_cpu, guest_fx) == BT_CPU_GUEST_FX, "gfx");
_Static_assert(offsetof(struct bt_cpu, host_fx) == BT_CPU_HOST_FX, "hfx");
_Static_assert(offsetof(struct bt_cpu, gpr) == BT_CPU_GPR &&
	       offsetof(struct bt_cpu, gpr[BT_ECX]) == BT_CPU_ECX &&
	       offsetof(struct bt_cpu, gpr[BT_EDX]) == BT_CPU_EDX &&
	       offsetof(struct bt_cpu, gpr[BT_EBX]) == BT_CPU_EBX &&
	       offsetof(struct bt_cpu, gpr[BT_ESP]) == BT_CPU_ESP &&
	       offsetof(struct bt_cpu, gpr[BT_EBP]) == BT_CPU_EBP &&
	       offsetof(struct bt_cpu, gpr[BT_ESI]) == BT_CPU_ESI &&
	       offsetof(struct bt_cpu, gpr[BT_EDI]) == BT_CPU_EDI, "gpr");
_Static_assert(BT_EXIT_LOOKUP == BT_ABI_EXIT_LOOKUP && BT_EXIT_EMULATE == BT_ABI_EXIT_EMULATE &&
	       BT_EXIT_RUNLOOP == BT_ABI_EXIT_RUNLOOP, "exit codes bt/entry.S stores");

enum bt_transition { BT_TR_SYSENTER, BT_TR_SYSEXIT, BT_TR_IRET, BT_TR_INT };
enum bt_tr_result { BT_TR_REFUSED, BT_TR_DONE, BT_TR_DONE_EXIT };

/* What the translator needs from the rest of the monitor. */
struct bt_env {
	void *ctx;
	/*
	 * Copy up to `len` guest code bytes at linear `eip` into buf. Return
	 * the number of bytes available (fewer at the end of fetchable
	 * memory; 0 if eip itself cannot be fetched) and the guest-physical
	 * page number of the first byte in *page.
	 */
	unsigned (*fetch)(void *ctx, uint32_t eip, uint8_t *buf, unsigned len,
			  uint32_t *page);
	/* Write-protect (on) or release (off) a guest-physical page that holds
	 * translated code. */
	void (*protect_code)(void *ctx, uint32_t page, bool on);
	/* True if the instruction at eip must be emulated even though the
	 * table says it can be copied (adaptive translation: it keeps
	 * writing traced page tables). May be NULL. */
	bool (*force_emulate)(void *ctx, uint32_t eip);
	/* True if translated code must leave before the instruction at eip
	 * runs (a debugger's breakpoint): asked as each instruction is
	 * translated, so the monitor flushes translations when its answer
	 * changes. bt_step never asks. May be NULL. */
	bool (*stop_before)(void *ctx, uint32_t eip);
	/*
	 * Port I/O answered inline by translated code, without leaving it
	 * (the PIT and port 0x61 reads of TSC calibration, the port 0x80
	 * delay): `inline_port` says at translation time which ports qualify
	 * (it must only accept ports whose device needs nothing from the run
	 * loop); `port_in`/`port_out` then run on the monitor's stack with
	 * the monitor's FS base, from inside translated code. May be NULL.
	 */
	bool (*inline_port)(void *ctx, uint16_t port, bool out);
	/* At run time: may the guest do port I/O now (CPL <= IOPL)? If not,
	 * the instruction leaves translated code and is emulated (#GP). */
	bool (*io_allowed)(void *ctx);
	uint32_t (*port_in)(void *ctx, uint16_t port, unsigned size);
	void (*port_out)(void *ctx, uint16_t port, unsigned size, uint32_t value);
	/*
	 * A 32-bit store by an instruction force_emulate named (it writes
	 * page tables), done inline by a callout: store `value` at `linear`
	 * as the guest at its CPL would, and keep the page tables' shadows
	 * coherent. Return false, having done nothing, where the emulator
	 * must do it instead (a fault, code, not RAM). May be NULL.
	 */
	bool (*pt_store)(void *ctx, uint32_t eip, uint32_t linear, uint32_t value);
	/*
	 * The monitor's segment registers, which translated code reads for
	 * PUSH Sreg and writes for the inline loads, in the order ES CS SS
	 * DS FS GS. NULL: segment instructions are all emulated.
	 */
	struct bt_seg_image *seg_regs;
	/* The guest's CR2, which MOV r32, CR2 at CPL 0 reads inline (a page
	 * fault handler's first act). NULL: emulated. */
	const uint32_t *cr2;
	/*
	 * A change of privilege done inline by a callout: SYSENTER and INT n
	 * (`vector`) in a U block, SYSEXIT (with the guest's ECX and EDX) and
	 * IRETD in an S block. bt_cpu holds the guest's whole EFLAGS, its ESP
	 * and callout_eip, the instruction's address. Make the virtual CPU's
	 * transition, set the target EIP, ESP and EFLAGS in bt_cpu and the
	 * kind of blocks (bt_set_user_view), and return BT_TR_DONE, or
	 * BT_TR_DONE_EXIT where the run loop must look before the target runs
	 * (an interrupt to take, single-stepping, another mode of execution);
	 * or BT_TR_REFUSED, having changed nothing, where the monitor must
	 * emulate the instruction (a fault to raise, an unusual case). May be
	 * NULL.
	 */
	enum bt_tr_result (*transition)(void *ctx, enum bt_transition kind, uint8_t vector,
					uint32_t ecx, uint32_t edx);
};

struct bt_config {
	size_t tc_size;   /* translation-cache bytes (0: default) */
	uint32_t ram_pages; /* guest-physical pages, for per-page block lists */
	FILE *trace;      /* dump each translated block here, or NULL */
	FILE *perf_map;   /* "HOST SIZE guest:EIP" per block (perf's JIT map
			     format), or NULL */
};

/* Translator statistics for --stats. */
struct bt_stats {
	uint64_t blocks;         /* blocks translated */
	uint64_t insns;          /* guest instructions translated */
	uint64_t tc_bytes;       /* host bytes emitted, all flushes included */
	uint64_t flushes;        /* full translation-cache flushes */
	uint64_t chained;        /* direct branches patched to jump block-to-block */
	uint64_t lookups;        /* dispatches through the monitor's lookup */
	uint64_t ibl_misses;     /* indirect branches that missed the table */
	uint64_t invalidated;    /* blocks dropped because their code was written */
	uint64_t detached;       /* blocks set aside because their page was remapped */
	uint64_t reattached;     /* of those, found again instead of translated */
	uint64_t exits[BT_EXIT_COUNT];
	uint64_t class_count[8]; /* translated instructions per bt_class */
	uint64_t sensitive[8];   /* sensitive forms translated, per enum bt_xlate
				    (BT_XL_EXIT: those that exit) */
	uint64_t inline_io;      /* port accesses answered inside translated code */
	uint64_t inline_stores;  /* page-table stores done by the store callout */
	uint64_t tc_resident;    /* TC bytes ever in use (its high-water mark) */
};

struct bt;

/*
 * Create the translator for `*cpu_out` (allocated here, with the poll page
 * just below it). Return NULL with a reason in err.
 */
struct bt *bt_create(const struct bt_config *cfg, const struct bt_env *env,
		     struct bt_cpu **cpu_out, char *err, size_t errlen);
void bt_destroy(struct bt *bt);

/*
 * Run guest code from cpu->eip until something needs the monitor: return
 * BT_EXIT_EMULATE, BT_EXIT_FAULT, BT_EXIT_POLL, BT_EXIT_IRQ (an inline
 * STI/POPF set IF with an interrupt waiting) or BT_EXIT_RUNLOOP (a
 * callout's transition wants the run loop to look first), with precise
 * guest state in the bt_cpu block (eip at the instruction concerned). Lookups and
 * chaining are handled inside. Return BT_EXIT_FAULT with exit_signo 0 and
 * fault_code 1 if eip cannot be fetched (the monitor decides what the guest
 * sees).
 */
enum bt_exit bt_run(struct bt *bt);

/*
 * Run exactly one guest instruction at cpu->eip from a throw-away
 * translation that is not cached and protects no page (used after a write
 * to a code page, to let the writing instruction complete). Return
 * BT_EXIT_STEP when it completed, or another exit as bt_run.
 */
enum bt_exit bt_step(struct bt *bt);

/*
 * A counter that changes whenever translated code may have gone stale
 * (a flush, an invalidated page): caches of decoded guest instructions
 * are valid while it stays the same.
 */
uint64_t bt_code_epoch(const struct bt *bt);

/* Drop every translation of guest-physical page `page`. */
void bt_invalidate_page(struct bt *bt, uint32_t page);
/* Drop the translations of page `page` that contain the instruction at
 * linear `eip` (it is to be translated differently: adaptive
 * translation); the page's other blocks stay. */
void bt_invalidate_insn(struct bt *bt, uint32_t page, uint32_t eip);
/*
 * A linear page that showed guest-physical page `page` no longer does (a
 * CR3 load, INVLPG): its translations become unreachable but are kept,
 * with the page still write-protected; a later lookup of the same EIP
 * that fetches from the same page (the same address space again, or
 * another running the same code) takes them back instead of translating.
 */
void bt_detach_page(struct bt *bt, uint32_t page);
/* Drop everything (e.g. the guest changed mode). */
void bt_flush(struct bt *bt);

/* Ask running translated code to return BT_EXIT_POLL at its next block
 * boundary. Async-signal-safe. */
void bt_request_exit(struct bt *bt);

/*
 * Called from the host fault handler: if the fault is in translated code,
 * store precise guest state (registers, eip of the faulting guest
 * instruction, fault details) in the bt_cpu block, rewrite f's registers
 * (struct hd_fault, hostdriver.h) to leave through the exit path (bt_run
 * then returns BT_EXIT_FAULT or BT_EXIT_POLL) and return true. Return
 * false for faults elsewhere.
 */
struct hd_fault;
bool bt_handle_host_fault(struct bt *bt, struct hd_fault *f);

/* True if host_pc lies in the translation cache. Async-signal-safe. */
bool bt_owns_pc(const struct bt *bt, uint64_t host_pc);

const struct bt_stats *bt_get_stats(const struct bt *bt);

/* The classification of instructions, from bt/classify.def. */
enum bt_class {
	BT_CLASS_IDENT,   /* copied, with address-size and encoding fixes */
	BT_CLASS_STACK,   /* implicit stack use rewritten to 32-bit */
	BT_CLASS_BRANCH,  /* control flow: ends the block */
	BT_CLASS_EMULATE, /* sensitive or invalid in 64-bit mode: monitor */
	BT_CLASS_COUNT
};
/* Class of a Zydis mnemonic (a ZydisMnemonic value) before operand checks;
 * unlisted mnemonics are BT_CLASS_EMULATE. */
enum bt_class bt_classify_mnemonic(int mnemonic);
/*
 * The sensitive forms: classify.def's BT_SENS and BT_FORM rows, one per
 * form, each saying what is done with it. The translator, the emulator's
 * dispatch and --stats all read them.
 */
enum bt_form {
	BT_FORM_NONE, /* an ordinary instruction */
#define BT_INSN(m, c)
#define BT_SENS(m, g, x, h) BT_FORM_##m,
#define BT_FORM(n, g, x, h) BT_FORM_##n,
#include "classify.def"
#undef BT_FORM
#undef BT_SENS
#undef BT_INSN
	BT_FORM_COUNT
};
/* Its family: the --stats class. */
enum bt_group {
	BT_GROUP_NONE,    /* an ordinary instruction */
	BT_GROUP_FLAGS,   /* PUSHF POPF CLI STI */
	BT_GROUP_DESCTAB, /* LGDT LIDT LLDT LTR SGDT SIDT SLDT STR */
	BT_GROUP_SEGMENT, /* segment register moves, LDS..LSS, LAR LSL VERR VERW */
	BT_GROUP_FAR,     /* far JMP CALL RET, IRET, INT n, INT1, INT3, INTO */
	BT_GROUP_CONTROL, /* MOV CR/DR, SMSW LMSW CLTS INVLPG INVD WBINVD */
	BT_GROUP_IO,      /* IN OUT INS OUTS */
	BT_GROUP_CPU,     /* CPUID RDTSC(P) RDMSR WRMSR RDPMC SYSENTER SYSEXIT HLT */
	BT_GROUP_LEGACY,  /* invalid in 64-bit mode: PUSHA POPA BOUND ARPL BCD SALC ENTER */
	BT_GROUP_OTHER,   /* #UD in the virtual CPU, or not modelled */
};
/* How the translator emits it (classify.def says which emitter). */
enum bt_xlate {
	BT_XL_EXIT,  /* the block exits; the monitor emulates it */
	BT_XL_FLAGS, /* inline: CLI STI PUSHFD POPFD */
	BT_XL_SEG,   /* inline: segment register reads and loads, VERW */
	BT_XL_CR2,   /* inline: MOV r32, CR2 */
	BT_XL_PORT,  /* callout: IN/OUT to ports answered from translated code */
	BT_XL_SYS,   /* callout: SYSENTER, SYSEXIT, IRETD, INT n */
	BT_XL_COUNT
};
/* Which emulator routine runs it when it exits (monitor/emulate.c). */
enum bt_handler {
	BT_EMU_NONE,   /* not modelled: #UD if the virtual CPU lacks it, else status 8 */
	BT_EMU_FLAGS, BT_EMU_IO, BT_EMU_CPU, BT_EMU_SYS, BT_EMU_SEG,
	BT_EMU_LEGACY, BT_EMU_UD, BT_EMU_MOV_CR, BT_EMU_MOV_DR,
	BT_EMU_COUNT
};
struct bt_form_row {
	const char *name;  /* the mnemonic or form, as classify.def spells it */
	uint8_t group;     /* enum bt_group */
	uint8_t xlate;     /* enum bt_xlate */
	uint8_t handler;   /* enum bt_handler */
};
/* The row of a decoded instruction (BT_FORM_NONE: ordinary). */
enum bt_form bt_form_of(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops);
const struct bt_form_row *bt_form_row(enum bt_form f);
/* Class of a decoded instruction, operand checks included: what the
 * translator does with it (BT_CLASS_EMULATE: the monitor's emulator). */
enum bt_class bt_classify_insn(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops);
const char *bt_class_name(enum bt_class c);

/* True for x87/MMX/SSE-family instructions (legacy encoding): they run
 * natively, unless the guest's CR0.TS or CR0.EM says they must fault. */
bool bt_fp_family(const ZydisDecodedInstruction *zi);
/* A 32-bit decoder that decodes as the virtual CPU does: it has no LZCNT
 * or TZCNT, so F3 0F BD / F3 0F BC are BSR / BSF with an ignored REP. The
 * translator and the emulator both use it. */
void bt_decoder_init(ZydisDecoder *d);

/*
 * The virtual CPU's instruction set: the CPUID words that claim
 * extensions, as its CPUID answers them (leaf 1, leaf 7 subleaf 0, leaf
 * 0x80000001; zero where a leaf is absent).
 */
struct bt_isa {
	uint32_t l1_ecx, l1_edx;
	uint32_t l7_ebx, l7_ecx, l7_edx;
	uint32_t x1_ecx, x1_edx;
};
enum bt_isa_verdict {
	BT_ISA_HAS, /* the CPU has it */
	BT_ISA_NOP, /* it does not, and the encoding is a hint NOP (0F 18-1F) */
	BT_ISA_UD,  /* it does not: #UD */
};
/* Does a CPU with these flags have this instruction? The one answer both
 * the translator (an instruction it lacks is never run natively) and the
 * emulator (#UD, or nothing for a hint NOP) go by. */
enum bt_isa_verdict bt_isa_check(const struct bt_isa *isa, const ZydisDecodedInstruction *zi);
/* Set the instruction set translated code may run; a change flushes the
 * translation cache. Until set, only what every CPU has. */
void bt_set_isa(struct bt *bt, const struct bt_isa *isa);
const struct bt_isa *bt_get_isa(const struct bt *bt);

/*
 * Tell the translator whether FP instructions must trap (guest CR0.TS or
 * CR0.EM set): while they must, they are translated as EMULATE so the
 * monitor can raise #NM/#UD. A change flushes the translation cache.
 */
void bt_set_fp_trap(struct bt *bt, bool trap, bool xmm_off);
/* An SSE-family instruction on XMM registers (or LDMXCSR/STMXCSR): #UD
 * while the guest's CR4.OSFXSR is 0 (SDM vol. 3, 13.1.3; QEMU too), which
 * bt_set_fp_trap's xmm_off makes the translator send to the monitor. */
bool bt_xmm_insn(const ZydisDecodedInstruction *zi, const ZydisDecodedOperand *ops);

/*
 * Whether RDTSC may run as itself: the guest's TSC is the host's (offset
 * 0) and CR4.TSD is clear. Otherwise it is emulated. A change flushes the
 * translation cache.
 */
void bt_set_native_tsc(struct bt *bt, bool native);

/*
 * Which window the code about to run reaches guest memory through. S
 * blocks (ring 0-2, or paging off) address the S-view at host address 0
 * with no segment override; U blocks (CPL 3 with paging) add the host GS
 * base, which the monitor keeps at the current user view's window while
 * any U block runs. Blocks of the two kinds are looked up, chained and
 * found by the indirect-branch lookup apart, so a CPL change costs no GS
 * base write: only a switch to another user view does.
 */
void bt_set_user_view(struct bt *bt, bool user);

/* Human-readable name of an exit reason. */
const char *bt_exit_name(enum bt_exit e);

#endif
