"""`hotline users ...`: web accounts from the command line.

    hotline users create-admin --username NAME [--display-name 张三]   # password from a prompt or stdin
    hotline users create --username NAME --role operator --operator-id 8001 [--seat 1003]   # likewise
    hotline users set-password --username NAME                          # same; ends nothing else
    hotline users list [--json]

The first admin is made this way; there is never a default password. The
password is asked twice at a terminal, or read as the first line of stdin
(for scripts: `printf '%s\\n' "$PW" | hotline users create-admin ...`).
Redis: --redis-url, else the running hotline's (`hotline up`; --run FOLDER for another),
else the settings' redis.url (hotline/running.py).
"""
from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from hotline import running
from web.accounts import AccountError, Accounts, Role
from web.audit import Actor, AuditLog
from web.config import WebConfig

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_CONFIG = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("users", help="web accounts (admins, supervisors, operators)")
    sub = parser.add_subparsers(dest="users_command", metavar="COMMAND")
    sub.required = True

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", type=Path, help="site configuration file (its conf.d/ is read too)")
        running.add_arguments(p)

    ca = sub.add_parser("create-admin", help="create an admin account (password from a prompt or stdin)")
    ca.add_argument("--username", required=True)
    ca.add_argument("--display-name", default=None)
    common(ca)
    ca.set_defaults(func=cmd_create_admin)

    cu = sub.add_parser("create", help="create an operator, supervisor or admin account (password as above)")
    cu.add_argument("--username", required=True)
    cu.add_argument("--role", required=True, choices=[r.id for r in Role])
    cu.add_argument("--display-name", default=None)
    cu.add_argument("--operator-id", default=None, help="the operator's id (工号) in the seats config: "
                    "operators need one to log in to a seat at /console")
    cu.add_argument("--seat", default=None, help="a seat the operator always takes (optional)")
    common(cu)
    cu.set_defaults(func=cmd_create)

    sp = sub.add_parser("set-password", help="set a user's password (password from a prompt or stdin)")
    sp.add_argument("--username", required=True)
    common(sp)
    sp.set_defaults(func=cmd_set_password)

    ls = sub.add_parser("list", help="list accounts")
    ls.add_argument("--json", action="store_true")
    common(ls)
    ls.set_defaults(func=cmd_list)


def _redis_url(args: argparse.Namespace, stderr: TextIO) -> str | None:
    try:
        return running.redis_url(args)
    except running.NoHotline as exc:
        stderr.write(f"hotline users: {exc}\n")
        return None


def read_password(stdin: TextIO, stderr: TextIO) -> str | None:
    """Twice at a terminal (must match), else the first line of stdin."""
    if stdin.isatty():
        first = getpass.getpass("密码：", stream=stderr)
        if getpass.getpass("再次输入密码：", stream=stderr) != first:
            stderr.write("两次输入的密码不一致\n")
            return None
        return first
    line = stdin.readline()
    return line[:-1] if line.endswith("\n") else line


async def _with_accounts(url: str, work: Any) -> int:
    client = running.redis_client(url)
    try:
        config = WebConfig()
        accounts = Accounts(client, config.hasher, time.time, min_password_len=config.min_password_len)
        return await work(accounts, AuditLog(client, time.time, maxlen=config.audit_maxlen))
    finally:
        await client.aclose()


def cmd_create_admin(args: argparse.Namespace, stdin: TextIO | None = None,
                     stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    return cmd_create(argparse.Namespace(**{**vars(args), "role": Role.ADMIN.id}), stdin, stdout, stderr)


def cmd_create(args: argparse.Namespace, stdin: TextIO | None = None,
               stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    url = _redis_url(args, stderr)
    if url is None:
        return EXIT_CONFIG
    password = read_password(stdin, stderr)
    if not password:
        stderr.write("未提供密码\n")
        return EXIT_REFUSED

    async def work(accounts: Accounts, audit: AuditLog) -> int:
        try:
            user = await accounts.create(args.username, password, Role.parse(args.role), args.display_name,
                                         operator_id=getattr(args, "operator_id", None),
                                         seat=getattr(args, "seat", None))
        except AccountError as exc:
            stderr.write(f"{exc.error_id}: {exc.message}\n")
            return EXIT_REFUSED
        await audit.record(Actor.system("cli"), "user.create", f"user:{user.id}",
                           {"username": user.username, "role": user.role.id})
        stdout.write(json.dumps(user.to_dict(), ensure_ascii=False) + "\n")
        return EXIT_OK

    return asyncio.run(_with_accounts(url, work))


def cmd_set_password(args: argparse.Namespace, stdin: TextIO | None = None,
                     stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdin, stdout, stderr = stdin or sys.stdin, stdout or sys.stdout, stderr or sys.stderr
    url = _redis_url(args, stderr)
    if url is None:
        return EXIT_CONFIG
    password = read_password(stdin, stderr)
    if not password:
        stderr.write("未提供密码\n")
        return EXIT_REFUSED

    async def work(accounts: Accounts, audit: AuditLog) -> int:
        user = await accounts.by_username(args.username)
        if user is None:
            stderr.write(f"unknown_user: 用户不存在：{args.username}\n")
            return EXIT_REFUSED
        try:
            await accounts.set_password(user.id, password)
        except AccountError as exc:
            stderr.write(f"{exc.error_id}: {exc.message}\n")
            return EXIT_REFUSED
        await audit.record(Actor.system("cli"), "user.password_reset", f"user:{user.id}")
        stdout.write(f"已为 {user.username} 设置新密码\n")
        return EXIT_OK

    return asyncio.run(_with_accounts(url, work))


def cmd_list(args: argparse.Namespace, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    url = _redis_url(args, stderr)
    if url is None:
        return EXIT_CONFIG

    async def work(accounts: Accounts, _audit: AuditLog) -> int:
        users = await accounts.list()
        if args.json:
            stdout.write(json.dumps([u.to_dict() for u in users], ensure_ascii=False) + "\n")
            return EXIT_OK
        for u in users:
            state = "停用" if u.disabled else "正常"
            stdout.write(f"{u.id}\t{u.username}\t{u.display_name}\t{u.role.id}\t"
                         f"{u.operator_id or '-'}\t{u.seat or '-'}\t{state}\n")
        return EXIT_OK

    return asyncio.run(_with_accounts(url, work))
