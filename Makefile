# g2t - train machine-learning models on idle IoT devices.
# make | make check | make demo | make bench | make experiment | make asan | make fuzz | make install

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include

CC ?= cc
CFLAGS ?= -O2 -g
# Project flags come after the user's; -ffp-contract=off keeps results
# bit-identical across platforms.
G2T_CFLAGS = -std=c11 -Wall -Wextra -Wshadow -ffp-contract=off -pthread -Ilib \
	-D_POSIX_C_SOURCE=200809L
ALL_CFLAGS = $(CFLAGS) $(G2T_CFLAGS) $(WERROR)
LDLIBS = -lmicrohttpd -lsqlite3 -lcurl -lsodium -lz -lm -pthread

BUILD ?= build
BIN ?= bin

PROGRAMS = g2t-split g2t-train g2t-merge g2t-predict g2t-pack g2t-fetch g2t-device g2t-serve \
	g2t-serial
CORE_SRC = lib/core/record.c lib/core/math.c lib/core/predict.c lib/core/order.c lib/core/train.c \
	lib/core/fixed.c lib/core/dcd.c lib/core/link.c
LIB_SRC = lib/util.c lib/stream.c lib/schema.c lib/text.c lib/split.c lib/packet.c lib/keys.c lib/spool.c lib/send.c lib/fetch.c lib/device.c lib/store.c lib/serve.c \
	lib/trainer.c lib/merge.c lib/model.c lib/prob.c lib/cli.c lib/serial.c
