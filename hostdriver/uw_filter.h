/* hostdriver: the user-world stub's seccomp filter: each host system call it makes, pinned to the arguments it makes it with. */
#ifndef BTVMM_UW_FILTER_H
#define BTVMM_UW_FILTER_H

/*
 * Header-only so the freestanding stub (uw_stub.c) installs exactly the
 * program the unit test (test_uw_filter.c) checks in a process of its own.
 *
 * Once guest code has run, the stub makes only these calls (uw_stub.c):
 *   futex(&sh->turn, FUTEX_WAIT or FUTEX_WAKE, ...)      the handoff
 *   modify_ldt(1, &desc, sizeof desc)                    FS/GS bases
 *   mmap(addr < 4 GiB, len < 4 GiB, R+X or R+W+X,
 *        MAP_SHARED|MAP_FIXED, UW_FD_RAM, off)           guest pages
 *   mmap(addr < 4 GiB, len < 4 GiB, PROT_NONE,
 *        MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED|MAP_NORESERVE, -1, 0)  unmaps
 *   rt_sigreturn, exit_group                             back to the guest, leave
 * An x86-64 call with anything else kills the process (the monitor reports
 * an escape); an i386 call (int $0x80, SYSENTER, SYSCALL from guest code)
 * traps to the stub as SIGSYS: the guest's own system call.
 * The stub adds a check of the calling instruction's address in front
 * (its own text only); the test cannot, as its calls come from libc.
 */

#include <stddef.h>
#include <stdint.h>

#include <asm/unistd.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>

#include "uw_shared.h"

#define UW_PROT_R 1u
#define UW_PROT_W 2u
#define UW_PROT_X 4u
#define UW_MAP_RAM 0x11u    /* MAP_SHARED | MAP_FIXED */
#define UW_MAP_NONE 0x4032u /* MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE */
#define UW_LDT_WRITE 1u     /* modify_ldt's func for a write (old mode) */
#define UW_LDT_DESC_SIZE 16u /* sizeof(struct user_desc) */

/* Room for the program uw_filter_build writes. */
#define UW_FILTER_MAX 80

#define UW_ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define UW_ARG_HI(i) (UW_ARG_LO(i) + 4)
#define UW_LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define UW_JEQ(v, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (v), (t), (f))
#define UW_JSET(v, t, f) BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, (v), (t), (f))
#define UW_RET(v) BPF_STMT(BPF_RET | BPF_K, (v))
#define UW_KILL UW_RET(SECCOMP_RET_KILL_PROCESS)
#define UW_ALLOW UW_RET(SECCOMP_RET_ALLOW)
/* "word at off must be v": two instructions */
#define UW_MUST(off, v) UW_LD(off), UW_JEQ((v), 1, 0), UW_KILL

struct uw_bpf {
	struct sock_filter *f;
	unsigned n;
	int full; /* the program did not fit */
};

static inline void uw_bpf_put(struct uw_bpf *b, const struct sock_filter *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (b->n == UW_FILTER_MAX) {
			b->full = 1;
			return;
		}
		b->f[b->n++] = s[i];
	}
}

/* "if nr is `nr`, the block decides; else on to the next" */
static inline void uw_bpf_call(struct uw_bpf *b, uint32_t nr, const struct sock_filter *block,
			       unsigned n)
{
	struct sock_filter head[] = {
		UW_LD(offsetof(struct seccomp_data, nr)),
		UW_JEQ(nr, 0, (uint8_t)n),
	};
	uw_bpf_put(b, head, 2);
	uw_bpf_put(b, block, n);
}

/*
 * Write the program into f[UW_FILTER_MAX]; return its length (0 if it did
 * not fit). `turn` is the address of the shared page's turn word, the only
 * futex.
 */
static inline unsigned uw_filter_build(struct sock_filter *f, uint64_t turn)
{
	struct uw_bpf b = { f, 0, 0 };
	const struct sock_filter arch[] = {
		UW_LD(offsetof(struct seccomp_data, arch)),
		UW_JEQ(AUDIT_ARCH_X86_64, 1, 0),
		UW_RET(SECCOMP_RET_TRAP), /* the i386 ABI: the guest's */
	};
	const struct sock_filter futex[] = {
		UW_MUST(UW_ARG_HI(0), (uint32_t)(turn >> 32)),
		UW_MUST(UW_ARG_LO(0), (uint32_t)turn),
		UW_LD(UW_ARG_LO(1)),
		UW_JEQ(FUTEX_WAIT, 1, 0),
		UW_JEQ(FUTEX_WAKE, 0, 1),
		UW_ALLOW,
		UW_KILL,
	};
	const struct sock_filter ldt[] = {
		UW_MUST(UW_ARG_LO(0), UW_LDT_WRITE),
		UW_MUST(UW_ARG_HI(2), 0),
		UW_MUST(UW_ARG_LO(2), UW_LDT_DESC_SIZE),
		UW_ALLOW,
	};
	const struct sock_filter mmap[] = {
		UW_MUST(UW_ARG_HI(0), 0), /* below 4 GiB */
		UW_MUST(UW_ARG_HI(1), 0), /* shorter than 4 GiB */
		UW_LD(UW_ARG_LO(3)),
		UW_JEQ(UW_MAP_NONE, 0, 7),
		/* an unmap: anonymous, inaccessible */
		UW_MUST(UW_ARG_LO(4), 0xffffffffu),
		UW_MUST(UW_ARG_LO(2), 0),
		UW_ALLOW,
		/* guest RAM, readable and executable, maybe writable */
		UW_JEQ(UW_MAP_RAM, 1, 0),
		UW_KILL,
		UW_MUST(UW_ARG_LO(4), UW_FD_RAM),
		UW_LD(UW_ARG_LO(2)),
		UW_JEQ(UW_PROT_R | UW_PROT_X, 1, 0),
		UW_JEQ(UW_PROT_R | UW_PROT_W | UW_PROT_X, 0, 1),
		UW_ALLOW,
		UW_KILL,
	};
	const struct sock_filter allow[] = { UW_ALLOW };
	const struct sock_filter kill[] = { UW_KILL };
	uw_bpf_put(&b, arch, sizeof arch / sizeof arch[0]);
	uw_bpf_call(&b, __NR_futex, futex, sizeof futex / sizeof futex[0]);
	uw_bpf_call(&b, __NR_modify_ldt, ldt, sizeof ldt / sizeof ldt[0]);
	uw_bpf_call(&b, __NR_mmap, mmap, sizeof mmap / sizeof mmap[0]);
	uw_bpf_call(&b, __NR_rt_sigreturn, allow, 1);
	uw_bpf_call(&b, __NR_exit_group, allow, 1);
	uw_bpf_put(&b, kill, 1);
	return b.full ? 0 : b.n;
}

#endif
