# lib/event — the epoll event loop with timers, archived into libdpn.a.
LIB_SRCS += lib/event/event.c
UNIT_TESTS += $(B)/tests/unit/test_event
