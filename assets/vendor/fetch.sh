#!/usr/bin/env bash
# Fetch the JavaScript that `trace --format html` inlines, from the npm
# registry, at a pinned version, and check it against the committed hash.
# The files are committed (the build must work offline from a fresh clone);
# this script is how they were made and how to update them.
set -euo pipefail
cd "$(dirname "$0")"
VERSION=3.35.0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "cytoscape@$VERSION" >/dev/null && tar xzf "cytoscape-$VERSION.tgz")
cp "$work/package/dist/cytoscape.min.js" cytoscape.min.js
cp "$work/package/LICENSE" cytoscape.LICENSE
sha256sum -c SHA256SUMS
