"""Login accounts: STUDIO_AUTH pairs and STUDIO_AUTH_FILE (one user:password a line), and a class list generator.

    python -m studio.core.accounts class.txt --count 40            # s01..s40 with random passwords, + teacher
    python -m studio.core.accounts class.txt --names 张三,李四       # one account per name given

The file it writes is STUDIO_AUTH_FILE's format; it also prints a table to hand out. One account per learner is
what the README recommends: with one shared login the whole class is one user, told apart only by browser.
"""
from __future__ import annotations

import argparse
import secrets
import sys
from pathlib import Path

from studio.core.config import settings


# No 0/O, 1/l/I: passwords are read off a slip of paper.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def parse_pairs(pairs: list[str], source: str = "STUDIO_AUTH") -> dict[str, str]:
    """user:password pairs (a password may itself contain ':'); a malformed one stops the start with its source."""
    out: dict[str, str] = {}
    for pair in pairs:
        user, sep, password = pair.partition(":")
        user = user.strip()
        if not sep or not user or not password:
            raise SystemExit(f"{source}: '{pair}' is not user:password")
        out[user] = password
    return out


def read_file(path: str | Path) -> dict[str, str]:
    """STUDIO_AUTH_FILE: one user:password a line; blank lines and lines starting with # are skipped."""
    try:
        lines = Path(path).expanduser().read_text(encoding="utf-8-sig").splitlines()
    except OSError as exc:
        raise SystemExit(f"STUDIO_AUTH_FILE: cannot read {path}: {exc.strerror}") from exc
    rows = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return parse_pairs(rows, f"STUDIO_AUTH_FILE {path}")


def logins() -> dict[str, str]:
    """Every account the server accepts: STUDIO_AUTH_FILE's, then STUDIO_AUTH's (which win on a clash)."""
    s = settings()
    found = read_file(s.auth_file) if s.auth_file else {}
    found.update(parse_pairs(s.auth))
    return found


def password(length: int = 8) -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(length))


def class_list(names: list[str], teacher: str | None = "teacher") -> dict[str, str]:
    """A fresh random password for each learner name (and the teacher's account first)."""
    users = ([teacher] if teacher else []) + names
    if len(set(users)) != len(users) or any(":" in u or not u.strip() for u in users):
        raise ValueError("account names must be distinct, non-empty and contain no ':'")
    return {user: password() for user in users}


def write(path: Path, accounts: dict[str, str]) -> None:
    path.write_text("# AIGC Studio accounts (STUDIO_AUTH_FILE): user:password\n"
                    + "".join(f"{u}:{p}\n" for u, p in accounts.items()), encoding="utf-8")
    path.chmod(0o600)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m studio.core.accounts", description=__doc__.split("\n\n")[0])
    p.add_argument("file", type=Path, help="the accounts file to write (then: STUDIO_AUTH_FILE=FILE)")
    p.add_argument("--count", type=int, default=40, help="learner accounts s01, s02, ... (ignored with --names)")
    p.add_argument("--names", default="", help="comma-separated learner names instead of s01, s02, ...")
    p.add_argument("--teacher", default="teacher", help="the teacher's account name (empty: none)")
    p.add_argument("--force", action="store_true", help="overwrite an existing file")
    args = p.parse_args(argv)
    if args.file.exists() and not args.force:
        print(f"{args.file} exists; --force overwrites it (and every password in it)", file=sys.stderr)
        return 2
    names = [n.strip() for n in args.names.split(",") if n.strip()] or \
        [f"s{i:0{max(2, len(str(args.count)))}d}" for i in range(1, args.count + 1)]
    accounts = class_list(names, args.teacher or None)
    write(args.file, accounts)
    print(f"{'account':<16}password")
    for user, pw in accounts.items():
        print(f"{user:<16}{pw}")
    teacher = f" STUDIO_OPERATORS={args.teacher}" if args.teacher else ""
    print(f"\nwrote {len(accounts)} accounts to {args.file}; start with:\n"
          f"  STUDIO_AUTH_FILE={args.file}{teacher} python app.py --host 0.0.0.0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
