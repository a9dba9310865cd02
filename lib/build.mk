# lib/ — code shared by the daemons. Submodules (lib/sip/, ...) have their own
# build.mk and append to LIB_SRCS too.
LIB_SRCS += lib/log.c lib/numplan.c lib/addr.c
UNIT_TESTS += $(B)/tests/unit/test_numplan $(B)/tests/unit/test_addr \
              $(B)/tests/unit/test_log
UNIT_LDLIBS_log := -lpthread
