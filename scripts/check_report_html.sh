#!/usr/bin/env bash
# Render a report.html in headless Chromium, check that the table, the figures and the
# item browser made it into the rendered page, and save a screenshot to look at.
#
#   scripts/check_report_html.sh RUN_DIR/report/report.html [OUT_DIR]
#
# Writes OUT_DIR/report.dom.html (the DOM after the page's script ran) and
# OUT_DIR/report.png (1280 px wide). Needs Chromium (Debian/Ubuntu: apt-get install chromium).
set -euo pipefail
html="$(realpath "$1")"
out="${2:-$(dirname "$html")}"
mkdir -p "$out"
browser="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
[ -n "$browser" ] || { echo "no Chromium found (set CHROMIUM=/path/to/chrome)" >&2; exit 3; }
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$profile")
timeout 90 "$browser" "${flags[@]}" --dump-dom "file://$html" > "$out/report.dom.html" 2>/dev/null
timeout 90 "$browser" "${flags[@]}" --window-size=1280,1600 --screenshot="$out/report.png" "file://$html" >/dev/null 2>&1
fail=0
check() { grep -Eq "$2" "$out/report.dom.html" && echo "ok   $1" || { echo "FAIL $1" >&2; fail=1; }; }
check "score table"           'id="score-table"'
check "figure 1 embedded"     'id="figure1-img"[^>]*src="data:image/png;base64,'
check "item browser filled"   'id="item-count">[1-9][0-9]* of [0-9]+ items'
check "first item shown"      'id="answers"'
[ -s "$out/report.png" ] && echo "ok   screenshot $out/report.png" || { echo "FAIL screenshot" >&2; fail=1; }
exit $fail
