# ruff: noqa: E501  (an HTML template: its lines are markup, wrapped where the markup wants)
"""The HTML template of ``iterdeploy report`` (Jinja2, autoescaped).

Kept in a Python module rather than a ``.html.j2`` file so that it ships with the package without
any package-data setting. Every value is escaped by Jinja's autoescape; the only unescaped inserts
are the ``Markup`` values :mod:`iterdeploy.dashboards.report` builds itself (plotly's figure divs,
whose JSON plotly escapes for a ``<script>`` context, and the plotly.js library).
"""

TEMPLATE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; font-src data:">
<title>{{ title }}</title>
<style>
 body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; max-width: 1100px;
        margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
 h1 { font-size: 1.7em; margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.8em; }
 .sub { color: #666; margin-top: 0; }
 .summary li { margin: 0.45em 0; }
 .sev { display: inline-block; min-width: 4.2em; text-align: center; border-radius: 3px; padding: 0 0.3em;
        font-size: 0.8em; font-weight: 600; color: white; margin-right: 0.4em; }
 .sev-high { background: #c62828; } .sev-medium { background: #ef6c00; } .sev-low { background: #9e9d24; }
 .sev-info { background: #78909c; }
 .topic { font-weight: 600; }
 .plot { margin: 1em 0; }
 table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
 th, td { border: 1px solid #ddd; padding: 0.25em 0.5em; text-align: left; vertical-align: top; }
 pre { background: #f6f8fa; padding: 0.6em; overflow-x: auto; white-space: pre-wrap; word-break: break-word;
       font-size: 0.82em; max-height: 22em; }
 details { margin: 0.3em 0 0.8em 0; } summary { cursor: pointer; color: #1565c0; }
 .finding { border-left: 4px solid #ddd; padding-left: 0.8em; margin: 1.2em 0; }
 .note { color: #555; font-size: 0.92em; }
 @media print { .plot { break-inside: avoid; } details { display: block; } }
</style>
<script>{{ plotly_js }}</script>
</head>
<body>
<h1>{{ title }}</h1>
<p class="sub">{{ subtitle }}</p>

<h2 id="summary">Executive summary</h2>
<ul class="summary">
{% for s in sentences %}
 <li data-topic="{{ s.topic }}"><span class="sev sev-{{ s.severity }}">{{ s.severity }}</span><span class="topic">{{ topic_words[s.topic] }}:</span> {{ s.text }}{% if s.sources %} <span class="note">(findings {{ s.sources | join(", ") }})</span>{% endif %}</li>
{% endfor %}
</ul>
<p class="note">Severity, as the auditors set it: <b>high</b> and <b>medium</b> are alarms (a departure from
the declared objective whose interval excludes zero); <b>low</b> a departure no single feature explains
clearly; <b>info</b> a measurement with nothing to alarm about. "The simulator's truth" is what the simulated
users really did (their recorded acceptance probabilities A(τ)): a real deployment has no such truth, which is
why the auditors are checked against it here.</p>

<h2 id="plots">Key plots</h2>
{% for plot in plots %}
<div class="plot" data-plot="{{ plot.key }}">{{ plot.html }}
<p class="note">{{ plot.caption }}</p></div>
{% endfor %}

{% if seeds %}
<h2 id="seeds">Across seeds</h2>
<p>{{ seeds.intro }}</p>
{% for plot in seeds.plots %}<div class="plot" data-plot="{{ plot.key }}">{{ plot.html }}
<p class="note">{{ plot.caption }}</p></div>{% endfor %}
<table>
<tr><th>scenario</th><th>quantity</th><th>runs</th><th>mean</th><th>sd</th><th>min–max</th><th>each seed</th></tr>
{% for row in seeds.rows %}
<tr><td>{{ row.label }}</td><td>{{ row.quantity }}</td><td>{{ row.n }}</td><td>{{ row.mean }}</td><td>{{ row.sd }}</td><td>{{ row.range }}</td><td>{{ row.per_seed }}</td></tr>
{% endfor %}
</table>
{% endif %}

<h2 id="findings">Findings and their evidence</h2>
<p class="note">{{ findings | length }} findings, most severe first. Each lists its numbers (test statistics and
denominators) and the traces it cites, with their text as the model wrote it.</p>
{% for f in findings %}
<div class="finding" id="finding-{{ f.id }}">
<p><span class="sev sev-{{ f.severity }}">{{ f.severity }}</span><b>Finding {{ f.id }}</b> · {{ f.auditor }} · {{ f.kind }} · {{ f.scope }}</p>
<p>{{ f.claim }}</p>
{% if f.denominators %}<p class="note">Denominators: {{ f.denominators }}</p>{% endif %}
<details><summary>Numbers behind the claim</summary><pre>{{ f.numbers }}</pre></details>
{% if f.traces %}
<details{% if loop.index <= 3 %} open{% endif %}><summary>Cited traces ({{ f.traces | length }} of {{ f.n_cited }})</summary>
{% for t in f.traces %}
<p class="note">Trace {{ t.id }} · generation {{ t.generation }} · task {{ t.task }} · {{ t.status }} · {{ t.length }} actions{% if t.kept %} · {{ t.kept }}{% endif %}</p>
<pre>{{ t.text }}</pre>
{% endfor %}
</details>
{% endif %}
</div>
{% endfor %}

<h2 id="methods">Methods appendix</h2>
<h3>Scenario</h3>
<table>
{% for key, value in methods.scenario %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}
</table>
<h3>Runs</h3>
<table>
<tr><th>run directory</th><th>run id</th><th>seed</th><th>status</th><th>generations</th><th>model</th></tr>
{% for r in methods.runs %}<tr><td>{{ r.dir }}</td><td>{{ r.id }}</td><td>{{ r.seed }}</td><td>{{ r.status }}</td><td>{{ r.generations }}</td><td>{{ r.model }}</td></tr>{% endfor %}
</table>
<h3>What each auditor assumes</h3>
<table>
<tr><th>auditor</th><th>stored as</th><th>what it measures and assumes</th></tr>
{% for a in methods.auditors %}<tr><td>{{ a.command }}</td><td>{{ a.name }}</td><td>{{ a.doc }}</td></tr>{% endfor %}
</table>
<details><summary>The scenario file as given</summary><pre>{{ methods.scenario_yaml }}</pre></details>
<p class="note">Made by <code>{{ command }}</code> from the run store{{ "s" if methods.runs | length > 1 else "" }}
alone, read-only; iterdeploy {{ version }}. This file needs no network and no server.</p>
</body>
</html>
"""
"""The report page; see :func:`iterdeploy.dashboards.report.render_report` for its variables."""
