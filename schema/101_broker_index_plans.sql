-- schema/101_broker_index_plans.sql — the broker's statements keep index
-- plans while its tables grow from nothing (issue 14; figures in
-- docs/bench.md, "Issue 14, third pass").
--
-- PL/pgSQL caches a generic plan per statement and session after five
-- executions. In a cold start (a new building's devices all asking at
-- once, a new deployment) mgmtd's and Kea's sessions make those plans
-- while dpn.handsets, dpn.assignments and Kea's hosts hold a few rows: a
-- sequential scan of one page is then the cheapest plan, and it stays
-- cached while the table grows to thousands of rows until autovacuum's
-- next ANALYZE invalidates it (a minute or more). Measured on 3,000
-- handset requests (pg_stat_statements, one session): the handset lookup
-- by (site, MAC), the first MAC-less handset, the highest suffix and the
-- foreign-key check of each new assignment took 45-61 us each instead of
-- 4-6 us, a fifth of the request.
--
-- Every statement of these functions is a lookup by key or a short index
-- range; none reads a whole table. With enable_seqscan off for the length
-- of a call (nested calls and the triggers they fire inherit it), the
-- plans use the indexes whatever the table's size when they were made; a
-- statement with no usable index would still run, by a sequential scan.
-- Reports and sweeps over whole tables (pool_utilisation,
-- dhcp_gateway_sweep, dhcp_lease_events) keep the planner's choice.

ALTER FUNCTION dpn.broker_allocate(bigint, macaddr, macaddr[], boolean)
    SET enable_seqscan = off;
ALTER FUNCTION dpn.broker_add_handset(bigint, macaddr) SET enable_seqscan = off;
ALTER FUNCTION dpn.broker_enrol(bigint, text, macaddr) SET enable_seqscan = off;
ALTER FUNCTION dpn.broker_delete_handset(bigint, macaddr) SET enable_seqscan = off;
ALTER FUNCTION dpn.broker_delete_gateway(bigint, boolean) SET enable_seqscan = off;
ALTER FUNCTION dpn.broker_report(bigint, jsonb, jsonb) SET enable_seqscan = off;
ALTER FUNCTION dpn.broker_gateway_add_handset(bigint, macaddr) SET enable_seqscan = off;
ALTER FUNCTION dpn.broker_gateway_delete_handset(bigint, macaddr)
    SET enable_seqscan = off;
ALTER FUNCTION dpn.broker_gateway_delete(bigint) SET enable_seqscan = off;
ALTER FUNCTION dpn.broker_gateway_report(bigint, jsonb, jsonb) SET enable_seqscan = off;
ALTER FUNCTION dpn.dhcp_identify(bigint, text, macaddr, boolean) SET enable_seqscan = off;
