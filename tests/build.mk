# tests/ — checks of the project as a whole (components list their own tests
# in their build.mk).
CHECKS += tests/integration/test_install.sh
CHECKS += tests/integration/test_demo.sh
CHECKS += tests/integration/test_demo_private.sh
CHECKS += tests/integration/test_build_quiet.sh

# issue 13: the whole system in network namespaces (root; docs/system.md).
CHECKS += tests/e2e/test_e2e.py

e2e:
	@scripts/setup
	@$(MAKE) --no-print-directory SANITIZE=1 tests
	@tests/run --build build/san tests/e2e/test_e2e.py

.PHONY: e2e
