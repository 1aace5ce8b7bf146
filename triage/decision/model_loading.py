"""Building a `DecisionService` from settings: the policy, the champion bundles, the online state.

Built on `triage.decision.service` (never imported by it) because loading talks to the file system, the model registry
and the online store, while deciding must not; a reload calls `load_services` and swaps
the result in.
"""

from __future__ import annotations

import logging
from typing import Any

from triage.decision.interfaces import OnlineStateProtocol
from triage.decision.service import DecisionService

__all__ = ["load_services"]

log = logging.getLogger("triage.service")  # the name operators filter on, unchanged by the split


def _load_bundles(settings: Any) -> tuple[dict[str, list[Any]], list[str], dict[str, str]]:
    """Each risk model's bundle, one at a time: a failure is a problem, not a crash.

    From `settings.bundle_dir` (`<name>.joblib`, as `models.registry.export_bundles`
    writes them) when set, else the registry's `champion` alias. A model with no file
    or no champion is not configured (its scores are null, not degraded).
    """
    from models import SPECS, load_bundle

    bundles: dict[str, list[Any]] = {"order": [], "return": []}
    problems: list[str] = []
    aliases: dict[str, str] = {}
    client = None
    for spec in SPECS.values():
        try:
            if settings.bundle_dir is not None:
                path = settings.bundle_dir / f"{spec.name}.joblib"
                if not path.exists():
                    continue
                bundle, aliases[spec.name] = load_bundle(path), str(path)
            else:
                from models.registry import CHAMPION, configure, load_registered_bundle

                if client is None:
                    client = configure(settings)
                try:
                    mv = client.get_model_version_by_alias(spec.name, CHAMPION)
                except Exception:  # no such model or no champion: not configured
                    continue
                bundle = load_registered_bundle(client, spec.name, str(mv.version))
                aliases[spec.name] = f"models:/{spec.name}@{CHAMPION}"
        except Exception as exc:  # configured but unusable → degraded, and /readyz says why
            problems.append(f"{spec.entity}: model {spec.name} cannot be loaded: {type(exc).__name__}: {exc}")
            log.exception("model cannot be loaded", extra={"model": spec.name})
            continue
        bundles.setdefault(bundle.entity, []).append(bundle)
    return bundles, problems, aliases


def load_services(settings: Any, *, online: OnlineStateProtocol | None = None) -> DecisionService:
    """Build a `DecisionService` from settings: the active policy, the champion bundles and
    the online state (`online`, else opened from settings: `triage.stores.online.open_online`).

    The policy must load (a broken policy is a `ConfigError`: nothing to decide with).
    A bundle that cannot be loaded is recorded in `problems` — its event kind then
    decides rules-only and `degraded` — rather than failing the start.
    """
    from triage import policy as pol

    policy = pol.load_policy(settings.policy_path) if settings.policy_path else pol.default_policy()
    bundles, problems, aliases = _load_bundles(settings)
    if online is None:
        from triage.stores.online import open_online

        online = open_online(settings)
    return DecisionService(
        policy=policy,
        decide_order=pol.decide_order,
        decide_return=pol.decide_return,
        bundles=bundles,
        online=online,
        problems=problems,
        aliases=aliases,
    )
