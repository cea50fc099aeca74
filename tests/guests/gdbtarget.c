/* The guest the GDB stub test debugs (tests/gdb): ring-0 calls to break at, a variable to watch, one gdb writes, and ring-3 code to step through. */
#include "rt.h"

/* What gdb looks at and changes: tests/gdb/session.gdb names them. */
volatile uint32_t gdb_counter;
volatile uint32_t gdb_input = 1;
volatile uint32_t gdb_user_result;

static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt[4][1024] __attribute__((aligned(4096)));
static uint8_t kstack[8192] __attribute__((aligned(16)));
static uint8_t ustack[4096] __attribute__((aligned(4096)));

/* Ring-3 code: a few instructions to step through, then INT 0x80 back. */
void gdb_user_code(void);
__asm__(".globl gdb_user_code\n"
	"gdb_user_code:\n"
	"	movl $0x1234, %eax\n"
	"	addl $0x1111, %eax\n"
	"	movl %eax, gdb_user_result\n"
	"	int $0x80\n");

__attribute__((noinline)) void gdb_checkpoint(uint32_t n)
{
	gdb_counter += n;
}

/* Its own frame: gdb's stop line then shows no multiboot pointer (where
 * the loader put the information differs between QEMU and btvmm). */
__attribute__((noinline)) void gdb_done_counting(void)
{
	gdb_counter = 100;
}

static void back_to_ring0(struct rt_frame *f)
{
	if (f->vector != 0x80 || (f->cs & 3) != 3) {
		rt_printf("FAIL: vector %u at %x\n", f->vector, f->eip);
		rt_exit(3);
	}
	f->eip = (uint32_t)rt_resume_kernel;
	f->cs = RT_CS;
	f->eflags = 0x2;
}

void guest_main(uint32_t magic, uint32_t info)
{
	(void)magic;
	(void)info;
	outb(0x21, 0xff); /* no interrupts: the session is the same every time */
	outb(0xa1, 0xff);
	rt_puts("gdb target: start\n");
	for (uint32_t i = 1; i <= 3; i++)
		gdb_checkpoint(i);
	gdb_done_counting();
	rt_set_exception_hook(back_to_ring0);
	rt_ring3_init(kstack + sizeof kstack);
	rt_identity_16m(pd, pt, NULL);
	rt_run_user(gdb_user_code, (uint32_t)(ustack + sizeof ustack));
	rt_printf("gdb target: counter %u, input %u, user %x\n", gdb_counter, gdb_input,
		  gdb_user_result);
	/* gdb sets gdb_input to 42: the guest ends well only then. */
	RT_CHECK_EQ(gdb_input, 42);
}
