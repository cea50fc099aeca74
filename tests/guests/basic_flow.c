/* Basic guest: calls, jumps, jump tables, conditional branches, loops and recursion. */
#include "basic.h"

/* ---- calls ---- */

/* A chain of 32 distinct functions, each calling the next: chain_k(x) =
   chain_{k+1}(3x + k) + k, chain_32(x) = x. */
static __attribute__((noinline)) uint32_t chain_32(uint32_t x) { __asm__(""); return x; }
#define CHAIN(k, next)									\
static __attribute__((noinline)) uint32_t chain_##k(uint32_t x)				\
{											\
	return chain_##next(x * 3 + k) + k;						\
}
CHAIN(31, 32) CHAIN(30, 31) CHAIN(29, 30) CHAIN(28, 29) CHAIN(27, 28) CHAIN(26, 27)
CHAIN(25, 26) CHAIN(24, 25) CHAIN(23, 24) CHAIN(22, 23) CHAIN(21, 22) CHAIN(20, 21)
CHAIN(19, 20) CHAIN(18, 19) CHAIN(17, 18) CHAIN(16, 17) CHAIN(15, 16) CHAIN(14, 15)
CHAIN(13, 14) CHAIN(12, 13) CHAIN(11, 12) CHAIN(10, 11) CHAIN(9, 10) CHAIN(8, 9)
CHAIN(7, 8) CHAIN(6, 7) CHAIN(5, 6) CHAIN(4, 5) CHAIN(3, 4) CHAIN(2, 3) CHAIN(1, 2)
CHAIN(0, 1)

/* Eight small functions called through a table. */
static uint32_t fp0(uint32_t x) { return x + 1; }
static uint32_t fp1(uint32_t x) { return x * 2; }
static uint32_t fp2(uint32_t x) { return x ^ 0x55; }
static uint32_t fp3(uint32_t x) { return x - 7; }
static uint32_t fp4(uint32_t x) { return x << 3; }
static uint32_t fp5(uint32_t x) { return x >> 1; }
static uint32_t fp6(uint32_t x) { return ~x; }
static uint32_t fp7(uint32_t x) { return x * x; }
static uint32_t (*const fp_table[8])(uint32_t) = { fp0, fp1, fp2, fp3, fp4, fp5, fp6, fp7 };
/* Read through a volatile index so the calls stay indirect. */
static volatile unsigned fp_stride = 5;

/* The same eight as one switch: dense, so gcc emits a jump table. */
static __attribute__((noinline)) uint32_t fp_switch(unsigned k, uint32_t x)
{
	switch (k) {
	case 0: return x + 1;
	case 1: return x * 2;
	case 2: return x ^ 0x55;
	case 3: return x - 7;
	case 4: return x << 3;
	case 5: return x >> 1;
	case 6: return ~x;
	case 7: return x * x;
	case 8: return x + 0x100;	/* extra cases keep the table dense */
	case 9: return x | 1;
	case 10: return x & 0xff;
	default: return 0xdeadbeef;
	}
}

/* stdcall: the callee pops its arguments with ret $8. */
static __attribute__((noinline, stdcall)) uint32_t callee_pops(uint32_t a, uint32_t b)
{
	__asm__("");
	return a * 10 + b;
}

/*
 * call_forms(out): call and jmp shapes the compiler would not pick on its
 * own. Every result is a value or an ESP difference.
 */
