# bench: helpers shared by the bench scripts (sourced, bash).

# The time now, in seconds with a fraction.
now() { echo "${EPOCHREALTIME/,/.}"; }

# The median of the numbers on standard input, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
