#!/bin/sh
# Makes a man page from a manual in docs/ with go-md2man: a title line, a
# NAME section, then the manual without its own first heading (its "##"
# sections become the page's sections).
#
#   man/mkman.sh GO_MD2MAN IN.md OUT NAME SECTION VERSION "WHAT IT IS"
set -eu
tool=$1 in=$2 out=$3 name=$4 section=$5 version=$6 what=$7
tmp=$out.md
upper=$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')
{
  printf '%% %s %s "" "homebus %s" "homebus manual"\n\n' "$upper" "$section" "$version"
  printf '# NAME\n\n%s - %s\n\n' "$name" "$what"
  # the first "# " heading is the title, said above; links keep their text
  awk 'BEGIN { t = 0 } !t && /^# / { t = 1; next } { print }' "$in"
} >"$tmp"
"$tool" -in "$tmp" -out "$out"
rm -f "$tmp"
