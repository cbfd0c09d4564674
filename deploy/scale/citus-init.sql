-- Citus coordinator set-up for the `citus` profile of docker-compose.scale.yml (Citus 12+).
-- Run once on the coordinator, after `tenants migrate` has created the public tables:
--   psql -h 127.0.0.1 -p 5433 -U postgres -d atrium -f deploy/scale/citus-init.sql
-- NOT RUN on the machine where Atrium's benchmarks ran (no Citus there): see docs/scaling.md.
CREATE EXTENSION IF NOT EXISTS citus;
SELECT citus_set_coordinator_host('citus-coordinator', 5432);
SELECT citus_add_node('citus-worker-1', 5432);
SELECT citus_add_node('citus-worker-2', 5432);

-- Every schema created from now on (template clones, spares) becomes a distributed schema:
-- all its tables on one node, placed and moved by the rebalancer.
ALTER DATABASE atrium SET citus.enable_schema_based_sharding TO on;

-- Schemas that existed before (the template, spares, tenants) are distributed explicitly.
SELECT citus_schema_distribute(nspname)
FROM pg_namespace
WHERE nspname NOT IN ('public', 'information_schema', 'citus', 'citus_internal', 'columnar',
                      'columnar_internal')
  AND nspname NOT LIKE 'pg\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_dist_schema s WHERE s.schemaid = pg_namespace.oid);

-- The public (shared) tables become reference tables: a copy on every node, so that a
-- tenant's node can read the tenant and domain rows without a network round trip.
SELECT create_reference_table(format('public.%I', c.relname))
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
  AND NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = c.oid);
