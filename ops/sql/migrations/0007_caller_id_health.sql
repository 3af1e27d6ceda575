-- campaignflow analytics: caller-ID health (issue 23 item 5).
--
-- A number's answer rate collapsing against the campaign's other numbers is the first sign
-- of a spam label. v_caller_id_health judges each caller ID of a campaign on its last 200
-- finished calls: `degraded` when its answer rate there is below half of the median of the
-- campaign's caller IDs' rates (over their own last 200 calls each). A number is judged once
-- it has 20 such calls, and only beside at least one other judged number (a median of one
-- number is that number). v_caller_id_daily gives calls and answers by caller ID and UTC
-- day, with the number's current judgement beside each day.

CREATE OR REPLACE VIEW v_caller_id_recent AS
SELECT
    account_id,
    campaign_id,
    caller_id,
    count() AS recent_calls,
    countIf(answered) AS recent_answered,
    recent_answered / recent_calls AS recent_answer_rate,
    max(created_at) AS last_call_at
FROM
(
    SELECT account_id, campaign_id, caller_id, answered, created_at, call_id
    FROM v_calls
    WHERE finished AND has_attempt
    ORDER BY account_id, campaign_id, caller_id, created_at DESC, call_id DESC
    LIMIT 200 BY account_id, campaign_id, caller_id
)
GROUP BY account_id, campaign_id, caller_id;

CREATE OR REPLACE VIEW v_caller_id_health AS
SELECT
    r.account_id AS account_id,
    r.campaign_id AS campaign_id,
    r.caller_id AS caller_id,
    r.recent_calls AS recent_calls,
    r.recent_answered AS recent_answered,
    round(r.recent_answer_rate, 4) AS recent_answer_rate,
    round(m.median_answer_rate, 4) AS campaign_median_answer_rate,
    r.last_call_at AS last_call_at,
    r.recent_calls >= 20 AND m.judged >= 2 AND r.recent_answer_rate < m.median_answer_rate / 2 AS degraded
FROM v_caller_id_recent AS r
LEFT JOIN
(
    SELECT
        account_id,
        campaign_id,
        quantileExactInclusiveIf(0.5)(recent_answer_rate, recent_calls >= 20) AS median_answer_rate,
        countIf(recent_calls >= 20) AS judged
    FROM v_caller_id_recent
    GROUP BY account_id, campaign_id
) AS m ON m.account_id = r.account_id AND m.campaign_id = r.campaign_id;

CREATE OR REPLACE VIEW v_caller_id_daily AS
SELECT
    d.account_id AS account_id,
    d.campaign_id AS campaign_id,
    d.caller_id AS caller_id,
    d.day AS day,
    d.calls AS calls,
    d.answered_calls AS answered_calls,
    round(d.answered_calls / d.calls, 4) AS answer_rate,
    h.degraded AS degraded
FROM
(
    SELECT account_id, campaign_id, caller_id, toDate(created_at, 'UTC') AS day,
           count() AS calls, countIf(answered) AS answered_calls
    FROM v_calls
    WHERE finished AND has_attempt
    GROUP BY account_id, campaign_id, caller_id, day
) AS d
LEFT JOIN v_caller_id_health AS h
    ON h.account_id = d.account_id AND h.campaign_id = d.campaign_id AND h.caller_id = d.caller_id;