void call_forms(uint32_t *out);
uint32_t call_target_cell;
uint32_t call_table[4];
__asm__(
	".text\n"
	"cf_add5:\n\taddl $5, %eax\n\tret\n"
	"cf_ret4:\n\tmovl 4(%esp), %eax\n\tret $4\n"		/* pops its argument */
	"cf_skip2:\n\taddl $2, (%esp)\n\tret\n"			/* returns 2 bytes later */
	"cf_double:\n\taddl %eax, %eax\n\tret\n"
	".globl call_forms\n"
	"call_forms:\n\t"
	"pushl %ebp\n\tpushl %ebx\n\tpushl %esi\n\tpushl %edi\n\t"
	"movl 20(%esp), %edi\n\t"
	"movl %esp, %ebp\n\t"
	/* call to the next instruction: the pushed address is the guest's */
	"call 1f\n"
	"1:\tpopl %eax\n\tsubl $1b, %eax\n\tmovl %eax, 0(%edi)\n\t"		/* 0 */
	/* call through a register and through absolute memory (FF 15) */
	"movl $cf_add5, %ecx\n\tmovl $10, %eax\n\tcall *%ecx\n\t"
	"movl $cf_double, call_target_cell\n\tcall *call_target_cell\n\t"
	"movl %eax, 4(%edi)\n\t"						/* 30 */
	/* call through a table with an index (FF 14 85) */
	"movl $cf_add5, call_table\n\tmovl $cf_double, call_table+4\n\t"
	"movl $1, %esi\n\tmovl $7, %eax\n\tcall *call_table(,%esi,4)\n\t"
	"decl %esi\n\tcall *call_table(,%esi,4)\n\t"
	"movl $call_table, %ebx\n\tcall *4(%ebx)\n\tmovl %eax, 8(%edi)\n\t"	/* 38 */
	/* ret imm16 pops the argument: ESP comes back balanced */
	"pushl $0x4242\n\tcall cf_ret4\n\tmovl %eax, 12(%edi)\n\t"		/* 0x4242 */
	"movl %ebp, %eax\n\tsubl %esp, %eax\n\tmovl %eax, 16(%edi)\n\t"	/* 0 */
	/* a callee that moves its return address past a ud2 */
	"call cf_skip2\n\t"
	"ud2\n\t"
	"movl $0x5ca1ab1e, 20(%edi)\n\t"
	/* push + ret as a jump, jmp through a register and memory */
	"pushl $2f\n\tret\n\t"
	"ud2\n"
	"2:\tmovl $3f, %eax\n\tjmp *%eax\n\t"
	"ud2\n"
	"3:\tmovl $4f, call_target_cell\n\tjmp *call_target_cell\n\t"
	"ud2\n"
	"4:\tmovl $5f, call_table+8\n\tmovl $2, %esi\n\tjmp *call_table(,%esi,4)\n\t"
	"ud2\n"
	"5:\tmovl $0x600d, 24(%edi)\n\t"
	/* a return to an address that was never called from */
	"pushl $6f\n\tjmp cf_add5\n"
	"6:\tmovl %ebp, %eax\n\tsubl %esp, %eax\n\tmovl %eax, 28(%edi)\n\t"	/* 0 */
	"popl %edi\n\tpopl %esi\n\tpopl %ebx\n\tpopl %ebp\n\t"
	"ret\n");

/* A minimal setjmp/longjmp: returns that do not match their calls. */
struct jump_buf { uint32_t ebx, esi, edi, ebp, esp, eip; };
__attribute__((returns_twice)) int jb_set(struct jump_buf *b);
void jb_jump(struct jump_buf *b, int v);	/* does not return */
__asm__(
	".text\n"
	".globl jb_set\n"
	"jb_set:\n\t"
	"movl 4(%esp), %eax\n\t"
	"movl %ebx, 0(%eax)\n\tmovl %esi, 4(%eax)\n\tmovl %edi, 8(%eax)\n\t"
	"movl %ebp, 12(%eax)\n\tleal 4(%esp), %ecx\n\tmovl %ecx, 16(%eax)\n\t"
	"movl (%esp), %ecx\n\tmovl %ecx, 20(%eax)\n\t"
	"xorl %eax, %eax\n\tret\n"
	".globl jb_jump\n"
	"jb_jump:\n\t"
	"movl 4(%esp), %edx\n\tmovl 8(%esp), %eax\n\t"
	"movl 0(%edx), %ebx\n\tmovl 4(%edx), %esi\n\tmovl 8(%edx), %edi\n\t"
	"movl 12(%edx), %ebp\n\tmovl 16(%edx), %esp\n\t"
	"jmp *20(%edx)\n");

