# mgmtd/ — the management server: REST/JSON API, broker endpoints, web admin
# files, schema migrations. Every mgmtd/*.c is part of the program, so a new
# resource file (mgmtd/api_*.c) needs no change here; list its routes in
# mgmtd/routes.c.
MGMTD_PKGS   := libmicrohttpd json-c libpq libcrypto
MGMTD_CFLAGS := $(shell pkg-config --cflags $(MGMTD_PKGS)) \
                -DDPN_SCHEMA_DIR='"$(PREFIX)/share/dpn/schema"' \
                -DDPN_WEB_DIR='"$(PREFIX)/share/dpn/web"'
MGMTD_LIBS   := $(shell pkg-config --libs $(MGMTD_PKGS)) -lcrypt -lpthread
MGMTD_SRCS   := $(sort $(wildcard mgmtd/*.c))
MGMTD_OBJS   := $(MGMTD_SRCS:%.c=$(B)/%.o)

BINS    += $(B)/bin/dpn-mgmtd
INSTALLS += install-mgmtd

$(MGMTD_OBJS): DPN_CFLAGS += $(MGMTD_CFLAGS)

$(B)/bin/dpn-mgmtd: $(MGMTD_OBJS) $(B)/libdpn.a
	@mkdir -p $(@D)
	$(CC) $(DPN_LDFLAGS) $(MGMTD_OBJS) $(B)/libdpn.a $(MGMTD_LIBS) $(LIB_LDLIBS) -o $@

# The schema migrations and the man page go with the program.
install-mgmtd:
	install -d $(DESTDIR)$(PREFIX)/share/dpn/schema $(DESTDIR)$(PREFIX)/share/man/man8
	$(if $(wildcard schema/*.sql),install -m 0644 $(wildcard schema/*.sql) $(DESTDIR)$(PREFIX)/share/dpn/schema/)
	install -m 0644 mgmtd/dpn-mgmtd.8 $(DESTDIR)$(PREFIX)/share/man/man8/

CHECKS += $(sort $(wildcard tests/integration/test_mgmtd_*.py))
CHECKS += $(sort $(wildcard tests/integration/test_api_*.py))

.PHONY: install-mgmtd

# The broker load generator of bench/mgmtd_bench (not installed).
$(B)/bench/mgmtd_load: $(B)/bench/mgmtd_load.o
	$(CC) $(DPN_LDFLAGS) $< -o $@
TEST_DEPS += $(B)/bench/mgmtd_load

# Unit test of the strict JSON decoding: json.c and answer.c link on their
# own (no server).
UNIT_TESTS += $(B)/tests/unit/test_mgmtd_json
UNIT_LDLIBS_mgmtd_json := $(B)/mgmtd/json.o $(B)/mgmtd/answer.o $(B)/libdpn.a $(MGMTD_LIBS)
$(B)/tests/unit/test_mgmtd_json: $(B)/mgmtd/json.o $(B)/mgmtd/answer.o
$(B)/tests/unit/test_mgmtd_json.o: DPN_CFLAGS += $(MGMTD_CFLAGS)

# Unit test of the path router over a route table of its own.
UNIT_TESTS += $(B)/tests/unit/test_mgmtd_router
UNIT_LDLIBS_mgmtd_router := $(B)/mgmtd/router.o $(B)/libdpn.a $(MGMTD_LIBS)
$(B)/tests/unit/test_mgmtd_router: $(B)/mgmtd/router.o
$(B)/tests/unit/test_mgmtd_router.o: DPN_CFLAGS += $(MGMTD_CFLAGS)

# Unit test of reading Kea's subnets from a config-get answer (the lease-
# deletion drain takes only those): whole, truncated, garbage, oversized.
UNIT_TESTS += $(B)/tests/unit/test_mgmtd_kea_subnets
UNIT_LDLIBS_mgmtd_kea_subnets := $(B)/mgmtd/kea_subnets.o $(MGMTD_LIBS)
$(B)/tests/unit/test_mgmtd_kea_subnets: $(B)/mgmtd/kea_subnets.o
$(B)/tests/unit/test_mgmtd_kea_subnets.o: DPN_CFLAGS += $(MGMTD_CFLAGS)
