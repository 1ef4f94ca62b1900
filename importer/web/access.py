"""Who may touch what on the page: the accounts' users and managers, and the admins.

The accounts file says it (:mod:`importer.web.accounts`):

- an account's ``users = [...]`` (user names, or ``group:NAME`` for a group the sign-on passes)
  may use it: upload for it, import into it, see its runs; without ``users``, every signed-in
  user may;
- a user sees their own uploads only, and the runs of the accounts they may use; with the
  account's ``private_runs = true``, their own runs of it only;
- a run's owner may stop, undo and update it; anyone else needs to be one of the account's
  ``managers = [...]`` or an admin, and to confirm by typing the count (the page asks);
- the top-level ``admins = [...]`` see and manage everything.

Names are compared without regard to case (``Ana@Acme.example`` is ``ana@acme.example``:
sign-ons differ in how they spell an email), groups too.

Only a sign-in that names the user (``--auth proxy`` or ``oidc``) can be held to this: with a
shared password or none, a name is whatever is typed on the page, so there is one coordinator
who may do everything, and an accounts file that lists users, managers, admins or private runs
is refused when the server starts (:meth:`Access.check`), rather than seeming to guard what it
cannot.

Every check answers for the server: a page, a download or an action a user may not see answers
as if the thing did not exist (404); one they may see but not act on says why (403).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from importer.core.errors import ConfigurationError
from importer.web.accounts import Account

__all__ = ["GROUP", "Access", "User"]

#: The prefix of a group's entry in ``users``, ``managers`` and ``admins``.
GROUP = "group:"


@dataclass(frozen=True)
class User:
    """Who a request is from: the name the sign-on gives, and the groups it vouches for."""

    name: str
    groups: frozenset[str] = frozenset()

    def is_(self, name: str | None) -> bool:
        """Whether ``name`` (a run's or an upload's owner) is this user."""
        return name is not None and name.strip().casefold() == self.name.strip().casefold()

    def listed(self, entries: Iterable[str]) -> bool:
        """Whether this user is one of ``entries`` (names and ``group:NAME`` entries)."""
        groups = {group.casefold() for group in self.groups}
        for entry in entries:
            if entry.startswith(GROUP):
                if entry[len(GROUP) :].strip().casefold() in groups:
                    return True
            elif self.is_(entry):
                return True
        return False


@dataclass(frozen=True)
class Access:
    """The page's rules. ``named``: the sign-in names the user (proxy, OIDC); without it,
    everyone is the one coordinator, who may do everything."""

    admins: tuple[str, ...] = ()
    named: bool = False

    def check(self, accounts: Sequence[Account], auth: str) -> None:
        """Refuse rules this sign-in cannot hold anyone to.

        Raises:
            ConfigurationError: users, managers, admins or private runs are set, and ``auth``
                (the ``--auth`` chosen) does not name the user.
        """
        if self.named:
            return
        said = ["admins"] if self.admins else []
        for account in accounts:
            for name, value in (
                ("users", account.users is not None),
                ("managers", bool(account.managers)),
                ("private_runs", account.private_runs),
            ):
                if value:
                    said.append(f"{name} of {account.name!r}")
        if said:
            raise ConfigurationError(
                f"the accounts file sets {', '.join(said)}, but with --auth {auth} the page "
                "cannot tell one person from another (a name is whatever is typed): use "
                "--auth proxy or --auth oidc, or leave them out."
            )

    def is_admin(self, user: User) -> bool:
        """Whether ``user`` sees and manages everything."""
        return not self.named or user.listed(self.admins)

    def may_use(self, user: User, account: Account) -> bool:
        """Whether ``user`` may upload for, import into and see the runs of ``account``."""
        if self.is_admin(user) or account.users is None:
            return True
        return user.listed(account.users)

    def may_see_upload(self, user: User, account: Account, owner: str) -> bool:
        """Whether ``user`` may see (and import) an upload ``owner`` made for ``account``."""
        return self.is_admin(user) or (user.is_(owner) and self.may_use(user, account))

    def may_see_run(self, user: User, account: Account, owner: str | None) -> bool:
        """Whether ``user`` may see a run of ``account`` by ``owner`` (its page, progress,
        result; ``None``: a run that recorded nobody, an older command line's)."""
        if self.is_admin(user):
            return True
        if not self.may_use(user, account):
            return False
        return not account.private_runs or user.is_(owner)

    def may_manage(self, user: User, account: Account, owner: str | None) -> bool:
        """Whether ``user`` may stop, undo or update a run of ``account`` by ``owner``."""
        if self.is_admin(user):
            return True
        if not self.may_see_run(user, account, owner):
            return False
        return user.is_(owner) or user.listed(account.managers)

    def others(self, user: User, owners: Iterable[str | None]) -> list[str]:
        """The owners among ``owners`` who are not ``user`` (each once, in order; a run that
        recorded nobody is "someone else"): whose work an action would touch. Without a
        sign-in that names people there is one coordinator, hence no one else."""
        found: list[str] = []
        if not self.named:
            return found
        for owner in owners:
            shown = owner or "(not recorded)"
            if not user.is_(owner) and shown not in found:
                found.append(shown)
        return found
