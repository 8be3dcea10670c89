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

NEXT_CELL = "<td style='text-align:left;vertical-align:top'>"
"""How a table cell of the displays opens."""


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
    assert kernel.json("w.graph_name") == "Magic greeter"  # looked up by the stored graph's id
    assert "<b><bdi>Magic greeter</bdi></b>" in kernel.json("w.header.value")
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
    assert (
        "unknown command 'frobnicate'; the commands are: connect, blocks, palette, graphs, run" in cell.stderr
    )
    cell = kernel.execute("%wb rnu g", allow_error=True)
    assert "unknown command 'rnu' (did you mean 'run'?)" in cell.stderr
    cell = kernel.execute("%wb", allow_error=True)
    assert "%wb needs a command: connect, blocks" in cell.stderr
    # A wrong pin name fails at the line that uses it, listing the valid ones.
    cell = kernel.execute("greet.outptu", allow_error=True)
    assert cell.error is not None
    assert "has no pin 'outptu'" in cell.error["evalue"] and "outputs: output, error" in cell.error["evalue"]


def test_graphs_and_runs_display_richly(kernel: Kernel) -> None:
    kernel.execute(GREETER)
    cell = kernel.execute("saved")
    svg = cell.data("image/svg+xml")[0]
    assert svg.startswith("<svg") and 'data-node-id="fill_text_template_1"' in svg
    assert "\u2068result\u2069 → \u2068fill_text_template_1\u2069.\u2068values_#_name\u2069" in svg
    assert 'class="wb-pin wb-pin-in"' in svg  # the pins are the link labels, inside the boxes
    assert cell.data("text/plain")[0].startswith("<Graph \u2068Magic greeter\u2069 6d2b1c1e")
    result = kernel.execute("wb.run(saved, {'name': 'Bo'})").data("text/html")[0]
    assert "COMPLETED" in result and "Hello, Bo!" in result
    block = kernel.execute("wb.block('FillTextTemplateBlock')").data("text/html")[0]
    assert "<code><bdi>format*</bdi></code>" in block and "<code><bdi>output</bdi></code>" in block
    graphs = kernel.execute("%wb graphs Magic").data("text/html")[0]
    assert "Magic greeter" in graphs


def test_names_with_bidi_controls_are_isolated_in_every_display(kernel: Kernel) -> None:
    kernel.execute(
        "from workbench.graph.builder import GraphBuilder\n"
        "evil = GraphBuilder('Evil \\u202egnp.exe')\n"
        "who = evil.input('who')\n"
        "echo = evil.add('FillTextTemplateBlock', format='{{ who }}')\n"
        "who.result >> echo.values['who']\n"
        "echo.output >> evil.output('said\\u202e').value\n"
        "evil_saved = wb.save_graph(evil)"
    )
    listed = kernel.execute("%wb graphs Evil").data("text/html")[0]
    assert "<bdi>Evil \u202egnp.exe</bdi>" in listed
    text = kernel.execute("evil_saved").data("text/plain")[0]
    assert "\u202e" not in text and "\u2068Evil \\u202egnp.exe\u2069" in text
    svg = kernel.execute("evil_saved").data("image/svg+xml")[0]
    assert "\u202e" not in svg and "\u2068Evil \\u202egnp.exe\u2069" in svg
    cell = kernel.execute("wb.run(evil_saved, {'who': 'x\\u202ey'})")
    html = cell.data("text/html")[0]
    assert f"<b><bdi>said\u202e</bdi></b></td>{NEXT_CELL}<bdi>x\u202ey</bdi></td>" in html
    plain = cell.data("text/plain")[0]
    assert "\u202e" not in plain and "\u2068said\\u202e\u2069: \u2068x\\u202ey\u2069" in plain
    widget = kernel.execute("%wb run evil_saved who=z --wait").outputs[0]["data"]
    assert "<bdi>Evil \u202egnp.exe</bdi>" in widget["text/html"]
    assert "\u202e" not in widget["text/plain"]
