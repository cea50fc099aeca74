/*
 * x86.h: the guest CPU's hardware formats, each defined once: page-table
 * entries and #PF error codes, exception vectors, CR0/CR4/EFER bits,
 * selectors, segment descriptors and gates, the VMX-style segment access
 * rights, the 32-bit TSS. It describes the guest's (virtual) x86, not the
 * host (only the exception vectors are the host's too): nothing here
 * calls anything. It lives in hostdriver/ only because hostdriver/ is the
 * bottom of the include graph: bt/, shadowmm/, monitor/ and devices/ all
 * include its headers. Figures: Intel SDM vol. 3A, chapters 2-7.
 *
 * Constants are plain macros (they appear in case labels and constant
 * expressions); accessors are static inline functions whose parameter has
 * the entry's width, so a narrower value is widened before it is shifted
 * and every field comes back with a type. EFLAGS bits stay in bt.h
 * (BT_FL_*): translated code and its assembly read them there, and
 * nothing else defines them.
 */
#ifndef BTVMM_X86_H
#define BTVMM_X86_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- exception vectors ---- */

/*
 * Architectural exception vectors, the guest's and the host's alike: the
 * trap number in a host signal frame (struct hd_fault, the user world's
 * reports) is the vector the host CPU raised.
 */
enum {
	EXC_DE = 0, EXC_DB = 1, EXC_NMI = 2, EXC_BP = 3, EXC_OF = 4, EXC_BR = 5,
	EXC_UD = 6, EXC_NM = 7, EXC_DF = 8, EXC_TS = 10, EXC_NP = 11,
	EXC_SS = 12, EXC_GP = 13, EXC_PF = 14, EXC_MF = 16, EXC_AC = 17,
	EXC_XM = 19,
};

/* ---- paging ---- */

/*
 * 32-bit PDE/PTE (4 KiB pages), and the 4 MiB PDE (PS with CR4.PSE):
 *
 *   31                 12 11   9 8 7  6 5  4   3   2   1   0
 *  +---------------------+------+-+--+-+-+---+---+---+---+---+
 *  | frame               |avail |G|PS|D|A|PCD|PWT|U/S|R/W| P |
 *  +---------------------+------+-+--+-+-+---+---+---+---+---+
 *   31      22 21      13 12
 *  +----------+----------+---+--------  (4 MiB PDE: same low bits)
 *  | frame    | PSE-36   |PAT|
 *  +----------+----------+---+
 * D is defined in a PTE and a 4 MiB PDE; G in a leaf entry.
 * The same low 12 bits open PAE entries (below).
 */
#define PTE_P 0x001u   /* present */
#define PTE_W 0x002u   /* writable */
#define PTE_U 0x004u   /* user */
#define PTE_PWT 0x008u /* write-through */
#define PTE_PCD 0x010u /* cache disable */
#define PTE_A 0x020u   /* accessed */
#define PTE_D 0x040u   /* dirty */
#define PDE_PS 0x080u  /* page size: a 4 MiB (PAE: 2 MiB) page, not a table */
#define PTE_G 0x100u   /* global */
#define PTE_FRAME 0xfffff000u   /* a 32-bit entry's frame address */
#define PDE4M_FRAME 0xffc00000u /* a 4 MiB PDE's page address (no PSE-36) */
#define PT32_ENTRIES 1024u

/* The frame number in a 32-bit entry. */
static inline uint32_t pte32_frame(uint32_t e)
{
	return e >> 12;
}

/*
 * PAE PDE/PTE, 64 bits (the PDPTE has only P, PWT and PCD of the low bits):
 *
 *   63  62      36 35                12 11   9 8 7  6 5 4 3 2   1   0
 *  +--+----------+--------------------+------+-+--+-+-+---+-+---+---+---+
 *  |XD| reserved | frame (MAXPHYADDR  |avail |G|PS|D|A|   |U/S|R/W| P |
 *  |  | (must 0) |  = 36 bits)        |      | |  | | |   |   |   |   |
 *  +--+----------+--------------------+------+-+--+-+-+---+-+---+---+---+
 * XD means something only with EFER.NXE; without it bit 63 is reserved.
 * A 2 MiB PDE's bits 20:13 are reserved (bit 12 is PAT).
 */