UNIT_SRC = $(wildcard tests/unit/*.c)
MANPAGES = $(wildcard man/*.[13578])

CORE_OBJ = $(CORE_SRC:%.c=$(BUILD)/%.o)
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o)
LIBG2T = $(BUILD)/libg2t.a
BINS = $(PROGRAMS:%=$(BIN)/%)
UNITS = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOLS = $(patsubst tests/tools/%.c,$(BUILD)/tools/%,$(wildcard tests/tools/*.c))
BENCHES = $(patsubst tests/bench/%.c,$(BUILD)/bench/%,$(wildcard tests/bench/*.c))

.PHONY: shared all check demo bench experiment asan fuzz install uninstall clean core-check deps-%
.SUFFIXES:

all: $(BINS)

# Rebuild everything when the flags change (e.g. -Werror for make check).
$(BUILD)/flags: FORCE
	@mkdir -p $(@D)
	@echo '$(CC) $(ALL_CFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS)' > $@
FORCE:

$(BUILD)/%.o: %.c lib/g2t.h lib/core/g2t_core.h lib/cli.h $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIBG2T): $(CORE_OBJ) $(LIB_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

# Shared libraries from position-independent objects of their own: libg2t.so
# (everything) and libg2t-predict.so (models, rows, records, prediction: no
# microhttpd, SQLite or curl); only g2t_* symbols, versioned (lib/g2t.map).
SOVERSION = 1
PREDICT_SRC = lib/util.c lib/stream.c lib/schema.c lib/text.c lib/model.c lib/prob.c
PIC_OBJ = $(CORE_SRC:%.c=$(BUILD)/pic/%.o) $(LIB_SRC:%.c=$(BUILD)/pic/%.o)
PREDICT_PIC = $(CORE_SRC:%.c=$(BUILD)/pic/%.o) $(PREDICT_SRC:%.c=$(BUILD)/pic/%.o)
LIBSO = $(BUILD)/libg2t.so.$(SOVERSION)
LIBSO_PREDICT = $(BUILD)/libg2t-predict.so.$(SOVERSION)
SO_LDFLAGS = -shared -Wl,--version-script=lib/g2t.map -Wl,--no-undefined

$(BUILD)/pic/%.o: %.c lib/g2t.h lib/core/g2t_core.h lib/cli.h $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -fPIC -c $< -o $@

$(LIBSO): $(PIC_OBJ) lib/g2t.map
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(SO_LDFLAGS) -Wl,-soname,libg2t.so.$(SOVERSION) \
	  -o $@ $(PIC_OBJ) $(LDLIBS)

$(LIBSO_PREDICT): $(PREDICT_PIC) lib/g2t.map
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) $(SO_LDFLAGS) -Wl,-soname,libg2t-predict.so.$(SOVERSION) \
	  -o $@ $(PREDICT_PIC) -lsodium -lz -lm -pthread

shared: $(LIBSO) $(LIBSO_PREDICT)

$(BIN)/%: $(BUILD)/%/main.o $(LIBG2T)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBG2T) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(LIBG2T) $(BUILD)/flags mcu/cfg/least.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBG2T) $(LDLIBS)

# Test tools: a loopback receiver for g2t-pack --send, hostile clients, crafted packets.
$(BUILD)/tools/%: tests/tools/%.c $(LIBG2T) $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBG2T) $(LDLIBS)

$(BUILD)/bench/%: tests/bench/%.c $(LIBG2T) $(BUILD)/flags
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $< $(LIBG2T) $(LDLIBS)

# The core must build freestanding and call nothing outside itself.
core-check:
	@for f in $(CORE_SRC); do \
	  $(CC) -std=c11 -Wall -Wextra -Wdouble-promotion -Werror -ffreestanding \
	    -nostdlib -ffp-contract=off -O2 -c $$f -o $(BUILD)/core-check.o || exit 1; \
	  nm -u $(BUILD)/core-check.o | grep -v ' g2t_' | grep . && \
	    { echo "$$f calls outside the core"; exit 1; }; \
	done; rm -f $(BUILD)/core-check.o; echo "core: freestanding build clean"

deps-%:
	@scripts/deps.sh $*

check: deps-check
	$(MAKE) WERROR=-Werror all units
	@tests/run.sh

units: $(UNITS) $(TOOLS)

demo: deps-demo
	$(MAKE) all
	@scripts/demo.sh

bench: deps-bench
	$(MAKE) all units $(BENCHES)
	@tests/bench/bench.sh
	@tests/bench/textbench.sh
	@tests/bench/pack.sh
	@tests/bench/serve.sh
	@BASELINE=1 tests/stress/attack.sh 2000 20 256

# The paper's claims on a simulated network (root: network namespaces).
experiment: deps-experiment
	$(MAKE) all units
	@tests/net/experiment.sh results

asan: deps-check
	$(MAKE) BUILD=build/asan BIN=build/asan/bin WERROR=-Werror \
	  CFLAGS='-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all' \
	  LDFLAGS='-fsanitize=address,undefined' all units
	@# ASan's shadow memory and quarantine take more than the bound itself
	@FUZZ_SECONDS=0 ATTACK_RSS_MB=1024 G2T_BIN=build/asan/bin G2T_UNITS=build/asan/tests tests/run.sh

FUZZ_SECONDS ?= 60
FUZZ_TARGETS = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
$(BUILD)/fuzz/%: tests/fuzz/%.c $(CORE_SRC) $(LIB_SRC)
	@mkdir -p $(@D)
	clang $(G2T_CFLAGS) -g -O1 -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

fuzz: deps-fuzz $(FUZZ_TARGETS)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(BUILD)/corpus/$${t##*/}; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -max_len=4096 -artifact_prefix=$(BUILD)/fuzz/ \
	    $(BUILD)/corpus/$${t##*/} tests/fuzz/seeds > $$t.log 2>&1; rc=$$?; \
	  echo "$${t##*/}: $$(grep -E '^Done' $$t.log)"; \
	  [ $$rc -eq 0 ] || { tail -n 30 $$t.log; exit 1; }; \
	done

install: all shared
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	  $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(MANDIR)/man7 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(LIBDIR)/pkgconfig \
	  $(DESTDIR)$(INCLUDEDIR)/g2t/core
	install -m 755 $(BINS) $(DESTDIR)$(BINDIR)
	install -m 644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1
	install -m 644 $(wildcard man/*.3) $(DESTDIR)$(MANDIR)/man3
	install -m 644 $(wildcard man/*.5) $(DESTDIR)$(MANDIR)/man5
	install -m 644 $(wildcard man/*.7) $(DESTDIR)$(MANDIR)/man7
	install -m 644 $(wildcard man/*.8) $(DESTDIR)$(MANDIR)/man8
	install -m 644 $(LIBG2T) $(DESTDIR)$(LIBDIR)
	install -m 755 $(LIBSO) $(LIBSO_PREDICT) $(DESTDIR)$(LIBDIR)
	ln -sf libg2t.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libg2t.so
	ln -sf libg2t-predict.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libg2t-predict.so
	install -m 644 lib/g2t.h $(DESTDIR)$(INCLUDEDIR)/g2t
	install -m 644 lib/core/g2t_core.h $(DESTDIR)$(INCLUDEDIR)/g2t/core
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	  -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' g2t.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/g2t.pc
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	  -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' g2t-predict.pc.in \
	  > $(DESTDIR)$(LIBDIR)/pkgconfig/g2t-predict.pc

uninstall:
	rm -f $(PROGRAMS:%=$(DESTDIR)$(BINDIR)/%) $(DESTDIR)$(LIBDIR)/libg2t.a \
	  $(DESTDIR)$(LIBDIR)/libg2t.so* $(DESTDIR)$(LIBDIR)/libg2t-predict.so* \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/g2t.pc $(DESTDIR)$(LIBDIR)/pkgconfig/g2t-predict.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/g2t
	rm -f $(foreach p,$(MANPAGES),$(DESTDIR)$(MANDIR)/man$(subst .,,$(suffix $(p)))/$(notdir $(p)))

clean:
	rm -rf $(BUILD) $(BIN)

-include mcu/mcu.mk
