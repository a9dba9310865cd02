# bench/ — load generators in C for the benchmark scripts (not installed).
# The RTP endpoints of bench/gk_media.py's concurrency figure (issue 11).
$(B)/bench/rtp_load: $(B)/bench/rtp_load.o
	$(CC) $(DPN_LDFLAGS) $< -lpthread -o $@
TEST_DEPS += $(B)/bench/rtp_load
CHECKS += tests/integration/test_bench_rtp_load.py
