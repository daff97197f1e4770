"""Users, projects, roles, per-package grants and cross-project shares.

Visibility rule (no leaks): whoever cannot *see* a project or package gets
NotFound, exactly as if it did not exist; only those who can see it but
lack the action get PermissionDenied.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from registry.core.config import DEFAULT_PROTECTED_CHANNELS
from registry.core.security import ROLE_ACTIONS, Action, Principal, Role, parse_role
from registry.models import ApiToken, Membership, Package, PackageGrant, PackageVersion, Project, User, utcnow
from registry.services.audit import record_audit
from toolkit.errors import ConflictError, NotFoundError, PermissionDeniedError, UserError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def check_name(kind: str, name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise UserError(f"invalid {kind} name {name!r}: use letters, digits, '.', '_' or '-' (max 100)")
    return name


def role_from(value: str) -> Role:
    try:
        return parse_role(value)
    except ValueError as exc:
        raise UserError(str(exc)) from None


# --- principals -----------------------------------------------------------
def principal_for(user: User, memberships: list[Membership], token: ApiToken | None = None) -> Principal:
    roles = {m.project_id: Role(m.role) for m in memberships}
    token_project = token.project_id if token else None
    scopes = frozenset(token.scopes) if token and token.scopes is not None else None
    if user.kind == "robot" and token_project is not None:
        # A robot's power is exactly its scopes inside its one project.
        roles = {token_project: Role.admin}
    return Principal(
        user_id=user.id,
        name=user.name,
        is_admin=user.is_admin and token_project is None,
        kind=user.kind,
        roles=roles,
        token_project_id=token_project,
        scopes=scopes,
        token_id=token.id if token else None,
        expires_at=token.expires_at if token else None,
    )


def load_principal(session: Session, user: User, token: ApiToken | None = None) -> Principal:
    memberships = list(session.execute(select(Membership).where(Membership.user_id == user.id)).scalars())
    return principal_for(user, memberships, token)


def ensure_user(session: Session, name: str, *, is_admin: bool = False, kind: str = "human") -> User:
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        user = User(name=name, is_admin=is_admin, kind=kind)
        session.add(user)
        session.flush()
    elif is_admin and not user.is_admin:
        user.is_admin = True
    return user


def get_user(session: Session, name: str) -> User:
    user = session.execute(select(User).where(User.name == name)).scalar_one_or_none()
    if user is None:
        raise NotFoundError(f"user {name!r} not found")
    return user


def create_user(session: Session, actor: Principal, name: str, *, is_admin: bool = False) -> User:
    require_global_admin(actor)
    check_name("user", name)
    if session.execute(select(User.id).where(User.name == name)).first():
        raise ConflictError(f"user {name!r} already exists")
    user = User(name=name, is_admin=is_admin)
    session.add(user)
    session.flush()
    record_audit(session, actor.actor, "user.create", f"user:{name}", None, {"name": name, "is_admin": is_admin})
    return user


def list_users(session: Session, actor: Principal) -> list[User]:
    require_global_admin(actor)
    return list(session.execute(select(User).order_by(User.name)).scalars())


def require_global_admin(actor: Principal, scope: Action = Action.registry_admin) -> None:
    """A registry admin whose token carries the admin scope (or ``scope``); unscoped admin tokens carry all."""
    if not actor.is_admin:
        raise PermissionDeniedError("only a registry admin may do this")
    if not (actor.scope_allows(Action.registry_admin) or actor.scope_allows(scope)):
        raise PermissionDeniedError(f"this token lacks the {Action.registry_admin.value!r} scope")


# --- projects -------------------------------------------------------------
def create_project(session: Session, actor: Principal, name: str, description: str = "") -> Project:
    require_global_admin(actor)
    check_name("project", name)
    if session.execute(select(Project.id).where(Project.name == name)).first():
        raise ConflictError(f"project {name!r} already exists")
    project = Project(name=name, description=description, protected_channels=list(DEFAULT_PROTECTED_CHANNELS))
    session.add(project)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ConflictError(f"project {name!r} already exists") from None
    record_audit(
        session,
        actor.actor,
        "project.create",
        f"project:{name}",
        None,
        {"name": name, "description": description, "protected_channels": project.protected_channels},
    )
    return project


def visible_project_ids(session: Session, actor: Principal) -> set[int] | None:
    """Projects whose packages the actor may list in full; None means all."""
    if actor.is_admin:
        return None
    if actor.token_project_id is not None:
        # Membership, not the token, decides: an owner who left the project no longer sees it.
        return {actor.token_project_id} & set(actor.roles)
    return set(actor.roles)


def list_projects(session: Session, actor: Principal) -> list[Project]:
    stmt = select(Project).order_by(Project.name)
    ids = visible_project_ids(session, actor)
    if ids is not None:
        stmt = stmt.where(Project.id.in_(ids))
    return list(session.execute(stmt).scalars())


def get_project(session: Session, actor: Principal, name: str) -> Project:
    """The project if the actor is a member (or admin); NotFound otherwise."""
    project = session.execute(select(Project).where(Project.name == name)).scalar_one_or_none()
    if project is None or actor.role_in(project.id) is None:
        raise NotFoundError(f"project {name!r} not found")
    return project


def authorize_project(actor: Principal, project: Project, action: Action) -> None:
    role = actor.role_in(project.id)
    if role is None:
        raise NotFoundError(f"project {project.name!r} not found")
    if action not in ROLE_ACTIONS[role] or not actor.scope_allows(action):
        raise PermissionDeniedError(f"{actor.name} may not {action.value} in project {project.name!r}")


def set_protected_channels(session: Session, actor: Principal, project: Project, channels: list[str]) -> Project:
    authorize_project(actor, project, Action.access_manage)
    for ch in channels:
        check_name("channel", ch)
    clash = session.execute(
        select(Package.name, PackageVersion.version)
        .join(PackageVersion, PackageVersion.package_id == Package.id)
        .where(Package.project_id == project.id, PackageVersion.version.in_(channels))
        .limit(1)
    ).first()
    if clash:
        raise ConflictError(f"{clash[0]}@{clash[1]} is a version: a protected channel cannot take a version's name")
    before = list(project.protected_channels)
    project.protected_channels = sorted(set(channels))
    record_audit(
        session,
        actor.actor,
        "project.protected_channels",
        f"project:{project.name}",
        {"protected_channels": before},
        {"protected_channels": project.protected_channels},
    )
    return project


# --- memberships ----------------------------------------------------------
def list_members(session: Session, actor: Principal, project: Project) -> list[Membership]:
    authorize_project(actor, project, Action.packages_read)
    stmt = (
        select(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.project_id == project.id)
        .order_by(User.name)
    )
    members = list(session.execute(stmt).scalars())
    users = {u.id: u for u in session.execute(select(User).where(User.id.in_([m.user_id for m in members]))).scalars()}
    for m in members:
        set_committed_value(m, "user", users[m.user_id])
    return members


def grant_role(session: Session, actor: Principal, project: Project, user_name: str, role: str) -> Membership:
    authorize_project(actor, project, Action.access_manage)
    new_role = role_from(role)
    user = get_user(session, user_name)
    existing = session.execute(
        select(Membership).where(Membership.project_id == project.id, Membership.user_id == user.id)
    ).scalar_one_or_none()
    before = {"role": existing.role} if existing else None
    if existing is None:
        existing = Membership(user_id=user.id, project_id=project.id, role=new_role.value)
        session.add(existing)
    else:
        existing.role = new_role.value
    session.flush()
    set_committed_value(existing, "user", user)
    record_audit(
        session,
        actor.actor,
        "access.grant",
        f"project:{project.name}/user:{user.name}",
        before,
        {"role": new_role.value},
    )
    return existing


def revoke_role(session: Session, actor: Principal, project: Project, user_name: str) -> None:
    authorize_project(actor, project, Action.access_manage)
    user = get_user(session, user_name)
    existing = session.execute(
        select(Membership).where(Membership.project_id == project.id, Membership.user_id == user.id)
    ).scalar_one_or_none()
    if existing is None:
        raise NotFoundError(f"user {user_name!r} has no role in project {project.name!r}")
    session.delete(existing)
    record_audit(
        session,
        actor.actor,
        "access.revoke",
        f"project:{project.name}/user:{user.name}",
        {"role": existing.role},
        None,
    )


# --- packages: visibility, grants and shares ------------------------------
def _member_of(actor: Principal) -> list[int]:
    """Projects whose shares reach the actor: its memberships, narrowed to the token's project."""
    if actor.token_project_id is not None:
        return [actor.token_project_id] if actor.token_project_id in actor.roles else []
    return list(actor.roles)


