"""One realistic record per event, as the codec returns them (epoch-millis times, union tuples).

Used by the codec and topic round-trip tests, and handy as a reference of each contract's shape.
"""

from __future__ import annotations

from typing import Any

from topics.schemas import full_name

T0 = 1_796_133_600_000  # 2026-12-01T14:00:00Z in epoch millis

DEFINITION: dict[str, Any] = {
    "campaign_id": "spring-renewals",
    "account_id": "acme",
    "name": "Spring renewals",
    "description": "Renewal reminders for spring plans",
    "agent": {
        "id": "renewals-bot",
        "prompt": "Hi {{customer_name}}, calling about your {{plan}} plan.",
    },
    "agents": [],  # CampaignDefinition v5; empty, as older versions read it
    "source_number": "+15550100000",
    "default_region": "US",
    "variable_mapping": {"name": "customer_name", "plan_name": "plan"},
    "rules": {
        "max_retries": 2,
        "retry_delay_minutes": 30.0,
        "calling_days": ["mon", "tue", "wed", "thu", "fri"],
        "calling_window": {"start": "09:00", "end": "19:00"},
        "timezone": "America/New_York",
        "concurrent_calls": 10,
        "inbound_free_slots": 2,
        "caller_ids": {"numbers": ["+15550100001", "+15550100002"], "strategy": "rolling"},
        "alternate_strategy": "clamp",
        "retry_on": ["no_answer", "busy", "failed", "voicemail", "timeout"],
        "max_call_minutes": 60.0,
        "contact_local_time": {"enabled": True, "window": {"start": "08:00", "end": "21:00"}},
        # SPEC 7 (v2), at their defaults so data written with v1 reads back as this record.
        "calling_hours": None,
        "blackout_dates": [],
        "holidays": None,
        "attempt_limits": [],
        "compliance": [],
        "priority": 5,  # SPEC 8 and 9 fields at their defaults: older versions read the same
        "ends_at": None,
        "max_callbacks": 1,
        "voicemail": None,  # issue 23's policy at its default (hang up)
    },
    "predial": None,  # issue 23: no pre-dial check (older versions read the same)
}

