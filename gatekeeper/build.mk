# gatekeeper/ — dpn-gatekeeper, the SIP entrance of a complex (registrar for
# flat gateways, number translation from memory, routing, asserted
# identity). Every gatekeeper/*.c is part of the program.
GK_PKGS   := libpq
GK_CFLAGS := $(shell pkg-config --cflags $(GK_PKGS))
GK_LIBS   := $(shell pkg-config --libs $(GK_PKGS)) -lpthread
GK_SRCS   := $(sort $(wildcard gatekeeper/*.c))
GK_OBJS   := $(GK_SRCS:%.c=$(B)/%.o)

BINS += $(B)/bin/dpn-gatekeeper

$(GK_OBJS): DPN_CFLAGS += $(GK_CFLAGS)

$(B)/bin/dpn-gatekeeper: $(GK_OBJS) $(B)/libdpn.a
	@mkdir -p $(@D)
	$(CC) $(DPN_LDFLAGS) $(GK_OBJS) $(B)/libdpn.a $(GK_LIBS) $(LIB_LDLIBS) -o $@

# The flat table and number translation, unit-tested without a database.
UNIT_TESTS += $(B)/tests/unit/test_gk_flats
$(B)/tests/unit/test_gk_flats: $(B)/tests/unit/test_gk_flats.o $(B)/gatekeeper/flats.o $(LIBDPN)
	$(CC) $(DPN_LDFLAGS) $< $(B)/gatekeeper/flats.o $(LIBDPN) -lcmocka $(LIB_LDLIBS) -o $@

# The topology hiding table, unit-tested without sockets: the test defines
# its own gk_now, gk_side_self and gk_side_choose in place of main.c's and
# sides.c's, which are not linked.
UNIT_TESTS += $(B)/tests/unit/test_gk_topo
$(B)/tests/unit/test_gk_topo.o: DPN_CFLAGS += $(GK_CFLAGS)
$(B)/tests/unit/test_gk_topo: $(B)/tests/unit/test_gk_topo.o $(B)/gatekeeper/topo.o $(B)/gatekeeper/media_dlg.o $(LIBDPN)
	$(CC) $(DPN_LDFLAGS) $< $(B)/gatekeeper/topo.o $(B)/gatekeeper/media_dlg.o $(LIBDPN) -lcmocka $(LIB_LDLIBS) -o $@

CHECKS += $(sort $(wildcard tests/integration/test_gatekeeper*.py))

# The outbound route table (prefix match, Call-ID order) and the Call-ID ->
# peer table, without a database.
GK_ROUTES_OBJS := $(B)/gatekeeper/routes.o $(B)/gatekeeper/sessions.o
UNIT_TESTS += $(B)/tests/unit/test_gk_routes
$(B)/tests/unit/test_gk_routes: $(B)/tests/unit/test_gk_routes.o $(GK_ROUTES_OBJS) $(LIBDPN)
	$(CC) $(DPN_LDFLAGS) $< $(GK_ROUTES_OBJS) $(LIBDPN) -lcmocka $(LIB_LDLIBS) -o $@
# The man page, an example config and the systemd unit go with the program.
INSTALLS += install-gatekeeper
install-gatekeeper:
	install -d $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/dpn/examples $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0644 gatekeeper/dpn-gatekeeper.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 gatekeeper/gatekeeper.conf.example $(DESTDIR)$(PREFIX)/share/dpn/examples/gatekeeper.conf
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' gatekeeper/dpn-gatekeeper.service >$(DESTDIR)$(PREFIX)/lib/systemd/system/dpn-gatekeeper.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/dpn-gatekeeper.service
.PHONY: install-gatekeeper

# The guard (flood bans, lockouts, scanners), unit-tested without a network.
UNIT_TESTS += $(B)/tests/unit/test_gk_guard
$(B)/tests/unit/test_gk_guard: $(B)/tests/unit/test_gk_guard.o $(B)/gatekeeper/guard.o $(LIBDPN)
	$(CC) $(DPN_LDFLAGS) $< $(B)/gatekeeper/guard.o $(LIBDPN) -lcmocka $(LIB_LDLIBS) -o $@

# The early dialogs of a late-offer call (media_early.c, RFC 3262).
UNIT_TESTS += $(B)/tests/unit/test_gk_early
$(B)/tests/unit/test_gk_early: $(B)/tests/unit/test_gk_early.o $(B)/gatekeeper/media_early.o $(LIBDPN)
	$(CC) $(DPN_LDFLAGS) $< $(B)/gatekeeper/media_early.o $(LIBDPN) -lcmocka $(LIB_LDLIBS) -o $@
