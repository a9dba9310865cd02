# gatewayd/ — dpn-gatewayd, the daemon in every flat: no database client;
# libcurl (to mgmtd) and json-c besides libdpn.
GATEWAYD_PKGS := libcurl json-c libcrypto
GATEWAYD_CFLAGS := $(shell pkg-config --cflags $(GATEWAYD_PKGS))
GATEWAYD_LIBS := $(shell pkg-config --libs $(GATEWAYD_PKGS))
GATEWAYD_SRCS := $(sort $(wildcard gatewayd/*.c))
GATEWAYD_OBJS := $(GATEWAYD_SRCS:%.c=$(B)/%.o)

BINS += $(B)/bin/dpn-gatewayd

$(GATEWAYD_OBJS): DPN_CFLAGS += $(GATEWAYD_CFLAGS)

$(B)/bin/dpn-gatewayd: $(GATEWAYD_OBJS) $(B)/libdpn.a
	@mkdir -p $(@D)
	$(call say,LD,$@)
	$(CC) $(DPN_LDFLAGS) $(GATEWAYD_OBJS) $(B)/libdpn.a $(GATEWAYD_LIBS) $(LIB_LDLIBS) -o $@

CHECKS += $(sort $(wildcard tests/integration/test_gatewayd*.py))

# make install: the man page, an example config and the systemd unit (its
# paths filled in for PREFIX), all under DESTDIR/PREFIX.
INSTALLS += install-gatewayd

install-gatewayd:
	install -d $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/dpn/examples \
	  $(DESTDIR)$(PREFIX)/lib/systemd/system
	install -m 0644 gatewayd/dpn-gatewayd.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 gatewayd/gatewayd.conf.example $(DESTDIR)$(PREFIX)/share/dpn/examples/gatewayd.conf
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' gatewayd/dpn-gatewayd.service.in \
	  > $(DESTDIR)$(PREFIX)/lib/systemd/system/dpn-gatewayd.service
	chmod 0644 $(DESTDIR)$(PREFIX)/lib/systemd/system/dpn-gatewayd.service

.PHONY: install-gatewayd
