/* bt: the translator's private structures and emitter interfaces. */
#ifndef BTVMM_BT_PRIVATE_H
#define BTVMM_BT_PRIVATE_H

#include "bt.h"

#include <Zydis/Zydis.h>

#define BT_MAX_BLOCK_INSNS 32   /* guest instructions per block */
#define BT_MAX_INSN_HOST 256    /* worst-case host bytes per guest instruction */
#define BT_MAX_BLOCK_HOST 3072  /* a block ends once its code is this long */
#define BT_HASH_BUCKETS 65536

/* A patchable direct jump (rel32 at site+1 or site+2) into another block. */
struct bt_chain {
	struct bt_chain *next;     /* in the target's incoming list */
	uint8_t *rel32;            /* the rel32 field to patch */
	uint8_t *stub;             /* where it pointed before chaining */
};

/* One translated block. */
struct bt_block {
	uint32_t eip;              /* guest linear start */
	uint32_t guest_len;        /* guest bytes covered */
	uint32_t page[2];          /* guest-physical pages of the first and last byte */
	uint8_t *host;             /* entry in the TC */
	uint8_t *away;             /* its exit for eip while detached: the entry
				      jumps there (bt_detach_page) */
	uint32_t host_len;
	uint16_t n_insns;
	bool valid;
	bool detached;             /* valid, but not to be run (bt_detach_page) */
	bool user;                 /* a U block: it reaches guest memory through
				      the user view's window (bt_set_user_view) */
	bool cut;                  /* its last instruction was cut short by a
				      page that could not be fetched: run once,
				      never looked up, chained or put in the
				      IBL (the page may be there next time) */
	uint16_t *guest_off;       /* per instruction: offset from eip */
	uint16_t *host_off;        /* per instruction: offset from host */
	int8_t *esp_lag;           /* per instruction: host ESP + lag = guest
				      ESP at its first host byte */
	struct bt_block *hash_next;
	struct bt_block **hash_pprev; /* the pointer to this block in its chain */
	struct bt_block *page_next[2];
	struct bt_chain *incoming; /* sites that jump straight here */
};

/* Entry of the indirect-branch table read by bt_ibl. */
struct bt_ibl_entry {
	uint32_t eip;
	uint32_t pad;
	uint64_t host;
};
_Static_assert(sizeof(struct bt_ibl_entry) == BT_IBL_ENTRY_SIZE, "bt_ibl entry size");

struct bt {
	struct bt_cpu *cpu;
	void *cpu_mem;             /* poll page + cpu block */
	size_t cpu_mem_len;
	volatile int kick_error;   /* errno of a failed bt_request_exit */
	struct bt_env env;
	FILE *trace;
	FILE *perf_map;

	uint8_t *tc;               /* translation cache */
	size_t tc_size;
	size_t tc_used;

	uint8_t *meta;             /* blocks, side tables and chain records */
	size_t meta_size;
	size_t meta_used;

	struct bt_block **blocks;  /* in TC order, for host-PC lookups */
	size_t n_blocks, max_blocks;

	struct bt_block *hash[BT_HASH_BUCKETS];
	struct bt_block **page_head; /* per guest-physical page */
	uint32_t *pending;         /* pages whose U blocks bt_detach_page left
				      to bt_set_user_view (ring 0 was running) */
	uint32_t n_pending;
	bool *pending_on;          /* per page: on pending[] */
	uint32_t ram_pages;
	struct bt_ibl_entry *ibl;  /* two tables: S blocks', then U blocks' */

	uint64_t generation;       /* bumped at every flush */
	uint64_t code_epoch;       /* bumped at every flush or invalidation */
	bool single;               /* translating for bt_step */
	bool user;                 /* blocks run and are made as U blocks */
	bool fp_trap;              /* FP instructions are EMULATE (CR0.TS/EM) */
	bool xmm_off;              /* XMM instructions are EMULATE (CR4.OSFXSR 0) */
	bool native_tsc;           /* RDTSC is IDENT (guest TSC = host TSC) */
	struct bt_isa isa;         /* the virtual CPU's instruction set */
	ZydisDecoder dec;
	ZydisFormatter fmt;
	struct bt_stats stats;
};

/* ---- entry.S ---- */
enum bt_exit bt_enter(struct bt_cpu *cpu, const void *host_pc);
void bt_exit_common(void);
void bt_exit_from_signal(void);
void bt_ibl(void);
void bt_ibl_miss(void);
void bt_callout_port(void);
void bt_callout_store(void);
void bt_callout_sys(void);
void bt_callout_runloop(void);
void bt_callout_refused(void);

/* Every block opens with the poll load (translate.c). */
extern const uint8_t bt_poll_load[7];

/* ---- emitting ---- */