SAMPLES: dict[str, dict[str, Any]] = {
    "CampaignDefinition": DEFINITION,
    "CampaignCommand": {
        "command_id": "cmd-0001",
        "campaign_id": "spring-renewals",
        "account_id": "acme",
        "issued_at": T0,
        "command": (
            full_name("CreateCampaign"),
            {"definition": DEFINITION, "expected_contacts": 3},
        ),
    },
    "ContactBatch": {
        "batch_id": "spring-renewals/contacts.csv/0",
        "campaign_id": "spring-renewals",
        "account_id": "acme",
        "produced_at": T0,
        "contacts": [
            {
                "contact_id": "c-1",
                "row": 1,
                "phone_number": "+12025550143",
                "alternates": [
                    {"position": 2, "phone_number": "+12025550199", "variables": {"name": "Ana"}},
                ],
                "variables": {"name": "Bob", "plan_name": "gold"},
                "timezone": "America/Chicago",
                "agent_id": None,  # ContactBatch v3; null, as older versions read it
            },
            {
                "contact_id": "row-2",
                "row": 2,
                "phone_number": "+442071838750",
                "alternates": [],
                "variables": {"name": "Zoë", "plan_name": "silver"},
                "timezone": None,
                "agent_id": None,
            },
        ],
    },
    "CallCreate": {
        "call_id": "spring-renewals/c-1/1",
        "campaign_id": "spring-renewals",
        "account_id": "acme",
        "contact_id": "c-1",
        "attempt": 1,
        "to": "+12025550143",
        "from": "+15550100001",
        "alternate_position": 0,
        "agent_id": "renewals-bot",
        "agent_prompt": "Hi {{customer_name}}, calling about your {{plan}} plan.",
        "variables": {"customer_name": "Bob", "plan": "gold"},
        "created_at": T0,
        "deadline": T0 + 60 * 60_000,
        "voicemail_message": "Hi Bob, sorry we missed you: call us back about your gold plan.",
        "predial": {
            "url": "https://checks.example.com/predial",
            "timeout_ms": 2000,
            "on_error": "skip",
        },
    },
    "CallOutcome": {
        "call_id": "spring-renewals/c-1/1",
        "campaign_id": "spring-renewals",
        "account_id": "acme",
        "contact_id": "c-1",
        "attempt": 1,
        "status": "answered",
        "created_at": T0,
        "started_at": T0 + 1_000,
        "answered_at": T0 + 9_000,
        "ended_at": T0 + 99_000,
        "duration_seconds": 90.0,
        "hangup_cause": "NORMAL_CLEARING",
        "dialer_id": "dialer-1",
        "opt_out": False,
        "callback_at": None,  # SPEC 9; older versions read the same
        "voicemail_left": False,  # issue 23; older versions read the same
    },
    "CampaignEvent": {
        "event_id": "spring-renewals/final/c-1",
        "campaign_id": "spring-renewals",
        "account_id": "acme",
        "at": T0 + 99_000,
        "body": (
            full_name("ContactFinal"),
            {"contact_id": "c-1", "status": "reached", "attempts": 1},
        ),
    },
    "Tick": {"partition": 3, "at": T0},
    "DncEntry": {"number": "+12025550143", "blocked": True, "updated_at": T0, "account_id": None},
    "AccountStatus": {
        "account_id": "acme",
        "active": True,
        "plan": "pro",
        "updated_at": T0,
        "lines": 20,
        "inbound_max_minutes": 240.0,
    },
    "ApiRecord": {
        "kind": "agent",
        "account_id": "acme",
        "id": "renewals-bot",
        "body": '{"agent_id": "renewals-bot", "name": "Renewals", "prompt": "Hi"}',
        "updated_at": T0,
    },
    "InboundCall": {
        "call_id": "in-42",
        "agent_id": "renewals-bot",
        "account_id": "acme",
        "kind": "started",
        "at": T0,
        "dialer_id": None,
    },
    "CallPlaced": {
        "call_id": "spring-renewals/c-1/1",
        "state": "dialing",
        "campaign_id": "spring-renewals",
        "account_id": "acme",
        "contact_id": "c-1",
        "attempt": 1,
        "to": "+12125550101",
        "from": "+15550100001",
        "agent_id": "renewals-bot",
        "created_at": T0,
        "deadline": T0 + 3_600_000,
        "placed_at": T0 + 40,
        "dialer_id": "dialer-1",
        "adapter": "webhook",
    },
    "DeadLetter": {
        "topic": "campaign.contacts",
        "partition": 2,
        "offset": 17,
        "key": b"spring-renewals",
        "value": b"\xc3\x01garbage",
        "error": "cannot decode message at topic=campaign.contacts partition=2 offset=17: corrupt",
        "stage": "engine",
        "failed_at": T0,
        "value_length": None,
        "value_sha256": None,
    },
    "CallerIdHealth": {
        "event_id": "cid-0f3c5e2a9b7d41c6a8e2f1d09b3c7a55",
        "account_id": "acme",
        "campaign_id": "spring-renewals",
        "caller_id": "+15550100003",
        "degraded": True,
        "recent_calls": 30,
        "recent_answer_rate": 0.1,
        "campaign_median_answer_rate": 0.5,
        "at": T0,
    },
}

# Every variant of the two unions of records, for tests that cover them all.
COMMANDS: list[tuple[str, dict[str, Any]]] = [
    (full_name("CreateCampaign"), {"definition": DEFINITION, "expected_contacts": 3}),
    (full_name("ScheduleCampaign"), {"start_at": T0 + 3_600_000}),
    (full_name("StartCampaign"), {}),
    (full_name("PauseCampaign"), {}),
    (full_name("ResumeCampaign"), {}),
    (full_name("CancelCampaign"), {}),
    (full_name("AddContacts"), {"count": 5}),
]

EVENT_BODIES: list[tuple[str, dict[str, Any]]] = [
    (full_name("StatusChanged"), {"status": "running"}),
    (full_name("ContactFinal"), {"contact_id": "c-1", "status": "exhausted", "attempts": 3}),
    (
        full_name("CommandRejected"),
        {"command_id": "cmd-2", "command": "pause", "reason": "campaign is draft"},
    ),
    (
        full_name("ContactRejected"),
        {
            "row": 4,
            "column": "phone_number",
            "reason": "not a valid number",
            "contact_id": None,
            "values": {"phone_number": "12", "name": "X"},
        },
    ),
    (
        full_name("Progress"),
        {
            "contacts_total": 3,
            "contacts_final": 1,
            "calls_in_flight": 2,
            "counts": {"reached": 1, "answered": 1},
        },
    ),
    (full_name("ContactsAccepted"), {"batch_id": "spring-renewals/rows-1-3", "positions": [0, 2]}),
]
