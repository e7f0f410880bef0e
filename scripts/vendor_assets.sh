#!/usr/bin/env bash
# Copy the browser libraries from the npm registry (package-lock.json) into app/static/vendor/.
# Safe to run again: npm ci runs only when node_modules is missing or older than the lock file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v npm >/dev/null; then
    sudo=()
    if [[ $(id -u) -ne 0 ]]; then sudo=(sudo); fi
    echo "vendor_assets: installing Debian packages: nodejs npm"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends nodejs npm
fi

# npm writes node_modules/.package-lock.json on every install; older than the lock file means stale.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    echo "vendor_assets: npm ci"
    npm ci --no-audit --no-fund
fi

# bpmn-js: the NavigatedViewer bundle (global BpmnJS) and its two style sheets. The bpmn-font
# icons are for the modeler's palette; the viewer draws none of them.
BPMN_DIST=node_modules/bpmn-js/dist
BPMN_VENDOR=app/static/vendor/bpmn-js
rm -rf "$BPMN_VENDOR"
mkdir -p "$BPMN_VENDOR"
cp "$BPMN_DIST/bpmn-navigated-viewer.production.min.js" \
   "$BPMN_DIST/assets/diagram-js.css" \
   "$BPMN_DIST/assets/bpmn-js.css" \
   "$BPMN_VENDOR/"
