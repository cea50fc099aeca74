/* SMC guest: self-modifying code in .text, code generated in data buffers, and data writes into a code page. */
#include "rt.h"

/*
 * With paging off nothing stops a store to .text; on P6 and later CPUs a
 * store to an instruction that is already fetched, even the next one, is
 * seen by the time it executes (SDM vol. 3, 8.1.3). btvmm must give the
 * same result although it runs translations of these bytes.
 */

static uint32_t hash;
static void mix(uint32_t v) { hash = (hash ^ v) * 16777619u; }

static void section(const char *name)
{
	hash = 2166136261u;
	rt_section(name);
}

static void section_end(void)
{
	rt_printf("  hash %08x\n", hash);
	rt_section_end();
}

/* Functions in .text whose own bytes the tests rewrite. */
uint32_t smc_imm_fn(void);
uint32_t smc_call_site(uint32_t x);
uint32_t smc_target_a(uint32_t x);
uint32_t smc_target_b(uint32_t x);
uint32_t smc_next_insn(uint32_t v);
uint32_t smc_loop_patch(uint32_t n);
uint32_t smc_caller(void);
extern uint8_t smc_imm_slot[], smc_call_rel[], smc_next_imm[], smc_loop_imm[], smc_caller_imm[];
extern uint8_t smc_swap_fn[], smc_swap_end[];
uint32_t smc_next_value;

__asm__(
	".text\n"
	/* mov $imm32, %eax; ret - the test patches imm32 */
	".globl smc_imm_fn, smc_imm_slot\n"
	"smc_imm_fn:\n\t"
	"movl $0x11111111, %eax\n"
	"smc_imm_slot = . - 4\n\t"
	"ret\n"

	/* a call whose rel32 the test retargets */
	".globl smc_call_site, smc_call_rel, smc_target_a, smc_target_b\n"
	"smc_call_site:\n\t"
	"movl 4(%esp), %eax\n\t"
	"call smc_target_a\n"
	"smc_call_rel = . - 4\n\t"
	"ret\n"
	"smc_target_a:\n\tleal 1(%eax), %eax\n\tret\n"
	"smc_target_b:\n\tleal (%eax,%eax,2), %eax\n\tret\n"

	/* a store into the immediate of the very next instruction */
	".globl smc_next_insn, smc_next_imm\n"
	"smc_next_insn:\n\t"
	"movl 4(%esp), %ecx\n\t"
	"movl %ecx, smc_next_imm\n\t"
	"movl $0xdead0000, %eax\n"
	"smc_next_imm = . - 4\n\t"
	"ret\n"

	/* a loop that patches an instruction of its own body each time round:
	   sum of i for i = n-1..0, computed by rewriting "addl $imm, %eax" */
	".globl smc_loop_patch, smc_loop_imm\n"
	"smc_loop_patch:\n\t"
	"movl 4(%esp), %ecx\n\t"
	"xorl %eax, %eax\n"
	"1:\tdecl %ecx\n\t"
	"movl %ecx, smc_loop_imm\n\t"
	"addl $0x7fffffff, %eax\n"
	"smc_loop_imm = . - 4\n\t"
	"testl %ecx, %ecx\n\t"
	"jnz 1b\n\t"
	"ret\n"

	/* a callee that rewrites its caller after the return address */
	".globl smc_caller, smc_caller_imm\n"
	"smc_caller:\n\t"
	"call smc_patch_caller\n\t"
	"movl $0x44444444, %eax\n"
	"smc_caller_imm = . - 4\n\t"
	"ret\n"
	"smc_patch_caller:\n\t"
	"movl smc_next_value, %eax\n\t"
	"movl %eax, smc_caller_imm\n\t"
	"ret\n"

	/* room for rep movsb to copy whole new function bodies into */
	".globl smc_swap_fn, smc_swap_end\n"
	"smc_swap_fn:\n\t"
	"movl $1, %eax\n\tret\n\t"
	".fill 26, 1, 0xcc\n"
	"smc_swap_end:\n");

/*
 * Position-independent bodies, copied as bytes into .text or data buffers.
 * They sit in .rodata: never executed where they are.
 */
