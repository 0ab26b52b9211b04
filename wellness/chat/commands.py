"""``wellness users add|remove|list``: accounts for password mode (``WELLNESS_AUTH=password``).

Why a CLI and no sign-up page: this is a local-first app; whoever runs the server decides who
may log in. Passwords are read without echo (or from stdin for scripts) and stored only as
scrypt hashes.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any

from wellness.config import Settings


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("users", help="manage logins for password mode")
    sub = p.add_subparsers(dest="users_action", required=True)
    a = sub.add_parser("add", help="add a user or change their password")
    a.add_argument("username")
    a.add_argument("--password-stdin", action="store_true",
                   help="read the password from standard input (for scripts)")
    a.set_defaults(func=cmd_users)
    r = sub.add_parser("remove", help="remove a user's login (their data stays until "
                                      "`wellness data forget`)")
    r.add_argument("username")
    r.set_defaults(func=cmd_users)
    ls = sub.add_parser("list", help="list user names")
    ls.set_defaults(func=cmd_users)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise ValueError("the passwords differ")
    return first


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    from wellness.chat.auth import add_user, list_users, remove_user
    from wellness.store.connection import RedisStore
    from wellness.store.runtime import resolve_redis

    endpoint = resolve_redis(settings, started_by="cli")
    store = RedisStore(endpoint.url)
    try:
        with store.connection() as r:
            if args.users_action == "list":
                for name in list_users(r):
                    print(name)
                return 0
            if args.users_action == "remove":
                if remove_user(r, args.username):
                    print(f"Removed {args.username}.")
                    return 0
                print(f"wellness: no user called {args.username}", file=sys.stderr)
                return 1
            try:
                add_user(r, args.username, _read_password(args))
            except ValueError as exc:
                print(f"wellness: {exc}", file=sys.stderr)
                return 2
            print(f"Saved {args.username}." + ("" if settings.auth_mode == "password" else
                  " (Logins are used when WELLNESS_AUTH=password.)"))
            return 0
    finally:
        store.close()
        endpoint.release()
