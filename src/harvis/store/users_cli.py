"""`harvis users create|list|set-password|sign-out|tools`: accounts from the console (for admins)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from harvis.config import Settings
from harvis.store import credentials, tool_grants, users
from harvis.store.db import Database
from harvis.store.passwords import hash_password, password_problem


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create an account")
    create.add_argument("username")
    create.add_argument("--admin", action="store_true", help="make it an admin")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    sub.add_parser("list", help="list accounts")
    signout = sub.add_parser(
        "sign-out", help="sign an account out everywhere: end its sessions and delete its API keys"
    )
    signout.add_argument("username")
    setpw = sub.add_parser(
        "set-password", help="set an account's password (ends its sessions and deletes its API keys)"
    )
    setpw.add_argument("username")
    setpw.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    tools = sub.add_parser(
        "tools", help="show, enable or disable the MCP servers an account's answers may use"
    )
    tools.add_argument("username")
    tools.add_argument(
        "--enable", action="append", default=[], metavar="SERVER", help="a server of the MCP config"
    )
    tools.add_argument("--disable", action="append", default=[], metavar="SERVER")


def read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != first:
        raise ValueError("the passwords differ")
    return first


async def _create(settings: Settings, username: str, password: str, admin: bool) -> str:

    db = Database.from_settings(settings)
    try:
        await db.open()
        async with db.session() as s:
            if (problem := users.username_problem(username)) is not None:
                raise ValueError(problem)
            if await users.get_user_by_name(s, username=username) is not None:
                raise ValueError(f"user {username!r} exists")
            first = await users.count_users(s) == 0
            user = await users.create_user(
                s, username=username, password_hash=hash_password(password), is_admin=admin or first
            )
            await s.commit()
            return f"created {user.username} ({'admin' if user.is_admin else 'user'}, id {user.id})"
    finally:
        await db.close()


async def _list(settings: Settings) -> list[str]:

    db = Database.from_settings(settings)
    try:
        await db.open()
        async with db.session() as s:
            rows = await users.list_users(s)
            return [
                f"{u.username}\t{'admin' if u.is_admin else 'user'}\t{u.id}\t{u.created_at:%Y-%m-%d}"
                for u in rows
            ]
    finally:
        await db.close()


async def _set_password(settings: Settings, username: str, password: str | None) -> str:
    """Signs the account out everywhere (every session token revoked, every API key deleted),
    after setting its password when one is given."""
    db = Database.from_settings(settings)
    try:
        await db.open()
        async with db.session() as s:
            user = await users.get_user_by_name(s, username=username)
            if user is None:
                raise ValueError(f"no user {username!r}")
            if password is not None:
                await users.set_password(s, user=user, password_hash=hash_password(password))
            sessions = await credentials.revoke_user_tokens(s, user_id=user.id)
            keys = await credentials.delete_user_api_keys(s, user_id=user.id)
            await s.commit()
            done = f"password changed for {username}; " if password is not None else f"{username}: "
            return f"{done}{sessions} session(s) signed out and {keys} API key(s) deleted"
    finally:
        await db.close()


async def _tools(settings: Settings, username: str, enable: list[str], disable: list[str]) -> str:
    """Grants by name only: the server's config is read by `harvis serve`, which ignores a grant
    for a server it does not have (the admin API refuses those)."""
    if bad := [n for n in enable + disable if tool_grants.SERVER_NAME_RE.match(n) is None]:
        raise ValueError(f"{bad[0]!r} is not an MCP server name (letters, digits, _ and -, at most 32)")
    db = Database.from_settings(settings)
    try:
        await db.open()
        async with db.session() as s:
            user = await users.get_user_by_name(s, username=username)
            if user is None:
                raise ValueError(f"no user {username!r}")
            have = set(await tool_grants.servers_for(s, user_id=user.id))
            now = await tool_grants.set_servers(
                s, user_id=user.id, servers=(have | set(enable)) - set(disable)
            )
            await s.commit()
            return f"{user.username}: MCP servers: {', '.join(now) or 'none'}"
    finally:
        await db.close()


def run(args: argparse.Namespace, settings: Settings) -> int:

    try:
        if args.users_command == "list":
            for line in asyncio.run(_list(settings)):
                print(line)
            return 0
        if args.users_command == "tools":
            print(asyncio.run(_tools(settings, args.username, args.enable, args.disable)))
            return 0
        if args.users_command == "sign-out":
            print(asyncio.run(_set_password(settings, args.username, None)))
            return 0
        password = read_password(args.password_stdin)
        if (problem := password_problem(password)) is not None:
            raise ValueError(problem)
        if args.users_command == "create":
            print(asyncio.run(_create(settings, args.username, password, args.admin)))
        else:
            print(asyncio.run(_set_password(settings, args.username, password)))
        return 0
    except ValueError as exc:
        print(f"harvis users: {exc}", file=sys.stderr)
        return 1
