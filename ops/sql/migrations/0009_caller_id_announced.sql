-- campaignflow analytics: caller IDs announced as degraded (issue 23 item 5, the webhook).
--
-- The sink judges v_caller_id_health after its flushes and publishes each newly degraded
-- (account, campaign, caller ID) on the caller_id.health topic (the API delivers it as the
-- `caller_id.degraded` webhook event), then records it here, so a restart or another
-- replica of the sink does not announce it again. Written by the sink only, after the
-- broker acknowledged the announcement (a crash in between announces again, with the same
-- event id).

CREATE TABLE IF NOT EXISTS caller_id_announced
(
    account_id                  LowCardinality(String),
    campaign_id                 String,
    caller_id                   String,
    degraded                    Bool,
    event_id                    String,
    recent_calls                UInt32,
    recent_answer_rate          Float64,
    campaign_median_answer_rate Float64,
    announced_at                DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(announced_at)
ORDER BY (account_id, campaign_id, caller_id, degraded);
