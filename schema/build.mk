# schema/ — the PostgreSQL schema (migrations applied by dpn-mgmtd migrate)
# and its SQL-level tests against a real PostgreSQL.
CHECKS += $(sort $(wildcard tests/integration/test_schema*.py tests/integration/test_broker*.py))
