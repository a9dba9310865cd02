# gatewayd/ — dpn-gatewayd, the daemon in every flat.
CHECKS += $(sort $(wildcard tests/integration/test_gatewayd*.py))
