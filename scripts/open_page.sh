#!/usr/bin/env bash
# Opens one of protoclr's HTML pages (a `clusters` gallery, `search --html`, `dedupe`) in
# headless Chromium, Debian's `chromium`, as a person's browser would, and says whether every
# image on it loaded: prints "PAGE: N images, F did not load" and exits 0 when N > 0 and
# F = 0, 1 otherwise, 77 when no Chromium is installed. The pages count their images once
# loaded (search/pages.h, page_tail). With --screenshot OUT.png it also saves what the page
# looks like; the README's picture of a gallery is made this way.
# Usage: scripts/open_page.sh PAGE.html [--screenshot OUT.png] [--size WIDTH,HEIGHT]
#   env: CHROMIUM (the browser binary; default: chromium on PATH)
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: scripts/open_page.sh PAGE.html [--screenshot OUT.png] [--size W,H]" >&2; exit 2; }
page=$1
shift
shot=""
size=1280,900
while [ $# -gt 0 ]; do
  case "$1" in
    --screenshot) shot=${2:?--screenshot needs a file}; shift ;;
    --size) size=${2:?--size needs W,H}; shift ;;
    *) echo "open_page.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
  shift
done
[ -f "$page" ] || { echo "open_page.sh: no page '$page'" >&2; exit 1; }
browser=${CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
[ -n "$browser" ] || { echo "open_page.sh: no Chromium (apt-get install --no-install-recommends chromium)" >&2; exit 77; }
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
url="file://$(realpath "$page")"
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run --user-data-dir="$profile")
# --virtual-time-budget: the DOM is dumped once the page (every image included) has loaded.
dom=$(timeout 120 "$browser" "${flags[@]}" --virtual-time-budget=10000 --dump-dom "$url" 2>/dev/null || true)
body=$(grep -o '<body[^>]*>' <<<"$dom" | head -n 1 || true)
images=$(sed -n 's/.*data-images="\([0-9]*\)".*/\1/p' <<<"$body")
failed=$(sed -n 's/.*data-images-failed="\([0-9]*\)".*/\1/p' <<<"$body")
if [ -z "$images" ] || [ -z "$failed" ]; then
  echo "open_page.sh: $page did not finish loading in $browser" >&2
  exit 1
fi
if [ -n "$shot" ]; then
  timeout 120 "$browser" "${flags[@]}" --virtual-time-budget=10000 --window-size="$size" --screenshot="$(realpath -m "$shot")" \
    "$url" >/dev/null 2>&1 || true
  [ -s "$shot" ] || { echo "open_page.sh: no screenshot written to $shot" >&2; exit 1; }
fi
echo "$page: $images images, $failed did not load"
[ "$images" -gt 0 ] && [ "$failed" = 0 ]
