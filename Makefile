# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# phasetrace: `make` builds build/phasetrace; `make test` runs every test;
# `make run` traces the whole host. `make V=1` shows the commands.

.DELETE_ON_ERROR:
.SUFFIXES:

OUT       := build
BPFTOOL   ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
CLANG     ?= clang
CC        ?= cc
ARCH      := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

# Debian packages the build, the tests and `make run` need (see docs/architecture.md).
DEB_BUILD := make clang llvm libbpf-dev libelf-dev zlib1g-dev libcapstone-dev libdw-dev \
	     libmicrohttpd-dev libncurses-dev pkg-config libnghttp2-dev \
	     protobuf-c-compiler libprotobuf-c-dev opentelemetry-proto libcurl4-openssl-dev
DEB_TOOLS := bpftool
# Go toolchains from bookworm-backports (tools/deps adds the suite) and, newer than it has,
# from trixie(-backports) (tools/deps fetches them with an apt state of its own): the Go
# tests run on each
DEB_GO    := golang-go golang-1.21-go golang-1.22-go golang-1.23-go golang-1.24-go \
	     golang-1.25-go golang-1.26-go golang-1.27-go binutils
DEB_TEST  := libcmocka-dev libssl-dev libgnutls28-dev python3 curl wget openssl $(DEB_GO) \
	     prometheus nginx-light tmux wrk iproute2 iptables systemtap-sdt-dev util-linux \
	     libclang-rt-14-dev python3-yaml systemd man-db groff-base \
	     python3-opentelemetry-proto nghttp2-client python3-websockets tinyproxy-bin faketime \
	     openjdk-17-jdk-headless

ifeq ($(V),1)
Q :=
msg :=
else
Q := @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers \
	    -Wno-format-truncation
