"""Where an account's snapshot objects live in its bucket.

One function decides the account's key prefix, so the runner that writes
snapshots and the operator that deletes them on `deletionPolicy: Delete`
can never disagree about which keys belong to the account.
"""

from __future__ import annotations


def account_prefix(prefix: str, namespace: str, account: str) -> str:
    """`<prefix>/<namespace>/<account>/`: namespaced, so two clusters or teams can share a bucket."""
    base = prefix.strip("/")
    parts = [base] if base else []
    parts += [namespace, account]
    return "/".join(parts) + "/"


# Keys inside one account's prefix (`account_prefix(...)`). Everything an account owns
# lives under that prefix, so `deletionPolicy: Delete` removes exactly these:
#
#   owner.json                    who owns the prefix: namespace/name and the account's uid
#                                 (`ownership.decide_owner`: another account is refused)
#   keys/<key id>.<uid>.json      the account data key, wrapped by the KEK with that id and
#                                 bound to the account uid (`keys/<key id>.json`: no uid, a
#                                 runner started by hand or a store written before format 4)
#   chunks/<chunk id>             one encrypted, compressed chunk (id = keyed hash, see crypto)
#   manifests/<snapshot id>.json  one snapshot: files, modes, sizes, chunk ids, token, key id
#                                 (format 2: the JSON is stored zstd-compressed, see manifest.py)
#   latest.json                   the latest-pointer, moved by compare-and-swap
#   suspect/<chunk id>            empty marker: a restore or verification found that chunk's
#                                 object corrupt; the next snapshot that holds the chunk
#                                 uploads it again (overwriting) and removes the marker


OWNER = "owner.json"
LATEST = "latest.json"
CHUNKS = "chunks/"
MANIFESTS = "manifests/"
KEYS = "keys/"
SUSPECT = "suspect/"


def owner_key(account: str) -> str:
    return f"{account}{OWNER}"


def latest_key(account: str) -> str:
    return f"{account}{LATEST}"


def chunk_key(account: str, chunk_id: str) -> str:
    return f"{account}{CHUNKS}{chunk_id}"


def manifest_key(account: str, snapshot_id: str) -> str:
    return f"{account}{MANIFESTS}{snapshot_id}.json"


def data_key_key(account: str, key_id: str, uid: str = "") -> str:
    """The key doc of the data key under KEK `key_id` for account `uid` (one DEK per uid)."""
    return f"{account}{KEYS}{key_id}.{uid}.json" if uid else f"{account}{KEYS}{key_id}.json"


def suspect_key(account: str, chunk_id: str) -> str:
    return f"{account}{SUSPECT}{chunk_id}"