static struct jump_buf jb;
static __attribute__((noinline)) void jb_deep(int n)
{
	if (n > 0)
		jb_deep(n - 1);
	else
		jb_jump(&jb, 77);
	__asm__ volatile("");	/* not a tail call */
}

void test_calls(void)
{
	uint32_t cases = 0;
	group_begin("calls");
	uint32_t y = 1;
	for (uint32_t k = 0; k < 32; k++)
		y = y * 3 + k;
	RT_CHECK_EQ(chain_0(1), y + 496);	/* 496 = 0 + 1 + ... + 31 */
	RT_CHECK_EQ(chain_0(0), 0xf8879180);
	mix(chain_0(0x1234));

	uint32_t x = 1, xs = 1;
	for (unsigned i = 0; i < 200; i++) {
		unsigned k = (i * fp_stride + (i >> 3)) & 7;
		x = fp_table[k](x);
		xs = fp_switch(k, xs);
		mix(x);
	}
	RT_CHECK_EQ(x, xs);
	/* By hand: 3 -> fp1 6 -> fp3 -1 -> fp5 0x7fffffff -> fp0 0x80000000. */
	RT_CHECK_EQ(fp_table[0](fp_table[5](fp_table[3](fp_table[1](3)))), 0x80000000);
	RT_CHECK_EQ(fp_switch(10, 0x1234), 0x34);
	RT_CHECK_EQ(fp_switch(11, 0), 0xdeadbeef);
	RT_CHECK_EQ(fp_switch(0xffffffff, 0), 0xdeadbeef);
	cases += 200;

	RT_CHECK_EQ(callee_pops(4, 2), 42);

	uint32_t out[8];
	static const uint32_t want[8] = { 0, 30, 38, 0x4242, 0, 0x5ca1ab1e, 0x600d, 0 };
	rt_memset(out, 0, sizeof(out));
	call_forms(out);
	for (int k = 0; k < 8; k++)
		basic_expect("call form", k, 0, out[k], want[k]);
	cases++;

	volatile int rounds = 0;
	int v = jb_set(&jb);
	if (v == 0 && rounds == 0) {
		rounds = 1;
		jb_deep(20);
	}
	RT_CHECK_EQ(v, 77);
	RT_CHECK_EQ(rounds, 1);
	cases++;
	group_end(cases);
}

/* ---- conditional branches ---- */

/*
 * Each condition, taken or not, in four shapes: short forward, short
 * backward, near (rel32) forward, near backward, plus a near forward branch
 * over 300 bytes of int3 that must never run. Bits 0..4 report "taken".
 * lea accumulates because it leaves the flags alone.
 */
#define HW_JCC(cc)									\
static uint32_t hw_jcc_##cc(uint32_t fin)						\
{											\
	uint32_t r = 0;									\
	__asm__("pushl %[fin]\n\tpopfl\n\t"						\
		"j" #cc " 1f\n\tjmp 2f\n"						\
		"1:\tleal 1(%[r]), %[r]\n"						\
		"2:\tjmp 4f\n"								\
		"3:\tleal 2(%[r]), %[r]\n\tjmp 5f\n"					\
		"4:\tj" #cc " 3b\n"							\
		"5:\t%{disp32%} j" #cc " 6f\n\tjmp 7f\n"					\
		"6:\tleal 4(%[r]), %[r]\n"						\
		"7:\tjmp 9f\n"								\
		"8:\tleal 8(%[r]), %[r]\n\tjmp 10f\n"					\
		"9:\t%{disp32%} j" #cc " 8b\n"						\
		"10:\tj" #cc " 11f\n\tjmp 12f\n"					\
		".fill 300, 1, 0xcc\n"							\
		"11:\tleal 16(%[r]), %[r]\n"						\
		"12:\n"									\
		: [r] "+r"(r) : [fin] "r"(fin) : "cc");					\
	return r;									\
}
#define CONDS(X) X(o) X(no) X(b) X(ae) X(e) X(ne) X(be) X(a) \
		 X(s) X(ns) X(p) X(np) X(l) X(ge) X(le) X(g)
