#!/bin/sh
# Reproduce the third-party files under src/nokor/web/static/ from the npm packages pinned in
# package-lock.json. Run it after changing package.json; commit the copied files, so that running
# Nokor never needs npm or the network.
#
#   assets/vendor.sh          install (npm ci) and copy
#   assets/vendor.sh --check  also fail if the copies differ from the packages (for CI)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
static="$here/../src/nokor/web/static"
modules="$here/node_modules"
check=${1:-}

cd "$here"
npm ci --ignore-scripts --no-audit --no-fund

copy() {  # copy SOURCE TARGET: TARGET is relative to static/
    mkdir -p "$(dirname "$static/$2")"
    if [ "$check" = "--check" ] && [ -f "$static/$2" ] && ! cmp -s "$1" "$static/$2"; then
        echo "changed: $2" >&2
        changed=1
    fi
    cp "$1" "$static/$2"
}
changed=0

# htmx (Zero-Clause BSD)
copy "$modules/htmx.org/dist/htmx.min.js" vendor/htmx.min.js
copy "$modules/htmx.org/LICENSE" vendor/htmx.LICENSE.txt

# Noto fonts (SIL Open Font License 1.1): only the subsets and weights the pages use.
for weight in 400 700; do
    for subset in latin latin-ext; do
        copy "$modules/@fontsource/noto-sans/files/noto-sans-$subset-$weight-normal.woff2" \
             "fonts/noto-sans-$subset-$weight-normal.woff2"
    done
    copy "$modules/@fontsource/noto-sans-khmer/files/noto-sans-khmer-khmer-$weight-normal.woff2" \
         "fonts/noto-sans-khmer-khmer-$weight-normal.woff2"
    copy "$modules/@fontsource/noto-sans-arabic/files/noto-sans-arabic-arabic-$weight-normal.woff2" \
         "fonts/noto-sans-arabic-arabic-$weight-normal.woff2"
done
copy "$modules/@fontsource/noto-sans/LICENSE" fonts/OFL-noto-sans.txt
copy "$modules/@fontsource/noto-sans-khmer/LICENSE" fonts/OFL-noto-sans-khmer.txt
copy "$modules/@fontsource/noto-sans-arabic/LICENSE" fonts/OFL-noto-sans-arabic.txt

# The @font-face rules live in css/nokor.css; their unicode-range must match the packages'.
for pair in noto-sans:noto-sans-latin noto-sans:noto-sans-latin-ext noto-sans-khmer:noto-sans-khmer-khmer \
            noto-sans-arabic:noto-sans-arabic-arabic; do
    package=${pair%%:*}
    file=${pair#*:}-400-normal.woff2
    range=$(awk -v f="/$file)" 'index($0, f) { found = 1 } found && /unicode-range/ { sub(/^ *unicode-range: */, ""); print; exit }' \
            "$modules/@fontsource/$package/400.css")
    if ! grep -A2 -F "/$file\")" "$static/css/nokor.css" | grep -qF "unicode-range: $range"; then
        echo "nokor.css: the unicode-range beside $file differs from @fontsource/$package/400.css:" >&2
        echo "  unicode-range: $range" >&2
        changed=1
    fi
done

if [ "$check" = "--check" ] && [ "$changed" = 1 ]; then
    echo "vendored files are out of date; run assets/vendor.sh and commit" >&2
    exit 1
fi
echo "vendored htmx $(node -p "require('$modules/htmx.org/package.json').version") and the Noto fonts into $static"
