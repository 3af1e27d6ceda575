-- campaignflow analytics: base tables, written by `campaignflow sink`.
--
-- Every table is a ReplacingMergeTree keyed by the event's deterministic id, so a
-- replayed message collapses into the row already there (read with FINAL or through
-- the v_* views), and non_replicated_deduplication_window lets the sink tag each
-- batch insert with a deduplication token so an identical retried batch is skipped.
-- Times are DateTime64(3, 'UTC'); hours of day are computed in the campaign's zone
-- through tz_offsets (see 0002_views.sql). Campaign (and so call) ids are unique per
-- account only: every key starts with account_id, so two accounts' `spring/row-1/1`
-- never replace each other.

CREATE TABLE IF NOT EXISTS call_attempts
(
    call_id            String,
    campaign_id        LowCardinality(String),
    account_id         LowCardinality(String),
    contact_id         String,
    attempt            UInt16,
    to_number          String,
    caller_id          LowCardinality(String),
    alternate_position UInt16,
    agent_id           LowCardinality(String),
    created_at         DateTime64(3, 'UTC'),
    deadline           DateTime64(3, 'UTC'),
    published_at       DateTime64(3, 'UTC'),
    inserted_at        DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(created_at)
ORDER BY (account_id, campaign_id, call_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS call_outcomes
(
    call_id          String,
    campaign_id      LowCardinality(String),
    account_id       LowCardinality(String),
    contact_id       String,
    attempt          UInt16,
    status           LowCardinality(String),
    created_at       Nullable(DateTime64(3, 'UTC')),
    started_at       Nullable(DateTime64(3, 'UTC')),
    answered_at      Nullable(DateTime64(3, 'UTC')),
    ended_at         DateTime64(3, 'UTC'),
    duration_seconds Nullable(Float64),
    hangup_cause     LowCardinality(String),
    dialer_id        LowCardinality(String),
    published_at     DateTime64(3, 'UTC'),
    inserted_at      DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(ended_at)
ORDER BY (account_id, campaign_id, call_id, status, ended_at)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS campaign_events
(
    event_id        String,
    campaign_id     LowCardinality(String),
    account_id      LowCardinality(String),
    at              DateTime64(3, 'UTC'),
    kind            LowCardinality(String),
    status          LowCardinality(String),
    contact_id      String,
    attempts        UInt16,
    command_id      String,
    command         LowCardinality(String),
    reason          String,
    row             Nullable(UInt32),
    column          Nullable(String),
    values          Map(String, String),
    contacts_total  UInt64,
    contacts_final  UInt64,
    calls_in_flight UInt32,
    counts          Map(String, Int64),
    published_at    DateTime64(3, 'UTC'),
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
PARTITION BY toYYYYMM(at)
ORDER BY (account_id, campaign_id, kind, event_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS campaigns
(
    campaign_id       String,
    account_id        LowCardinality(String),
    name              String,
    timezone          LowCardinality(String),
    expected_contacts UInt32,
    max_retries       UInt16,
    concurrent_calls  UInt32,
    created_at        DateTime64(3, 'UTC'),
    command_id        String,
    inserted_at       DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(created_at)
ORDER BY (account_id, campaign_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS tz_offsets
(
    tz             LowCardinality(String),
    since          DateTime64(3, 'UTC'),
    offset_seconds Int32
)
ENGINE = ReplacingMergeTree
ORDER BY (tz, since);
