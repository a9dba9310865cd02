# dpn — one non-recursive Makefile. Each component describes itself in its
# own build.mk (included below), appending to the variables declared here.
#
#   make                 build everything (build/rel)
#   make SANITIZE=1      build with AddressSanitizer + UBSan (build/san)
#   make check           setup, sanitized build, every test
#   make check ONLY=x    only the tests whose path contains x
#   make demo            the suite on loopback;  make call N=NUMBER, make demo-stop
#   make install         honours PREFIX and DESTDIR
#   make V=1             show the compiler commands (quiet by default:
#                        one "CC file" line per compiled file)

PREFIX   ?= /usr/local
DESTDIR  ?=
SANITIZE ?= 0
WERROR   ?= $(if $(CI),1,0)
CC       ?= cc
CXX      ?= c++
CFLAGS   ?= -O2 -g
CXXFLAGS ?= -O2 -g

ifeq ($(SANITIZE),1)
B   := build/san
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer \
       -fno-sanitize-recover=undefined
else
B   := build/rel
SAN :=
endif

V ?= 0
ifneq ($(V),1)
.SILENT:
MAKEFLAGS += --no-print-directory
endif
# say KIND FILE: the one line a quiet build prints per step.
say = $(if $(filter 1,$(V)),,@printf '  %-4s %s\n' $(1) $(2))

WARN := -Wall -Wextra -Wshadow -Wformat=2
ifeq ($(WERROR),1)
WARN += -Werror
endif
DPN_CFLAGS   := -std=c11 -D_GNU_SOURCE -I. -Ilib $(WARN) \
                -Wstrict-prototypes -Wmissing-prototypes $(SAN) $(CFLAGS)
DPN_CXXFLAGS := -std=c++17 -I. -Ilib $(WARN) $(SAN) -fPIC $(CXXFLAGS)
# --as-needed: a program records only the libraries it uses, so one that
# does not pull lib/pg.o or lib/prom_http.o out of libdpn.a (gatewayd, the
# SIP test proxy) loads no libpq or libmicrohttpd.
DPN_LDFLAGS  := $(SAN) -Wl,--as-needed $(LDFLAGS)

# Filled by the build.mk files:
LIB_SRCS    :=   # lib/**.c, archived into $(B)/libdpn.a
LIB_LDLIBS  :=   # what libdpn.a needs at link time
BINS        :=   # programs installed to $(PREFIX)/sbin
UNIT_TESTS  :=   # cmocka binaries, $(B)/tests/unit/test_NAME
CHECKS      :=   # integration test programs (scripts), run after the units
TEST_DEPS   :=   # anything else the tests need built
INSTALLS    :=   # phony targets that install more than BINS (hooks, data)

# libdpn.a, and the same library for shared objects (the Kea hook):
# position-independent and never sanitized, since a host program such as
# kea-dhcp4 has no ASan runtime to load.
LIBDPN     := $(B)/libdpn.a
LIBDPN_PIC := $(B)/pic/libdpn.a

all:

include $(sort $(wildcard */build.mk lib/*/build.mk))

LIB_OBJS := $(LIB_SRCS:%.c=$(B)/%.o)
PIC_CFLAGS := $(filter-out $(SAN),$(DPN_CFLAGS)) -fPIC

all: $(BINS)
tests: all $(UNIT_TESTS) $(TEST_DEPS)

$(LIBDPN): $(LIB_OBJS)
	@mkdir -p $(@D)
	$(call say,AR,$@)
	$(AR) rcs $@ $^

$(LIBDPN_PIC): $(LIB_SRCS:%.c=$(B)/pic/%.o)
	@mkdir -p $(@D)
	$(call say,AR,$@)
	$(AR) rcs $@ $^

$(B)/pic/%.o: %.c
	@mkdir -p $(@D)
	$(call say,PIC,$<)
	$(CC) $(PIC_CFLAGS) -MMD -MP -c $< -o $@

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(call say,CC,$<)
	$(CC) $(DPN_CFLAGS) -MMD -MP -c $< -o $@

$(B)/%.o: %.cc
	@mkdir -p $(@D)
	$(call say,CXX,$<)
	$(CXX) $(DPN_CXXFLAGS) -MMD -MP -c $< -o $@

# A unit test links its own object, the library and cmocka; a module may add
# libraries with UNIT_LDLIBS_<name> (name without the test_ prefix).
$(B)/tests/unit/test_%: $(B)/tests/unit/test_%.o $(LIBDPN)
	$(CC) $(DPN_LDFLAGS) $< $(LIBDPN) -lcmocka $(UNIT_LDLIBS_$*) \
	  $(LIB_LDLIBS) -o $@

check:
	@scripts/setup
	@$(MAKE) --no-print-directory SANITIZE=1 tests
	@tests/run --build build/san --only "$(ONLY)" $(UNIT_TESTS:build/rel/%=build/san/%) $(CHECKS)

demo:
	@scripts/setup
	@$(MAKE) --no-print-directory all
	@scripts/demo start

demo-stop:
	@scripts/demo stop

demo-call:
	@scripts/demo call $(NUMBER)

call:
	@scripts/demo call $(N)

install: all $(INSTALLS)
	install -d $(DESTDIR)$(PREFIX)/sbin
	$(if $(BINS),install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/sbin/)

clean:
	rm -rf build

.PHONY: all tests check demo demo-stop demo-call call install clean
.DELETE_ON_ERROR:
.SECONDARY:
-include $(shell find build -name '*.d' 2>/dev/null)
