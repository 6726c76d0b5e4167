"""What the CLI prints at the end of a command (rich tables on stdout)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

if TYPE_CHECKING:
    from scifm.rundir import TrainResult

console = Console()


def _cell(m: dict[str, Any] | None) -> str:
    if not m or m.get("value") is None:
        return "n/a"
    lo, hi = (m.get("ci95") or [None, None])[:2]
    if lo is None or hi is None:
        return f"{m['value']:.3f}"
    return f"{m['value']:.3f} [{lo:.3f}, {hi:.3f}]"


def metrics_table(families: dict[str, dict[str, Any]], names: list[str]) -> Table:
    """Test metrics (value [95% CI]): one column per family, or one row per family when there
    are more than three families (so that wide tables stay readable in a terminal)."""
    table = Table(title="test metrics, value [95% CI]")
    if len(families) > 3:
        names = names[:3]
        table.add_column("model")
        for name in names:
            table.add_column(name)
        for fam, m in families.items():
            table.add_row(fam, *[_cell(m.get("test", {}).get(name)) for name in names])
        return table
    table.add_column("metric")
    for fam in families:
        table.add_column(fam)
    for name in names:
        table.add_row(name, *[_cell(m.get("test", {}).get(name)) for m in families.values()])
    return table


def print_train_summary(result: TrainResult) -> None:
    """Key metrics of every family, the selected model and the report path."""
    families = {f: r.metrics for f, r in result.families.items()} or {result.selected:
                                                                       result.metrics}
    names = (["rmse", "mae", "r2", "spearman"] if "rmse" in result.metrics.get("test", {})
             else ["roc_auc", "pr_auc", "accuracy", "f1_macro", "mcc"])
    token = [n for n in ("entity_f1", "entity_precision", "entity_recall", "q3")
             if n in result.metrics.get("test", {})]  # token classification
    names = token or names
    console.print(metrics_table(families, names))
    print_warnings(family_warnings(families))
    console.print(f"selected model: [bold]{result.selected}[/] (best on validation)")
    print_trust(result.metrics)
    console.print(f"run directory: {result.run_dir}")
    console.print(f"report: [bold]{result.report}[/]")


def print_trust(metrics: dict[str, Any]) -> None:
    """One line each: the uncertainty on test, the privacy guarantee, the membership audit."""
    u = metrics.get("uncertainty") or {}
    if u:
        from scifm.trust.fitting import summary_line

        console.print(f"uncertainty: {summary_line(u)}", soft_wrap=True)
    dp = metrics.get("privacy") or {}
    if dp.get("epsilon") is not None:
        console.print(f"differential privacy: epsilon = {dp['epsilon']:.3g}, delta = "
                      f"{dp.get('delta')} (DP-SGD, {dp.get('accountant', 'accountant')})")
    mem = metrics.get("membership") or {}
    if mem.get("auc"):
        lo, hi = mem["auc"]["ci95"]
        console.print(f"membership inference: attack AUC {mem['auc']['value']:.3f} "
                      f"[{lo:.3f}, {hi:.3f}] (0.5 = no signal)")


def family_warnings(families: dict[str, dict[str, Any]]) -> list[str]:
    """``family: warning`` for every family's ``metrics["warnings"]`` (a model that collapsed
    to one class or value); the bare warnings when there is one family."""
    return [w if len(families) == 1 else f"{fam}: {w}" for fam, m in families.items()
            for w in m.get("warnings") or []]


def print_warnings(warnings: list[str], notes: list[str] | tuple[str, ...] = ()) -> None:
    """Warnings a reviewer would give, in bold yellow after the metrics (notes in plain text)."""
    for line in warnings:
        console.print(f"[bold yellow]warning:[/] [yellow]{escape(line)}[/]")
    for line in notes:
        console.print(f"note: {escape(line)}")


def print_evaluate_summary(metrics: dict[str, Any]) -> None:
    """``scifm evaluate``: metrics on all rows and, when some were training rows, on the new
    rows only (side by side), then the warnings of the audit and of the model's output."""
    names = [k for k, v in metrics["test"].items() if isinstance(v, dict) and "value" in v]
    audit = metrics.get("audit") or {}
    unit = audit.get("unit", "rows")
    columns = {f"all {unit} (n={metrics['test'].get('n', 0)})": metrics}
    new = audit.get("test_new_only")
    if new:
        columns[f"new {unit} only (n={new.get('n', 0)})"] = {"test": new}
    table = metrics_table(columns, names)
    table.title = f"{metrics['model']}: metrics, value [95% CI]"
    console.print(table)
    print_warnings(list(metrics.get("warnings") or []), audit.get("notes") or ())
    console.print(f"rejected rows: {metrics['n_rejected']}")