CONDS(HW_JCC)
static uint32_t (*const hw_jcc[16])(uint32_t) = {
#define HW_JCC_PTR(cc) hw_jcc_##cc,
	CONDS(HW_JCC_PTR)
};

/* The conditions from their definitions, in encoding order. */
static int cond_holds(int cc, uint32_t f)
{
	int cf = !!(f & F_CF), zf = !!(f & F_ZF), sf = !!(f & F_SF), of = !!(f & F_OF);
	int pf = !!(f & F_PF);
	int r = cc >> 1 == 0 ? of : cc >> 1 == 1 ? cf : cc >> 1 == 2 ? zf
		: cc >> 1 == 3 ? (cf | zf) : cc >> 1 == 4 ? sf : cc >> 1 == 5 ? pf
		: cc >> 1 == 6 ? (sf ^ of) : (zf | (sf ^ of));
	return (cc & 1) ? !r : r;
}

void test_jumps(void)
{
	uint32_t cases = 0;
	group_begin("jumps");
	for (int cc = 0; cc < 16; cc++)
		for (uint32_t bits = 0; bits < 32; bits++) {
			uint32_t fin = F_FIXED | (bits & 1 ? F_CF : 0) | (bits & 2 ? F_PF : 0) |
				       (bits & 4 ? F_ZF : 0) | (bits & 8 ? F_SF : 0) |
				       (bits & 16 ? F_OF : 0);
			basic_expect("jcc", cc, fin, hw_jcc[cc](fin), cond_holds(cc, fin) ? 0x1f : 0);
			cases++;
		}
	group_end(cases);
}

/* ---- loop, loope, loopne, jecxz ---- */

/* loop n times; also returns the flags, which loop must not change. */
static uint32_t hw_loop(uint32_t n, uint32_t fin, uint32_t *fout)
{
	uint32_t count = 0;
	__asm__("pushl %[fin]\n\tpopfl\n"
		"1:\tleal 1(%[k]), %[k]\n\tloop 1b\n\t"
		"pushfl\n\tpopl %[f]"
		: [k] "+r"(count), "+c"(n), [f] "=r"(*fout) : [fin] "r"(fin) : "cc");
	return count;
}

/* Scan dwords while they equal (loope) or differ from (loopne) v. Returns
   ECX at the end and the last ZF. */
static uint32_t hw_loope(const uint32_t *p, uint32_t n, uint32_t v, int ne, uint32_t *zf)
{
	uint32_t f;
	if (ne)
		__asm__("1:\tlodsl\n\tcmpl %[v], %%eax\n\tloopne 1b\n\tpushfl\n\tpopl %[f]"
			: "+S"(p), "+c"(n), [f] "=r"(f) : [v] "r"(v) : "eax", "cc");
	else
		__asm__("1:\tlodsl\n\tcmpl %[v], %%eax\n\tloope 1b\n\tpushfl\n\tpopl %[f]"
			: "+S"(p), "+c"(n), [f] "=r"(f) : [v] "r"(v) : "eax", "cc");
	*zf = (f & F_ZF) != 0;
	return n;
}

static uint32_t hw_jecxz(uint32_t ecx)
{
	uint32_t r = 0;
	__asm__("jecxz 1f\n\tmovl $1, %[r]\n\tjmp 2f\n1:\tmovl $2, %[r]\n2:"
		: [r] "+r"(r) : "c"(ecx));
	return r;
}

