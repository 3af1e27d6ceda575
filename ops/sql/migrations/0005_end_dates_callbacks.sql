-- campaignflow analytics: end dates and callbacks (SPEC section 9).
--
-- Contacts may end `expired` (the campaign's end date came first) or `skipped` (a
-- pre-dial check refused the call); calls may end with the outcome `skipped`. A person who
-- answers may ask to be called back: the outcome carries `callback_at`, kept per outcome.
-- v_callbacks lists every callback asked for on the outcome the engine acted on, whether it
-- was placed since (a later attempt of the contact) and whether it still waits;
-- v_callbacks_due counts the waiting ones per campaign and gives the next due time.

ALTER TABLE call_outcomes ADD COLUMN IF NOT EXISTS callback_at Nullable(DateTime64(3, 'UTC')) AFTER opt_out;

-- Re-created so that its `*` takes in the new column.
CREATE OR REPLACE VIEW v_outcomes AS
SELECT *
FROM call_outcomes FINAL
ORDER BY account_id, campaign_id, call_id, ended_at, status
LIMIT 1 BY account_id, campaign_id, call_id;

-- One row per callback asked for (on an answered call's outcome the engine acted on).
-- due_at is when the engine may place it (SPEC 9: the later of callback_at and the answer's
-- end); called_back once a later attempt of the contact was created; waiting while neither
-- that nor the contact's final status (a callback past max_callbacks ends it `reached`, one
-- asked for after the end date `expired`) has happened.
CREATE OR REPLACE VIEW v_callbacks AS
SELECT
    toString(o.account_id) AS account_id,
    toString(o.campaign_id) AS campaign_id,
    o.contact_id AS contact_id,
    o.call_id AS call_id,
    o.attempt AS attempt,
    o.ended_at AS asked_at,
    assumeNotNull(o.callback_at) AS callback_at,
    greatest(assumeNotNull(o.callback_at), o.ended_at) AS due_at,
    a.last_attempt > o.attempt AS called_back,
    toString(f.status) AS contact_status,
    NOT called_back AND contact_status = '' AS waiting
FROM v_outcomes AS o
LEFT JOIN
(
    SELECT account_id, campaign_id, contact_id, max(attempt) AS last_attempt
    FROM v_attempts
    GROUP BY account_id, campaign_id, contact_id
) AS a ON a.account_id = o.account_id AND a.campaign_id = o.campaign_id AND a.contact_id = o.contact_id
LEFT JOIN v_contact_finals AS f
    ON f.account_id = o.account_id AND f.campaign_id = o.campaign_id AND f.contact_id = o.contact_id
WHERE o.status = 'answered' AND o.callback_at IS NOT NULL;

-- Callbacks per campaign: asked for, placed, still waiting, and the next one due.
CREATE OR REPLACE VIEW v_callbacks_due AS
SELECT
    account_id,
    campaign_id,
    count() AS callbacks_asked,
    countIf(called_back) AS callbacks_placed,
    countIf(waiting) AS callbacks_waiting,
    if(callbacks_waiting = 0, NULL, toNullable(minIf(due_at, waiting))) AS next_callback_at
FROM v_callbacks
GROUP BY account_id, campaign_id;

-- 2. Outcomes by hour of day (campaign timezone), now with `skipped` (a pre-dial refusal).
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
    countIf(status = 'skipped') AS skipped,
    countIf(status NOT IN ('answered', 'no_answer', 'busy', 'failed', 'voicemail', 'invalid_number', 'timeout', 'skipped')) AS other,
    round(answered_calls / calls, 4) AS answer_rate
FROM v_calls_local
WHERE finished
GROUP BY account_id, campaign_id, local_hour;

-- Progress (as in 0004_opt_outs.sql, plus expired and skipped): contacts by final status, attempts, calls in flight, completion estimate.
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
            countIf(status = 'expired') AS expired,
            countIf(status = 'skipped') AS skipped,
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
            fin.expired AS expired,
            fin.skipped AS skipped,
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
    reached, exhausted, failed, cancelled, suppressed, opted_out, expired, skipped,
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