PKGS     := libbpf libelf zlib libdw capstone libmicrohttpd ncursesw libprotobuf-c libcurl \
	    libnghttp2
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
USER_CFLAGS = $(CFLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -MMD -MP \
	      -Iinclude -Iuser -I$(OUT) -I$(OUT)/pb $(PKG_CFLAGS)
USER_LIBS   = $(PKG_LIBS) -lpthread -lm

BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	      -Wno-unused-function -Iinclude -Ibpf -I$(OUT) -MMD -MP \
	      -idirafter /usr/include/$(shell uname -m)-linux-gnu

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OUT)/bpf/%.bpf.o,$(BPF_SRCS))
# user/ by stage: attach/ (BPF object, probes on binaries), collect/ (ring buffer,
# event loop), assemble/ (records -> requests), output/ (trace, top), export/
# (metrics, /metrics), util/. Headers are included as "stage/name.h".
USER_DIRS := attach collect assemble output export util diagnose
USER_SRCS := $(foreach d,$(USER_DIRS),$(wildcard user/$(d)/*.c))
USER_OBJS := $(patsubst user/%.c,$(OUT)/user/%.o,$(USER_SRCS))
# OTLP (export/otlp*.c): protobuf-c code generated from Debian's official OpenTelemetry
# proto files (package opentelemetry-proto) into build/pb/, never hand-encoded.
OTLP_PROTO_DIR ?= /usr/include
OTLP_PROTOS := opentelemetry/proto/common/v1/common.proto \
	       opentelemetry/proto/resource/v1/resource.proto \
	       opentelemetry/proto/trace/v1/trace.proto \
	       opentelemetry/proto/collector/trace/v1/trace_service.proto
OTLP_PB_OBJS := $(patsubst %.proto,$(OUT)/pb/%.pb-c.o,$(OTLP_PROTOS))
USER_OBJS += $(OTLP_PB_OBJS)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(patsubst tests/unit/%.c,$(OUT)/tests/%,$(UNIT_SRCS))
FIXTURE_SRCS := $(filter-out %.bpf.c,$(wildcard tests/fixtures/*.c))
FIXTURE_BINS := $(patsubst tests/fixtures/%.c,$(OUT)/fixtures/%,$(FIXTURE_SRCS))
# python3 fixtures (stdlib only), copied next to the C ones under their name without .py
FIXTURE_PY   := $(wildcard tests/fixtures/*.py)
FIXTURE_BINS += $(patsubst tests/fixtures/%.py,$(OUT)/fixtures/%,$(FIXTURE_PY))

.PHONY: all deps run test unit integration fixtures go-fixtures bench clean fuzz fuzz-run \
	fuzz-seeds install
all: $(OUT)/phasetrace

deps:
	$(Q)tools/deps $(DEB_BUILD) $(DEB_TOOLS) $(if $(filter test,$(MAKECMDGOALS)),$(DEB_TEST))

$(OUT) $(OUT)/bpf $(OUT)/tests $(OUT)/fixtures $(OUT)/tools $(OUT)/user $(OUT)/fuzz \
$(addprefix $(OUT)/user/,$(USER_DIRS)):
	$(Q)mkdir -p $@

$(OUT)/vmlinux.h: | $(OUT)
	$(call msg,GEN,$@)
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(OUT)/bpf/%.bpf.o: bpf/%.bpf.c $(OUT)/vmlinux.h | $(OUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

# maps.bpf.o first: it defines every map and tunable the others declare extern
# (bpftool 7.1's linker leaves a map's offset at 0 if an extern comes first).
$(OUT)/phasetrace.bpf.o: $(OUT)/bpf/maps.bpf.o $(filter-out $(OUT)/bpf/maps.bpf.o,$(BPF_OBJS))
	$(call msg,LINK,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(OUT)/phasetrace.skel.h: $(OUT)/phasetrace.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name phasetrace_bpf > $@

$(USER_OBJS) $(OUT)/user/main.o: $(OUT)/phasetrace.skel.h
$(OUT)/user/%.o: user/%.c | $(OUT)/user $(addprefix $(OUT)/user/,$(USER_DIRS))
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) -c $< -o $@

# protoc-c writes all files in one run; the stamp stands for them
$(OUT)/pb/.generated: $(addprefix $(OTLP_PROTO_DIR)/,$(OTLP_PROTOS))
	$(call msg,PROTOC,$(OUT)/pb)
	$(Q)mkdir -p $(OUT)/pb
	$(Q)protoc-c --proto_path=$(OTLP_PROTO_DIR) --c_out=$(OUT)/pb $(OTLP_PROTOS)
	$(Q)touch $@

$(OTLP_PB_OBJS:.o=.c): $(OUT)/pb/.generated
$(OUT)/user/export/otlp.o $(OUT)/user/export/otlp_encode.o: $(OUT)/pb/.generated
$(OUT)/pb/%.pb-c.o: $(OUT)/pb/%.pb-c.c
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Wall -Werror -I$(OUT)/pb $(PKG_CFLAGS) -c $< -o $@

$(OUT)/phasetrace: $(OUT)/user/main.o $(USER_OBJS)
	$(call msg,LD,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(USER_LIBS) -o $@

# Unit tests link the collector's modules (no BPF, no root) with cmocka.
$(OUT)/tests/%: tests/unit/%.c $(USER_OBJS) | $(OUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) $< $(USER_OBJS) $(USER_LIBS) -lcmocka -o $@

# The collector without BPF: synthetic records through the assembler and JSON output.
$(OUT)/tools/collector_bench: tools/collector_bench.c $(USER_OBJS) | $(OUT)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) $< $(USER_OBJS) $(USER_LIBS) -o $@

# tools/bench -z: empty programs on the socket tracepoints, and the work floor (-w): the
# floors under the tracer.
$(OUT)/tools/hook_floor.bpf.o: tools/hook_floor.bpf.c $(OUT)/vmlinux.h | $(OUT)/tools
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/tools/hook_floor.skel.h: $(OUT)/tools/hook_floor.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name hook_floor_bpf > $@

$(OUT)/tools/hook_floor: tools/hook_floor.c $(OUT)/tools/hook_floor.skel.h $(USER_OBJS) | $(OUT)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) -I$(OUT)/tools $< $(USER_OBJS) $(USER_LIBS) -o $@

# Samples of perf placed in a loaded BPF program's JIT code, by source line (docs/architecture.md).
$(OUT)/tools/jit_annotate: tools/jit_annotate.c | $(OUT)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(USER_CFLAGS) $< $(USER_LIBS) -o $@

# Fixtures: each tests/fixtures/X.c is one program; libraries per fixture below.
FIXTURE_CFLAGS := -O1 -g -Wall -Wextra -Werror -Wno-unused-parameter -D_GNU_SOURCE \
		  -Itests/fixtures
FIXTURE_LIBS := -lssl -lcrypto -lgnutls -lpthread
$(OUT)/fixtures/%: tests/fixtures/%.c $(wildcard tests/fixtures/*.h) | $(OUT)/fixtures
	$(call msg,CC,$@)
	$(Q)$(CC) $(FIXTURE_CFLAGS) $< $(FIXTURE_LIBS) -lm -o $@

# sockmap_pair loads its own BPF programs (a sockmap): a skeleton, and libbpf.
$(OUT)/fixtures/sockmap_pair.bpf.o: tests/fixtures/sockmap_pair.bpf.c $(OUT)/vmlinux.h | $(OUT)/fixtures
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUT)/fixtures/sockmap_pair.skel.h: $(OUT)/fixtures/sockmap_pair.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name sockmap_pair_bpf > $@

$(OUT)/fixtures/sockmap_pair: tests/fixtures/sockmap_pair.c tests/fixtures/fixture.h \
			      $(OUT)/fixtures/sockmap_pair.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) $(FIXTURE_CFLAGS) -I$(OUT)/fixtures $< $(shell pkg-config --libs libbpf) -o $@

$(OUT)/fixtures/%: tests/fixtures/%.py | $(OUT)/fixtures
	$(call msg,INSTALL,$@)
	$(Q)install -m 0755 $< $@

# Go fixtures, once per installed toolchain (exit 77: no Go here, the Go tests skip)
GO_FIXTURE_SRCS := $(wildcard tests/fixtures/go/*/*.go tests/fixtures/go/*/go.mod) \
		   tests/fixtures/go/build.sh
$(OUT)/fixtures/go/.built: $(GO_FIXTURE_SRCS) | $(OUT)/fixtures
	$(call msg,GO,$(OUT)/fixtures/go)
	$(Q)tests/fixtures/go/build.sh $(OUT)/fixtures/go >/dev/null || [ $$? = 77 ]
	$(Q)touch $@

fixtures: $(FIXTURE_BINS) $(OUT)/fixtures/go/.built

# tests/unit/test_go_binary.c's version matrix reads them (build/fixtures/go/go1.N/)
go-fixtures: $(OUT)/fixtures/go/.built

# libFuzzer targets: each tests/fuzz/fuzz_X.c is one, linked with the modules in
# FUZZ_DEPS_fuzz_X, all built with ASan and UBSan (docs/fuzzing.md).
FUZZ_CC     := clang
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	       -std=gnu11 -D_GNU_SOURCE -Iinclude -Iuser -Itests/unit -Itests/fuzz -I$(OUT) \
	       $(shell pkg-config --cflags libelf libdw capstone 2>/dev/null)
FUZZ_LIBS   := $(shell pkg-config --libs libelf libdw capstone libnghttp2 2>/dev/null)
FUZZ_SRCS   := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(patsubst tests/fuzz/%.c,$(OUT)/fuzz/%,$(FUZZ_SRCS))
GO_ANALYSIS := user/attach/binary.c user/attach/go_binary.c user/attach/go_dwarf.c \
	       user/attach/go_offsets.c user/attach/go_version.c
FUZZ_DEPS_fuzz_elf_syms  := user/attach/binary.c
FUZZ_DEPS_fuzz_go_tables := $(GO_ANALYSIS)
FUZZ_DEPS_fuzz_dwarf     := user/attach/binary.c user/attach/go_dwarf.c
# the kernel-side HTTP line parser, built as plain C (tests/fuzz/bpf_shim.h)
FUZZ_DEPS_fuzz_http      := bpf/http.bpf.c
FUZZ_DEPS_fuzz_container := user/assemble/container.c
# HTTP/2 stream assembly and HPACK (nghttp2) on frame records as BPF sends them
FUZZ_DEPS_fuzz_h2        := user/assemble/h2.c user/util/u64map.c

.SECONDEXPANSION:
$(OUT)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_common.h tests/fuzz/fuzz_check.h $$(FUZZ_DEPS_$$*) | $(OUT)/fuzz
	$(call msg,FUZZ,$@)
	$(Q)$(FUZZ_CC) $(FUZZ_CFLAGS) $< $(FUZZ_DEPS_$*) $(FUZZ_LIBS) -o $@

$(OUT)/fuzz/mkseeds: tests/fuzz/mkseeds.c tests/unit/synth_go.h | $(OUT)/fuzz
	$(call msg,CC,$@)
	$(Q)$(CC) -O1 -Wall -Werror -Itests/unit $< -o $@

# The seed corpus (tests/fuzz/corpus/fuzz_X/, committed) is made from sources here and kept
# small on purpose: libFuzzer's max_len follows the largest seed. `make fuzz-seeds` remakes it.
SEEDS := tests/fuzz/corpus
fuzz-seeds: $(OUT)/fuzz/mkseeds tests/fuzz/seed_syms.c tests/fuzz/seed_dwarf.c
	$(call msg,SEEDS,$(SEEDS))
	$(Q)mkdir -p $(addprefix $(SEEDS)/,fuzz_elf_syms fuzz_go_tables fuzz_dwarf)
	$(Q)$(OUT)/fuzz/mkseeds $(SEEDS)/fuzz_go_tables
	$(Q)printf 'V0 { };\nV1 { global: *; } V0;\n' > $(OUT)/fuzz/seed_syms.map
	$(Q)$(CC) -O1 -shared -fPIC -Wl,--version-script=$(OUT)/fuzz/seed_syms.map \
		tests/fuzz/seed_syms.c -o $(SEEDS)/fuzz_elf_syms/seed_syms.so
	$(Q)$(CC) -O0 -g -gz=none tests/fuzz/seed_dwarf.c -o $(SEEDS)/fuzz_dwarf/plain
	$(Q)$(CC) -O0 -g -gz=zlib tests/fuzz/seed_dwarf.c -o $(SEEDS)/fuzz_dwarf/zlib

fuzz: $(FUZZ_BINS)

# A short run of every target (PT_FUZZ_SECONDS each, default 5): what `make test` does.
fuzz-run: fuzz
	$(Q)tests/run-fuzz

unit: $(UNIT_BINS) go-fixtures
	$(Q)tests/run-unit $(UNIT_BINS)

integration: all fixtures $(OUT)/tools/jit_annotate $(OUT)/tools/hook_floor
	$(Q)tests/integration/run

# Everything: installs what is missing, builds, runs unit and integration tests.
test: deps
	$(Q)$(MAKE) --no-print-directory all fixtures go-fixtures $(UNIT_BINS) fuzz \
		$(OUT)/tools/jit_annotate $(OUT)/tools/hook_floor
	$(Q)tests/run-all

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(OUT)/phasetrace trace

bench: all fixtures $(OUT)/tools/collector_bench $(OUT)/tools/hook_floor $(OUT)/tools/jit_annotate
	$(Q)tools/bench

# `make install [PREFIX=/usr/local] [DESTDIR=]`: the binary, phasetrace(8) and the systemd
# unit, whose ExecStart names the installed binary (deploy/systemd, docs/deploy.md).
PREFIX    ?= /usr/local
SBINDIR   ?= $(PREFIX)/sbin
MANDIR    ?= $(PREFIX)/share/man
UNITDIR   ?= $(PREFIX)/lib/systemd/system
install: $(OUT)/phasetrace
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -D -m 0755 $(OUT)/phasetrace $(DESTDIR)$(SBINDIR)/phasetrace
	$(Q)install -D -m 0644 docs/phasetrace.8 $(DESTDIR)$(MANDIR)/man8/phasetrace.8
	$(Q)install -d $(DESTDIR)$(UNITDIR)
	$(Q)sed 's|@SBINDIR@|$(SBINDIR)|g' deploy/systemd/phasetrace.service \
		> $(DESTDIR)$(UNITDIR)/phasetrace.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/phasetrace.service

clean:
	$(Q)rm -rf $(OUT)

-include $(wildcard $(OUT)/bpf/*.d $(OUT)/user/*.d $(OUT)/user/*/*.d $(OUT)/tools/*.d \
		    $(OUT)/tests/*.d)
