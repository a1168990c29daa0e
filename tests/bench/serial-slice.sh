#!/bin/bash
# serial-slice.sh [K] -- the paper's 95-class synthetic problem through
# emulated microcontrollers via the coordinator (issue 14): the pairs of its
# first K classes (21 by default: 210 tasks), g2t-serve --replicas 1, a
# Cortex-M3 (QEMU) and an ATmega2560 (simavr, 115200 baud) as devices, no
# host device; prints each device's tasks, bytes on its line and tasks an
# hour (the ATmega2560's in emulated time, the Cortex-M3's in QEMU's wall
# clock), and a host core's (g2t-train, one thread) on the same tasks.
# Needs make check-mcu's build (build/mcu).  Figures, no assertions on them.
set -eu
cd "$(dirname "$0")/../.."
SET=synthetic REPLICAS=1 HOST=0 exec tests/serial-run.sh "${1:-21}"
