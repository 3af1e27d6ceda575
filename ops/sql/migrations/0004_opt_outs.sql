-- campaignflow analytics: opt-outs (SPEC section 7), per call and per campaign.
--
-- A dialer's outcome may carry opt_out: the person asked not to be called again. The
-- engine honours it even on a duplicate or on an outcome after the call's timeout, so
-- v_opt_outs keeps every call with an opt-out outcome (its first one), not only the
-- outcome the engine acted on (v_outcomes). Contacts that ended `opted_out` are counted
-- in v_campaign_progress beside the other final statuses.

ALTER TABLE call_outcomes ADD COLUMN IF NOT EXISTS opt_out Bool DEFAULT false AFTER dialer_id;

-- Re-created so that its `*` takes in the new column.
CREATE OR REPLACE VIEW v_outcomes AS
SELECT *
FROM call_outcomes FINAL
ORDER BY account_id, campaign_id, call_id, ended_at, status
LIMIT 1 BY account_id, campaign_id, call_id;

-- One row per call that carried an opt-out: who, which number, when.
CREATE OR REPLACE VIEW v_opt_outs AS
SELECT
    toString(o.account_id) AS account_id,
    toString(o.campaign_id) AS campaign_id,
    o.call_id AS call_id,
    o.contact_id AS contact_id,
    o.attempt AS attempt,
    toString(o.status) AS status,
    o.ended_at AS opted_out_at,
    a.to_number AS number,
    a.alternate_position AS alternate_position
FROM
(
    SELECT *
    FROM call_outcomes FINAL
    WHERE opt_out
    ORDER BY account_id, campaign_id, call_id, ended_at
    LIMIT 1 BY account_id, campaign_id, call_id
) AS o
LEFT JOIN v_attempts AS a
    ON a.account_id = o.account_id AND a.campaign_id = o.campaign_id AND a.call_id = o.call_id;

-- Opt-outs per campaign, and their share of the campaign's answered calls.
CREATE OR REPLACE VIEW v_opt_outs_by_campaign AS
SELECT
    x.account_id AS account_id,
    x.campaign_id AS campaign_id,
    x.opt_outs AS opt_outs,
    x.contacts_opted_out AS contacts_opted_out,
    x.numbers_opted_out AS numbers_opted_out,
    x.on_answered_calls AS on_answered_calls,
    if(c.answered_calls = 0, NULL, round(x.on_answered_calls / c.answered_calls, 4)) AS opt_out_rate_of_answered,
    x.first_opt_out_at AS first_opt_out_at,
    x.last_opt_out_at AS last_opt_out_at
FROM
(
    SELECT
        account_id,
        campaign_id,
        count() AS opt_outs,
        uniqExact(contact_id) AS contacts_opted_out,
        uniqExact(number) AS numbers_opted_out,
        countIf(status = 'answered') AS on_answered_calls,
        min(opted_out_at) AS first_opt_out_at,
        max(opted_out_at) AS last_opt_out_at
    FROM v_opt_outs
    GROUP BY account_id, campaign_id
) AS x
LEFT JOIN
(
    SELECT
        toString(account_id) AS account_id,
        toString(campaign_id) AS campaign_id,
        countIf(status = 'answered') AS answered_calls
    FROM v_outcomes
    GROUP BY account_id, campaign_id
) AS c ON c.account_id = x.account_id AND c.campaign_id = x.campaign_id;

-- Progress (as in 0002_views.sql, plus opted_out): contacts by final status, attempts, calls in flight, completion estimate.
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
            countIf(status = 'opted_out') AS opted_out,
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
            fin.opted_out AS opted_out,
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
    reached, exhausted, failed, cancelled, suppressed, opted_out,
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
