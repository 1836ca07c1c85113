"""The page skeleton and style sheet of the HTML report (string.Template, no engine).

Every ``$name`` placeholder receives markup that html.py has already built from escaped
text; nothing here is user-supplied. The Content-Security-Policy forbids scripts and every
fetch: the page needs neither, and a string that escaped escaping still could not run.
"""

from __future__ import annotations

from string import Template

STYLE = """
:root {
  --ink: #1d2433; --muted: #5b6474; --line: #dde2ea; --paper: #ffffff; --page: #f4f6f9;
  --accent: #3b2a6b; --accent-soft: #ece8f6; --zebra: #f7f8fb;
}
* { box-sizing: border-box; }
html { background: var(--page); }
body {
  margin: 0; color: var(--ink); background: var(--page);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
}
header.masthead { background: var(--accent); color: #fff; padding: 28px 0 24px; }
.wrap { max-width: 1240px; margin: 0 auto; padding: 0 28px; }
.masthead .kicker {
  margin: 0 0 4px; font-size: 12px; letter-spacing: .12em; text-transform: uppercase; opacity: .75;
}
.masthead h1 { margin: 0; font-size: 26px; font-weight: 600; overflow-wrap: anywhere; }
.masthead .generated { margin: 6px 0 0; font-size: 13px; opacity: .8; }
nav.contents { margin-top: 14px; font-size: 13px; }
nav.contents a {
  color: #fff; text-decoration: none; margin-right: 18px; border-bottom: 1px solid rgba(255,255,255,.4);
}
main.wrap { padding-top: 24px; padding-bottom: 8px; }
section.card {
  background: var(--paper); border: 1px solid var(--line); border-radius: 8px;
  padding: 20px 24px 22px; margin: 0 0 22px; box-shadow: 0 1px 2px rgba(20, 30, 50, .04);
}
section.card > h2 {
  margin: 0 0 14px; font-size: 18px; font-weight: 600; padding-bottom: 8px;
  border-bottom: 1px solid var(--line);
}
ul.summary { margin: 0; padding-left: 20px; }
ul.summary li { margin: 3px 0; overflow-wrap: anywhere; }
.figures { display: flex; flex-wrap: wrap; gap: 22px; align-items: flex-start; }
figure { margin: 0; }
figure.heatmap {
  flex: 0 1 auto; max-width: 100%; border: 1px solid var(--line); border-radius: 6px;
  padding: 10px 10px 6px; background: #fff;
}
figure.heatmap img { display: block; max-width: 100%; height: auto; }
figcaption {
  font-size: 13px; color: var(--muted); margin-top: 6px; overflow-wrap: anywhere; max-width: 100%;
}
figure.table + figure.table { margin-top: 22px; }
figure.table figcaption { margin: 0 0 8px; font-weight: 600; color: var(--ink); font-size: 14px; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 13.5px; min-width: 40%; }
th, td { padding: 6px 12px; text-align: left; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th {
  background: var(--accent-soft); color: var(--accent); font-weight: 600;
  border-bottom: 2px solid #cfc6e6; white-space: nowrap;
}
tbody th { font-weight: 600; }
tbody tr:nth-child(even) { background: var(--zebra); }
tbody tr:hover { background: #eef1f7; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.missing { color: #9aa1ad; }
td, tbody th { overflow-wrap: anywhere; }
p.rows { margin: 6px 0 0; font-size: 12px; color: var(--muted); }
dl.manifest { display: grid; grid-template-columns: minmax(120px, max-content) 1fr; gap: 8px 20px; margin: 0; }
dl.manifest dt { font-weight: 600; overflow-wrap: anywhere; }
dl.manifest dd { margin: 0; min-width: 0; overflow-wrap: anywhere; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace; font-size: 12.5px; }
pre {
  margin: 0; padding: 10px 12px; background: var(--zebra); border: 1px solid var(--line);
  border-radius: 6px; white-space: pre-wrap; overflow-wrap: anywhere;
}
details { margin-top: 16px; }
details summary { cursor: pointer; color: var(--accent); font-size: 13px; margin-bottom: 8px; }
p.empty { color: var(--muted); margin: 0; }
footer { color: var(--muted); font-size: 12.5px; padding: 6px 0 28px; }
footer .wrap { border-top: 1px solid var(--line); padding-top: 12px; }
@media print {
  html, body { background: #fff; }
  header.masthead { background: #fff; color: var(--ink); border-bottom: 2px solid var(--accent); }
  nav.contents { display: none; }
  section.card { box-shadow: none; break-inside: avoid-page; }
  figure { break-inside: avoid; }
}
"""

PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="generator" content="replens $version">
<title>$title</title>
<link rel="icon" href="data:,">
<style>$style</style>
</head>
<body>
<header class="masthead">
<div class="wrap">
<p class="kicker">replens report</p>
<h1>$title</h1>
<p class="generated">Generated $generated</p>
$contents
</div>
</header>
<main class="wrap">
$sections
</main>
<footer>
<div class="wrap">Generated by replens $version &middot; $generated &middot; self-contained file: no scripts, no external resources</div>
</footer>
</body>
</html>
""")
