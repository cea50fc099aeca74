# The GDB stub test's session (tests/gdb/gdb-test.sh runs it against QEMU and btvmm): breakpoints, steps, registers, memory, a watchpoint, ring 3, continue to the end.
set pagination off
set confirm off
set width 0
echo === session ===\n
# A software breakpoint at a function, then two single steps.
break gdb_checkpoint
continue
info registers eip esp
x/2xw $esp
print gdb_counter
stepi
stepi
info registers eip
# A hardware breakpoint inside the block translated from the function's
# start: it must stop there, not at the block's end.
delete
hbreak *gdb_checkpoint+9
continue
info registers eip eax
print gdb_counter
# A write watchpoint: each change, old and new values, where it stopped.
delete
watch gdb_counter
continue
continue
continue
delete
# Memory written by gdb, which the guest then reads (it checks for 42).
print gdb_input
set var gdb_input = 42
x/1dw &gdb_input
# Ring 3: a breakpoint, steps, every register.
break gdb_user_code
continue
info registers
stepi
stepi
info registers eip eax
print $cr0
print/x $cr3
print $eflags
x/3i $pc
delete
continue
