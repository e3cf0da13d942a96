"""``fastcommerce plugins``: what the loaded plugins registered, for a newcomer or a bug report."""

from __future__ import annotations

from typing import Any

import click

from .cli_params import FORMATS, emit


@click.command()
@click.option("--format", "fmt", type=FORMATS, default="text", show_default=True)
@click.pass_context
def plugins(ctx: click.Context, fmt: str) -> None:
    """The loaded plugins, their versions and hooks, and what each registered: the schema
    chains, the validators with their codes, the projections with their tables, the reports."""
    pipeline = ctx.obj["open_pipeline"](ctx, memory_if_missing=True)  # the group's opener: cli imports this module
    infos = pipeline.plugins()
    data: dict[str, Any] = {"plugins": [{"name": i.name, "version": i.version, "builtin": i.builtin, "hooks": list(i.hooks)}
                        for i in infos],
            "schemas": pipeline.registry.describe(),
            "validators": [{"name": v.name, "stream": v.stream, "codes": dict(sorted(v.codes.items())),
                            "plugin": plugin} for plugin, v in pipeline.validators.all()],
            "projections": [{"name": p.name, "version": p.version, "tables": list(p.tables), "plugin": plugin}
                            for name, (plugin, p) in sorted(pipeline.projections.projections.items())],
            "reports": {name: spec.description for name, spec in pipeline.reports.items()},
            "streams": [{"name": s.name, "plugin": pipeline.streams.owner(s.name), "default_file": s.default_file,
                         "role": s.role} for s in pipeline.streams]}
    lines = [f"{i.name:<40} {i.version or '-':<10} {'built-in' if i.builtin else 'installed':<9}  "
             f"{', '.join(i.hooks)}" for i in infos]
    lines.append("streams:")
    for st in data["streams"]:
        lines.append(f"  {st['name']:<10} {st['default_file'] or '-':<28} ({st['plugin']})")
    lines.append("schemas:")
    for stream, schemas in data["schemas"].items():
        for s in schemas:
            chain = " ; ".join(s["chain"]) or "canonical"
            lines.append(f"  {stream:<10} {s['variant'] + ' v' + str(s['version']):<18} {chain:<34} ({s['plugin']})")
    lines.append("validators:")
    for v in data["validators"]:
        codes = ", ".join(f"{code} ({severity})" for code, severity in v["codes"].items())
        lines.append(f"  {v['stream']:<10} {v['name']:<28} {codes:<52} ({v['plugin']})")
    lines.append("projections:")
    for p in data["projections"]:
        lines.append(f"  {p['name'] + ' v' + str(p['version']):<18} {', '.join(p['tables'])}  ({p['plugin']})")
    lines.append("reports: " + ", ".join(data["reports"]))
    emit(data, fmt, "\n".join(lines))
