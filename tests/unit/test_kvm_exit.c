/* Unit tests for kvm_run.c's exit handling: hand-built KVM exits (I/O, MMIO, MSRs, HLT, shutdown, entry failures) against the real device models, no /dev/kvm. */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "monitor.h"

/*
 * mon_kvm_exit reads only the kvm_run it is given and calls the devices,
 * so an exit can be written by hand as KVM would leave it: the data of a
 * port access in the run area at io.data_offset (KVM puts it on the
 * page after the struct), the registers in s.regs.regs (synced at every
 * exit). The platform is the real one, with COM1 captured.
 */

#define ENTRY 0x100000u

static struct mon_vm vm;
static struct bt_cpu cpu;
static _Alignas(4096) uint8_t area[2 * 4096]; /* the run area: struct, then I/O data */
static struct kvm_run *const run = (struct kvm_run *)area;
static char serial[64];
static size_t serial_len;

static void capture_serial(void *ctx, const uint8_t *bytes, size_t len)
{
	(void)ctx;
	for (size_t i = 0; i < len && serial_len < sizeof serial - 1; i++)
		serial[serial_len++] = (char)bytes[i];
}

static void setup(void)
{
	memset(&vm, 0, sizeof vm);
	memset(&cpu, 0, sizeof cpu);
	memset(area, 0, sizeof area);
	serial_len = 0;
	memset(serial, 0, sizeof serial);
	struct dev_platform_config pc = { .serial = { .write = capture_serial } };
	vm.plat = dev_platform_create(&pc);
	ck_assert_ptr_nonnull(vm.plat);
	vm.bus = dev_platform_bus(vm.plat);
	vm.vcpu.cpu = &cpu;
	vm.input_fd = -1;
	vm.kvm_entry_eip = ENTRY;
}

static void teardown(void)
{
	dev_platform_destroy(vm.plat);
}

/* An exit at `eip` with interrupts on. */
static void exit_at(uint32_t reason, uint32_t eip)
{
	run->exit_reason = reason;
	run->s.regs.regs.rip = eip;
	run->s.regs.regs.rflags = 0x202;
	run->if_flag = 1;
}

/* A port access of `count` elements of `size` bytes, data on the next page. */
static uint8_t *port_exit(uint8_t direction, uint16_t port, uint8_t size, uint32_t count)
{
	exit_at(KVM_EXIT_IO, ENTRY + 0x10);
	run->io.direction = direction;
	run->io.port = port;
	run->io.size = size;
	run->io.count = count;
	run->io.data_offset = 4096;
	return area + 4096;
}

static void port_out(uint16_t port, uint8_t value)
{
	*port_exit(KVM_EXIT_IO_OUT, port, 1, 1) = value;
	mon_kvm_exit(&vm, run);
}

static uint32_t mmio_read(uint64_t phys, uint32_t len)
{
	exit_at(KVM_EXIT_MMIO, ENTRY + 0x20);
	run->mmio.phys_addr = phys;
	run->mmio.len = len;
	run->mmio.is_write = 0;
	memset(run->mmio.data, 0x5a, sizeof run->mmio.data);
	mon_kvm_exit(&vm, run);
	uint32_t v;
	memcpy(&v, run->mmio.data, 4);
	return v;
}

START_TEST(out_string_reaches_com1)
{
	memcpy(port_exit(KVM_EXIT_IO_OUT, 0x3f8, 1, 3), "abc", 3); /* OUTSB x3 */
	mon_kvm_exit(&vm, run);
	dev_platform_flush(vm.plat);
	ck_assert_str_eq(serial, "abc");
	ck_assert_uint_eq(vm.stats.kvm_exits[KVM_EXIT_IO], 1);
	ck_assert_uint_eq(cpu.eip, ENTRY + 0x10);
	ck_assert(!vm.stop);
}
END_TEST

