# lib/sip — the SIP stack (parser, editor, SDP, digest, transactions,
# transports) archived into libdpn.a.
LIB_SRCS += lib/sip/chars.c lib/sip/parse.c lib/sip/uri.c lib/sip/hdr.c lib/sip/check.c lib/sip/proxy.c lib/sip/edit.c lib/sip/build.c lib/sip/sdp.c lib/sip/multipart.c lib/sip/transport.c lib/sip/tsx.c lib/sip/core.c lib/sip/hangup.c lib/sip/digest.c lib/sip/registrar.c
LIB_LDLIBS += -lcrypto
UNIT_TESTS += $(B)/tests/unit/test_sip_rfc4475
UNIT_TESTS += $(B)/tests/unit/test_sip_parse
UNIT_TESTS += $(B)/tests/unit/test_sip_edit
UNIT_TESTS += $(B)/tests/unit/test_sip_multipart
UNIT_TESTS += $(B)/tests/unit/test_sip_transport
UNIT_TESTS += $(B)/tests/unit/test_sip_tsx
UNIT_TESTS += $(B)/tests/unit/test_sip_core
UNIT_TESTS += $(B)/tests/unit/test_sip_digest
UNIT_TESTS += $(B)/tests/unit/test_sip_registrar
TEST_DEPS += $(B)/tests/sip/sip-proxy
CHECKS += tests/integration/test_sip_proxy.py
CHECKS += tests/integration/test_sip_fork.py

$(B)/tests/sip/sip-proxy: $(B)/tests/sip/proxy.o $(B)/libdpn.a
	$(CC) $(DPN_LDFLAGS) $< $(B)/libdpn.a $(LIB_LDLIBS) -o $@

# The parser fuzzer (libFuzzer, clang): its own instrumented build of the
# parsing code. `make fuzz` runs it for FUZZ_SECONDS (default 600) on the
# seed corpus; `make check` runs it for 60 s (tests/integration/
# test_sip_fuzz.sh).
FUZZ_SECONDS ?= 600
SIP_FUZZ := build/fuzz/sip_fuzz_parse
SIP_FUZZ_SRCS := tests/sip/fuzz_parse.c lib/sip/chars.c lib/sip/parse.c lib/sip/uri.c \
	lib/sip/hdr.c lib/sip/check.c lib/sip/edit.c lib/sip/build.c \
	lib/sip/sdp.c lib/sip/multipart.c lib/sip/proxy.c
TEST_DEPS += $(SIP_FUZZ)
CHECKS += tests/integration/test_sip_fuzz.sh

$(SIP_FUZZ): $(SIP_FUZZ_SRCS) $(wildcard lib/sip/*.h)
	@mkdir -p $(@D)
	clang -std=c11 -D_GNU_SOURCE -I. -Ilib -g -O1 $(WARN) \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  $(SIP_FUZZ_SRCS) -o $@

fuzz: $(SIP_FUZZ)
	FUZZ_SECONDS=$(FUZZ_SECONDS) tests/integration/test_sip_fuzz.sh

.PHONY: fuzz

# bench/sip_bench: parse and proxy-rewrite throughput (bench/sip_bench.sh).
$(B)/bench/sip_bench: $(B)/bench/sip_bench.o $(B)/libdpn.a
	$(CC) $(DPN_LDFLAGS) $< $(B)/libdpn.a $(LIB_LDLIBS) -o $@

# The kernel-only relay of bench/sip_vs_kamailio.py's floor (not installed).
$(B)/bench/udp_floor: $(B)/bench/udp_floor.o
	$(CC) $(DPN_LDFLAGS) $< -o $@
TEST_DEPS += $(B)/bench/udp_floor
