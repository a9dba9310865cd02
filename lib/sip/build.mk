# lib/sip — the SIP stack (parser, editor, SDP, digest, transactions,
# transports) archived into libdpn.a.
LIB_SRCS += lib/sip/parse.c lib/sip/uri.c lib/sip/hdr.c lib/sip/check.c lib/sip/proxy.c lib/sip/edit.c lib/sip/build.c lib/sip/sdp.c lib/sip/transport.c lib/sip/tsx.c lib/sip/digest.c
LIB_LDLIBS += -lcrypto
UNIT_TESTS += $(B)/tests/unit/test_sip_rfc4475
UNIT_TESTS += $(B)/tests/unit/test_sip_parse
UNIT_TESTS += $(B)/tests/unit/test_sip_edit
UNIT_TESTS += $(B)/tests/unit/test_sip_transport
UNIT_TESTS += $(B)/tests/unit/test_sip_tsx
UNIT_TESTS += $(B)/tests/unit/test_sip_digest
TEST_DEPS += $(B)/tests/sip/sip-proxy
CHECKS += tests/integration/test_sip_proxy.py

$(B)/tests/sip/sip-proxy: $(B)/tests/sip/proxy.o $(LIBDPN)
	$(CC) $(DPN_LDFLAGS) $< $(LIBDPN) $(LIB_LDLIBS) -o $@
