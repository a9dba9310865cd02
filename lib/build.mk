# lib/ — code shared by the daemons. Submodules (lib/sip/, ...) have their own
# build.mk and append to LIB_SRCS too.
#
# The daemon skeleton: conf.c (settings table), daemon.c (signals, binding,
# privileges), prom.c + prom_http.c (metrics), pg.c (PostgreSQL connections),
# ncache.c (a cache kept true by LISTEN/NOTIFY), pgbatch.c (a batched
# writer thread behind a hot path), bencode.c + ng.c (the rtpengine ng
# control client).
LIB_PKGS := libmicrohttpd libpq
LIB_SRCS += lib/log.c lib/numplan.c lib/addr.c lib/conf.c lib/daemon.c lib/ncache.c lib/file.c \
            lib/prom.c lib/prom_http.c lib/pg.c lib/pgbatch.c lib/bencode.c lib/ng.c
LIB_LDLIBS += $(shell pkg-config --libs $(LIB_PKGS)) -lpthread
DPN_CFLAGS += $(shell pkg-config --cflags $(LIB_PKGS))
UNIT_TESTS += $(B)/tests/unit/test_numplan $(B)/tests/unit/test_addr \
              $(B)/tests/unit/test_log $(B)/tests/unit/test_conf \
              $(B)/tests/unit/test_prom $(B)/tests/unit/test_daemon \
              $(B)/tests/unit/test_ncache $(B)/tests/unit/test_pg \
              $(B)/tests/unit/test_file $(B)/tests/unit/test_pgbatch \
              $(B)/tests/unit/test_bencode $(B)/tests/unit/test_ng
UNIT_LDLIBS_log := -lpthread

# The smallest daemon on the skeleton, for bench/daemon_mem.sh (not installed).
$(B)/bench/daemon_min: $(B)/bench/daemon_min.o $(LIBDPN)
	$(CC) $(DPN_LDFLAGS) $< $(LIBDPN) $(LIB_LDLIBS) -o $@
TEST_DEPS += $(B)/bench/daemon_min