#define PTE_XD (1ull << 63)
#define PAE_FRAME_MASK 0x0000000ffffff000ull /* bits 35:12 */
#define PAE_RSVD_HIGH 0x7ffffff000000000ull  /* bits 62:36 */
#define PDE2M_RSVD 0x00000000001fe000ull     /* bits 20:13 */
#define PDPTE_RSVD (0xfffffff000000000ull | 0x1e6ull) /* 63:36, 8:5, 2:1 */
#define PAE_ENTRIES 512u
#define PAE_PDPTES 4u

/* The frame number in a PAE entry. */
static inline uint32_t pae_frame(uint64_t e)
{
	return (uint32_t)((e & PAE_FRAME_MASK) >> 12);
}
_Static_assert(PAE_FRAME_MASK >> 12 <= 0xffffffu, "a PAE frame number fits 32 bits");

/*
 * #PF error code:
 *
 *   31           5   4    3    2   1   0
 *  +--------------+-----+----+---+---+---+
 *  | 0            | I/D |RSVD|U/S|W/R| P |
 *  +--------------+-----+----+---+---+---+
 */
#define PF_P 0x01u    /* a protection fault, not a missing page */
#define PF_W 0x02u    /* the access was a write */
#define PF_U 0x04u    /* at CPL 3 */
#define PF_RSVD 0x08u /* a reserved bit set in a present entry */
#define PF_ID 0x10u   /* an instruction fetch (reported with EFER.NXE) */

/* ---- control registers ---- */

#define CR0_PE 0x00000001u /* protected mode */
#define CR0_MP 0x00000002u /* WAIT honours TS */
#define CR0_EM 0x00000004u /* no x87: escape opcodes raise #NM */
#define CR0_TS 0x00000008u /* task switched: FPU use raises #NM */
#define CR0_ET 0x00000010u /* hard-wired to 1 */
#define CR0_NE 0x00000020u /* native x87 errors (#MF) */
#define CR0_WP 0x00010000u /* ring 0 honours read-only pages */
#define CR0_AM 0x00040000u /* alignment checks with EFLAGS.AC at CPL 3 */
#define CR0_NW 0x20000000u /* not write-through */
#define CR0_CD 0x40000000u /* cache disable */
#define CR0_PG 0x80000000u /* paging */

#define CR4_VME 0x00000001u        /* virtual-8086 mode extensions */
#define CR4_PVI 0x00000002u        /* protected-mode virtual interrupts */
#define CR4_TSD 0x00000004u        /* RDTSC at CPL > 0 raises #GP */
#define CR4_DE 0x00000008u         /* debug extensions: DR4/DR5 raise #UD */
#define CR4_PSE 0x00000010u        /* 4 MiB pages */
#define CR4_PAE 0x00000020u        /* PAE paging */
#define CR4_MCE 0x00000040u        /* machine-check exception */
#define CR4_PGE 0x00000080u        /* global pages */
#define CR4_PCE 0x00000100u        /* RDPMC at any CPL */
#define CR4_OSFXSR 0x00000200u     /* FXSAVE/FXRSTOR and SSE */
#define CR4_OSXMMEXCPT 0x00000400u /* SIMD exceptions as #XM */

/* CR3: where the paging structures start (its PWT and PCD are not modelled). */
#define CR3_PD 0xfffff000u   /* 32-bit paging: the page directory, 4 KiB aligned */
#define CR3_PDPT 0xffffffe0u /* PAE: the 32-byte PDPT */

/* IA32_EFER (MSR 0xc0000080). */
#define EFER_NXE 0x800u /* PAE bit 63 is XD */

/* ---- selectors ---- */

