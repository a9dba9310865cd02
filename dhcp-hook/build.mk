# dhcp-hook/ — dpn's Kea DHCPv4 hooks library: a C core (ident, queue,
# seen, pg, hostcache, core) that the unit tests link directly, and a thin
# C++ shim (shim.cc, and hostcache_kea.cc: the host cache as Kea sees it).
#
# The shared object is always built WITHOUT sanitizers, even in build/san:
# kea-dhcp4 is not linked with the ASan runtime and could not load it. The
# C core is still checked under ASan/UBSan by tests/unit/test_dhcp_*.
#
#   $(B)/lib/libdpn_dhcp.so     the hook (load it by absolute path in Kea's
#                               "hooks-libraries")
#   make install                copies it to $(DESTDIR)$(KEA_HOOKS_DIR)

KEA_HOOKS_DIR ?= $(PREFIX)/lib/kea/hooks
KEA_INC       ?= /usr/include/kea
DHCP_PQ_CFLAGS := $(shell pkg-config --cflags libpq 2>/dev/null)
DHCP_PQ_LIBS   := $(shell pkg-config --libs libpq 2>/dev/null || echo -lpq)
# Debian's kea-dev 2.2.0 lacks dhcpsrv/cfg_globals.h; fall back on ours.
DHCP_COMPAT   := $(if $(wildcard $(KEA_INC)/dhcpsrv/cfg_globals.h),,-Idhcp-hook/compat)
DHCP_KEA_LIBS := -lkea-dhcpsrv -lkea-dhcp++ -lkea-hooks -lkea-cc \
                 -lkea-asiolink -lkea-log -lkea-util -lkea-exceptions \
                 -lkea-process

DHCP_CORE_SRCS := dhcp-hook/ident.c dhcp-hook/queue.c dhcp-hook/seen.c \
                  dhcp-hook/pg.c dhcp-hook/hostcache.c dhcp-hook/enrol.c \
                  dhcp-hook/core.c
DHCP_CORE_A    := $(B)/dhcp-hook/libdhcpcore.a
DHCP_SO        := $(B)/lib/libdpn_dhcp.so
DHCP_SO_OBJS   := $(DHCP_CORE_SRCS:%.c=$(B)/dhcp-hook/so/%.o) \
                  $(B)/dhcp-hook/so/dhcp-hook/shim.o \
                  $(B)/dhcp-hook/so/dhcp-hook/hostcache_kea.o

# No sanitizer flags here (see above); the project's warnings still apply.
DHCP_SO_CFLAGS   := -std=c11 -D_GNU_SOURCE -I. -Ilib $(WARN) -fPIC \
                    -Wstrict-prototypes -Wmissing-prototypes $(DHCP_PQ_CFLAGS) $(CFLAGS)
DHCP_SO_CXXFLAGS := -std=c++17 -I. -I$(KEA_INC) $(DHCP_COMPAT) $(WARN) -fPIC \
                    -Wno-unused-parameter $(CXXFLAGS)

$(B)/dhcp-hook/%.o: DPN_CFLAGS += $(DHCP_PQ_CFLAGS)

$(DHCP_CORE_A): $(DHCP_CORE_SRCS:%.c=$(B)/%.o)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(B)/dhcp-hook/so/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(DHCP_SO_CFLAGS) -MMD -MP -c $< -o $@

$(B)/dhcp-hook/so/%.o: %.cc
	@mkdir -p $(@D)
	$(CXX) $(DHCP_SO_CXXFLAGS) -MMD -MP -c $< -o $@

# The hook links the shared code of lib/ (addresses, PostgreSQL connections)
# from the position-independent libdpn, never a copy of it.
$(DHCP_SO): $(DHCP_SO_OBJS) $(LIBDPN_PIC)
	@mkdir -p $(@D)
	$(CXX) -shared -Wl,--no-undefined -Wl,-z,defs $(LDFLAGS) $(DHCP_SO_OBJS) \
	  $(LIBDPN_PIC) -o $@ \
	  -L/usr/lib/x86_64-linux-gnu $(DHCP_KEA_LIBS) $(DHCP_PQ_LIBS) -lpthread

all: $(DHCP_SO)
TEST_DEPS += $(DHCP_SO)

UNIT_TESTS += $(B)/tests/unit/test_dhcp_ident $(B)/tests/unit/test_dhcp_core \
              $(B)/tests/unit/test_dhcp_hostcache $(B)/tests/unit/test_dhcp_enrol
$(B)/tests/unit/test_dhcp_ident $(B)/tests/unit/test_dhcp_core \
$(B)/tests/unit/test_dhcp_hostcache $(B)/tests/unit/test_dhcp_enrol: $(DHCP_CORE_A)
UNIT_LDLIBS_dhcp_ident     := $(DHCP_CORE_A) $(LIBDPN) $(DHCP_PQ_LIBS) -lpthread
UNIT_LDLIBS_dhcp_core      := $(DHCP_CORE_A) $(LIBDPN) $(DHCP_PQ_LIBS) -lpthread
UNIT_LDLIBS_dhcp_hostcache := $(DHCP_CORE_A) $(LIBDPN) $(DHCP_PQ_LIBS) -lpthread
UNIT_LDLIBS_dhcp_enrol     := $(DHCP_CORE_A) $(DHCP_PQ_LIBS) -lpthread

CHECKS += $(sort $(wildcard tests/integration/test_dhcp_*.py))

INSTALLS += install-dhcp-hook
# The config generator goes with it: PREFIX/sbin/dpn-kea-config, a link to
# its folder in PREFIX/share/dpn/dhcp-hook (with kea_config.py), where it
# names the installed hook by default.
DHCP_SHARE := $(PREFIX)/share/dpn/dhcp-hook
install-dhcp-hook: $(DHCP_SO)
	install -d $(DESTDIR)$(KEA_HOOKS_DIR) $(DESTDIR)$(DHCP_SHARE) $(DESTDIR)$(PREFIX)/sbin
	install -m 0644 $(DHCP_SO) $(DESTDIR)$(KEA_HOOKS_DIR)/libdpn_dhcp.so
	install -m 0644 dhcp-hook/kea_config.py $(DESTDIR)$(DHCP_SHARE)/kea_config.py
	sed 's|^INSTALLED_HOOK = None$$|INSTALLED_HOOK = "$(KEA_HOOKS_DIR)/libdpn_dhcp.so"|' \
	  dhcp-hook/dpn-kea-config > $(DESTDIR)$(DHCP_SHARE)/dpn-kea-config
	chmod 0755 $(DESTDIR)$(DHCP_SHARE)/dpn-kea-config
	ln -sf ../share/dpn/dhcp-hook/dpn-kea-config $(DESTDIR)$(PREFIX)/sbin/dpn-kea-config
.PHONY: install-dhcp-hook
