/* monitor: shared helpers of the instruction emulator (private header). */
#ifndef BTVMM_EMULATE_H
#define BTVMM_EMULATE_H

#include <Zydis/Zydis.h>

#include "monitor.h"

/* The instruction being emulated. */
struct emu_insn {
	ZydisDecodedInstruction zi;
	ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
	uint32_t eip, next_eip;
};

/* What an emulation routine did. */
enum emu_result {
	EMU_NEXT,      /* done: continue at next_eip (the dispatcher sets EIP) */
	EMU_JUMPED,    /* done: the routine set cpu->eip itself */
	EMU_FAULT,     /* *f holds a guest fault to deliver at eip */
	EMU_UNHANDLED, /* not this routine's instruction */
	EMU_STOPPED,   /* the VM was stopped (mon_stop was called) */
	EMU_STEP,      /* run the instruction natively, once (bt_step) */
};

/* Effective address (offset, before the segment base) of memory operand op. */
uint32_t emu_ea(struct mon_vm *vm, const struct emu_insn *in,
		const ZydisDecodedOperand *op);
/* Linear address of memory operand op (segment base added). */
uint32_t emu_linear(struct mon_vm *vm, const struct emu_insn *in,
		    const ZydisDecodedOperand *op);
/* Read/write a general register (any width: AL, AH, AX, EAX ...). */
uint32_t emu_get_reg(struct mon_vm *vm, ZydisRegister r);
void emu_set_reg(struct mon_vm *vm, ZydisRegister r, uint32_t value);
/* Read/write an operand (register, memory or immediate) of `size` bytes. */
bool emu_read_op(struct mon_vm *vm, const struct emu_insn *in,
		 const ZydisDecodedOperand *op, unsigned size, uint32_t *value,
		 struct mon_fault *f);
bool emu_write_op(struct mon_vm *vm, const struct emu_insn *in,
		  const ZydisDecodedOperand *op, unsigned size, uint32_t value,
		  struct mon_fault *f);
/* Set PF, ZF, SF from an 8-bit/16-bit/32-bit result (others untouched). */
void emu_set_szp(struct mon_vm *vm, uint32_t result, unsigned size);

/* The mask of a `size`-byte operand (1, 2 or 4). */
static inline uint32_t emu_size_mask(unsigned size)
{
	return size >= 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
}
/* The SEG_ index of a segment register (SEG_DS for none). */
int emu_seg_index(ZydisRegister r);

/*
 * The routines classify.def's rows name (enum bt_handler); each returns
 * EMU_UNHANDLED for an instruction that is not its own.
 */
/* emulate_io.c: PUSHF POPF CLI STI; IN OUT INS OUTS (the IOPL checks and
 * the TSS's I/O permission bitmap included). */
enum emu_result emu_flags(struct mon_vm *vm, const struct emu_insn *in,
			  struct mon_fault *f);
enum emu_result emu_io(struct mon_vm *vm, const struct emu_insn *in,
		       struct mon_fault *f);
/* emulate_seg.c: descriptor tables, segment loads and probes, far
 * transfers, IRET, INT n/INT1/INT3/INTO. */
enum emu_result emu_segments(struct mon_vm *vm, const struct emu_insn *in,
			     struct mon_fault *f);
/* emulate_cpu.c: MOV CRn/DRn, LMSW/SMSW/CLTS; CPUID, MSRs, RDTSC/RDPMC,
 * INVD/WBINVD, INVLPG, HLT; SYSENTER, SYSEXIT. */
enum emu_result emu_mov_cr(struct mon_vm *vm, const struct emu_insn *in,
			   struct mon_fault *f);
enum emu_result emu_mov_dr(struct mon_vm *vm, const struct emu_insn *in,
			   struct mon_fault *f);
enum emu_result emu_cpu(struct mon_vm *vm, const struct emu_insn *in,
			struct mon_fault *f);
/* SYSENTER and SYSEXIT. */
enum emu_result emu_sys(struct mon_vm *vm, const struct emu_insn *in, struct mon_fault *f);

/* emulate_mem.c: instructions with a memory operand the S-view cannot
 * reach (device memory, holes, the low 64 KiB), done through mon_read and
 * mon_write; string instructions and XLAT in the forms the translator
 * leaves. */
enum emu_result emu_memory(struct mon_vm *vm, const struct emu_insn *in,
			   struct mon_fault *f);
enum emu_result emu_string(struct mon_vm *vm, const struct emu_insn *in,
			   struct mon_fault *f);
enum emu_result emu_xlat(struct mon_vm *vm, const struct emu_insn *in,
			 struct mon_fault *f);

/* emulate_legacy.c: PUSHA POPA BOUND ARPL DAA DAS AAA AAS AAM AAD SALC ENTER */
enum emu_result emu_legacy(struct mon_vm *vm, const struct emu_insn *in,
			   struct mon_fault *f);

#endif
