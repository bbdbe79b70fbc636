#!/usr/bin/env bash
# Regenerates the WBXML twin NNN-name.wbxml of every golden NNN-name.xml with libwbxml's
# xml2wbxml (Debian package libwbxml2-utils; the committed twins were made with 0.11.8).
# The twins are test inputs from an independent encoder: regenerate them only when an .xml
# changes, and check the diff. See README.md for why the flags are what they are.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
command -v xml2wbxml >/dev/null || { echo "xml2wbxml missing: run scripts/test (installs libwbxml2-utils)" >&2; exit 1; }
for xml in [0-9][0-9][0-9]-*.xml; do
    if ! out=$(xml2wbxml -v 1.2 -o "${xml%.xml}.wbxml" "$xml" 2>&1); then
        echo "$xml: $out" >&2
        exit 1
    fi
done
echo "regenerated $(ls [0-9][0-9][0-9]-*.wbxml | wc -l) twins with $(xml2wbxml 2>&1 | grep -o 'libwbxml [0-9.]*' | head -1)"
