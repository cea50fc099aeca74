/* monitor: COM1's host input and QEMU's Ctrl-A escapes. */
#include <string.h>
#include <unistd.h>

#include "hostdriver.h"
#include "monitor.h"

/*
 * Host input for COM1, QEMU's way: Ctrl-A x ends btvmm, Ctrl-A h lists
 * the escapes, Ctrl-A c switches the terminal between COM1 and the
 * monitor console, Ctrl-A Ctrl-A sends one Ctrl-A, any other byte (Ctrl-C
 * included: the terminal is raw) goes to the guest or the console. Bytes
 * the UART cannot take yet wait here.
 */
/* Ctrl-A h: the escapes, as QEMU lists them (CR LF: the terminal is raw). */
static void escape_help(void)
{
	static const char text[] =
		"\r\nC-a h    print this help\r\n"
		"C-a x    exit btvmm\r\n"
		"C-a c    switch between console and monitor\r\n"
		"C-a C-a  sends C-a\r\n";
	/* The terminal is the user's: a failed write has no one to tell. */
	(void)hd_write_all(STDOUT_FILENO, text, sizeof text - 1);
}

void mon_pump_input(struct mon_vm *vm, uint64_t now, bool force)
{
	if (vm->input_fd < 0 && !vm->input_len)
		return;
	if (!force && now - vm->input_polled < MON_INPUT_POLL_NS && !vm->input_len)
		return;
	vm->input_polled = now;
	if (vm->input_fd >= 0 && vm->input_len < sizeof vm->input) {
		uint8_t buf[sizeof vm->input];
		int n = hd_read_nonblock(vm->input_fd, buf, sizeof vm->input - vm->input_len);
		if (n < 0)
			vm->input_fd = -1; /* end of input: the guest just hears nothing */
		for (int i = 0; i < n; i++) {
			uint8_t c = buf[i];
			if (vm->input_escape) {
				vm->input_escape = false;
				if (c == 'x' || c == 'X') {
					mon_stop(vm, MON_EXIT_SIGNAL, "terminated by Ctrl-A x");
					return;
				}
				if (c == 'h' || c == 'H')
					escape_help();
				if (c == 'c' || c == 'C') {
					vm->console_on = !vm->console_on;
					mon_console_terminal(vm, vm->console_on);
				}
				if (c != 0x01)
					continue;
			} else if (c == 0x01) {
				vm->input_escape = true;
				continue;
			}
			if (vm->console_on) {
				mon_console_typed(vm, &c, 1);
				if (vm->stop)
					return;
				continue;
			}
			vm->input[vm->input_len++] = c;
		}
	}
	if (vm->input_len) {
		size_t took = dev_uart_receive(dev_platform_com1(vm->plat), vm->input,
					       vm->input_len);
		memmove(vm->input, vm->input + took, vm->input_len - took);
		vm->input_len -= (unsigned)took;
	}
}