def package_role(session: Session, actor: Principal, package: Package) -> Role | None:
    """The actor's effective role on one package: project role, user grant or project share."""
    best = actor.role_in(package.project_id)
    if actor.is_admin:
        return Role.admin
    member_of = _member_of(actor)
    conds: list[ColumnElement[bool]] = [PackageGrant.grantee_project_id.in_(member_of)] if member_of else []
    if actor.token_project_id is None:
        conds.append(PackageGrant.user_id == actor.user_id)
    if conds and (best is None or best.rank < Role.admin.rank):
        grants = session.execute(
            select(PackageGrant.role).where(PackageGrant.package_id == package.id, or_(*conds))
        ).scalars()
        for g in grants:
            role = Role(g)
            if best is None or role.rank > best.rank:
                best = role
    return best


def authorize_package(session: Session, actor: Principal, package: Package, action: Action) -> Role:
    role = package_role(session, actor, package)
    if role is None:
        raise NotFoundError(f"package {package.project.name}/{package.name} not found")
    if action not in ROLE_ACTIONS[role] or not actor.scope_allows(action):
        raise PermissionDeniedError(f"{actor.name} may not {action.value} on package {package.name!r}")
    return role


def shared_package_ids(session: Session, actor: Principal) -> set[int]:
    """Packages outside the actor's projects that it may read through a grant or share."""
    if actor.is_admin:
        return set()
    member_of = _member_of(actor)
    conds: list[ColumnElement[bool]] = [PackageGrant.grantee_project_id.in_(member_of)] if member_of else []
    if actor.token_project_id is None:
        conds.append(PackageGrant.user_id == actor.user_id)
    if not conds:
        return set()
    return set(session.execute(select(PackageGrant.package_id).where(or_(*conds))).scalars())