START_TEST(in_reads_the_device)
{
	port_out(0x21, 0xa5); /* the master PIC's mask register */
	uint8_t *data = port_exit(KVM_EXIT_IO_IN, 0x21, 1, 2); /* INSB x2 */
	data[0] = data[1] = 0;
	mon_kvm_exit(&vm, run);
	ck_assert_uint_eq(data[0], 0xa5);
	ck_assert_uint_eq(data[1], 0xa5);
}
END_TEST

START_TEST(debug_exit_stops_with_its_status)
{
	port_out(0xf4, 0x10);
	ck_assert(!vm.stop);
	mon_check_devices(&vm);
	ck_assert(vm.stop);
	ck_assert_int_eq(vm.status, (0x10 << 1) | 1);
}
END_TEST

START_TEST(mmio_reaches_the_local_apic)
{
	/* Version register: QEMU's version in bits 7:0. */
	ck_assert_uint_eq(mmio_read(0xfee00030, 4) & 0xff, 0x14);
	/* TPR: written, read back. */
	exit_at(KVM_EXIT_MMIO, ENTRY + 0x20);
	run->mmio.phys_addr = 0xfee00080;
	run->mmio.len = 4;
	run->mmio.is_write = 1;
	uint32_t tpr = 0x20;
	memcpy(run->mmio.data, &tpr, 4);
	mon_kvm_exit(&vm, run);
	ck_assert_uint_eq(mmio_read(0xfee00080, 4), 0x20);
	ck_assert_uint_eq(vm.stats.kvm_exits[KVM_EXIT_MMIO], 3);
}
END_TEST

START_TEST(mmio_open_bus_reads_all_ones)
{
	ck_assert_uint_eq(mmio_read(0xe0000000u, 4), 0xffffffffu);
	/* An 8-byte read: both halves, and nothing beyond. */
	uint8_t want[8];
	memset(want, 0xff, 8);
	mmio_read(0xe0000000u, 8);
	ck_assert_mem_eq(run->mmio.data, want, 8);
	/* A 2-byte read leaves the rest of data[] alone. */
	mmio_read(0xe0000000u, 2);
	ck_assert_uint_eq(run->mmio.data[1], 0xff);
	ck_assert_uint_eq(run->mmio.data[2], 0x5a);
}
END_TEST

START_TEST(trapped_msrs_are_the_devices)
{
	exit_at(KVM_EXIT_X86_RDMSR, ENTRY);
	run->msr.index = 0x1b;
	run->msr.error = 1;
	mon_kvm_exit(&vm, run);
	ck_assert_uint_eq(run->msr.error, 0);
	ck_assert_uint_eq(run->msr.data, dev_platform_apic_base(vm.plat));
	ck_assert_uint_eq(run->msr.data & 0xfffff000u, 0xfee00000u);
	/* A base the CPU refuses (reserved bit 9): #GP. */
	exit_at(KVM_EXIT_X86_WRMSR, ENTRY);
	run->msr.index = 0x1b;
	run->msr.data = 0xfee00000u | (1u << 11) | (1u << 9);
	mon_kvm_exit(&vm, run);
	ck_assert_uint_eq(run->msr.error, 1);
	/* An MSR the virtual CPU does not have: #GP. */
	exit_at(KVM_EXIT_X86_RDMSR, ENTRY);
	run->msr.index = 0x12345;
	mon_kvm_exit(&vm, run);
	ck_assert_uint_eq(run->msr.error, 1);
	/* IA32_ARCH_CAPABILITIES says RDCL_NO, as under BT. */
	exit_at(KVM_EXIT_X86_RDMSR, ENTRY);
	run->msr.index = 0x10a;
	mon_kvm_exit(&vm, run);
	ck_assert_uint_eq(run->msr.error, 0);
	ck_assert_uint_eq(run->msr.data, 1);
}
END_TEST

START_TEST(hlt_with_interrupts_off_powers_off)
{
	exit_at(KVM_EXIT_HLT, ENTRY + 5);
	run->if_flag = 0;
	mon_kvm_exit(&vm, run);
	ck_assert(vm.stop);
	ck_assert_int_eq(vm.status, MON_EXIT_RESET);
	ck_assert_ptr_nonnull(strstr(vm.stop_message, "powered off"));
}
END_TEST

