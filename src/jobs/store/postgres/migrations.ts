/**
 * Numbered migrations of the PostgreSQL job store (component `jobs` in spacedrive_migrations),
 * applied by migratePostgres under its advisory lock, so that nodes starting together apply each
 * once. Never edit a migration that has shipped: add the next number.
 */
import type { PostgresMigration } from '../../../storage/postgres/index.js';

/** The channel a `queued` job is announced on (payload: its type); see the trigger below. */
export const RUNNABLE_CHANNEL = 'sd_jobs_runnable';

export const POSTGRES_MIGRATIONS: readonly PostgresMigration[] = [
  {
    version: 1,
    name: '0001_jobs_nodes',
    // Times are milliseconds since the epoch (BIGINT) from the writing node's clock, as in the
    // SQLite store; in a cluster every node writes them on the database's clock as it estimates it
    // (src/jobs/cluster/clock.ts), since lease expiry and run_at are compared across nodes.
    // params/state/output are `json` (kept as written, like the SQLite text; jsonb would refuse
    // a \u0000 in an extension's state); progress, errors and warnings are `jsonb`, merged and
    // appended to in place by checkpoints. `id` sorts bytewise (COLLATE "C") so a short-id
    // prefix is one index range.
    sql: `
      CREATE TABLE jobs (
        seq              BIGSERIAL PRIMARY KEY,
        id               TEXT COLLATE "C" NOT NULL UNIQUE,
        type             TEXT NOT NULL,
        status           TEXT NOT NULL CHECK (status IN ('queued','running','paused','waiting_retry','completed','failed','cancelled')),
        priority         INTEGER NOT NULL DEFAULT 0,
        params           JSON NOT NULL,
        state            JSON,
        progress         JSONB NOT NULL,
        output           JSON,
        last_error       JSONB,
        errors           JSONB NOT NULL DEFAULT '[]',
        warnings         JSONB NOT NULL DEFAULT '[]',
        attempts         INTEGER NOT NULL DEFAULT 0,
        max_attempts     INTEGER NOT NULL,
        runs             INTEGER NOT NULL DEFAULT 0,
        run_at           BIGINT NOT NULL,
        dedupe_key       TEXT,
        idempotency_key  TEXT,
        idempotency_fingerprint TEXT,
        library_id       TEXT,
        dispatched_by    TEXT NOT NULL,
        affinity_node    TEXT,
        requested        TEXT CHECK (requested IN ('pause','cancel')),
        lease_owner      TEXT,
        run_id           INTEGER NOT NULL DEFAULT 0,
        lease_expires_at BIGINT,
        created_at       BIGINT NOT NULL,
        updated_at       BIGINT NOT NULL,
        started_at       BIGINT,
        finished_at      BIGINT,
        checkpoint_at    BIGINT
      ) WITH (fillfactor = 80);
      -- The claim: runnable jobs of one type by priority, then run_at, then age.
      CREATE INDEX jobs_runnable_by_type ON jobs (type, priority DESC, run_at, seq) WHERE status IN ('queued','waiting_retry');
      -- A node's own running jobs; recovery of expired leases walks the running jobs (few: nodes
      -- × their concurrency) through it too. No index covers lease_expires_at or anything else a
      -- checkpoint writes, so a checkpoint is a HOT update (fillfactor 80 leaves the page room):
      -- no index is rewritten by the hottest write of the system.
      CREATE INDEX jobs_running_owner ON jobs (lease_owner) WHERE status = 'running';
      -- Cluster-wide concurrency limits count running jobs per type.
      CREATE INDEX jobs_running_type ON jobs (type) WHERE status = 'running';
      CREATE UNIQUE INDEX jobs_dedupe ON jobs (type, dedupe_key)
        WHERE dedupe_key IS NOT NULL AND status IN ('queued','running','paused','waiting_retry');
      CREATE UNIQUE INDEX jobs_idempotency ON jobs (dispatched_by, idempotency_key) WHERE idempotency_key IS NOT NULL;
      CREATE INDEX jobs_finished ON jobs (finished_at) WHERE status IN ('completed','failed','cancelled');

      CREATE TABLE job_logs (
        seq     BIGSERIAL PRIMARY KEY,
        job_id  TEXT COLLATE "C" NOT NULL,
        time    BIGINT NOT NULL,
        level   TEXT NOT NULL,
        message TEXT NOT NULL
      );
      CREATE INDEX job_logs_job ON job_logs (job_id, seq);

      -- The daemons of the cluster: one row per node (a data directory), rewritten by each start.
      CREATE TABLE nodes (
        id           TEXT PRIMARY KEY,
        worker_id    TEXT NOT NULL,
        host         TEXT NOT NULL,
        pid          INTEGER NOT NULL,
        version      TEXT NOT NULL,
        started_at   BIGINT NOT NULL,
        heartbeat_at BIGINT NOT NULL,
        draining     BOOLEAN NOT NULL DEFAULT false,
        -- Whether a client on this node subscribes to job events: only then do the other nodes
        -- relay theirs to it.
        listening    BOOLEAN NOT NULL DEFAULT false
      );

      -- Every job that becomes queued is announced to every node (NOTIFY is sent at commit and
      -- folds identical payloads of one transaction into one), whoever wrote it: a dispatch, a
      -- resume or retry, a recovery, a run handed back.
      CREATE FUNCTION jobs_announce_runnable() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        PERFORM pg_notify('${RUNNABLE_CHANNEL}', NEW.type);
        RETURN NULL;
      END $$;
      CREATE TRIGGER jobs_runnable_insert AFTER INSERT ON jobs
        FOR EACH ROW WHEN (NEW.status = 'queued') EXECUTE FUNCTION jobs_announce_runnable();
      CREATE TRIGGER jobs_runnable_update AFTER UPDATE OF status ON jobs
        FOR EACH ROW WHEN (NEW.status = 'queued' AND OLD.status IS DISTINCT FROM 'queued') EXECUTE FUNCTION jobs_announce_runnable();
    `,
  },
  {
    version: 2,
    name: '0002_claim_function',
    // A claim in one round trip, whatever it asks: the per-type rooms, the worker's own group
    // caps and — for limits that hold across the cluster — the jobs running on every node,
    // counted under a transaction-scoped advisory lock (so two nodes cannot both take the last
    // slot), then the best runnable jobs of each type locked with FOR UPDATE SKIP LOCKED, taken
    // in claim order while the caps allow, and marked running under the caller's lease.
    //   p_slots:  {"type": room, …}   p_groups: [{"limit": n, "types": […]}, …]
    //   p_limits: null, or {"types": {"type": max, …}, "groups": [{"limit": n, "types": […]}, …],
    //             "finishing": {"type": runs of the caller whose finish is in flight, …}}
    sql: `
      CREATE FUNCTION sd_claim_jobs(p_worker TEXT, p_node TEXT, p_now BIGINT, p_lease_until BIGINT, p_limit INT, p_slots JSONB, p_groups JSONB, p_limits JSONB)
      RETURNS TABLE (seq BIGINT, id TEXT, type TEXT, priority INT, run_at BIGINT, params JSON, state JSON, attempts INT, max_attempts INT, runs INT, run_id INT, library_id TEXT)
      LANGUAGE plpgsql AS $$
      #variable_conflict use_column
      DECLARE
        rooms JSONB := '{}'::jsonb;
        caps JSONB := coalesce(p_groups, '[]'::jsonb);
        counts JSONB := '{}'::jsonb;
        t TEXT;
        r INT;
        g JSONB;
        used INT;
        k INT;
        ok BOOLEAN;
        left_total INT := p_limit;
        chosen BIGINT[] := '{}';
        c RECORD;
      BEGIN
        FOR t, r IN SELECT key, value::int FROM jsonb_each_text(p_slots) LOOP
          rooms := rooms || jsonb_build_object(t, least(r, p_limit));
        END LOOP;
        IF p_limits IS NOT NULL THEN
          PERFORM pg_advisory_xact_lock(${0x5d_0002});
          SELECT coalesce(jsonb_object_agg(x.type, x.n), '{}'::jsonb) INTO counts
            FROM (SELECT j.type, count(*)::int AS n FROM jobs j WHERE j.status = 'running' AND j.type IN (
              SELECT jsonb_object_keys(p_slots)
              UNION SELECT jsonb_object_keys(coalesce(p_limits->'types', '{}'::jsonb))
              UNION SELECT jsonb_array_elements_text(lg->'types') FROM jsonb_array_elements(coalesce(p_limits->'groups', '[]'::jsonb)) AS lg
            ) GROUP BY j.type) x;
          -- Runs of the caller that ended and whose finish is being written still show running:
          -- they hold no slot any more.
          FOR t, r IN SELECT key, value::int FROM jsonb_each_text(coalesce(p_limits->'finishing', '{}'::jsonb)) LOOP
            counts := jsonb_set(counts, ARRAY[t], to_jsonb(greatest(coalesce((counts->>t)::int, 0) - r, 0)));
          END LOOP;
          FOR t, r IN SELECT key, value::int FROM jsonb_each_text(coalesce(p_limits->'types', '{}'::jsonb)) LOOP
            IF rooms ? t THEN
              rooms := jsonb_set(rooms, ARRAY[t], to_jsonb(least((rooms->>t)::int, r - coalesce((counts->>t)::int, 0))));
            END IF;
          END LOOP;
          FOR g IN SELECT value FROM jsonb_array_elements(coalesce(p_limits->'groups', '[]'::jsonb)) LOOP
            SELECT coalesce(sum(coalesce((counts->>x)::int, 0)), 0)::int INTO used FROM jsonb_array_elements_text(g->'types') AS x;
            caps := caps || jsonb_build_array(jsonb_build_object('limit', (g->>'limit')::int - used, 'types', g->'types'));
          END LOOP;
        END IF;
        FOR c IN
          SELECT cand.seq, cand.type FROM jsonb_each_text(rooms) AS rm(type, room)
          CROSS JOIN LATERAL (
            SELECT j.seq, j.type, j.priority, j.run_at FROM jobs j
            WHERE j.type = rm.type AND j.status IN ('queued','waiting_retry') AND j.run_at <= p_now AND (j.affinity_node IS NULL OR j.affinity_node = p_node)
            ORDER BY j.priority DESC, j.run_at, j.seq LIMIT greatest(rm.room::int, 0) FOR UPDATE SKIP LOCKED
          ) cand
          ORDER BY cand.priority DESC, cand.run_at, cand.seq
        LOOP
          EXIT WHEN left_total <= 0;
          ok := true;
          FOR k IN 0 .. jsonb_array_length(caps) - 1 LOOP
            IF (caps->k->'types') ? c.type AND (caps->k->>'limit')::int <= 0 THEN ok := false; END IF;
          END LOOP;
          CONTINUE WHEN NOT ok;
          FOR k IN 0 .. jsonb_array_length(caps) - 1 LOOP
            IF (caps->k->'types') ? c.type THEN
              caps := jsonb_set(caps, ARRAY[k::text, 'limit'], to_jsonb((caps->k->>'limit')::int - 1));
            END IF;
          END LOOP;
          chosen := chosen || c.seq;
          left_total := left_total - 1;
        END LOOP;
        RETURN QUERY
          UPDATE jobs SET status = 'running', lease_owner = p_worker, run_id = jobs.run_id + 1, runs = jobs.runs + 1, lease_expires_at = p_lease_until,
            started_at = COALESCE(jobs.started_at, p_now), updated_at = p_now, requested = NULL
          WHERE jobs.seq = ANY(chosen)
          RETURNING jobs.seq, jobs.id::text, jobs.type, jobs.priority, jobs.run_at, jobs.params, jobs.state, jobs.attempts, jobs.max_attempts, jobs.runs, jobs.run_id, jobs.library_id;
      END $$;
    `,
  },
  {
    version: 3,
    name: '0003_lighter_claim_and_completion',
    // The claim of migration 2 took the cluster-wide advisory lock whenever the caller had any
    // limited type registered (the library indexer always is), so every claim of every node
    // queued behind one lock held to its commit, whatever it claimed. Now the lock is taken only
    // when a limited type with room has a runnable job; otherwise those types sit this claim out
    // (a job of theirs that becomes runnable meanwhile is announced and taken by the next claim,
    // under the lock). Without caps to apply, the chosen jobs are picked by one query instead of
    // a row-by-row loop. With p_log_started it writes each job's `started` line itself (the
    // text of startedLine in transitions.ts; the contract suite compares them), which saves every
    // claim a second round trip. The eight-argument form stays for nodes not yet upgraded.
    //
    // Both functions plan their statements once per connection (force_generic_plan): re-planning
    // them on every call cost as much as running them. The completion is a function for that
    // reason: as one prepared UPDATE … FROM unnest(…) its generic plan hash-joins every running
    // job (a poor plan once hundreds run), while the function's per-job UPDATE by id is always
    // one index probe.
    sql: `
      CREATE FUNCTION sd_claim_jobs(p_worker TEXT, p_node TEXT, p_now BIGINT, p_lease_until BIGINT, p_limit INT, p_slots JSONB, p_groups JSONB, p_limits JSONB, p_log_started BOOLEAN)
      RETURNS TABLE (seq BIGINT, id TEXT, type TEXT, priority INT, run_at BIGINT, params JSON, state JSON, attempts INT, max_attempts INT, runs INT, run_id INT, library_id TEXT)
      LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
      #variable_conflict use_column
      DECLARE
        rooms JSONB;
        caps JSONB := coalesce(p_groups, '[]'::jsonb);
        counts JSONB := '{}'::jsonb;
        limited TEXT[];
        t TEXT;
        r INT;
        g JSONB;
        used INT;
        k INT;
        ok BOOLEAN;
        left_total INT := p_limit;
        chosen BIGINT[] := '{}';
        c RECORD;
      BEGIN
        SELECT coalesce(jsonb_object_agg(s.key, least(s.value::int, p_limit)), '{}'::jsonb) INTO rooms FROM jsonb_each_text(p_slots) AS s;
        IF p_limits IS NOT NULL THEN
          SELECT array_agg(rt.t) INTO limited FROM jsonb_object_keys(rooms) AS rt(t)
            WHERE coalesce(p_limits->'types', '{}'::jsonb) ? rt.t
               OR EXISTS (SELECT 1 FROM jsonb_array_elements(coalesce(p_limits->'groups', '[]'::jsonb)) AS lg WHERE (lg->'types') ? rt.t);
          IF limited IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM jobs j WHERE j.type = ANY(limited) AND j.status IN ('queued','waiting_retry') AND j.run_at <= p_now
              AND (j.affinity_node IS NULL OR j.affinity_node = p_node)) THEN
            rooms := rooms - limited;
            limited := NULL;
          END IF;
          IF limited IS NOT NULL THEN
            PERFORM pg_advisory_xact_lock(${0x5d_0002});
            SELECT coalesce(jsonb_object_agg(x.type, x.n), '{}'::jsonb) INTO counts
              FROM (SELECT j.type, count(*)::int AS n FROM jobs j WHERE j.status = 'running' AND j.type IN (
                SELECT jsonb_object_keys(p_slots)
                UNION SELECT jsonb_object_keys(coalesce(p_limits->'types', '{}'::jsonb))
                UNION SELECT jsonb_array_elements_text(lg->'types') FROM jsonb_array_elements(coalesce(p_limits->'groups', '[]'::jsonb)) AS lg
              ) GROUP BY j.type) x;
            -- Runs of the caller that ended and whose finish is being written still show running:
            -- they hold no slot any more.
            FOR t, r IN SELECT key, value::int FROM jsonb_each_text(coalesce(p_limits->'finishing', '{}'::jsonb)) LOOP
              counts := jsonb_set(counts, ARRAY[t], to_jsonb(greatest(coalesce((counts->>t)::int, 0) - r, 0)));
            END LOOP;
            FOR t, r IN SELECT key, value::int FROM jsonb_each_text(coalesce(p_limits->'types', '{}'::jsonb)) LOOP
              IF rooms ? t THEN
                rooms := jsonb_set(rooms, ARRAY[t], to_jsonb(least((rooms->>t)::int, r - coalesce((counts->>t)::int, 0))));
              END IF;
            END LOOP;
            FOR g IN SELECT value FROM jsonb_array_elements(coalesce(p_limits->'groups', '[]'::jsonb)) LOOP
              SELECT coalesce(sum(coalesce((counts->>x)::int, 0)), 0)::int INTO used FROM jsonb_array_elements_text(g->'types') AS x;
              caps := caps || jsonb_build_array(jsonb_build_object('limit', (g->>'limit')::int - used, 'types', g->'types'));
            END LOOP;
          END IF;
        END IF;
        IF jsonb_array_length(caps) = 0 THEN
          SELECT coalesce(array_agg(best.seq), '{}') INTO chosen FROM (
            SELECT cand.seq FROM jsonb_each_text(rooms) AS rm(type, room)
            CROSS JOIN LATERAL (
              SELECT j.seq, j.priority, j.run_at FROM jobs j
              WHERE j.type = rm.type AND j.status IN ('queued','waiting_retry') AND j.run_at <= p_now AND (j.affinity_node IS NULL OR j.affinity_node = p_node)
              ORDER BY j.priority DESC, j.run_at, j.seq LIMIT greatest(rm.room::int, 0) FOR UPDATE SKIP LOCKED
            ) cand
            ORDER BY cand.priority DESC, cand.run_at, cand.seq LIMIT p_limit) best;
        ELSE
          FOR c IN
            SELECT cand.seq, cand.type FROM jsonb_each_text(rooms) AS rm(type, room)
            CROSS JOIN LATERAL (
              SELECT j.seq, j.type, j.priority, j.run_at FROM jobs j
              WHERE j.type = rm.type AND j.status IN ('queued','waiting_retry') AND j.run_at <= p_now AND (j.affinity_node IS NULL OR j.affinity_node = p_node)
              ORDER BY j.priority DESC, j.run_at, j.seq LIMIT greatest(rm.room::int, 0) FOR UPDATE SKIP LOCKED
            ) cand
            ORDER BY cand.priority DESC, cand.run_at, cand.seq
          LOOP
            EXIT WHEN left_total <= 0;
            ok := true;
            FOR k IN 0 .. jsonb_array_length(caps) - 1 LOOP
              IF (caps->k->'types') ? c.type AND (caps->k->>'limit')::int <= 0 THEN ok := false; END IF;
            END LOOP;
            CONTINUE WHEN NOT ok;
            FOR k IN 0 .. jsonb_array_length(caps) - 1 LOOP
              IF (caps->k->'types') ? c.type THEN
                caps := jsonb_set(caps, ARRAY[k::text, 'limit'], to_jsonb((caps->k->>'limit')::int - 1));
              END IF;
            END LOOP;
            chosen := chosen || c.seq;
            left_total := left_total - 1;
          END LOOP;
        END IF;
        IF cardinality(chosen) = 0 THEN RETURN; END IF;
        RETURN QUERY
          WITH u AS (
            UPDATE jobs SET status = 'running', lease_owner = p_worker, run_id = jobs.run_id + 1, runs = jobs.runs + 1, lease_expires_at = p_lease_until,
              started_at = COALESCE(jobs.started_at, p_now), updated_at = p_now, requested = NULL
            WHERE jobs.seq = ANY(chosen)
            RETURNING jobs.seq, jobs.id::text AS id, jobs.type, jobs.priority, jobs.run_at, jobs.params, jobs.state, jobs.attempts, jobs.max_attempts, jobs.runs, jobs.run_id, jobs.library_id),
          l AS (
            INSERT INTO job_logs (job_id, time, level, message)
            SELECT u.id, p_now, 'info', 'started: attempt ' || (u.attempts + 1) || ' of ' || u.max_attempts || ', run ' || u.runs
              || CASE WHEN u.state IS NOT NULL AND u.runs > 1 THEN ', from its last checkpoint' ELSE '' END
            FROM u WHERE p_log_started)
          SELECT * FROM u;
      END $$;
      DROP FUNCTION sd_claim_jobs(TEXT, TEXT, BIGINT, BIGINT, INT, JSONB, JSONB, JSONB);
      CREATE FUNCTION sd_claim_jobs(p_worker TEXT, p_node TEXT, p_now BIGINT, p_lease_until BIGINT, p_limit INT, p_slots JSONB, p_groups JSONB, p_limits JSONB)
      RETURNS TABLE (seq BIGINT, id TEXT, type TEXT, priority INT, run_at BIGINT, params JSON, state JSON, attempts INT, max_attempts INT, runs INT, run_id INT, library_id TEXT)
      LANGUAGE sql AS $$ SELECT * FROM sd_claim_jobs(p_worker, p_node, p_now, p_lease_until, p_limit, p_slots, p_groups, p_limits, false) $$;

      CREATE FUNCTION sd_complete_jobs(p_ids TEXT[], p_owners TEXT[], p_runs INT[], p_outputs TEXT[], p_nows BIGINT[], p_levels TEXT[], p_messages TEXT[])
      RETURNS TABLE (id TEXT, type TEXT, attempts INT, run_at BIGINT)
      LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
      #variable_conflict use_column
      BEGIN
        FOR i IN 1 .. coalesce(cardinality(p_ids), 0) LOOP
          RETURN QUERY
            UPDATE jobs SET status = 'completed', output = p_outputs[i]::json, progress = jsonb_set(jobs.progress, '{fraction}', '1'), finished_at = p_nows[i],
              updated_at = p_nows[i], last_error = NULL, requested = NULL, lease_owner = NULL, lease_expires_at = NULL
            WHERE jobs.id = p_ids[i] AND jobs.status = 'running' AND jobs.lease_owner = p_owners[i] AND jobs.run_id = p_runs[i]
            RETURNING jobs.id::text, jobs.type, jobs.attempts, jobs.run_at;
          IF FOUND AND p_levels[i] IS NOT NULL THEN
            INSERT INTO job_logs (job_id, time, level, message) VALUES (p_ids[i], p_nows[i], p_levels[i], p_messages[i]);
          END IF;
        END LOOP;
      END $$;
    `,
  },
];