/*
 * Segment selector:            selector-format error code (#TS #NP #SS #GP):
 *   15             3  2  1 0     15             3  2   1   0
 *  +----------------+--+----+   +----------------+--+---+---+
 *  | index          |TI|RPL |   | index          |TI|IDT|EXT|
 *  +----------------+--+----+   +----------------+--+---+---+
 * TI picks the LDT. A selector whose index and TI are 0 is null. An IDT
 * error code names the vector (index) with IDT set.
 */
#define SEL_RPL 0x3u
#define SEL_TI 0x4u
#define ERR_EXT 0x1u /* the event came from outside the program */
#define ERR_IDT 0x2u /* the index is an IDT vector */

static inline unsigned sel_rpl(uint32_t sel)
{
	return sel & SEL_RPL;
}

/* Null selector: index 0 in the GDT, whatever the RPL. */
static inline bool sel_null(uint32_t sel)
{
	return !(sel & ~SEL_RPL);
}

static inline unsigned sel_index(uint32_t sel)
{
	return (sel >> 3) & 0x1fff;
}

/* The descriptor's byte offset in its table. */
static inline uint32_t sel_offset(uint32_t sel)
{
	return sel & ~7u;
}

/* The error code of a fault on this selector (EXT and IDT clear). */
static inline uint32_t sel_error(uint32_t sel)
{
	return sel & 0xfffcu;
}

/* The error code naming IDT vector v. */
static inline uint32_t idt_error(uint32_t v, bool ext)
{
	return v * 8 + ERR_IDT + (ext ? ERR_EXT : 0);
}

/* ---- segment descriptors and gates ---- */

/*
 * Segment descriptor (8 bytes, little-endian u64):
 *
 *   63      56 55 52 51   48 47 46 45 44 43  40 39          16 15          0
 *  +----------+-----+-------+--+-----+--+------+--------------+-------------+
 *  |base 31:24|G DB | lim   |P | DPL |S | type | base 23:0    | limit 15:0  |
 *  |          |L AVL| 19:16 |  |     |  |      |              |             |
 *  +----------+-----+-------+--+-----+--+------+--------------+-------------+
 *
 * Bits 47:40 are the access byte (byte 5): the CPU sets its accessed bit
 * (type bit 0) and a TSS's busy bit (type bit 1) in memory.
 */
#define DESC_ACCESS_BYTE 5 /* the access byte's offset in the descriptor */
#define DESC_SIZE 8u

/* Type bits of a code or data descriptor (S = 1). */
#define DESC_TYPE_ACCESSED 0x1u
#define DESC_TYPE_READABLE 0x2u   /* code */
#define DESC_TYPE_WRITABLE 0x2u   /* data */
#define DESC_TYPE_CONFORMING 0x4u /* code */
#define DESC_TYPE_EXPDOWN 0x4u    /* data */
#define DESC_TYPE_CODE 0x8u
/* Accessed execute/read code and read/write data, as flat segments are. */
#define DESC_TYPE_CODE_RA (DESC_TYPE_CODE | DESC_TYPE_READABLE | DESC_TYPE_ACCESSED)
#define DESC_TYPE_DATA_WA (DESC_TYPE_WRITABLE | DESC_TYPE_ACCESSED)
/* System descriptor types (S = 0) this CPU knows. */
#define SYS_TSS16 0x1u
#define SYS_LDT 0x2u
#define SYS_TSS16_BUSY 0x3u
#define SYS_CALL_GATE16 0x4u
#define SYS_TASK_GATE 0x5u
#define SYS_INT_GATE16 0x6u
#define SYS_TRAP_GATE16 0x7u
#define SYS_TSS32 0x9u
#define SYS_TSS32_BUSY 0xbu
#define SYS_CALL_GATE32 0xcu
#define SYS_INT_GATE32 0xeu
#define SYS_TRAP_GATE32 0xfu
#define SYS_TSS_BUSY 0x2u  /* in a TSS type: busy */
#define SYS_32BIT 0x8u     /* in a TSS or gate type: the 32-bit form */
/* Flag nibble, bits 55:52. */
#define DESC_FL_AVL 0x1u
#define DESC_FL_L 0x2u
#define DESC_FL_DB 0x4u
#define DESC_FL_G 0x8u

