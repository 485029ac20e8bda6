"""`python -m bench`: the benchmark suite arrives with the evidence issue; until then say so plainly."""

import sys

sys.stderr.write("no benchmarks yet: they arrive with the benchmarks issue (see README, 'Benchmarks')\n")
sys.exit(1)