void test_loops(void)
{
	uint32_t cases = 0, f, zf;
	group_begin("loops");
	for (uint32_t n = 1; n < 300; n += 37) {
		for (int k = 0; k < 2; k++) {
			uint32_t fin = F_FIXED | (k ? F_ARITH : 0);
			basic_expect("loop", n, k, hw_loop(n, fin, &f), n);
			basic_expect("loop flags", n, k, f & F_ARITH, fin & F_ARITH);
			cases++;
		}
	}
	static const uint32_t data[10] = { 5, 5, 5, 5, 9, 5, 5, 5, 5, 5 };
	/* loope over equal entries stops after the 5th (unequal) one. */
	RT_CHECK_EQ(hw_loope(data, 10, 5, 0, &zf), 5);
	RT_CHECK_EQ(zf, 0);
	/* loope that runs ECX out with every entry equal. */
	RT_CHECK_EQ(hw_loope(data, 4, 5, 0, &zf), 0);
	RT_CHECK_EQ(zf, 1);
	/* loopne looking for 9 stops after it: ECX = 10 - 5. */
	RT_CHECK_EQ(hw_loope(data, 10, 9, 1, &zf), 5);
	RT_CHECK_EQ(zf, 1);
	/* loopne that never finds 7. */
	RT_CHECK_EQ(hw_loope(data, 10, 7, 1, &zf), 0);
	RT_CHECK_EQ(zf, 0);
	RT_CHECK_EQ(hw_jecxz(0), 2);
	RT_CHECK_EQ(hw_jecxz(1), 1);
	RT_CHECK_EQ(hw_jecxz(0x10000), 1);	/* all 32 bits count, not just CX */
	cases += 7;
	mix(cases);
	group_end(cases);
}

/* ---- recursion ---- */

/* Recursion through a volatile pointer so the compiler keeps every call. */
static uint32_t fib(uint32_t n);
static uint32_t (*volatile fib_fn)(uint32_t) = fib;
static uint32_t fib(uint32_t n)
{
	return n < 2 ? n : fib_fn(n - 1) + fib_fn(n - 2);
}

static __attribute__((noinline)) uint32_t ackermann(uint32_t m, uint32_t n)
{
	if (m == 0)
		return n + 1;
	if (n == 0)
		return ackermann(m - 1, 1);
	return ackermann(m - 1, ackermann(m, n - 1));
}

static uint32_t depth(uint32_t n);
static uint32_t (*volatile depth_fn)(uint32_t) = depth;
static uint32_t depth(uint32_t n)
{
	return n ? depth_fn(n - 1) + 3 : 0;
}

static uint32_t hanoi_moves;
static __attribute__((noinline)) void hanoi(int n, int from, int to, int via)
{
	if (n == 0)
		return;
	hanoi(n - 1, from, via, to);
	hanoi_moves++;
	mix((uint32_t)(from * 3 + to));
	hanoi(n - 1, via, to, from);
}

static int is_odd(uint32_t n);
static __attribute__((noinline)) int is_even(uint32_t n) { return n == 0 ? 1 : is_odd(n - 1); }
static __attribute__((noinline)) int is_odd(uint32_t n) { return n == 0 ? 0 : is_even(n - 1); }

void test_recursion(void)
{
	group_begin("recursion");
	RT_CHECK_EQ(fib(20), 6765);
	RT_CHECK_EQ(fib(1), 1);
	RT_CHECK_EQ(ackermann(2, 2), 7);
	RT_CHECK_EQ(ackermann(2, 3), 9);
	RT_CHECK_EQ(ackermann(3, 3), 61);
	RT_CHECK_EQ(depth(400), 1200);
	hanoi_moves = 0;
	hanoi(10, 0, 2, 1);
	RT_CHECK_EQ(hanoi_moves, 1023);
	RT_CHECK_EQ(is_even(300), 1);
	RT_CHECK_EQ(is_odd(301), 1);
	RT_CHECK_EQ(is_odd(300), 0);
	mix(fib(15));
	group_end(11);
}
