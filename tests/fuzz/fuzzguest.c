/* Fuzz guest: runs the generator's sequences (fuzz.h) at CPL 0 and prints a hash of each one's end state. */
#include "rt.h"
#include "fuzz.h"

/* The generator overwrites this in a copy of the ELF (fuzzgen --image). It
 * lives in .text: the sequences run where they lie. */
__attribute__((section(".text.fuzzblob"), used, aligned(16)))
const uint8_t fuzz_blob[FUZZ_BLOB_SIZE] = { 0 };

/* The scratch buffer; the sequences see EBP = its middle. */
uint8_t fz_buf[FUZZ_BUF_SIZE] __attribute__((aligned(16)));

/* The state a sequence ended in (fz_run and the hook fill it). */
struct fz_state {
	uint32_t eax, ecx, edx, ebx, esp, ebp, esi, edi, eflags;
	uint32_t vector, error, eip_off;
};
struct fz_state fz_state;
uint32_t fz_saved_esp, fz_entry_esp, fz_code, fz_code_end;

/*
 * fz_body: load fz_record's registers and flags (EBP = the buffer's
 * middle), call fz_code, store what it left in fz_state; at either CPL.
 *
 * fz_run0 runs it at CPL 0. fz_run3 IRETs to fz_user, which runs it at
 * CPL 3 and comes back with INT 0x80 (a DPL-3 gate: the hook sends it to
 * fz_resume); the user stack, the buffer and fz_state are ordinary user
 * pages. A sequence stopped by an exception comes back through the hook
 * (which fills fz_state) to fz_resume.
 */
static uint32_t pd[1024] __attribute__((aligned(4096)));
static uint32_t pt[4][1024] __attribute__((aligned(4096)));
static uint8_t kstack[8192] __attribute__((aligned(16)));
static uint8_t ustack[8192] __attribute__((aligned(16)));
const struct fuzz_record *fz_record;
uint32_t fz_ustack_top, fz_done;
void fz_run0(void);
void fz_run3(void);
void fz_resume(void);
__asm__(".text\n"
	"fz_body:\n"
	"	movl fz_record, %eax\n"
	"	pushfl\n"
	"	popl %ecx\n"
	"	andl $~0xcd5, %ecx\n"
	"	orl 28(%eax), %ecx\n"           /* r->eflags */
	"	pushl %ecx\n"
	"	popfl\n"
	"	movl $fz_buf + 128, %ebp\n"
	"	movl 8(%eax), %ecx\n"
	"	movl 12(%eax), %edx\n"
	"	movl 16(%eax), %ebx\n"
	"	movl 20(%eax), %esi\n"
	"	movl 24(%eax), %edi\n"
	"	movl 4(%eax), %eax\n"
	"	movl %esp, fz_entry_esp\n"
	"	call *fz_code\n"
	"	movl %eax, fz_state + 0\n"
	"	movl %ecx, fz_state + 4\n"
	"	movl %edx, fz_state + 8\n"
	"	movl %ebx, fz_state + 12\n"
	"	movl %esp, fz_state + 16\n"
	"	movl %ebp, fz_state + 20\n"
	"	movl %esi, fz_state + 24\n"
	"	movl %edi, fz_state + 28\n"
	"	pushfl\n"
	"	popl fz_state + 32\n"
	"	movl $0xffffffff, fz_state + 36\n" /* no exception */
	"	movl $0, fz_state + 40\n"
	"	movl $0, fz_state + 44\n"
	"	cld\n"
	"	ret\n"
	".globl fz_run0\n"
	"fz_run0:\n"
	"	pushal\n"
	"	movl %esp, fz_saved_esp\n"
	"	call fz_body\n"
	"	jmp fz_resume\n"
	".globl fz_run3\n"
	"fz_run3:\n"
	"	pushal\n"
	"	movl %esp, fz_saved_esp\n"
	"	pushl $0x23\n"
	"	pushl fz_ustack_top\n"
	"	pushl $0x2\n"
	"	pushl $0x1b\n"
	"	pushl $fz_user\n"
	"	movw $0x23, %ax\n"
	"	movw %ax, %ds\n"
	"	movw %ax, %es\n"
	"	movw %ax, %fs\n"
	"	movw %ax, %gs\n"
	"	iret\n"
	"fz_user:\n"
	"	call fz_body\n"
	"	movl $1, fz_done\n"
	"	int $0x80\n"
	".globl fz_resume\n"
	"fz_resume:\n"
	"	movl fz_saved_esp, %esp\n"
	"	movw $0x10, %ax\n"
	"	movw %ax, %ds\n"
	"	movw %ax, %es\n"
	"	movw %ax, %fs\n"
	"	movw %ax, %gs\n"
	"	cld\n"
	"	popal\n"
	"	ret\n");

static void setup_ring3(void)
{
	outb(0x21, 0xff);
	outb(0xa1, 0xff);
	rt_ring3_init(kstack + sizeof kstack);
	rt_tss[25] = sizeof rt_tss << 16; /* no I/O bitmap */
	rt_identity_16m(pd, pt, NULL);
	fz_ustack_top = (uint32_t)(ustack + sizeof ustack);
}