def list_grants(session: Session, actor: Principal, package: Package) -> list[PackageGrant]:
    authorize_package(session, actor, package, Action.packages_read)
    stmt = select(PackageGrant).where(PackageGrant.package_id == package.id).order_by(PackageGrant.id)
    return list(session.execute(stmt).scalars())


def _grant_target(package: Package, user: User | None, project: Project | None) -> str:
    who = f"user:{user.name}" if user else f"project:{project.name if project else '?'}"
    return f"package:{package.project.name}/{package.name}/grant/{who}"


def grant_package(
    session: Session,
    actor: Principal,
    package: Package,
    *,
    user_name: str | None = None,
    project_name: str | None = None,
    role: str = "viewer",
) -> PackageGrant:
    """Give one user, or every member of another project (a share), a role on one package."""
    authorize_package(session, actor, package, Action.packages_manage)
    if (user_name is None) == (project_name is None):
        raise UserError("grant to exactly one of a user or a project")
    new_role = role_from(role)
    user = get_user(session, user_name) if user_name else None
    project: Project | None = None
    if project_name:
        project = session.execute(select(Project).where(Project.name == project_name)).scalar_one_or_none()
        if project is None:
            raise NotFoundError(f"project {project_name!r} not found")
        if project.id == package.project_id:
            raise UserError("a package is already visible to its own project")
    stmt = select(PackageGrant).where(PackageGrant.package_id == package.id)
    stmt = (
        stmt.where(PackageGrant.user_id == user.id)
        if user
        else stmt.where(PackageGrant.grantee_project_id == (project.id if project else None))
    )
    grant = session.execute(stmt).scalar_one_or_none()
    before = {"role": grant.role} if grant else None
    if grant is None:
        grant = PackageGrant(
            package_id=package.id,
            user_id=user.id if user else None,
            grantee_project_id=project.id if project else None,
            role=new_role.value,
        )
        session.add(grant)
    else:
        grant.role = new_role.value
    session.flush()
    set_committed_value(grant, "user", user)
    set_committed_value(grant, "grantee_project", project)
    record_audit(
        session, actor.actor, "package.grant", _grant_target(package, user, project), before, {"role": new_role.value}
    )
    return grant


def revoke_package(
    session: Session,
    actor: Principal,
    package: Package,
    *,
    user_name: str | None = None,
    project_name: str | None = None,
) -> None:
    authorize_package(session, actor, package, Action.packages_manage)
    if (user_name is None) == (project_name is None):
        raise UserError("revoke from exactly one of a user or a project")
    stmt = select(PackageGrant).where(PackageGrant.package_id == package.id)
    user = project = None
    if user_name:
        user = get_user(session, user_name)
        stmt = stmt.where(PackageGrant.user_id == user.id)
    else:
        project = session.execute(select(Project).where(Project.name == project_name)).scalar_one_or_none()
        stmt = stmt.where(PackageGrant.grantee_project_id == (project.id if project else -1))
    grant = session.execute(stmt).scalar_one_or_none()
    if grant is None:
        raise NotFoundError(f"no grant for {user_name or project_name!r} on package {package.name!r}")
    session.delete(grant)
    record_audit(
        session, actor.actor, "package.revoke", _grant_target(package, user, project), {"role": grant.role}, None
    )


def is_expired(token: ApiToken, now: datetime | None = None) -> bool:
    return token.expires_at is not None and token.expires_at <= (now or utcnow())