START_TEST(hlt_with_interrupts_on_waits)
{
	exit_at(KVM_EXIT_HLT, ENTRY + 5);
	mon_kvm_exit(&vm, run);
	ck_assert(!vm.stop);
	ck_assert(vm.vcpu.halted); /* the loop sleeps until an interrupt */
	ck_assert_uint_eq(cpu.eip, ENTRY + 5);
	ck_assert_uint_eq(vm.stats.kvm_exits[KVM_EXIT_HLT], 1);
}
END_TEST

START_TEST(shutdown_is_a_triple_fault)
{
	exit_at(KVM_EXIT_SHUTDOWN, ENTRY + 0x40);
	mon_kvm_exit(&vm, run);
	ck_assert(vm.stop);
	ck_assert_int_eq(vm.status, MON_EXIT_TRIPLE);
	ck_assert_ptr_nonnull(strstr(vm.stop_message, "triple fault"));
}
END_TEST

START_TEST(entry_failure_at_the_start_is_a_refusal)
{
	exit_at(KVM_EXIT_FAIL_ENTRY, ENTRY);
	run->fail_entry.hardware_entry_failure_reason = 0x80000021u;
	mon_kvm_exit(&vm, run);
	ck_assert_int_eq(vm.status, MON_EXIT_HOST);
	ck_assert_msg(!strncmp(vm.stop_message, "--accel kvm: ", 13), "%s", vm.stop_message);
	ck_assert_ptr_nonnull(strstr(vm.stop_message, "0x80000021"));
}
END_TEST

START_TEST(internal_error_later_is_unsupported)
{
	exit_at(KVM_EXIT_INTERNAL_ERROR, ENTRY + 0x1234);
	run->internal.suberror = 1;
	mon_kvm_exit(&vm, run);
	ck_assert_int_eq(vm.status, MON_EXIT_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(vm.stop_message, "0x101234"));
}
END_TEST

START_TEST(window_and_signal_exits_change_nothing)
{
	exit_at(KVM_EXIT_IRQ_WINDOW_OPEN, ENTRY);
	mon_kvm_exit(&vm, run);
	exit_at(KVM_EXIT_INTR, ENTRY);
	mon_kvm_exit(&vm, run);
	ck_assert(!vm.stop);
	ck_assert(!vm.vcpu.halted);
	ck_assert_uint_eq(vm.stats.kvm_exits[KVM_EXIT_IRQ_WINDOW_OPEN], 1);
	ck_assert_uint_eq(vm.stats.kvm_exits[KVM_EXIT_INTR], 1);
	/* An exit btvmm never asks for ends the run, named. */
	exit_at(KVM_EXIT_DEBUG, ENTRY);
	mon_kvm_exit(&vm, run);
	ck_assert_int_eq(vm.status, MON_EXIT_UNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(vm.stop_message, "debug"));
}
END_TEST

static Suite *kvm_exit_suite(void)
{
	Suite *s = suite_create("kvm_exit");
	TCase *tc = tcase_create("exits");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, out_string_reaches_com1);
	tcase_add_test(tc, in_reads_the_device);
	tcase_add_test(tc, debug_exit_stops_with_its_status);
	tcase_add_test(tc, mmio_reaches_the_local_apic);
	tcase_add_test(tc, mmio_open_bus_reads_all_ones);
	tcase_add_test(tc, trapped_msrs_are_the_devices);
	tcase_add_test(tc, hlt_with_interrupts_off_powers_off);
	tcase_add_test(tc, hlt_with_interrupts_on_waits);
	tcase_add_test(tc, shutdown_is_a_triple_fault);
	tcase_add_test(tc, entry_failure_at_the_start_is_a_refusal);
	tcase_add_test(tc, internal_error_later_is_unsupported);
	tcase_add_test(tc, window_and_signal_exits_change_nothing);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(kvm_exit_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