/* The accessed and TSS-busy bits in place in a descriptor. */
#define DESC_ACCESSED ((uint64_t)DESC_TYPE_ACCESSED << 40)
#define DESC_TSS_BUSY ((uint64_t)SYS_TSS_BUSY << 40)

static inline uint32_t desc_base(uint64_t d)
{
	return (uint32_t)(((d >> 16) & 0xffffff) | ((d >> 32) & 0xff000000u));
}

/* The raw 20-bit limit (see desc_byte_limit). */
static inline uint32_t desc_limit(uint64_t d)
{
	return (uint32_t)((d & 0xffff) | ((d >> 32) & 0xf0000));
}

/* The access byte: type, S, DPL, P (read with the seg_attr_* accessors). */
static inline unsigned desc_access(uint64_t d)
{
	return (unsigned)(d >> 40) & 0xff;
}

static inline unsigned desc_type(uint64_t d)
{
	return (unsigned)(d >> 40) & 0xf;
}

static inline unsigned desc_s(uint64_t d)
{
	return (unsigned)(d >> 44) & 1;
}

static inline unsigned desc_dpl(uint64_t d)
{
	return (unsigned)(d >> 45) & 3;
}

static inline unsigned desc_p(uint64_t d)
{
	return (unsigned)(d >> 47) & 1;
}

/* The flag nibble: DESC_FL_AVL, _L, _DB, _G. */
static inline unsigned desc_flags(uint64_t d)
{
	return (unsigned)(d >> 52) & 0xf;
}

/* The limit in bytes (G: in 4 KiB units). */
static inline uint32_t desc_byte_limit(uint64_t d)
{
	uint32_t limit = desc_limit(d);
	return (desc_flags(d) & DESC_FL_G) ? limit << 12 | 0xfff : limit;
}

/*
 * Call, interrupt, trap and task gates (8 bytes). Type, S, DPL and P sit
 * where a descriptor has them: read them with desc_type/_dpl/_p.
 *
 *   63            48 47 46 45 44 43  40 39    32 31          16 15          0
 *  +----------------+--+-----+--+------+--------+--------------+-------------+
 *  | offset 31:16   |P | DPL |0 | type | params | selector     | offset 15:0 |
 *  +----------------+--+-----+--+------+--------+--------------+-------------+
 * A task gate's selector names a TSS; its offsets are unused.
 */
static inline uint32_t gate_offset(uint64_t g)
{
	return (uint32_t)((g & 0xffff) | ((g >> 32) & 0xffff0000u));
}

static inline uint16_t gate_sel(uint64_t g)
{
	return (uint16_t)(g >> 16);
}

/* A call gate's count of stack dwords to copy. */
static inline unsigned gate_params(uint64_t g)
{
	return (unsigned)(g >> 32) & 0x1f;
}

/*
 * Segment access rights as VMX packs them (SDM vol. 3C 24.4.1), the form
 * of struct mon_seg's and struct bt_seg_image's `attr`: the access byte
 * (descriptor bits 47:40) in bits 7:0 and the flag nibble (55:52) in
 * bits 15:12. Its low byte is an access byte, so these read one too.
 * It is defined here rather than in monitor.h because it is a hardware
 * format (VMX's, and KVM's struct kvm_segment breaks it out field by
 * field) that bt/ stores too.
 *
 *   15 14 13  12  11  8  7  6 5  4  3    0
 *  +--+--+--+---+-----+--+----+--+-------+
 *  |G |DB|L |AVL|  0  |P |DPL |S | type  |
 *  +--+--+--+---+-----+--+----+--+-------+
 */
#define SEG_ATTR_S 0x0010u
#define SEG_ATTR_P 0x0080u
#define SEG_ATTR_DB 0x4000u
#define SEG_ATTR_G 0x8000u

/* A flat 32-bit segment's rights (4 KiB granules): present code or data
 * of `type` (DESC_TYPE_*) at privilege `dpl`. */