/* An emission cursor into the TC. */
struct bt_emit {
	uint8_t *p;
	uint8_t *start;
	bool user;                 /* for a U block (emit_view) */
	int32_t esp_lag;           /* guest ESP = host ESP + esp_lag (below) */
};
/* Before a guest memory access with a 32-bit address (or on [r11]): the GS
 * override that adds the user view's window in a U block; nothing in an S
 * block, whose window (the S-view) starts at host address 0. */
void emit_view(struct bt_emit *e);

/* A decoded guest instruction with its raw bytes. */
struct bt_insn {
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	const uint8_t *bytes;
	uint32_t eip;
	uint32_t next_eip;
	bool has_mem;              /* a memory operand (explicit or hidden) */
};

/* Exit stubs and chaining records gathered while emitting one block. */
struct bt_pending_stub {
	uint8_t *rel32;            /* jump site */
	uint32_t target;           /* guest EIP */
};

struct bt_tx {
	struct bt *bt;
	struct bt_emit e;
	struct bt_pending_stub stubs[4];
	int n_stubs;
	bool end;                  /* the block ends after this instruction */
};

void emit_u8(struct bt_emit *e, uint8_t b);
void emit_u32(struct bt_emit *e, uint32_t v);
void emit_bytes(struct bt_emit *e, const void *p, size_t n);
/* Copy the instruction's memory operand (ModRM, SIB, displacement) with a
 * new ModRM.reg field, making disp32-absolute forms SIB-encoded (in 64-bit
 * mode ModRM 00/101 means RIP-relative). */
void emit_modrm_mem(struct bt_emit *e, const struct bt_insn *in, unsigned reg);
/* Is the instruction's ModRM operand ESP-based ([esp + ...], SIB base 4)?
 * emit_modrm_mem then adds the lag to its displacement. */
bool emit_esp_based(const struct bt_insn *in);
/* True if the instruction's memory operand is FS- or GS-relative. */
bool emit_is_fsgs(const struct bt_insn *in);
/* r11 = the linear address of the instruction's explicit memory operand
 * (ModRM or moffs) plus `adjust`, its FS/GS base included, computed in 32
 * bits; clobbers r12, touches no flags (emit.c says why). */
void emit_fsgs_address(struct bt_emit *e, const struct bt_insn *in, int32_t adjust);
/*
 * An access to the instruction's explicit memory operand by a rewritten
 * sequence: [0x66 if size16] REX opcode[n] ModRM with ModRM.reg = reg (8-15
 * for r8-r15). The operand is the guest's own (address-size prefix, disp32
 * re-encoded), or [r11] after emit_fsgs_address for FS/GS-relative ones,
 * whose address may be moved by `adjust` (must be 0 for the others).
 */
void emit_mem_access(struct bt_emit *e, const struct bt_insn *in, bool size16,
		     const uint8_t *opcode, size_t n, unsigned reg, int32_t adjust);
/* Emit an exit to the monitor with eip and reason (not chainable). */
void emit_exit(struct bt_tx *tx, uint32_t eip, enum bt_exit reason);
/* Emit `jmp rel32` to a chainable exit for guest `target`. */
void emit_jump_to(struct bt_tx *tx, uint32_t target);
/* Emit `jcc rel32` (cc = low nibble) to a chainable exit for `target`. */
void emit_jcc_to(struct bt_tx *tx, unsigned cc, uint32_t target);
/* Emit `jmp [r15 + ibl]` with the target EIP already in r14d. */
void emit_jmp_ibl(struct bt_emit *e);
/* Finish the block's pending stubs (after its last instruction). */
void emit_pending_stubs(struct bt_tx *tx);
/* mov dword [esp-4], imm32 ; lea esp, [esp-4] (after settling the lag) */
void emit_push_imm32(struct bt_emit *e, uint32_t v);

/*
 * The lagging stack pointer. A run of PUSH and POP, and of instructions
 * that use ESP only as a memory operand's base, does not move ESP at each
 * step: the translator keeps the guest's ESP as host ESP + esp_lag and
 * folds the lag into the displacements (emit_modrm_mem), then settles it
 * with one LEA before anything else reads or writes ESP, and before every
 * exit, branch and callout. On the host this removes an LEA per PUSH/POP
 * and, more to the point, leaves a stored spill and its reload with the
 * same base register and displacement: the CPU can forward the one to the
 * other by renaming (AMD's memory file) instead of through the store
 * buffer (push ebx; add eax, [esp]; pop ebx: 2.9 -> 0.9 ns per iteration
 * on the Zen host the bench ran on). The lag of each instruction's start
 * is kept with the block, so a fault in the middle of a run is still
 * precise (fault.c).
 */