extern const uint8_t tmpl_const[], tmpl_const_end[], tmpl_sum[], tmpl_sum_end[];
extern const uint8_t tmpl_xor[], tmpl_xor_end[];
__asm__(
	".section .rodata\n"
	/* return arg + 0x1000; the test rewrites the immediate at offset 1 */
	".globl tmpl_const, tmpl_const_end\n"
	"tmpl_const:\n\t"
	"movl $0x1000, %eax\n\t"	/* B8 imm32: imm at offset 1 */
	"addl 4(%esp), %eax\n\t"
	"ret\n"
	"tmpl_const_end:\n"
	/* return 1 + 2 + ... + n, with a backward branch */
	".globl tmpl_sum, tmpl_sum_end\n"
	"tmpl_sum:\n\t"
	"movl 4(%esp), %ecx\n\t"
	"xorl %eax, %eax\n"
	"1:\taddl %ecx, %eax\n\t"
	"decl %ecx\n\t"
	"jnz 1b\n\t"
	"ret\n"
	"tmpl_sum_end:\n"
	/* return arg ^ 0x5a5a5a5a, shorter than tmpl_const */
	".globl tmpl_xor, tmpl_xor_end\n"
	"tmpl_xor:\n\t"
	"movl 4(%esp), %eax\n\t"
	"xorl $0x5a5a5a5a, %eax\n\t"
	"ret\n"
	"tmpl_xor_end:\n"
	".text\n");

/* A store to code must reach it: volatile, and no reordering around calls. */
static void poke32(uint8_t *p, uint32_t v)
{
	*(volatile uint32_t *)p = v;
}

static void test_text_patch(void)
{
	section("patch .text");
	RT_CHECK_EQ(smc_imm_fn(), 0x11111111);
	for (uint32_t i = 0; i < 200; i++) {
		poke32(smc_imm_slot, i * 0x01010101u);
		uint32_t r = smc_imm_fn();
		mix(r);
		if (r != i * 0x01010101u) {
			RT_CHECK_EQ(r, i * 0x01010101u);
			break;
		}
	}
	/* Retarget the call: rel32 = target - end of the call instruction. */
	uint32_t end = (uint32_t)smc_call_rel + 4;
	RT_CHECK_EQ(smc_call_site(10), 11);
	poke32(smc_call_rel, (uint32_t)smc_target_b - end);
	RT_CHECK_EQ(smc_call_site(10), 30);
	poke32(smc_call_rel, (uint32_t)smc_target_a - end);
	RT_CHECK_EQ(smc_call_site(10), 11);
	mix(smc_call_site(7));
	section_end();
}

static void test_same_block(void)
{
	section("modify the next instruction");
	for (uint32_t i = 0; i < 50; i++) {
		uint32_t r = smc_next_insn(0x12340000 + i);
		mix(r);
		RT_CHECK_EQ(r, 0x12340000 + i);
	}
	/* The loop body rewrites itself n times: sum(0..n-1). */
	RT_CHECK_EQ(smc_loop_patch(100), 4950);
	RT_CHECK_EQ(smc_loop_patch(1), 0);
	/* The caller's next instruction, rewritten by its callee. */
	for (uint32_t i = 0; i < 20; i++) {
		smc_next_value = 0x5000 + i;
		RT_CHECK_EQ(smc_caller(), 0x5000 + i);
	}
	mix(smc_loop_patch(77));
	section_end();
}

/* Whole new bodies over old code with rep movsb (and different lengths). */
static void copy_code(uint8_t *dst, const uint8_t *src, uint32_t n)
{
	__asm__ volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) : : "memory");
}

/* A page of its own: sharing one with the stack or other data would make
   every unrelated store a store into code (smc_page_data tests that, once). */
static uint8_t code_buf[4096] __attribute__((aligned(4096)));

typedef uint32_t (*fn1)(uint32_t);

