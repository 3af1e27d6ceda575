-- campaignflow analytics: views for analysts (documented in ops/sql/README.md).
--
-- Base views hide replays: v_attempts / v_events / v_campaigns read with FINAL,
-- v_outcomes keeps the first outcome of each call (the one the engine acted on; a
-- duplicate or a late outcome after a timeout changes nothing, as in the engine).
-- Hours of day are in the campaign's timezone: tz_offsets holds each zone's UTC
-- offset transitions (written by the sink when it first sees a campaign's zone) and
-- an ASOF JOIN picks the offset in force at the call's creation. A campaign whose
-- create command was never seen counts in UTC.

CREATE OR REPLACE VIEW v_attempts AS
SELECT * FROM call_attempts FINAL;

CREATE OR REPLACE VIEW v_outcomes AS
SELECT *
FROM call_outcomes FINAL
ORDER BY account_id, campaign_id, call_id, ended_at, status
LIMIT 1 BY account_id, campaign_id, call_id;

CREATE OR REPLACE VIEW v_events AS
SELECT * FROM campaign_events FINAL;

CREATE OR REPLACE VIEW v_campaigns AS
SELECT * FROM campaigns FINAL;

CREATE OR REPLACE VIEW v_contact_finals AS
SELECT account_id, campaign_id, contact_id, status, attempts, at
FROM v_events
WHERE kind = 'contact_final'
ORDER BY account_id, campaign_id, contact_id, at
LIMIT 1 BY account_id, campaign_id, contact_id;

-- One row per call: its attempt joined to its (first) outcome; status '' while in flight.
CREATE OR REPLACE VIEW v_calls AS
SELECT
    if(a.call_id != '', toString(a.account_id), toString(o.account_id)) AS account_id,
    if(a.call_id != '', toString(a.campaign_id), toString(o.campaign_id)) AS campaign_id,
    if(a.call_id != '', a.call_id, o.call_id) AS call_id,
    if(a.call_id != '', a.contact_id, o.contact_id) AS contact_id,
    if(a.call_id != '', a.attempt, o.attempt) AS attempt,
    a.to_number AS to_number,
    toString(a.caller_id) AS caller_id,
    a.alternate_position AS alternate_position,
    toString(a.agent_id) AS agent_id,
    if(a.call_id != '', a.created_at, ifNull(o.created_at, o.ended_at)) AS created_at,
    toString(o.status) AS status,
    a.call_id != '' AS has_attempt,
    o.call_id != '' AS finished,
    o.status = 'answered' AS answered,
    if(o.call_id != '', toNullable(o.ended_at), NULL) AS ended_at,
    o.duration_seconds AS duration_seconds,
    toString(o.hangup_cause) AS hangup_cause,
    toString(o.dialer_id) AS dialer_id
FROM v_attempts AS a
FULL OUTER JOIN v_outcomes AS o
    ON a.account_id = o.account_id AND a.campaign_id = o.campaign_id AND a.call_id = o.call_id;

-- v_calls plus the campaign's timezone and the local hour of day the call was placed.
CREATE OR REPLACE VIEW v_calls_local AS
SELECT
    c.*,
    z.offset_seconds AS utc_offset_seconds,
    toHour(c.created_at + toIntervalSecond(z.offset_seconds), 'UTC') AS local_hour
FROM
(
    SELECT v.*, if(k.timezone = '', 'UTC', toString(k.timezone)) AS timezone
    FROM v_calls AS v
    LEFT JOIN v_campaigns AS k ON k.account_id = v.account_id AND k.campaign_id = v.campaign_id
) AS c
ASOF LEFT JOIN tz_offsets AS z ON z.tz = c.timezone AND c.created_at >= z.since;

-- 1. Progress: contacts by final status, attempts, calls in flight, completion estimate.
-- "Now" is the campaign's own clock (its latest attempt, outcome or event), so replayed or
-- simulated campaigns read the same; the rate is contacts finished in the hour before it.
CREATE OR REPLACE VIEW v_campaign_progress AS
WITH
    ids AS
    (
        SELECT DISTINCT account_id, campaign_id FROM
        (
            SELECT toString(account_id) AS account_id, campaign_id FROM v_campaigns
            UNION ALL SELECT DISTINCT toString(account_id), toString(campaign_id) FROM call_attempts
            UNION ALL SELECT DISTINCT toString(account_id), toString(campaign_id) FROM campaign_events
        )
    ),
    calls AS
    (
        SELECT
            account_id,
            campaign_id,
            count() AS attempts,
            countIf(finished) AS outcomes,
            countIf(NOT finished) AS calls_in_flight,
            countIf(answered) AS answered_calls,
            uniqExact(contact_id) AS contacts_called,
            min(created_at) AS first_call_at,
            max(greatest(created_at, ifNull(ended_at, created_at))) AS last_call_at
        FROM v_calls
        GROUP BY account_id, campaign_id
    ),
    ev AS
    (
        SELECT
            toString(account_id) AS account_id,
            toString(campaign_id) AS campaign_id,
            argMaxIf(toString(status), at, kind = 'status_changed') AS status,
            maxIf(contacts_total, kind = 'progress') AS progress_total,
            max(at) AS last_event_at
        FROM v_events
        GROUP BY account_id, campaign_id
    ),
    fin AS
    (
        SELECT
            toString(account_id) AS account_id,
            toString(campaign_id) AS campaign_id,
            count() AS contacts_final,
            countIf(status = 'reached') AS reached,
            countIf(status = 'exhausted') AS exhausted,
            countIf(status = 'failed') AS failed,
            countIf(status = 'cancelled') AS cancelled,
            countIf(status = 'suppressed') AS suppressed,
            max(at) AS last_final_at,
            groupArray(at) AS final_times
        FROM v_contact_finals
        GROUP BY account_id, campaign_id
    ),
    base AS
    (
        SELECT
            ids.account_id AS account_id,
            ids.campaign_id AS campaign_id,
            k.name AS name,
            if(k.timezone = '', 'UTC', toString(k.timezone)) AS timezone,
            if(ev.status = '', if(k.campaign_id = '', '', 'draft'), ev.status) AS status,
            greatest(toUInt64(k.expected_contacts), ev.progress_total, fin.contacts_final, calls.contacts_called) AS contacts_total,
            fin.contacts_final AS contacts_final,
            fin.reached AS reached,
            fin.exhausted AS exhausted,
            fin.failed AS failed,
            fin.cancelled AS cancelled,
            fin.suppressed AS suppressed,
            calls.attempts AS attempts,
            calls.outcomes AS outcomes,
            calls.answered_calls AS answered_calls,
            calls.calls_in_flight AS calls_in_flight,
            if(calls.attempts = 0, NULL, calls.first_call_at) AS first_call_at,
            fin.last_final_at AS last_final_at,
            greatest(calls.last_call_at, fin.last_final_at, ev.last_event_at) AS clock,
            arrayCount(t -> t > clock - toIntervalHour(1), fin.final_times) AS finals_last_hour
        FROM ids
        LEFT JOIN v_campaigns AS k
            ON toString(k.account_id) = ids.account_id AND k.campaign_id = ids.campaign_id
        LEFT JOIN calls ON calls.account_id = ids.account_id AND calls.campaign_id = ids.campaign_id
        LEFT JOIN ev ON ev.account_id = ids.account_id AND ev.campaign_id = ids.campaign_id
        LEFT JOIN fin ON fin.account_id = ids.account_id AND fin.campaign_id = ids.campaign_id
    )
SELECT
    account_id, campaign_id, name, timezone, status, contacts_total, contacts_final,
    contacts_total - contacts_final AS contacts_remaining,
    if(contacts_total = 0, 0, round(100 * contacts_final / contacts_total, 1)) AS pct_complete,
    reached, exhausted, failed, cancelled, suppressed,
    attempts, outcomes, answered_calls, calls_in_flight,
    first_call_at, clock AS last_activity_at,
    finals_last_hour AS contacts_final_per_hour,
    multiIf(
        contacts_total > 0 AND contacts_final >= contacts_total, toNullable(last_final_at),
        finals_last_hour > 0,
            toNullable(clock + toIntervalSecond(toInt64(3600 * (contacts_total - contacts_final) / finals_last_hour))),
        NULL
    ) AS completion_estimate
FROM base;

-- 2. Outcomes by hour of day (campaign timezone) of the call's creation.
CREATE OR REPLACE VIEW v_outcomes_by_hour AS
SELECT
    account_id,
    campaign_id,
    any(timezone) AS timezone,
    local_hour,
    count() AS calls,
    countIf(status = 'answered') AS answered_calls,
    countIf(status = 'no_answer') AS no_answer,
    countIf(status = 'busy') AS busy,
    countIf(status = 'failed') AS failed,
    countIf(status = 'voicemail') AS voicemail,
    countIf(status = 'invalid_number') AS invalid_number,
    countIf(status = 'timeout') AS timeout,
    countIf(status NOT IN ('answered', 'no_answer', 'busy', 'failed', 'voicemail', 'invalid_number', 'timeout')) AS other,
    round(answered_calls / calls, 4) AS answer_rate
FROM v_calls_local
WHERE finished
GROUP BY account_id, campaign_id, local_hour;

-- 3. Answer rate by caller ID and attempt number (a collapsing caller ID is likely flagged as spam).
CREATE OR REPLACE VIEW v_answer_rate_by_caller_id AS
SELECT
    account_id,
    campaign_id,
    caller_id,
    attempt,
    count() AS calls,
    countIf(answered) AS answered_calls,
    round(answered_calls / calls, 4) AS answer_rate,
    min(created_at) AS first_call_at,
    max(created_at) AS last_call_at
FROM v_calls
WHERE finished AND has_attempt
GROUP BY account_id, campaign_id, caller_id, attempt;

-- 4. Answer rate by alternate position (0 = primary number, N = phone_number_N).
CREATE OR REPLACE VIEW v_answer_rate_by_alternate AS
SELECT
    account_id,
    campaign_id,
    alternate_position,
    count() AS calls,
    countIf(answered) AS answered_calls,
    round(answered_calls / calls, 4) AS answer_rate
FROM v_calls
WHERE finished AND has_attempt
GROUP BY account_id, campaign_id, alternate_position;

-- 5. Attempts per reached contact (from the contacts' final events).
CREATE OR REPLACE VIEW v_attempts_per_reached_contact AS
SELECT
    toString(account_id) AS account_id,
    toString(campaign_id) AS campaign_id,
    count() AS reached_contacts,
    sum(attempts) AS total_attempts,
    round(avg(attempts), 4) AS avg_attempts,
    quantileExactInclusive(0.5)(attempts) AS median_attempts,
    max(attempts) AS max_attempts
FROM v_contact_finals
WHERE status = 'reached'
GROUP BY account_id, campaign_id;

CREATE OR REPLACE VIEW v_reached_by_attempt AS
SELECT
    toString(account_id) AS account_id,
    toString(campaign_id) AS campaign_id,
    attempts AS attempt,
    count() AS reached_contacts
FROM v_contact_finals
WHERE status = 'reached'
GROUP BY account_id, campaign_id, attempts;

-- 6. Call duration percentiles of answered calls (seconds; linear interpolation).
CREATE OR REPLACE VIEW v_call_duration_percentiles AS
SELECT
    toString(account_id) AS account_id,
    toString(campaign_id) AS campaign_id,
    count() AS answered_calls,
    round(avg(duration_seconds), 3) AS avg_seconds,
    round(quantileExactInclusive(0.5)(duration_seconds), 3) AS p50_seconds,
    round(quantileExactInclusive(0.9)(duration_seconds), 3) AS p90_seconds,
    round(quantileExactInclusive(0.99)(duration_seconds), 3) AS p99_seconds,
    max(duration_seconds) AS max_seconds
FROM v_outcomes
WHERE status = 'answered' AND duration_seconds IS NOT NULL
GROUP BY account_id, campaign_id;

-- Hourly series for `campaignflow report --plot`: calls, answers and contacts reached per UTC hour.
CREATE OR REPLACE VIEW v_hourly AS
SELECT account_id, campaign_id, hour, sum(c) AS calls, sum(a) AS answered_calls, sum(r) AS reached_contacts
FROM
(
    SELECT account_id, campaign_id, toStartOfHour(created_at) AS hour, 1 AS c, toUInt64(answered) AS a, 0 AS r
    FROM v_calls WHERE finished
    UNION ALL
    SELECT toString(account_id), toString(campaign_id), toStartOfHour(at), 0, 0, 1
    FROM v_contact_finals WHERE status = 'reached'
)
GROUP BY account_id, campaign_id, hour;
