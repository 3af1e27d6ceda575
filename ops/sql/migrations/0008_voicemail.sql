-- campaignflow analytics: voicemail messages left (issue 23 item 1).
--
-- A dialer's outcome may carry voicemail_left: a machine answered and the dialer left the
-- call's voicemail_message (the campaign's rules.voicemail named that attempt). Counted
-- per campaign from v_outcomes (the outcome the engine acted on, one per call).

ALTER TABLE call_outcomes ADD COLUMN IF NOT EXISTS voicemail_left Bool DEFAULT false AFTER opt_out;

-- Re-created so that its `*` takes in the new column.
CREATE OR REPLACE VIEW v_outcomes AS
SELECT *
FROM call_outcomes FINAL
ORDER BY account_id, campaign_id, call_id, ended_at, status
LIMIT 1 BY account_id, campaign_id, call_id;

-- Machines that answered and the messages left on them, per campaign.
CREATE OR REPLACE VIEW v_voicemail_by_campaign AS
SELECT
    toString(account_id) AS account_id,
    toString(campaign_id) AS campaign_id,
    countIf(status = 'voicemail') AS machine_answers,
    countIf(voicemail_left) AS messages_left,
    uniqExactIf(contact_id, voicemail_left) AS contacts_left_a_message
FROM v_outcomes
GROUP BY account_id, campaign_id;