static inline uint16_t seg_attr_flat(unsigned type, unsigned dpl)
{
	return (uint16_t)(SEG_ATTR_G | SEG_ATTR_DB | SEG_ATTR_P | dpl << 5 | SEG_ATTR_S | type);
}

static inline uint16_t desc_attr(uint64_t d)
{
	return (uint16_t)(desc_access(d) | desc_flags(d) << 12);
}

/* The descriptor with these fields (`limit` the raw 20-bit one): the
 * inverse of desc_base, desc_limit and desc_attr. */
static inline uint64_t desc_make(uint32_t base, uint32_t limit, uint16_t attr)
{
	return (uint64_t)(limit & 0xffff) | (uint64_t)(base & 0xffffff) << 16 |
	       (uint64_t)(attr & 0xf0ff) << 40 | (uint64_t)(limit & 0xf0000) << 32 |
	       (uint64_t)(base & 0xff000000u) << 32;
}

static inline unsigned seg_attr_type(uint32_t a)
{
	return a & 0xf;
}

static inline unsigned seg_attr_s(uint32_t a)
{
	return (a >> 4) & 1;
}

static inline unsigned seg_attr_dpl(uint32_t a)
{
	return (a >> 5) & 3;
}

static inline unsigned seg_attr_p(uint32_t a)
{
	return (a >> 7) & 1;
}

static inline unsigned seg_attr_avl(uint32_t a)
{
	return (a >> 12) & 1;
}

static inline unsigned seg_attr_db(uint32_t a)
{
	return (a >> 14) & 1;
}

static inline unsigned seg_attr_g(uint32_t a)
{
	return (a >> 15) & 1;
}

/* ---- the 32-bit TSS ---- */

/*
 * The 32-bit TSS (SDM vol. 3A figure 7-2); the I/O bitmap may follow
 * within its limit. Selectors and the link take the low 16 bits of their
 * dword; the CPU writes only those, so the reserved halves keep what the
 * guest put there.
 *
 *   0x00 link     0x04 ESP0  0x08 SS0  0x0c ESP1  0x10 SS1  0x14 ESP2  0x18 SS2
 *   0x1c CR3      0x20 EIP   0x24 EFLAGS
 *   0x28 EAX ECX EDX EBX ESP EBP ESI EDI        (bt_cpu.gpr's order)
 *   0x48 ES CS SS DS FS GS                      (the SEG_* order)
 *   0x60 LDT      0x64 T (bit 0)   0x66 I/O map base
 */
struct tss32 {
	uint32_t link, esp0, ss0, esp1, ss1, esp2, ss2, cr3;
	uint32_t eip, eflags, gpr[8], seg[6];
	uint32_t ldt;
	uint16_t trap, iomap_base;
};
_Static_assert(sizeof(struct tss32) == 0x68, "the 32-bit TSS is 104 bytes");
_Static_assert(offsetof(struct tss32, esp0) == 0x04 && offsetof(struct tss32, ss0) == 0x08 &&
	       offsetof(struct tss32, cr3) == 0x1c && offsetof(struct tss32, eip) == 0x20 &&
	       offsetof(struct tss32, gpr) == 0x28 && offsetof(struct tss32, seg) == 0x48 &&
	       offsetof(struct tss32, ldt) == 0x60 && offsetof(struct tss32, trap) == 0x64 &&
	       offsetof(struct tss32, iomap_base) == 0x66,
	       "TSS field offsets (SDM vol. 3A figure 7-2)");
/* Where ESPn lies for privilege level n < 3; SSn follows it. */
static inline uint32_t tss32_stack(unsigned n)
{
	return (uint32_t)(offsetof(struct tss32, esp0) +
			  n * (offsetof(struct tss32, esp1) - offsetof(struct tss32, esp0)));
}

#define TSS32_MIN_LIMIT 0x67u /* a 32-bit TSS's limit is at least 103 */
#define TSS16_MIN_LIMIT 0x2bu

#endif
