-- campaignflow analytics: what calls cost (issue 23 item 4).
--
-- The sink follows the API's control-plane topics (api.numbers, api.accounts) and keeps
-- each number's price (`rate_per_minute`, exact decimal, and `currency`) and each account's
-- `billing_increment_seconds` (1, 6 or 60; 60 unless set), one row per change, in force
-- from the record's `updated_at`. A call is priced by its caller ID's rate and its
-- account's increment in force when the call was created: billed seconds are its duration
-- (to the millisecond) rounded up to the increment, cost = rate_per_minute * billed / 60,
-- all in Decimal (no float anywhere in the money). A call from a number without a rate is
-- counted as unpriced (its minutes still count).

CREATE TABLE IF NOT EXISTS number_rates
(
    account_id      LowCardinality(String),
    e164            String,
    number_id       String,
    since           DateTime64(3, 'UTC'),
    priced          Bool,
    rate_per_minute Decimal(18, 6),
    currency        LowCardinality(String),
    published_at    DateTime64(3, 'UTC'),
    inserted_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (account_id, e164, since, number_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS account_billing
(
    account_id                LowCardinality(String),
    since                     DateTime64(3, 'UTC'),
    billing_increment_seconds UInt8,
    published_at              DateTime64(3, 'UTC'),
    inserted_at               DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree
ORDER BY (account_id, since)
SETTINGS non_replicated_deduplication_window = 1000;

-- One row per finished call placed by the engine: its price and what it cost.
CREATE OR REPLACE VIEW v_call_costs AS
SELECT
    p.account_id AS account_id,
    p.campaign_id AS campaign_id,
    p.call_id AS call_id,
    p.contact_id AS contact_id,
    p.attempt AS attempt,
    p.caller_id AS caller_id,
    p.status AS status,
    p.created_at AS created_at,
    p.duration_ms AS duration_ms,
    p.increment_seconds AS billing_increment_seconds,
    toUInt64(intDiv(p.duration_ms + p.increment_seconds * 1000 - 1, p.increment_seconds * 1000) * p.increment_seconds) AS billed_seconds,
    p.priced AS priced,
    p.rate_per_minute AS rate_per_minute,
    p.currency AS currency,
    if(p.priced, toDecimal128(p.rate_per_minute, 12) * billed_seconds / 60, toDecimal128(0, 12)) AS cost
FROM
(
    SELECT
        c.*,
        if(b.billing_increment_seconds = 0, 60, toUInt64(b.billing_increment_seconds)) AS increment_seconds
    FROM
    (
        SELECT
            v.account_id AS account_id,
            v.campaign_id AS campaign_id,
            v.call_id AS call_id,
            v.contact_id AS contact_id,
            v.attempt AS attempt,
            v.caller_id AS caller_id,
            v.status AS status,
            v.created_at AS created_at,
            toUInt64(round(greatest(ifNull(v.duration_seconds, 0), 0) * 1000)) AS duration_ms,
            r.priced AS priced,
            r.rate_per_minute AS rate_per_minute,
            toString(r.currency) AS currency
        FROM (SELECT * FROM v_calls WHERE finished AND has_attempt) AS v
        ASOF LEFT JOIN (SELECT toString(account_id) AS account_id, e164, since, priced, rate_per_minute, currency FROM number_rates FINAL) AS r
            ON r.account_id = v.account_id AND r.e164 = v.caller_id AND v.created_at >= r.since
    ) AS c
    ASOF LEFT JOIN (SELECT toString(account_id) AS account_id, since, billing_increment_seconds FROM account_billing FINAL) AS b
        ON b.account_id = c.account_id AND c.created_at >= b.since
) AS p;

-- Minutes and cost per campaign (one row per currency; unpriced calls under currency '').
CREATE OR REPLACE VIEW v_cost_by_campaign AS
SELECT
    account_id,
    campaign_id,
    currency,
    count() AS calls,
    countIf(billed_seconds > 0) AS billed_calls,
    round(sum(duration_ms) / 60000, 3) AS talk_minutes,
    toDecimal128(sum(billed_seconds), 6) / 60 AS billed_minutes,
    sum(cost) AS cost
FROM v_call_costs
GROUP BY account_id, campaign_id, currency;

-- Minutes and cost per campaign and outcome.
CREATE OR REPLACE VIEW v_cost_by_outcome AS
SELECT
    account_id,
    campaign_id,
    status,
    currency,
    count() AS calls,
    toDecimal128(sum(billed_seconds), 6) / 60 AS billed_minutes,
    sum(cost) AS cost
FROM v_call_costs
GROUP BY account_id, campaign_id, status, currency;

-- Minutes and cost per caller ID.
CREATE OR REPLACE VIEW v_cost_by_caller_id AS
SELECT
    account_id,
    campaign_id,
    caller_id,
    currency,
    any(rate_per_minute) AS rate_per_minute,
    count() AS calls,
    toDecimal128(sum(billed_seconds), 6) / 60 AS billed_minutes,
    sum(cost) AS cost
FROM v_call_costs
GROUP BY account_id, campaign_id, caller_id, currency;

-- What one reached contact cost: every call of the campaign (reached or not) over the
-- contacts reached (NULL before the first).
CREATE OR REPLACE VIEW v_cost_per_reached_contact AS
SELECT
    k.account_id AS account_id,
    k.campaign_id AS campaign_id,
    k.currency AS currency,
    k.cost AS cost,
    k.billed_minutes AS billed_minutes,
    ifNull(f.reached, 0) AS reached_contacts,
    if(ifNull(f.reached, 0) = 0, NULL, toNullable(k.cost / toDecimal128(f.reached, 0))) AS cost_per_reached_contact,
    if(ifNull(f.reached, 0) = 0, NULL, toNullable(k.billed_minutes / toDecimal128(f.reached, 0))) AS minutes_per_reached_contact
FROM v_cost_by_campaign AS k
LEFT JOIN
(
    SELECT toString(account_id) AS account_id, toString(campaign_id) AS campaign_id, count() AS reached
    FROM v_contact_finals
    WHERE status = 'reached'
    GROUP BY account_id, campaign_id
) AS f ON f.account_id = k.account_id AND f.campaign_id = k.campaign_id;
