"""`toxmix manifest`: validate, resolve, materialize and sweep mixture manifests."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from toxmix.app.commands.options import CpusPerTaskOpt, ExecutorOpt, SlurmPartitionOpt, SlurmTimeOpt, executor_config
from toxmix.core.console import out
from toxmix.mixer.corpus.executors import Submitted

if TYPE_CHECKING:  # the lock's module loads pyarrow and numpy: not for `toxmix --help`
    from toxmix.mixer.manifest.lockfile import Lock

app = typer.Typer(help="Mixture manifests: YAML -> DuckDB SQL -> locked selection -> OLMo token files.",
                  no_args_is_help=True)

ManifestArg = Annotated[Path, typer.Argument(help="Manifest YAML file.")]


def _components_table(lock: "Lock") -> Table:
    table = Table(title=f"{lock.manifest.name} (lock {lock.lock_digest[:12]})")
    for col in ("component", "sources", "where", "budget", "tokens", "docs", "share"):
        table.add_column(col)
    total = lock.selection.tokens or 1
    for name, c in lock.components.items():
        table.add_row(name, ",".join(c.sources), c.where or "", f"{c.budget:,}", f"{c.tokens:,}", f"{c.docs:,}",
                      f"{100 * c.tokens / total:.2f}%")
    return table


MemoryLimitOpt = Annotated[str, typer.Option(help="DuckDB's memory limit; sorts and windows beyond it spill to CORPUS/spill/. The whole command is stopped (one line, exit 2) if its memory grows 1 GiB past it, e.g. by a runaway 'where' predicate.")]
SpillLimitOpt = Annotated[str, typer.Option(help="Most disk the spill may take.")]
TimeoutOpt = Annotated[float, typer.Option(help="Stop after this many seconds (0: no limit), as toxmix sql --timeout.")]


@app.command()
def validate(manifest: ManifestArg, memory_limit: MemoryLimitOpt = "4GB", spill_limit: SpillLimitOpt = "20GB",
             timeout: TimeoutOpt = 0) -> None:
    """Check a manifest against its schema and its corpus (sources, columns, predicates, tokenizer, enough tokens),
    evaluating its predicates under the same bounds as toxmix sql.

    Example: toxmix manifest validate manifests/demo/demo-10.yaml
    """
    from toxmix.mixer.corpus.bounded import Limits, guarded
    from toxmix.mixer.corpus.catalog import bounded
    from toxmix.mixer.manifest.check import check_manifest
    from toxmix.mixer.manifest.outputs import check_output_dir, check_owner
    from toxmix.mixer.manifest.resolve import check_feasible

    limits = Limits(timeout or None, memory_limit, spill_limit)
    with guarded(limits):
        checked = check_manifest(manifest, memory_limit, spill_limit)
        with bounded(checked.con, limits.timeout):  # DuckDB's own errors, out of memory included, in one line
            check_feasible(checked.con, checked.file.manifest, checked.compiled)
    check_owner(checked.file, checked.layout, check_output_dir(checked.file, checked.layout))
    out.print(f"{manifest}: valid; budgets " + ", ".join(f"{k} {v:,}" for k, v in checked.budgets.items()))


@app.command()
def resolve(
    manifest: ManifestArg,
    wait: Annotated[bool, typer.Option(help="If another process is writing this mixture, wait for it instead of stopping.")] = False,
    memory_limit: MemoryLimitOpt = "4GB",
    spill_limit: SpillLimitOpt = "20GB",
    timeout: TimeoutOpt = 0,
) -> None:
    """Compile to DuckDB SQL, select documents in keyed-hash order to each budget, write M.lock.json.

    The selection is registered in the corpus catalog: see `mixtures` and `mixture_documents` in toxmix sql.
    Large corpora resolve within --memory-limit by spilling to a private folder under CORPUS/spill/ (removed after).

    Example: toxmix manifest resolve manifests/demo/demo-10.yaml --memory-limit 8GB
    """
    from toxmix.mixer.corpus.bounded import Limits, guarded
    from toxmix.mixer.manifest.resolve import resolve as run_resolve

    with guarded(Limits(timeout or None, memory_limit, spill_limit)):
        result = run_resolve(manifest, wait=wait, memory_limit=memory_limit, spill_limit=spill_limit)
    out.print(_components_table(result.lock))
    out.print(f"wrote {result.lock_file} (selection sha256 {result.lock.selection.ids_sha256[:16]}...)")


@app.command()
def materialize(
    manifest: ManifestArg,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Parallel shard writers (on Slurm or Ray, the most tasks at once); output is identical for any value.")] = 1,
    executor: ExecutorOpt = "local",
    slurm_partition: SlurmPartitionOpt = None,
    slurm_time: SlurmTimeOpt = "24:00:00",
    cpus_per_task: CpusPerTaskOpt = 1,
    wait: Annotated[bool, typer.Option(help="If another process is writing this mixture, wait for it instead of stopping.")] = False,
) -> None:
    """Write the locked selection as OLMo token files (uint16/uint32 .npy, EOS after each document).

    Resolves first if there is no lock. Resumable: shards already written are kept. One task per shard; on Slurm,
    a job that verifies every shard and writes them into the lock follows them.

    Example: toxmix manifest materialize manifests/demo/demo-10.yaml --workers 2
    """
    from toxmix.mixer.manifest.materialize import materialize as run_materialize

    cfg = executor_config(executor, workers, slurm_partition, slurm_time, cpus_per_task)
    lock = run_materialize(manifest, wait=wait, executor=cfg)
    if isinstance(lock, Submitted):
        out.print(lock.describe("materialize"))
        out.print("the token files are in the manifest's lock when that job has finished; run the same command "
                  "again to redo only shards that failed")
        return
    mat = lock.materialized
    out.print(_components_table(lock))
    out.print(f"wrote {len(mat.shards)} shards, {mat.tokens:,} {mat.dtype} tokens to {mat.dir} "
              f"(shards digest {mat.digest[:16]}...)")


@app.command()
def sweep(
    template: Annotated[Path, typer.Argument(help="Template manifest; its share- or ratio_of-sized component is swept.")],
    ratios: Annotated[str, typer.Option(help="Comma-separated shares of the swept component.")] = "0,0.05,0.10,0.15,0.20,0.25",
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the generated manifests.")] = Path("."),
    component: Annotated[str | None, typer.Option(help="Component to sweep, if the template has several candidates.")] = None,
) -> None:
    """Write the study's family of manifests, e.g. 0-25 % toxic tokens on top of a fixed clean budget.

    Example: toxmix manifest sweep manifests/demo/template.yaml --ratios 0,0.05,0.10 --out manifests/demo
    """
    from toxmix.mixer.manifest.sweep import parse_ratios
    from toxmix.mixer.manifest.sweep import sweep as run_sweep

    for path in run_sweep(template, parse_ratios(ratios), out_dir, component):
        out.print(f"wrote {path}")


def register(root: typer.Typer) -> None:
    """Add `toxmix manifest ...` to the root app."""
    root.add_typer(app, name="manifest")
