"""Token budgets per component, from absolute sizes, shares of the total, and ratios of other components."""

from toxmix.core.errors import ToxmixError
from toxmix.mixer.manifest.schema import Manifest


def _linear_terms(manifest: Manifest) -> dict[str, tuple[float, float]]:
    """Each component's budget as a + b*T, with T the mixture's total tokens."""
    comps = {c.name: c for c in manifest.components}
    terms: dict[str, tuple[float, float]] = {}
    visiting: list[str] = []

    def visit(name: str) -> tuple[float, float]:
        if name in terms:
            return terms[name]
        if name in visiting:
            cycle = " -> ".join([*visiting[visiting.index(name):], name])
            raise ToxmixError(f"components.{name}.ratio_of: circular ratio_of ({cycle})")
        visiting.append(name)
        c = comps[name]
        if c.tokens is not None:
            term = (float(c.tokens), 0.0)
        elif c.share is not None:
            term = (0.0, c.share)
        else:
            a, b = visit(c.ratio_of.component)
            term = (a * c.ratio_of.ratio, b * c.ratio_of.ratio)
        visiting.pop()
        terms[name] = term
        return term

    for name in comps:
        visit(name)
    return terms


def component_budgets(manifest: Manifest) -> dict[str, int]:
    """Integer token budget of every component; refuses sizes that cannot add up."""
    terms = _linear_terms(manifest)
    fixed = sum(a for a, _ in terms.values())
    shared = sum(b for _, b in terms.values())
    if manifest.total_tokens is not None:
        total = float(manifest.total_tokens)
        implied = fixed + shared * total
        if abs(implied - total) > max(1.0, 1e-9 * total):
            raise ToxmixError(f"total_tokens: components add up to {implied:,.0f} tokens, not {total:,.0f}")
    elif fixed == 0:
        raise ToxmixError("total_tokens: every component is a share of the total; give total_tokens")
    elif shared >= 1:
        raise ToxmixError(f"components: shares add up to {shared:g}, leaving no room for the absolute sizes")
    else:
        total = fixed / (1 - shared)
    budgets = {name: int(round(a + b * total)) for name, (a, b) in terms.items()}
    for name, tokens in budgets.items():
        if tokens <= 0:
            raise ToxmixError(f"components.{name}: resolves to {tokens} tokens; sizes must be positive")
    return budgets
