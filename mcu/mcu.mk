# mcu/mcu.mk - the freestanding core on microcontrollers (issue 5), included
# by the top-level Makefile.
#
#   make mcu        cross-compiles lib/core and a test firmware for every
#                   target (no warnings allowed) and prints a size table
#   make check-mcu  runs each firmware under qemu-system-arm or simavr and
#                   compares its output, byte for byte, with the native build
#                   of the same firmware logic; prints the measurements
#
# Targets: cortex-m0 (BBC micro:bit), cortex-m3 (MPS2 AN385), cortex-m4f
# (MPS2 AN386), atmega328p, atmega2560.  Everything is built in $(BUILD)/mcu.
# The tasks embedded in the firmware come from g2t-split (see MCU_DATA).

.PHONY: mcu check-mcu mcu-build mcu-host

MCU_TARGETS = cortex-m0 cortex-m3 cortex-m4f atmega328p atmega2560
MCU_B = $(BUILD)/mcu
MCU_EPOCHS = 5
MCU_WARN = -Wall -Wextra -Wshadow -Wdouble-promotion -Werror
# -ffp-contract=off on every target and on the host: float32 results are
# then the same bits everywhere (see ../shared/MCU.md)
MCU_FLAGS = -ffreestanding -ffp-contract=off -ffunction-sections -fdata-sections -g
MCU_CORE = $(CORE_SRC:lib/core/%.c=%)
MCU_FW = app crc32
MCU_DATASETS = letter letter_small digits2 digits45 digits2s
MCU_DATA = $(MCU_DATASETS:%=$(MCU_B)/data/%.h)

# Per target: compiler, code generation, link, platform files, size tool.
ARM_CC = arm-none-eabi-gcc
ARM_LD = -nostdlib -Lmcu/ld
MCU_CC_cortex-m0 = $(ARM_CC)
MCU_ARCH_cortex-m0 = -mcpu=cortex-m0 -mthumb -std=c11 -O2
MCU_DEFS_cortex-m0 = -DPLAT_MICROBIT
MCU_LD_cortex-m0 = $(ARM_LD) -T mcu/ld/microbit.ld
MCU_CC_cortex-m3 = $(ARM_CC)
MCU_ARCH_cortex-m3 = -mcpu=cortex-m3 -mthumb -std=c11 -O2
MCU_LD_cortex-m3 = $(ARM_LD) -T mcu/ld/mps2.ld
MCU_CC_cortex-m4f = $(ARM_CC)
MCU_ARCH_cortex-m4f = -mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -std=c11 -O2
MCU_LD_cortex-m4f = $(ARM_LD) -T mcu/ld/mps2.ld
# AVR: -std=gnu11 for __flash; the rest for flash size (together 8 % less
# than -Os alone): shared prologues, short calls, X never used as a base
# pointer, no inlining of what is small or called once (but of the few
# functions the core declares inline, which are smaller so), and two passes
# whose rewrites cost more 32-bit register moves than they save on AVR
# (70 more bytes off the training core with avr-gcc 5.4)
MCU_AVR = -std=gnu11 -Os -mcall-prologues -mrelax -mstrict-X \
	-fno-inline-small-functions -fno-inline-functions-called-once \
	-fno-tree-forwprop -fno-move-loop-invariants
MCU_CC_atmega328p = avr-gcc
MCU_ARCH_atmega328p = -mmcu=atmega328p $(MCU_AVR)
MCU_CC_atmega2560 = avr-gcc
MCU_ARCH_atmega2560 = -mmcu=atmega2560 $(MCU_AVR)
MCU_PLAT_ARM = plat_arm libc
MCU_PLAT_AVR = plat_avr

