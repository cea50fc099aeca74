/* Test guest (btvmm-only): hostile ring-3 code jumps to the host's 64-bit code selector. */
#include <stdbool.h>

#include "rt.h"

/*
 * Command line picks what the escaped code tries, once in 64-bit mode:
 *   "read"    read the guest kernel's memory and the monitor's (an address
 *             above 4 GiB), then fault
 *   "syscall" make a host system call (getpid)
 *   "roundtrip" come back to its own code segment and make a guest
 *             system call, leaving R8 set (no trap in 64-bit mode)
 * Under btvmm the VM must end with exit status 14 and one line on stderr;
 * the test (tests/guests/CMakeLists.txt) checks that. Under a CPU where
 * 0x33 is not a 64-bit code segment (QEMU, real 32-bit hardware), the far
 * jump raises #GP in this guest and it prints "escape blocked".
 */

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt[4][1024] __attribute__((aligned(4096)));
static uint8_t kstack[8192] __attribute__((aligned(16)));
static uint8_t ustack[4096] __attribute__((aligned(4096)));

extern char user_read[], user_syscall[], user_roundtrip[];
__asm__(".text\n"
	"user_read:\n"
	"\tljmp $0x33, $1f\n"
	"1:\n"
	/* 64-bit now (under btvmm): mov rax, [0x100000]; mov rax, imm64; mov rax, [rax] */
	"\t.byte 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x10, 0x00\n"
	"\t.byte 0x48, 0xb8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x7f, 0x00, 0x00\n"
	"\t.byte 0x48, 0x8b, 0x00\n"
	"\tud2\n"
	/* there and back: 64-bit code that leaves R8 set, then a far return
	 * (32-bit operands: EIP, CS) to the code segment it came from */
	"user_roundtrip:\n"
	"\tmovl %cs, %ecx\n"
	"\tpushl %ecx\n"
	"\tpushl $4f\n"
	"\tljmp $0x33, $3f\n"
	"3:\n"
	"\t.byte 0x49, 0xc7, 0xc0, 0x01, 0x00, 0x00, 0x00\n" /* mov r8, 1 */
	"\tlret\n"
	"4:\n"
	"\tint $0x80\n"
	"\tud2\n"
	"user_syscall:\n"
	"\tljmp $0x33, $2f\n"
	"2:\n"
	"\tmovl $39, %eax\n"
	"\t.byte 0x0f, 0x05\n" /* syscall */
	"\tud2\n");

static void on_exception(struct rt_frame *f)
{
	rt_printf("escape blocked: vector %u\n", f->vector);
	rt_exit(rt_failures ? 1 : 0);
}

static bool has(const char *s, const char *w)
{
	for (; *s; s++) {
		unsigned i = 0;
		while (w[i] && s[i] == w[i])
			i++;
		if (!w[i])
			return true;
	}
	return false;
}

void guest_main(uint32_t magic, uint32_t info)
{
	const uint32_t *mbi = (const uint32_t *)info;
	const char *cmd = magic == 0x2badb002 && (mbi[0] & 4) ? (const char *)mbi[4] : "";
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	rt_set_exception_hook(on_exception);
	rt_ring3_init(kstack + sizeof kstack);
	rt_identity_16m(pd, pt, NULL);
	char *entry = has(cmd, "syscall") ? user_syscall
		      : has(cmd, "roundtrip") ? user_roundtrip : user_read;
	rt_puts("entering ring 3\n");
	__asm__ volatile("pushl $0x23\n\tpushl %0\n\tpushl $0x202\n\tpushl $0x1b\n\tpushl %1\n\tiret"
			 ::"r"(ustack + sizeof ustack), "r"(entry));
}
