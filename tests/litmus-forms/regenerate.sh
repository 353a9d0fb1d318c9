#!/bin/sh
# Regenerate the herd7 outputs of the litmus-form tests (tests never need herd7).
# herd7 7.58 rejects spinlock_t / srcu_struct declarations in the init block
# (../shared/oracle/README.md); they are dropped from the copy herd7 reads.
set -e
HERD7=${HERD7:-herd7}
LKMM=$(cd "${LKMM:-$(dirname "$0")/../../../shared/oracle/lkmm}" && pwd)
cd "$(dirname "$0")"
tmp=$(mktemp -d)
for f in *.litmus; do
	sed -E 's/^\s*(spinlock_t|srcu_struct|struct srcu_struct)\s+[A-Za-z_0-9]+;\s*$//' "$f" > "$tmp/$f"
	(cd "$tmp" && "$HERD7" -I "$LKMM" -conf "$LKMM/linux-kernel.cfg" "$f") > "${f%.litmus}.herd7.out"
done
rm -r "$tmp"