# mcu_target NAME PLATFORM-FILES
define mcu_target
# the core sees the target's configuration for its build profile (G2T_LOSSES...)
$(MCU_B)/$(1)/core/%.o: lib/core/%.c lib/core/g2t_core.h mcu/cfg/$(1).h $(wildcard mcu/cfg/*.h)
	@mkdir -p $$(@D)
	$$(MCU_CC_$(1)) $$(MCU_ARCH_$(1)) $$(MCU_WARN) $$(MCU_FLAGS) -include mcu/cfg/$(1).h \
	  -nostdlib -c $$< -o $$@

$(MCU_B)/$(1)/fw/%.o: mcu/src/%.c $(wildcard mcu/src/*.h) mcu/cfg/$(1).h $(wildcard mcu/cfg/*.h) \
		lib/core/g2t_core.h $(MCU_DATA)
	@mkdir -p $$(@D)
	$$(MCU_CC_$(1)) $$(MCU_ARCH_$(1)) $$(MCU_DEFS_$(1)) $$(MCU_WARN) $$(MCU_FLAGS) \
	  $$(MCU_EXTRA) -include mcu/cfg/$(1).h -Ilib/core -Imcu/src -I$(MCU_B)/data \
	  -c $$< -o $$@

# gcc must not turn the loops of memcpy and memset into calls to themselves
$(MCU_B)/$(1)/fw/libc.o: MCU_EXTRA = -fno-tree-loop-distribute-patterns

$(MCU_B)/$(1)/fw.elf: $(MCU_CORE:%=$(MCU_B)/$(1)/core/%.o) \
		$(MCU_FW:%=$(MCU_B)/$(1)/fw/%.o) $(2:%=$(MCU_B)/$(1)/fw/%.o) $(wildcard mcu/ld/*.ld)
	$$(MCU_CC_$(1)) $$(MCU_ARCH_$(1)) $$(MCU_LD_$(1)) -Wl,--gc-sections \
	  -Wl,-Map=$$(@:.elf=.map) -o $$@ $$(filter %.o,$$^) -lgcc

# the core alone: least users of it (training; training and prediction),
# and the same firmware without it
$(MCU_B)/$(1)/core-train.elf: MCU_ONLY = -DTRAIN
$(MCU_B)/$(1)/core-predict.elf: MCU_ONLY = -DPREDICT
$(MCU_B)/$(1)/empty.elf: MCU_ONLY = -DEMPTY
$(MCU_B)/$(1)/core-train.elf $(MCU_B)/$(1)/core-predict.elf: $(MCU_CORE:%=$(MCU_B)/$(1)/core/%.o)
$(MCU_B)/$(1)/core-train.elf $(MCU_B)/$(1)/core-predict.elf $(MCU_B)/$(1)/empty.elf: \
		mcu/src/core_only.c $(2:%=$(MCU_B)/$(1)/fw/%.o)
	$$(MCU_CC_$(1)) $$(MCU_ARCH_$(1)) $$(MCU_WARN) $$(MCU_FLAGS) -include mcu/cfg/$(1).h \
	  -Ilib/core $$(MCU_ONLY) $$(MCU_LD_$(1)) -Wl,--gc-sections -o $$@ \
	  $$(filter %.c %.o,$$^) -lgcc

# the native twin: the same firmware logic and core, built for the host
$(MCU_B)/$(1)/twin: $(MCU_FW:%=mcu/src/%.c) mcu/src/plat_host.c $(CORE_SRC) \
		$(wildcard mcu/src/*.h) mcu/cfg/$(1).h $(wildcard mcu/cfg/*.h) lib/core/g2t_core.h $(MCU_DATA)
	@mkdir -p $$(@D)
	$$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -O2 $$(MCU_WARN) -ffp-contract=off \
	  -include mcu/cfg/$(1).h -Ilib/core -Imcu/src -I$(MCU_B)/data -o $$@ $$(filter %.c,$$^)
endef

# the serial device firmware (device.c): built for the targets with a UART
define mcu_device
$(MCU_B)/$(1)/dev.elf: $(MCU_CORE:%=$(MCU_B)/$(1)/core/%.o) \
		$(MCU_B)/$(1)/fw/device.o $(MCU_B)/$(1)/fw/crc32.o $(2:%=$(MCU_B)/$(1)/fw/%.o) \
		$(wildcard mcu/ld/*.ld)
	$$(MCU_CC_$(1)) $$(MCU_ARCH_$(1)) $$(MCU_LD_$(1)) -Wl,--gc-sections \
	  -Wl,-Map=$$(@:.elf=.map) -o $$@ $$(filter %.o,$$^) -lgcc
endef

$(foreach t,cortex-m0 cortex-m3 cortex-m4f,$(eval $(call mcu_target,$(t),$(MCU_PLAT_ARM))))
$(foreach t,atmega328p atmega2560,$(eval $(call mcu_target,$(t),$(MCU_PLAT_AVR))))
MCU_DEVICES = cortex-m0 cortex-m3 cortex-m4f atmega328p atmega2560
$(foreach t,cortex-m0 cortex-m3 cortex-m4f,$(eval $(call mcu_device,$(t),$(MCU_PLAT_ARM))))
$(foreach t,atmega328p atmega2560,$(eval $(call mcu_device,$(t),$(MCU_PLAT_AVR) plat_avr_irq)))
# the Uno's 2 KB: 320 bytes for rows (15 of 16 bytes a frame, in reading
# order, for most tasks) and the WEIGHTS record after them, 16 features,
# TASK records with tokens of up to 56 bytes
# (the receive interrupt decodes frames while it trains: DEV_RX_IRQ)
$(MCU_B)/atmega328p/fw/device.o: MCU_EXTRA = \
	-DDEV_ROWS_RAM=320 -DDEV_FRAME=240 -DDEV_FEATURES=16 -DDEV_TASK_CAP=160 -DDEV_RX_IRQ
# the micro:bit's 16 KB: 4 KB for rows, 128 features
$(MCU_B)/cortex-m0/fw/device.o: MCU_EXTRA = -DDEV_ROWS_RAM=4096 -DDEV_FRAME=1024 \
	-DDEV_FEATURES=128
# the Mega's 8 KB: 4 KB for rows, 64 features (the digits)
$(MCU_B)/atmega2560/fw/device.o: MCU_EXTRA = \
	-DDEV_ROWS_RAM=4096 -DDEV_FRAME=512 -DDEV_FEATURES=64 -DDEV_TASK_CAP=256 -DDEV_RX_IRQ

# the device firmware built for the host, its UART on stdin and stdout:
# dev-host keeps whole blocks of rows, dev-host-small (1 KB for rows)
# asks for them in reading order (tests/serial.sh)
MCU_DEV_HOST = mcu/src/device.c mcu/src/crc32.c mcu/src/plat_host.c $(CORE_SRC)
$(MCU_B)/dev-host-small: MCU_DEV_DEFS = -DDEV_ROWS_RAM=1024 -DDEV_FRAME=256 -DDEV_FEATURES=64 -DDEV_AHEAD
$(MCU_B)/dev-host $(MCU_B)/dev-host-small: $(MCU_DEV_HOST) $(wildcard mcu/src/*.h) \
		lib/core/g2t_core.h lib/core/g2t_link.h mcu/cfg/least.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -O2 $(MCU_WARN) -ffp-contract=off \
	  $(MCU_DEV_DEFS) -DCFG_NAME='"host"' -Ilib/core -Imcu/src -o $@ $(filter %.c,$^)

# ---- the tasks: g2t-split output and held-out rows, as C arrays -----------
# letter: letters A and B; letter_small: the same from the first 6000
# training rows (small enough for an ATmega328P's flash); digits2: digits 4
# and 9; digits45: all ten digits, 45 pairs; digits2s: digits 4 and 9 of the
# first 720 rows as svmlight, each pixel followed by three zero features, a
# sparse set in sparse SHARDs (mcu/tools/svmlight.awk).  Rows quantised to 8 bits;
# each split twice, for float32 (asgd) and fixed-point (fixed) training.
MCU_SPLIT = $(BIN)/g2t-split -q 8 --epochs $(MCU_EPOCHS)
MCU_SRC_letter = tests/data/letter.train.csv.gz
MCU_SRC_letter_small = tests/data/letter.train.csv.gz
MCU_SRC_digits2 = tests/data/digits.train.csv.gz
MCU_SRC_digits45 = tests/data/digits.train.csv.gz
MCU_SRC_digits2s = tests/data/digits.train.csv.gz
MCU_ROWS_letter_small = | head -n 6001
MCU_ROWS_digits2s = | head -n 721 | awk -F, -f mcu/tools/svmlight.awk
MCU_CLASSES_letter = --classes A,B
MCU_CLASSES_letter_small = --classes A,B
MCU_CLASSES_digits2 = --classes 4,9
MCU_CLASSES_digits2s = --classes 4,9 -f svmlight

$(MCU_B)/data/letter_small.test.csv: tests/data/letter.test.csv.gz
	@mkdir -p $(@D)
	gzip -dc $< | head -n 1501 > $@.tmp && mv $@.tmp $@

$(MCU_B)/data/digits2s.test.csv: tests/data/digits.test.csv.gz mcu/tools/svmlight.awk
	@mkdir -p $(@D)
	gzip -dc $< | awk -F, -v csv=1 -f mcu/tools/svmlight.awk > $@.tmp && mv $@.tmp $@

MCU_TEST_letter = tests/data/letter.test.csv.gz
MCU_TEST_letter_small = $(MCU_B)/data/letter_small.test.csv
MCU_TEST_digits2 = tests/data/digits.test.csv.gz
MCU_TEST_digits45 = tests/data/digits.test.csv.gz
MCU_TEST_digits2s = $(MCU_B)/data/digits2s.test.csv
define mcu_dataset
$(MCU_B)/data/$(1).g2t: MCU_ALGO = asgd
$(MCU_B)/data/$(1).fixed.g2t: MCU_ALGO = fixed
$(MCU_B)/data/$(1).g2t $(MCU_B)/data/$(1).fixed.g2t: $(BIN)/g2t-split $(MCU_SRC_$(1))
	@mkdir -p $$(@D)
	gzip -dc $(MCU_SRC_$(1)) $(MCU_ROWS_$(1)) | \
	  $(MCU_SPLIT) --algo $$(MCU_ALGO) $(MCU_CLASSES_$(1)) > $$@.tmp && mv $$@.tmp $$@
$(MCU_B)/data/$(1).h: $(MCU_B)/data/$(1).g2t $(MCU_B)/data/$(1).fixed.g2t $(MCU_TEST_$(1)) \
		$(MCU_B)/mcu-tool
	$(MCU_B)/mcu-tool header $(1) $(MCU_B)/data/$(1).g2t $(MCU_B)/data/$(1).fixed.g2t \
	  $(MCU_TEST_$(1)) > $$@.tmp && mv $$@.tmp $$@
endef
$(foreach d,$(MCU_DATASETS),$(eval $(call mcu_dataset,$(d))))

# g2t-train's WEIGHTS records, for the firmware's "block all" jobs
$(MCU_B)/data/%.train.w: $(MCU_B)/data/%.g2t $(BIN)/g2t-train $(MCU_B)/mcu-tool
	$(BIN)/g2t-train -o $(MCU_B)/data/$*.train.g2t $<
	$(MCU_B)/mcu-tool weights $(MCU_B)/data/$*.train.g2t > $@.tmp && mv $@.tmp $@

# the host helper needs the core and zlib, not the hosted library
$(MCU_B)/mcu-tool: mcu/tools/mcu-tool.c $(CORE_SRC) lib/core/g2t_core.h
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -O2 $(MCU_WARN) -ffp-contract=off -Ilib/core \
	  -o $@ $(filter %.c,$^) -lz

$(MCU_B)/avr-serial: mcu/sim/avr-serial.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -o $@ $< -lsimavr

$(MCU_B)/avr-run: mcu/sim/avr-run.c
	@mkdir -p $(@D)
	$(CC) -std=c11 -D_POSIX_C_SOURCE=200809L -O2 -Wall -Wextra -o $@ $< -lsimavr

# ---- the Arduino library (mcu/arduino/G2T) ---------------------------------
# make arduino: the library, ready to install, in $(ARDUINO_LIB): the
# folder mcu/arduino/G2T with copies of the core, the protocol and the
# device made at every build (lib.sh), and its example sketch built for
# the Uno by Debian's arduino-builder into $(MCU_B)/arduino/G2TDevice.hex.
# Debian 12's arduino-core-avr uses DECIMAL_DIG in C++ (WString.cpp), which
# avr-gcc 5.4's float.h defines for C only: 9 digits, float32's.
ARDUINO_LIB = $(MCU_B)/arduino/libraries/G2T
ARDUINO_COPY = $(CORE_SRC) lib/core/g2t_core.h lib/core/g2t_link.h mcu/src/device.c \
	mcu/src/crc32.c mcu/src/crc32.h mcu/src/plat.h mcu/cfg/least.h
ARDUINO_BUILDER = arduino-builder -hardware /usr/share/arduino-builder \
	-hardware /usr/share/arduino/hardware -tools /usr/share/arduino-builder \
	-prefs=compiler.cpp.extra_flags=-DDECIMAL_DIG=9 -warnings all

$(ARDUINO_LIB)/library.properties: mcu/arduino/lib.sh $(ARDUINO_COPY) \
		$(shell find mcu/arduino/G2T -type f 2>/dev/null)
	mcu/arduino/lib.sh $(ARDUINO_LIB) $(ARDUINO_COPY)

$(MCU_B)/arduino/G2TDevice.hex: $(ARDUINO_LIB)/library.properties
	@mkdir -p $(MCU_B)/arduino/uno
	$(ARDUINO_BUILDER) -fqbn arduino:avr:uno -libraries $(MCU_B)/arduino/libraries \
	  -build-path $(CURDIR)/$(MCU_B)/arduino/uno \
	  -compile $(ARDUINO_LIB)/examples/G2TDevice/G2TDevice.ino > $(MCU_B)/arduino/uno.log 2>&1 || \
	  { cat $(MCU_B)/arduino/uno.log; exit 1; }
	! grep -E -n '(G2T/src/|lib/core/|mcu/src/).*warning' $(MCU_B)/arduino/uno.log
	cp $(MCU_B)/arduino/uno/G2TDevice.ino.hex $@

# and for the Mega (ATmega2560: 64 features, 2 KB for rows)
$(MCU_B)/arduino/G2TDevice-mega.hex: $(ARDUINO_LIB)/library.properties
	@mkdir -p $(MCU_B)/arduino/mega
	$(ARDUINO_BUILDER) -fqbn arduino:avr:mega:cpu=atmega2560 -libraries $(MCU_B)/arduino/libraries \
	  -build-path $(CURDIR)/$(MCU_B)/arduino/mega \
	  -compile $(ARDUINO_LIB)/examples/G2TDevice/G2TDevice.ino > $(MCU_B)/arduino/mega.log 2>&1 || \
	  { cat $(MCU_B)/arduino/mega.log; exit 1; }
	cp $(MCU_B)/arduino/mega/G2TDevice.ino.hex $@

.PHONY: arduino
arduino: $(MCU_B)/arduino/G2TDevice.hex $(MCU_B)/arduino/G2TDevice-mega.hex

# ---- entry points ------------------------------------------------------------
mcu-build: $(MCU_TARGETS:%=$(MCU_B)/%/fw.elf) $(MCU_DEVICES:%=$(MCU_B)/%/dev.elf) \
	$(MCU_TARGETS:%=$(MCU_B)/%/core-train.elf) \
	$(MCU_TARGETS:%=$(MCU_B)/%/core-predict.elf) $(MCU_TARGETS:%=$(MCU_B)/%/empty.elf)

mcu-host: $(MCU_B)/arduino/G2TDevice.hex $(MCU_B)/arduino/G2TDevice-mega.hex $(BIN)/g2t-serve $(BIN)/g2t-device $(BIN)/g2t-fetch \
	$(BIN)/g2t-pack $(BIN)/g2t-serial $(BIN)/g2t-split $(BIN)/g2t-train $(MCU_TARGETS:%=$(MCU_B)/%/twin) $(MCU_B)/avr-run $(MCU_B)/avr-serial \
	$(MCU_B)/dev-host $(BUILD)/tools/serial-relay \
	$(MCU_DATASETS:%=$(MCU_B)/data/%.train.w) \
	$(filter-out %/digits2s.fixed.train.w,$(MCU_DATASETS:%=$(MCU_B)/data/%.fixed.train.w)) \
	$(BIN)/g2t-merge $(BIN)/g2t-predict

mcu: deps-mcu
	@$(MAKE) --no-print-directory mcu-build
	@mcu/size.sh $(MCU_B) $(MCU_TARGETS)

check-mcu: deps-mcu
	@$(MAKE) --no-print-directory mcu-build mcu-host
	@mcu/size.sh $(MCU_B) $(MCU_TARGETS) > $(MCU_B)/sizes.txt
	@for t in m0 m3 m4f avr avr-damage mega arduino arduino-mega; do BUILD=$(BUILD) G2T_BIN=$(BIN) tests/serial.sh $$t > $(MCU_B)/serial-$$t.log 2>&1 || \
	  { cat $(MCU_B)/serial-$$t.log; echo "check-mcu: the serial device on $$t failed"; exit 1; }; \
	  echo "serial device $$t (QEMU, simavr): WEIGHTS identical to g2t-train's"; \
	  grep -E '^(task|avr-serial)' $(MCU_B)/serial-$$t.log; done
	@echo "serial device firmware (flash: text + data; static RAM: data + bss):"
	@arm-none-eabi-size $(MCU_B)/cortex-m3/dev.elf $(MCU_B)/cortex-m4f/dev.elf
	@avr-size $(MCU_B)/atmega328p/dev.elf
	@mcu/arduino/sizes.sh $(MCU_B)
	@echo
	@BUILD=$(BUILD) G2T_BIN=$(BIN) tests/serial-run.sh > $(MCU_B)/serial-run.log 2>&1 || \
	  { cat $(MCU_B)/serial-run.log; echo "check-mcu: the run with microcontrollers failed"; exit 1; }
	@cat $(MCU_B)/serial-run.log
	@echo
	@mcu/check.sh $(MCU_B) $(MCU_TARGETS)
