# tests/ — checks of the project as a whole (components list their own tests
# in their build.mk).
CHECKS += tests/integration/test_install.sh
CHECKS += tests/integration/test_demo.sh
CHECKS += tests/integration/test_demo_private.sh
CHECKS += tests/integration/test_build_quiet.sh
