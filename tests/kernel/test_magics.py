"""The %wb magics and the rich displays, in a real kernel."""

from __future__ import annotations

from tests.kernel.harness import Kernel

GREETER = """
from workbench.graph.builder import GraphBuilder
g = GraphBuilder("Magic greeter", graph_id="6d2b1c1e-6c55-4a8e-9a7c-1f3f0d9f0a11")
name = g.input("name")
greet = g.add("FillTextTemplateBlock", format="Hello, {{ name }}!")
name.result >> greet.values["name"]
greet.output >> g.output("greeting").value
saved = wb.save_graph(g)
"""


def test_blocks_lists_and_filters_the_catalogue(kernel: Kernel) -> None:
    html = kernel.execute("%wb blocks").data("text/html")[0]
    assert "FillTextTemplateBlock" in html and "AgentInputBlock" in html
    text_only = kernel.execute("%wb blocks --category TEXT").data("text/html")[0]
    assert "FillTextTemplateBlock" in text_only and "AgentInputBlock" not in text_only
    assert kernel.json("len(_)") == kernel.json("len(wb.blocks(category='TEXT'))")  # a list of BlockInfo


def test_run_a_saved_graph_by_name_then_show_it(kernel: Kernel) -> None:
    kernel.execute(GREETER)
    kernel.execute('w = %wb run "Magic greeter" name=Ada --wait')
    assert kernel.json("w.state()['outputs']") == {"greeting": ["Hello, Ada!"]}
    execution_id = kernel.json("w.execution_id")
    runs = kernel.execute("%wb runs 'Magic greeter'").data("text/html")[0]
    assert execution_id in runs and "COMPLETED" in runs
    shown = kernel.execute(f"%wb show {execution_id}").data("text/html")[0]
    assert "Hello, Ada!" in shown and "fill_text_template_1" in shown
    # JSON values are parsed: a number stays a number.
    kernel.execute("w = %wb run g name=42 --wait")
    assert kernel.json("w.result.inputs") == {"name": 42}


def test_mistakes_say_what_is_wrong(kernel: Kernel) -> None:
    cell = kernel.execute("%wb run no-such-graph", allow_error=True)
    assert "no graph 'no-such-graph'" in cell.stderr and "Magic greeter" in cell.stderr
    cell = kernel.execute("%wb run g nonsense", allow_error=True)
    assert "inputs are name=value" in cell.stderr
    cell = kernel.execute("%wb run g nickname=Bo", allow_error=True)
    assert "unknown input(s) 'nickname'" in cell.stderr and "name" in cell.stderr
    cell = kernel.execute("%wb frobnicate", allow_error=True)
    assert "%wb needs a command: connect, blocks" in cell.stderr
    # A wrong pin name fails at the line that uses it, listing the valid ones.
    cell = kernel.execute("greet.outptu", allow_error=True)
    assert cell.error is not None
    assert "has no pin 'outptu'" in cell.error["evalue"] and "outputs: output, error" in cell.error["evalue"]


def test_graphs_and_runs_display_richly(kernel: Kernel) -> None:
    kernel.execute(GREETER)
    svg = kernel.execute("saved").data("image/svg+xml")[0]
    assert svg.startswith("<svg") and 'data-node-id="fill_text_template_1"' in svg
    assert "result → values_#_name" in svg
    result = kernel.execute("wb.run(saved, {'name': 'Bo'})").data("text/html")[0]
    assert "COMPLETED" in result and "Hello, Bo!" in result
    block = kernel.execute("wb.block('FillTextTemplateBlock')").data("text/html")[0]
    assert "<code>format*</code>" in block and "<code>output</code>" in block
    graphs = kernel.execute("%wb graphs Magic").data("text/html")[0]
    assert "Magic greeter" in graphs
