/* monitor: the GDB stub's view of the CPU: its target description and registers (private header). */
#ifndef BTVMM_GDBSTUB_H
#define BTVMM_GDBSTUB_H

#include <stdint.h>

#include "monitor.h"

#define GDB_REGS 50 /* registers in the target description, 'g' order */

/* target.xml: QEMU's i386 register set, as gdb reads it with qXfer. */
const char *mon_gdb_target_xml(void);
/* Register n (gdb's number) into buf, little-endian; its size in bytes
 * (0 for no such register). */
unsigned mon_gdb_read_register(struct mon_vm *vm, int n, uint8_t *buf);
/* Set register n from buf (as many bytes as its size); false if btvmm
 * cannot change it to that value. */
bool mon_gdb_write_register(struct mon_vm *vm, int n, const uint8_t *buf);

#endif
