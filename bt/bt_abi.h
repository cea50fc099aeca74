/*
 * bt: the contract between C, bt/entry.S and the emitted code — the
 * offsets into struct bt_cpu (the register block translated code reaches
 * through host R15), the exit codes the assembly stores, the indirect-branch
 * table's geometry. Plain #defines, included by both C (bt.h, whose
 * _Static_asserts pin every offset to the struct) and the assembler.
 */
#ifndef BTVMM_BT_ABI_H
#define BTVMM_BT_ABI_H

/* An unsigned constant in C, the same number to the assembler. */
#ifdef __ASSEMBLER__
#define BT_U(x) x
#else
#define BT_U(x) x##u
#endif

/* struct bt_cpu */
#define BT_CPU_GPR 0x00 /* guest EAX..EDI, 4 bytes each, encoding order */
#define BT_CPU_EAX 0x00
#define BT_CPU_ECX 0x04
#define BT_CPU_EDX 0x08
#define BT_CPU_EBX 0x0c
#define BT_CPU_ESP 0x10
#define BT_CPU_EBP 0x14
#define BT_CPU_ESI 0x18
#define BT_CPU_EDI 0x1c
#define BT_CPU_EIP 0x20
#define BT_CPU_EFLAGS 0x24
#define BT_CPU_HOST_RSP 0x28
#define BT_CPU_CALLOUT_ADDR 0x30
#define BT_CPU_FSBASE 0x38
#define BT_CPU_GSBASE 0x40
#define BT_CPU_EXIT_REASON 0x48
#define BT_CPU_EXIT_SITE 0x50
#define BT_CPU_EXIT_COMMON 0x58
#define BT_CPU_IBL 0x60
#define BT_CPU_IBL_TABLE 0x68
#define BT_CPU_RFLAGS 0x78
#define BT_CPU_VIEW_BASE 0x90
#define BT_CPU_CALLOUT_ARG 0x98
#define BT_CPU_RING0 0x9c
#define BT_CPU_IRQ_WAITING 0x9d
#define BT_CPU_CALLOUT_PORT 0xa0
#define BT_CPU_CALLOUT_BACK 0xb0 /* two 8-byte targets */
#define BT_CPU_CALLOUT_EIP 0xc0
#define BT_CPU_SCRATCH 0xc4
#define BT_CPU_FLAG_STACK 0x100 /* top of the inline flag stack (it grows down) */
#define BT_CPU_GUEST_FX 0x100   /* FXSAVE image, 512 bytes */
#define BT_CPU_HOST_FX 0x300    /* FXSAVE layout; only FCW and MXCSR are kept */
#define BT_CPU_XMM_SAVE 0x500   /* XMM0-7 around a callout */
#define BT_CPU_SEGC 0x580       /* struct bt_seg_cache[8] */
#define BT_SEGC_SIZE 40
/* The poll page is the page just below the bt_cpu block (see bt_create). */
#define BT_CPU_POLL (-4096)

/* Offsets inside an FXSAVE image. */
#define BT_FX_FCW 0
#define BT_FX_MXCSR 24

/* Guest EFLAGS bits held in host RFLAGS while translated code runs. */
#define BT_FL_LIVE BT_U(0x00000cd5) /* CF PF AF ZF SF DF OF */

/* enum bt_exit values the assembly stores (bt.h pins them). */
#define BT_ABI_EXIT_LOOKUP 1
#define BT_ABI_EXIT_EMULATE 2
#define BT_ABI_EXIT_RUNLOOP 8

/* The indirect-branch table: entries {u32 eip, u32 pad, u64 host},
 * direct-mapped by the low bits of the EIP. */
#define BT_IBL_ENTRIES 65536
#define BT_IBL_ENTRY_SIZE 16
#define BT_IBL_INDEX_MASK ((BT_IBL_ENTRIES - 1) * BT_IBL_ENTRY_SIZE)

#endif
