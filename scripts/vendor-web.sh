#!/usr/bin/env bash
# Fetch the pages' third-party files from the npm registry (`npm pack`: the published
# tarball, no install scripts run) and copy them into the repo, where they are committed:
#   web/vendor/uplot/      uPlot (charts of the admin console), served by the api at
#                          /static/vendor/uplot/
#   devkit/vendor/axe-core/  axe-core (accessibility checks of the browser tests; the tests
#                          inject it from this folder, the pages never load it)
# Run it only to change a version; the pages and tests need no network.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

UPLOT_VERSION=1.6.32
AXE_VERSION=4.14.1

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$UPLOT_VERSION" "axe-core@$AXE_VERSION" >/dev/null)

mkdir -p "$tmp/uplot" "$tmp/axe"
tar xzf "$tmp/uplot-$UPLOT_VERSION.tgz" -C "$tmp/uplot"
tar xzf "$tmp/axe-core-$AXE_VERSION.tgz" -C "$tmp/axe"

mkdir -p web/vendor/uplot devkit/vendor/axe-core
cp "$tmp/uplot/package/dist/uPlot.esm.js" "$tmp/uplot/package/dist/uPlot.min.css" \
  "$tmp/uplot/package/LICENSE" web/vendor/uplot/
echo "uplot $UPLOT_VERSION (npm pack uplot@$UPLOT_VERSION; scripts/vendor-web.sh)" >web/vendor/uplot/VERSION
cp "$tmp/axe/package/axe.min.js" "$tmp/axe/package/LICENSE" devkit/vendor/axe-core/
echo "axe-core $AXE_VERSION (npm pack axe-core@$AXE_VERSION; scripts/vendor-web.sh)" >devkit/vendor/axe-core/VERSION
echo "vendored uplot $UPLOT_VERSION and axe-core $AXE_VERSION" >&2