/* Back to fz_resume at CPL 0, from either level (the frame's ESP and SS,
 * if any, are dropped with the rest of the handler's stack). */
static void back_to_kernel(struct rt_frame *f)
{
	f->eip = (uint32_t)fz_resume;
	f->cs = RT_CS;
	f->eflags = 0x2;
}

static void hook(struct rt_frame *f)
{
	if ((f->cs & 3) == 3 && f->vector == 0x80 && fz_done) {
		back_to_kernel(f); /* the CPL-3 run is over */
		return;
	}
	if (f->eip < fz_code || f->eip >= fz_code_end) {
		rt_printf("FAIL: exception %u at %x outside the sequence\n", f->vector, f->eip);
		rt_exit(3);
	}
	fz_state.eax = f->eax;
	fz_state.ecx = f->ecx;
	fz_state.edx = f->edx;
	fz_state.ebx = f->ebx;
	/* CPL 0 -> 0: no stack switch, ESP was where the frame ends; from
	 * CPL 3 the CPU pushed the user's ESP after EFLAGS. */
	fz_state.esp = (f->cs & 3) ? (&f->eflags)[1] : (uint32_t)&f->eflags + 4;
	fz_state.ebp = f->ebp;
	fz_state.esi = f->esi;
	fz_state.edi = f->edi;
	fz_state.eflags = f->eflags;
	fz_state.vector = f->vector;
	fz_state.error = f->error;
	fz_state.eip_off = f->eip - fz_code;
	back_to_kernel(f);
}

static uint32_t fnv(uint32_t h, const void *p, uint32_t n)
{
	const uint8_t *b = p;
	for (uint32_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* The flags defined where the sequence stopped. */
static uint32_t defined_flags(const struct fuzz_record *r)
{
	if (fz_state.vector == 0xffffffffu)
		return r->end_mask;
	uint32_t mask = 0;
	for (uint32_t i = 0; i < r->n_items && i < FUZZ_MAX_ITEMS; i++)
		if (r->items[i].off <= fz_state.eip_off)
			mask = r->items[i].mask;
	return mask;
}

static void run_one(const struct fuzz_record *r, uint32_t index, int verbose, int ring3)
{
	uint32_t s = r->buf_seed;
	for (uint32_t i = 0; i < FUZZ_BUF_SIZE; i += 4) {
		uint32_t v = fuzz_next(&s);
		rt_memcpy(fz_buf + i, &v, 4);
	}
	uint32_t code = (uint32_t)r + sizeof *r;
	fz_code_end = code + r->code_len;
	fz_code = code;
	fz_record = r;
	fz_done = 0;
	if (ring3)
		fz_run3();
	else
		fz_run0();
	fz_state.esp -= fz_entry_esp;
	fz_state.eflags &= defined_flags(r);
	uint32_t h = fnv(2166136261u, &fz_state, sizeof fz_state);
	h = fnv(h, fz_buf, FUZZ_BUF_SIZE);
	rt_printf("s%u %08x\n", index, h);
	if (!verbose)
		return;
	rt_printf("  eax %08x ecx %08x edx %08x ebx %08x esp %08x ebp-buf %08x esi %08x edi %08x\n",
		  fz_state.eax, fz_state.ecx, fz_state.edx, fz_state.ebx, fz_state.esp,
		  fz_state.ebp - (uint32_t)fz_buf, fz_state.esi, fz_state.edi);
	rt_printf("  eflags %08x (of mask %08x) exception %x error %x at +%x\n",
		  fz_state.eflags, defined_flags(r), fz_state.vector, fz_state.error,
		  fz_state.eip_off);
	for (uint32_t i = 0; i < FUZZ_BUF_SIZE; i += 32) {
		rt_printf("  buf+%02x", i);
		for (uint32_t j = 0; j < 32; j += 4) {
			uint32_t v;
			rt_memcpy(&v, fz_buf + i + j, 4);
			rt_printf(" %08x", v);
		}
		rt_printf("\n");
	}
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_magic;
	(void)mb_info;
	/* fuzz_blob is all zeros as far as the compiler knows: hide it. */
	const uint8_t *blob = fuzz_blob;
	__asm__("" : "+r"(blob));
	const struct fuzz_header *h = (const void *)blob;
	if (h->magic != FUZZ_MAGIC) {
		rt_printf("FAIL: no sequences (run the image fuzzgen writes)\n");
		rt_exit(3);
	}
	rt_set_exception_hook(hook);
	if (h->ring3)
		setup_ring3();
	uint32_t off = sizeof *h;
	for (uint32_t i = 0; i < h->count; i++) {
		const struct fuzz_record *r = (const void *)(blob + off);
		if (off + sizeof *r > FUZZ_BLOB_SIZE || r->size < sizeof *r ||
		    r->size > FUZZ_BLOB_SIZE - off) {
			rt_printf("FAIL: record %u is cut short\n", i);
			rt_exit(3);
		}
		run_one(r, h->first + i, (int)h->verbose, (int)h->ring3);
		off += r->size;
	}
	rt_printf("ALL OK\n");
}
