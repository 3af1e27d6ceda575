-- campaignflow analytics: SPEC section 7 (compliance rules).
--
-- The campaigns table gains the rules of each campaign's create command (presets,
-- attempt limits as "scope:max/period_h", blackout dates, the holiday calendar). The
-- engine counts, per rule, the contacts that rule held back at least once (a contact
-- passed over for its local time, a preset or an attempt limit); the counts ride on
-- the Progress events as counts['held_back:<rule>'], and v_held_back shows the latest
-- per campaign, one row per rule, beside the campaign's rules.

ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS compliance Array(String) DEFAULT [];
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS attempt_limits Array(String) DEFAULT [];
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS blackout_dates Array(String) DEFAULT [];
ALTER TABLE campaigns ADD COLUMN IF NOT EXISTS holidays String DEFAULT '';

-- A view's `*` is expanded when it is made: made again, it shows the new columns.
CREATE OR REPLACE VIEW v_campaigns AS
SELECT * FROM campaigns FINAL;

CREATE OR REPLACE VIEW v_held_back AS
SELECT
    toString(p.account_id) AS account_id,
    toString(p.campaign_id) AS campaign_id,
    replaceOne(rule_key, 'held_back:', '') AS rule,
    p.latest[rule_key] AS contacts_held_back,
    p.last_at AS as_of,
    k.compliance AS compliance,
    k.attempt_limits AS attempt_limits,
    k.blackout_dates AS blackout_dates,
    k.holidays AS holidays
FROM
(
    SELECT account_id, campaign_id, argMax(counts, at) AS latest, max(at) AS last_at
    FROM v_events
    WHERE kind = 'progress'
    GROUP BY account_id, campaign_id
) AS p
ARRAY JOIN arrayFilter(x -> startsWith(x, 'held_back:'), mapKeys(p.latest)) AS rule_key
LEFT JOIN v_campaigns AS k ON k.account_id = p.account_id AND k.campaign_id = p.campaign_id;