static void test_generated(void)
{
	section("generated code");
	/* In .text: swap among three bodies, calling each. */
	fn1 swap = (fn1)(void *)smc_swap_fn;
	RT_CHECK_EQ(swap(5), 1);
	for (int round = 0; round < 30; round++) {
		copy_code(smc_swap_fn, tmpl_sum, (uint32_t)(tmpl_sum_end - tmpl_sum));
		RT_CHECK_EQ(swap(10), 55);
		copy_code(smc_swap_fn, tmpl_xor, (uint32_t)(tmpl_xor_end - tmpl_xor));
		RT_CHECK_EQ(swap(0x0f0f0f0f), 0x55555555);
		copy_code(smc_swap_fn, tmpl_const, (uint32_t)(tmpl_const_end - tmpl_const));
		poke32(smc_swap_fn + 1, (uint32_t)round);
		RT_CHECK_EQ(swap(100), 100 + (uint32_t)round);
		mix(swap(0));
	}
	RT_CHECK((uint32_t)(tmpl_sum_end - tmpl_sum) <= (uint32_t)(smc_swap_end - smc_swap_fn));

	/* In a data buffer: copy, run, patch, run, replace, run. */
	fn1 f = (fn1)(void *)code_buf;
	rt_memcpy(code_buf, tmpl_const, (uint32_t)(tmpl_const_end - tmpl_const));
	RT_CHECK_EQ(f(1), 0x1001);
	for (uint32_t i = 0; i < 100; i++) {
		poke32(code_buf + 1, i << 8);
		uint32_t r = f(i);
		mix(r);
		if (r != (i << 8) + i) {
			RT_CHECK_EQ(r, (i << 8) + i);
			break;
		}
	}
	rt_memcpy(code_buf, tmpl_sum, (uint32_t)(tmpl_sum_end - tmpl_sum));
	RT_CHECK_EQ(f(100), 5050);
	rt_memcpy(code_buf, tmpl_xor, (uint32_t)(tmpl_xor_end - tmpl_xor));
	RT_CHECK_EQ(f(0x5a5a5a5a), 0);
	/* The same bytes at a different address must still work. */
	rt_memcpy(code_buf + 128, tmpl_sum, (uint32_t)(tmpl_sum_end - tmpl_sum));
	RT_CHECK_EQ(((fn1)(void *)(code_buf + 128))(7), 28);
	RT_CHECK_EQ(f(0x5a5a5a5b), 1);
	section_end();
}

/*
 * A loop that stores into the page it runs from, without touching any
 * instruction: the page holds both (one 4 KiB-aligned input section).
 */
uint32_t smc_data_loop(uint32_t n);
extern uint32_t smc_page_data[64];
__asm__(
	".section .text.smcdata, \"awx\", @progbits\n"
	".balign 4096\n"
	".globl smc_data_loop\n"
	"smc_data_loop:\n\t"
	"pushl %ebx\n\t"
	"movl 8(%esp), %ecx\n\t"
	"xorl %eax, %eax\n"
	"1:\tmovl %ecx, %ebx\n\t"
	"andl $63, %ebx\n\t"
	"addl %ecx, smc_page_data(,%ebx,4)\n\t"	/* a data write into this page */
	"addl smc_page_data(,%ebx,4), %eax\n\t"
	"decl %ecx\n\t"
	"jnz 1b\n\t"
	"popl %ebx\n\t"
	"ret\n"
	".balign 64\n"
	".globl smc_page_data\n"
	"smc_page_data:\n\t"
	".fill 64, 4, 0\n"
	".text\n");

static void test_data_in_code_page(void)
{
	section("data in a code page");
	RT_CHECK(((uint32_t)smc_data_loop >> 12) == ((uint32_t)&smc_page_data[63] >> 12));
	/* Model: the same loop in C over a copy. */
	uint32_t model[64] = { 0 }, want = 0, n = 3000;
	for (uint32_t c = n; c; c--) {
		model[c & 63] += c;
		want += model[c & 63];
	}
	RT_CHECK_EQ(smc_data_loop(n), want);
	RT_CHECK_EQ(rt_memcmp(model, smc_page_data, sizeof(model)), 0);
	mix(want);
	/* Again: the sums go on from the values stored the first time. */
	want = 0;
	for (uint32_t c = n; c; c--) {
		model[c & 63] += c;
		want += model[c & 63];
	}
	RT_CHECK_EQ(smc_data_loop(n), want);
	RT_CHECK_EQ(rt_memcmp(model, smc_page_data, sizeof(model)), 0);
	mix(want);
	section_end();
}

void guest_main(uint32_t mb_magic, uint32_t mb_info)
{
	(void)mb_info;
	rt_puts("smc: self-modifying code\n");
	RT_CHECK_EQ(mb_magic, 0x2badb002);
	test_text_patch();
	test_same_block();
	test_generated();
	test_data_in_code_page();
}
