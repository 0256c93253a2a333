"""Data-side baselines (Prabhumoye et al. 2023): MEDA prefixes a toxicity-bucket tag, INST an instruction."""

from bisect import bisect_right

from toxmix.mixer.manifest.schema import Transform


def default_labels(t: Transform) -> list[str]:
    """The prefixes used when a transform names none."""
    n = len(t.thresholds) + 1
    if t.kind == "meda":
        return ["<|toxicity:low|>", "<|toxicity:high|>"] if n == 2 else [f"<|toxicity:{i}|>" for i in range(n)]
    if n == 2:
        return ["The following text is not toxic:", "The following text is toxic:"]
    return [f"The following text has toxicity level {i + 1} of {n}:" for i in range(n)]


def apply_transform(t: Transform, text: str, value: float | None) -> str:
    """The text with the transform's prefix for the bucket `value` falls in; unchanged when unscored."""
    if value is None:
        return text
    label = (t.labels or default_labels(t))[bisect_right(t.thresholds, value)]
    return f"{label} {text}" if t.kind == "meda" else f"{label}\n{text}"


def attribute_parts(t: Transform) -> tuple[str, str]:
    """`scorer.label` split in two."""
    scorer, _, label = t.attribute.partition(".")
    return scorer, label
