"""/v1/account/keys: an account key manages its own account's keys, never another's.

The account comes from the bearer key, so another account's key id is simply not found;
a revoked key is refused at once; the operator routes (accounts, subscriptions, keys of
any account) still need the operator key. Runs the API on the real broker.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_api_dnc import Api, drop_prefix, running_api

pytestmark = pytest.mark.integration


@pytest.fixture()
def api(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Api]:
    prefix = f"tkeys-{uuid.uuid4().hex[:8]}."
    try:
        with running_api(kafka_bootstrap, prefix, tmp_path / "api") as a:
            yield a
    finally:
        drop_prefix(prefix)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_an_account_key_lists_creates_and_revokes_its_own_keys(api: Api) -> None:
    a = api.account("keys-a")
    r = api.http.post("/v1/account/keys", headers=a)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["account_id"] == "keys-a" and new["key"].startswith(f"cfk_{new['key_id']}_")
    listed = api.http.get("/v1/account/keys", headers=a).json()["items"]
    assert [k["key_id"] for k in listed][-1] == new["key_id"]
    assert all("sha256" not in k and "key" not in k for k in listed)
    assert api.http.get("/v1/account", headers=bearer(new["key"])).status_code == 200
    r = api.http.delete(f"/v1/account/keys/{new['key_id']}", headers=a)
    assert r.status_code == 204, r.text
    assert api.http.get("/v1/account", headers=bearer(new["key"])).status_code == 401
    revoked = {k["key_id"]: k for k in api.http.get("/v1/account/keys", headers=a).json()["items"]}
    assert revoked[new["key_id"]]["revoked_at"] is not None


def test_an_account_key_never_reaches_another_accounts_keys(api: Api) -> None:
    a = api.account("keys-a")
    b = api.account("keys-b")
    b_keys = api.http.get("/v1/account/keys", headers=b).json()["items"]
    b_key_id = b_keys[0]["key_id"]
    r = api.http.delete(f"/v1/account/keys/{b_key_id}", headers=a)
    assert r.status_code == 404, r.text
    a_ids = {k["key_id"] for k in api.http.get("/v1/account/keys", headers=a).json()["items"]}
    assert b_key_id not in a_ids
    assert api.http.get("/v1/account", headers=b).status_code == 200  # b's key still works
    # The operator's routes stay the operator's: an account key cannot use them.
    for method, path in (
        ("POST", "/v1/operator/accounts"),
        ("PUT", "/v1/operator/accounts/keys-a/subscription"),
        ("POST", "/v1/operator/accounts/keys-b/keys"),
        ("DELETE", f"/v1/operator/accounts/keys-b/keys/{b_key_id}"),
    ):
        r = api.http.request(method, path, headers=a, json={"account_id": "x", "active": True})
        assert r.status_code == 401, (method, path, r.text)


def test_the_last_live_key_cannot_be_revoked(api: Api) -> None:
    a = api.account("keys-last")
    (only,) = api.http.get("/v1/account/keys", headers=a).json()["items"]
    r = api.http.delete(f"/v1/account/keys/{only['key_id']}", headers=a)
    assert r.status_code == 409, r.text
    assert api.http.get("/v1/account", headers=a).status_code == 200