#define BT_ESP_LAG_MAX 64
/* lea esp, [esp + lag]; lag = 0 (nothing if it is 0) */
void emit_esp_settle(struct bt_emit *e);
/* May `in` (of class c) run with ESP lagging: no reference to ESP but as
 * the base of an explicit memory operand, or a PUSH/POP the stack
 * emitters fold the lag into? */
bool bt_takes_esp_lag(const struct bt_insn *in, enum bt_class c);

/*
 * Inline sequences that need the flags (emit_flags.c, emit_seg.c) park the
 * guest's RFLAGS in bt_cpu: `mov r12, rsp; lea rsp, [r15 + flag_stack];
 * pushfq` ... `popfq; mov rsp, r12`. In between, RSP is not the guest's
 * ESP: nothing there may touch guest memory (or fault). The parked image
 * is at BT_CPU_FLAG_SLOT.
 */
#define BT_CPU_FLAG_SLOT (BT_CPU_FLAG_STACK - 8)
_Static_assert(BT_CPU_FLAG_SLOT < 0x100, "emitted as the low byte of a disp32");
#define BT_CC_Z 0x4
#define BT_CC_NZ 0x5
void emit_park_flags(struct bt_emit *e);
void emit_unpark_flags(struct bt_emit *e);
/* cmp byte [r15 + off], 0 */
void emit_cmp_cpu_byte0(struct bt_emit *e, uint32_t off);
/* Forward jcc/jmp rel32: return the field for emit_patch_here. */
uint8_t *emit_jcc_fwd(struct bt_emit *e, unsigned cc);
uint8_t *emit_jmp_fwd(struct bt_emit *e);
void emit_patch_here(struct bt_emit *e, uint8_t *field);

/* Per-class emitters: return false if the instruction must be emulated. */
bool emit_ident(struct bt_tx *tx, const struct bt_insn *in);
bool emit_stack(struct bt_tx *tx, const struct bt_insn *in);
bool emit_branch(struct bt_tx *tx, const struct bt_insn *in);
/* IN/OUT with an immediate port the monitor answers inline (emit_io.c). */
bool emit_inline_io(struct bt_tx *tx, const struct bt_insn *in);
/* emit_io.c: a page-table MOV through the store callout. */
bool emit_inline_store(struct bt_tx *tx, const struct bt_insn *in);
/* emit_io.c: SYSENTER and INT n (U blocks), SYSEXIT and IRETD (S blocks)
 * through the transition callout. */
bool emit_inline_sys(struct bt_tx *tx, const struct bt_insn *in);
/* CLI, STI, PUSHFD, POPFD on the virtual flags (emit_flags.c); the caller
 * decides whether an STI may be inline, and never asks for bt_step. */
bool emit_flags_inline(struct bt_tx *tx, const struct bt_insn *in);
/* MOV r32, CR2 in ring 0 (emit_flags.c). */
bool emit_cr2_read(struct bt_tx *tx, const struct bt_insn *in);
/* PUSH Sreg, MOV r/m from Sreg, MOV/POP to DS ES FS GS, VERW (emit_seg.c). */
bool emit_seg_inline(struct bt_tx *tx, const struct bt_insn *in);

/* Classify with operand checks (segment/CR/DR movs are emulated, etc.). */
enum bt_class bt_classify(const struct bt_insn *in);

/* ---- cache.c ---- */
void *bt_meta_alloc(struct bt *bt, size_t n);
struct bt_block *bt_lookup(struct bt *bt, uint32_t eip);
void bt_insert(struct bt *bt, struct bt_block *b);
/* A detached block for eip whose page(s) eip fetches from again, taken
 * back with the page's others; NULL if there is none (cache.c). */
struct bt_block *bt_reattach(struct bt *bt, uint32_t eip);
/* Before U blocks run: the pages bt_detach_page left pending keep their
 * U blocks where the current tables still show them, the rest are set
 * aside (cache.c). */
#define BT_PENDING_MAX 512
void bt_settle(struct bt *bt);
void bt_chain(struct bt *bt, uint8_t *rel32, struct bt_block *to);
/* b was found for an EIP whose detached block was entered: the chains
 * into the detached blocks for b's EIP go to b (cache.c). */
void bt_take_chains(struct bt *bt, struct bt_block *b);
void bt_ibl_insert(struct bt *bt, struct bt_block *b);
/* The indirect-branch table of S (user false) or U blocks. */
struct bt_ibl_entry *bt_ibl_table(const struct bt *bt, bool user);
struct bt_block *bt_block_at_pc(const struct bt *bt, uint64_t pc);

/* ---- translate.c ---- */
/* Translate the block at eip; NULL if the TC or metadata is full (caller
 * flushes and retries) with *full set, or if eip cannot be fetched. */
struct bt_block *bt_translate(struct bt *bt, uint32_t eip, bool *full);


#endif
